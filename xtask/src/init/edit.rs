//! The workspace's own TOML, edited in place with `toml_edit` (as cargo edits manifests): its
//! comments, order and formatting stay; a key already there is never added twice. And the pin:
//! where the workspace's xtask gets the tool from.

use anyhow::{bail, Context};
use toml_edit::{value, Array, DocumentMut, InlineTable, Item, Table};

/// Parse `text` (the file at `rel`), or say what is wrong in it and that nothing was written.
pub fn parse(rel: &str, text: &str) -> anyhow::Result<DocumentMut> {
    text.parse::<DocumentMut>().with_context(|| {
        format!("{rel} is not valid TOML; fix it, then run init again (nothing was written)")
    })
}

/// `[alias] name = "value"` added, unless the file has an alias of that name already.
pub fn alias(rel: &str, text: &str, name: &str, command: &str) -> anyhow::Result<Option<String>> {
    let mut doc = parse(rel, text)?;
    let aliases = doc
        .entry("alias")
        .or_insert_with(|| Item::Table(Table::new()));
    let Some(aliases) = aliases.as_table_like_mut() else {
        bail!("{rel}: `alias` is not a table; fix it, then run init again");
    };
    if aliases.contains_key(name) {
        return Ok(None);
    }
    aliases.insert(name, value(command));
    Ok(Some(doc.to_string()))
}

/// `dirs` added to `[workspace] exclude` (made if missing), as far as not there yet.
pub fn exclude(rel: &str, text: &str, dirs: &[&str]) -> anyhow::Result<String> {
    let mut doc = parse(rel, text)?;
    let Some(workspace) = doc.get_mut("workspace").and_then(Item::as_table_like_mut) else {
        bail!("{rel} has no [workspace] table");
    };
    let list = workspace
        .entry("exclude")
        .or_insert(value(Array::new()))
        .as_array_mut()
        .with_context(|| format!("{rel}: `workspace.exclude` is not a list"))?;
    for dir in dirs {
        if !list.iter().any(|v| v.as_str() == Some(dir)) {
            list.push(*dir);
        }
    }
    Ok(doc.to_string())
}

/// `entries` set in the table at `path` (made, implicit, where missing), e.g.
/// `["workspace", "metadata", "xtask", "docker"]`.
pub fn set(
    rel: &str,
    text: &str,
    path: &[&str],
    entries: Vec<(&str, Item)>,
) -> anyhow::Result<String> {
    let mut doc = parse(rel, text)?;
    let table = path.iter().try_fold(
        doc.as_table_mut() as &mut dyn toml_edit::TableLike,
        |t, key| {
            let mut table = Table::new();
            table.set_implicit(true);
            t.entry(key)
                .or_insert(Item::Table(table))
                .as_table_like_mut()
                .with_context(|| format!("{rel}: `{key}` is not a table"))
        },
    )?;
    for (key, item) in entries {
        table.insert(key, item);
    }
    Ok(doc.to_string())
}

/// A list of strings, as a TOML value.
pub fn strings(list: &[String]) -> Item {
    value(list.iter().map(String::as_str).collect::<Array>())
}

/// `text` with `more` appended, still valid TOML (no key twice).
pub fn append(rel: &str, text: &str, more: &str) -> anyhow::Result<String> {
    let mut new = text.to_string();
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(more);
    parse(rel, &new).context("the lines init adds")?;
    Ok(new)
}

/// Where the workspace's xtask gets the tool: a git repository at a revision, tag or branch,
/// a version from the registry, or a local checkout (to try it; not to commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Git {
        url: String,
        /// `("rev" | "tag" | "branch", value)`; none: the default branch's head, at the
        /// commit Cargo.lock records.
        at: Option<(String, String)>,
    },
    Version(String),
    Path(String),
}

impl Source {
    fn item(&self) -> Item {
        let mut table = InlineTable::new();
        match self {
            Source::Version(version) => return value(version),
            Source::Git { url, at } => {
                table.insert("git", url.as_str().into());
                if let Some((key, at)) = at {
                    table.insert(key, at.as_str().into());
                }
            }
            Source::Path(path) => {
                table.insert("path", path.as_str().into());
            }
        }
        value(table)
    }

    fn from_item(item: &Item) -> Option<Source> {
        if let Some(version) = item.as_str() {
            return Some(Source::Version(version.to_string()));
        }
        let table = item.as_table_like()?;
        let text = |key: &str| table.get(key).and_then(Item::as_str).map(str::to_string);
        if let Some(path) = text("path") {
            return Some(Source::Path(path));
        }
        if let Some(version) = text("version").filter(|_| text("git").is_none()) {
            return Some(Source::Version(version));
        }
        let at = ["rev", "tag", "branch"]
            .iter()
            .find_map(|k| text(k).map(|v| (k.to_string(), v)));
        Some(Source::Git {
            url: text("git")?,
            at,
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Git { url, at: None } => format!("git {url}"),
            Source::Git {
                url,
                at: Some((k, v)),
            } => format!("git {url} ({k} {v})"),
            Source::Version(v) => format!("version {v}"),
            Source::Path(p) => format!("path {p}"),
        }
    }
}

/// The tool's pin in the workspace xtask's manifest, if it depends on the tool.
pub fn pin(manifest: &str) -> Option<Source> {
    let doc = manifest.parse::<DocumentMut>().ok()?;
    Source::from_item(doc.get("dependencies")?.get(super::files::TOOL)?)
}

/// `[profile.dev.package.OLD]` overrides that earlier versions wrote, and their crate now.
const RENAMED_OVERRIDES: [(&str, &str); 1] = [("sha2", "hmac-sha256")];

/// The manifest with the tool's pin set to `source`.
pub fn set_pin(rel: &str, manifest: &str, source: &Source) -> anyhow::Result<String> {
    let mut doc = parse(rel, manifest)?;
    let deps = doc
        .entry("dependencies")
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_like_mut()
        .with_context(|| format!("{rel}: `dependencies` is not a table"))?;
    deps.insert(super::files::TOOL, source.item());
    // A profile override the thin xtask was written with, for a crate the tool has replaced:
    // moved to the new crate (an override matching nothing is a warning on every build),
    // unless the xtask depends on the old crate itself.
    let moves: Vec<_> = RENAMED_OVERRIDES
        .into_iter()
        .filter(|(old, _)| !deps.contains_key(old))
        .collect();
    let overrides = doc
        .get_mut("profile")
        .and_then(|p| p.get_mut("dev"))
        .and_then(|d| d.get_mut("package"))
        .and_then(Item::as_table_like_mut);
    if let Some(overrides) = overrides {
        for (old, new) in moves {
            if !overrides.contains_key(new) {
                if let Some(item) = overrides.remove(old) {
                    overrides.insert(new, item);
                }
            }
        }
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alias_goes_into_the_alias_table_once_and_comments_stay() {
        let text = "# ours\n[build]\njobs = 2 # two\n";
        let new = alias("c", text, "xtask", "run --").unwrap().unwrap();
        assert_eq!(
            new,
            "# ours\n[build]\njobs = 2 # two\n\n[alias]\nxtask = \"run --\"\n"
        );
        assert_eq!(alias("c", &new, "xtask", "other").unwrap(), None);
        let dotted = "alias.b = \"build\"\n";
        let new = alias("c", dotted, "xtask", "run --").unwrap().unwrap();
        assert!(new.contains("alias.b = \"build\""), "{new}");
        assert_eq!(pin_free(&new), ["b", "xtask"]);
        let err = alias("c", "[alias\n", "x", "y").unwrap_err();
        assert!(
            format!("{err:#}").contains("nothing was written"),
            "{err:#}"
        );
    }

    fn pin_free(text: &str) -> Vec<String> {
        let doc: DocumentMut = text.parse().unwrap();
        let t = doc["alias"].as_table_like().unwrap();
        t.iter().map(|(k, _)| k.to_string()).collect()
    }

    #[test]
    fn excludes_join_an_existing_list() {
        let text = "[workspace]\nmembers = [\"*\"]\nexclude = [\"old\"]\n";
        let new = exclude("Cargo.toml", text, &["xtask", "old"]).unwrap();
        assert_eq!(
            new,
            "[workspace]\nmembers = [\"*\"]\nexclude = [\"old\", \"xtask\"]\n"
        );
        let new = exclude("Cargo.toml", "[workspace]\nmembers = [\"*\"]\n", &["xtask"]).unwrap();
        assert!(new.contains("exclude = [\"xtask\"]"), "{new}");
    }

    #[test]
    fn the_pin_round_trips() {
        let manifest = "[package]\nname = \"xtask\"\n\n[dependencies]\nclap = \"4\"\n";
        for source in [
            Source::Git {
                url: "file:///tmp/tool".into(),
                at: Some(("rev".into(), "abc123".into())),
            },
            Source::Git {
                url: "https://example.com/tool".into(),
                at: None,
            },
            Source::Version("0.2.0".into()),
            Source::Path("/src/tool/xtask".into()),
        ] {
            let new = set_pin("m", manifest, &source).unwrap();
            assert!(new.contains("clap = \"4\""), "{new}");
            assert_eq!(pin(&new), Some(source));
        }
        assert_eq!(pin(manifest), None);
    }

    #[test]
    fn an_override_of_a_crate_the_tool_replaced_moves_to_its_successor() {
        let old = "[dependencies]\n\n[profile.dev]\ndebug = false\n\n\
                   # hashing\n[profile.dev.package.sha2]\nopt-level = 3\n";
        let source = Source::Version("0.2.0".into());
        let new = set_pin("m", old, &source).unwrap();
        let doc: DocumentMut = new.parse().unwrap();
        let packages = &doc["profile"]["dev"]["package"];
        assert_eq!(packages["hmac-sha256"]["opt-level"].as_integer(), Some(3));
        assert!(packages.get("sha2").is_none(), "{new}");
        // The xtask's own dependency on the old crate keeps its override.
        let own = old.replace("[dependencies]\n", "[dependencies]\nsha2 = \"0.10\"\n");
        let new = set_pin("m", &own, &source).unwrap();
        assert!(new.contains("[profile.dev.package.sha2]"), "{new}");
    }

    #[test]
    fn the_docker_place_is_a_table_under_the_config() {
        let text = "[workspace]\nmembers = []\n\n[workspace.metadata.xtask]\nbins = [\"a\"]\n";
        let entries = vec![
            ("dockerfile", value("x/Dockerfile")),
            ("build-env", value("x/b.sh")),
        ];
        let new = set(
            "Cargo.toml",
            text,
            &["workspace", "metadata", "xtask", "docker"],
            entries,
        )
        .unwrap();
        let doc: toml::Table = new.parse().unwrap();
        let docker = &doc["workspace"]["metadata"]["xtask"]["docker"];
        assert_eq!(docker["dockerfile"].as_str(), Some("x/Dockerfile"));
        assert_eq!(docker["build-env"].as_str(), Some("x/b.sh"));
        assert!(new.starts_with(text.trim_end()), "{new}");
    }
}

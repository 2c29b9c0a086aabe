//! The mirror's `Cargo.lock`: the workspace's own, trimmed to the packages the mirror's members
//! reach, and encoded as cargo writes it (so `cargo build --locked` of the mirror accepts it).
//!
//! Cargo would trim it too, but only by writing a lockfile of a scratch copy of the mirror; this
//! reads and writes nothing, so a check or a dry run stays a pure function of the tree. The
//! packages, their versions and sources are the workspace's; what changes is the set, and with
//! it how a dependency is named: cargo writes `name`, adds the version only when two versions
//! of that name are locked, and the source only when two sources lock that version.

use anyhow::{bail, Context};
use std::collections::{BTreeMap, BTreeSet};

/// One `[[package]]` entry: its identity, its dependencies (as written) and its text.
struct Entry {
    name: String,
    version: String,
    source: Option<String>,
    dependencies: Vec<String>,
    text: String,
}

/// The names of the packages a lockfile holds.
pub fn names(lock: &str) -> anyhow::Result<BTreeSet<String>> {
    let (_, entries, _) = split(lock)?;
    Ok(entries.into_iter().map(|e| e.name).collect())
}

/// `lock` (a workspace's Cargo.lock) with only what the packages `roots` (name, version: the
/// mirror's members) depend on, directly or not.
pub fn trim(lock: &str, roots: &[(String, String)]) -> anyhow::Result<String> {
    let (head, entries, tail) = split(lock)?;
    let find = |reference: &str| -> anyhow::Result<usize> {
        let mut words = reference.splitn(3, ' ');
        let name = words.next().unwrap_or_default();
        let version = words.next();
        let source = words
            .next()
            .map(|s| s.trim_start_matches('(').trim_end_matches(')'));
        let found: Vec<usize> = (0..entries.len())
            .filter(|&i| {
                let e = &entries[i];
                e.name == name
                    && version.is_none_or(|v| e.version == v)
                    && source.is_none_or(|s| e.source.as_deref() == Some(s))
            })
            .collect();
        match found.as_slice() {
            [one] => Ok(*one),
            _ => bail!(
                "Cargo.lock: `{reference}` names {} packages, not one",
                found.len()
            ),
        }
    };
    let mut keep = BTreeSet::new();
    let mut queue: Vec<usize> = Vec::new();
    for (name, version) in roots {
        let root = entries
            .iter()
            .position(|e| &e.name == name && &e.version == version && e.source.is_none())
            .with_context(|| {
                format!("Cargo.lock has no entry for the member {name} {version}: is it stale?")
            })?;
        queue.push(root);
    }
    let mut edges: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    while let Some(i) = queue.pop() {
        if !keep.insert(i) {
            continue;
        }
        let deps = entries[i]
            .dependencies
            .iter()
            .map(|d| find(d))
            .collect::<anyhow::Result<Vec<_>>>()?;
        queue.extend(deps.iter().copied());
        edges.insert(i, deps);
    }
    let kept: Vec<&Entry> = keep.iter().map(|&i| &entries[i]).collect();
    // Entries one blank line apart, as cargo writes them.
    let mut blocks: Vec<String> = keep
        .iter()
        .map(|&i| {
            let names: Vec<String> = edges[&i]
                .iter()
                .map(|&d| reference(&entries[d], &kept))
                .collect();
            with_dependencies(&entries[i].text, &names)
                .trim_end()
                .to_string()
        })
        .collect();
    if !tail.is_empty() {
        blocks.push(tail.trim_end().to_string());
    }
    Ok(format!("{head}{}\n", blocks.join("\n\n")))
}

/// How cargo names `entry` in a lockfile that locks `all`.
fn reference(entry: &Entry, all: &[&Entry]) -> String {
    let same_name: Vec<&&Entry> = all.iter().filter(|e| e.name == entry.name).collect();
    if same_name.len() == 1 {
        return entry.name.clone();
    }
    let same_version = same_name
        .iter()
        .filter(|e| e.version == entry.version)
        .count();
    match (&entry.source, same_version) {
        (Some(source), n) if n > 1 => format!("{} {} ({source})", entry.name, entry.version),
        _ => format!("{} {}", entry.name, entry.version),
    }
}

/// The entry's text with its `dependencies` list replaced by `names` (none: no list).
fn with_dependencies(text: &str, names: &[String]) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line == "dependencies = [" {
            for l in lines.by_ref() {
                if l == "]" {
                    break;
                }
            }
            if !names.is_empty() {
                out.push_str("dependencies = [\n");
                for name in names {
                    out.push_str(&format!(" \"{name}\",\n"));
                }
                out.push_str("]\n");
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The text before the first entry, the entries (each with its trailing blank line), and what
/// follows them (`[[patch.unused]]`), kept as they are.
fn split(lock: &str) -> anyhow::Result<(String, Vec<Entry>, String)> {
    const ENTRY: &str = "[[package]]\n";
    let Some(first) = lock.find(ENTRY) else {
        return Ok((lock.to_string(), Vec::new(), String::new()));
    };
    if lock.contains("\n[metadata]") {
        bail!("Cargo.lock is in cargo's first format (a [metadata] table): let a recent cargo rewrite it (`cargo update --workspace`)");
    }
    let head = lock[..first].to_string();
    let mut rest = &lock[first..];
    let mut tail = String::new();
    if let Some(i) = rest.find("[[patch.unused]]") {
        tail = rest[i..].to_string();
        rest = &rest[..i];
    }
    let mut entries = Vec::new();
    for chunk in rest.split(ENTRY).filter(|c| !c.is_empty()) {
        let table: toml::Table = chunk.parse().context("parsing an entry of Cargo.lock")?;
        let text_of = |key: &str| table.get(key).and_then(|v| v.as_str()).map(str::to_string);
        entries.push(Entry {
            name: text_of("name").context("a Cargo.lock entry without a name")?,
            version: text_of("version").context("a Cargo.lock entry without a version")?,
            source: text_of("source"),
            dependencies: table
                .get("dependencies")
                .and_then(|d| d.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            text: format!("{ENTRY}{chunk}"),
        });
    }
    Ok((head, entries, tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"# This file is automatically @generated by Cargo.
# It is not intended for manual editing.
version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = [
 "rand 0.8.5",
 "serde",
]

[[package]]
name = "rand"
version = "0.8.5"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "aa"

[[package]]
name = "rand"
version = "0.9.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "bb"

[[package]]
name = "serde"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "cc"

[[package]]
name = "tool"
version = "0.1.0"
dependencies = [
 "rand 0.9.0",
]
"#;

    #[test]
    fn a_name_loses_its_version_once_it_is_the_only_one_left() {
        let trimmed = trim(LOCK, &[("app".into(), "0.1.0".into())]).unwrap();
        assert!(
            !trimmed.contains("tool") && !trimmed.contains("0.9.0"),
            "{trimmed}"
        );
        assert!(
            trimmed.contains("dependencies = [\n \"rand\",\n \"serde\",\n]\n"),
            "{trimmed}"
        );
        assert!(trimmed.starts_with("# This file is automatically @generated by Cargo."));
        assert!(trimmed.ends_with("checksum = \"cc\"\n"), "{trimmed:?}");
        // Both members kept: the lockfile is unchanged.
        let both = [
            ("app".into(), "0.1.0".into()),
            ("tool".into(), "0.1.0".into()),
        ];
        assert_eq!(trim(LOCK, &both).unwrap(), LOCK);
    }

    #[test]
    fn a_stale_or_ambiguous_lockfile_is_an_error() {
        let err = trim(LOCK, &[("gone".into(), "1.0.0".into())]).unwrap_err();
        assert!(format!("{err:#}").contains("is it stale"), "{err:#}");
        let ambiguous = LOCK.replace(" \"rand 0.8.5\",", " \"rand\",");
        let err = trim(&ambiguous, &[("app".into(), "0.1.0".into())]).unwrap_err();
        assert!(format!("{err:#}").contains("names 2 packages"), "{err:#}");
    }

    /// The oracle: this repository's own ci_optims/Cargo.lock was trimmed by cargo itself.
    #[test]
    fn agrees_with_cargos_own_trim_of_this_repository() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap();
        let by_cargo = std::fs::read_to_string(root.join("ci_optims/Cargo.lock")).unwrap();
        let manifest: toml::Table = std::fs::read_to_string(root.join("Cargo.toml"))
            .unwrap()
            .parse()
            .unwrap();
        let version = manifest["workspace"]["package"]["version"]
            .as_str()
            .unwrap();
        let roots: Vec<(String, String)> = std::fs::read_dir(root.join("crates"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .map(|name| (name, version.to_string()))
            .collect();
        assert_eq!(trim(&lock, &roots).unwrap(), by_cargo);
    }
}

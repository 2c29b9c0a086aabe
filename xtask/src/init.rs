//! `cargo xtask init [PATH]`: wire an existing workspace to this tool, without changing what it
//! builds or which versions it resolves to.
//!
//! It adds (never overwriting a file of the workspace's own without `--force`):
//! - `xtask/`: this tool's sources as a workspace of its own (its own `Cargo.lock`, trimmed from
//!   the one it was tested with), so it cannot change the workspace's lockfile or what a plain
//!   `cargo build` builds; and the `cargo xtask` alias in `.cargo/config.toml`;
//! - `[workspace.metadata.xtask]` with the binaries it found (a service only when asked), and a
//!   `production` profile when there is none; `exclude` entries when a member glob would take in
//!   `xtask/` or `ci_optims/`;
//! - `ci_optims/` (`ci-optims sync`), and the Dockerfile, its build script, a Makefile and two
//!   workflows where the workspace has none of its own (else at `xtask/docker/`, configured).
//!
//! `--dry-run` prints every change first; a second run changes nothing.

use crate::ci_optims;
use crate::exec::{Command, Exec};
use crate::render::{print_json, Format, Options};
use crate::workspace::Workspace;
use anyhow::{bail, Context};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
#[command(after_help = "Run it from a checkout of this tool: `cargo xtask init ../my-workspace`.")]
pub struct InitArgs {
    /// The workspace to wire (default: the current one).
    pub path: Option<PathBuf>,
    /// The long-running binary, for images and smoke tests (`[workspace.metadata.xtask.service]`).
    #[arg(long, value_name = "BIN")]
    pub service: Option<String>,
    /// Replace files of the workspace that differ from this tool's.
    #[arg(long)]
    pub force: bool,
}

/// One change to the workspace.
#[derive(Debug, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Write a file that does not exist yet (or, with --force, replace one).
    Create {
        path: String,
        lines: usize,
        replaces: bool,
    },
    /// Add these lines to a file of the workspace (nothing in it is changed or removed).
    Add {
        path: String,
        after: Option<String>,
        text: String,
    },
    /// Left alone: the workspace has its own file there.
    Keep { path: String, why: String },
    /// Generate ci_optims/ and the tool's lockfile.
    Sync,
}

/// The files the tool brings, relative to its own checkout (`xtask/..`).
const DOCKER_FILES: [&str; 2] = ["Dockerfile", crate::config::DEFAULT_BUILD_ENV];

pub fn run(args: InitArgs, exec: &Exec, ws: &Workspace, opts: Options) -> anyhow::Result<()> {
    let Options {
        format, dry_run, ..
    } = opts;
    let tool_root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the xtask's own checkout")?
        .to_path_buf();
    if !tool_root.join("xtask/src/main.rs").is_file() {
        bail!(
            "init copies this tool's sources from {}, which is gone; run it from a checkout of the tool",
            tool_root.display()
        );
    }
    if ws.root == tool_root {
        bail!("this is the tool's own workspace; give the path of the workspace to wire: cargo xtask init ../my-workspace");
    }
    if let Some(service) = &args.service {
        ws.bin(service).context("--service")?;
    }
    let (dir, alias) = install_place(&ws.root)?;
    let plan = plan(ws, &tool_root, &args, (&dir, &alias))?;
    if dry_run || format == Format::Json {
        if format == Format::Json {
            print_json(
                &serde_json::json!({ "command": "init", "workspace": ws.root, "steps": plan.steps }),
            )?;
        } else {
            print!("{}", plan.describe());
        }
        if dry_run {
            return Ok(());
        }
    } else {
        print!("{}", plan.describe());
    }
    for (path, text) in &plan.writes {
        write_whole(&ws.root.join(path), text)?;
    }
    // ci_optims mirrors the workspace as it is now (with the profile just added).
    let ws = Workspace::load_at(exec, &ws.root)?;
    ci_optims::sync(exec, &ws)?.print();
    tool_lockfile(exec, &ws, &tool_root, &dir)?;
    eprintln!(
        "done: try `cargo {alias} build --variant dev` in {}",
        ws.root.display()
    );
    Ok(())
}

struct Plan {
    steps: Vec<Step>,
    /// Final content of every file written, relative to the workspace root.
    writes: BTreeMap<String, String>,
}

impl Plan {
    fn describe(&self) -> String {
        let mut out = String::from("plan: cargo xtask init\n");
        for step in &self.steps {
            match step {
                Step::Create {
                    path,
                    lines,
                    replaces,
                } => out.push_str(&format!(
                    "  {} {path} ({lines} lines)\n",
                    if *replaces { "replace" } else { "create " }
                )),
                Step::Add { path, after, text } => {
                    let place = after
                        .as_ref()
                        .map(|a| format!(" after `{a}`"))
                        .unwrap_or_default();
                    out.push_str(&format!("  add to  {path}{place}:\n"));
                    for line in text.lines() {
                        out.push_str(&format!("    + {line}\n"));
                    }
                }
                Step::Keep { path, why } => out.push_str(&format!("  keep    {path} ({why})\n")),
                Step::Sync => out.push_str(
                    "  sync    ci_optims/ (Cargo.lock updated first if it does not match the manifests) and the tool's Cargo.lock\n",
                ),
            }
        }
        if self.writes.is_empty() {
            out.push_str("  nothing to change: the workspace is wired already\n");
        }
        out
    }
}

/// Where the tool goes and what its alias is: `xtask/` and `cargo xtask`, unless the workspace
/// has an `xtask` of its own (helix does), then `xtask-build/` and `cargo xtask-build`.
fn install_place(root: &Path) -> anyhow::Result<(String, String)> {
    let config = std::fs::read_to_string(root.join(".cargo/config.toml")).unwrap_or_default();
    let aliases: toml::Table = config
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("alias").and_then(|a| a.as_table()).cloned())
        .unwrap_or_default();
    for name in ["xtask", "xtask-build"] {
        let ours = |text: &str| text.contains(env!("CARGO_PKG_DESCRIPTION"));
        let dir_free = match std::fs::read_to_string(root.join(name).join("Cargo.toml")) {
            Ok(manifest) => ours(&manifest),
            Err(_) => !root.join(name).exists(),
        };
        let alias_free = match aliases.get(name).map(|a| a.to_string()) {
            Some(alias) => alias.contains(&format!("{name}/Cargo.toml")),
            None => true,
        };
        if dir_free && alias_free {
            return Ok((name.to_string(), name.to_string()));
        }
    }
    bail!(
        "the workspace has its own `xtask` and `xtask-build` (folders or cargo aliases): move one \
         away, or copy xtask/ in by hand under another name"
    )
}

/// Every change, decided before any is made; the tool goes to `place` (its folder, its alias).
fn plan(
    ws: &Workspace,
    tool_root: &Path,
    args: &InitArgs,
    place: (&str, &str),
) -> anyhow::Result<Plan> {
    let mut plan = Plan {
        steps: Vec::new(),
        writes: BTreeMap::new(),
    };
    let root = &ws.root;
    let (dir, alias_name) = (place.0.to_string(), place.1.to_string());
    // The tool's sources, as a workspace of its own.
    let mut sources = Vec::new();
    collect(&tool_root.join("xtask/src"), &mut sources)?;
    let mut files: Vec<(String, String)> = sources
        .iter()
        .map(|p| {
            let rel = p
                .strip_prefix(tool_root.join("xtask"))
                .expect("under the tool")
                .to_string_lossy()
                .replace('\\', "/");
            let rel = format!("{dir}/{rel}");
            Ok((
                rel,
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let manifest = std::fs::read_to_string(tool_root.join("xtask/Cargo.toml"))?;
    files.push((
        format!("{dir}/Cargo.toml"),
        format!("{manifest}\n# Its own workspace: it never joins (or changes) the one it builds.\n[workspace]\n"),
    ));

    // Docker files: at the usual place when free, else under xtask/docker/ (configured).
    let root_dockerfile_free =
        !root.join("Dockerfile").exists() || owned(root, "Dockerfile", tool_root);
    let build_env_free =
        !root.join(DOCKER_FILES[1]).exists() || owned(root, DOCKER_FILES[1], tool_root);
    let (dockerfile, build_env) = if root_dockerfile_free && build_env_free {
        ("Dockerfile".to_string(), DOCKER_FILES[1].to_string())
    } else {
        (
            format!("{dir}/docker/Dockerfile"),
            format!("{dir}/docker/build-env.sh"),
        )
    };
    files.push((
        dockerfile.clone(),
        std::fs::read_to_string(tool_root.join(DOCKER_FILES[0]))?,
    ));
    files.push((
        build_env.clone(),
        std::fs::read_to_string(tool_root.join(DOCKER_FILES[1]))?,
    ));
    // The build context's ignore file, for this Dockerfile only (a workspace's own .dockerignore,
    // a symlink to .gitignore say, is never touched).
    files.push((
        format!("{dockerfile}.dockerignore"),
        std::fs::read_to_string(tool_root.join(".dockerignore"))?,
    ));
    for (from, to) in [
        ("Makefile", "Makefile"),
        (
            ".github/workflows/docker.yml",
            ".github/workflows/xtask-docker.yml",
        ),
        (
            ".github/workflows/bench.yml",
            ".github/workflows/xtask-bench.yml",
        ),
    ] {
        let text = std::fs::read_to_string(tool_root.join(from))?;
        // Installed beside a workspace's own `xtask`: they call this tool by its own alias.
        let text = match alias_name.as_str() {
            "xtask" => text,
            alias => text
                .replace("$(CARGO) xtask ", &format!("$(CARGO) {alias} "))
                .replace("cargo xtask ", &format!("cargo {alias} ")),
        };
        files.push((to.into(), text));
    }
    for (rel, text) in files {
        let path = root.join(&rel);
        let lines = text.lines().count();
        match std::fs::read_to_string(&path) {
            Ok(current) if current == text => {}
            Ok(_) if !args.force && !rel.starts_with(&format!("{dir}/")) => {
                plan.steps.push(Step::Keep {
                    path: rel,
                    why: "the workspace's own; --force replaces it".into(),
                })
            }
            Ok(_) if !args.force => plan.steps.push(Step::Keep {
                path: rel,
                why: "differs from this tool's version; --force replaces it".into(),
            }),
            other => {
                plan.steps.push(Step::Create {
                    path: rel.clone(),
                    lines,
                    replaces: other.is_ok(),
                });
                plan.writes.insert(rel, text);
            }
        }
    }

    // The alias.
    let config_rel = ".cargo/config.toml";
    let config = std::fs::read_to_string(root.join(config_rel)).unwrap_or_default();
    // The tool is a workspace of its own: without --target-dir, cargo would put its build in
    // `{dir}/target`, a folder no .gitignore or image ignore file of the workspace covers.
    let alias = format!(
        "{alias_name} = \"run --quiet --manifest-path {dir}/Cargo.toml --target-dir target/{dir}-tool --\""
    );
    let has_alias = config
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("alias").and_then(|a| a.get(&alias_name)).cloned())
        .is_some();
    if !has_alias {
        add(&mut plan, config_rel, &config, "alias", &alias);
    }

    // The root manifest: config table, production profile, excludes.
    let manifest_rel = "Cargo.toml";
    let mut manifest =
        std::fs::read_to_string(root.join(manifest_rel)).context("reading the root Cargo.toml")?;
    let table: toml::Table = manifest.parse().context("parsing the root Cargo.toml")?;
    let workspace = table.get("workspace");
    if let Some(patterns) = workspace
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
    {
        let excluded: Vec<&str> = workspace
            .and_then(|w| w.get("exclude"))
            .and_then(|e| e.as_array())
            .map(|e| e.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let needed: Vec<&str> = [dir.as_str(), ci_optims::DIR]
            .into_iter()
            .filter(|dir| !excluded.contains(dir))
            .filter(|dir| {
                patterns
                    .iter()
                    .filter_map(|p| p.as_str())
                    .any(|p| glob(p, dir))
            })
            .collect();
        if !needed.is_empty() {
            if workspace.is_some_and(|w| w.get("exclude").is_some()) {
                bail!(
                    "the root Cargo.toml's members take in {} and it has an `exclude` list: add {:?} to it, then run init again",
                    needed.join(" and "),
                    needed
                );
            }
            let line = format!(
                "exclude = [{}]",
                needed
                    .iter()
                    .map(|d| format!("\"{d}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            manifest = add(&mut plan, manifest_rel, &manifest, "workspace", &line);
        }
    }
    let has_xtask_config = workspace
        .and_then(|w| w.get("metadata"))
        .and_then(|m| m.get("xtask"))
        .is_some();
    if !has_xtask_config {
        let bins: Vec<String> = ws.bins.iter().map(|b| format!("\"{}\"", b.name)).collect();
        // A library-only workspace ships nothing: `bins = []` would refuse every production
        // build with a wrong cause, so the key is left out until there is a binary.
        let bins_line = match bins.is_empty() {
            true => "# bins = [\"...\"]: none yet (a library-only workspace); dev builds its libraries.\n".to_string(),
            false => format!("bins = [{}]\n", bins.join(", ")),
        };
        let mut text = format!(
            "\n# What `cargo xtask` builds, ships and measures (added by `cargo xtask init`; every key is optional).\n\
             [workspace.metadata.xtask]\n# Binaries shipped into dist/ by `cargo xtask build --variant production`.\n{bins_line}"
        );
        if let Some(service) = &args.service {
            text.push_str(&format!(
                "\n# The long-running binary: the image's entry point and the smoke tests' target.\n[workspace.metadata.xtask.service]\nbin = \"{service}\"\n"
            ));
        }
        if dockerfile != "Dockerfile" {
            text.push_str(&format!(
                "\n# The tool's Dockerfile and build script (the workspace has its own at the usual place).\n[workspace.metadata.xtask.docker]\ndockerfile = \"{dockerfile}\"\nbuild-env = \"{build_env}\"\n"
            ));
        }
        manifest = append(&mut plan, manifest_rel, &manifest, &text);
    }
    if !ws.profiles.contains("production") {
        let text = "\n# Optimized release builds of `cargo xtask build --variant production` (added by `cargo xtask init`).\n\
                    [profile.production]\ninherits = \"release\"\nlto = \"thin\"\ncodegen-units = 1\nstrip = true\n";
        append(&mut plan, manifest_rel, &manifest, text);
    }
    ignore_build_output(&mut plan, ws);
    plan.steps.push(Step::Sync);
    Ok(plan)
}

/// dist/ and its siblings (staging, previous, lock) are build output: git-ignored, as far as
/// the root `.gitignore` does not say so already.
fn ignore_build_output(plan: &mut Plan, ws: &Workspace) {
    let dist = ws
        .config
        .dist_dir
        .as_deref()
        .unwrap_or("dist")
        .trim_matches('/');
    let rel = ".gitignore";
    let current = std::fs::read_to_string(ws.root.join(rel)).unwrap_or_default();
    let has = |pattern: &str| {
        current.lines().any(|l| {
            let l = l.trim();
            l == pattern
                || l == pattern.trim_start_matches('/')
                || l == pattern.trim_end_matches('/')
        })
    };
    let missing: Vec<String> = [
        format!("/{dist}/"),
        format!("/{dist}.staging/"),
        format!("/{dist}.previous/"),
        format!("/{dist}.lock"),
    ]
    .into_iter()
    .filter(|p| !has(p))
    .collect();
    if !missing.is_empty() {
        let text = format!(
            "\n# The output of `cargo xtask build --variant production` (added by `cargo xtask init`).\n{}\n",
            missing.join("\n")
        );
        append(plan, rel, &current, &text);
    }
}

/// Did this tool write `rel`: this version (the same content), or an earlier one (the same first
/// comment line, the file's signature)? A second `init` after an upgrade must replace its own
/// earlier Dockerfile, not take it for the workspace's and leave it in use.
fn owned(root: &Path, rel: &str, tool_root: &Path) -> bool {
    let (Ok(theirs), Ok(ours)) = (
        std::fs::read_to_string(root.join(rel)),
        std::fs::read_to_string(tool_root.join(rel)),
    ) else {
        return false;
    };
    let signature = |text: &str| {
        text.lines()
            .find(|l| l.starts_with('#') && !l.starts_with("#!"))
            .map(str::to_string)
    };
    theirs == ours || (signature(&ours).is_some() && signature(&theirs) == signature(&ours))
}

/// `text` appended to the file (as planned so far); returns the new content.
fn append(plan: &mut Plan, rel: &str, current: &str, text: &str) -> String {
    let mut new = current.to_string();
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(text);
    plan.steps.push(Step::Add {
        path: rel.into(),
        after: None,
        text: text.trim_start().into(),
    });
    plan.writes.insert(rel.into(), new.clone());
    new
}

/// `line` added to the `[table]` of the file (the table appended if it has none).
fn add(plan: &mut Plan, rel: &str, current: &str, table: &str, line: &str) -> String {
    let header = format!("[{table}]");
    let lines: Vec<&str> = current.lines().collect();
    match lines.iter().position(|l| l.trim() == header) {
        Some(i) => {
            let mut new: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            new.insert(i + 1, line.to_string());
            let new = new.join("\n") + "\n";
            plan.steps.push(Step::Add {
                path: rel.into(),
                after: Some(header),
                text: line.into(),
            });
            plan.writes.insert(rel.into(), new.clone());
            new
        }
        None => append(plan, rel, current, &format!("\n{header}\n{line}\n")),
    }
}

/// Does the member pattern `pattern` (cargo's globs: `*`, `?`) match the directory `dir`?
fn glob(pattern: &str, dir: &str) -> bool {
    fn matches(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                matches(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && matches(p, &s[1..]))
            }
            (Some(b'?'), Some(c)) if *c != b'/' => matches(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => matches(&p[1..], &s[1..]),
            _ => false,
        }
    }
    matches(pattern.trim_end_matches('/').as_bytes(), dir.as_bytes())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    Ok(())
}

/// Write `text` to `path` whole: a temporary file beside it, then a rename.
fn write_whole(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().expect("has a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension("xtask-tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    } else if text.starts_with("#!") {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755));
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("moving {} to {}", tmp.display(), path.display()))
}

/// xtask/Cargo.lock: the versions this tool was tested with (its checkout's lockfile), trimmed
/// by cargo to what the tool needs.
fn tool_lockfile(exec: &Exec, ws: &Workspace, tool_root: &Path, dir: &str) -> anyhow::Result<()> {
    let lock = ws.root.join(dir).join("Cargo.lock");
    if lock.exists() {
        return Ok(());
    }
    std::fs::copy(tool_root.join("Cargo.lock"), &lock)
        .with_context(|| format!("copying {}", tool_root.join("Cargo.lock").display()))?;
    let manifest = ws.root.join(dir).join("Cargo.toml");
    let metadata = |offline: bool| {
        let mut c = Command::new(&ws.cargo)
            .args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(manifest.display().to_string());
        if offline {
            c = c.arg("--offline");
        }
        c
    };
    if !exec.succeeds(&metadata(true)) {
        exec.read(&metadata(false))
            .with_context(|| format!("resolving {dir}/Cargo.lock"))?;
    }
    eprintln!("wrote {dir}/Cargo.lock");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workspace_with_its_own_xtask_gets_the_tool_beside_it() {
        let dir = crate::test_support::scratch("install-place");
        assert_eq!(
            install_place(&dir).unwrap(),
            ("xtask".into(), "xtask".into())
        );
        std::fs::create_dir_all(dir.join("xtask")).unwrap();
        std::fs::write(
            dir.join("xtask/Cargo.toml"),
            "[package]\nname = \"xtask\"\n",
        )
        .unwrap();
        assert_eq!(
            install_place(&dir).unwrap(),
            ("xtask-build".into(), "xtask-build".into())
        );
        // Ours (a second init): the same place again.
        let ours = format!("description = \"{}\"\n", env!("CARGO_PKG_DESCRIPTION"));
        std::fs::write(dir.join("xtask/Cargo.toml"), ours).unwrap();
        assert_eq!(install_place(&dir).unwrap().0, "xtask");
        // A cargo alias of its own counts too.
        std::fs::create_dir_all(dir.join(".cargo")).unwrap();
        std::fs::write(
            dir.join(".cargo/config.toml"),
            "[alias]\nxtask = \"run -p xtask --\"\n",
        )
        .unwrap();
        assert_eq!(install_place(&dir).unwrap().0, "xtask-build");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// The tool's files from an earlier version are still the tool's: a second `init --force`
    /// replaces them in place; a workspace's own Dockerfile is not the tool's.
    #[test]
    fn an_earlier_version_of_the_tools_file_is_the_tools() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = crate::test_support::scratch("owned");
        for rel in DOCKER_FILES {
            let ours = std::fs::read_to_string(root.join(rel)).unwrap();
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            assert!(!owned(&dir, rel, &root), "{rel}: absent");
            std::fs::write(&path, &ours).unwrap();
            assert!(owned(&dir, rel, &root), "{rel}: the same");
            let earlier = ours
                .replacen("ARG ", "ARG OLD_", 1)
                .replacen("set -eu", "set -e", 1);
            assert_ne!(earlier, ours);
            std::fs::write(&path, earlier).unwrap();
            assert!(owned(&dir, rel, &root), "{rel}: an earlier version");
            std::fs::write(&path, "#!/bin/sh\n# the workspace's own\nFROM debian\n").unwrap();
            assert!(!owned(&dir, rel, &root), "{rel}: the workspace's own");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn member_globs() {
        assert!(glob("*", "xtask"));
        assert!(glob("*", "ci_optims"));
        assert!(!glob("crates/*", "xtask"));
        assert!(glob("x?ask", "xtask"));
        assert!(glob("xtask/", "xtask"));
        assert!(!glob("*", "a/b"));
    }

    #[test]
    fn lines_go_into_their_table() {
        let mut plan = Plan {
            steps: Vec::new(),
            writes: BTreeMap::new(),
        };
        let text = add(
            &mut plan,
            "Cargo.toml",
            "[workspace]\nmembers = [\"*\"]\n",
            "workspace",
            "exclude = [\"xtask\"]",
        );
        assert_eq!(
            text,
            "[workspace]\nexclude = [\"xtask\"]\nmembers = [\"*\"]\n"
        );
        let text = add(
            &mut plan,
            "c.toml",
            "[build]\njobs = 2",
            "alias",
            "x = \"y\"",
        );
        assert_eq!(text, "[build]\njobs = 2\n\n[alias]\nx = \"y\"\n");
    }
}

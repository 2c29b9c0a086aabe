//! `cargo xtask ci-optims`: generate, verify and measure `ci_optims/`, the crate that depends on
//! every third-party dependency of the app crates, so one step (a Docker layer, a CI warm-up)
//! compiles all of them before any app source is copied.
//!
//! What makes its units reusable by the real build (each was a measured failure otherwise):
//! - exact locked versions and the feature set the real build unifies to (from `cargo tree` on
//!   the app packages: `cargo metadata` would also count the xtask's features);
//! - build dependencies compiled for the host, which needs a `build.rs` (cargo skips them
//!   without one);
//! - for Docker, a standalone workspace manifest with the same profiles and a lockfile trimmed
//!   the way cargo trims it, so `--locked` works there.

use crate::build::{self, BuildArgs, Variant};
use crate::workspace::Workspace;
use anyhow::{bail, Context};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use xshell::{cmd, Shell};

/// Where the crate lives, relative to the workspace root, and its package name.
pub const DIR: &str = "ci_optims";
pub const PACKAGE: &str = "ci_optims";
/// The standalone workspace (root manifest + trimmed lockfile) that builds `ci_optims` alone.
pub const STANDALONE_DIR: &str = "ci_optims/standalone";

#[derive(Debug, clap::Args)]
pub struct CiOptimsArgs {
    #[command(subcommand)]
    command: CiOptimsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CiOptimsCommand {
    /// Regenerate ci_optims/ (manifest, sources, standalone workspace) from `cargo metadata`.
    Sync,
    /// Exit non-zero, naming the fix, when anything generated is stale.
    Check,
    /// Build ci_optims, then the real build: how many third-party units were already fresh.
    Coverage {
        #[arg(long, value_enum, default_value_t = Variant::Dev)]
        variant: Variant,
        /// Target triple (repeatable). Default: the host for dev, the configured targets for production.
        #[arg(long = "target", value_name = "TRIPLE")]
        targets: Vec<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

impl CiOptimsArgs {
    pub fn run(self, sh: &Shell, ws: &Workspace) -> anyhow::Result<()> {
        match self.command {
            CiOptimsCommand::Sync => {
                let files = generate(sh, ws)?;
                let changed = files.write(&ws.root)?;
                // The workspace lockfile lists ci_optims' dependencies: bring it up to date.
                let cargo = &ws.cargo;
                cmd!(sh, "{cargo} metadata --format-version 1 --no-deps")
                    .quiet()
                    .ignore_stdout()
                    .run()?;
                if changed.is_empty() {
                    eprintln!("ci_optims is up to date");
                } else {
                    for path in changed {
                        eprintln!("wrote {path}");
                    }
                }
                Ok(())
            }
            CiOptimsCommand::Check => check(sh, ws),
            CiOptimsCommand::Coverage {
                variant,
                targets,
                json,
            } => {
                let report = coverage(sh, ws, variant, targets)?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    println!("{}", report.describe());
                }
                if report.not_fresh.is_empty() {
                    Ok(())
                } else {
                    bail!(
                        "{} third-party unit(s) were not precompiled by ci_optims",
                        report.not_fresh.len()
                    )
                }
            }
        }
    }
}

/// Every generated file, by path relative to the workspace root (`None`: must not exist).
pub struct Generated {
    pub files: BTreeMap<String, Option<String>>,
}

impl Generated {
    /// Write what differs; returns the paths written or removed. Each file is written to a
    /// temporary name and renamed, so an interrupted sync leaves whole files.
    fn write(&self, root: &Path) -> anyhow::Result<Vec<String>> {
        let mut changed = Vec::new();
        for (rel, content) in &self.files {
            let path = root.join(rel);
            let current = std::fs::read_to_string(&path).ok();
            if current.as_ref() == content.as_ref() {
                continue;
            }
            match content {
                Some(text) => {
                    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
                    let tmp = path.with_extension("xtask-tmp");
                    std::fs::write(&tmp, text)
                        .with_context(|| format!("writing {}", tmp.display()))?;
                    std::fs::rename(&tmp, &path)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
                None => std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?,
            }
            changed.push(rel.clone());
        }
        Ok(changed)
    }

    /// Paths whose content on disk differs from the generated one.
    fn stale(&self, root: &Path) -> Vec<String> {
        self.files
            .iter()
            .filter(|(rel, content)| {
                std::fs::read_to_string(root.join(rel)).ok().as_ref() != content.as_ref()
            })
            .map(|(rel, _)| rel.clone())
            .collect()
    }
}

pub fn check(sh: &Shell, ws: &Workspace) -> anyhow::Result<()> {
    let files = generate(sh, ws)?;
    let mut stale = files.stale(&ws.root);
    let cargo = &ws.cargo;
    if cmd!(sh, "{cargo} metadata --format-version 1 --no-deps --locked")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_err()
    {
        stale.push("Cargo.lock".into());
    }
    if stale.is_empty() {
        eprintln!("ci_optims is up to date");
        return Ok(());
    }
    bail!(
        "ci_optims is stale ({}); fix: cargo xtask ci-optims sync, then commit the result",
        stale.join(", ")
    )
}

#[derive(Deserialize)]
struct FullMetadata {
    packages: Vec<MetaPackage>,
    workspace_members: Vec<String>,
    #[serde(default)]
    workspace_default_members: Option<Vec<String>>,
    resolve: Resolve,
}

#[derive(Deserialize)]
struct MetaPackage {
    id: String,
    name: String,
    version: String,
    source: Option<String>,
    #[serde(default)]
    features: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct Resolve {
    nodes: Vec<Node>,
}

#[derive(Deserialize)]
struct Node {
    id: String,
    deps: Vec<NodeDep>,
}

#[derive(Deserialize)]
struct NodeDep {
    pkg: String,
    dep_kinds: Vec<DepKind>,
}

#[derive(Deserialize)]
struct DepKind {
    kind: Option<String>,
    target: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Normal,
    Build,
}

/// One dependency line of the generated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DepLine {
    key: String,
    package: String,
    source: String,
    default_features: bool,
    features: Vec<String>,
}

/// Generate every file of `ci_optims/` from the workspace.
pub fn generate(sh: &Shell, ws: &Workspace) -> anyhow::Result<Generated> {
    let cargo = &ws.cargo;
    let json = cmd!(sh, "{cargo} metadata --format-version 1")
        .quiet()
        .read()
        .context("running `cargo metadata`")?;
    let meta: FullMetadata =
        serde_json::from_str(&json).context("parsing `cargo metadata` output")?;
    let members: BTreeSet<&str> = meta.workspace_members.iter().map(String::as_str).collect();
    let default_members = meta
        .workspace_default_members
        .as_ref()
        .unwrap_or(&meta.workspace_members);
    let by_id: BTreeMap<&str, &MetaPackage> =
        meta.packages.iter().map(|p| (p.id.as_str(), p)).collect();
    let apps: Vec<&MetaPackage> = default_members
        .iter()
        .filter_map(|id| by_id.get(id.as_str()).copied())
        .filter(|p| p.name != env!("CARGO_PKG_NAME") && p.name != PACKAGE)
        .collect();
    if apps.is_empty() {
        bail!("the workspace has no app package to precompile dependencies for");
    }

    let features = unified_features(sh, ws, &apps)?;

    // (section, cfg) -> package id; unconditional entries win over cfg-gated ones.
    let mut wanted: BTreeMap<(Section, Option<String>), BTreeSet<&str>> = BTreeMap::new();
    for app in &apps {
        let node = meta
            .resolve
            .nodes
            .iter()
            .find(|n| n.id == app.id)
            .context("app package not in resolve")?;
        for dep in &node.deps {
            if members.contains(dep.pkg.as_str()) {
                continue;
            }
            for kind in &dep.dep_kinds {
                let section = match kind.kind.as_deref() {
                    None | Some("normal") => Section::Normal,
                    Some("build") => Section::Build,
                    _ => continue,
                };
                wanted
                    .entry((section, kind.target.clone()))
                    .or_default()
                    .insert(dep.pkg.as_str());
            }
        }
    }
    let unconditional: BTreeMap<Section, BTreeSet<&str>> = wanted
        .iter()
        .filter(|((_, cfg), _)| cfg.is_none())
        .map(|((s, _), ids)| (*s, ids.clone()))
        .collect();

    // Keys: the crate name, or name-version where two versions are direct dependencies.
    let mut name_count: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for ids in wanted.values() {
        for id in ids {
            let p = by_id[id];
            name_count
                .entry(p.name.as_str())
                .or_default()
                .insert(p.version.as_str());
        }
    }
    let line = |id: &str| -> anyhow::Result<DepLine> {
        let p = by_id[id];
        let key = if name_count[p.name.as_str()].len() > 1 {
            format!("{}-{}", p.name, p.version.replace('.', "_"))
        } else {
            p.name.clone()
        };
        let enabled = features
            .get(&(p.name.clone(), p.version.clone()))
            .cloned()
            .unwrap_or_default();
        Ok(DepLine {
            key,
            package: p.name.clone(),
            source: source_spec(p)?,
            default_features: enabled.contains("default"),
            features: enabled
                .into_iter()
                .filter(|f| f != "default" && p.features.contains_key(f))
                .collect(),
        })
    };

    let mut sections: BTreeMap<(Section, Option<String>), Vec<DepLine>> = BTreeMap::new();
    for ((section, cfg), ids) in &wanted {
        for id in ids {
            if cfg.is_some() && unconditional.get(section).is_some_and(|u| u.contains(id)) {
                continue;
            }
            sections
                .entry((*section, cfg.clone()))
                .or_default()
                .push(line(id)?);
        }
    }
    for lines in sections.values_mut() {
        lines.sort_by(|a, b| a.key.cmp(&b.key));
    }
    let has_build_deps = sections.keys().any(|(s, _)| *s == Section::Build);

    let app_names: Vec<&str> = apps.iter().map(|p| p.name.as_str()).collect();
    let manifest = render_manifest(&app_names, &sections, has_build_deps);
    let standalone = render_standalone(&ws.root)?;

    let mut files = BTreeMap::new();
    files.insert(format!("{DIR}/Cargo.toml"), Some(manifest.clone()));
    files.insert(
        format!("{DIR}/src/lib.rs"),
        Some(format!("{}\n", header_lines("//"))),
    );
    files.insert(
        format!("{DIR}/build.rs"),
        has_build_deps.then(|| {
            format!(
                "{}\n// Present so cargo compiles the [build-dependencies] (it skips them without a build script).\nfn main() {{\n    println!(\"cargo:rerun-if-changed=build.rs\");\n}}\n",
                header_lines("//")
            )
        }),
    );
    files.insert(
        format!("{STANDALONE_DIR}/Cargo.toml"),
        Some(standalone.clone()),
    );
    let lock = trimmed_lockfile(sh, ws, &manifest, &standalone, &files)?;
    files.insert(format!("{STANDALONE_DIR}/Cargo.lock"), Some(lock));
    Ok(Generated { files })
}

fn header_lines(comment: &str) -> String {
    format!(
        "{comment} @generated by `cargo xtask ci-optims sync` from `cargo metadata`: do not edit.\n\
         {comment} `cargo xtask ci-optims check` fails when this is stale."
    )
}

fn source_spec(p: &MetaPackage) -> anyhow::Result<String> {
    let source = p.source.as_deref().unwrap_or_default();
    if source == "registry+https://github.com/rust-lang/crates.io-index"
        || source.starts_with("sparse+https://index.crates.io")
    {
        return Ok(format!("version = \"={}\"", p.version));
    }
    if let Some(git) = source.strip_prefix("git+") {
        // git+URL?rev=..#COMMIT: pin the exact commit the lockfile has.
        let (url, commit) = git.split_once('#').unwrap_or((git, ""));
        let url = url.split('?').next().unwrap_or(url);
        return Ok(format!("git = \"{url}\", rev = \"{commit}\""));
    }
    bail!(
        "{} {} comes from `{source}`, which ci-optims cannot pin yet (crates.io and git are supported)",
        p.name,
        p.version
    )
}

/// Features enabled on each (name, version) when the app packages are built, for the host and
/// every production target: what `cargo build` of those packages unifies to.
fn unified_features(
    sh: &Shell,
    ws: &Workspace,
    apps: &[&MetaPackage],
) -> anyhow::Result<BTreeMap<(String, String), BTreeSet<String>>> {
    let cargo = &ws.cargo;
    let mut packages = Vec::new();
    for app in apps {
        packages.extend(["-p".to_string(), format!("{}@{}", app.name, app.version)]);
    }
    let host = crate::toolchain::Toolchain::detect(sh)?.host;
    let mut targets = vec![host];
    for t in ws.production_targets() {
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    let mut features: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for target in &targets {
        let packages = &packages;
        let format = "{p}|{f}";
        let out = cmd!(sh, "{cargo} tree -e normal,build --prefix none --format {format} --target {target} {packages...}")
        .quiet()
        .read()
        .context("running `cargo tree` for the app packages")?;
        for line in out.lines() {
            let Some((pkg, feats)) = line.split_once('|') else {
                continue;
            };
            let mut words = pkg.split_whitespace();
            let (Some(name), Some(version)) = (words.next(), words.next()) else {
                continue;
            };
            let entry = features
                .entry((
                    name.to_string(),
                    version.trim_start_matches('v').to_string(),
                ))
                .or_default();
            let feats = feats.trim_end_matches(" (*)").trim();
            entry.extend(
                feats
                    .split(',')
                    .filter(|f| !f.is_empty())
                    .map(str::to_string),
            );
        }
    }
    Ok(features)
}

fn render_manifest(
    apps: &[&str],
    sections: &BTreeMap<(Section, Option<String>), Vec<DepLine>>,
    build_rs: bool,
) -> String {
    let mut out = format!(
        "{}\n#\n# Depends on every third-party dependency of the app crates ({}) at the locked version,\n\
         # with the features the workspace build unifies to, so that building this crate alone\n\
         # (a Docker layer, a CI warm-up) compiles every dependency the real build will use.\n\
         [package]\nname = \"{PACKAGE}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n",
        header_lines("#"),
        apps.join(", ")
    );
    if build_rs {
        out.push_str("build = \"build.rs\"\n");
    }
    out.push_str("\n[lib]\npath = \"src/lib.rs\"\n");
    for ((section, cfg), lines) in sections {
        let table = match section {
            Section::Normal => "dependencies",
            Section::Build => "build-dependencies",
        };
        match cfg {
            Some(cfg) => out.push_str(&format!("\n[target.'{cfg}'.{table}]\n")),
            None => out.push_str(&format!("\n[{table}]\n")),
        }
        for l in lines {
            let package = if l.key != l.package {
                format!("package = \"{}\", ", l.package)
            } else {
                String::new()
            };
            let features = l
                .features
                .iter()
                .map(|f| format!("\"{f}\""))
                .collect::<Vec<_>>()
                .join(", ");
            out.push_str(&format!(
                "{} = {{ {package}{}, default-features = {}, features = [{features}] }}\n",
                l.key, l.source, l.default_features
            ));
        }
    }
    out
}

/// The root manifest of the standalone workspace: `ci_optims` as its only member, with the
/// real workspace's resolver, profiles and patches (units are reused only if these match).
fn render_standalone(root: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(root.join("Cargo.toml")).context("reading the root Cargo.toml")?;
    let manifest: toml::Table = text.parse().context("parsing the root Cargo.toml")?;
    let mut workspace = toml::Table::new();
    workspace.insert(
        "members".into(),
        toml::Value::Array(vec![toml::Value::String(DIR.into())]),
    );
    if let Some(resolver) = manifest.get("workspace").and_then(|w| w.get("resolver")) {
        workspace.insert("resolver".into(), resolver.clone());
    }
    let mut out = toml::Table::new();
    out.insert("workspace".into(), toml::Value::Table(workspace));
    for key in ["profile", "patch"] {
        if let Some(value) = manifest.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    Ok(format!(
        "{}\n#\n# The workspace root for building {PACKAGE} alone: the Docker deps stage copies this file to\n\
         # the root (and Cargo.lock beside it). Profiles and patches are the real workspace's.\n{}",
        header_lines("#"),
        toml::to_string(&out)?
    ))
}

/// The lockfile cargo keeps for the standalone workspace: the real one, trimmed by cargo itself.
fn trimmed_lockfile(
    sh: &Shell,
    ws: &Workspace,
    manifest: &str,
    standalone: &str,
    files: &BTreeMap<String, Option<String>>,
) -> anyhow::Result<String> {
    let scratch = ws.target_dir.join("xtask/ci-optims-lock");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)?;
    }
    std::fs::create_dir_all(scratch.join(DIR).join("src"))?;
    std::fs::write(scratch.join("Cargo.toml"), standalone)?;
    std::fs::write(scratch.join(DIR).join("Cargo.toml"), manifest)?;
    for (rel, content) in files {
        if let (Some(text), Some(inner)) = (content, rel.strip_prefix(&format!("{DIR}/"))) {
            if inner.ends_with(".rs") {
                std::fs::write(scratch.join(DIR).join(inner), text)?;
            }
        }
    }
    let lock = ws.root.join("Cargo.lock");
    std::fs::copy(&lock, scratch.join("Cargo.lock"))
        .with_context(|| format!("copying {}", lock.display()))?;
    let cargo = &ws.cargo;
    let _dir = sh.push_dir(&scratch);
    let offline = cmd!(sh, "{cargo} metadata --format-version 1 --offline")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run();
    if offline.is_err() {
        cmd!(sh, "{cargo} metadata --format-version 1")
            .quiet()
            .ignore_stdout()
            .run()
            .context("resolving the standalone ci_optims workspace")?;
    }
    let trimmed = std::fs::read_to_string(scratch.join("Cargo.lock"))?;
    std::fs::remove_dir_all(&scratch)?;
    Ok(trimmed)
}

/// Result of `ci-optims coverage`.
#[derive(Debug, serde::Serialize)]
pub struct Coverage {
    pub variant: Variant,
    pub targets: Vec<String>,
    pub third_party_units: usize,
    pub fresh: usize,
    pub not_fresh: Vec<String>,
}

impl Coverage {
    pub fn percent(&self) -> f64 {
        if self.third_party_units == 0 {
            100.0
        } else {
            100.0 * self.fresh as f64 / self.third_party_units as f64
        }
    }

    fn describe(&self) -> String {
        let mut out = format!(
            "ci_optims coverage, {:?} for {}: {}/{} third-party units fresh ({:.1}%)",
            self.variant,
            self.targets.join(", "),
            self.fresh,
            self.third_party_units,
            self.percent()
        );
        for unit in &self.not_fresh {
            out.push_str(&format!("\n  compiled by the real build: {unit}"));
        }
        out
    }
}

/// Build ci_optims into a scratch target dir, then the real build there: count fresh units.
fn coverage(
    sh: &Shell,
    ws: &Workspace,
    variant: Variant,
    targets: Vec<String>,
) -> anyhow::Result<Coverage> {
    let scratch: PathBuf = ws.target_dir.join("xtask/ci-optims-coverage");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("removing {}", scratch.display()))?;
    }
    let args = BuildArgs::for_variant(variant, targets);
    let toolchain = crate::toolchain::Toolchain::detect(sh)?;
    let facts = build::Facts::from_machine(sh, ws, &toolchain);
    let mut plan = args.plan(ws, &facts)?;
    crate::toolchain::check_all(sh, &plan.requirements)?;
    plan.env
        .push(("CARGO_TARGET_DIR".into(), scratch.display().to_string()));

    eprintln!("[1/2] building {PACKAGE} (every third-party dependency)");
    let warm = plan.for_packages(&[PACKAGE]);
    build::execute(&warm, ws)?;
    eprintln!("[2/2] the real build");
    let real = build::execute(&plan, ws)?;
    let third_party: Vec<&build::Unit> = real.units.iter().filter(|u| u.third_party).collect();
    let mut not_fresh: Vec<String> = third_party
        .iter()
        .filter(|u| !u.fresh)
        .map(|u| u.describe())
        .collect();
    not_fresh.sort();
    std::fs::remove_dir_all(&scratch).ok();
    Ok(Coverage {
        variant,
        targets: plan.targets.clone(),
        third_party_units: third_party.len(),
        fresh: third_party.len() - not_fresh.len(),
        not_fresh,
    })
}

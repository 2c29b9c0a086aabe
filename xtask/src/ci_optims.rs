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

use crate::cargo::{Invocation, MetadataRequest, Selection, Unit};
use crate::config::Variant;
use crate::exec::{Command, Exec, Verbosity};
use crate::render::{print_json, Format};
use crate::rules::{self, BuildRequest, Facts};
use crate::toolchain::{self, Toolchain};
use crate::workspace::Workspace;
use anyhow::{bail, Context};
use cargo_metadata::{DependencyKind, Package, PackageId};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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
    },
}

/// What a `ci-optims` command will do.
#[derive(Debug, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Write a generated file whole (by rename), or remove one that must not exist.
    Write { path: String, remove: bool },
    /// Compare a generated file with the one on disk.
    Compare { path: String },
    /// Check that Cargo.lock needs no update (`cargo metadata --locked`).
    CheckLockfile { command: Command },
    /// A cargo run into the scratch target dir.
    Cargo { purpose: String, command: Command },
    /// Count the third-party units of the last run that were fresh.
    Count,
}

pub fn run(
    args: CiOptimsArgs,
    exec: &Exec,
    ws: &Workspace,
    format: Format,
    dry_run: bool,
) -> anyhow::Result<()> {
    match args.command {
        CiOptimsCommand::Sync => {
            let files = generate(exec, ws)?;
            let steps: Vec<Step> = files
                .stale(&ws.root)
                .into_iter()
                .map(|path| Step::Write {
                    remove: files.files[&path].is_none(),
                    path,
                })
                .collect();
            if dry_run {
                return print_steps(format, "ci-optims sync", &steps);
            }
            let changed = files.write(&ws.root)?;
            if changed.is_empty() {
                eprintln!("ci_optims is up to date");
            } else {
                for path in changed {
                    eprintln!("wrote {path}");
                }
            }
            // The workspace lockfile lists ci_optims' dependencies: bring it up to date.
            let metadata = MetadataRequest {
                cargo: &ws.cargo,
                no_deps: true,
                platform: None,
                manifest_path: None,
                locked: false,
            };
            exec.read(&metadata.command())?;
            Ok(())
        }
        CiOptimsCommand::Check => {
            if dry_run {
                let files = generate(exec, ws)?;
                let mut steps: Vec<Step> = files
                    .files
                    .keys()
                    .map(|path| Step::Compare { path: path.clone() })
                    .collect();
                steps.push(Step::CheckLockfile {
                    command: lockfile_check(ws).command(),
                });
                return print_steps(format, "ci-optims check", &steps);
            }
            check(exec, ws)
        }
        CiOptimsCommand::Coverage { variant, targets } => {
            let toolchain = Toolchain::detect(exec)?;
            let facts = Facts::from_machine(exec, ws, &toolchain);
            let plan = CoveragePlan::new(ws, variant, targets, &facts)?;
            if dry_run {
                return print_steps(format, "ci-optims coverage", &plan.steps());
            }
            toolchain::check_all(exec, &plan.requirements)?;
            let report = plan.run(exec, ws)?;
            match format {
                Format::Json => print_json(&report)?,
                _ => println!("{}", report.describe()),
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

fn print_steps(format: Format, command: &str, steps: &[Step]) -> anyhow::Result<()> {
    if format == Format::Json {
        return print_json(&serde_json::json!({ "command": command, "steps": steps }));
    }
    println!("plan: cargo xtask {command}");
    for step in steps {
        match step {
            Step::Write {
                path,
                remove: false,
            } => println!("  write    {path}"),
            Step::Write { path, remove: true } => println!("  remove   {path}"),
            Step::Compare { path } => println!("  compare  {path}"),
            Step::CheckLockfile { command } | Step::Cargo { command, .. } => {
                println!("  run      {}", command.line())
            }
            Step::Count => println!("  count    third-party units fresh in the last run"),
        }
    }
    if steps.is_empty() {
        println!("  nothing to do: every generated file is current");
    }
    Ok(())
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

fn lockfile_check(ws: &Workspace) -> MetadataRequest<'_> {
    MetadataRequest {
        cargo: &ws.cargo,
        no_deps: true,
        platform: None,
        manifest_path: None,
        locked: true,
    }
}

pub fn check(exec: &Exec, ws: &Workspace) -> anyhow::Result<()> {
    let files = generate(exec, ws)?;
    let mut stale = files.stale(&ws.root);
    if !exec.succeeds(&lockfile_check(ws).command()) {
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
pub fn generate(exec: &Exec, ws: &Workspace) -> anyhow::Result<Generated> {
    let meta = MetadataRequest {
        cargo: &ws.cargo,
        no_deps: false,
        platform: None,
        manifest_path: None,
        locked: false,
    }
    .run(exec)?;
    let members: BTreeSet<&PackageId> = meta.workspace_members.iter().collect();
    let default_members: Vec<&PackageId> = if meta.workspace_default_members.is_available() {
        meta.workspace_default_members.iter().collect()
    } else {
        meta.workspace_members.iter().collect()
    };
    let by_id: BTreeMap<&PackageId, &Package> = meta.packages.iter().map(|p| (&p.id, p)).collect();
    let apps: Vec<&Package> = default_members
        .iter()
        .filter_map(|id| by_id.get(id).copied())
        .filter(|p| p.name.as_str() != env!("CARGO_PKG_NAME") && p.name.as_str() != PACKAGE)
        .collect();
    if apps.is_empty() {
        bail!("the workspace has no app package to precompile dependencies for");
    }

    let features = unified_features(exec, ws, &apps)?;
    let resolve = meta
        .resolve
        .as_ref()
        .context("`cargo metadata` has no resolve")?;

    // (section, cfg) -> package id; unconditional entries win over cfg-gated ones.
    let mut wanted: BTreeMap<(Section, Option<String>), BTreeSet<&PackageId>> = BTreeMap::new();
    for app in &apps {
        let node = resolve
            .nodes
            .iter()
            .find(|n| n.id == app.id)
            .context("app package not in resolve")?;
        for dep in &node.deps {
            if members.contains(&dep.pkg) {
                continue;
            }
            for kind in &dep.dep_kinds {
                let section = match kind.kind {
                    DependencyKind::Normal => Section::Normal,
                    DependencyKind::Build => Section::Build,
                    _ => continue,
                };
                wanted
                    .entry((section, kind.target.as_ref().map(|t| t.to_string())))
                    .or_default()
                    .insert(&dep.pkg);
            }
        }
    }
    let unconditional: BTreeMap<Section, BTreeSet<&PackageId>> = wanted
        .iter()
        .filter(|((_, cfg), _)| cfg.is_none())
        .map(|((s, _), ids)| (*s, ids.clone()))
        .collect();

    // Keys: the crate name, or name-version where two versions are direct dependencies.
    let mut name_count: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for ids in wanted.values() {
        for id in ids {
            let p = by_id[id];
            name_count
                .entry(p.name.as_str())
                .or_default()
                .insert(p.version.to_string());
        }
    }
    let line = |id: &PackageId| -> anyhow::Result<DepLine> {
        let p = by_id[id];
        let version = p.version.to_string();
        let key = if name_count[p.name.as_str()].len() > 1 {
            format!("{}-{}", p.name, version.replace('.', "_"))
        } else {
            p.name.to_string()
        };
        let enabled = features
            .get(&(p.name.to_string(), version))
            .cloned()
            .unwrap_or_default();
        Ok(DepLine {
            key,
            package: p.name.to_string(),
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
    let lock = trimmed_lockfile(exec, ws, &manifest, &standalone, &files)?;
    files.insert(format!("{STANDALONE_DIR}/Cargo.lock"), Some(lock));
    Ok(Generated { files })
}

fn header_lines(comment: &str) -> String {
    format!(
        "{comment} @generated by `cargo xtask ci-optims sync` from `cargo metadata`: do not edit.\n\
         {comment} `cargo xtask ci-optims check` fails when this is stale."
    )
}

fn source_spec(p: &Package) -> anyhow::Result<String> {
    let source = p
        .source
        .as_ref()
        .map(|s| s.repr.as_str())
        .unwrap_or_default();
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
    exec: &Exec,
    ws: &Workspace,
    apps: &[&Package],
) -> anyhow::Result<BTreeMap<(String, String), BTreeSet<String>>> {
    let mut packages = Vec::new();
    for app in apps {
        packages.extend(["-p".to_string(), format!("{}@{}", app.name, app.version)]);
    }
    let host = Toolchain::detect(exec)?.host;
    let mut targets = vec![host];
    for t in ws.config.production_targets() {
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    let mut features: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for target in &targets {
        let tree = Command::new(&ws.cargo)
            .args([
                "tree",
                "-e",
                "normal,build",
                "--prefix",
                "none",
                "--format",
                "{p}|{f}",
            ])
            .args(["--target", target])
            .args(packages.iter().cloned());
        let out = exec
            .read(&tree)
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
    exec: &Exec,
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
    let resolve = |offline: bool| {
        let mut c = Command::new(&ws.cargo)
            .args(["metadata", "--format-version", "1"])
            .dir(&scratch);
        if offline {
            c = c.arg("--offline");
        }
        c
    };
    if !exec.succeeds(&resolve(true)) {
        exec.read(&resolve(false))
            .context("resolving the standalone ci_optims workspace")?;
    }
    let trimmed = std::fs::read_to_string(scratch.join("Cargo.lock"))?;
    std::fs::remove_dir_all(&scratch)?;
    Ok(trimmed)
}

/// Result of `ci-optims coverage`.
#[derive(Debug, Serialize)]
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

/// `ci-optims coverage`: build ci_optims into a scratch target dir, then the real build there,
/// and count the third-party units the real build found fresh.
struct CoveragePlan {
    variant: Variant,
    targets: Vec<String>,
    scratch: PathBuf,
    warm: Invocation,
    real: Invocation,
    requirements: Vec<toolchain::Requirement>,
}

impl CoveragePlan {
    fn new(
        ws: &Workspace,
        variant: Variant,
        targets: Vec<String>,
        facts: &Facts,
    ) -> anyhow::Result<CoveragePlan> {
        let scratch = ws.target_dir.join("xtask/ci-optims-coverage");
        let request = BuildRequest {
            targets,
            ..BuildRequest::of(variant)
        };
        let spec = rules::spec(ws, &request, facts)?;
        let mut real = spec.cargo();
        real.target_dir = Some(scratch.clone());
        let warm = Invocation {
            selection: Selection::Packages(vec![PACKAGE.into()]),
            ..real.clone()
        };
        Ok(CoveragePlan {
            variant,
            targets: spec.targets.clone(),
            scratch,
            warm,
            real,
            requirements: spec.requirements,
        })
    }

    fn steps(&self) -> Vec<Step> {
        vec![
            Step::Cargo {
                purpose: format!("every third-party dependency ({PACKAGE})"),
                command: self.warm.command(),
            },
            Step::Cargo {
                purpose: "the real build".into(),
                command: self.real.command(),
            },
            Step::Count,
        ]
    }

    fn run(&self, exec: &Exec, ws: &Workspace) -> anyhow::Result<Coverage> {
        if self.scratch.exists() {
            std::fs::remove_dir_all(&self.scratch)
                .with_context(|| format!("removing {}", self.scratch.display()))?;
        }
        let exec = exec.with(Verbosity::Normal);
        eprintln!("[1/2] building {PACKAGE} (every third-party dependency)");
        self.warm.run(&exec, &|id| ws.is_member(id))?;
        eprintln!("[2/2] the real build");
        let real = self.real.run(&exec, &|id| ws.is_member(id))?;
        let third_party: Vec<&Unit> = real.units.iter().filter(|u| u.third_party).collect();
        let mut not_fresh: Vec<String> = third_party
            .iter()
            .filter(|u| !u.fresh)
            .map(|u| u.describe())
            .collect();
        not_fresh.sort();
        std::fs::remove_dir_all(&self.scratch).ok();
        Ok(Coverage {
            variant: self.variant,
            targets: self.targets.clone(),
            third_party_units: third_party.len(),
            fresh: third_party.len() - not_fresh.len(),
            not_fresh,
        })
    }
}

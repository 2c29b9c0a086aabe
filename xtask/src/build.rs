//! `cargo xtask build`: plan the cargo invocation for a variant, then run it.
//!
//! Production builds every target in ONE cargo run (`--target a --target b`): cargo's job
//! queue then fills both cores across targets, and host artifacts (build scripts, proc macros)
//! are built once. Two cargo processes would wait on each other's target-dir lock instead.

use crate::dist::{self, Artifact};
use crate::toolchain::{self, Cross, HostLinker, LinkerChoice, Requirement, Toolchain};
use crate::workspace::{git_state, Bin, GitState, Workspace};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;
use xshell::Shell;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Native debug build: host target, `dev` profile, incremental, fastest linker.
    Dev,
    /// Optimized `production` profile for every configured target, packaged into dist/.
    Production,
}

impl Variant {
    pub fn profile(self) -> &'static str {
        match self {
            Variant::Dev => "dev",
            Variant::Production => "production",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// What to build.
    #[arg(long, value_enum, default_value_t = Variant::Dev)]
    pub variant: Variant,
    /// Target triple (repeatable). Production default: `[workspace.metadata.xtask] targets`;
    /// dev default: this machine.
    #[arg(long = "target", value_name = "TRIPLE")]
    pub targets: Vec<String>,
    /// Build and ship only this binary (repeatable).
    #[arg(long = "bin", value_name = "NAME")]
    pub bins: Vec<String>,
    /// How production cross-compiles: each target's C linker, or cargo-zigbuild.
    #[arg(long, value_enum, default_value_t = Cross::Linker)]
    pub cross: Cross,
    /// Linker of dev builds.
    #[arg(long, value_enum, default_value_t = LinkerChoice::Auto)]
    pub linker: LinkerChoice,
    /// Print the plan (commands, environment, paths) and check the machine; build nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print a machine-readable summary (or plan, with --dry-run) on stdout.
    #[arg(long)]
    pub json: bool,
    /// Pass --locked to cargo (always on when the CI environment variable is set).
    #[arg(long)]
    pub locked: bool,
}

/// Everything a build will do, decided before anything runs.
#[derive(Debug, Clone, Serialize)]
pub struct BuildPlan {
    pub variant: Variant,
    pub profile: &'static str,
    pub targets: Vec<String>,
    pub bins: Vec<PlannedBin>,
    pub linker: String,
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Where cargo leaves each target's binaries.
    pub output_dirs: BTreeMap<String, PathBuf>,
    /// Production only: the folder that replaces `dist` once everything is built.
    pub staging_dir: Option<PathBuf>,
    pub dist_dir: Option<PathBuf>,
    pub requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedBin {
    pub name: String,
    pub package: String,
    pub version: String,
}

/// Facts about the machine and tree that a plan depends on, gathered once (tests make their own).
pub struct Facts<'a> {
    pub toolchain: &'a Toolchain,
    pub ci: bool,
    pub git: Option<GitState>,
    pub has_program: &'a dyn Fn(&str) -> bool,
    /// The caller's own value of each variable the plan may set (kept, then added to).
    pub inherited_env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Facts<'a> {
    /// The facts of this machine, this process's environment and the workspace's git state.
    pub fn from_machine(sh: &Shell, ws: &Workspace, toolchain: &'a Toolchain) -> Facts<'a> {
        Facts {
            toolchain,
            ci: std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false"),
            git: git_state(sh, &ws.root),
            has_program: &|p| toolchain::find_program(p).is_some(),
            inherited_env: &|k| std::env::var(k).ok(),
        }
    }
}

impl BuildArgs {
    /// The defaults of `cargo xtask build --variant V [--target T]...`, for other commands.
    pub fn for_variant(variant: Variant, targets: Vec<String>) -> BuildArgs {
        BuildArgs {
            variant,
            targets,
            bins: Vec::new(),
            cross: Cross::Linker,
            linker: LinkerChoice::Auto,
            dry_run: false,
            json: false,
            locked: false,
        }
    }

    pub fn run(self, sh: &Shell, ws: &Workspace) -> anyhow::Result<()> {
        let toolchain = Toolchain::detect(sh)?;
        let facts = Facts::from_machine(sh, ws, &toolchain);
        let plan = self.plan(ws, &facts)?;
        if self.dry_run {
            if self.json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
            } else {
                print!("{}", plan.describe());
            }
            toolchain::check_all(sh, &plan.requirements)?;
            eprintln!("dry run: the machine has everything this build needs; nothing was built");
            return Ok(());
        }
        toolchain::check_all(sh, &plan.requirements)?;
        let outcome = execute(&plan, ws)?;
        for target in &plan.targets {
            for bin in &plan.bins {
                if !outcome
                    .artifacts
                    .iter()
                    .any(|a| &a.target == target && a.name == bin.name)
                {
                    bail!(
                        "cargo succeeded but reported no `{}` binary for {target}",
                        bin.name
                    );
                }
            }
        }
        let summary = match (&plan.dist_dir, &plan.staging_dir) {
            (Some(dist_dir), Some(staging)) => {
                let meta = dist::Provenance {
                    git: facts.git.clone(),
                    rustc: toolchain
                        .verbose_version
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                    profile: plan.profile.to_string(),
                };
                let manifest = dist::package(&outcome.artifacts, staging, dist_dir, &meta)?;
                Summary::from_manifest(&plan, &outcome, &manifest, dist_dir)
            }
            _ => Summary::from_outcome(&plan, &outcome),
        };
        if self.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            println!("{}", summary.table());
        }
        Ok(())
    }

    pub fn plan(&self, ws: &Workspace, facts: &Facts) -> anyhow::Result<BuildPlan> {
        let host = facts.toolchain.host.clone();
        let profile = self.variant.profile();

        let selected: Vec<&Bin> = if self.bins.is_empty() {
            match self.variant {
                Variant::Dev => ws.bins.iter().collect(),
                Variant::Production => ws.shipped_bins(),
            }
        } else {
            self.bins
                .iter()
                .map(|b| ws.bin(b))
                .collect::<anyhow::Result<_>>()?
        };
        if selected.is_empty() {
            bail!("the workspace has no binary to build (no [[bin]] in its default members)");
        }

        let mut env = vec![("APP_BUILD_VARIANT".to_string(), profile.to_string())];
        if let Some(git) = &facts.git {
            env.push(("APP_COMMIT_SHA".into(), git.commit.clone()));
        }
        let mut requirements = Vec::new();
        let mut args = vec!["build".to_string(), "--profile".into(), profile.into()];
        // Production always names its targets; a dev build does only when asked to (a dev build
        // for another architecture, e.g. a development container image).
        let explicit_target = self.variant == Variant::Production || !self.targets.is_empty();
        let (targets, linker, program) = match explicit_target {
            false => {
                let linker =
                    toolchain::host_linker(self.linker, facts.toolchain, facts.has_program)?;
                add_rustflags(&mut env, &host, &linker, facts);
                (vec![host.clone()], linker.description, ws.cargo.clone())
            }
            true => {
                let targets = self.production_targets(ws)?;
                for target in &targets {
                    let configured = ws.config.linkers.get(target).map(String::as_str);
                    let setup = toolchain::target_setup(target, &host, self.cross, configured)?;
                    env.extend(setup.env);
                    requirements.extend(setup.requirements);
                    args.extend(["--target".into(), target.clone()]);
                }
                let program = match self.cross {
                    Cross::Linker => ws.cargo.clone(),
                    Cross::Zigbuild => {
                        requirements.extend(toolchain::zigbuild_requirements());
                        args[0] = "zigbuild".into();
                        ws.cargo.clone()
                    }
                };
                let linker = match self.cross {
                    Cross::Linker => {
                        "per target: rust-lld for the host, the target's gcc otherwise".into()
                    }
                    Cross::Zigbuild => "zig (cargo-zigbuild)".into(),
                };
                (targets, linker, program)
            }
        };
        // Dev builds what plain `cargo build` builds (so the two share a cache); production
        // names the binaries it ships.
        if self.variant == Variant::Production || !self.bins.is_empty() {
            for bin in &selected {
                args.extend(["--bin".into(), bin.name.clone()]);
            }
        }
        if self.locked || facts.ci {
            args.push("--locked".into());
        }
        args.push("--message-format=json-render-diagnostics".into());

        let output_dirs = targets
            .iter()
            .map(|t| {
                (
                    t.clone(),
                    ws.profile_dir(explicit_target.then_some(t.as_str()), profile),
                )
            })
            .collect();
        let (staging_dir, dist_dir) = match self.variant {
            Variant::Dev => (None, None),
            Variant::Production => {
                let dist = ws.dist_dir();
                (Some(dist::staging_dir(&dist)), Some(dist))
            }
        };
        Ok(BuildPlan {
            variant: self.variant,
            profile,
            targets,
            bins: selected
                .iter()
                .map(|b| PlannedBin {
                    name: b.name.clone(),
                    package: b.package.clone(),
                    version: b.version.clone(),
                })
                .collect(),
            linker,
            program,
            args,
            env,
            output_dirs,
            staging_dir,
            dist_dir,
            requirements,
        })
    }

    fn production_targets(&self, ws: &Workspace) -> anyhow::Result<Vec<String>> {
        let configured = ws.production_targets();
        if self.targets.is_empty() {
            return Ok(configured);
        }
        let mut valid: Vec<String> = configured;
        for known in toolchain::KNOWN_TARGETS {
            if !valid.iter().any(|v| v == known) {
                valid.push(known.to_string());
            }
        }
        let mut targets: Vec<String> = Vec::new();
        for target in &self.targets {
            if !valid.contains(target) {
                bail!(
                    "unknown target `{target}`; valid targets are: {}",
                    valid.join(", ")
                );
            }
            if !targets.contains(target) {
                targets.push(target.clone());
            }
        }
        Ok(targets)
    }
}

/// Select the dev linker through `CARGO_TARGET_<HOST>_RUSTFLAGS`, keeping the caller's flags.
fn add_rustflags(env: &mut Vec<(String, String)>, host: &str, linker: &HostLinker, facts: &Facts) {
    let Some(flags) = &linker.rustflags else {
        return;
    };
    // RUSTFLAGS, when set, wins over target rustflags in cargo: add to it instead.
    let key = if (facts.inherited_env)("RUSTFLAGS").is_some() {
        "RUSTFLAGS".to_string()
    } else {
        toolchain::target_env_key(host, "RUSTFLAGS")
    };
    let value = match (facts.inherited_env)(&key) {
        Some(existing) if !existing.trim().is_empty() => format!("{existing} {flags}"),
        _ => flags.clone(),
    };
    env.push((key, value));
}

impl BuildPlan {
    /// The plan as a person reads it: every command, variable and path.
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "plan: {:?} build, profile `{}`",
            self.variant, self.profile
        );
        let _ = writeln!(out, "  targets:  {}", self.targets.join(", "));
        let _ = writeln!(
            out,
            "  binaries: {}",
            self.bins
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(out, "  linker:   {}", self.linker);
        let _ = writeln!(out, "  command:  {}", self.command_line());
        for (key, value) in &self.env {
            let _ = writeln!(out, "  env:      {key}={value}");
        }
        for (target, dir) in &self.output_dirs {
            let _ = writeln!(out, "  output:   {target} -> {}", dir.display());
        }
        if let (Some(staging), Some(dist)) = (&self.staging_dir, &self.dist_dir) {
            let _ = writeln!(
                out,
                "  staging:  {} (replaces the dist dir only when complete)",
                staging.display()
            );
            let _ = writeln!(out, "  dist:     {}", dist.display());
        }
        for req in &self.requirements {
            let what = match req {
                Requirement::TargetStd { target } => format!("rust std for {target}"),
                Requirement::Program { program, .. } => format!("`{program}` on PATH"),
            };
            let _ = writeln!(out, "  needs:    {what}");
        }
        out
    }

    /// `cargo test --no-run` with the same profile, targets and env (the test harnesses of the
    /// default members instead of the shipped binaries).
    pub fn as_test_build(&self) -> BuildPlan {
        let mut plan = self.for_packages(&[]);
        plan.args[0] = "test".into();
        let last = plan.args.pop().expect("--message-format stays last");
        plan.args.push("--no-run".into());
        plan.args.push(last);
        plan
    }

    /// The same build (profile, targets, env) of `packages` instead of the binaries.
    pub fn for_packages(&self, packages: &[&str]) -> BuildPlan {
        let mut args = Vec::new();
        let mut rest = self.args.iter();
        while let Some(arg) = rest.next() {
            if arg == "--bin" {
                rest.next();
            } else {
                args.push(arg.clone());
            }
        }
        let last = args.pop().expect("--message-format stays last");
        for package in packages {
            args.extend(["-p".to_string(), package.to_string()]);
        }
        args.push(last);
        BuildPlan {
            bins: Vec::new(),
            args,
            staging_dir: None,
            dist_dir: None,
            ..self.clone()
        }
    }

    pub fn command_line(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a cargo run produced.
pub struct Outcome {
    pub seconds: f64,
    pub artifacts: Vec<Artifact>,
    /// Every compilation unit cargo reported, compiled or fresh.
    pub units: Vec<Unit>,
}

impl Outcome {
    pub fn compiled(&self) -> usize {
        self.units.iter().filter(|u| !u.fresh).count()
    }

    pub fn fresh(&self) -> usize {
        self.units.iter().filter(|u| u.fresh).count()
    }
}

/// One compilation unit (a crate target for one platform), from cargo's JSON messages.
#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    pub package_id: String,
    pub target: String,
    pub kind: Vec<String>,
    pub fresh: bool,
    /// From a registry or git, not a path in the workspace.
    pub third_party: bool,
}

impl Unit {
    /// `name@version (kind `target`)`, from a package id such as
    /// `registry+https://github.com/rust-lang/crates.io-index#tokio@1.54.1`.
    pub fn describe(&self) -> String {
        let pkg = self
            .package_id
            .rsplit('#')
            .next()
            .unwrap_or(&self.package_id);
        format!("{pkg} ({} `{}`)", self.kind.join(","), self.target)
    }
}

#[derive(Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    package_id: Option<String>,
    #[serde(default)]
    target: Option<MessageTarget>,
    #[serde(default)]
    executable: Option<PathBuf>,
    #[serde(default)]
    fresh: bool,
}

#[derive(Deserialize)]
struct MessageTarget {
    name: String,
    kind: Vec<String>,
}

/// Run the plan's cargo command, streaming its JSON messages to note when each binary is done.
pub fn execute(plan: &BuildPlan, ws: &Workspace) -> anyhow::Result<Outcome> {
    run_cargo(plan, ws, false)
}

/// Like [`execute`], but cargo's progress is kept, and shown only if the build fails.
pub fn execute_quiet(plan: &BuildPlan, ws: &Workspace) -> anyhow::Result<Outcome> {
    run_cargo(plan, ws, true)
}

fn run_cargo(plan: &BuildPlan, ws: &Workspace, quiet: bool) -> anyhow::Result<Outcome> {
    if !quiet {
        eprintln!("$ {}", plan.command_line());
    }
    let start = Instant::now();
    let mut child = std::process::Command::new(&plan.program)
        .args(&plan.args)
        .envs(plan.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&ws.root)
        .stdout(Stdio::piped())
        .stderr(if quiet {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .spawn()
        .with_context(|| format!("starting `{}`", plan.program))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().map(|stderr| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut std::io::BufReader::new(stderr), &mut text);
            text
        })
    });
    let mut units = Vec::new();
    let mut artifacts = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's output")?;
        let Ok(msg) = serde_json::from_str::<Message>(&line) else {
            // Not a cargo message (a wrapper's own output): pass it on.
            eprintln!("{line}");
            continue;
        };
        if msg.reason != "compiler-artifact" {
            continue;
        }
        let Some(target) = msg.target else { continue };
        let package_id = msg.package_id.unwrap_or_default();
        units.push(Unit {
            third_party: !package_id.starts_with("path+"),
            package_id,
            target: target.name.clone(),
            kind: target.kind.clone(),
            fresh: msg.fresh,
        });
        let Some(exe) = msg.executable else { continue };
        if !target.kind.iter().any(|k| k == "bin") {
            continue;
        }
        let Some(bin) = plan.bins.iter().find(|b| b.name == target.name) else {
            continue;
        };
        let Some(triple) = plan
            .output_dirs
            .iter()
            .find(|(_, dir)| exe.starts_with(dir))
            .map(|(t, _)| t)
        else {
            continue;
        };
        artifacts.push(Artifact {
            name: bin.name.clone(),
            version: bin.version.clone(),
            target: triple.clone(),
            path: exe,
            build_seconds: start.elapsed().as_secs_f64(),
        });
    }
    let status = child.wait().context("waiting for cargo")?;
    let seconds = start.elapsed().as_secs_f64();
    if !status.success() {
        if let Some(text) = stderr.and_then(|h| h.join().ok()) {
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        let kept = match &plan.dist_dir {
            Some(dist) => format!("; {} was left as it was", dist.display()),
            None => String::new(),
        };
        bail!(
            "`{}` failed ({status}) after {seconds:.1} s{kept}",
            plan.command_line()
        );
    }
    artifacts.sort_by(|a, b| (&a.target, &a.name).cmp(&(&b.target, &b.name)));
    Ok(Outcome {
        seconds,
        artifacts,
        units,
    })
}

/// The result of a build, for people (a table) and machines (`--json`).
#[derive(Serialize)]
pub struct Summary {
    pub variant: Variant,
    pub profile: String,
    pub targets: Vec<String>,
    pub linker: String,
    pub seconds: f64,
    pub units_compiled: usize,
    pub units_fresh: usize,
    pub dist_dir: Option<PathBuf>,
    pub artifacts: Vec<SummaryArtifact>,
}

#[derive(Serialize)]
pub struct SummaryArtifact {
    pub name: String,
    pub target: String,
    pub path: PathBuf,
    pub size: u64,
    pub build_seconds: f64,
    pub sha256: Option<String>,
}

impl Summary {
    fn base(
        plan: &BuildPlan,
        outcome: &Outcome,
        artifacts: Vec<SummaryArtifact>,
        dist: Option<&Path>,
    ) -> Summary {
        Summary {
            variant: plan.variant,
            profile: plan.profile.into(),
            targets: plan.targets.clone(),
            linker: plan.linker.clone(),
            seconds: outcome.seconds,
            units_compiled: outcome.compiled(),
            units_fresh: outcome.fresh(),
            dist_dir: dist.map(Path::to_path_buf),
            artifacts,
        }
    }

    fn from_outcome(plan: &BuildPlan, outcome: &Outcome) -> Summary {
        let artifacts = outcome
            .artifacts
            .iter()
            .map(|a| SummaryArtifact {
                name: a.name.clone(),
                target: a.target.clone(),
                path: a.path.clone(),
                size: std::fs::metadata(&a.path).map(|m| m.len()).unwrap_or(0),
                build_seconds: a.build_seconds,
                sha256: None,
            })
            .collect();
        Summary::base(plan, outcome, artifacts, None)
    }

    fn from_manifest(
        plan: &BuildPlan,
        outcome: &Outcome,
        manifest: &dist::Manifest,
        dist: &Path,
    ) -> Summary {
        let artifacts = manifest
            .artifacts
            .iter()
            .map(|a| SummaryArtifact {
                name: a.name.clone(),
                target: a.target.clone(),
                path: dist.join(&a.path),
                size: a.size,
                build_seconds: a.build_seconds,
                sha256: Some(a.sha256.clone()),
            })
            .collect();
        Summary::base(plan, outcome, artifacts, Some(dist))
    }

    pub fn table(&self) -> String {
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        table.set_header(["binary", "target", "size", "done after", "path"]);
        for a in &self.artifacts {
            table.add_row([
                a.name.clone(),
                a.target.clone(),
                human_size(a.size),
                format!("{:.1} s", a.build_seconds),
                a.path.display().to_string(),
            ]);
        }
        let place = match &self.dist_dir {
            Some(dist) => format!(
                "; artifacts, manifest.json and SHA256SUMS in {}",
                dist.display()
            ),
            None => String::new(),
        };
        format!(
            "{table}\n{:?} build ({} profile, {} target(s), linker: {}) in {:.1} s: {} units compiled, {} fresh{place}",
            self.variant,
            self.profile,
            self.targets.len(),
            self.linker,
            self.seconds,
            self.units_compiled,
            self.units_fresh
        )
    }
}

pub fn human_size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::{Config, Workspace};

    fn workspace(config: Config) -> Workspace {
        let bin = |name: &str, package: &str| Bin {
            name: name.into(),
            package: package.into(),
            version: "1.2.3".into(),
        };
        Workspace {
            root: "/ws".into(),
            target_dir: "/ws/target".into(),
            cargo: "cargo".into(),
            bins: vec![bin("svc", "svc-pkg"), bin("tool", "tool-pkg")],
            members: vec![],
            config,
        }
    }

    fn args(variant: Variant) -> BuildArgs {
        BuildArgs {
            variant,
            targets: vec![],
            bins: vec![],
            cross: Cross::Linker,
            linker: LinkerChoice::Auto,
            dry_run: true,
            json: false,
            locked: false,
        }
    }

    fn plan_with(
        args: &BuildArgs,
        ws: &Workspace,
        ci: bool,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<BuildPlan> {
        let toolchain =
            crate::toolchain::tests_support::toolchain("x86_64-unknown-linux-gnu", "1.95.0");
        let facts = Facts {
            toolchain: &toolchain,
            ci,
            git: Some(GitState {
                commit: "abc123".into(),
                dirty: false,
            }),
            has_program: &|_| false,
            inherited_env: env,
        };
        args.plan(ws, &facts)
    }

    fn plan(args: &BuildArgs, ws: &Workspace) -> anyhow::Result<BuildPlan> {
        plan_with(args, ws, false, &|_| None)
    }

    fn env<'a>(plan: &'a BuildPlan, key: &str) -> Option<&'a str> {
        plan.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn dev_is_a_plain_host_build_of_everything() {
        let ws = workspace(Config::default());
        let p = plan(&args(Variant::Dev), &ws).unwrap();
        assert_eq!(p.profile, "dev");
        assert_eq!(p.targets, ["x86_64-unknown-linux-gnu"]);
        assert_eq!(
            p.command_line(),
            "cargo build --profile dev --message-format=json-render-diagnostics"
        );
        assert_eq!(env(&p, "APP_BUILD_VARIANT"), Some("dev"));
        assert_eq!(env(&p, "APP_COMMIT_SHA"), Some("abc123"));
        assert_eq!(
            p.output_dirs["x86_64-unknown-linux-gnu"],
            Path::new("/ws/target/debug")
        );
        assert!(p.dist_dir.is_none() && p.staging_dir.is_none());
        assert!(
            p.requirements.is_empty(),
            "a dev build needs nothing beyond cargo"
        );
        assert_eq!(p.bins.len(), 2);
    }

    #[test]
    fn production_builds_every_configured_target_in_one_run() {
        let ws = workspace(Config {
            bins: Some(vec!["svc".into()]),
            ..Config::default()
        });
        let p = plan(&args(Variant::Production), &ws).unwrap();
        assert_eq!(p.profile, "production");
        assert_eq!(
            p.targets,
            ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"]
        );
        assert_eq!(
            p.command_line(),
            "cargo build --profile production --target x86_64-unknown-linux-gnu \
             --target aarch64-unknown-linux-gnu --bin svc --message-format=json-render-diagnostics"
        );
        assert_eq!(
            env(&p, "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"),
            Some("aarch64-linux-gnu-gcc")
        );
        assert_eq!(env(&p, "APP_BUILD_VARIANT"), Some("production"));
        assert_eq!(
            p.output_dirs["aarch64-unknown-linux-gnu"],
            Path::new("/ws/target/aarch64-unknown-linux-gnu/production")
        );
        assert_eq!(p.dist_dir.as_deref(), Some(Path::new("/ws/dist")));
        assert_eq!(
            p.staging_dir.as_deref(),
            Some(Path::new("/ws/dist.staging"))
        );
        assert!(p.requirements.contains(&Requirement::TargetStd {
            target: "aarch64-unknown-linux-gnu".into()
        }));
    }

    #[test]
    fn zigbuild_swaps_the_cargo_subcommand_and_needs_zig() {
        let mut a = args(Variant::Production);
        a.cross = Cross::Zigbuild;
        a.targets = vec!["aarch64-unknown-linux-musl".into()];
        let p = plan(&a, &workspace(Config::default())).unwrap();
        assert!(p.command_line().starts_with(
            "cargo zigbuild --profile production --target aarch64-unknown-linux-musl"
        ));
        assert!(p.env.iter().all(|(k, _)| !k.ends_with("_LINKER")));
        assert!(p.requirements.iter().any(
            |r| matches!(r, Requirement::Program { program, .. } if program == "cargo-zigbuild")
        ));
    }

    #[test]
    fn ci_locks_and_bins_are_selectable() {
        let mut a = args(Variant::Dev);
        a.bins = vec!["tool".into()];
        let p = plan_with(&a, &workspace(Config::default()), true, &|_| None).unwrap();
        assert!(p.args.ends_with(&[
            "--bin".into(),
            "tool".into(),
            "--locked".into(),
            "--message-format=json-render-diagnostics".into()
        ]));
        assert_eq!(p.bins.len(), 1);
    }

    #[test]
    fn bad_input_names_the_valid_values() {
        let ws = workspace(Config::default());
        let mut a = args(Variant::Production);
        a.targets = vec!["riscv64gc-unknown-linux-gnu".into()];
        let err = plan(&a, &ws).unwrap_err().to_string();
        assert!(
            err.contains("unknown target `riscv64gc-unknown-linux-gnu`"),
            "{err}"
        );
        assert!(err.contains("aarch64-unknown-linux-musl"), "{err}");

        let mut a = args(Variant::Dev);
        a.bins = vec!["nope".into()];
        let err = plan(&a, &ws).unwrap_err().to_string();
        assert!(
            err.contains("unknown binary `nope`") && err.contains("svc, tool"),
            "{err}"
        );

        let mut a = args(Variant::Dev);
        a.targets = vec!["aarch64-unknown-linux-gnu".into()];
        let p = plan(&a, &ws).unwrap();
        assert!(
            p.command_line()
                .contains("--profile dev --target aarch64-unknown-linux-gnu"),
            "a dev cross build"
        );
        assert_eq!(
            p.output_dirs["aarch64-unknown-linux-gnu"],
            Path::new("/ws/target/aarch64-unknown-linux-gnu/debug")
        );
    }

    #[test]
    fn a_chosen_linker_adds_to_the_callers_rustflags() {
        let ws = workspace(Config::default());
        let toolchain =
            crate::toolchain::tests_support::toolchain("x86_64-unknown-linux-gnu", "1.85.0");
        let mut a = args(Variant::Dev);
        a.linker = LinkerChoice::Mold;
        let facts = Facts {
            toolchain: &toolchain,
            ci: false,
            git: None,
            has_program: &|p| p == "mold",
            inherited_env: &|k| (k == "RUSTFLAGS").then(|| "-C target-cpu=native".to_string()),
        };
        let p = a.plan(&ws, &facts).unwrap();
        assert_eq!(
            env(&p, "RUSTFLAGS"),
            Some("-C target-cpu=native -C link-arg=-fuse-ld=mold")
        );
        assert_eq!(
            env(&p, "APP_COMMIT_SHA"),
            None,
            "outside git no commit is claimed"
        );
    }
}

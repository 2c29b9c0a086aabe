//! Cargo as typed values: an [`Invocation`] (subcommand, profile, targets, selection, target
//! dir, env) that becomes arguments only when it runs, `cargo metadata` read into
//! `cargo_metadata`'s model, and the JSON message stream read into compilation [`Unit`]s.

use crate::exec::{self, Exec, Line, Stream};
use crate::progress;
use crate::sccache::dist::{Dist, DistStats, Session};
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use cargo_metadata::Metadata;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Subcommand {
    Build,
    /// `cargo test --no-run`: compile the test harnesses, run nothing.
    TestNoRun,
    /// Metadata only (`.rmeta`), no code generation.
    Check,
    /// `cargo check` with clippy's lints on the workspace's own crates.
    Clippy,
}

/// Which packages and targets a cargo command builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// What plain `cargo build` builds: the default members.
    Default,
    /// These binaries (`--bin`).
    Bins(Vec<String>),
    /// Every member but these (`--workspace --exclude`).
    Workspace { exclude: Vec<String> },
}

/// Which features a cargo command enables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Features {
    /// `--features a,b` (empty: none named).
    pub list: Vec<String>,
    /// `--no-default-features`.
    pub no_default: bool,
}

impl Features {
    /// The arguments, in cargo's spelling.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if !self.list.is_empty() {
            args.extend(["--features".to_string(), self.list.join(",")]);
        }
        if self.no_default {
            args.push("--no-default-features".into());
        }
        args
    }
}

/// One cargo command, decided before it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invocation {
    /// The cargo that runs us (`$CARGO`), so a pinned toolchain is used throughout.
    pub cargo: String,
    pub subcommand: Subcommand,
    /// `cargo zigbuild` in place of `cargo build` (zig links and compiles C for every target).
    pub zigbuild: bool,
    /// Another workspace's manifest (`--manifest-path`).
    pub manifest_path: Option<PathBuf>,
    pub profile: String,
    /// Target triples (`--target`, one run for all); empty: the host, without `--target`.
    pub targets: Vec<String>,
    pub selection: Selection,
    pub features: Features,
    pub locked: bool,
    /// Instead of the workspace's target dir (`--target-dir`).
    pub target_dir: Option<PathBuf>,
    /// Set for this command only.
    pub env: Vec<(String, String)>,
    /// `--timings`: cargo writes its HTML report of every unit's start and duration under
    /// `<target dir>/cargo-timings/`.
    pub timings: bool,
    /// `--jobs N`: at most N units at once (default: cargo's, one per core).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs: Option<u32>,
    /// Milliseconds a compiled unit took on this machine (from the history), for the status
    /// line's estimate of the time left; it changes nothing cargo does.
    pub unit_millis: Option<u64>,
    /// Through an sccache-dist cluster: the run gets an sccache server of its own, and this
    /// tool as `RUSTC_WRAPPER` (see `sccache::dist`).
    pub dist: Option<Dist>,
}

impl Invocation {
    pub fn new(cargo: &str, subcommand: Subcommand, profile: &str) -> Invocation {
        Invocation {
            cargo: cargo.into(),
            subcommand,
            zigbuild: false,
            manifest_path: None,
            profile: profile.into(),
            targets: Vec::new(),
            selection: Selection::Default,
            features: Features::default(),
            locked: false,
            target_dir: None,
            env: Vec::new(),
            timings: false,
            jobs: None,
            unit_millis: None,
            dist: None,
        }
    }

    /// The arguments after `cargo`, with JSON messages for this tool to read.
    pub fn args(&self) -> Vec<String> {
        let mut args = self.words();
        args.push("--message-format=json-render-diagnostics".into());
        args
    }

    /// The arguments after `cargo` as a person (or a build stage) types them: cargo's own
    /// output, no JSON messages.
    pub fn words(&self) -> Vec<String> {
        let mut args: Vec<String> = match (self.subcommand, self.zigbuild) {
            (Subcommand::Build, true) => vec!["zigbuild".into()],
            (Subcommand::Build, false) => vec!["build".into()],
            (Subcommand::TestNoRun, _) => vec!["test".into()],
            (Subcommand::Check, _) => vec!["check".into()],
            (Subcommand::Clippy, _) => vec!["clippy".into()],
        };
        if let Some(manifest) = &self.manifest_path {
            args.extend(["--manifest-path".into(), manifest.display().to_string()]);
        }
        args.extend(["--profile".into(), self.profile.clone()]);
        for target in &self.targets {
            args.extend(["--target".into(), target.clone()]);
        }
        match &self.selection {
            Selection::Default => {}
            Selection::Bins(bins) => {
                for bin in bins {
                    args.extend(["--bin".into(), bin.clone()]);
                }
            }
            Selection::Workspace { exclude } => {
                args.push("--workspace".into());
                for package in exclude {
                    args.extend(["--exclude".into(), package.clone()]);
                }
            }
        }
        args.extend(self.features.args());
        if let Some(dir) = &self.target_dir {
            args.extend(["--target-dir".into(), dir.display().to_string()]);
        }
        if self.locked {
            args.push("--locked".into());
        }
        if self.timings {
            args.push("--timings".into());
        }
        if let Some(jobs) = self.jobs {
            args.extend(["--jobs".into(), jobs.to_string()]);
        }
        if self.subcommand == Subcommand::TestNoRun {
            args.push("--no-run".into());
        }
        args
    }

    pub fn command(&self) -> exec::Command {
        self.command_with(None)
    }

    /// The command, with the port of the run's sccache server when it goes through a cluster.
    fn command_with(&self, port: Option<u16>) -> exec::Command {
        let mut env = self.env.clone();
        if let Some(dist) = &self.dist {
            env.retain(|(k, _)| k != "RUSTC_WRAPPER");
            env.extend(dist.env(port));
        }
        exec::Command {
            program: self.cargo.clone(),
            args: self.args(),
            env,
            dir: None,
            secret_env: Vec::new(),
        }
    }

    #[cfg(any(test, feature = "test-support"))]
    pub fn line(&self) -> String {
        self.command().line()
    }

    /// Where cargo leaves `target`'s artifacts (`dev` is `debug` on disk); `workspace_target`
    /// is the target dir cargo uses when none is given.
    pub fn output_dir(&self, workspace_target: &Path, target: &str) -> PathBuf {
        let root = self.target_dir.as_deref().unwrap_or(workspace_target);
        let profile = if self.profile == "dev" {
            "debug"
        } else {
            &self.profile
        };
        if self.targets.is_empty() {
            root.join(profile)
        } else {
            root.join(target).join(profile)
        }
    }

    /// Run it through `exec`, reading cargo's messages into units; `is_member` tells workspace
    /// packages from third-party ones.
    pub fn run(&self, exec: &Exec, is_member: &dyn Fn(&str) -> bool) -> anyhow::Result<Outcome> {
        let start = Instant::now();
        let mut units = Vec::new();
        let mut timings_report = None;
        let now = std::cell::RefCell::new(Compiling {
            unit_millis: self.unit_millis,
            ..Compiling::default()
        });
        let on_line = &mut |stream, line: &str| {
            if let Some(path) = line.trim().strip_prefix("Timing report saved to ") {
                timings_report = Some(PathBuf::from(path));
            }
            now.borrow_mut().read(stream, line);
            if stream == Stream::Stdout {
                if let Some(unit) = Unit::from_message(line, is_member, start) {
                    units.push(unit);
                    return Line::Consumed;
                }
                if line.starts_with('{') {
                    // Another cargo message (build-script output, build finished).
                    return Line::Consumed;
                }
            }
            Line::Show
        };
        let session = match &self.dist {
            Some(dist) => Some(Session::start(exec, dist)?),
            None => None,
        };
        let command = self.command_with(session.as_ref().map(Session::port));
        // Cargo draws its bar (units done of the total) for the status line even into a pipe;
        // how it draws changes nothing it builds.
        exec.prepare(&command, "")
            .env("CARGO_TERM_PROGRESS_WHEN", "always")
            .env("CARGO_TERM_PROGRESS_WIDTH", "100")
            .run_with_status(on_line, &|elapsed| Some(now.borrow().status(elapsed)))?;
        let dist = match (session, &self.dist) {
            (Some(session), Some(dist)) => Some(session.finish(dist)?),
            _ => None,
        };
        Ok(Outcome {
            seconds: start.elapsed().as_secs_f64(),
            units,
            timings_report,
            dist,
        })
    }
}

/// What a cargo run is doing, from its lines: units done, and what it is compiling now (its
/// `Compiling` lines say when a package starts; its messages when a unit ends or a build script
/// runs), for the status line.
#[derive(Default)]
struct Compiling {
    done: usize,
    /// Cargo's own count from its bar: jobs done (units and build-script runs), of how many.
    bar: Option<(usize, usize)>,
    unit_millis: Option<u64>,
    /// Package name → (since when, running its build script).
    now: BTreeMap<String, (Instant, bool)>,
}

/// A unit running longer than this is named with its time.
const LONG: std::time::Duration = std::time::Duration::from_secs(10);

impl Compiling {
    fn read(&mut self, stream: Stream, line: &str) {
        if stream == Stream::Stderr {
            if let Some(bar) = bar_count(line) {
                self.bar = Some(bar);
                return;
            }
            let mut words = line.split_whitespace();
            if let (Some("Compiling"), Some(name)) = (words.next(), words.next()) {
                self.now
                    .entry(name.to_string())
                    .or_insert((Instant::now(), false));
            }
            return;
        }
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            return;
        };
        let name = message["package_id"].as_str().map(package_name);
        match (message["reason"].as_str(), name) {
            (Some("compiler-artifact"), Some(name)) => {
                self.done += 1;
                let kinds = message["target"]["kind"].as_array();
                let script = kinds.is_some_and(|k| k.iter().any(|k| k == "custom-build"));
                match script {
                    // Compiled: the script runs next.
                    true => {
                        let entry = self.now.entry(name).or_insert((Instant::now(), true));
                        entry.1 = true;
                    }
                    false => {
                        self.now.remove(&name);
                    }
                }
            }
            (Some("build-script-executed"), Some(name)) => {
                if let Some(entry) = self.now.get_mut(&name) {
                    entry.1 = false;
                }
            }
            _ => {}
        }
    }

    /// `cargo: 42/300 jobs, 1m12s, about 40s left; compiling libsqlite3-sys (build script)
    /// 1m05s, tokio, +2`: cargo's own count from its bar (its jobs: the units, and each build
    /// script's run); without the bar, `cargo: 42 units done, …`.
    fn status(&self, elapsed: std::time::Duration) -> String {
        let mut now: Vec<(&String, &(Instant, bool))> = self.now.iter().collect();
        now.sort_by_key(|(_, (since, _))| *since);
        let named: Vec<String> = now
            .iter()
            .take(3)
            .map(|(name, (since, script))| {
                let what = if *script { " (build script)" } else { "" };
                let time = since.elapsed();
                match time >= LONG {
                    true => format!("{name}{what} {}", progress::duration(time)),
                    false => format!("{name}{what}"),
                }
            })
            .collect();
        let more = match now.len().saturating_sub(named.len()) {
            0 => String::new(),
            n => format!(", +{n}"),
        };
        let compiling = match named.is_empty() {
            true => String::new(),
            false => format!("; compiling {}{more}", named.join(", ")),
        };
        let elapsed = progress::duration(elapsed);
        let Some((done, total)) = self.bar else {
            return format!("cargo: {} units done, {elapsed}{compiling}", self.done);
        };
        let left = match self.unit_millis {
            Some(each) if done < total => format!(
                ", about {} left",
                progress::duration(std::time::Duration::from_millis(
                    each.saturating_mul((total - done) as u64)
                ))
            ),
            _ => String::new(),
        };
        format!("cargo: {done}/{total} jobs, {elapsed}{left}{compiling}")
    }
}

/// `(done, total)` from a line of cargo's bar: `    Building [====>    ] 42/300: tokio, …`.
fn bar_count(line: &str) -> Option<(usize, usize)> {
    let rest = line.trim_start().strip_prefix("Building [")?;
    let (_, rest) = rest.split_once(']')?;
    let count = rest.trim_start().split([':', ' ']).next()?;
    let (done, total) = count.split_once('/')?;
    Some((done.parse().ok()?, total.parse().ok()?))
}

/// What a cargo run compiled.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub seconds: f64,
    /// Every compilation unit cargo reported, compiled or fresh.
    pub units: Vec<Unit>,
    /// With `--timings`: the HTML report cargo wrote.
    pub timings_report: Option<PathBuf>,
    /// Through a cluster: what went there, what stayed here and why.
    pub dist: Option<DistStats>,
}

impl Outcome {
    pub fn compiled(&self) -> usize {
        self.units.iter().filter(|u| !u.fresh).count()
    }

    pub fn fresh(&self) -> usize {
        self.units.iter().filter(|u| u.fresh).count()
    }
}

/// The profile dirs of `target_dir` cargo builds into (`debug/`, `<triple>/release/`: each has a
/// `.fingerprint/`), not the scratch target dirs this tool keeps deeper down (the bench's, the
/// timed builds') nor its own files (`xtask/`: history, baselines).
pub fn profile_dirs(target_dir: &Path) -> Vec<PathBuf> {
    let dirs = |dir: &Path| -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        found.sort();
        found
    };
    dirs(target_dir)
        .into_iter()
        .flat_map(|d| std::iter::once(d.clone()).chain(dirs(&d)))
        .filter(|d| d.join(".fingerprint").is_dir())
        .collect()
}

/// The package's name, from its id: `registry+…#name@1.0.0`, `path+file:///…/name#0.1.0`
/// (a path package named as its folder), or the older `name 1.0.0 (source)`.
pub fn package_name(id: &str) -> String {
    match id.rsplit_once('#') {
        Some((_, fragment)) if fragment.contains('@') => {
            fragment.split('@').next().unwrap_or(fragment).to_string()
        }
        Some((url, _)) => url.rsplit('/').next().unwrap_or(url).to_string(),
        None => id.split_whitespace().next().unwrap_or(id).to_string(),
    }
}

/// One compilation unit (a crate target for one platform), from a `compiler-artifact` message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unit {
    pub package_id: String,
    /// The target's name (the binary's name for a binary).
    pub target: String,
    pub kind: Vec<String>,
    pub fresh: bool,
    /// Not a workspace member: from a registry, git, or a path outside the workspace.
    pub third_party: bool,
    pub executable: Option<PathBuf>,
    /// Seconds from the start of the run until cargo reported it.
    pub seconds: f64,
}

impl Unit {
    fn from_message(line: &str, is_member: &dyn Fn(&str) -> bool, start: Instant) -> Option<Unit> {
        if !line.starts_with('{') {
            return None;
        }
        let cargo_metadata::Message::CompilerArtifact(artifact) =
            serde_json::from_str(line).ok()?
        else {
            return None;
        };
        Some(Unit {
            third_party: !is_member(&artifact.package_id.repr),
            package_id: artifact.package_id.repr,
            target: artifact.target.name,
            kind: artifact.target.kind.iter().map(|k| k.to_string()).collect(),
            fresh: artifact.fresh,
            executable: artifact.executable.map(Into::into),
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    pub fn package_name(&self) -> String {
        package_name(&self.package_id)
    }

    pub fn is_bin(&self) -> bool {
        self.kind.iter().any(|k| k == "bin")
    }

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

/// `cargo metadata`, run through `exec`.
pub struct MetadataRequest<'a> {
    pub cargo: &'a str,
    /// Only the workspace's own packages, no dependency resolution.
    pub no_deps: bool,
    /// `--filter-platform`: the resolve as seen when building for this triple.
    pub platform: Option<&'a str>,
    pub manifest_path: Option<&'a Path>,
    /// `--locked`: fail instead of updating Cargo.lock.
    pub locked: bool,
}

impl MetadataRequest<'_> {
    pub fn command(&self) -> exec::Command {
        let mut c = exec::Command::new(self.cargo).args(["metadata", "--format-version", "1"]);
        if self.no_deps {
            c = c.arg("--no-deps");
        }
        if let Some(platform) = self.platform {
            c = c.args(["--filter-platform", platform]);
        }
        if let Some(manifest) = self.manifest_path {
            c = c.args([
                "--manifest-path".to_string(),
                manifest.display().to_string(),
            ]);
        }
        if self.locked {
            c = c.arg("--locked");
        }
        c
    }

    pub fn run(&self, exec: &Exec) -> anyhow::Result<Metadata> {
        let json = exec.read(&self.command()).context(
            "running `cargo metadata` (is the current directory inside a Cargo workspace?)",
        )?;
        cargo_metadata::MetadataCommand::parse(json).context("parsing `cargo metadata` output")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_status_counts_units_as_cargo_draws_them_and_estimates_from_the_history() {
        let mut now = super::Compiling {
            unit_millis: Some(500),
            ..Default::default()
        };
        let elapsed = std::time::Duration::from_secs(12);
        assert_eq!(now.status(elapsed), "cargo: 0 units done, 12s");
        now.read(super::Stream::Stderr, "   Compiling itoa v1.0.19");
        now.read(
            super::Stream::Stderr,
            "    Building [======>                      ] 1/4: itoa, ryu    ",
        );
        assert_eq!(
            now.status(elapsed),
            "cargo: 1/4 jobs, 12s, about 1s left; compiling itoa"
        );
        now.read(super::Stream::Stderr, "    Building [=====] 4/4: app(bin)");
        assert_eq!(now.status(elapsed), "cargo: 4/4 jobs, 12s; compiling itoa");
        assert_eq!(
            super::bar_count("    Building [==>  ] 17/300"),
            Some((17, 300))
        );
        assert_eq!(super::bar_count("   Compiling building v1"), None);
    }

    use super::*;

    #[test]
    fn a_variation_is_a_field_change() {
        let mut inv = Invocation::new("cargo", Subcommand::Build, "production");
        inv.targets = vec![
            "x86_64-unknown-linux-gnu".into(),
            "aarch64-unknown-linux-gnu".into(),
        ];
        inv.selection = Selection::Bins(vec!["svc".into()]);
        inv.locked = true;
        assert_eq!(
            inv.line(),
            "cargo build --profile production --target x86_64-unknown-linux-gnu \
             --target aarch64-unknown-linux-gnu --bin svc --locked \
             --message-format=json-render-diagnostics"
        );
        let test = Invocation {
            subcommand: Subcommand::TestNoRun,
            selection: Selection::Default,
            target_dir: Some("/scratch".into()),
            ..inv.clone()
        };
        assert_eq!(
            test.line(),
            "cargo test --profile production --target x86_64-unknown-linux-gnu \
             --target aarch64-unknown-linux-gnu --target-dir /scratch --locked --no-run \
             --message-format=json-render-diagnostics"
        );
        let timed = Invocation {
            timings: true,
            jobs: Some(1),
            ..Invocation::new("cargo", Subcommand::Build, "dev")
        };
        assert_eq!(
            timed.line(),
            "cargo build --profile dev --timings --jobs 1 --message-format=json-render-diagnostics"
        );
        assert_eq!(
            test.output_dir(Path::new("/ws/target"), "aarch64-unknown-linux-gnu"),
            Path::new("/scratch/aarch64-unknown-linux-gnu/production")
        );
        let dev = Invocation::new("cargo", Subcommand::Build, "dev");
        assert_eq!(
            dev.output_dir(Path::new("/ws/target"), "x86_64-unknown-linux-gnu"),
            Path::new("/ws/target/debug"),
            "no --target: cargo leaves host artifacts under <profile>"
        );
        let zig = Invocation {
            zigbuild: true,
            ..dev
        };
        assert!(zig.line().starts_with("cargo zigbuild --profile dev"));
    }

    #[test]
    fn units_come_from_artifact_messages() {
        let line = r#"{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#serde@1.0.229","manifest_path":"/r/serde/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"serde","src_path":"/r/serde/src/lib.rs","edition":"2021","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"0","debuginfo":0,"debug_assertions":true,"overflow_checks":true,"test":false},"features":["std"],"filenames":["/t/libserde.rlib"],"executable":null,"fresh":true}"#;
        let unit = Unit::from_message(line, &|_| false, Instant::now()).unwrap();
        assert!(unit.fresh && unit.third_party && !unit.is_bin());
        assert_eq!(unit.describe(), "serde@1.0.229 (lib `serde`)");
        assert!(
            Unit::from_message(line, &|id| id.contains("serde"), Instant::now())
                .is_some_and(|u| !u.third_party)
        );
        assert!(Unit::from_message("   Compiling serde", &|_| false, Instant::now()).is_none());
        assert!(Unit::from_message(
            r#"{"reason":"build-finished","success":true}"#,
            &|_| false,
            Instant::now()
        )
        .is_none());
    }
}

//! `cargo xtask build`: the spec of a variant (see `rules`), planned as steps (check the
//! machine, one cargo run, package into dist/), then run.

pub mod dist;
mod fat;
pub mod targets;

use crate::cargo::Outcome;
use crate::config::{CompilerCache, Variant};
use crate::exec::Exec;
use crate::plan::{Capture, Done, Handler, Plan, Step};
use crate::render::{self, human_size, print_json, Format, Options, Table};
use crate::rules::{self, BuildRequest, BuildSpec, Facts};
use crate::sccache::{self, dist::DistStats, CacheStats};
use crate::toolchain::{self, Cross, LinkerChoice, Toolchain};
use crate::workspace::Workspace;
use anyhow::bail;
use dist::Artifact;
use serde::Serialize;
use std::path::PathBuf;

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
    /// Pass --locked to cargo (always on when the CI environment variable is set).
    #[arg(long)]
    pub locked: bool,
    /// Compile through a compiler cache; default: `[workspace.metadata.xtask] cache`, else
    /// none. sccache takes its backend from the SCCACHE_* environment (SCCACHE_REDIS_ENDPOINT,
    /// SCCACHE_GHA_ENABLED, SCCACHE_BUCKET, ...) or uses the local disk; the build ends with
    /// its hits and misses. sccache-dist also compiles library units on the cluster of
    /// `[workspace.metadata.xtask.sccache] scheduler-url` (token: $SCCACHE_DIST_TOKEN); the
    /// build ends with what went there, what stayed here and why.
    #[arg(long, value_enum)]
    pub cache: Option<CompilerCache>,
    /// With `--cache sccache-dist`: compile this percent of the distributed units here as
    /// well and compare the outputs; on a difference the local output is kept and the crate
    /// compiles here from then on.
    #[arg(long, value_name = "PERCENT", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub verify: u8,
}

impl BuildArgs {
    pub fn request(&self) -> BuildRequest {
        BuildRequest {
            variant: self.variant,
            targets: self.targets.clone(),
            bins: self.bins.clone(),
            cross: self.cross,
            linker: self.linker,
            locked: self.locked,
            cache: self.cache,
            verify: self.verify,
        }
    }
}

/// The task that packages the binaries into dist/.
const PACKAGE: &str = "package";

/// What `cargo xtask build` will do: check the machine, (zero the cache's counters,) one
/// cargo run, (read the counters,) package.
pub fn plan(ws: &Workspace, spec: &BuildSpec) -> Plan {
    let bins: Vec<&str> = spec.bins.iter().map(|b| b.name.as_str()).collect();
    let mut plan = Plan::new(format!("build --variant {}", render::name(&spec.variant)))
        .fact("variant", spec.variant)
        .fact("profile", spec.profile)
        .fact("targets", spec.triples())
        .fact("binaries", bins)
        .fact("linker", &spec.linker)
        .fact("output", spec.output_dirs(&ws.target_dir));
    if let Some(warning) = crate::needs::warning(ws) {
        plan = plan.fact("warning", warning);
    }
    if !spec.requirements.is_empty() {
        plan.step(Step::Check {
            requirements: spec.requirements.clone(),
        });
    }
    let sccache = spec.cache == CompilerCache::Sccache;
    if sccache {
        plan.step(Step::run(
            "zero sccache's counters, so that the build reports its own hits",
            sccache::zero_stats(),
        ));
    }
    plan.step(Step::cargo("the build", spec.cargo()));
    if sccache {
        plan.step(Step::run("read sccache's counters", sccache::show_stats()));
    }
    if spec.variant == Variant::Production {
        let dist = ws.dist_dir();
        plan.step(Step::task(
            PACKAGE,
            format!(
                "copy the binaries into {} with manifest.json and SHA256SUMS, then swap it in \
                 for {} (the previous dist stays whole until then)",
                dist::staging_dir(&dist).display(),
                dist.display()
            ),
        ));
    }
    plan
}

/// What a production build that could not clean up (SIGKILL, power lost) left beside dist/:
/// settled by whichever command comes next (a dry run only says so). Nothing is done while a
/// build holds dist/, or when dist-dir is one a build would refuse.
pub fn left_dist(exec: &Exec, ws: &Workspace, dry_run: bool) -> anyhow::Result<()> {
    let dist = ws.dist_dir();
    if !dist::left_over(&dist) || check_dist(exec, ws).is_err() {
        return Ok(());
    }
    if dry_run {
        eprintln!(
            "note: a production build that was stopped left folders beside {}; the next command (not a dry run) settles them",
            dist.display()
        );
        return Ok(());
    }
    let what = format!("{} (a production build)", dist.display());
    let Ok(_lock) = crate::lock::acquire(&dist::lock_file(&dist), &what, true) else {
        return Ok(());
    };
    for done in dist::settle(&dist)? {
        eprintln!("{done}");
    }
    Ok(())
}

/// Refuse a dist dir this tool must not replace (see `dist::check_place`).
fn check_dist(exec: &Exec, ws: &Workspace) -> anyhow::Result<()> {
    let configured = ws.config.dist_dir.as_deref().unwrap_or("dist");
    let tracked = |dir: &std::path::Path| crate::plan::tracks(exec, &ws.root, dir);
    let around = dist::Surroundings {
        root: &ws.root,
        target_dir: &ws.target_dir,
        member_dirs: ws.members.iter().map(|m| m.dir.clone()).collect(),
        tracked: &tracked,
    };
    dist::check_place(configured, &ws.dist_dir(), &around)
}

/// `unit_millis`: what a unit took on this machine before, for the status line's estimate.
pub fn run(
    args: BuildArgs,
    exec: &Exec,
    ws: &Workspace,
    opts: Options,
    unit_millis: Option<u64>,
) -> anyhow::Result<()> {
    let Options {
        format,
        dry_run,
        no_wait,
    } = opts;
    let toolchain = Toolchain::detect(exec)?;
    let facts = Facts::from_machine(exec, ws, &toolchain);
    let spec = rules::spec(ws, &args.request(), &facts)?;
    let mut plan = plan(ws, &spec);
    plan.estimate(unit_millis);
    if spec.variant == Variant::Production {
        check_dist(exec, ws)?;
    }
    if dry_run {
        plan.print(format)?;
        toolchain::check_all(exec, &spec.requirements)?;
        match crate::needs::warning(ws) {
            None => eprintln!("dry run: the machine has everything this build needs; nothing was built"),
            Some(warning) => eprintln!("dry run: nothing was built; the machine has what the build rules list, but\nwarning: {warning}"),
        }
        return Ok(());
    }
    if let Some(warning) = crate::needs::warning(ws) {
        eprintln!("warning: {warning}");
    }
    // Two production builds at once would share dist's staging folder: one at a time.
    let _lock = match spec.variant {
        Variant::Production => Some(crate::lock::acquire(
            &dist::lock_file(&ws.dist_dir()),
            &format!("{} (another production build)", ws.dist_dir().display()),
            no_wait,
        )?),
        Variant::Dev => None,
    };
    let mut building = Building {
        ws,
        spec: &spec,
        toolchain: &toolchain,
        facts: &facts,
        summary: Summary::new(&spec),
        artifacts: Vec::new(),
    };
    crate::plan::run(exec, &plan, &|id| ws.is_member(id), &mut building)?;
    let summary = building.summary;
    match format {
        Format::Json => print_json(&summary),
        Format::Markdown => {
            print!("{}", summary.table().markdown());
            Ok(())
        }
        Format::Text => {
            if !summary.artifacts.is_empty() {
                println!("{}", summary.table().terminal());
            }
            println!("{}", summary.sentence());
            Ok(())
        }
    }
}

/// The build's part in running its plan.
struct Building<'a> {
    ws: &'a Workspace,
    spec: &'a BuildSpec,
    toolchain: &'a Toolchain,
    facts: &'a Facts<'a>,
    summary: Summary,
    artifacts: Vec<Artifact>,
}

impl Handler for Building<'_> {
    type Watch = Capture;

    fn done(&mut self, step: &Step, done: Done<Capture>) -> anyhow::Result<()> {
        match (step, done) {
            (Step::Run { command, .. }, Done::Ran { watch, .. })
                if *command == sccache::show_stats() =>
            {
                self.summary.cache = Some(sccache::parse_stats(&watch.stdout)?);
            }
            (Step::Cargo { .. }, Done::Cargo(outcome)) => {
                self.artifacts = binaries(self.ws, self.spec, &outcome)?;
                self.summary.record(&outcome, &self.artifacts);
            }
            (Step::Task { task, .. }, _) if task == PACKAGE => self.package()?,
            _ => {}
        }
        Ok(())
    }

    fn failed(&self, step: &Step, _: Option<Capture>, e: anyhow::Error) -> anyhow::Error {
        match step {
            Step::Run { command, .. } if *command == sccache::zero_stats() => {
                e.context("zeroing sccache's counters (is its server able to start?)")
            }
            Step::Cargo { .. } if self.spec.variant == Variant::Production => e.context(format!(
                "{} was left as it was",
                self.ws.dist_dir().display()
            )),
            _ => e,
        }
    }
}

impl Building<'_> {
    fn package(&mut self) -> anyhow::Result<()> {
        let dist = self.ws.dist_dir();
        let meta = dist::Provenance {
            git: self.facts.git.clone(),
            rustc: self
                .toolchain
                .verbose_version
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            profile: self.spec.profile.to_string(),
        };
        let manifest = dist::package(&self.artifacts, &dist::staging_dir(&dist), &dist, &meta)?;
        self.summary.packaged(&manifest, &dist);
        Ok(())
    }
}

/// The binaries of the spec, each for each target, from cargo's messages.
fn binaries(ws: &Workspace, spec: &BuildSpec, outcome: &Outcome) -> anyhow::Result<Vec<Artifact>> {
    let mut artifacts = Vec::new();
    for unit in outcome.units.iter().filter(|u| u.is_bin()) {
        let Some(bin) = spec.bins.iter().find(|b| b.name == unit.target) else {
            continue;
        };
        let Some(exe) = &unit.executable else {
            continue;
        };
        let Some(target) = spec.target_of(&ws.target_dir, exe) else {
            continue;
        };
        artifacts.push(Artifact {
            name: bin.name.clone(),
            version: bin.version.clone(),
            target,
            path: exe.clone(),
            build_seconds: unit.seconds,
        });
    }
    // cargo built the two darwin binaries; one binary for both joins them, in the universal2
    // target's folder. Built only for it, they are not shipped themselves.
    if let Some(dir) = spec.output_dirs(&ws.target_dir).get(toolchain::UNIVERSAL2) {
        let triples = spec.triples();
        let parts = toolchain::rust_targets(toolchain::UNIVERSAL2);
        artifacts.retain(|a| !parts.contains(&a.target.as_str()) || triples.contains(&a.target));
        for bin in &spec.bins {
            let thin: Vec<PathBuf> = parts
                .iter()
                .map(|t| {
                    spec.invocation
                        .output_dir(&ws.target_dir, t)
                        .join(&bin.name)
                })
                .collect();
            let path = dir.join(&bin.name);
            fat::join(
                &thin.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
                &path,
            )?;
            let seconds = outcome
                .units
                .iter()
                .filter(|u| u.is_bin() && u.target == bin.name)
                .map(|u| u.seconds)
                .fold(0.0, f64::max);
            artifacts.push(Artifact {
                name: bin.name.clone(),
                version: bin.version.clone(),
                target: toolchain::UNIVERSAL2.into(),
                path,
                build_seconds: seconds,
            });
        }
    }
    for target in &spec.triples() {
        for bin in &spec.bins {
            if !artifacts
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
    artifacts.sort_by(|a, b| (&a.target, &a.name).cmp(&(&b.target, &b.name)));
    Ok(artifacts)
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
    /// This build's use of the compiler cache (`--cache sccache`).
    pub cache: Option<CacheStats>,
    /// What went to the cluster (`--cache sccache-dist`).
    pub distributed: Option<DistStats>,
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
    fn new(spec: &BuildSpec) -> Summary {
        Summary {
            variant: spec.variant,
            profile: spec.profile.into(),
            targets: spec.triples(),
            linker: spec.linker.clone(),
            seconds: 0.0,
            units_compiled: 0,
            units_fresh: 0,
            dist_dir: None,
            artifacts: Vec::new(),
            cache: None,
            distributed: None,
        }
    }

    fn record(&mut self, outcome: &Outcome, artifacts: &[Artifact]) {
        self.seconds = outcome.seconds;
        self.units_compiled = outcome.compiled();
        self.units_fresh = outcome.fresh();
        self.distributed = outcome.dist.clone();
        self.artifacts = artifacts
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
    }

    fn packaged(&mut self, manifest: &dist::Manifest, dist: &std::path::Path) {
        self.dist_dir = Some(dist.to_path_buf());
        self.artifacts = manifest
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
    }

    pub fn table(&self) -> Table {
        let mut table = Table::new(["binary", "target", "size", "done after", "path"]);
        for a in &self.artifacts {
            table.row([
                a.name.clone(),
                a.target.clone(),
                human_size(a.size),
                format!("{:.1} s", a.build_seconds),
                a.path.display().to_string(),
            ]);
        }
        table
    }

    pub fn sentence(&self) -> String {
        let place = match &self.dist_dir {
            Some(dist) => format!(
                "; artifacts, manifest.json and SHA256SUMS in {}",
                dist.display()
            ),
            None => String::new(),
        };
        let cache = match (&self.cache, &self.distributed) {
            (Some(stats), _) => format!("\n{}", stats.sentence()),
            (None, Some(dist)) => format!("\n{}", dist.sentence()),
            (None, None) => String::new(),
        };
        format!(
            "{:?} build ({} profile, {} target(s), linker: {}) in {:.1} s: {} units compiled, {} fresh{place}{cache}",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::tests_support::spec_of;
    use crate::workspace::tests_support::workspace_with_service;

    fn kinds(plan: &Plan) -> Vec<String> {
        plan.steps
            .iter()
            .map(|s| {
                serde_json::to_value(s).unwrap()["step"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    /// `--cache sccache`: cargo runs through the wrapper, between zeroing and reading the
    /// counters, and the machine must have sccache.
    #[test]
    fn a_cached_build_reads_the_counters_of_its_own_run() {
        let ws = workspace_with_service();
        let mut request = BuildRequest::of(Variant::Dev);
        request.cache = Some(CompilerCache::Sccache);
        let spec = spec_of(&ws, &request).unwrap();
        let plan = plan(&ws, &spec);
        assert_eq!(kinds(&plan), ["check", "run", "cargo", "run"]);
        let Step::Cargo { command, .. } = &plan.steps[2] else {
            panic!()
        };
        assert_eq!(
            command.command().env_value("RUSTC_WRAPPER"),
            Some("sccache")
        );
        assert!(plan
            .text()
            .contains("run      sccache --show-stats --stats-format json"));
        // The workspace's setting is the default; the flag wins.
        let mut ws = ws;
        ws.config.cache = Some(CompilerCache::Sccache);
        let spec = spec_of(&ws, &BuildRequest::of(Variant::Dev)).unwrap();
        assert_eq!(spec.cache, CompilerCache::Sccache);
        request.cache = Some(CompilerCache::None);
        let spec = spec_of(&ws, &request).unwrap();
        assert!(spec.cargo().command().env_value("RUSTC_WRAPPER").is_none());
    }

    #[test]
    fn production_plans_check_cargo_then_package() {
        let ws = workspace_with_service();
        let spec = spec_of(&ws, &BuildRequest::of(Variant::Production)).unwrap();
        let plan = plan(&ws, &spec);
        assert_eq!(kinds(&plan), ["check", "cargo", "task"]);
        let Step::Task { purpose, .. } = &plan.steps[2] else {
            panic!()
        };
        assert!(
            purpose.contains("into /ws/dist.staging") && purpose.contains("for /ws/dist "),
            "{purpose}"
        );
        // The whole plan, exactly: the checks, cargo's argv and environment, the package step.
        insta::assert_snapshot!("production", plan.text());
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["steps"][1]["step"], "cargo");
        assert_eq!(json["steps"][1]["command"]["args"][0], "build");
    }

    #[test]
    fn dev_plans_one_cargo_run_and_no_dist() {
        let ws = workspace_with_service();
        let spec = spec_of(&ws, &BuildRequest::of(Variant::Dev)).unwrap();
        let plan = plan(&ws, &spec);
        assert_eq!(plan.steps.len(), 1);
        assert!(matches!(plan.steps[0], Step::Cargo { .. }));
        insta::assert_snapshot!("dev", plan.text());
    }
}

//! `cargo xtask timings`: one build of a variant with cargo's `--timings`, then what it says:
//! the slowest units, the critical path, how busy the CPU was, what to do, and a Gantt chart
//! (SVG) next to cargo's own HTML report; with `--workers`, what remote compile slots would
//! make of it (predict).

mod deps;
mod predict;
mod report;

use crate::cargo::MetadataRequest;
use crate::ci_optims;
use crate::config::{CompilerCache, Variant};
use crate::exec::Exec;
use crate::history::{self, control::SpeedControl, model::Point, model::UnitTime};
use crate::plan::{Capture, Done, Handler, Plan, Step};
use crate::render::{self, print_json, Format, Options, Table};
use crate::rules::{self, BuildRequest, Facts};
use crate::sccache::dist::DistStats;
use crate::toolchain::Toolchain;
use crate::workspace::Workspace;
use anyhow::Context as _;
use report::{Advice, Prebuilt, Timings, Waited};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct TimingsArgs {
    /// Which build to time (its profile, targets and environment, as `cargo xtask build`).
    #[arg(long, value_enum, default_value_t = Variant::Dev)]
    pub variant: Variant,
    /// Target triple (repeatable); default: the variant's.
    #[arg(long = "target", value_name = "TRIPLE")]
    pub targets: Vec<String>,
    /// Time the build in the workspace's own target dir as it is (what an edit rebuild
    /// compiles). Default: a fresh target dir of this command's, emptied first, so every unit
    /// of the build is timed.
    #[arg(long)]
    pub warm: bool,
    /// Compile through a compiler cache, as `cargo xtask build --cache`.
    #[arg(long, value_enum)]
    pub cache: Option<CompilerCache>,
    /// Build nothing: explain a report cargo already wrote (`cargo build --timings`, here or on
    /// a CI runner: `target/cargo-timings/cargo-timing-*.html`).
    #[arg(long, value_name = "HTML", conflicts_with_all = ["warm", "cache", "targets"])]
    pub report: Option<PathBuf>,
    /// Do not append this build to the history (`cargo xtask history`), nor time the speed
    /// control around it.
    #[arg(long)]
    pub no_history: bool,
    /// The history file to append to (default: target/xtask/history.jsonl).
    #[arg(long, value_name = "FILE", conflicts_with = "no_history")]
    pub history: Option<PathBuf>,
    /// What measured the build, as the history shows it (a workflow's name, say).
    #[arg(long, value_name = "NAME", default_value = "timings")]
    pub source: String,
    /// Cargo's job slots for the timed build (`cargo build --jobs N`; default: one per core).
    #[arg(long, value_name = "N", conflicts_with = "report", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Predict the wall time with N remote compile slots (sccache-dist) besides the local
    /// ones, for each N given: `--workers 4,16,64`.
    ///
    /// A list-scheduling simulation over the measured units: each keeps its time and its
    /// dependencies (cargo metadata's graph on the report's units); ready units start in
    /// cargo's order. Only rlib compiles of non-incremental units may go remote, each paying
    /// --network-cost and giving its metadata only at its end; build scripts, proc macros,
    /// links and incremental members stay local. Limits: a remote slot is as fast as a local
    /// one, the scheduler knows every unit's time, and sccache's own refusals are not modelled.
    #[arg(long, value_name = "N,...", value_delimiter = ',')]
    pub workers: Vec<usize>,
    /// Seconds each unit run remotely adds to its time (upload, queue, download): a parameter
    /// of the prediction, not a measurement.
    #[arg(long, value_name = "SECS", default_value_t = 0.5, value_parser = seconds)]
    pub network_cost: f64,
    /// Local job slots of the prediction (default: the measured build's `-j`): predict a
    /// build with fewer or more cores from this one (with no --workers, 0 remote slots).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub local_slots: Option<u32>,
}

impl TimingsArgs {
    /// Is a prediction asked for?
    fn predicting(&self) -> bool {
        !self.workers.is_empty() || self.local_slots.is_some()
    }

    /// The explain step's purpose: what it reads, what it writes.
    fn explain_purpose(&self, report: &str, chart: &str) -> String {
        let graph = if self.predicting() {
            " and the dependency graph (cargo metadata)"
        } else {
            ""
        };
        format!("read {report}{graph}, write the chart {chart}")
    }
}

/// A number of seconds, 0 or more.
fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(format!("`{text}` is no number of seconds (0 or more)")),
    }
}

/// The task that reads cargo's report and writes the chart.
const EXPLAIN: &str = "explain";
/// The task that times the speed control (before and after the build).
const CONTROL: &str = "speed-control";
/// The task that appends the build to the history.
const RECORD: &str = "record";
/// The task that simulates the build with remote workers.
const PREDICT: &str = "predict";

/// The result, for people (tables) and CI (`--json`).
#[derive(Serialize)]
pub struct Summary {
    pub variant: Variant,
    /// The build this command ran (none with `--report`).
    pub command: Option<String>,
    /// Cargo's own HTML report.
    pub cargo_report: PathBuf,
    /// This command's Gantt chart, beside it.
    pub chart: PathBuf,
    /// Units cargo compiled: its `compiler-artifact` messages that were not fresh (with
    /// `--report`, the units the report timed, its build-script runs left out). The history and
    /// every other command count the same way.
    pub units_compiled: usize,
    /// Build scripts the report timed running (not units in that count).
    pub build_scripts_run: usize,
    /// How many targets the build had (cargo's report does not say which unit is whose).
    pub targets: usize,
    #[serde(flatten)]
    pub timings: Timings,
    pub advice: Vec<Advice>,
    /// What went to the cluster (`--cache sccache-dist`).
    pub distributed: Option<DistStats>,
    /// With `--workers` or `--local-slots`: the simulated builds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction: Option<predict::Prediction>,
}

pub fn run(args: TimingsArgs, exec: &Exec, ws: &Workspace, opts: Options) -> anyhow::Result<()> {
    let mut plan = plan(exec, ws, &args)?;
    plan.estimate(history::unit_millis(ws, &render::name(&args.variant)));
    if opts.dry_run {
        return plan.print(opts.format);
    }
    let fresh = plan.steps.iter().find_map(|s| match s {
        Step::Remove { path, .. } => Some(path.clone()),
        _ => None,
    });
    // Two timings of one variant would empty each other's target dir: one at a time.
    let _lock = match &fresh {
        Some(dir) => Some(crate::lock::acquire(
            &dir.with_extension("lock"),
            &format!("{} (another `cargo xtask timings`)", dir.display()),
            opts.no_wait,
        )?),
        None => None,
    };
    let mut timing = Timing {
        exec,
        ws,
        args: &args,
        report: args.report.clone(),
        control: SpeedControl::new(&ws.target_dir.join("xtask")),
        controls: Vec::new(),
        built: None,
        packages: None,
        summary: None,
        recorded: None,
    };
    crate::plan::run(exec, &plan, &|id| ws.is_member(id), &mut timing)?;
    let summary = timing.summary.context("the plan explained no report")?;
    print(&summary, opts.format)?;
    if let Some(path) = timing.recorded {
        eprintln!(
            "history: appended to {} (`cargo xtask history` compares it with the earlier builds)",
            path.display()
        );
    }
    Ok(())
}

/// Where this build's point goes, if it is recorded.
fn history_path(ws: &Workspace, args: &TimingsArgs) -> Option<PathBuf> {
    (!args.no_history && args.report.is_none()).then(|| {
        args.history
            .clone()
            .unwrap_or_else(|| history::default_path(ws))
    })
}

/// With `--report`: explain it. Else: check the machine, empty the scratch target dir (unless
/// `--warm`), build with `--timings`, explain cargo's report.
fn plan(exec: &Exec, ws: &Workspace, args: &TimingsArgs) -> anyhow::Result<Plan> {
    if let Some(report) = &args.report {
        let mut plan = Plan::new(format!("timings --report {}", report.display()))
            .fact("variant", args.variant);
        plan.step(Step::task(
            EXPLAIN,
            args.explain_purpose(
                &report.display().to_string(),
                &chart_path(report).display().to_string(),
            ),
        ));
        if args.predicting() {
            plan.step(predict_step(args));
        }
        return Ok(plan);
    }
    let toolchain = Toolchain::detect(exec)?;
    let facts = Facts::from_machine(exec, ws, &toolchain);
    let request = BuildRequest {
        targets: args.targets.clone(),
        cache: args.cache,
        ..BuildRequest::of(args.variant)
    };
    let spec = rules::spec(ws, &request, &facts)?;
    let mut invocation = spec.cargo();
    invocation.timings = true;
    invocation.jobs = args.jobs;
    let fresh = (!args.warm).then(|| scratch_dir(ws, args.variant));
    invocation.target_dir = fresh.clone();
    let mut plan = Plan::new(format!("timings --variant {}", render::name(&args.variant)))
        .confined_to(&[&ws.target_dir])
        .fact("variant", args.variant)
        .fact(
            "target",
            match &fresh {
                Some(dir) => format!("{} (a cold build)", dir.display()),
                None => "the workspace's, as it is (--warm)".to_string(),
            },
        );
    if !spec.requirements.is_empty() {
        plan.step(Step::Check {
            requirements: spec.requirements.clone(),
        });
    }
    if let Some(dir) = fresh {
        plan.step(Step::remove(
            dir,
            "emptied first: every unit of the build is timed",
        ));
    }
    let history = history_path(ws, args);
    if let Some(path) = &history {
        history::check_appendable(path)?;
    }
    let control = "time the speed control (a fixed small program compiled by rustc): the \
                   machine's speed, to scale this build's times in the history";
    if history.is_some() {
        plan.step(Step::task(CONTROL, format!("{control}, before the build")));
    }
    plan.step(Step::cargo("the timed build", invocation));
    if history.is_some() {
        plan.step(Step::task(CONTROL, format!("{control}, after the build")));
    }
    plan.step(Step::task(
        EXPLAIN,
        args.explain_purpose("cargo's report", "beside it"),
    ));
    if args.predicting() {
        plan.step(predict_step(args));
    }
    if let Some(path) = history {
        plan.step(Step::task(
            RECORD,
            format!("append the build (commit, machine, toolchain, the control, every unit's time) to {}", path.display()),
        ));
    }
    Ok(plan)
}

fn predict_step(args: &TimingsArgs) -> Step {
    let workers: Vec<String> = args.workers.iter().map(|n| n.to_string()).collect();
    let local = args
        .local_slots
        .map_or("the measured -j".into(), |n| n.to_string());
    Step::task(
        PREDICT,
        format!(
            "simulate the build with {local} local slots and 0{} remote workers ({} s of network \
             cost each remote unit)",
            workers.iter().map(|n| format!(", {n}")).collect::<String>(),
            args.network_cost
        ),
    )
}

/// The command's part in running its plan.
struct Timing<'a> {
    exec: &'a Exec<'a>,
    ws: &'a Workspace,
    args: &'a TimingsArgs,
    /// Cargo's report: given, or the one the build wrote.
    report: Option<PathBuf>,
    control: SpeedControl,
    /// The speed control's seconds, before and after the build.
    controls: Vec<f64>,
    built: Option<Built>,
    /// With a prediction: the packages as cargo metadata resolves them.
    packages: Option<deps::Packages>,
    summary: Option<Summary>,
    /// The history the build was appended to.
    recorded: Option<PathBuf>,
}

impl Handler for Timing<'_> {
    type Watch = Capture;

    fn done(&mut self, step: &Step, done: Done<Capture>) -> anyhow::Result<()> {
        match (step, done) {
            (Step::Cargo { command, .. }, Done::Cargo(outcome)) => {
                self.report = Some(outcome.timings_report.clone().context(
                    "cargo did not say where it saved its timing report (`Timing report saved to ...`)",
                )?);
                self.built = Some(Built {
                    command: command.command().line(),
                    units_compiled: outcome.compiled(),
                    distributed: outcome.dist.clone(),
                    proc_macros: outcome
                        .units
                        .iter()
                        .filter(|u| u.kind.iter().any(|k| k == "proc-macro"))
                        .map(|u| u.package_name())
                        .collect(),
                });
            }
            (Step::Task { task, .. }, _) if task == CONTROL => {
                if self.controls.is_empty() {
                    self.control.write_source()?;
                }
                self.controls.push(self.control.time(self.exec)?.wall);
            }
            (Step::Task { task, .. }, _) if task == RECORD => {
                let summary = self.summary.as_ref().context("no build to record")?;
                let path = history_path(self.ws, self.args).context("no history to record to")?;
                let point = point(self.exec, self.ws, self.args, summary, &self.controls)?;
                history::append(&path, &point)?;
                self.recorded = Some(path);
            }
            (Step::Task { task, .. }, _) if task == EXPLAIN => {
                let report = self.report.clone().context("no report to explain")?;
                if self.args.predicting() {
                    self.packages = Some(packages(self.exec, self.ws)?);
                }
                let proc_macros = match (&self.built, &self.packages) {
                    (Some(built), _) => Some(built.proc_macros.clone()),
                    (None, Some(packages)) => Some(packages.proc_macros.clone()),
                    (None, None) => None,
                };
                self.summary = Some(explain(
                    self.exec,
                    self.ws,
                    self.args,
                    report,
                    self.built.take(),
                    proc_macros,
                )?);
            }
            (Step::Task { task, .. }, _) if task == PREDICT => {
                let summary = self.summary.as_mut().context("no report to predict from")?;
                let packages = self.packages.as_ref().context("no packages known")?;
                summary.prediction =
                    Some(prediction(self.ws, self.args, &summary.timings, packages)?);
            }
            _ => {}
        }
        Ok(())
    }
}

/// What this command's own build adds to the report.
struct Built {
    command: String,
    units_compiled: usize,
    distributed: Option<DistStats>,
    /// Packages whose library is a proc macro (cargo's messages say; its report does not).
    proc_macros: BTreeSet<String>,
}

/// The workspace's packages as `cargo metadata` resolves them: the dependencies of every unit,
/// which libraries are proc macros or link.
fn packages(exec: &Exec, ws: &Workspace) -> anyhow::Result<deps::Packages> {
    let meta = MetadataRequest {
        cargo: &ws.cargo,
        no_deps: false,
        platform: None,
        manifest_path: Some(&ws.root.join("Cargo.toml")),
        locked: false,
    }
    .run(exec)
    .context("reading the build's dependency graph (cargo metadata)")?;
    Ok(deps::Packages::from_metadata(&meta))
}

/// The build of `timings` simulated with the asked local slots and remote workers.
fn prediction(
    ws: &Workspace,
    args: &TimingsArgs,
    timings: &Timings,
    packages: &deps::Packages,
) -> anyhow::Result<predict::Prediction> {
    let profile = timings
        .profile
        .clone()
        .unwrap_or_else(|| args.variant.profile().to_string());
    // Profiles as cargo reads them: the root manifest, then .cargo/config.toml.
    let tables: Vec<toml::Table> = ["Cargo.toml", ".cargo/config.toml"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(ws.root.join(f)).ok())
        .filter_map(|text| text.parse().ok())
        .collect();
    let env = std::env::var("CARGO_INCREMENTAL").ok();
    let rules = predict::Rules {
        incremental_members: predict::incremental(&profile, env.as_deref(), &tables),
        linked: &packages.linked,
    };
    let edges = deps::edges(&timings.units, Some(packages));
    let local = args.local_slots.or(timings.jobs).context(
        "cargo's report names no job count (jobs=N): give the local slots (--local-slots N)",
    )?;
    predict::predict(
        timings,
        &rules,
        &edges,
        local as usize,
        &args.workers,
        args.network_cost,
    )
}

/// The build as a point of the history.
fn point(
    exec: &Exec,
    ws: &Workspace,
    args: &TimingsArgs,
    summary: &Summary,
    controls: &[f64],
) -> anyhow::Result<Point> {
    let t = &summary.timings;
    let key = |u: &report::Unit| format!("{}{}", u.package, u.target);
    let toolchain = Toolchain::detect(exec)?;
    Ok(Point {
        control_seconds: (!controls.is_empty())
            .then(|| controls.iter().sum::<f64>() / controls.len() as f64),
        total_seconds: t.wall_seconds,
        critical_path_seconds: Some(t.critical_path_seconds),
        distributed: summary.distributed.clone(),
        critical_path: t
            .critical_path
            .iter()
            .map(|s| key(&t.units[s.unit]))
            .collect(),
        units: t
            .units
            .iter()
            .map(|u| UnitTime {
                key: key(u),
                package: u.package.clone(),
                version: u.version.clone(),
                kind: u.kind,
                seconds: u.seconds,
            })
            .collect(),
        ..history::new_point(
            exec,
            ws,
            &toolchain.verbose_version,
            &args.source,
            render::name(&args.variant),
            mode(args),
        )
    })
}

/// `cold` or `warm`, and the job slots when limited: a build on fewer slots is no point to hold
/// against the others.
fn mode(args: &TimingsArgs) -> String {
    let mode = if args.warm { "warm" } else { "cold" };
    match args.jobs {
        Some(jobs) => format!("{mode} -j{jobs}"),
        None => mode.into(),
    }
}

/// Read cargo's report, write the chart beside it, and advise.
fn explain(
    exec: &Exec,
    ws: &Workspace,
    args: &TimingsArgs,
    cargo_report: PathBuf,
    built: Option<Built>,
    proc_macros: Option<BTreeSet<String>>,
) -> anyhow::Result<Summary> {
    let html = std::fs::read_to_string(&cargo_report)
        .with_context(|| format!("reading {}", cargo_report.display()))?;
    let members: Vec<&str> = ws.members.iter().map(|m| m.name.as_str()).collect();
    let mut timings = report::parse(&html, &|name| members.contains(&name))
        .with_context(|| format!("reading {}", cargo_report.display()))?;
    if let Some(proc_macros) = &proc_macros {
        timings.mark_proc_macros(proc_macros);
    }
    let prebuilt = match ci_optims::check(exec, ws) {
        Ok(()) => Prebuilt::Current,
        Err(_) => Prebuilt::Stale,
    };
    let chart = chart_path(&cargo_report);
    let title = format!(
        "cargo xtask timings --variant {} ({} units compiled, {:.1} s)",
        args.variant.profile(),
        timings.units_compiled(),
        timings.wall_seconds
    );
    std::fs::write(&chart, timings.svg(&title))
        .with_context(|| format!("writing {}", chart.display()))?;
    Ok(Summary {
        variant: args.variant,
        command: built.as_ref().map(|b| b.command.clone()),
        cargo_report,
        chart,
        units_compiled: built
            .as_ref()
            .map_or(timings.units_compiled(), |b| b.units_compiled),
        build_scripts_run: timings.build_scripts_run(),
        targets: report::targets(&html),
        advice: timings.advice(prebuilt),
        distributed: built.and_then(|b| b.distributed),
        timings,
        prediction: None,
    })
}

fn print(summary: &Summary, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => print_json(summary),
        Format::Markdown => {
            for table in summary.tables() {
                println!("{}", table.markdown());
            }
            println!("{}", summary.sentence());
            if let Some(p) = &summary.prediction {
                for table in p.tables() {
                    println!("\n{}", table.markdown());
                }
                println!("{}", p.sentence());
            }
            Ok(())
        }
        Format::Text => {
            let tables = summary.tables();
            for table in &tables[..2] {
                println!("{}", table.terminal());
            }
            println!("What to do:");
            for a in &summary.advice {
                println!("- {}: {}", a.about, a.advice);
            }
            println!("{}", summary.sentence());
            if let Some(p) = &summary.prediction {
                println!("\nPredicted with remote workers:");
                for table in p.tables() {
                    println!("{}", table.terminal());
                }
                println!("{}", p.sentence());
            }
            Ok(())
        }
    }
}

/// The cold build's own target dir (never the workspace's: its artifacts stay).
fn scratch_dir(ws: &Workspace, variant: Variant) -> PathBuf {
    ws.target_dir.join("xtask-timings").join(variant.profile())
}

/// `.../cargo-timings/cargo-timing-<stamp>.html` → `.../cargo-timings/xtask-timing-<stamp>.svg`.
fn chart_path(report: &std::path::Path) -> PathBuf {
    let name = report
        .file_stem()
        .map(|s| {
            s.to_string_lossy()
                .replacen("cargo-timing", "xtask-timing", 1)
        })
        .unwrap_or_else(|| "xtask-timing".into());
    report.with_file_name(format!("{name}.svg"))
}

impl Summary {
    fn tables(&self) -> Vec<Table> {
        let t = &self.timings;
        let mut slowest = Table::new(["#", "unit", "kind", "seconds", "critical path"]);
        for (rank, &p) in t.slowest.iter().enumerate() {
            let unit = &t.units[p];
            slowest.row([
                (rank + 1).to_string(),
                unit.name.clone(),
                unit.kind.name().to_string(),
                format!("{:.1}", unit.seconds),
                if unit.on_critical_path { "✓" } else { "" }.to_string(),
            ]);
        }
        let mut path = Table::new([
            "critical path, first to last",
            "waited for",
            "starts at",
            "seconds",
        ]);
        // Short units make a chain of job-slot waits long to read: the table keeps the ones
        // that weigh (JSON has all).
        let floor = (t.wall_seconds * 0.01).max(0.5);
        let short = t
            .critical_path
            .iter()
            .filter(|s| t.units[s.unit].seconds < floor)
            .count();
        for step in t
            .critical_path
            .iter()
            .filter(|s| t.units[s.unit].seconds >= floor)
        {
            let unit = &t.units[step.unit];
            path.row([
                unit.name.clone(),
                match step.waited_for {
                    Waited::Start => "",
                    Waited::Dependency => "the unit above (a dependency)",
                    Waited::JobSlot => "a job slot (ready, cores busy)",
                }
                .to_string(),
                format!("{:.1}", unit.start),
                format!("{:.1}", unit.seconds),
            ]);
        }
        if short > 0 {
            path.row([
                format!("(and {short} units under {floor:.1} s each)"),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        let mut advice = Table::new(["about", "what to do"]);
        for a in &self.advice {
            advice.row([a.about.clone(), a.advice.clone()]);
        }
        vec![slowest, path, advice]
    }

    fn sentence(&self) -> String {
        let t = &self.timings;
        let idle = match t.idle_share {
            Some(idle) => format!(
                "CPU idle {:.0}% (cargo's samples{})",
                idle * 100.0,
                t.jobs.map(|j| format!(", {j} jobs")).unwrap_or_default()
            ),
            None => "too short for cargo to sample the CPU".into(),
        };
        format!(
            "{} units compiled ({} build scripts run) in {:.1} s; critical path {} units, {:.1} s; {idle}{}\n\
             cargo's report: {}\nchart:          {}",
            self.units_compiled,
            self.build_scripts_run,
            t.wall_seconds,
            t.critical_path.len(),
            t.critical_path_seconds,
            if self.targets > 1 {
                "\ncargo's report names no target: a unit built for each target appears once for each"
            } else {
                ""
            },
            self.cargo_report.display(),
            self.chart.display()
        ) + &self
            .distributed
            .as_ref()
            .map(|d| format!("\n{}", d.sentence()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_sits_beside_cargos_report() {
        assert_eq!(
            chart_path(std::path::Path::new(
                "/t/cargo-timings/cargo-timing-20261129T170529810Z-678f.html"
            )),
            PathBuf::from("/t/cargo-timings/xtask-timing-20261129T170529810Z-678f.svg")
        );
    }
}

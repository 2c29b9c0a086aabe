//! `cargo xtask bench`: time the builds that matter, save a baseline with the machine and
//! toolchain it came from, and compare later with a noise-aware verdict CI can gate on.
//!
//! Scenarios build in their own target dir (`target/xtask/bench/target/<variant>`), so a cold
//! scenario never wipes the user's build. Edits are undone in every case (see `edit`).

mod baseline;
mod edit;
mod report;
mod scenario;
mod stats;

use crate::exec::{Exec, Verbosity};
use crate::history::control::SpeedControl;
use crate::render::{print_json, Format, Options, Table};
use crate::rules::Facts;
use crate::toolchain::Toolchain;
use crate::workspace::Workspace;
use anyhow::{bail, Context};
use baseline::{Baseline, Machine, ScenarioResult};
use scenario::{Runner, Scenario};
use std::path::{Path, PathBuf};

/// `bench --compare` found a slower scenario: exit status 1, not an error.
#[derive(Debug)]
pub struct Regressed(pub Vec<String>);

impl std::fmt::Display for Regressed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "regressed: {}", self.0.join(", "))
    }
}

impl std::error::Error for Regressed {}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 ok, 1 a scenario regressed (--compare), 2 an error.\n\
    Baselines live in target/xtask/bench/<NAME>.json unless --file is given.\n\
    --dry-run lists every scenario's steps (edits, timed commands) and measures nothing."
)]
pub struct BenchArgs {
    /// Measure and save a baseline called NAME (default `main`).
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "main", conflicts_with_all = ["compare", "list"])]
    pub baseline: Option<String>,
    /// Measure again and compare with the baseline called NAME (default `main`).
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "main", conflicts_with = "list")]
    pub compare: Option<String>,
    /// List the scenarios (with their commands and edited files) and exit.
    #[arg(long)]
    pub list: bool,
    /// Only this scenario, by id (`incr-core/dev`) or kind (`incr-core`); repeatable.
    #[arg(long = "scenario", value_name = "ID")]
    pub scenarios: Vec<String>,
    /// Measured runs per scenario, 1 to 100 (default: per scenario, see --list).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=crate::config::MAX_RUNS as i64))]
    pub runs: Option<u16>,
    /// Baseline file, instead of target/xtask/bench/<NAME>.json.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// A change counts only beyond this many percent (and beyond the runs' spread).
    #[arg(long, default_value_t = 10.0, value_name = "PERCENT")]
    pub threshold: f64,
    /// Also write an HTML page with a bar chart (baseline vs current) to PATH.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Compare raw times. By default each run is scaled to the baseline's machine speed,
    /// measured by a small fixed compile timed around every run (the speed control).
    #[arg(long, requires = "compare")]
    pub no_speed_control: bool,
    /// Also append each measured scenario (its median time and speed control) to the
    /// build-time history FILE, as points of mode `bench <scenario>` (`cargo xtask history
    /// --file FILE`).
    #[arg(long, value_name = "FILE", conflicts_with = "list")]
    pub history: Option<PathBuf>,
}

pub fn run(args: BenchArgs, exec: &Exec, ws: &Workspace, opts: Options) -> anyhow::Result<()> {
    let Options {
        format,
        dry_run,
        no_wait,
    } = opts;
    args.run(exec, ws, format, dry_run, no_wait)
}

impl BenchArgs {
    fn run(
        self,
        exec: &Exec,
        ws: &Workspace,
        format: Format,
        dry_run: bool,
        no_wait: bool,
    ) -> anyhow::Result<()> {
        if !(0.0..1000.0).contains(&self.threshold) {
            bail!(
                "--threshold {} is not a percentage between 0 and 1000",
                self.threshold
            );
        }
        let bench_dir = ws.target_dir.join("xtask/bench");
        let editor = edit::Editor::new(
            bench_dir.join("pending-edits"),
            ws.root.clone(),
            ws.target_dir.clone(),
        );
        // Measuring (and putting back what a killed bench left edited) is one bench at a time
        // per target dir; listing and dry runs touch nothing and need no lock.
        let measuring = !dry_run && !self.list;
        // (What a killed bench left edited was put back before any command ran: `left_edits`.)
        let _lock = if measuring {
            Some(crate::lock::acquire(
                &bench_dir.join("lock"),
                "the bench's target dir and edits (another bench)",
                no_wait,
            )?)
        } else {
            None
        };
        let config = ws.config.bench.clone().unwrap_or_default();
        let runs = self.runs.map(usize::from);
        let configured = scenario::configured(ws, &config, runs)?;

        if self.list {
            return self.list(ws, &configured, format);
        }
        let (name, comparing, path) = self.baseline_file(&bench_dir)?;
        // Everything that can fail fast does, before minutes of measuring.
        let previous = if comparing {
            Some(baseline::load(&path)?)
        } else {
            None
        };
        self.check_outputs(&path, comparing, dry_run)?;
        let scenarios = self.scenarios(previous.as_ref(), &configured, runs)?;

        check_edit_files(ws, &scenarios)?;
        let toolchain = Toolchain::detect(exec)?;
        let machine = Machine::detect(&toolchain.verbose_version, &toolchain.host);
        let quiet = exec.with(Verbosity::Quiet);
        let runner = Runner {
            exec: &quiet,
            ws,
            editor: editor.clone(),
            scratch: bench_dir.clone(),
            facts: Facts::from_machine(exec, ws, &toolchain),
            docker: crate::engine::client(),
            docker_flags: crate::engine::build_flags(),
            edit_seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
        };
        let control = SpeedControl::new(&bench_dir);
        if dry_run {
            return dry_run_plan(&runner, &control, &scenarios, &path, comparing, format);
        }
        control.write_source()?;
        edit::restore_on_signals(&editor)?;
        let measured = measure(&runner, &control, &scenarios)?;
        if let Some(history) = &self.history {
            record(exec, ws, &toolchain.verbose_version, &measured, history)?;
        }

        match previous {
            None => self.save(exec, ws, &name, &path, machine, measured, format),
            Some(base) => self.compare(&base, &machine, &configured, &measured, &name, format),
        }
    }

    /// The baseline's name, whether it is compared with (else saved), and its file.
    fn baseline_file(&self, bench_dir: &Path) -> anyhow::Result<(String, bool, PathBuf)> {
        let (name, comparing) = match (&self.baseline, &self.compare) {
            (Some(name), None) => (name.clone(), false),
            (None, Some(name)) => (name.clone(), true),
            _ => bail!("say what to do: --baseline [NAME], --compare [NAME] or --list"),
        };
        if name.is_empty() || name.contains(['/', '\\']) {
            bail!("baseline name `{name}` must be a plain name (use --file for a path)");
        }
        let path = self
            .file
            .clone()
            .unwrap_or_else(|| bench_dir.join(format!("{name}.json")));
        Ok((name, comparing, path))
    }

    /// The files the bench will write (the baseline when saving, the report) can be written and
    /// replaced; a dry run writes neither.
    fn check_outputs(&self, path: &Path, comparing: bool, dry_run: bool) -> anyhow::Result<()> {
        if !comparing && !dry_run {
            baseline::check_writable(path)?;
            baseline::check_replaceable(path, "a baseline", &baseline::is_baseline)?;
        }
        if let Some(report) = self.report.as_ref().filter(|_| !dry_run) {
            baseline::check_writable(report).context("--report")?;
            baseline::check_replaceable(report, "a report", &|text| {
                text.starts_with("<!doctype html>") && text.contains("Build times")
            })
            .context("--report")?;
        }
        Ok(())
    }

    /// The scenarios to measure: when comparing, what the baseline measured, the way it measured
    /// it (but `--runs`); else the configured ones; then `--scenario`'s filter.
    fn scenarios(
        &self,
        previous: Option<&Baseline>,
        configured: &[Scenario],
        runs: Option<usize>,
    ) -> anyhow::Result<Vec<Scenario>> {
        let defs = match previous {
            Some(base) => {
                let mut defs: Vec<Scenario> =
                    base.results.iter().map(|r| r.scenario.clone()).collect();
                if let Some(runs) = runs {
                    defs.iter_mut().for_each(|s| s.runs = runs);
                }
                defs
            }
            None => configured.to_vec(),
        };
        scenario::filter(defs, &self.scenarios)
    }

    /// Compare what was measured with the baseline `base`: print the verdicts, write the
    /// report; `Regressed` when a scenario got slower beyond its noise.
    fn compare(
        &self,
        base: &Baseline,
        machine: &Machine,
        configured: &[Scenario],
        measured: &[(Scenario, Result<ScenarioResult, String>)],
        name: &str,
        format: Format,
    ) -> anyhow::Result<()> {
        let warnings = differences(base, machine, configured);
        let speed = report::Speed::new(
            base,
            measured.iter().filter_map(|(_, r)| r.as_ref().ok()),
            self.raw_times_reason(&base.machine, machine),
        );
        let pairs: Vec<(&ScenarioResult, Result<&ScenarioResult, String>)> = base
            .results
            .iter()
            .filter_map(|b| {
                let (_, current) = measured.iter().find(|(s, _)| s.id == b.scenario.id)?;
                Some((b, current.as_ref().map_err(Clone::clone)))
            })
            .collect();
        let comparison =
            report::Comparison::new(name, self.threshold / 100.0, warnings, speed, pairs);
        match format {
            Format::Text => println!("{}", comparison.text()),
            Format::Markdown => print!("{}", comparison.markdown()),
            Format::Json => print_json(&comparison)?,
        }
        if let Some(report_path) = &self.report {
            let bars: Vec<_> = comparison
                .rows
                .iter()
                .map(|r| (r.scenario.clone(), r.baseline, r.current, r.verdict))
                .collect();
            let page = report::html(
                &format!("Build times vs baseline `{name}`"),
                &format!(
                    "{} — {}; {}",
                    machine.describe(),
                    comparison.rule,
                    comparison.speed.text()
                ),
                &bars,
                &comparison.table(),
            );
            std::fs::write(report_path, page)
                .with_context(|| format!("writing {}", report_path.display()))?;
        }
        let regressed = comparison.regressed();
        if !regressed.is_empty() {
            return Err(Regressed(regressed.iter().map(|s| s.to_string()).collect()).into());
        }
        Ok(())
    }

    /// Save what was measured as the baseline `name` at `path`, print it, and write the report.
    #[allow(clippy::too_many_arguments)]
    fn save(
        &self,
        exec: &Exec,
        ws: &Workspace,
        name: &str,
        path: &std::path::Path,
        machine: Machine,
        measured: Vec<(Scenario, Result<ScenarioResult, String>)>,
        format: Format,
    ) -> anyhow::Result<()> {
        let results: Vec<ScenarioResult> = measured
            .into_iter()
            .filter_map(|(s, r)| match r {
                Ok(r) => Some(r),
                Err(reason) => {
                    eprintln!("skipped {}: {reason}", s.id);
                    None
                }
            })
            .collect();
        if results.is_empty() {
            bail!("no scenario could run; nothing saved");
        }
        let baseline = Baseline {
            schema: baseline::SCHEMA,
            name: name.to_string(),
            created: crate::render::utc_now(),
            git: ws.git_state(exec),
            machine,
            results,
        };
        baseline::save(path, &baseline)?;
        print_results(&baseline, format)?;
        eprintln!("saved baseline `{name}` to {}", path.display());
        if let Some(report_path) = &self.report {
            let bars: Vec<_> = baseline
                .results
                .iter()
                .map(|r| (r.scenario.id.clone(), r.stats(), None, None))
                .collect();
            let page = report::html(
                &format!("Build times: baseline `{name}`"),
                &baseline.machine.describe(),
                &bars,
                &report::results_table(&baseline.results),
            );
            std::fs::write(report_path, page)
                .with_context(|| format!("writing {}", report_path.display()))?;
        }
        Ok(())
    }

    /// Why a compare must use raw times, if it must: asked to, or the speed control cannot be
    /// compared (another machine or toolchain would change the control's time too).
    fn raw_times_reason(&self, then: &Machine, now: &Machine) -> Option<String> {
        if self.no_speed_control {
            Some("--no-speed-control".into())
        } else if !then.same_hardware(now) || then.rustc != now.rustc {
            Some("the control is comparable only on the same machine and toolchain".into())
        } else {
            None
        }
    }

    fn list(&self, ws: &Workspace, scenarios: &[Scenario], format: Format) -> anyhow::Result<()> {
        let scenarios = scenario::filter(scenarios.to_vec(), &self.scenarios)?;
        let mut table = Table::new(["scenario", "warm-up", "runs", "edits", "timed command"]);
        for s in &scenarios {
            table.row([
                s.id.clone(),
                s.warmup.to_string(),
                s.runs.to_string(),
                match (&s.edit_file, &s.problem) {
                    (Some(file), _) => file.clone(),
                    (None, Some(problem)) => format!("- ({problem})"),
                    (None, None) => "-".into(),
                },
                s.command.clone(),
            ]);
        }
        match format {
            Format::Json => print_json(&scenarios)?,
            Format::Markdown => print!("{}", table.markdown()),
            Format::Text => println!(
                "{}\nbench target dir: {}",
                table.terminal(),
                ws.target_dir.join("xtask/bench/target").display()
            ),
        }
        Ok(())
    }
}

/// Before anything is measured or edited: every file to edit is a file of the workspace (not a
/// link, nothing that leads out of it), and holds no line an earlier bench appended and could not
/// take out (the file was edited during that bench, and reformatted): rustc would fail on the
/// duplicate function (E0428), so say what the line is and how to remove it.
/// Put back what a bench that was killed (SIGKILL, power loss) left edited: every command runs
/// this first, so the next command of any kind finds it, not only the next bench. A dry run only
/// says so. A file that holds someone's edit and the bench's line stops the command with the fix.
pub fn left_edits(ws: &Workspace, dry_run: bool) -> anyhow::Result<()> {
    let bench_dir = ws.target_dir.join("xtask/bench");
    let editor = edit::Editor::new(
        bench_dir.join("pending-edits"),
        ws.root.clone(),
        ws.target_dir.clone(),
    );
    let left = editor.left();
    if left.is_empty() {
        return Ok(());
    }
    if dry_run {
        for file in left {
            eprintln!(
                "note: {} was left edited by a bench that was killed; the next command (not a dry run) puts it back",
                file.display()
            );
        }
        return Ok(());
    }
    // A bench that is running holds the lock and its own edits: they are not left.
    let Ok(_lock) = crate::lock::acquire(&bench_dir.join("lock"), "the bench's edits", true) else {
        return Ok(());
    };
    for (file, outcome) in editor.recover()? {
        edit::report(&file, &outcome, "left edited by a bench that was killed");
        if let edit::Restored::KeptWithBenchLine(_) = outcome {
            bail!(
                "{} still holds the function a killed bench appended (it was edited since): delete the `{}` function at line {}, then run the command again",
                file.display(),
                edit::MARKER,
                edit::leftover(&file).unwrap_or(0)
            );
        }
    }
    Ok(())
}

fn check_edit_files(ws: &Workspace, scenarios: &[Scenario]) -> anyhow::Result<()> {
    for file in scenarios.iter().filter_map(|s| s.edit_file.as_ref()) {
        let path = ws.root.join(file);
        if crate::build::dist::leaves(&ws.root, &path) || path.is_symlink() || !path.is_file() {
            bail!(
                "the bench would edit {file}, which is not a file of the workspace (missing, a \
                 symbolic link, or outside it); point leaf-file / core-file in \
                 [workspace.metadata.xtask.bench] at a source file of the workspace"
            );
        }
        if let Some(line) = edit::leftover(&path) {
            bail!(
                "{file}:{line} holds `{}`, a function an earlier bench appended and could not take \
                 out (the file was edited while it ran); delete that function, then run the bench again",
                edit::MARKER
            );
        }
    }
    Ok(())
}

fn print_results(baseline: &Baseline, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => print_json(baseline)?,
        Format::Markdown => print!(
            "{}\n_Machine: {}; commit {}._\n",
            report::results_table(&baseline.results).markdown(),
            baseline.machine.describe(),
            baseline
                .git
                .as_ref()
                .map(|g| format!(
                    "{}{}",
                    &g.commit[..g.commit.len().min(12)],
                    if g.dirty { " (dirty)" } else { "" }
                ))
                .unwrap_or_else(|| "unknown".into())
        ),
        Format::Text => println!(
            "{}\nmachine: {}",
            report::results_table(&baseline.results).terminal(),
            baseline.machine.describe()
        ),
    }
    Ok(())
}

/// `--dry-run`: every scenario's steps, the speed control around each run, where the baseline
/// goes or comes from; nothing measured, edited or saved.
fn dry_run_plan(
    runner: &Runner,
    control: &SpeedControl,
    scenarios: &[Scenario],
    baseline: &std::path::Path,
    comparing: bool,
    format: Format,
) -> anyhow::Result<()> {
    #[derive(serde::Serialize)]
    struct ScenarioPlan<'a> {
        id: &'a str,
        warmup: usize,
        runs: usize,
        /// The steps of each run (`--trace` shows each run's).
        #[serde(flatten)]
        plan: crate::plan::Plan,
    }
    let plans = scenarios
        .iter()
        .map(|s| {
            Ok(ScenarioPlan {
                id: &s.id,
                warmup: s.warmup,
                runs: s.runs,
                plan: runner.plan(s)?.plan,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let speed_control = control.command();
    if format == Format::Json {
        return print_json(&serde_json::json!({
            "command": if comparing { "bench --compare" } else { "bench --baseline" },
            "baseline": baseline,
            "speed_control": speed_control,
            "scenarios": plans,
        }));
    }
    println!(
        "plan: {} {}",
        if comparing {
            "compare with"
        } else {
            "save the baseline"
        },
        baseline.display()
    );
    println!("  around every measured run: {}", speed_control.line());
    for p in &plans {
        println!(
            "  {} ({} warm-up, {} runs), each run:",
            p.id, p.warmup, p.runs
        );
        for line in p.plan.text().lines().skip(1) {
            println!("  {line}");
        }
    }
    Ok(())
}

/// Run every scenario: warm-ups, then measured runs, each between two timings of the speed
/// control, with progress. A scenario that cannot run here (no engine) is `Err(reason)`; a
/// build that fails stops everything (no holes).
fn measure(
    runner: &Runner,
    control: &SpeedControl,
    scenarios: &[Scenario],
) -> anyhow::Result<Vec<(Scenario, Result<ScenarioResult, String>)>> {
    let total = scenarios.len();
    let mut out = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        if let Some(reason) = runner.skip_reason(s) {
            eprintln!("[{}/{total}] {}: skipped ({reason})", i + 1, s.id);
            out.push((s.clone(), Err(reason)));
            continue;
        }
        runner.check(s)?;
        let planned = runner.plan(s)?;
        for w in 0..s.warmup {
            eprintln!(
                "[{}/{total}] {}, warm-up {}/{}",
                i + 1,
                s.id,
                w + 1,
                s.warmup
            );
            runner.run(s, &planned, s.runs + w)?;
        }
        let mut samples = Vec::new();
        let mut cpu_samples = Vec::new();
        let mut units = Vec::new();
        let mut controls = Vec::new();
        let mut cpu_controls = Vec::new();
        // The control after run r is also the one before run r + 1.
        let mut before = control.time(runner.exec)?;
        for r in 0..s.runs {
            let result = runner.run(s, &planned, r)?;
            let after = control.time(runner.exec)?;
            let cpu = result
                .cpu
                .map(|c| format!(", {c:.2} s CPU"))
                .unwrap_or_default();
            eprintln!(
                "[{}/{total}] {}, run {}/{}: {:.2} s{cpu}, {} units compiled (speed control {:.3} s, {:.3} s CPU)",
                i + 1,
                s.id,
                r + 1,
                s.runs,
                result.seconds,
                result.compiled,
                after.wall,
                after.cpu
            );
            samples.push(result.seconds);
            cpu_samples.extend(result.cpu);
            units.push(result.compiled);
            controls.push((before.wall + after.wall) / 2.0);
            cpu_controls.push((before.cpu + after.cpu) / 2.0);
            before = after;
        }
        if cpu_samples.len() != samples.len() {
            cpu_controls.clear();
        }
        out.push((
            s.clone(),
            Ok(ScenarioResult {
                scenario: s.clone(),
                samples,
                units_compiled: units,
                controls,
                cpu_samples,
                cpu_controls,
            }),
        ));
    }
    Ok(out)
}

/// Warnings when the baseline cannot be compared like for like.
fn differences(base: &Baseline, machine: &Machine, configured: &[Scenario]) -> Vec<String> {
    let mut warnings = Vec::new();
    if !base.machine.same_hardware(machine) {
        warnings.push(format!(
            "the baseline came from another machine ({}; this is {})",
            base.machine.describe(),
            machine.describe()
        ));
    }
    if base.machine.rustc != machine.rustc {
        warnings.push(format!(
            "the baseline came from another toolchain ({}; this is {})",
            base.machine.rustc.lines().next().unwrap_or_default(),
            machine.rustc.lines().next().unwrap_or_default()
        ));
    }
    // The baseline's scenarios are re-run as it defined them; say where today's configuration
    // would define them differently (another edited file, say), since the numbers then differ.
    for saved in base.results.iter().map(|r| &r.scenario) {
        match configured.iter().find(|c| c.id == saved.id) {
            None => warnings.push(format!("scenario {} is no longer configured", saved.id)),
            Some(now)
                if (&now.edit_file, &now.command, now.warmup)
                    != (&saved.edit_file, &saved.command, saved.warmup) =>
            {
                warnings.push(format!(
                    "scenario {} is configured differently now than in the baseline",
                    saved.id
                ))
            }
            Some(_) => {}
        }
    }
    warnings
}

/// Each measured scenario as a point of the history at `path`: its median time, the median of
/// its speed controls (no unit times: the bench times whole commands).
fn record(
    exec: &Exec,
    ws: &Workspace,
    rustc_vv: &str,
    measured: &[(Scenario, Result<ScenarioResult, String>)],
    path: &std::path::Path,
) -> anyhow::Result<()> {
    for (scenario, result) in measured {
        let Ok(result) = result else { continue };
        let point = crate::history::model::Point {
            control_seconds: stats::Stats::of(&result.controls).map(|s| s.median),
            total_seconds: result.stats().median,
            ..crate::history::new_point(
                exec,
                ws,
                rustc_vv,
                "bench",
                crate::render::name(&scenario.variant),
                format!("bench {}", crate::render::name(&scenario.kind)),
            )
        };
        crate::history::append(path, &point)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(id: &str, edit: Option<&str>) -> Scenario {
        Scenario::example(id, edit)
    }

    fn baseline(machine: Machine, scenarios: Vec<Scenario>) -> Baseline {
        let results = scenarios
            .into_iter()
            .map(|s| ScenarioResult::example(s, &[1.0], &[0.2], 1))
            .collect();
        Baseline::example(machine, results)
    }

    fn machine(cpu: &str, rustc: &str) -> Machine {
        Machine {
            host: "x86_64-unknown-linux-gnu".into(),
            rustc: rustc.into(),
            cpu_model: cpu.into(),
            cpus: 2,
            memory_bytes: 1,
            os: "linux".into(),
        }
    }

    fn args(argv: &[&str]) -> BenchArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        let argv = std::iter::once("bench").chain(argv.iter().copied());
        <Cli as clap::Parser>::try_parse_from(argv).unwrap().bench
    }

    #[test]
    fn times_are_scaled_only_like_for_like_and_unless_asked_not_to() {
        let here = machine("cpu", "rustc 1.95.0");
        let compare = args(&["--compare"]);
        assert_eq!(compare.raw_times_reason(&here, &here), None);
        for then in [
            machine("cpu B", "rustc 1.95.0"),
            machine("cpu", "rustc 1.94.0"),
        ] {
            let why = compare.raw_times_reason(&then, &here).unwrap();
            assert!(why.contains("same machine and toolchain"), "{why}");
        }
        let raw = args(&["--compare", "--no-speed-control"]);
        assert_eq!(
            raw.raw_times_reason(&here, &here).as_deref(),
            Some("--no-speed-control")
        );
    }

    #[test]
    fn like_for_like_has_no_warning() {
        let m = machine("cpu", "rustc 1.95.0");
        let s = vec![scenario("incr-core/dev", Some("a.rs"))];
        assert!(differences(&baseline(m.clone(), s.clone()), &m, &s).is_empty());
        // A baseline of a subset of the configured scenarios is fine too.
        let more = vec![s[0].clone(), scenario("noop/dev", None)];
        assert!(differences(&baseline(m.clone(), s), &m, &more).is_empty());
    }

    #[test]
    fn other_machine_toolchain_or_scenario_definition_is_warned() {
        let base = baseline(
            machine("cpu A", "rustc 1.94.0"),
            vec![
                scenario("incr-core/dev", Some("a.rs")),
                scenario("gone/dev", None),
            ],
        );
        let warnings = differences(
            &base,
            &machine("cpu B", "rustc 1.95.0"),
            &[scenario("incr-core/dev", Some("b.rs"))],
        );
        let text = warnings.join("\n");
        assert!(text.contains("another machine"), "{text}");
        assert!(text.contains("another toolchain"), "{text}");
        assert!(
            text.contains("incr-core/dev is configured differently"),
            "{text}"
        );
        assert!(text.contains("gone/dev is no longer configured"), "{text}");
    }
}

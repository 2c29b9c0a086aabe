//! `cargo xtask history`: build times across commits. Every `cargo xtask timings` appends a
//! point (commit, date, machine, toolchain, the speed control, total and critical-path time,
//! each unit's time and what it is) to `target/xtask/history.jsonl`; this command shows the
//! points as a table and a chart (total and critical path per point, with the noise band), and
//! holds the newest point (or `--compare A B`) against the earlier ones: which units got slower
//! or faster beyond their own noise (`model`'s rule), and beside each what explains it, read
//! from git: a crate added or bumped in Cargo.lock, a changed build script, a member that grew,
//! a unit new on the critical path. `--format markdown` is the pull-request comment.
//!
//! In CI the file travels as the default branch's Actions cache (see the bench workflow): a
//! run restores it, appends its point, and only the default branch saves it back.

mod chart;
pub mod control;
pub mod model;

use crate::changes::{self, LockChangeKind};
use crate::exec::{self, Exec};
use crate::plan::{Capture, Done, Handler, Plan, Step};
use crate::render::{print_json, Format, Options, Table};
use crate::workspace::Workspace;
use anyhow::{bail, Context};
use model::{Comparison, Evidence, Point};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The history file (default: target/xtask/history.jsonl, where `timings` appends).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Hold point B against point A (each a point's number in the table, or a commit prefix;
    /// the newest point of that commit); the earlier points give the noise. Default: the
    /// newest point against every earlier comparable one.
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    pub compare: Vec<String>,
    /// Points shown in the table and the chart (the newest).
    #[arg(long, default_value_t = 30)]
    pub last: usize,
    /// Where to write the chart (SVG). Default: beside the history file.
    #[arg(long, value_name = "SVG")]
    pub chart: Option<PathBuf>,
}

/// Where the history lives by default: in the target dir.
pub fn default_path(ws: &Workspace) -> PathBuf {
    ws.target_dir.join("xtask/history.jsonl")
}

/// Milliseconds a compiled unit of `variant` took on this machine: the median, over its last
/// five points in the default history, of the build's time over its units compiled (`None`
/// without such a point). The status line's estimate of the time left.
pub fn unit_millis(ws: &Workspace, variant: &str) -> Option<u64> {
    let (points, _) = load(&default_path(ws)).ok()?;
    unit_millis_of(&points, variant, &machine())
}

fn unit_millis_of(points: &[Point], variant: &str, here: &model::Machine) -> Option<u64> {
    let mut each: Vec<f64> = points
        .iter()
        .rev()
        .filter(|p| p.variant == variant && p.machine == *here && !p.units.is_empty())
        .take(5)
        .map(|p| p.total_seconds / p.units.len() as f64)
        .collect();
    each.sort_by(f64::total_cmp);
    let median = each.get(each.len() / 2)?;
    Some((median * 1000.0).round() as u64)
}

/// This machine: its CPU model, cores, OS and architecture.
pub fn machine() -> model::Machine {
    model::Machine {
        cpu: cpu_model(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
    }
}

/// The CPU's model name, from /proc/cpuinfo ("unknown" where there is none).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split(':').nth(1))
        })
        .map(|m| m.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The checked-out commit, and whether the tree has changes beyond it ("unknown" outside git).
pub fn git_state(exec: &Exec, ws: &Workspace) -> (String, bool) {
    match ws.git_state(exec) {
        Some(git) => (git.commit, git.dirty),
        None => ("unknown".into(), false),
    }
}

/// A point of this checkout, machine and toolchain (`rustc -vV`), its times still to fill in.
pub fn new_point(
    exec: &Exec,
    ws: &Workspace,
    rustc_vv: &str,
    source: &str,
    variant: String,
    mode: String,
) -> Point {
    let (commit, dirty) = git_state(exec, ws);
    Point {
        format: model::FORMAT,
        commit,
        dirty,
        date: crate::render::utc_now(),
        source: source.to_string(),
        variant,
        mode,
        machine: machine(),
        toolchain: rustc_vv.lines().next().unwrap_or("").trim().to_string(),
        control_seconds: None,
        total_seconds: 0.0,
        critical_path_seconds: None,
        critical_path: Vec::new(),
        units: Vec::new(),
        distributed: None,
    }
}

/// Append `point` as one line (whole or absent).
pub fn append(path: &Path, point: &Point) -> anyhow::Result<()> {
    check_appendable(path)?;
    crate::plan::append_line(path, &serde_json::to_string(point)?)
}

/// A history is appended only to a file of its own, never through a link (to a file of
/// someone else's, outside the workspace).
pub fn check_appendable(path: &Path) -> anyhow::Result<()> {
    if path.is_symlink() {
        bail!(
            "{} is a link (to {}): a history is appended only to a file of its own; give its own path (--history FILE)",
            path.display(),
            std::fs::read_link(path).unwrap_or_default().display()
        );
    }
    Ok(())
}

/// The points of a history file, oldest first, and how many lines did not parse.
pub fn load(path: &Path) -> anyhow::Result<(Vec<Point>, Vec<usize>)> {
    let size = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "no history at {} yet: `cargo xtask timings` appends a point per build",
                path.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if size > HISTORY_LIMIT {
        bail!(
            "{} is {}, over the {} this tool reads: keep its newest lines (e.g. `tail -n 2000`), or point --file at another history",
            path.display(),
            crate::render::human_size(size),
            crate::render::human_size(HISTORY_LIMIT)
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut points = Vec::new();
    let mut skipped = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Point>(line) {
            Ok(p) if p.format == model::FORMAT && p.times_are_sane() => points.push(p),
            _ => skipped.push(i + 1),
        }
    }
    Ok((points, skipped))
}

/// The largest history this tool reads (a point of a 600-unit build is about 40 KB).
const HISTORY_LIMIT: u64 = 256 << 20;

/// `skipped` line numbers for a warning: the first few, and how many.
fn skipped_lines(skipped: &[usize]) -> String {
    let names: Vec<String> = skipped.iter().map(usize::to_string).collect();
    let plural = if names.len() == 1 { "" } else { "s" };
    format!(
        "{} line{plural}{}",
        names.len(),
        crate::render::some_names(&names, 8)
    )
}

/// A point named by its number (1 = the oldest) or a commit prefix (its newest point).
fn find(points: &[Point], name: &str) -> anyhow::Result<usize> {
    if let Ok(n) = name.parse::<usize>() {
        if (1..=points.len()).contains(&n) {
            return Ok(n - 1);
        }
    }
    points
        .iter()
        .rposition(|p| name.len() >= 4 && p.commit.starts_with(name))
        .with_context(|| {
            format!(
                "no point {name:?}: give a number from 1 to {} (see `cargo xtask history`) or a commit prefix of 4 or more characters",
                points.len()
            )
        })
}

/// The comparison the command asks for: (the compared point's index, the comparison).
fn comparison(points: &[Point], compare: &[String]) -> anyhow::Result<(usize, Comparison)> {
    let (new, base) = match compare {
        [a, b] => (find(points, b)?, Some(find(points, a)?)),
        _ => (points.len() - 1, None),
    };
    let earlier: Vec<&Point> = points[..new]
        .iter()
        .filter(|p| p.comparable(&points[new]))
        .collect();
    if let Some(base) = base {
        if base >= new || !points[base].comparable(&points[new]) {
            bail!(
                "point {} cannot be held against point {}: A must be an earlier point of the same variant, mode, machine and toolchain",
                new + 1,
                base + 1
            );
        }
    }
    Ok((
        new,
        model::compare(&earlier, &points[new], base.map(|b| &points[b])),
    ))
}

/// What git says changed between `base` and the point's commit (the work tree, when the point
/// was measured on a dirty tree that is still checked out).
pub fn evidence(exec: &Exec, ws: &Workspace, base: &str, new: &Point) -> Evidence {
    match evidence_from_git(exec, ws, base, new) {
        Ok(evidence) => evidence,
        Err(e) => Evidence {
            unknown: Some(format!("{e:#}")),
            ..Evidence::default()
        },
    }
}

fn evidence_from_git(
    exec: &Exec,
    ws: &Workspace,
    base: &str,
    new: &Point,
) -> anyhow::Result<Evidence> {
    let git = |args: &[&str]| -> anyhow::Result<String> {
        let out = exec.output(&exec::Command::new("git").args(args).dir(&ws.root))?;
        if !out.success {
            bail!("git {}: {}", args.join(" "), out.stderr.trim());
        }
        Ok(out.stdout)
    };
    for commit in [base, new.commit.as_str()] {
        if git(&["cat-file", "-e", &format!("{commit}^{{commit}}")]).is_err() {
            bail!("commit {commit} is not in this clone (a shallow checkout? fetch the history: `git fetch --unshallow`, or `fetch-depth: 0` in the workflow)");
        }
    }
    let head = git(&["rev-parse", "HEAD"])?;
    let worktree = new.dirty && head.trim() == new.commit;
    let range: Vec<&str> = if worktree {
        vec![base]
    } else {
        vec![base, &new.commit]
    };
    let mut evidence = Evidence::default();
    let lock_at = |commit: Option<&str>| -> anyhow::Result<Vec<changes::LockedPackage>> {
        let text = match commit {
            Some(c) => git(&["show", &format!("{c}:Cargo.lock")]).unwrap_or_default(),
            None => std::fs::read_to_string(ws.root.join("Cargo.lock")).unwrap_or_default(),
        };
        changes::parse_lockfile(&text)
    };
    let after = lock_at(if worktree { None } else { Some(&new.commit) })?;
    for change in changes::lock_diff(&lock_at(Some(base))?, &after) {
        let what = match change.change {
            LockChangeKind::Added => format!("added {}", change.to.join(", ")),
            LockChangeKind::Removed => format!("removed {}", change.from.join(", ")),
            _ => format!("{} → {}", change.from.join(", "), change.to.join(", ")),
        };
        evidence.lockfile.insert(change.name, what);
    }
    let rel = |dir: &Path| {
        let rel = dir.strip_prefix(&ws.root).unwrap_or(dir);
        if rel.as_os_str().is_empty() {
            ".".to_string()
        } else {
            rel.to_string_lossy().into_owned()
        }
    };
    for member in &ws.members {
        // A member's files: its folder, less the members nested in it (a root package's).
        let mut paths = vec![rel(&member.dir)];
        paths.extend(
            ws.members
                .iter()
                .filter(|m| m.dir != member.dir && m.dir.starts_with(&member.dir))
                .map(|m| format!(":(exclude){}", rel(&m.dir))),
        );
        let mut args = vec!["diff", "--numstat"];
        args.extend(&range);
        args.push("--");
        args.extend(paths.iter().map(String::as_str));
        let mut numstat = git(&args)?;
        if worktree {
            // Files not yet added are in no diff: each counts as added whole.
            let mut others = vec!["ls-files", "--others", "--exclude-standard", "--"];
            others.extend(paths.iter().map(String::as_str));
            for file in git(&others)?.lines() {
                let lines =
                    std::fs::read_to_string(ws.root.join(file)).map_or(0, |t| t.lines().count());
                numstat.push_str(&format!("{lines}\t0\t{file}\n"));
            }
        }
        let (mut added, mut removed) = (0, 0);
        for line in numstat.lines() {
            let mut cols = line.split('\t');
            let (a, r, file) = (cols.next(), cols.next(), cols.next().unwrap_or(""));
            if file.ends_with("build.rs") {
                evidence.build_scripts.insert(member.name.clone());
            }
            if file.ends_with(".rs") {
                added += a.and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
                removed += r.and_then(|r| r.parse::<u64>().ok()).unwrap_or(0);
            }
        }
        if added + removed > 0 {
            evidence.grown.insert(member.name.clone(), (added, removed));
        }
    }
    Ok(evidence)
}

/// The task that prints the points and the comparison.
const SHOW: &str = "show";

/// Plan: write the chart, print the comparison; both are computed from the history first
/// (reading it changes nothing), so a dry run prints exactly what would be written.
pub fn run(args: HistoryArgs, exec: &Exec, ws: &Workspace, opts: Options) -> anyhow::Result<()> {
    let path = args.file.clone().unwrap_or_else(|| default_path(ws));
    let (points, skipped) = load(&path)?;
    if points.is_empty() {
        bail!(
            "{} holds no point this version can read ({} skipped)",
            path.display(),
            skipped_lines(&skipped)
        );
    }
    let (new, mut comparison) = comparison(&points, &args.compare)?;
    if let Some(base) = comparison.base.clone() {
        comparison.explain(evidence(exec, ws, &base, &points[new]), &points[new]);
    }
    let shown = &points[points.len().saturating_sub(args.last)..];
    let chart_path = args
        .chart
        .clone()
        .unwrap_or_else(|| path.with_extension("svg"));
    let mut plan = Plan::new(format!("history --file {}", path.display()))
        .fact("history", path.display().to_string())
        .fact("points", points.len())
        .fact(
            "judged",
            format!("point {} ({})", new + 1, short(&points[new].commit)),
        );
    plan.step(Step::write(
        &chart_path,
        format!(
            "the chart of the last {} points: total and critical path, the noise band",
            shown.len()
        ),
        chart::svg(shown, comparison.units.first().map(|c| c.metric.as_str())),
    ));
    plan.step(Step::task(
        SHOW,
        "print the points and the judged point against the earlier ones",
    ));
    if opts.dry_run {
        return plan.print(opts.format);
    }
    let mut showing = Showing {
        path: &path,
        chart: &chart_path,
        skipped,
        shown,
        offset: points.len() - shown.len(),
        new: &points[new],
        comparison: &comparison,
        format: opts.format,
    };
    crate::plan::run(exec, &plan, &|_| false, &mut showing)
}

/// What `history` prints, when its plan reaches the task.
struct Showing<'a> {
    path: &'a Path,
    chart: &'a Path,
    skipped: Vec<usize>,
    shown: &'a [Point],
    offset: usize,
    new: &'a Point,
    comparison: &'a Comparison,
    format: Format,
}

impl Handler for Showing<'_> {
    type Watch = Capture;

    fn done(&mut self, step: &Step, _: Done<Capture>) -> anyhow::Result<()> {
        match step {
            Step::Task { task, .. } if task == SHOW => self.show(),
            _ => Ok(()),
        }
    }
}

impl Showing<'_> {
    fn show(&self) -> anyhow::Result<()> {
        let c = self.comparison;
        match self.format {
            Format::Json => print_json(&serde_json::json!({
                "history": self.path,
                "chart": self.chart,
                "skipped_lines": self.skipped,
                "points": self
                    .shown
                    .iter()
                    .map(|p| {
                        let mut json = serde_json::to_value(p)?;
                        json["units_compiled"] = p.units_compiled().into();
                        Ok(json)
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?,
                "comparison": c,
                "rule": model::rule_text(),
            })),
            Format::Markdown => {
                print!("{}", markdown(c, self.new));
                Ok(())
            }
            Format::Text => {
                println!("{}", points_table(self.shown, self.offset).terminal());
                println!("{}", changes_table(c).terminal());
                for line in summary_lines(c, self.new) {
                    println!("{line}");
                }
                println!("chart: {}", self.chart.display());
                if !self.skipped.is_empty() {
                    eprintln!(
                        "warning: {} of {} skipped: not a point this version reads (another format, cut off, not UTF-8, or a time that is negative, not finite or over {} s)",
                        skipped_lines(&self.skipped),
                        self.path.display(),
                        model::MAX_SECONDS
                    );
                }
                Ok(())
            }
        }
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

fn points_table(points: &[Point], offset: usize) -> Table {
    let mut table = Table::new([
        "#",
        "commit",
        "date",
        "source",
        "variant",
        "total",
        "critical path",
        "control",
        "units compiled",
    ]);
    for (i, p) in points.iter().enumerate() {
        table.row([
            (offset + i + 1).to_string(),
            format!("{}{}", short(&p.commit), if p.dirty { "+" } else { "" }),
            p.date.clone(),
            p.source.clone(),
            format!("{} {}", p.variant, p.mode),
            format!("{:.1} s", p.total_seconds),
            p.critical_path_seconds
                .map_or("-".into(), |t| format!("{t:.1} s")),
            p.control_seconds
                .map_or("-".into(), |c| format!("{c:.3} s")),
            p.units_compiled().to_string(),
        ]);
    }
    table
}

fn changes_table(c: &Comparison) -> Table {
    let mut table = Table::new(["", "kind", "before", "now", "delta", "verdict", "why"]);
    let seconds = |t: Option<f64>| t.map_or("-".into(), |t| format!("{t:.2} s"));
    for change in [&c.total, &c.critical_path].into_iter().chain(&c.units) {
        table.row([
            change.metric.clone(),
            change.kind.map_or("", |k| k.label()).to_string(),
            seconds(change.before),
            seconds(change.after),
            format!("{:+.2} s", change.delta()),
            change.verdict.as_str().to_string(),
            change.why.join("; "),
        ]);
    }
    table
}

fn summary_lines(c: &Comparison, new: &Point) -> Vec<String> {
    let mut lines = vec![format!(
        "{} ({} {}) against {} earlier comparable point(s){}",
        short(&new.commit),
        new.variant,
        new.mode,
        c.earlier_points,
        if c.scaled {
            ", raw and scaled by the speed control"
        } else {
            ", not scaled (a point without the speed control)"
        }
    )];
    lines.extend(c.cannot_tell.clone());
    if !c.causes.is_empty() {
        lines.push(format!("slower or new: {}", c.causes.join("; ")));
    }
    if let Some(unknown) = &c.evidence.unknown {
        lines.push(format!("causes not looked up: {unknown}"));
    }
    lines.push(model::rule_text());
    lines
}

/// The pull-request comment.
pub fn markdown(c: &Comparison, new: &Point) -> String {
    let verdict = match (&c.cannot_tell, c.regressed()) {
        (Some(_), _) => "cannot tell yet",
        (None, true) => "slower",
        (None, false) => "no regression beyond the noise",
    };
    let mut out = format!("### Build times: {verdict}\n\n");
    out += &changes_table(c).markdown();
    out += "\n";
    for line in summary_lines(c, new) {
        out += &format!("{line}\n\n");
    }
    out
}

#[cfg(test)]
mod estimate_tests {
    use super::model::{tests::point, UnitKind};

    #[test]
    fn a_unit_takes_the_median_time_of_this_machines_last_builds_of_the_variant() {
        let units = |n: usize| vec![("u", UnitKind::ThirdParty, 1.0); n];
        let mut points = vec![
            point("a", 10.0, &units(10)), // 1 s a unit
            point("b", 40.0, &units(10)), // 4 s
            point("c", 20.0, &units(10)), // 2 s: the median
        ];
        let mut other = point("d", 900.0, &units(1));
        other.variant = "production".into();
        points.push(other);
        let here = points[0].machine.clone();
        assert_eq!(super::unit_millis_of(&points, "dev", &here), Some(2000));
        let mut elsewhere = here.clone();
        elsewhere.cores = 64;
        assert_eq!(super::unit_millis_of(&points, "dev", &elsewhere), None);
        assert_eq!(super::unit_millis_of(&points, "test", &here), None);
    }
}

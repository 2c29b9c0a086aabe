//! Cargo's own timing data (the report `cargo build --timings` writes), read and explained: the
//! slowest units, the critical path, how busy the cores were, what to do; and a Gantt chart.
//!
//! Cargo's stable `--timings` output is an HTML page whose script holds the data as JSON
//! (`const UNIT_DATA = [...]`, `const CPU_USAGE = [...]`); only those literals are read.

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One compilation unit as cargo timed it.
#[derive(Debug, Clone, Deserialize)]
struct RawUnit {
    i: usize,
    name: String,
    version: String,
    /// `todo` (compile) or `run-custom-build` (a build script running).
    mode: String,
    /// `""` (a library), ` build-script`, ` bin "x"`, ...
    target: String,
    start: f64,
    duration: f64,
    #[serde(default)]
    unblocked_units: Vec<usize>,
    #[serde(default)]
    unblocked_rmeta_units: Vec<usize>,
    /// `[["frontend", {"start": 0.0, "end": 0.9}], ["codegen", ...]]`: the metadata is ready
    /// at the end of the frontend.
    #[serde(default)]
    sections: Option<Vec<(String, Span)>>,
}

#[derive(Debug, Clone, Deserialize)]
struct Span {
    end: f64,
}

impl RawUnit {
    /// Seconds after its start when its metadata was ready (the end of the frontend), if cargo
    /// gave sections.
    fn frontend_seconds(&self) -> Option<f64> {
        let frontend = self
            .sections
            .iter()
            .flatten()
            .find(|(name, _)| name == "frontend");
        frontend.map(|(_, span)| span.end)
    }

    /// When the units it unblocks by metadata could start (its start, if cargo gave no sections).
    fn rmeta_ready(&self) -> f64 {
        self.start + self.frontend_seconds().unwrap_or(0.0)
    }
}

/// What a unit is (the history's vocabulary, so a point keeps what the report says).
pub use crate::history::model::UnitKind as Kind;

/// A kind's colour in the chart.
fn colour(kind: Kind) -> &'static str {
    match kind {
        Kind::Member => "#3b75af",
        Kind::ThirdParty => "#a5a5a5",
        Kind::ProcMacro => "#7a4fb0",
        Kind::BuildScript => "#f2b134",
        Kind::BuildScriptRun => "#d9482b",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    /// `name version` plus the target when not the library (` build-script (run)`, ` bin "x"`).
    pub name: String,
    pub package: String,
    pub version: String,
    /// The target when not the library, as in `name` (empty for the library).
    pub target: String,
    pub kind: Kind,
    pub start: f64,
    pub seconds: f64,
    pub on_critical_path: bool,
    /// The unit whose end (or metadata) let it start: its last dependency to be ready.
    #[serde(skip)]
    pub unblocked_by: Option<Unblock>,
    /// Seconds after its start when its metadata was ready (cargo's pipelining), if cargo said.
    #[serde(skip)]
    pub metadata_seconds: Option<f64>,
}

/// The dependency a unit waited for last, as cargo's report names it (`unblocked_units`,
/// `unblocked_rmeta_units`): cargo names only that one of a unit's dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unblock {
    /// Index into `units`.
    pub unit: usize,
    /// By its metadata (the dependent needed only the `.rmeta`), not its whole compile.
    pub metadata: bool,
}

impl Unit {
    fn end(&self) -> f64 {
        self.start + self.seconds
    }
}

/// The analysis of one timed build.
#[derive(Debug, Serialize)]
pub struct Timings {
    /// Seconds from cargo's first unit to its last.
    pub wall_seconds: f64,
    pub units: Vec<Unit>,
    /// Indexes into `units`, slowest first (at most 10).
    pub slowest: Vec<usize>,
    /// The chain that sets the wall time, first to last: each unit is the one its successor
    /// waited for, as a dependency or for its job slot.
    pub critical_path: Vec<Step>,
    /// Sum of the critical path's unit times.
    pub critical_path_seconds: f64,
    /// Share of the machine's CPU time left idle during the build, from cargo's own samples
    /// (machine-wide); `None` when the build was too short to sample.
    pub idle_share: Option<f64>,
    /// Cargo's job count (`-j`), from the report.
    pub jobs: Option<u32>,
    /// The profile the report names (`dev`, `production`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Cargo's CPU samples: (seconds, percent of the machine busy).
    #[serde(skip)]
    cpu: Vec<(f64, f64)>,
}

/// A unit of the critical path and what it waited for before it started.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Step {
    /// Index into `units`.
    pub unit: usize,
    pub waited_for: Waited,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Waited {
    /// The first unit of the chain.
    Start,
    /// The previous unit of the chain was its last dependency to finish.
    Dependency,
    /// It was ready, and started when the previous unit freed a job slot: the cores were busy.
    JobSlot,
}

/// Is this unit's package a workspace member (by name)?
pub type IsMember<'a> = &'a dyn Fn(&str) -> bool;

/// Read cargo's HTML timing report.
pub fn parse(html: &str, is_member: IsMember) -> anyhow::Result<Timings> {
    let raw: Vec<RawUnit> = serde_json::from_value(js_constant(html, "UNIT_DATA")?)
        .context("reading UNIT_DATA of cargo's timing report")?;
    let cpu: Vec<(f64, f64)> = match js_constant(html, "CPU_USAGE") {
        Ok(value) => serde_json::from_value(value).context("reading CPU_USAGE")?,
        Err(_) => Vec::new(),
    };
    let jobs = html
        .split_once("(jobs=")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok());
    let profile = html
        .split_once("<td>Profile:</td><td>")
        .and_then(|(_, rest)| rest.split('<').next())
        .map(str::to_string);
    Ok(Timings {
        profile,
        ..analyse(&raw, &cpu, jobs, is_member)
    })
}

impl Timings {
    /// The units the report timed that cargo's JSON messages count (see
    /// [`Kind::is_compiled`]): its build-script runs left out.
    pub fn units_compiled(&self) -> usize {
        self.units.iter().filter(|u| u.kind.is_compiled()).count()
    }

    /// The build scripts the report timed running.
    pub fn build_scripts_run(&self) -> usize {
        self.units.len() - self.units_compiled()
    }

    /// Units of `packages`' libraries are proc macros (cargo's report does not say which).
    pub fn mark_proc_macros(&mut self, packages: &std::collections::BTreeSet<String>) {
        for unit in &mut self.units {
            let library =
                matches!(unit.kind, Kind::Member | Kind::ThirdParty) && unit.target.is_empty();
            if library && packages.contains(&unit.package) {
                unit.kind = Kind::ProcMacro;
            }
        }
    }
}

/// How many targets the build had: the report's `Target:` line lists them (`Host:` alone: one).
pub fn targets(html: &str) -> usize {
    html.split_once("<br>Target: ")
        .and_then(|(_, rest)| rest.split('<').next())
        .map_or(1, |list| list.split(", ").count())
}

/// The JSON literal after `const NAME = ` in the report's script.
fn js_constant(html: &str, name: &str) -> anyhow::Result<serde_json::Value> {
    let marker = format!("const {name} = ");
    let Some(at) = html.find(&marker) else {
        bail!(
            "cargo's timing report has no `{name}` (a cargo whose report format this tool does \
             not know: run `cargo xtask timings` with the toolchain of rust-toolchain.toml)"
        );
    };
    let rest = &html[at + marker.len()..];
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
    values
        .next()
        .with_context(|| format!("`{name}` in cargo's timing report is empty"))?
        .with_context(|| format!("`{name}` in cargo's timing report is not JSON"))
}

fn analyse(raw: &[RawUnit], cpu: &[(f64, f64)], jobs: Option<u32>, is_member: IsMember) -> Timings {
    let mut units: Vec<Unit> = raw
        .iter()
        .map(|u| {
            let kind = if u.mode == "run-custom-build" {
                Kind::BuildScriptRun
            } else if u.target.trim() == "build-script" {
                Kind::BuildScript
            } else if is_member(&u.name) {
                Kind::Member
            } else {
                Kind::ThirdParty
            };
            Unit {
                name: format!("{} {}{}", u.name, u.version, u.target),
                package: u.name.clone(),
                version: u.version.clone(),
                target: u.target.clone(),
                kind,
                start: u.start,
                seconds: u.duration,
                on_critical_path: false,
                unblocked_by: None,
                metadata_seconds: u.frontend_seconds(),
            }
        })
        .collect();
    // Cargo's index `i` → position in `units`; and who unblocked each unit (the last
    // dependency it waited for, by its full artifact or its metadata), and when it was ready.
    let position: BTreeMap<usize, usize> = raw.iter().enumerate().map(|(p, u)| (u.i, p)).collect();
    let mut unblocked_by: BTreeMap<usize, (usize, f64)> = BTreeMap::new();
    for (p, u) in raw.iter().enumerate() {
        let full = u.unblocked_units.iter().map(|n| (n, false));
        let rmeta = u.unblocked_rmeta_units.iter().map(|n| (n, true));
        for (next, metadata) in full.chain(rmeta) {
            if let Some(&q) = position.get(next) {
                let ready = if metadata {
                    u.rmeta_ready()
                } else {
                    u.start + u.duration
                };
                unblocked_by.insert(q, (p, ready));
                units[q].unblocked_by = Some(Unblock { unit: p, metadata });
            }
        }
    }
    // Walk back from the unit that ended last. A unit waited either for a dependency (the one
    // that unblocked it, when it started as that one let it), or, ready earlier, for a job
    // slot: then the unit that ended last before it started freed the slot (cargo's times are
    // rounded to 10 ms).
    let mut critical_path: Vec<Step> = Vec::new();
    let last = (0..units.len()).max_by(|&a, &b| units[a].end().total_cmp(&units[b].end()));
    let mut cursor = last.map(|p| (p, Waited::Start));
    while let Some((p, _)) = cursor {
        if critical_path.iter().any(|s| s.unit == p) {
            break;
        }
        let dependency = unblocked_by.get(&p).copied();
        let slot = || {
            (0..units.len())
                .filter(|&q| q != p && units[q].end() <= units[p].start + 0.011)
                .max_by(|&a, &b| units[a].end().total_cmp(&units[b].end()))
                .filter(|_| units[p].start > 0.011)
                .map(|q| (q, Waited::JobSlot))
        };
        let before = match dependency {
            Some((q, ready)) if units[p].start <= ready + 0.1 => Some((q, Waited::Dependency)),
            Some((q, _)) => slot().or(Some((q, Waited::Dependency))),
            None => slot(),
        };
        critical_path.push(Step {
            unit: p,
            waited_for: before.map_or(Waited::Start, |(_, w)| w),
        });
        cursor = before;
    }
    critical_path.reverse();
    for step in &critical_path {
        units[step.unit].on_critical_path = true;
    }
    let mut slowest: Vec<usize> = (0..units.len()).collect();
    slowest.sort_by(|&a, &b| units[b].seconds.total_cmp(&units[a].seconds));
    slowest.truncate(10);
    let first = units.iter().map(|u| u.start).fold(f64::INFINITY, f64::min);
    let wall_seconds = last.map_or(0.0, |p| units[p].end() - first.min(units[p].start));
    Timings {
        wall_seconds,
        critical_path_seconds: critical_path.iter().map(|s| units[s.unit].seconds).sum(),
        units,
        slowest,
        critical_path,
        idle_share: idle_share(cpu),
        jobs,
        profile: None,
        cpu: cpu.to_vec(),
    }
}

/// 1 − the time-weighted mean of cargo's CPU samples (each the machine's usage, in percent,
/// over the interval that ends at its time).
fn idle_share(cpu: &[(f64, f64)]) -> Option<f64> {
    let mut busy = 0.0;
    let mut span = 0.0;
    for pair in cpu.windows(2) {
        let dt = pair[1].0 - pair[0].0;
        if dt > 0.0 {
            busy += dt * pair[1].1.clamp(0.0, 100.0) / 100.0;
            span += dt;
        }
    }
    (span > 0.0).then(|| 1.0 - busy / span)
}

/// What ci_optims holds, for the advice on third-party units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prebuilt {
    /// ci_optims is current: every third-party unit of the build is precompiled by it.
    Current,
    /// ci_optims is missing or stale.
    Stale,
}

/// One line of advice, on one unit or on the whole build.
#[derive(Debug, Serialize)]
pub struct Advice {
    pub about: String,
    pub advice: String,
}

impl Timings {
    /// What to do, unit by unit (the slowest ones), then for the build as a whole.
    pub fn advice(&self, prebuilt: Prebuilt) -> Vec<Advice> {
        let mut out = Vec::new();
        // A unit built for several targets is listed once per target: advise once, on the
        // critical path if any of its copies is.
        let mut seen: Vec<&str> = Vec::new();
        for &p in &self.slowest {
            let unit = &self.units[p];
            if seen.contains(&unit.name.as_str()) {
                continue;
            }
            seen.push(&unit.name);
            let on_path = self
                .units
                .iter()
                .any(|u| u.name == unit.name && u.on_critical_path);
            let where_ = if on_path {
                "on the critical path"
            } else {
                "off the critical path (faster alone would not shorten the build)"
            };
            let advice = match (unit.kind, prebuilt) {
                (Kind::ThirdParty, Prebuilt::Current) => format!(
                    "{where_}; already precompiled by ci_optims: the Docker deps layer and the \
                     CI warm-up pay it once, an edit never does"
                ),
                (Kind::ThirdParty, Prebuilt::Stale) => format!(
                    "{where_}; `cargo xtask ci-optims sync` makes ci_optims precompile it, so \
                     Docker and CI pay it once"
                ),
                (Kind::Member, _) if on_path => format!(
                    "{where_}: the build waits for it; split it into crates that compile in \
                     parallel, or move its heavy generic code behind a smaller interface"
                ),
                (Kind::Member, _) => where_.to_string(),
                (Kind::BuildScriptRun, _) => format!(
                    "{where_}; if it compiles C or C++ (cc, cmake), `--cache sccache` caches those \
                     compiles too (cc-rs wraps the C compiler in the RUSTC_WRAPPER sccache), and \
                     ci_optims runs it once for Docker and CI"
                ),
                (Kind::ProcMacro, _) => format!(
                    "{where_}; a proc macro: compiled for the host before any crate that uses it \
                     (ci_optims precompiles a third-party one; keep a workspace one small)"
                ),
                (Kind::BuildScript, _) => format!(
                    "{where_}; build scripts compile unoptimized: keep their dependencies few"
                ),
            };
            out.push(Advice {
                about: unit.name.clone(),
                advice,
            });
        }
        let slot_waits = self
            .critical_path
            .iter()
            .filter(|s| s.waited_for == Waited::JobSlot)
            .count();
        if let Some(idle) = self.idle_share {
            let advice = if idle >= 0.25 || slot_waits == 0 {
                format!(
                    "the CPU was idle {:.0}% of the build: the chain of dependencies (the \
                     critical path, {:.1} s of units) sets the wall time, not the core count; \
                     shorten that chain (above), or build several targets in one cargo run to \
                     fill the idle time",
                    idle * 100.0,
                    self.critical_path_seconds
                )
            } else {
                format!(
                    "the CPU was idle only {:.0}% of the build, and {slot_waits} units of the \
                     critical path were ready but waited for a job slot: the cores are the \
                     limit; compile less (ci_optims and the Docker deps layer, sccache, fewer \
                     features) or use more cores",
                    idle * 100.0
                )
            };
            out.push(Advice {
                about: "whole build".into(),
                advice,
            });
        }
        out
    }

    /// A Gantt chart of the units over time (one row each, by start), coloured by kind, the
    /// critical path outlined, with cargo's CPU samples above.
    pub fn svg(&self, title: &str) -> String {
        let span = self
            .units
            .iter()
            .map(Unit::end)
            .fold(0.0_f64, f64::max)
            .max(0.001);
        let mut order: Vec<usize> = (0..self.units.len()).collect();
        order.sort_by(|&a, &b| self.units[a].start.total_cmp(&self.units[b].start));
        let frame = Frame {
            span,
            height: Frame::TOP + Frame::ROW * order.len() as f64 + 30.0,
        };
        let mut out = String::new();
        frame.header(&mut out, title);
        frame.time_axis(&mut out);
        self.cpu_band(&mut out, &frame);
        for (row, &p) in order.iter().enumerate() {
            frame.unit_row(&mut out, row, &self.units[p]);
        }
        out.push_str("</svg>\n");
        out
    }

    /// Cargo's CPU samples: a band under the legend, full height = every core busy.
    fn cpu_band(&self, out: &mut String, frame: &Frame) {
        if self.cpu.len() < 2 {
            return;
        }
        let points: Vec<String> = self
            .cpu
            .iter()
            .map(|&(t, usage)| {
                format!(
                    "{:.1},{:.1}",
                    frame.x(t),
                    80.0 - usage.clamp(0.0, 100.0) / 100.0 * 36.0
                )
            })
            .collect();
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="66" text-anchor="end">CPU (cargo's samples)</text><rect x="{}" y="44" width="{}" height="36" fill="#f4f4f4"/><polyline points="{}" fill="none" stroke="#555"/>"##,
            Frame::LABEL - 4.0,
            Frame::LABEL,
            Frame::PLOT,
            points.join(" ")
        );
    }
}

/// The Gantt chart's geometry: a label column, then the plot, where `span` seconds fill the
/// plot's width; one row per unit below the legend and the CPU band.
struct Frame {
    span: f64,
    height: f64,
}

impl Frame {
    const LABEL: f64 = 300.0;
    const PLOT: f64 = 900.0;
    const ROW: f64 = 9.0;
    const TOP: f64 = 90.0;

    fn x(&self, t: f64) -> f64 {
        Self::LABEL + t / self.span * Self::PLOT
    }

    /// The chart's element, its title and the legend (each kind's colour, the critical path).
    fn header(&self, out: &mut String, title: &str) {
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="8">"#,
            w = Self::LABEL + Self::PLOT + 20.0,
            height = self.height
        );
        let _ = writeln!(
            out,
            r#"<rect width="100%" height="100%" fill="white"/><text x="4" y="14" font-size="12">{}</text>"#,
            xml(title)
        );
        for (n, kind) in Kind::ALL.iter().enumerate() {
            let lx = 4.0 + n as f64 * 120.0;
            let _ = writeln!(
                out,
                r#"<rect x="{lx}" y="22" width="10" height="8" fill="{}"/><text x="{}" y="29">{}</text>"#,
                colour(*kind),
                lx + 14.0,
                kind.label()
            );
        }
        let _ = writeln!(
            out,
            r#"<rect x="604" y="22" width="10" height="8" fill="none" stroke="black" stroke-width="1.5"/><text x="618" y="29">critical path</text>"#
        );
    }

    /// The time axis, one tick per step that gives about ten ticks.
    fn time_axis(&self, out: &mut String) {
        let step = [1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0]
            .into_iter()
            .find(|s| self.span / s <= 12.0)
            .unwrap_or(1200.0);
        let mut t = 0.0;
        while t <= self.span {
            let _ = writeln!(
                out,
                r##"<line x1="{0:.1}" y1="40" x2="{0:.1}" y2="{1}" stroke="#e4e4e4"/><text x="{0:.1}" y="{2}" text-anchor="middle">{t:.0} s</text>"##,
                self.x(t),
                self.height - 22.0,
                self.height - 10.0
            );
            t += step;
        }
    }

    /// The `row`th unit: its name, its bar (outlined on the critical path), its time on hover.
    fn unit_row(&self, out: &mut String, row: usize, unit: &Unit) {
        let y = Self::TOP + row as f64 * Self::ROW;
        let stroke = if unit.on_critical_path {
            r#" stroke="black" stroke-width="1.5""#
        } else {
            ""
        };
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"{stroke}><title>{} {:.2} s</title></rect>"#,
            Self::LABEL - 4.0,
            y + Self::ROW - 2.0,
            xml(&unit.name),
            self.x(unit.start),
            y + 1.0,
            (unit.seconds / self.span * Self::PLOT).max(0.5),
            Self::ROW - 2.0,
            colour(unit.kind),
            xml(&unit.name),
            unit.seconds
        );
    }
}

fn xml(text: &str) -> String {
    crate::render::escape_html(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of cargo's report (1.95): a library `base` with a build script, a member `app`
    /// on top of it (started as soon as base's metadata was ready), and `side`, a third-party
    /// crate off the path.
    const REPORT: &str = r#"<html><tr><td>Profile:</td><td>dev</td></tr>
<td>Max concurrency:</td><td>2 (jobs=2 ncpu=2)</td><script>
const UNIT_DATA = [
  {"i": 0, "name": "base", "version": "1.0.0", "mode": "todo", "target": " build-script",
   "features": [], "start": 0.0, "duration": 1.0, "unblocked_units": [1], "unblocked_rmeta_units": [], "sections": null},
  {"i": 1, "name": "base", "version": "1.0.0", "mode": "run-custom-build", "target": " build-script (run)",
   "features": [], "start": 1.0, "duration": 4.0, "unblocked_units": [2], "unblocked_rmeta_units": [], "sections": null},
  {"i": 2, "name": "base", "version": "1.0.0", "mode": "todo", "target": "",
   "features": [], "start": 5.0, "duration": 3.0, "unblocked_units": [], "unblocked_rmeta_units": [3],
   "sections": [["frontend", {"start": 0.0, "end": 2.0}], ["codegen", {"start": 2.0, "end": 3.0}]]},
  {"i": 4, "name": "side", "version": "0.3.0", "mode": "todo", "target": "",
   "features": [], "start": 0.0, "duration": 6.0, "unblocked_units": [], "unblocked_rmeta_units": [], "sections": null},
  {"i": 3, "name": "app", "version": "0.1.0", "mode": "todo", "target": " bin \"app\"",
   "features": [], "start": 7.0, "duration": 5.0, "unblocked_units": [], "unblocked_rmeta_units": [], "sections": null}
];
const CONCURRENCY_DATA = [];
const CPU_USAGE = [[0.0, 100.0], [6.0, 100.0], [12.0, 50.0]];
</script></html>"#;

    fn timings() -> Timings {
        parse(REPORT, &|name| name == "app").unwrap()
    }

    #[test]
    fn the_critical_path_follows_who_unblocked_whom() {
        let t = timings();
        let path: Vec<&str> = t
            .critical_path
            .iter()
            .map(|s| t.units[s.unit].name.as_str())
            .collect();
        assert_eq!(
            path,
            [
                "base 1.0.0 build-script",
                "base 1.0.0 build-script (run)",
                "base 1.0.0",
                "app 0.1.0 bin \"app\""
            ]
        );
        assert_eq!(t.critical_path_seconds, 13.0);
        assert_eq!(t.wall_seconds, 12.0);
        assert!(!t.units[3].on_critical_path, "side ran beside the path");
        assert_eq!(t.jobs, Some(2));
        assert_eq!(t.profile.as_deref(), Some("dev"));
        // What each unit waited for last, by position: app needed only base's metadata, which
        // was ready 2 s into base's 3.
        let by = |p: usize| t.units[p].unblocked_by.map(|b| (b.unit, b.metadata));
        assert_eq!(
            [by(0), by(1), by(2), by(3), by(4)],
            [
                None,
                Some((0, false)),
                Some((1, false)),
                None,
                Some((2, true))
            ]
        );
        assert_eq!(t.units[2].metadata_seconds, Some(2.0));
        assert_eq!(t.units[4].metadata_seconds, None);
        assert_eq!(targets(REPORT), 1);
        assert_eq!(
            targets("<td>rustc 1.95.0<br>Host: x<br>Target: aarch64-unknown-linux-gnu, x86_64-unknown-linux-gnu</td>"),
            2
        );
    }

    #[test]
    fn slowest_first_and_kinds() {
        let t = timings();
        let slow: Vec<(&str, Kind)> = t
            .slowest
            .iter()
            .map(|&p| (t.units[p].package.as_str(), t.units[p].kind))
            .collect();
        assert_eq!(
            slow,
            [
                ("side", Kind::ThirdParty),
                ("app", Kind::Member),
                ("base", Kind::BuildScriptRun),
                ("base", Kind::ThirdParty),
                ("base", Kind::BuildScript)
            ]
        );
    }

    #[test]
    fn idle_share_weights_cargos_samples_by_time() {
        // 6 s at 100%, 6 s at 50%: a quarter of the CPU time idle.
        assert_eq!(timings().idle_share, Some(0.25));
        assert_eq!(idle_share(&[(0.3, 100.0)]), None, "one sample: too short");
    }

    #[test]
    fn advice_names_what_to_do() {
        let t = timings();
        let current = t.advice(Prebuilt::Current);
        let about = |name: &str| {
            current
                .iter()
                .find(|a| a.about.starts_with(name))
                .map(|a| a.advice.clone())
                .unwrap()
        };
        assert!(about("side").contains("off the critical path"));
        assert!(about("side").contains("already precompiled by ci_optims"));
        assert!(about("app").contains("split it"));
        assert!(about("base 1.0.0 build-script (run)").contains("--cache sccache"));
        assert!(about("whole build").contains("idle 25%"));
        let names: Vec<&str> = current.iter().map(|a| a.about.as_str()).collect();
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(names, unique, "one line per unit");
        let stale = t.advice(Prebuilt::Stale);
        assert!(stale[0].advice.contains("cargo xtask ci-optims sync"));
    }

    #[test]
    fn the_chart_draws_every_unit_and_outlines_the_path() {
        let svg = timings().svg("dev <x86_64>");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<title>").count(), 5);
        assert_eq!(
            svg.matches(r#"stroke="black" stroke-width="1.5"><title>"#)
                .count(),
            4
        );
        assert!(svg.contains("dev &lt;x86_64&gt;"));
        assert!(svg.contains("bin &quot;app&quot;"));
    }

    #[test]
    fn a_ready_unit_that_started_late_waited_for_a_job_slot() {
        let unit = |i: usize, name: &str, start: f64, duration: f64| RawUnit {
            i,
            name: name.into(),
            version: "1.0.0".into(),
            mode: "todo".into(),
            target: String::new(),
            start,
            duration,
            unblocked_units: Vec::new(),
            unblocked_rmeta_units: Vec::new(),
            sections: None,
        };
        // Two jobs, three independent crates: `late` ran when `long` freed its slot.
        let raw = [
            unit(0, "long", 0.0, 5.0),
            unit(1, "short", 0.0, 4.0),
            unit(2, "late", 5.0, 2.0),
        ];
        let t = analyse(&raw, &[(0.0, 100.0), (7.0, 95.0)], Some(2), &|_| false);
        let path: Vec<(&str, Waited)> = t
            .critical_path
            .iter()
            .map(|s| (t.units[s.unit].package.as_str(), s.waited_for))
            .collect();
        assert_eq!(path, [("long", Waited::Start), ("late", Waited::JobSlot)]);
        let whole = t.advice(Prebuilt::Current).pop().unwrap();
        assert!(
            whole.advice.contains("waited for a job slot"),
            "{}",
            whole.advice
        );
    }

    #[test]
    fn kind_names_are_the_json_names() {
        for kind in Kind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
    }

    #[test]
    fn an_unknown_format_names_the_fix() {
        let err = parse("<html></html>", &|_| false).unwrap_err().to_string();
        assert!(
            err.contains("UNIT_DATA") && err.contains("rust-toolchain"),
            "{err}"
        );
    }
}

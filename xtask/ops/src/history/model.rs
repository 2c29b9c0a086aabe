//! The build-time history's model: one point per measured build, and what a point says against
//! the points before it.
//!
//! The noise rule (printed with every comparison), per metric (the total, the critical path,
//! each unit), on times scaled by the speed control to the newest point's machine speed, and
//! again on raw times (a change counts only when both say so: a slower machine is not a slower
//! build, and the control's own swing is not one either):
//!   1. at least `MIN_POINTS` earlier comparable points (same variant, build mode, machine and
//!      toolchain) hold the metric, else the comparison says it cannot tell;
//!   2. the new time is outside the fence of those points: above Q3 + 3 × IQR (slower) or
//!      below Q1 − 3 × IQR (faster), the rule rustc-perf calls a change significant by;
//!   3. and it moved from their median by more than the floor: `MIN_DELTA` seconds and
//!      `MIN_SHARE` of the median (a unit's time is wall time: the first units of a cold build
//!      on two cores wait for the CPU by hundreds of milliseconds).
//!
//! A unit the earlier points never had is new (counted when it takes longer than the floor);
//! one the latest earlier point had and the new point lacks is gone. Against one chosen point
//! (`--compare A B`) the fence is that point's time ± 3 × the IQR of the earlier points.

use crate::sccache::dist::DistStats;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Bump when a point's fields or the speed control's meaning change.
pub const FORMAT: u32 = 1;
pub const MIN_POINTS: usize = 5;
pub const FENCE_IQRS: f64 = 3.0;
pub const MIN_DELTA: f64 = 1.0;
pub const MIN_SHARE: f64 = 0.10;

/// The rule, in one sentence, for every table and comment.
pub fn rule_text() -> String {
    format!(
        "rule: on raw times and on times scaled by the speed control alike, a time changed only when at least \
         {MIN_POINTS} earlier comparable points (same variant, mode, machine, toolchain) have it, \
         it lies outside Q1 − {FENCE_IQRS:.0}×IQR … Q3 + {FENCE_IQRS:.0}×IQR of theirs, and it \
         moved from their median by more than {MIN_DELTA} s and {:.0}%",
        MIN_SHARE * 100.0
    )
}

/// One measured build.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Point {
    pub format: u32,
    pub commit: String,
    /// The tree had changes beyond the commit.
    pub dirty: bool,
    /// RFC 3339.
    pub date: String,
    /// What measured it: `timings`, a workflow.
    pub source: String,
    pub variant: String,
    /// `cold` (every unit compiled) or `warm`.
    pub mode: String,
    pub machine: Machine,
    /// `rustc -V`.
    pub toolchain: String,
    /// The speed control's seconds (the mean of before and after the build), if timed.
    pub control_seconds: Option<f64>,
    pub total_seconds: f64,
    /// None where the build's units were not timed (a bench scenario).
    pub critical_path_seconds: Option<f64>,
    /// Keys of the units on the critical path, first to last.
    pub critical_path: Vec<String>,
    pub units: Vec<UnitTime>,
    /// Built through an sccache-dist cluster: what went there, what stayed here and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distributed: Option<DistStats>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub os: String,
}

/// One unit's time in a point.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnitTime {
    /// The package and the target, without the version (`serde`, `app build-script (run)`),
    /// so that a bumped crate keeps its key.
    pub key: String,
    pub package: String,
    pub version: String,
    pub kind: UnitKind,
    pub seconds: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum UnitKind {
    Member,
    ThirdParty,
    ProcMacro,
    BuildScript,
    BuildScriptRun,
}

impl UnitKind {
    pub const ALL: [UnitKind; 5] = [
        UnitKind::Member,
        UnitKind::ThirdParty,
        UnitKind::ProcMacro,
        UnitKind::BuildScript,
        UnitKind::BuildScriptRun,
    ];

    /// Its name in tables, as in JSON.
    pub fn name(self) -> String {
        crate::render::name(&self)
    }

    /// Is it a unit as every count of this tool counts one: what cargo reports as a
    /// `compiler-artifact` message? A build script's run is timed, but it is no such unit.
    pub fn is_compiled(self) -> bool {
        self != UnitKind::BuildScriptRun
    }

    pub fn label(self) -> &'static str {
        match self {
            UnitKind::Member => "workspace crate",
            UnitKind::ThirdParty => "third-party crate",
            UnitKind::ProcMacro => "proc macro",
            UnitKind::BuildScript => "build script (compile)",
            UnitKind::BuildScriptRun => "build script (run)",
        }
    }
}

/// The longest time a point may hold (a week): anything else is not a measured build.
pub const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

impl Point {
    /// Is every time in it one a build can take: finite, not negative, at most [`MAX_SECONDS`]?
    /// A history can come from another branch's CI: a time that is not is no measurement.
    pub fn times_are_sane(&self) -> bool {
        let sane = |t: f64| t.is_finite() && (0.0..=MAX_SECONDS).contains(&t);
        sane(self.total_seconds)
            && self.control_seconds.is_none_or(sane)
            && self.critical_path_seconds.is_none_or(sane)
            && self.units.iter().all(|u| sane(u.seconds))
    }

    /// The units the build compiled (see [`UnitKind::is_compiled`]).
    pub fn units_compiled(&self) -> usize {
        self.units.iter().filter(|u| u.kind.is_compiled()).count()
    }

    /// Can this point's times be held against `other`'s?
    pub fn comparable(&self, other: &Point) -> bool {
        self.format == other.format
            && self.variant == other.variant
            && self.mode == other.mode
            && self.machine == other.machine
            && self.toolchain == other.toolchain
            // A build through a cluster is timed against such builds only.
            && self.distributed.is_some() == other.distributed.is_some()
    }

    /// The factor that scales this point's times to the machine speed of `reference` (a
    /// control time); 1 when either was not timed.
    fn scale(&self, reference: Option<f64>) -> f64 {
        match (self.control_seconds, reference) {
            (Some(own), Some(reference)) if own > 0.0 => reference / own,
            _ => 1.0,
        }
    }

    /// Each unit key's seconds (a key twice, e.g. two versions of a crate: summed).
    pub fn unit_seconds(&self) -> BTreeMap<&str, f64> {
        let mut out = BTreeMap::new();
        for unit in &self.units {
            *out.entry(unit.key.as_str()).or_insert(0.0) += unit.seconds;
        }
        out
    }

    fn unit(&self, key: &str) -> Option<&UnitTime> {
        self.units.iter().find(|u| u.key == key)
    }
}

/// The rule's fence around quartiles `q1` and `q3`: Q1 − 3×IQR … Q3 + 3×IQR.
pub fn fence(q1: f64, q3: f64) -> (f64, f64) {
    let iqr = q3 - q1;
    (q1 - FENCE_IQRS * iqr, q3 + FENCE_IQRS * iqr)
}

/// First quartile, median, third quartile (linear interpolation between closest ranks).
pub fn quartiles(values: &[f64]) -> Option<(f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let rank = q * (sorted.len() - 1) as f64;
        let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
        sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
    };
    Some((at(0.25), at(0.5), at(0.75)))
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Slower,
    Faster,
    NoChange,
    New,
    Gone,
    /// Too few earlier points to judge: the delta is shown, not judged.
    CannotTell,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Slower => "slower",
            Verdict::Faster => "faster",
            Verdict::NoChange => "no change",
            Verdict::New => "new",
            Verdict::Gone => "gone",
            Verdict::CannotTell => "cannot tell",
        }
    }

    /// Worth a line in a report.
    pub fn flagged(self) -> bool {
        matches!(
            self,
            Verdict::Slower | Verdict::Faster | Verdict::New | Verdict::Gone
        )
    }
}

/// What one metric did.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// `total`, `critical path`, or a unit's key.
    pub metric: String,
    pub kind: Option<UnitKind>,
    pub verdict: Verdict,
    /// The earlier points' median (or the chosen point's time), scaled.
    pub before: Option<f64>,
    pub after: Option<f64>,
    /// The fence the new time had to leave.
    pub fence: Option<(f64, f64)>,
    /// How many earlier points had it.
    pub points: usize,
    /// What explains it, where something does.
    pub why: Vec<String>,
}

impl Change {
    pub fn delta(&self) -> f64 {
        self.after.unwrap_or(0.0) - self.before.unwrap_or(0.0)
    }
}

/// What the new time is held against.
#[derive(Debug, Clone, Copy)]
pub enum Against {
    /// The median and quartiles of the earlier points.
    Median,
    /// One chosen earlier time; the earlier points give the noise (their IQR).
    Point(Option<f64>),
}

/// The rule applied to one metric: `earlier` are the earlier points' (scaled) times.
pub fn judge(metric: &str, earlier: &[f64], after: Option<f64>, against: Against) -> Change {
    let mut change = Change {
        metric: metric.to_string(),
        kind: None,
        verdict: Verdict::NoChange,
        before: None,
        after,
        fence: None,
        points: earlier.len(),
        why: Vec::new(),
    };
    let Some((q1, median, q3)) = quartiles(earlier) else {
        change.verdict = match after {
            Some(t) if t > MIN_DELTA => Verdict::New,
            _ => Verdict::NoChange,
        };
        return change;
    };
    let iqr = q3 - q1;
    let (before, fence) = match against {
        Against::Median => (median, fence(q1, q3)),
        Against::Point(None) => {
            change.verdict = Verdict::New;
            return change;
        }
        Against::Point(Some(t)) => (t, (t - FENCE_IQRS * iqr, t + FENCE_IQRS * iqr)),
    };
    change.before = Some(before);
    change.fence = Some(fence);
    let Some(after) = after else {
        change.verdict = if before > MIN_DELTA {
            Verdict::Gone
        } else {
            Verdict::NoChange
        };
        return change;
    };
    if earlier.len() < MIN_POINTS {
        change.verdict = Verdict::CannotTell;
        return change;
    }
    let floor = MIN_DELTA.max(MIN_SHARE * before);
    change.verdict = if after > fence.1 && after - before > floor {
        Verdict::Slower
    } else if after < fence.0 && before - after > floor {
        Verdict::Faster
    } else {
        Verdict::NoChange
    };
    change
}

/// What changed between the compared commits, found in git (see `history::evidence`).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Evidence {
    /// Cargo.lock: package → what happened to it (`added 1.2.3`, `bumped 1.0.0 → 1.1.0`).
    pub lockfile: BTreeMap<String, String>,
    /// Members whose build script changed (or came).
    pub build_scripts: BTreeSet<String>,
    /// Members whose sources changed: lines added, removed.
    pub grown: BTreeMap<String, (u64, u64)>,
    /// Why git could not say, if it could not.
    pub unknown: Option<String>,
}

/// Every metric of `new` against `earlier` (comparable points, oldest first).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub commit: String,
    /// The commit the changes are explained from (the latest earlier point's, or the chosen).
    pub base: Option<String>,
    pub earlier_points: usize,
    /// Scaled by the speed control (every point had it timed).
    pub scaled: bool,
    pub total: Change,
    pub critical_path: Change,
    /// The flagged units, slowest change first.
    pub units: Vec<Change>,
    /// Units on the new critical path that the base's did not have.
    pub new_on_critical_path: Vec<String>,
    /// Why nothing could be judged, when so.
    pub cannot_tell: Option<String>,
    /// The biggest slower or new units, each with its cause where one was found.
    pub causes: Vec<String>,
    pub evidence: Evidence,
}

/// The comparison of `new` with `earlier` (its comparable points, oldest first); `base`: a
/// chosen earlier point instead of their median.
pub fn compare(earlier: &[&Point], new: &Point, base: Option<&Point>) -> Comparison {
    let reference = new.control_seconds;
    let scaled = reference.is_some() && earlier.iter().all(|p| p.control_seconds.is_some());
    let factor = |p: &Point, scale: bool| if scale { p.scale(reference) } else { 1.0 };
    let against = |time: Option<f64>| match base {
        None => Against::Median,
        Some(_) => Against::Point(time),
    };
    // One metric judged on times scaled by the control, and on raw times when they differ:
    // a change counts only when both say so (a slower machine is not a slower build; nor is
    // a noisy control's swing).
    let judged = |metric: &str, f: &dyn Fn(&Point) -> Option<f64>| -> Change {
        let on = |scale: bool| {
            let series: Vec<f64> = earlier
                .iter()
                .filter_map(|p| f(p).map(|t| t * factor(p, scale)))
                .collect();
            let base_time = base.and_then(|b| f(b).map(|t| t * factor(b, scale)));
            judge(metric, &series, f(new), against(base_time))
        };
        let mut change = on(scaled);
        if scaled
            && matches!(change.verdict, Verdict::Slower | Verdict::Faster)
            && on(false).verdict != change.verdict
        {
            change.verdict = Verdict::NoChange;
        }
        change
    };
    let total = judged("total", &|p: &Point| Some(p.total_seconds));
    let critical_path = judged("critical path", &|p: &Point| p.critical_path_seconds);
    let latest = base.or(earlier.last().copied());
    let mut keys: BTreeSet<&str> = new.units.iter().map(|u| u.key.as_str()).collect();
    keys.extend(
        latest
            .iter()
            .flat_map(|p| p.units.iter().map(|u| u.key.as_str())),
    );
    let mut units: Vec<Change> = keys
        .into_iter()
        .map(|key| {
            let mut change = judged(key, &|p: &Point| p.unit_seconds().get(key).copied());
            let unit = new.unit(key).or_else(|| latest.and_then(|p| p.unit(key)));
            change.kind = unit.map(|u| u.kind);
            change
        })
        .filter(|c| c.verdict.flagged())
        .collect();
    if latest.is_none() {
        // Nothing to hold the units against: none of them is "new".
        units.clear();
    }
    let (mut total, mut critical_path) = (total, critical_path);
    if earlier.is_empty() {
        total.verdict = Verdict::CannotTell;
        critical_path.verdict = Verdict::CannotTell;
    }
    units.sort_by(|a, b| b.delta().abs().total_cmp(&a.delta().abs()));
    let on_base_path: BTreeSet<&str> = latest
        .map(|p| p.critical_path.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let new_on_critical_path = new
        .critical_path
        .iter()
        .filter(|k| !on_base_path.contains(k.as_str()))
        .cloned()
        .collect();
    let cannot_tell = (earlier.len() < MIN_POINTS).then(|| {
        format!(
            "cannot tell: {} earlier comparable point(s), the rule needs {MIN_POINTS}; the deltas are shown, nothing is judged",
            earlier.len()
        )
    });
    Comparison {
        commit: new.commit.clone(),
        base: latest.map(|p| p.commit.clone()),
        earlier_points: earlier.len(),
        scaled,
        total,
        critical_path,
        units,
        new_on_critical_path,
        cannot_tell,
        causes: Vec::new(),
        evidence: Evidence::default(),
    }
}

impl Comparison {
    /// Put what `evidence` says beside each flagged unit, and the biggest causes beside the
    /// total and the critical path.
    pub fn explain(&mut self, evidence: Evidence, new: &Point) {
        let package_of = |key: &str| {
            new.units
                .iter()
                .find(|u| u.key == key)
                .map(|u| u.package.clone())
                .unwrap_or_else(|| key.split_whitespace().next().unwrap_or(key).to_string())
        };
        for change in &mut self.units {
            let package = package_of(&change.metric);
            if let Some(what) = evidence.lockfile.get(&package) {
                change.why.push(format!("Cargo.lock: {package} {what}"));
            }
            let script = matches!(
                change.kind,
                Some(UnitKind::BuildScript | UnitKind::BuildScriptRun)
            );
            if script && evidence.build_scripts.contains(&package) {
                change.why.push(format!("{package}'s build script changed"));
            }
            if change.kind == Some(UnitKind::Member) {
                if let Some((added, removed)) = evidence.grown.get(&package) {
                    change
                        .why
                        .push(format!("{package}'s sources: +{added} −{removed} lines"));
                }
            }
            if self.new_on_critical_path.contains(&change.metric) {
                change.why.push("now on the critical path".into());
            }
        }
        let causes: Vec<String> = self
            .units
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Slower | Verdict::New) && c.delta() > 0.0)
            .take(3)
            .map(|c| {
                let why = c.why.first().map(|w| format!(": {w}")).unwrap_or_default();
                format!(
                    "{} {:+.1} s ({}){why}",
                    c.metric,
                    c.delta(),
                    c.verdict.as_str()
                )
            })
            .collect();
        for metric in [&mut self.total, &mut self.critical_path] {
            if metric.verdict == Verdict::Slower {
                metric.why = causes.clone();
            }
        }
        self.causes = causes;
        self.evidence = evidence;
    }

    /// Anything slower, or a new unit of weight (a gate's question).
    pub fn regressed(&self) -> bool {
        self.total.verdict == Verdict::Slower
            || self
                .units
                .iter()
                .any(|c| matches!(c.verdict, Verdict::Slower | Verdict::New))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn point(commit: &str, total: f64, units: &[(&str, UnitKind, f64)]) -> Point {
        Point {
            format: FORMAT,
            commit: commit.into(),
            dirty: false,
            date: "2026-12-03T00:00:00Z".into(),
            source: "test".into(),
            variant: "dev".into(),
            mode: "cold".into(),
            machine: Machine {
                cpu: "cpu".into(),
                cores: 2,
                os: "linux".into(),
            },
            toolchain: "rustc 1.95.0".into(),
            control_seconds: Some(0.25),
            total_seconds: total,
            critical_path_seconds: Some(total * 0.8),
            critical_path: units.iter().map(|u| u.0.to_string()).take(2).collect(),
            distributed: None,
            units: units
                .iter()
                .map(|(key, kind, seconds)| UnitTime {
                    key: key.to_string(),
                    package: key.split_whitespace().next().unwrap().to_string(),
                    version: "1.0.0".into(),
                    kind: *kind,
                    seconds: *seconds,
                })
                .collect(),
        }
    }

    /// Ten noisy A/A points: the same build, ±15% at random.
    fn aa(n: usize) -> Vec<Point> {
        let noise = [
            1.0, 1.12, 0.91, 1.05, 0.97, 1.15, 0.88, 1.02, 0.95, 1.08, 0.93, 1.1,
        ];
        (0..n)
            .map(|i| {
                let f = noise[i % noise.len()];
                point(
                    &format!("c{i}"),
                    20.0 * f,
                    &[
                        ("app", UnitKind::Member, 3.0 * f),
                        ("core", UnitKind::Member, 2.0 * f),
                        ("serde", UnitKind::ThirdParty, 4.0 * f),
                        ("tiny", UnitKind::ThirdParty, 0.05 * f),
                    ],
                )
            })
            .collect()
    }

    #[test]
    fn quartiles_interpolate_between_ranks() {
        assert_eq!(quartiles(&[1.0, 2.0, 3.0, 4.0, 5.0]), Some((2.0, 3.0, 4.0)));
        assert_eq!(quartiles(&[4.0, 1.0]), Some((1.75, 2.5, 3.25)));
        assert_eq!(quartiles(&[]), None);
    }

    #[test]
    fn an_aa_history_flags_nothing_at_any_point() {
        let points = aa(12);
        for n in MIN_POINTS..points.len() {
            let earlier: Vec<&Point> = points[..n].iter().collect();
            let c = compare(&earlier, &points[n], None);
            assert_eq!(
                c.total.verdict,
                Verdict::NoChange,
                "point {n}: {:?}",
                c.total
            );
            assert!(c.units.is_empty(), "point {n}: {:?}", c.units);
            assert!(!c.regressed());
        }
    }

    #[test]
    fn the_first_point_has_nothing_to_be_new_against() {
        let points = aa(1);
        let c = compare(&[], &points[0], None);
        assert!(c.units.is_empty(), "{:?}", c.units);
        assert!(c.cannot_tell.is_some());
        assert!(!c.regressed());
    }

    #[test]
    fn with_too_few_points_it_cannot_tell_and_says_so() {
        let points = aa(4);
        let earlier: Vec<&Point> = points[..3].iter().collect();
        let mut slow = points[3].clone();
        slow.total_seconds *= 3.0;
        let c = compare(&earlier, &slow, None);
        assert_eq!(c.total.verdict, Verdict::CannotTell);
        assert!(c.cannot_tell.as_deref().unwrap().contains("cannot tell"));
        assert!(!c.regressed());
    }

    #[test]
    fn a_new_heavy_dependency_is_named_with_its_lockfile_change() {
        let points = aa(10);
        let earlier: Vec<&Point> = points.iter().collect();
        let mut new = points[9].clone();
        new.commit = "heavy".into();
        new.units.push(UnitTime {
            key: "regex-syntax".into(),
            package: "regex-syntax".into(),
            version: "0.8.5".into(),
            kind: UnitKind::ThirdParty,
            seconds: 10.0,
        });
        new.total_seconds += 10.0;
        new.critical_path_seconds = new.critical_path_seconds.map(|t| t + 10.0);
        new.critical_path.push("regex-syntax".into());
        let mut c = compare(&earlier, &new, None);
        let evidence = Evidence {
            lockfile: [("regex-syntax".to_string(), "added 0.8.5".to_string())].into(),
            ..Evidence::default()
        };
        c.explain(evidence, &new);
        assert_eq!(c.total.verdict, Verdict::Slower, "{:?}", c.total);
        assert_eq!(c.units[0].metric, "regex-syntax");
        assert_eq!(c.units[0].verdict, Verdict::New);
        assert!(
            c.units[0].why.iter().any(|w| w.contains("added 0.8.5")),
            "{:?}",
            c.units[0]
        );
        assert!(c.units[0].why.iter().any(|w| w.contains("critical path")));
        assert!(c.total.why[0].contains("regex-syntax"), "{:?}", c.total.why);
        assert!(c.regressed());
    }

    #[test]
    fn a_grown_member_is_slower_beyond_its_noise_and_named_with_its_lines() {
        let points = aa(10);
        let earlier: Vec<&Point> = points.iter().collect();
        let mut new = points[0].clone();
        new.units[1].seconds = 9.0; // core: 2 s → 9 s
        new.total_seconds += 7.0;
        let mut c = compare(&earlier, &new, None);
        let evidence = Evidence {
            grown: [("core".to_string(), (4000, 2))].into(),
            ..Evidence::default()
        };
        c.explain(evidence, &new);
        assert_eq!(c.units.len(), 1, "{:?}", c.units);
        assert_eq!(c.units[0].verdict, Verdict::Slower);
        assert!(c.units[0].why[0].contains("+4000"), "{:?}", c.units[0].why);
    }

    #[test]
    fn a_move_inside_the_units_own_noise_is_no_change() {
        let points = aa(10);
        let earlier: Vec<&Point> = points.iter().collect();
        let mut new = points[0].clone();
        new.units[2].seconds = 4.0 * 1.3; // serde: +30%, 1.2 s, but within 3 IQRs? IQR ≈ 0.5 s
        let c = compare(&earlier, &new, None);
        assert!(c.units.iter().all(|u| u.metric != "serde"), "{:?}", c.units);
        // A tiny unit tripled is below the floor.
        let mut tiny = points[0].clone();
        tiny.units[3].seconds = 0.15;
        assert!(compare(&earlier, &tiny, None).units.is_empty());
    }

    #[test]
    fn times_are_scaled_by_the_speed_control() {
        let points = aa(10);
        let earlier: Vec<&Point> = points.iter().collect();
        // The whole machine 60% slower: the control says so, nothing is flagged.
        let mut slow_machine = points[0].clone();
        slow_machine.control_seconds = Some(0.4);
        slow_machine.total_seconds *= 1.6;
        for u in &mut slow_machine.units {
            u.seconds *= 1.6;
        }
        let c = compare(&earlier, &slow_machine, None);
        assert!(c.scaled);
        assert_eq!(c.total.verdict, Verdict::NoChange, "{:?}", c.total);
        assert!(c.units.is_empty(), "{:?}", c.units);
    }

    #[test]
    fn a_swing_of_the_control_alone_is_no_change() {
        let points = aa(10);
        let earlier: Vec<&Point> = points.iter().collect();
        // The control ran twice as fast once; the build took what it always takes.
        let mut new = points[0].clone();
        new.control_seconds = Some(0.125);
        let c = compare(&earlier, &new, None);
        assert!(c.scaled);
        assert_eq!(c.total.verdict, Verdict::NoChange, "{:?}", c.total);
        assert!(c.units.is_empty(), "{:?}", c.units);
    }

    #[test]
    fn against_a_chosen_point_the_earlier_points_give_the_noise() {
        let points = aa(10);
        let earlier: Vec<&Point> = points.iter().collect();
        let mut new = points[3].clone();
        new.total_seconds = points[3].total_seconds + 10.0;
        let c = compare(&earlier, &new, Some(&points[3]));
        assert_eq!(c.total.verdict, Verdict::Slower);
        assert_eq!(c.base.as_deref(), Some("c3"));
        let same = compare(&earlier, &points[4], Some(&points[3]));
        assert_eq!(same.total.verdict, Verdict::NoChange, "{:?}", same.total);
    }
}

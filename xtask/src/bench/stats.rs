//! Statistics of repeated timings and the verdict of a comparison.
//!
//! The verdict rule (printed with every comparison): a scenario changed only when
//!   1. the median moved by more than `threshold` (default 10%),
//!   2. by more than 50 ms (the resolution of a process start and a timer on a busy machine),
//!   3. and the runs do not overlap: every current run is slower than every baseline run (or
//!      faster than every one).
//!
//! Rule 3 is what keeps noise out: for two sets of 5 runs of the same build, all 5 land above
//! all 5 others by chance once in 252 times. Rule 1 keeps a tiny-but-consistent shift from
//! failing a CI gate; rule 2 keeps sub-second scenarios from flagging jitter.
//!
//! Rule 4: where the CPU time of the runs was measured (cargo and everything it ran; not for
//! a Docker rebuild, which runs in the engine), it must give the same verdict. Another build on
//! the machine stretches wall time by tens of percent at random but barely moves the CPU time of
//! ours (seen here: a build script's work on 2 cores with another build running, wall 1.8-3.0 s,
//! CPU 1.52-1.73 s), so a wall-time move the CPU time does not share is load, not the build. What
//! this costs: a change of parallelism alone (the same work, a longer wait) is named in the
//! verdict's note but does not fail the gate.
//!
//! Rule 3 assumes the machine keeps its speed. A shared VM does not: it drifts by 20-30% over
//! minutes, and then every run of a compare lands above every run of the baseline. So before
//! the rule is applied, each run is scaled by the speed control timed around it (`adjust`).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stats {
    pub runs: usize,
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Stats {
    /// `None` for no samples.
    pub fn of(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Stats {
            runs: n,
            min: sorted[0],
            median,
            max: sorted[n - 1],
        })
    }

    /// max - min.
    pub fn range(&self) -> f64 {
        self.max - self.min
    }

    /// The range relative to the median, in percent (0 for a zero median).
    pub fn spread_percent(&self) -> f64 {
        if self.median > 0.0 {
            100.0 * self.range() / self.median
        } else {
            0.0
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Faster,
    Slower,
    NoChange,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::NoChange => "no change",
        }
    }
}

/// Scale each run to the machine speed of `reference`: `sample × reference / control`, where
/// `control` is the speed control's time around that run (see `control`). A run made while
/// the machine was 20% slow (control 20% slower) counts as if made at the reference speed.
pub fn adjust(samples: &[f64], controls: &[f64], reference: f64) -> Vec<f64> {
    samples
        .iter()
        .zip(controls)
        .map(|(sample, control)| sample * reference / control)
        .collect()
}

/// Smallest change of the median that can count, in seconds.
pub const MIN_DELTA_SECONDS: f64 = 0.05;

/// One sentence saying how verdicts are decided, for tables and reports.
pub fn rule_text(threshold: f64) -> String {
    format!(
        "verdict: a change counts only if the median moved by more than {:.0}% and more than \
         {:.0} ms, no current run overlaps the baseline's runs (all slower, or all faster), and, \
         where CPU time was measured, the CPU time of the runs says the same (a move of wall time \
         alone is load on the machine)",
        threshold * 100.0,
        MIN_DELTA_SECONDS * 1000.0
    )
}

/// Rule 4: the verdict of the wall times, held against that of the CPU times when there are
/// any; a disagreement is no change, with the reason.
pub fn combined(wall: Verdict, cpu: Option<Verdict>) -> (Verdict, Option<&'static str>) {
    match cpu {
        None => (wall, None),
        Some(cpu) if cpu == wall => (wall, None),
        Some(Verdict::NoChange) => (
            Verdict::NoChange,
            Some("wall time moved, CPU time did not: load on the machine, not the build"),
        ),
        Some(_) if wall == Verdict::NoChange => {
            (Verdict::NoChange, Some("CPU time moved, wall time did not"))
        }
        Some(_) => (Verdict::NoChange, Some("wall and CPU time moved apart")),
    }
}

/// Compare `current` with `baseline` under the rule above; `threshold` is a fraction (0.10).
pub fn verdict(baseline: &Stats, current: &Stats, threshold: f64) -> Verdict {
    let delta = current.median - baseline.median;
    if delta.abs() <= MIN_DELTA_SECONDS {
        return Verdict::NoChange;
    }
    // From a zero baseline no ratio exists: the absolute move decides.
    let beyond_threshold =
        baseline.median <= 0.0 || (current.median / baseline.median - 1.0).abs() > threshold;
    if !beyond_threshold {
        Verdict::NoChange
    } else if current.min > baseline.max {
        Verdict::Slower
    } else if current.max < baseline.min {
        Verdict::Faster
    } else {
        Verdict::NoChange
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(samples: &[f64]) -> Stats {
        Stats::of(samples).unwrap()
    }

    #[test]
    fn median_min_max() {
        assert_eq!(Stats::of(&[]), None);
        let one = s(&[2.0]);
        assert_eq!(
            (one.runs, one.min, one.median, one.max, one.range()),
            (1, 2.0, 2.0, 2.0, 0.0)
        );
        let odd = s(&[3.0, 1.0, 2.0]);
        assert_eq!((odd.min, odd.median, odd.max), (1.0, 2.0, 3.0));
        let even = s(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(even.median, 2.5);
        assert_eq!(even.spread_percent(), 120.0);
        assert_eq!(s(&[0.0, 0.0]).spread_percent(), 0.0);
    }

    #[test]
    fn adjust_scales_each_run_to_the_reference_speed() {
        // The second run was made while the machine was 25% slower, the third 20% faster.
        let adjusted = adjust(&[1.0, 1.25, 0.8], &[0.2, 0.25, 0.16], 0.2);
        assert_eq!(adjusted.len(), 3);
        for a in adjusted {
            assert!((a - 1.0).abs() < 1e-12, "{a}");
        }
        // A slower build on a machine of unchanged speed stays slower.
        assert_eq!(adjust(&[1.2], &[0.2], 0.2), [1.2]);
    }

    #[test]
    fn machine_drift_is_no_change_once_adjusted_but_a_slower_build_still_is() {
        let base_runs = [0.60, 0.62, 0.61, 0.63, 0.60];
        let base_controls = [0.25, 0.26, 0.25, 0.26, 0.25];
        let reference = Stats::of(&base_controls).unwrap().median;
        let base = s(&adjust(&base_runs, &base_controls, reference));
        // The machine got 28% slower: raw runs all land above the baseline's.
        let drift_runs: Vec<f64> = base_runs.iter().map(|r| r * 1.28).collect();
        let drift_controls: Vec<f64> = base_controls.iter().map(|c| c * 1.28).collect();
        assert_eq!(verdict(&base, &s(&drift_runs), 0.10), Verdict::Slower);
        let drift = s(&adjust(&drift_runs, &drift_controls, reference));
        assert_eq!(verdict(&base, &drift, 0.10), Verdict::NoChange);
        // The build got 20% slower; the machine did not (the control did not move).
        let slower: Vec<f64> = base_runs.iter().map(|r| r * 1.2).collect();
        let slower = s(&adjust(&slower, &base_controls, reference));
        assert_eq!(verdict(&base, &slower, 0.10), Verdict::Slower);
    }

    #[test]
    fn identical_runs_are_no_change() {
        let a = s(&[1.0, 1.0, 1.0]);
        assert_eq!(verdict(&a, &a, 0.10), Verdict::NoChange);
    }

    #[test]
    fn zero_spread_uses_the_threshold_alone() {
        let base = s(&[1.0, 1.0]);
        assert_eq!(
            verdict(&base, &s(&[1.05, 1.05]), 0.10),
            Verdict::NoChange,
            "5% is under the threshold"
        );
        assert_eq!(verdict(&base, &s(&[1.2, 1.2]), 0.10), Verdict::Slower);
        assert_eq!(verdict(&base, &s(&[0.8, 0.8]), 0.10), Verdict::Faster);
    }

    #[test]
    fn a_move_inside_the_noise_is_no_change() {
        // +30% median, but the runs overlap.
        let base = s(&[0.6, 1.0, 1.4]);
        let cur = s(&[0.9, 1.3, 1.7]);
        assert_eq!(verdict(&base, &cur, 0.10), Verdict::NoChange);
        // The same move with tight runs is a slowdown.
        assert_eq!(
            verdict(&s(&[0.99, 1.0, 1.01]), &s(&[1.29, 1.3, 1.31]), 0.10),
            Verdict::Slower
        );
    }

    #[test]
    fn single_runs_compare_by_threshold() {
        assert_eq!(verdict(&s(&[10.0]), &s(&[12.0]), 0.10), Verdict::Slower);
        assert_eq!(verdict(&s(&[10.0]), &s(&[10.9]), 0.10), Verdict::NoChange);
    }

    #[test]
    fn zero_baseline() {
        let zero = s(&[0.0]);
        assert_eq!(verdict(&zero, &zero, 0.10), Verdict::NoChange);
        assert_eq!(verdict(&zero, &s(&[0.5]), 0.10), Verdict::Slower);
    }

    #[test]
    fn one_overlapping_run_is_enough_to_say_no_change() {
        let base = s(&[1.0, 1.0, 1.0, 1.0, 1.3]);
        assert_eq!(
            verdict(&base, &s(&[1.25, 1.3, 1.3, 1.3, 1.3]), 0.10),
            Verdict::NoChange
        );
        assert_eq!(
            verdict(&base, &s(&[1.31, 1.4, 1.4, 1.4, 1.4]), 0.10),
            Verdict::Slower
        );
    }

    #[test]
    fn tiny_absolute_moves_are_jitter() {
        // +40%, separated, but 40 ms.
        assert_eq!(
            verdict(&s(&[0.10, 0.10]), &s(&[0.14, 0.14]), 0.10),
            Verdict::NoChange
        );
        assert_eq!(
            verdict(&s(&[0.10, 0.10]), &s(&[0.16, 0.16]), 0.10),
            Verdict::Slower
        );
    }

    #[test]
    fn a_wall_time_move_the_cpu_time_does_not_share_is_load() {
        use Verdict::*;
        assert_eq!(combined(Slower, Some(Slower)), (Slower, None));
        assert_eq!(
            combined(Faster, None),
            (Faster, None),
            "no CPU time: wall decides"
        );
        let (verdict, note) = combined(Slower, Some(NoChange));
        assert_eq!(verdict, NoChange);
        assert!(note.unwrap().contains("load"));
        assert_eq!(combined(NoChange, Some(Slower)).0, NoChange);
        assert_eq!(combined(Faster, Some(Slower)).0, NoChange);
        // The numbers measured here under load: wall 1.8-3.0 s, CPU 1.52-1.73 s; no change.
        let wall = verdict_of(
            &[1.81, 1.90, 2.00, 2.10, 2.20],
            &[2.70, 2.79, 2.89, 2.96, 2.99],
        );
        assert_eq!(wall, Slower);
        let cpu = verdict_of(
            &[1.52, 1.57, 1.61, 1.64, 1.66],
            &[1.66, 1.67, 1.72, 1.73, 1.70],
        );
        assert_eq!(combined(wall, Some(cpu)).0, NoChange);
    }

    fn verdict_of(base: &[f64], current: &[f64]) -> Verdict {
        verdict(&s(base), &s(current), 0.10)
    }

    #[test]
    fn the_rule_is_stated() {
        let text = rule_text(0.1);
        assert!(text.contains("10%") && text.contains("50 ms"), "{text}");
    }
}

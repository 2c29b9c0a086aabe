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

/// Smallest change of the median that can count, in seconds.
pub const MIN_DELTA_SECONDS: f64 = 0.05;

/// One sentence saying how verdicts are decided, for tables and reports.
pub fn rule_text(threshold: f64) -> String {
    format!(
        "verdict: a change counts only if the median moved by more than {:.0}% and more than \
         {:.0} ms, and no current run overlaps the baseline's runs (all slower, or all faster)",
        threshold * 100.0,
        MIN_DELTA_SECONDS * 1000.0
    )
}

/// Compare `current` with `baseline` under the rule above; `threshold` is a fraction (0.10).
pub fn verdict(baseline: &Stats, current: &Stats, threshold: f64) -> Verdict {
    let delta = current.median - baseline.median;
    if delta.abs() <= MIN_DELTA_SECONDS {
        return Verdict::NoChange;
    }
    let separated_slower = current.min > baseline.max;
    let separated_faster = current.max < baseline.min;
    let beyond_threshold = |slower: bool| {
        if baseline.median <= 0.0 {
            // No relative change from a zero baseline: the absolute move decides.
            return true;
        }
        let ratio = current.median / baseline.median;
        if slower {
            ratio > 1.0 + threshold
        } else {
            ratio < 1.0 - threshold
        }
    };
    if delta > 0.0 && separated_slower && beyond_threshold(true) {
        Verdict::Slower
    } else if delta < 0.0 && separated_faster && beyond_threshold(false) {
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
    fn the_rule_is_stated() {
        let text = rule_text(0.1);
        assert!(text.contains("10%") && text.contains("50 ms"), "{text}");
    }
}

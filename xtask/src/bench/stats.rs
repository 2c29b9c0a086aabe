//! Statistics of repeated timings and the verdict of a comparison.
//!
//! The verdict rule (printed with every comparison): a scenario changed only when
//!   1. the median moved by more than `threshold` (default 10%), and
//!   2. the move is larger than the noise of both runs: half the baseline's range plus half the
//!      current range (max - min of each).
//!
//! Rule 2 keeps noisy scenarios from being flagged by chance; rule 1 keeps tiny-but-stable
//! shifts (a 2% change with zero spread) from failing a CI gate.

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

/// One sentence saying how verdicts are decided, for tables and reports.
pub fn rule_text(threshold: f64) -> String {
    format!(
        "verdict: a change counts only if the median moved by more than {:.0}% and by more than \
         half the baseline's range plus half the current range (max - min of each)",
        threshold * 100.0
    )
}

/// Compare `current` with `baseline` under the rule above; `threshold` is a fraction (0.10).
pub fn verdict(baseline: &Stats, current: &Stats, threshold: f64) -> Verdict {
    let delta = current.median - baseline.median;
    let noise = baseline.range() / 2.0 + current.range() / 2.0;
    if delta.abs() <= noise {
        return Verdict::NoChange;
    }
    if baseline.median <= 0.0 {
        // No relative change can be computed from a zero baseline; a real move beyond the
        // noise still counts.
        return if delta > 0.0 {
            Verdict::Slower
        } else {
            Verdict::Faster
        };
    }
    let ratio = current.median / baseline.median;
    if ratio > 1.0 + threshold {
        Verdict::Slower
    } else if ratio < 1.0 - threshold {
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
        // +30% median, but the runs range over 0.8 s each: noise 0.8 > delta 0.3.
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
    fn the_rule_is_stated() {
        assert!(rule_text(0.1).contains("10%"));
    }
}

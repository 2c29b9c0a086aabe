//! Aggregation of samples: count, sum, min, max, mean and nearest-rank percentiles.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

impl Summary {
    /// Summarise `values`; `None` when there are none.
    pub fn from_values(mut values: Vec<f64>) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let count = values.len();
        let sum: f64 = values.iter().sum();
        Some(Summary {
            count,
            sum,
            min: values[0],
            max: values[count - 1],
            mean: sum / count as f64,
            p50: percentile(&values, 50.0),
            p90: percentile(&values, 90.0),
            p99: percentile(&values, 99.0),
        })
    }
}

/// Nearest-rank percentile of sorted, non-empty `values`: the smallest value such that at
/// least `p` percent of the values are less than or equal to it.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of no values");
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_has_no_summary() {
        assert_eq!(Summary::from_values(vec![]), None);
    }

    #[test]
    fn one_value_is_every_statistic() {
        let s = Summary::from_values(vec![7.0]).unwrap();
        assert_eq!(
            (s.count, s.min, s.max, s.mean, s.p50, s.p99),
            (1, 7.0, 7.0, 7.0, 7.0, 7.0)
        );
    }

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let s = Summary::from_values(values).unwrap();
        assert_eq!(s.count, 100);
        assert_eq!(s.sum, 5050.0);
        assert_eq!(s.mean, 50.5);
        assert_eq!((s.min, s.max), (1.0, 100.0));
        assert_eq!((s.p50, s.p90, s.p99), (50.0, 90.0, 99.0));
    }

    #[test]
    fn percentile_of_small_sets() {
        assert_eq!(percentile(&[1.0, 2.0], 50.0), 1.0);
        assert_eq!(percentile(&[1.0, 2.0], 51.0), 2.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.0), 1.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 100.0), 3.0);
    }
}

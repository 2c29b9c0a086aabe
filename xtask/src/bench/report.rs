//! How bench results are shown: a terminal table, markdown (PR comments, step summaries),
//! JSON, and a self-contained HTML page with an SVG bar chart.

use super::baseline::{control_reference, cpu_control_reference, Baseline, ScenarioResult};
use super::stats::{combined, rule_text, verdict, Stats, Verdict};
use crate::render::{escape_html as escape, Table};
use serde::Serialize;
use std::fmt::Write;

/// The machine's speed at the baseline and now, by the speed control (see `control`), and
/// whether the times were scaled by it.
#[derive(Debug, Clone, Serialize)]
pub struct Speed {
    /// Median seconds of the speed control over the baseline's runs: the reference speed.
    pub baseline_control: f64,
    /// The same over this compare's runs (`None` when no scenario ran).
    pub current_control: Option<f64>,
    /// The control's median CPU time at the baseline: the reference CPU times are scaled to.
    pub baseline_cpu_control: Option<f64>,
    /// `None`: times are scaled run by run to the reference speed; `Some(why)`: raw times.
    pub not_applied: Option<String>,
}

impl Speed {
    pub fn new<'a>(
        base: &Baseline,
        current: impl IntoIterator<Item = &'a ScenarioResult>,
        not_applied: Option<String>,
    ) -> Speed {
        Speed {
            baseline_control: control_reference(&base.results)
                .expect("a loaded baseline has results"),
            current_control: control_reference(current),
            baseline_cpu_control: cpu_control_reference(&base.results),
            not_applied,
        }
    }

    /// The control time that times are scaled to, if they are.
    fn reference(&self) -> Option<f64> {
        self.not_applied.is_none().then_some(self.baseline_control)
    }

    /// The same for CPU times.
    fn cpu_reference(&self) -> Option<f64> {
        self.not_applied
            .is_none()
            .then_some(self.baseline_cpu_control)
            .flatten()
    }

    pub fn text(&self) -> String {
        let now = match self.current_control {
            Some(now) => format!(
                "{now:.3} s now, {:.3} s at the baseline (machine {:+.1}%)",
                self.baseline_control,
                100.0 * (now / self.baseline_control - 1.0)
            ),
            None => format!("{:.3} s at the baseline", self.baseline_control),
        };
        match &self.not_applied {
            None => format!(
                "speed control: {now}; each run is scaled to the baseline's machine speed \
                 (--no-speed-control for raw times)"
            ),
            Some(why) => format!("speed control: {now}; times are raw ({why})"),
        }
    }
}

/// One row of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    /// Scaled to the baseline's machine speed unless `Speed::not_applied`.
    pub baseline: Stats,
    /// `None`: the scenario was skipped now (the reason is in `note`).
    pub current: Option<Stats>,
    /// Of the times as measured.
    pub baseline_raw: Stats,
    pub current_raw: Option<Stats>,
    pub units_compiled: Option<usize>,
    /// CPU seconds of the runs (scaled like the wall times), where measured.
    pub baseline_cpu: Option<Stats>,
    pub current_cpu: Option<Stats>,
    /// The verdict of the wall times alone, and of the CPU times alone.
    pub wall_verdict: Option<Verdict>,
    pub cpu_verdict: Option<Verdict>,
    /// Both held together (see `stats::combined`): what the gate acts on.
    pub verdict: Option<Verdict>,
    pub note: Option<String>,
}

impl Row {
    pub fn delta(&self) -> Option<f64> {
        self.current.map(|c| c.median - self.baseline.median)
    }

    pub fn delta_percent(&self) -> Option<f64> {
        let delta = self.delta()?;
        (self.baseline.median > 0.0).then(|| 100.0 * delta / self.baseline.median)
    }
}

#[derive(Debug, Serialize)]
pub struct Comparison {
    pub baseline_name: String,
    pub threshold: f64,
    pub rule: String,
    pub speed: Speed,
    pub warnings: Vec<String>,
    pub rows: Vec<Row>,
}

impl Comparison {
    pub fn new(
        baseline_name: &str,
        threshold: f64,
        warnings: Vec<String>,
        speed: Speed,
        pairs: Vec<(&ScenarioResult, Result<&ScenarioResult, String>)>,
    ) -> Comparison {
        let stats = |r: &ScenarioResult| match speed.reference() {
            Some(reference) => r.adjusted_stats(reference),
            None => r.stats(),
        };
        let cpu_stats = |r: &ScenarioResult| r.cpu_stats(speed.cpu_reference());
        let rows = pairs
            .into_iter()
            .map(|(base, current)| {
                let baseline = stats(base);
                match current {
                    Ok(cur) => {
                        let current = stats(cur);
                        let (baseline_cpu, current_cpu) = (cpu_stats(base), cpu_stats(cur));
                        let wall_verdict = verdict(&baseline, &current, threshold);
                        let cpu_verdict = match (&baseline_cpu, &current_cpu) {
                            (Some(b), Some(c)) => Some(verdict(b, c, threshold)),
                            _ => None,
                        };
                        let (both, note) = combined(wall_verdict, cpu_verdict);
                        Row {
                            scenario: base.scenario.id.clone(),
                            baseline,
                            current: Some(current),
                            baseline_raw: base.stats(),
                            current_raw: Some(cur.stats()),
                            units_compiled: cur.units_compiled.iter().max().copied(),
                            baseline_cpu,
                            current_cpu,
                            wall_verdict: Some(wall_verdict),
                            cpu_verdict,
                            verdict: Some(both),
                            note: note.map(String::from),
                        }
                    }
                    Err(reason) => Row {
                        scenario: base.scenario.id.clone(),
                        baseline,
                        current: None,
                        baseline_raw: base.stats(),
                        current_raw: None,
                        units_compiled: None,
                        baseline_cpu: cpu_stats(base),
                        current_cpu: None,
                        wall_verdict: None,
                        cpu_verdict: None,
                        verdict: None,
                        note: Some(format!("skipped: {reason}")),
                    },
                }
            })
            .collect();
        Comparison {
            baseline_name: baseline_name.into(),
            threshold,
            rule: rule_text(threshold),
            speed,
            warnings,
            rows,
        }
    }

    pub fn regressed(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|r| r.verdict == Some(Verdict::Slower))
            .map(|r| r.scenario.as_str())
            .collect()
    }

    fn cells(&self, row: &Row) -> [String; 7] {
        let median = |s: &Stats| format!("{:.2} s ±{:.0}%", s.median, s.spread_percent() / 2.0);
        [
            row.scenario.clone(),
            median(&row.baseline),
            row.current
                .as_ref()
                .map(median)
                .unwrap_or_else(|| "-".into()),
            row.delta()
                .map(|d| format!("{d:+.2} s"))
                .unwrap_or_else(|| "-".into()),
            row.delta_percent()
                .map(|d| format!("{d:+.1}%"))
                .unwrap_or_else(|| "-".into()),
            row.units_compiled
                .map(|u| u.to_string())
                .unwrap_or_else(|| "-".into()),
            match (&row.verdict, &row.note) {
                (Some(v), Some(note)) => format!("{} ({note})", v.as_str()),
                (Some(v), None) => v.as_str().into(),
                (None, Some(note)) => note.clone(),
                (None, None) => "-".into(),
            },
        ]
    }

    const HEADER: [&'static str; 7] = [
        "scenario",
        "baseline median",
        "current median",
        "Δ",
        "Δ%",
        "units compiled",
        "verdict",
    ];

    pub fn table(&self) -> Table {
        let mut table = Table::new(Self::HEADER);
        for row in &self.rows {
            table.row(self.cells(row));
        }
        table
    }

    /// The table for a terminal, with the rule, the speed control and any warning.
    pub fn text(&self) -> String {
        let mut out = format!(
            "compared with baseline `{}`\n{}\n{}\n{}",
            self.baseline_name,
            self.table().terminal(),
            self.rule,
            self.speed.text()
        );
        for w in &self.warnings {
            let _ = write!(out, "\nwarning: {w}");
        }
        out
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("### Build times vs baseline `{}`\n\n", self.baseline_name);
        out.push_str(&self.table().markdown());
        let _ = write!(
            out,
            "\n_{}; ± is half the range of the runs._\n\n_{}._\n",
            self.rule,
            self.speed.text()
        );
        for w in &self.warnings {
            let _ = write!(out, "\n> **warning:** {w}\n");
        }
        out
    }
}

/// Summary of a fresh measurement (no comparison): one row per scenario.
pub fn results_table(results: &[ScenarioResult]) -> Table {
    let mut table = Table::new([
        "scenario",
        "median",
        "min",
        "max",
        "runs",
        "units compiled",
        "edit",
    ]);
    for r in results {
        let s = r.stats();
        table.row([
            r.scenario.id.clone(),
            format!("{:.2} s", s.median),
            format!("{:.2} s", s.min),
            format!("{:.2} s", s.max),
            s.runs.to_string(),
            r.units_compiled
                .iter()
                .max()
                .map(|u| u.to_string())
                .unwrap_or_default(),
            r.scenario.edit_file.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    table
}

/// A self-contained HTML page: an SVG chart of baseline vs current medians per scenario, with
/// min–max whiskers, then the table. `current` is empty for a baseline-only report.
pub fn html(
    title: &str,
    subtitle: &str,
    bars: &[(String, Stats, Option<Stats>, Option<Verdict>)],
    table: &Table,
) -> String {
    let row_height = 46.0;
    let (label_w, chart_w, pad) = (190.0, 560.0, 20.0);
    let height = pad * 2.0 + row_height * bars.len() as f64 + 30.0;
    let max = bars
        .iter()
        .flat_map(|(_, b, c, _)| std::iter::once(b.max).chain(c.map(|c| c.max)))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let x = |v: f64| label_w + chart_w * v / max;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n",
        label_w + chart_w + 120.0
    );
    for (i, (name, base, current, verdict)) in bars.iter().enumerate() {
        let y = pad + row_height * i as f64;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            label_w - 8.0,
            y + 20.0,
            escape(name)
        );
        let mut bar = |y: f64, s: &Stats, color: &str, label: &str| {
            let _ = writeln!(
                svg,
                "<rect x=\"{label_w}\" y=\"{y}\" width=\"{:.1}\" height=\"16\" fill=\"{color}\"><title>{label}: median {:.3} s, min {:.3} s, max {:.3} s</title></rect>\
                 <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#333\"/>\
                 <text x=\"{:.1}\" y=\"{}\">{:.2} s</text>",
                x(s.median) - label_w,
                s.median,
                s.min,
                s.max,
                x(s.min),
                x(s.max),
                y + 8.0,
                y + 8.0,
                x(s.max) + 6.0,
                y + 12.0,
                s.median
            );
        };
        bar(y + 2.0, base, "#9aa5b1", "baseline");
        if let Some(cur) = current {
            let color = match verdict {
                Some(Verdict::Slower) => "#d64545",
                Some(Verdict::Faster) => "#3f9142",
                _ => "#2f6fbd",
            };
            bar(y + 20.0, cur, color, "current");
        }
    }
    let legend_y = height - 14.0;
    let _ = writeln!(
        svg,
        "<rect x=\"{label_w}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"#9aa5b1\"/><text x=\"{}\" y=\"{legend_y}\">baseline</text>\
         <rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"#2f6fbd\"/><text x=\"{}\" y=\"{legend_y}\">current (red: slower, green: faster)</text>",
        legend_y - 10.0,
        label_w + 16.0,
        label_w + 90.0,
        legend_y - 10.0,
        label_w + 106.0
    );
    svg.push_str("</svg>\n");
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}</style>\n\
         </head><body>\n<h1>{t}</h1>\n<p>{s}</p>\n{svg}{table}</body></html>\n",
        t = escape(title),
        s = escape(subtitle),
        table = table.html()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::baseline::Machine;
    use crate::bench::scenario::Scenario;

    fn stats(v: &[f64]) -> Stats {
        Stats::of(v).unwrap()
    }

    fn result(samples: &[f64], controls: &[f64]) -> ScenarioResult {
        let scenario = Scenario::example("incr-core/dev", Some("core/src/lib.rs"));
        ScenarioResult::example(scenario, samples, controls, 3)
    }

    fn baseline(results: Vec<ScenarioResult>) -> Baseline {
        Baseline::example(Machine::detect("rustc 1.95.0", "x"), results)
    }

    fn compare(base: &Baseline, current: &ScenarioResult, raw: bool) -> Comparison {
        let speed = Speed::new(
            base,
            std::slice::from_ref(current),
            raw.then(|| "--no-speed-control".to_string()),
        );
        Comparison::new(
            "main",
            0.1,
            vec!["baseline from another machine".into()],
            speed,
            vec![(&base.results[0], Ok(current))],
        )
    }

    #[test]
    fn markdown_has_a_row_per_scenario_and_states_the_rule() {
        let base = baseline(vec![result(&[1.0, 1.0], &[0.2, 0.2])]);
        let cmp = compare(&base, &result(&[2.0, 2.0], &[0.2, 0.2]), false);
        let md = cmp.markdown();
        assert!(
            md.contains(
                "| incr-core/dev | 1.00 s ±0% | 2.00 s ±0% | +1.00 s | +100.0% | 3 | slower |"
            ),
            "{md}"
        );
        assert!(md.contains("10%") && md.contains("**warning:** baseline from another machine"));
        assert!(
            md.contains("speed control: 0.200 s now, 0.200 s at the baseline"),
            "{md}"
        );
        assert_eq!(cmp.regressed(), ["incr-core/dev"]);
        assert!(cmp.text().contains("slower"));
    }

    #[test]
    fn a_slower_machine_is_scaled_away_unless_raw_times_are_asked_for() {
        let base = baseline(vec![result(&[1.0, 1.02, 0.98], &[0.2, 0.2, 0.2])]);
        // Every run 25% slower, and so was the control around it.
        let now = result(&[1.25, 1.275, 1.225], &[0.25, 0.25, 0.25]);
        let cmp = compare(&base, &now, false);
        assert_eq!(cmp.rows[0].verdict, Some(Verdict::NoChange));
        assert!((cmp.rows[0].current.unwrap().median - 1.0).abs() < 1e-9);
        assert_eq!(cmp.rows[0].current_raw.unwrap().median, 1.25);
        assert!(cmp.text().contains("(machine +25.0%)"), "{}", cmp.text());
        assert!(cmp.regressed().is_empty());

        let raw = compare(&base, &now, true);
        assert_eq!(raw.rows[0].verdict, Some(Verdict::Slower));
        assert!(raw.text().contains("times are raw (--no-speed-control)"));
    }

    #[test]
    fn html_report_is_self_contained_with_one_bar_pair_per_scenario() {
        let bars = vec![
            (
                "cold/dev".to_string(),
                stats(&[10.0, 12.0]),
                Some(stats(&[11.0, 13.0])),
                Some(Verdict::NoChange),
            ),
            ("noop/<dev>".to_string(), stats(&[0.1]), None, None),
        ];
        let mut table = Table::new(["a", "b"]);
        table.row(["1", "2"]);
        let page = html("t", "s", &bars, &table);
        assert!(page.starts_with("<!doctype html>") && page.contains("<svg"));
        assert_eq!(
            page.matches("<rect").count(),
            3 + 2,
            "3 bars and 2 legend swatches"
        );
        assert!(page.contains("noop/&lt;dev&gt;"), "labels are escaped");
        assert!(
            !page.contains("http://") || page.matches("http://").count() == 1,
            "no external resources"
        );
        assert!(page.contains("<td>1</td>"));
    }
}

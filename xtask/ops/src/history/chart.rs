//! The history's chart: total and critical-path time per point as measured, the noise band of
//! the total (the fence of the noise rule on raw times over the points before the newest), and
//! the newest point marked.

use super::model::{self, Point};
use std::fmt::Write as _;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 48.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 44.0;

/// The chart of `points` (oldest first; the last is the one judged) as an SVG document;
/// `unit`: a unit whose time is drawn too (the biggest change the comparison found).
pub fn svg(points: &[Point], unit: Option<&str>) -> String {
    if points.is_empty() {
        return empty("no points yet");
    }
    let totals: Vec<f64> = points.iter().map(|p| p.total_seconds).collect();
    let band = noise_band(points);
    let top = totals
        .iter()
        .copied()
        .chain(band.map(|b| b.1))
        .fold(0.1_f64, f64::max)
        * 1.1;
    let frame = Frame {
        top,
        points: points.len(),
    };
    let mut out = header();
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="20" font-size="13">Build time per point (s){}</text>"#,
        if band.is_some() {
            ", and the total's noise band before the last point"
        } else {
            ""
        }
    );
    if let Some((low, high)) = band {
        let _ = writeln!(
            out,
            r##"<rect x="{LEFT}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#3b75af" fill-opacity="0.12"><title>noise band of the total: {low:.2} … {high:.2} s</title></rect>"##,
            frame.y(high),
            WIDTH - LEFT - RIGHT,
            (frame.y(low) - frame.y(high)).max(1.0)
        );
    }
    axis(&mut out, &frame);
    series(&mut out, &frame, points, &totals, "#3b75af", "total");
    if points.iter().any(|p| p.critical_path_seconds.is_some()) {
        let paths: Vec<f64> = points
            .iter()
            .map(|p| p.critical_path_seconds.unwrap_or(0.0))
            .collect();
        series(&mut out, &frame, points, &paths, "#d9482b", "critical path");
    }
    let unit_label = unit.map(|k| format!("unit: {k}"));
    if let (Some(key), Some(label)) = (unit, &unit_label) {
        let times: Vec<f64> = points
            .iter()
            .map(|p| p.unit_seconds().get(key).copied().unwrap_or(0.0))
            .collect();
        series(&mut out, &frame, points, &times, "#2a9d4b", label);
    }
    labels(&mut out, &frame, points, unit_label.as_deref());
    out.push_str("</svg>\n");
    out
}

/// The rule's fence of the total over the points before the last that are comparable with
/// it, once there are enough of them.
fn noise_band(points: &[Point]) -> Option<(f64, f64)> {
    let (new, earlier) = points.split_last()?;
    let totals: Vec<f64> = earlier
        .iter()
        .filter(|p| p.comparable(new))
        .map(|p| p.total_seconds)
        .collect();
    if totals.len() < model::MIN_POINTS {
        return None;
    }
    let (q1, _, q3) = model::quartiles(&totals)?;
    let (low, high) = model::fence(q1, q3);
    Some((low.max(0.0), high))
}

/// Where a point and a time go in the plot.
struct Frame {
    /// Seconds at the top of the plot.
    top: f64,
    points: usize,
}

impl Frame {
    fn x(&self, i: usize) -> f64 {
        let span = (self.points.max(2) - 1) as f64;
        LEFT + (WIDTH - LEFT - RIGHT) * i as f64 / span
    }

    fn y(&self, t: f64) -> f64 {
        TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - t / self.top)
    }
}

/// One line of times, a dot per point with its commit and time on hover.
fn series(
    out: &mut String,
    frame: &Frame,
    points: &[Point],
    times: &[f64],
    colour: &str,
    name: &str,
) {
    let line: Vec<String> = times
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{:.1},{:.1}", frame.x(i), frame.y(*t)))
        .collect();
    let _ = writeln!(
        out,
        r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
        line.join(" ")
    );
    for (i, t) in times.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{} {}: {t:.2} s</title></circle>"#,
            frame.x(i),
            frame.y(*t),
            super::short(&points[i].commit),
            crate::render::escape_html(name)
        );
    }
}

/// Each point's commit under it (the judged one in bold), and the legend.
fn labels(out: &mut String, frame: &Frame, points: &[Point], unit_label: Option<&str>) {
    for (i, p) in points.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle"{}>{}</text>"#,
            frame.x(i),
            HEIGHT - BOTTOM + 14.0,
            if i + 1 == points.len() {
                r#" font-weight="bold""#
            } else {
                ""
            },
            &super::short(&p.commit)[..7.min(p.commit.len())]
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="{LEFT}" y="{}" font-size="11"><tspan fill="#3b75af">● total</tspan>  <tspan fill="#d9482b">● critical path</tspan>{}</text>"##,
        HEIGHT - 10.0,
        unit_label
            .map(|l| format!(
                r##"  <tspan fill="#2a9d4b">● {}</tspan>"##,
                crate::render::escape_html(l)
            ))
            .unwrap_or_default()
    );
}

fn header() -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
"#
    )
}

fn empty(message: &str) -> String {
    format!(
        "{}<text x=\"{LEFT}\" y=\"40\">{message}</text>\n</svg>\n",
        header()
    )
}

/// The time axis: four grid lines with their seconds.
fn axis(out: &mut String, frame: &Frame) {
    for step in 0..=4 {
        let t = frame.top * f64::from(step) / 4.0;
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{t:.1}</text>"##,
            WIDTH - RIGHT,
            frame.y(t),
            frame.y(t),
            LEFT - 6.0,
            frame.y(t) + 3.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_band_appears_once_there_are_enough_points_and_holds_them() {
        let mut points: Vec<Point> = (0..6)
            .map(|i| model::tests::point(&format!("c{i:07}"), 10.0 + f64::from(i % 2) * 0.1, &[]))
            .collect();
        let few = svg(&points[..3], None);
        assert!(!few.contains("noise band of the total"), "{few}");
        points.push(model::tests::point("slow0000", 20.0, &[]));
        let chart = svg(&points, None);
        assert!(chart.contains("noise band of the total"), "{chart}");
        assert_eq!(
            chart.matches("<circle").count(),
            14,
            "two series of seven points"
        );
        assert!(chart.contains("slow0000 total: 20.00 s"), "{chart}");
        assert!(svg(&[], None).contains("no points yet"));
    }
}

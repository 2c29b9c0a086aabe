//! One table type, drawn for a terminal, as markdown (pull-request comments, step summaries),
//! as HTML, or as JSON rows; and the `--format` every command takes.

use serde::Serialize;
use std::fmt::Write;

/// How a command prints its result (`--format`, or `--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// For people: tables (for `changes`: `key=value` lines for $GITHUB_OUTPUT).
    #[default]
    #[value(alias = "table", alias = "key-value")]
    Text,
    /// Markdown, for pull-request comments and job summaries.
    Markdown,
    /// JSON on stdout, for machines.
    Json,
}

/// What every command is asked at the edge: how to print, whether to run, whether to wait.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub format: Format,
    /// Print the plan; run nothing.
    pub dry_run: bool,
    /// Fail at once instead of waiting for an output another command holds.
    pub no_wait: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Table {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// Boxed, with columns as wide as their widest cell (counted in characters).
    pub fn terminal(&self) -> String {
        let columns = self.header.len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .filter_map(|row| row.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let rule = |left: &str, fill: &str, mid: &str, right: &str| -> String {
            let parts: Vec<String> = widths.iter().map(|w| fill.repeat(w + 2)).collect();
            format!("{left}{}{right}\n", parts.join(mid))
        };
        let line = |row: &[String]| -> String {
            let cells: Vec<String> = (0..columns)
                .map(|c| {
                    let cell = row.get(c).map(String::as_str).unwrap_or("");
                    let pad = widths[c] - cell.chars().count();
                    format!(" {cell}{} ", " ".repeat(pad))
                })
                .collect();
            format!("│{}│\n", cells.join("┆"))
        };
        let mut out = rule("┌", "─", "┬", "┐");
        out.push_str(&line(&self.header));
        out.push_str(&rule("╞", "═", "╪", "╡"));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out.push_str(&rule("└", "─", "┴", "┘"));
        out.trim_end().to_string()
    }

    pub fn markdown(&self) -> String {
        let mut out = format!(
            "| {} |\n|{}\n",
            self.header.join(" | "),
            " --- |".repeat(self.header.len())
        );
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out
    }

    pub fn html(&self) -> String {
        let cells = |tag: &str, row: &[String]| -> String {
            row.iter()
                .map(|c| format!("<{tag}>{}</{tag}>", escape_html(c)))
                .collect()
        };
        let mut out = format!("<table>\n<tr>{}</tr>\n", cells("th", &self.header));
        for row in &self.rows {
            let _ = writeln!(out, "<tr>{}</tr>", cells("td", row));
        }
        out.push_str("</table>\n");
        out
    }
}

pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The name a value has in JSON (its serde name: `incr-leaf`, `linux/arm64`): the one spelling
/// of a name that tables, ids and flags also use, so that no second copy has to be kept equal.
pub fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        other => panic!("{other:?} is not a plain name"),
    }
}

/// Print `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Now, as RFC 3339 in UTC to the second (`2026-11-22T06:15:19Z`): what manifests, baselines
/// and image labels record.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// When an artifact is said to be made: `SOURCE_DATE_EPOCH` (seconds since 1970, the
/// reproducible-builds convention) when set, else now; as RFC 3339 in UTC.
pub fn build_time() -> anyhow::Result<String> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if !value.trim().is_empty() => value.trim().parse::<u64>().map(rfc3339).map_err(|_| {
            anyhow::anyhow!(
                "SOURCE_DATE_EPOCH={value} is not a count of seconds since 1970 (e.g. `git log -1 --format=%ct`)"
            )
        }),
        _ => Ok(utc_now()),
    }
}

/// Seconds since 1970 as an RFC 3339 UTC timestamp (the proleptic Gregorian calendar, by
/// Howard Hinnant's days-to-civil algorithm).
fn rfc3339(secs: u64) -> String {
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

pub fn human_size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= 1024.0 * MIB {
        format!("{:.1} GiB", bytes as f64 / MIB / 1024.0)
    } else if bytes as f64 >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::new(["scenario", "median"]);
        t.row(["noop/<dev>", "0.10 s"]);
        t
    }

    #[test]
    fn one_table_three_ways() {
        let t = table();
        assert_eq!(
            t.markdown(),
            "| scenario | median |\n| --- | --- |\n| noop/<dev> | 0.10 s |\n"
        );
        assert!(t.html().contains("<td>noop/&lt;dev&gt;</td>"));
        let text = t.terminal();
        assert!(
            text.contains("scenario") && text.contains("noop/<dev>"),
            "{text}"
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_328_119), "2026-11-22T06:15:19Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(utc_now().len(), "2026-11-22T06:15:19Z".len());
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(2048), "2.0 KiB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(human_size(5 << 30), "5.0 GiB");
    }
}

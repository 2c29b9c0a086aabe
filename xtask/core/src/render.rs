//! One table type, drawn for a terminal, as markdown (pull-request comments, step summaries),
//! as HTML, or as JSON rows; and the `--format` every command takes.

use chrono::{DateTime, SecondsFormat, Utc};
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

    /// Boxed, with columns as wide as their widest cell; long cells wrap between words to fit
    /// a terminal narrower than that (`terminal_width`); narrower still, a list.
    pub fn terminal(&self) -> String {
        self.terminal_within(terminal_width())
    }

    /// Boxed, fitted into `width` columns when there is one: cells wrap between words, never
    /// inside one (a path, a command, a fix stays whole, to be copied). When even the longest
    /// word of each column cannot stand side by side in `width`, a list: one block per row,
    /// one `header: cell` line per cell.
    fn terminal_within(&self, width: Option<u16>) -> String {
        let columns = self.header.len();
        let longest_word = |c: usize| {
            std::iter::once(&self.header[c])
                .chain(self.rows.iter().filter_map(|row| row.get(c)))
                .flat_map(|cell| cell.split_whitespace())
                .map(|word| word.chars().count())
                .max()
                .unwrap_or(0)
        };
        let floors: Vec<usize> = (0..columns).map(longest_word).collect();
        // Each column's padding and border: "│ " … " ┆", and the last border.
        let needed = floors.iter().sum::<usize>() + 3 * columns + 1;
        if width.is_some_and(|w| needed > usize::from(w)) {
            return self.list();
        }
        let mut table = comfy_table::Table::new();
        table
            .load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
            .set_header(&self.header);
        for row in &self.rows {
            table.add_row((0..columns).map(|c| row.get(c).map_or("", String::as_str)));
        }
        if let Some(width) = width {
            table
                .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
                .set_width(width);
            for (column, floor) in table.column_iter_mut().zip(&floors) {
                // comfy-table's widths count the cell's padding, a space each side.
                let floor = u16::try_from(floor + 2).unwrap_or(u16::MAX);
                column.set_constraint(comfy_table::ColumnConstraint::LowerBoundary(
                    comfy_table::Width::Fixed(floor),
                ));
            }
        }
        table.to_string()
    }

    /// One block per row, one `header: cell` line per non-empty cell (indented after the
    /// first); cells of a column without a header (a ✓/✗) lead the block's first line.
    fn list(&self) -> String {
        let blocks: Vec<String> = self
            .rows
            .iter()
            .map(|row| {
                let cells = || self.header.iter().zip(row).filter(|(_, c)| !c.is_empty());
                let lead: Vec<&str> = cells()
                    .filter(|(h, _)| h.is_empty())
                    .map(|(_, c)| c.as_str())
                    .collect();
                let lines: Vec<String> = cells()
                    .filter(|(h, _)| !h.is_empty())
                    .map(|(h, c)| format!("{h}: {c}"))
                    .collect();
                let lead = lead.iter().map(|c| format!("{c} ")).collect::<String>();
                format!("{lead}{}", lines.join("\n  "))
            })
            .collect();
        blocks.join("\n\n") + "\n"
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

/// How wide a table may be: the terminal's width when stdout is one, else `COLUMNS` when it is
/// a number, else no limit (piped output and CI logs keep whole cells, for greps and tests).
fn terminal_width() -> Option<u16> {
    stdout_columns()
        .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
        .filter(|&width| width > 0)
}

/// The width of the terminal stdout is, asked of it (`TIOCGWINSZ`).
#[cfg(unix)]
fn stdout_columns() -> Option<u16> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points at one.
    let asked = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    (asked == 0 && size.ws_col > 0).then_some(size.ws_col)
}

#[cfg(not(unix))]
fn stdout_columns() -> Option<u16> {
    None
}

/// Now, as RFC 3339 in UTC to the second (`2026-11-22T06:15:19Z`): what manifests, baselines
/// and image labels record.
pub fn utc_now() -> String {
    rfc3339(Utc::now())
}

/// When an artifact is said to be made: `SOURCE_DATE_EPOCH` (seconds since 1970, the
/// reproducible-builds convention) when set, else now; as RFC 3339 in UTC.
pub fn build_time() -> anyhow::Result<String> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .ok()
            .and_then(from_epoch)
            .map(rfc3339)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "SOURCE_DATE_EPOCH={value} is not a count of seconds since 1970 (e.g. `git log -1 --format=%ct`)"
                )
            }),
        _ => Ok(utc_now()),
    }
}

/// Seconds since 1970 in RFC 3339 (UTC, to the second).
pub fn rfc3339_of(secs: u64) -> anyhow::Result<String> {
    from_epoch(secs).map(rfc3339).ok_or_else(|| {
        anyhow::anyhow!("{secs} seconds since 1970 is past the dates this tool writes")
    })
}

/// Seconds since 1970 as a time in UTC (none past the years chrono can hold).
fn from_epoch(secs: u64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_secs(i64::try_from(secs).ok()?)
}

/// RFC 3339 in UTC to the second, with `Z`.
fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `names`, at most `shown` of them, for a sentence: ` (a, b and 3 more)`; nothing when empty.
pub fn some_names(names: &[String], shown: usize) -> String {
    match names.len() {
        0 => String::new(),
        n if n <= shown => format!(" ({})", names.join(", ")),
        n => format!(" ({} and {} more)", names[..shown].join(", "), n - shown),
    }
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

    /// A doctor-like table with long fixes, at 60, 80, 120 and 140 columns: every line fits its width
    /// (a list's lines are the cells themselves), and every word of every cell stands whole on
    /// one line: no fix, path or command is broken. Room enough: the table as it is.
    #[test]
    fn at_any_width_no_cell_breaks_inside_a_word() {
        let mut t = Table::new(["", "what", "found", "affects", "fix"]);
        t.row([
            "✓",
            "rustc",
            "1.95 on x86_64-unknown-linux-gnu, with targets x86_64-unknown-linux-musl and aarch64-unknown-linux-gnu installed",
            "every build",
            "",
        ]);
        t.row([
            "✗",
            "linker for aarch64-unknown-linux-musl",
            "none of aarch64-linux-gnu-gcc, clang, zig on PATH",
            "build --target aarch64-unknown-linux-musl, docker images for linux/arm64",
            "set `linkers.aarch64-unknown-linux-musl` in [workspace.metadata.xtask], or `cargo install --locked cargo-zigbuild`",
        ]);
        let whole = t.terminal_within(None);
        assert_eq!(t.terminal_within(Some(1000)), whole, "room enough");
        let mut shapes = Vec::new();
        for width in [60u16, 80, 120, 140] {
            let text = t.terminal_within(Some(width));
            let list = !text.contains('┆');
            shapes.push(list);
            for line in text.lines().filter(|_| !list) {
                assert!(line.chars().count() <= usize::from(width), "{line}\n{text}");
            }
            for word in t.rows.iter().flatten().flat_map(|c| c.split_whitespace()) {
                assert!(
                    text.lines().any(|l| l.contains(word)),
                    "at {width} columns `{word}` is broken:\n{text}"
                );
            }
            if list {
                assert!(
                    text.contains("fix: set `linkers.aarch64-unknown-linux-musl` in"),
                    "{text}"
                );
            }
        }
        // The longest words side by side take 131 columns: a list below, a table above.
        assert_eq!(shapes, [true, true, true, false]);
    }

    #[test]
    fn timestamps() {
        // Seconds since 1970, as the cases were written when rfc3339 took them.
        let rfc3339 = |secs| rfc3339(from_epoch(secs).unwrap());
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_328_119), "2026-11-22T06:15:19Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(utc_now().len(), "2026-11-22T06:15:19Z".len());
        assert_eq!(from_epoch(u64::MAX), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(2048), "2.0 KiB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(human_size(5 << 30), "5.0 GiB");
    }
}

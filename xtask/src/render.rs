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

    pub fn terminal(&self) -> String {
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        table.set_header(&self.header);
        for row in &self.rows {
            table.add_row(row);
        }
        table.to_string()
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

/// Print `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn human_size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= MIB {
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
    fn sizes() {
        assert_eq!(human_size(2048), "2.0 KiB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB");
    }
}

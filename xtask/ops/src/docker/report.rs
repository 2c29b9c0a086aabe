//! What an image build did, per platform and phase: a table for people, markdown for the job
//! summary, JSON for machines.

use super::buildkit::PhaseReport;
use super::plan::Platform;
use crate::config::Libc;
use crate::render::Table;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct DockerReport {
    pub image: String,
    pub libc: Libc,
    pub platform_images: Vec<(Platform, String)>,
    pub phases: Vec<PhaseReport>,
    pub seconds: f64,
    /// The docker commands' own wall time (the checks before them excluded).
    pub run_seconds: f64,
}

impl DockerReport {
    pub fn table(&self) -> Table {
        let mut table = Table::new([
            "platform",
            "phase",
            "seconds",
            "units compiled",
            "third-party compiled",
            "cached",
            "sccache hits/misses",
        ]);
        for p in &self.phases {
            table.row([
                p.platform.map(|p| p.name()).unwrap_or_else(|| "all".into()),
                format!("{:?}", p.phase).to_lowercase(),
                format!("{:.1}", p.seconds),
                p.units_compiled.to_string(),
                format!("{}{}", p.third_party_compiled.len(), {
                    let mut names = p.third_party_compiled.clone();
                    names.dedup();
                    crate::render::some_names(&names, 4)
                }),
                if p.cached { "yes" } else { "" }.into(),
                match (p.cache_hits, p.cache_misses) {
                    (Some(h), Some(m)) => format!("{h}/{m}"),
                    _ => String::new(),
                },
            ]);
        }
        table
    }

    /// One line under the table: the total time and each platform's image.
    pub fn sentence(&self) -> String {
        let images: Vec<String> = self
            .platform_images
            .iter()
            .map(|(p, r)| format!("{} -> {r}", p.name()))
            .collect();
        format!(
            "{} ({}) in {:.1} s: {}",
            self.image,
            self.libc.name(),
            self.seconds,
            images.join(", ")
        )
    }

    /// In GitHub Actions, append the phase table (markdown) to the job's step summary.
    pub fn write_step_summary(&self) -> anyhow::Result<()> {
        let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
            return Ok(());
        };
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)?;
        writeln!(file, "### `{}`\n\n{}", self.image, self.table().markdown())?;
        Ok(())
    }
}

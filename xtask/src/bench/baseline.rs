//! Baselines on disk: every raw time, the scenario definitions, and the machine, toolchain and
//! commit they came from. Written atomically; read with schema and content checks.

use super::scenario::Scenario;
use super::stats::{adjust, Stats};
use crate::workspace::GitState;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// 2: runs carry their speed-control times (`controls`); 3: and the CPU times of both.
pub const SCHEMA: u32 = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    pub schema: u32,
    pub name: String,
    pub created: String,
    pub git: Option<GitState>,
    pub machine: Machine,
    pub results: Vec<ScenarioResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub host: String,
    /// `rustc -vV`, verbatim.
    pub rustc: String,
    pub cpu_model: String,
    pub cpus: usize,
    pub memory_bytes: u64,
    pub os: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub scenario: Scenario,
    /// Seconds of each measured run, in order.
    pub samples: Vec<f64>,
    /// Units cargo compiled in each measured run.
    pub units_compiled: Vec<usize>,
    /// Seconds of the speed control around each measured run (the mean of the one just
    /// before and the one just after it); see `control`.
    pub controls: Vec<f64>,
    /// CPU seconds of each measured run (cargo and what it ran); empty when the work ran in
    /// an engine (the Docker rebuild).
    pub cpu_samples: Vec<f64>,
    /// CPU seconds of the speed control around each run (empty with `cpu_samples`).
    pub cpu_controls: Vec<f64>,
}

impl ScenarioResult {
    /// Of the raw times.
    pub fn stats(&self) -> Stats {
        Stats::of(&self.samples).expect("results always have samples")
    }

    /// Of the times scaled to the machine speed at which the control took `reference` s.
    pub fn adjusted_stats(&self, reference: f64) -> Stats {
        Stats::of(&adjust(&self.samples, &self.controls, reference))
            .expect("results always have samples")
    }

    /// Of the CPU times, raw or scaled to the control's CPU time `reference`; `None` without.
    pub fn cpu_stats(&self, reference: Option<f64>) -> Option<Stats> {
        match reference {
            Some(reference) => Stats::of(&adjust(&self.cpu_samples, &self.cpu_controls, reference)),
            None => Stats::of(&self.cpu_samples),
        }
    }
}

/// The median CPU time of the speed control over all runs of `results` that have one.
pub fn cpu_control_reference<'a>(
    results: impl IntoIterator<Item = &'a ScenarioResult>,
) -> Option<f64> {
    let all: Vec<f64> = results
        .into_iter()
        .flat_map(|r| r.cpu_controls.iter().copied())
        .collect();
    Stats::of(&all).map(|s| s.median)
}

/// The median speed-control time over all runs of `results`: the machine speed that
/// adjusted times are expressed in.
/// `None` for no results.
pub fn control_reference<'a>(results: impl IntoIterator<Item = &'a ScenarioResult>) -> Option<f64> {
    let all: Vec<f64> = results
        .into_iter()
        .flat_map(|r| r.controls.iter().copied())
        .collect();
    Stats::of(&all).map(|s| s.median)
}

impl Machine {
    /// This machine, read from /proc and `rustc -vV` (fields it cannot read say "unknown").
    pub fn detect(rustc_vv: &str, host: &str) -> Machine {
        let cpu_model = crate::history::cpu_model();
        let memory_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            })
            .map(|kb| kb * 1024)
            .unwrap_or(0);
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|r| {
                r.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_string())
            })
            .unwrap_or_else(|| std::env::consts::OS.to_string());
        Machine {
            host: host.into(),
            rustc: rustc_vv.trim().into(),
            cpu_model,
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            memory_bytes,
            os,
        }
    }

    /// The same kind of machine: host triple, CPU model and count.
    pub fn same_hardware(&self, other: &Machine) -> bool {
        (&self.host, &self.cpu_model, self.cpus) == (&other.host, &other.cpu_model, other.cpus)
    }

    /// One line for READMEs and reports.
    pub fn describe(&self) -> String {
        let rustc = self.rustc.lines().next().unwrap_or("rustc ?");
        format!(
            "{} ({} CPUs, {:.0} GiB), {}, {}",
            self.cpu_model,
            self.cpus,
            self.memory_bytes as f64 / (1u64 << 30) as f64,
            self.os,
            rustc
        )
    }
}

/// Read and check a baseline; every failure names the file and the fix.
pub fn load(path: &Path) -> anyhow::Result<Baseline> {
    // A baseline of 100 scenarios of 100 runs is well under 1 MiB; one that is not is no
    // baseline, and is not read for minutes.
    const LIMIT: u64 = 64 << 20;
    if let Some(size) = std::fs::metadata(path)
        .ok()
        .map(|m| m.len())
        .filter(|&s| s > LIMIT)
    {
        bail!(
            "baseline {} is {}, over the {} a baseline can be; re-create it: cargo xtask bench --baseline{}",
            path.display(),
            crate::render::human_size(size),
            crate::render::human_size(LIMIT),
            name_hint(path)
        );
    }
    let text = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "no baseline at {}; make one first: cargo xtask bench --baseline{}",
            path.display(),
            name_hint(path)
        ),
        Err(e) => return Err(e).with_context(|| format!("reading baseline {}", path.display())),
    };
    let value: serde_json::Value = serde_json::from_slice(&text).with_context(|| {
        format!(
            "baseline {} is not valid JSON (corrupt?); re-create it: cargo xtask bench --baseline{}",
            path.display(),
            name_hint(path)
        )
    })?;
    let schema = value.get("schema").and_then(|s| s.as_u64()).unwrap_or(0);
    if schema != u64::from(SCHEMA) {
        bail!(
            "baseline {} has schema {schema}, this xtask reads schema {SCHEMA}; re-create it: cargo xtask bench --baseline{}",
            path.display(),
            name_hint(path)
        );
    }
    let baseline: Baseline = serde_json::from_value(value).with_context(|| {
        format!(
            "baseline {} does not have the expected fields (corrupt?)",
            path.display()
        )
    })?;
    let valid = |r: &ScenarioResult| {
        !r.samples.is_empty()
            && r.samples.iter().all(|s| s.is_finite() && *s >= 0.0)
            && r.controls.len() == r.samples.len()
            && r.controls.iter().all(|c| c.is_finite() && *c > 0.0)
            && (r.cpu_samples.is_empty() || r.cpu_samples.len() == r.samples.len())
            && r.cpu_samples.iter().all(|s| s.is_finite() && *s >= 0.0)
            && r.cpu_controls.len() == r.cpu_samples.len()
            && r.cpu_controls.iter().all(|c| c.is_finite() && *c > 0.0)
    };
    if baseline.results.is_empty() {
        bail!(
            "baseline {} has no scenarios (corrupt?); re-create it",
            path.display()
        );
    }
    if let Some(bad) = baseline.results.iter().find(|r| !valid(r)) {
        bail!(
            "baseline {} has no valid samples (or speed-control times) for {}; re-create it",
            path.display(),
            bad.scenario.id
        );
    }
    Ok(baseline)
}

fn name_hint(path: &Path) -> String {
    match path.file_stem().and_then(|s| s.to_str()) {
        Some("main") | None => String::new(),
        Some(name) => format!(" {name}"),
    }
}

/// Fail now, before measuring for minutes, if `path` cannot be written.
pub fn check_writable(path: &Path) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create {} for the baseline", dir.display()))?;
    let probe = dir.join(format!(".xtask-write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .with_context(|| format!("cannot write the baseline into {}", dir.display()))?;
    std::fs::remove_file(&probe)?;
    if path.is_dir() {
        bail!(
            "{} is a directory; give a file path to --file",
            path.display()
        );
    }
    if path.is_symlink() {
        bail!(
            "{} is a link (to {}): the bench replaces its outputs whole, and would replace your link; give the path of a file of its own",
            path.display(),
            std::fs::read_link(path).unwrap_or_default().display()
        );
    }
    Ok(())
}

/// Refuse to replace a file this tool did not write (`--file src/main.rs` by mistake): an
/// existing file must be what `kind` says, judged by `ours`.
pub fn check_replaceable(
    path: &Path,
    kind: &str,
    ours: &dyn Fn(&str) -> bool,
) -> anyhow::Result<()> {
    match std::fs::read(path) {
        Err(_) => Ok(()),
        Ok(bytes) if ours(&String::from_utf8_lossy(&bytes)) => Ok(()),
        Ok(_) => bail!(
            "{} exists and is not {kind} written by cargo xtask bench; it is left as it is: give another path",
            path.display()
        ),
    }
}

/// Does `text` look like a baseline (JSON with a schema and results)?
pub fn is_baseline(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .is_ok_and(|v| v.get("schema").is_some() && v.get("results").is_some())
}

/// Write atomically: a temporary file beside it, then a rename. The previous file stays
/// whole until the rename.
pub fn save(path: &Path, baseline: &Baseline) -> anyhow::Result<()> {
    check_writable(path)?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let json = serde_json::to_string_pretty(baseline)? + "\n";
    std::fs::write(&tmp, json).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("moving {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

#[cfg(test)]
impl Baseline {
    /// A baseline named `main` of `results`: for tests.
    pub fn example(machine: Machine, results: Vec<ScenarioResult>) -> Baseline {
        Baseline {
            schema: SCHEMA,
            name: "main".into(),
            created: "2026-01-01T00:00:00Z".into(),
            git: None,
            machine,
            results,
        }
    }
}

#[cfg(test)]
impl ScenarioResult {
    /// Runs of `scenario` that each compiled `units` units: for tests.
    pub fn example(scenario: Scenario, samples: &[f64], controls: &[f64], units: usize) -> Self {
        ScenarioResult {
            scenario,
            samples: samples.to_vec(),
            units_compiled: vec![units; samples.len()],
            controls: controls.to_vec(),
            // The CPU times as the wall times: a build that used one core.
            cpu_samples: samples.to_vec(),
            cpu_controls: controls.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn sample_baseline() -> Baseline {
        Baseline::example(
            Machine::detect("rustc 1.95.0\nhost: x", "x"),
            vec![ScenarioResult::example(
                Scenario::example("noop/dev", None),
                &[0.1, 0.2],
                &[0.2, 0.3],
                0,
            )],
        )
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        crate::test_support::scratch(&format!("baseline-{name}"))
    }

    #[test]
    fn round_trip() {
        let dir = scratch("rt");
        let path = dir.join("main.json");
        save(&path, &sample_baseline()).unwrap();
        let read = load(&path).unwrap();
        assert_eq!(read.results[0].samples, [0.1, 0.2]);
        assert_eq!(read.results[0].stats().median, 0.15000000000000002);
        assert_eq!(control_reference(&read.results), Some(0.25));
        // Run 1 at a control of 0.2 s, run 2 at 0.3 s, both scaled to 0.25 s.
        let adjusted = read.results[0].adjusted_stats(0.25);
        assert!((adjusted.min - 0.125).abs() < 1e-12, "{adjusted:?}");
        assert!((adjusted.max - 0.5 / 3.0).abs() < 1e-12, "{adjusted:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_corrupt_and_old_baselines_are_refused_with_the_fix() {
        let dir = scratch("bad");
        let err = load(&dir.join("main.json")).unwrap_err().to_string();
        assert!(err.contains("cargo xtask bench --baseline"), "{err}");
        let err = load(&dir.join("pr.json")).unwrap_err().to_string();
        assert!(err.contains("--baseline pr"), "{err}");

        std::fs::write(dir.join("corrupt.json"), "{\"schema\": 1, \"resul").unwrap();
        let err = format!("{:#}", load(&dir.join("corrupt.json")).unwrap_err());
        assert!(err.contains("not valid JSON"), "{err}");

        // The sample baseline with one part replaced, written to `file`: why loading it fails.
        let refused = |file: &str, pointer: &str, value: serde_json::Value| {
            let mut json = serde_json::to_value(sample_baseline()).unwrap();
            *json.pointer_mut(pointer).unwrap() = value;
            std::fs::write(dir.join(file), json.to_string()).unwrap();
            load(&dir.join(file)).unwrap_err().to_string()
        };
        let err = refused("old.json", "/schema", 0.into());
        assert!(
            err.contains("schema 0") && err.contains(&format!("schema {SCHEMA}")),
            "{err}"
        );
        let holes = refused("holes.json", "/results/0/samples", serde_json::json!([]));
        assert!(holes.contains("no valid samples"), "{holes}");
        let none = refused("none.json", "/results", serde_json::json!([]));
        assert!(none.contains("no scenarios"), "{none}");
        let controls = refused(
            "controls.json",
            "/results/0/controls",
            serde_json::json!([0.2]),
        );
        assert!(controls.contains("no valid samples"), "{controls}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn only_files_of_its_own_are_replaced() {
        let dir = scratch("replace");
        let source = dir.join("main.rs");
        std::fs::write(&source, "fn main() {}\n").unwrap();
        let err = check_replaceable(&source, "a baseline", &is_baseline).unwrap_err();
        assert!(err.to_string().contains("left as it is"), "{err}");
        save(&dir.join("b.json"), &sample_baseline()).unwrap();
        check_replaceable(&dir.join("b.json"), "a baseline", &is_baseline).unwrap();
        check_replaceable(&dir.join("new.json"), "a baseline", &is_baseline).unwrap();
        assert_eq!(std::fs::read_to_string(&source).unwrap(), "fn main() {}\n");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unwritable_place_fails_before_anything_is_measured() {
        let dir = scratch("ro");
        let blocker = dir.join("file");
        std::fs::write(&blocker, "x").unwrap();
        // A path under a regular file can never be created, even as root.
        assert!(check_writable(&blocker.join("sub/main.json")).is_err());
        assert!(
            check_writable(&dir).is_err(),
            "a directory is not a baseline file"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}

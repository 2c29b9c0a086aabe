//! The speed control: a small fixed program compiled by the toolchain's `rustc` right before
//! and right after every measured run.
//!
//! Why: a shared or virtual machine changes speed by tens of percent over minutes (noisy
//! neighbours, frequency and memory pressure), and a build of a few hundred milliseconds moves
//! with it. The control's time moves the same way, but not with anything the workspace does,
//! so a compare can scale each run to the baseline's machine speed (`stats::adjust`). What it
//! does not see, on purpose: the workspace's code, dependencies, profiles, RUSTFLAGS and
//! RUSTC_WRAPPER. Those are what a compare must catch.
//!
//! Changing `SOURCE` or the flags changes what a control time means: bump the bench's
//! `baseline::SCHEMA` and the history's `model::FORMAT`.

use crate::exec::{Command, Exec};
use anyhow::{bail, Context};
use std::path::Path;
use std::time::Instant;

/// Generic code, trait objects, formatting and collections: a little of each thing rustc
/// spends a debug build on. About 0.25 s on a 2-core cloud VM (the bench prints each time).
const SOURCE: &str = r#"
use std::collections::{BTreeMap, HashMap};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series<T> { name: String, points: Vec<T>, tags: HashMap<String, String> }

pub trait Summary { fn summary(&self) -> String; }

impl<T: fmt::Debug + Clone + PartialOrd> Summary for Series<T> {
    fn summary(&self) -> String {
        let mut sorted = self.points.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        format!("{} {:?} {:?} {}", self.name, sorted.first(), sorted.last(), self.tags.len())
    }
}

fn build<T: Clone + Default>(name: &str, n: usize, f: impl Fn(usize) -> T) -> Series<T> {
    let points = (0..n).map(f).collect();
    let tags = (0..3).map(|i| (format!("k{i}"), name.repeat(i))).collect();
    Series { name: name.to_string(), points, tags }
}

fn main() {
    let all: Vec<Box<dyn Summary>> = vec![
        Box::new(build("u", 10, |i| i as u32)),
        Box::new(build("f", 10, |i| i as f64 / 3.0)),
        Box::new(build("s", 10, |i| i.to_string())),
        Box::new(build("p", 10, |i| (i, i * 2))),
    ];
    let mut index = BTreeMap::new();
    for (i, s) in all.iter().enumerate() {
        index.insert(i, s.summary());
    }
    println!("{index:?}");
}
"#;

/// How long something took: wall-clock seconds, and the CPU seconds of the processes it ran.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub wall: f64,
    pub cpu: f64,
}

pub struct SpeedControl {
    command: Command,
}

impl SpeedControl {
    /// The control, compiled under `scratch/speed-control` (nothing is written yet).
    pub fn new(scratch: &Path) -> SpeedControl {
        let dir = scratch.join("speed-control");
        // Plain `rustc`: no wrapper and no flags from the workspace, only its default debug
        // settings.
        let command = Command::new(crate::toolchain::rustc())
            .args(["--edition", "2021", "--crate-name", "control", "-o"])
            .arg(dir.join("control").display().to_string())
            .arg(dir.join("control.rs").display().to_string())
            .dir(&dir);
        SpeedControl { command }
    }

    /// Write the control's source (once per bench, before the first timing).
    pub fn write_source(&self) -> anyhow::Result<()> {
        let dir = self
            .command
            .dir
            .as_ref()
            .expect("the control has a directory");
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join("control.rs"), SOURCE)
            .with_context(|| format!("writing {}", dir.join("control.rs").display()))
    }

    /// The compile that is timed.
    pub fn command(&self) -> &Command {
        &self.command
    }

    /// Compile the control once; its wall and CPU seconds.
    pub fn time(&self, exec: &Exec) -> anyhow::Result<Timing> {
        let start = Instant::now();
        let cpu = crate::exec::children_cpu_seconds();
        let out = exec
            .output(&self.command)
            .context("running rustc for the speed control")?;
        let seconds = Timing {
            wall: start.elapsed().as_secs_f64(),
            cpu: crate::exec::children_cpu_seconds() - cpu,
        };
        if !out.success {
            bail!(
                "the speed control (a small program compiled by `{}`) failed to build:\n{}",
                self.command.program,
                out.stderr
            );
        }
        Ok(seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_compiles_and_takes_measurable_time() {
        let dir = crate::test_support::scratch("speed-control");
        let control = SpeedControl::new(&dir);
        control.write_source().unwrap();
        let sh = xshell::Shell::new().unwrap();
        let t = control
            .time(&Exec::new(&sh, crate::exec::Verbosity::Quiet))
            .unwrap();
        assert!(t.wall > 0.0 && t.wall < 60.0, "{t:?}");
        assert!(
            t.cpu > 0.0 && t.cpu < 60.0,
            "rustc's CPU time is counted: {t:?}"
        );
        assert!(dir.join("speed-control/control").is_file());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

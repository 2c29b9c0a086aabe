//! This tool as cargo's `RUSTC_WRAPPER` in a run through the cluster ([`super::dist`]): cargo
//! calls `<this tool> <rustc> <args>`. Every compile goes to the run's sccache server, except
//! a crate whose remote output was once wrong (compiled here, by rustc itself). A share of the
//! units that can be distributed (`--verify PERCENT`) is compiled here as well, into a folder
//! of its own, and the outputs compared byte for byte; on a difference the local ones replace
//! the remote ones and the crate is kept local from then on.

use super::dist::{self, Verified};
use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// When this process is cargo's wrapper: do the compile and give its exit code.
pub fn run_if_wrapper() -> Option<ExitCode> {
    let state = PathBuf::from(std::env::var_os(dist::WRAP_ENV)?);
    let mut args = std::env::args_os().skip(1);
    let rustc = args.next()?;
    let args: Vec<OsString> = args.collect();
    Some(wrap(&state, &rustc, &args))
}

fn wrap(state: &Path, rustc: &OsStr, args: &[OsString]) -> ExitCode {
    let unit = Unit::read(args);
    let local = unit
        .as_ref()
        .is_some_and(|u| kept_local(state).contains(&u.krate));
    if let Some(unit) = unit.as_ref().filter(|_| local) {
        let _ = append(&dist::local_log(state), &unit.krate);
    }
    let status = if local {
        std::process::Command::new(rustc).args(args).status()
    } else {
        std::process::Command::new(super::PROGRAM)
            .arg(rustc)
            .args(args)
            .status()
    };
    let code = match status {
        Ok(s) => s.code().unwrap_or(1),
        Err(e) => {
            eprintln!("error: running the compiler through sccache: {e}");
            return ExitCode::from(1);
        }
    };
    if code == 0 && !local {
        let percent: u8 = std::env::var(dist::VERIFY_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if let Some(unit) = unit.filter(|u| u.distributable() && u.sampled(percent)) {
            if let Err(e) = verify(state, rustc, args, &unit) {
                eprintln!(
                    "warning: sccache-dist: verifying {} here failed: {e:#}",
                    unit.krate
                );
            }
        }
    }
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// A rustc invocation, as far as distribution and verification care.
#[derive(Debug, PartialEq)]
struct Unit {
    krate: String,
    crate_types: Vec<String>,
    out_dir: PathBuf,
    /// `-C extra-filename=-1a2b…`: what makes the unit's file names its own.
    extra: String,
    incremental: bool,
}

impl Unit {
    fn read(args: &[OsString]) -> Option<Unit> {
        let args: Vec<&str> = args.iter().map(|a| a.to_str()).collect::<Option<_>>()?;
        let value = |flag: &str| -> Vec<&str> {
            let mut found = Vec::new();
            for (i, a) in args.iter().enumerate() {
                if *a == flag {
                    found.extend(args.get(i + 1).copied());
                } else if let Some(v) = a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                    found.push(v);
                }
            }
            found
        };
        let codegen: Vec<&str> = value("-C");
        let option = |name: &str| {
            codegen
                .iter()
                .find_map(|c| c.strip_prefix(name)?.strip_prefix('='))
        };
        Some(Unit {
            krate: value("--crate-name").first()?.to_string(),
            crate_types: value("--crate-type")
                .iter()
                .map(|t| t.to_string())
                .collect(),
            out_dir: PathBuf::from(value("--out-dir").first()?),
            extra: option("extra-filename").unwrap_or_default().to_string(),
            incremental: option("incremental").is_some(),
        })
    }

    /// What sccache-dist takes: a library compile, not incremental.
    fn distributable(&self) -> bool {
        !self.incremental
            && !self.crate_types.is_empty()
            && self
                .crate_types
                .iter()
                .all(|t| matches!(t.as_str(), "lib" | "rlib" | "staticlib"))
    }

    /// Is this unit among `percent` of them (the same ones every run)?
    fn sampled(&self, percent: u8) -> bool {
        let key = format!("{}{}", self.krate, self.extra);
        // FNV-1a: stable across toolchains, unlike std's hasher.
        let hash = key.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
        (hash % 100) < u64::from(percent)
    }

    /// The outputs to compare: the unit's own files in its out dir (not its dep-info, which
    /// names the folder it was written to).
    fn outputs(&self, dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.contains(&self.extra) && !n.ends_with(".d"))
            .filter(|n| n.contains(&self.krate) && !self.extra.is_empty())
            .collect();
        names.sort();
        names
    }
}

/// Compile `unit` here as well, in a folder of its own, and compare.
fn verify(state: &Path, rustc: &OsStr, args: &[OsString], unit: &Unit) -> anyhow::Result<()> {
    use anyhow::Context;
    let here = unit
        .out_dir
        .join(format!(".xtask-verify-{}", std::process::id()));
    std::fs::create_dir_all(&here)?;
    let _remove = RemoveOnDrop(here.clone());
    let args: Vec<OsString> = args
        .iter()
        .map(|a| match a.to_str() {
            Some(v) if Path::new(v) == unit.out_dir => here.clone().into_os_string(),
            _ => a.clone(),
        })
        .collect();
    let status = std::process::Command::new(rustc)
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .context("running rustc")?;
    anyhow::ensure!(status.success(), "rustc here failed ({status})");
    let mut differed = Vec::new();
    for name in unit.outputs(&here) {
        let remote = std::fs::read(unit.out_dir.join(&name)).unwrap_or_default();
        let local = std::fs::read(here.join(&name))?;
        if remote != local {
            std::fs::copy(here.join(&name), unit.out_dir.join(&name))
                .with_context(|| format!("keeping the local {name}"))?;
            differed.push(name);
        }
    }
    let equal = differed.is_empty();
    if !equal {
        eprintln!(
            "warning: sccache-dist: {}: the cluster's output differs from this machine's ({}); the local output is kept, and {} compiles here from now on",
            unit.krate,
            differed.join(", "),
            unit.krate
        );
        append(&dist::kept_local(state), &unit.krate)?;
    }
    let line = serde_json::to_string(&Verified {
        krate: unit.krate.clone(),
        equal,
        differed,
    })?;
    append(&dist::log(state), &line)
}

/// The crates kept local (one per line).
fn kept_local(state: &Path) -> Vec<String> {
    std::fs::read_to_string(dist::kept_local(state))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// One line in one write: compiles running side by side never interleave within a line.
fn append(path: &Path, line: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(format!("{line}\n").as_bytes())?;
    Ok(())
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn a_library_compile_is_distributable_and_a_binary_or_incremental_one_is_not() {
        let lib = Unit::read(&args(
            "--crate-name itoa --edition=2018 src/lib.rs --crate-type lib --emit=dep-info,metadata,link -C embed-bitcode=no -C extra-filename=-0a1b --out-dir /t/debug/deps",
        ))
        .unwrap();
        assert_eq!(lib.krate, "itoa");
        assert_eq!(lib.extra, "-0a1b");
        assert_eq!(lib.out_dir, Path::new("/t/debug/deps"));
        assert!(lib.distributable());
        let proc_macro = Unit::read(&args(
            "--crate-name serde_derive --crate-type proc-macro -C extra-filename=-9 --out-dir /t",
        ))
        .unwrap();
        assert!(!proc_macro.distributable());
        let incremental = Unit::read(&args(
            "--crate-name app --crate-type lib -C incremental=/t/incremental --out-dir /t",
        ))
        .unwrap();
        assert!(!incremental.distributable());
        assert!(Unit::read(&args("-vV")).is_none());
    }

    #[test]
    fn sampling_takes_about_the_share_asked_and_the_same_units_each_time() {
        let units: Vec<Unit> = (0..1000)
            .map(|i| Unit {
                krate: format!("c{i}"),
                crate_types: vec!["lib".into()],
                out_dir: PathBuf::new(),
                extra: format!("-{i:x}"),
                incremental: false,
            })
            .collect();
        let taken = units.iter().filter(|u| u.sampled(10)).count();
        assert!((60..=140).contains(&taken), "{taken}");
        assert_eq!(units.iter().filter(|u| u.sampled(100)).count(), 1000);
        assert_eq!(units.iter().filter(|u| u.sampled(0)).count(), 0);
        assert!(units.iter().all(|u| u.sampled(37) == u.sampled(37)));
    }
}

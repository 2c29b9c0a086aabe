//! Reading a `docker build --progress=plain` log: each step's stage gives its phase (deps,
//! build, runtime), its `DONE` line the time, its `CACHED` line the cache hit, and the units
//! cargo's JSON messages named (build-env prints one line each) which units it compiled, and
//! which of them were third-party: the proof that a source change never rebuilds a dependency,
//! counted as every other command counts units.

use super::plan::{Phase, Platform, Step, CARGO_MARKER, EXPORT, SCCACHE_MARKER, UNIT_MARKER};
use crate::sccache;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Serialize)]
pub struct PhaseReport {
    pub phase: Phase,
    pub platform: Option<Platform>,
    pub seconds: f64,
    /// Units cargo compiled in the phase (its `compiler-artifact` messages, not fresh).
    pub units_compiled: usize,
    /// Units cargo found fresh.
    pub units_fresh: usize,
    /// The package of each third-party unit compiled (a name once per unit).
    pub third_party_compiled: Vec<String>,
    /// Every build step of the phase came from cache.
    pub cached: bool,
    /// Each cargo run of the phase: "<target triple> on <machine that ran it>" (a cross build
    /// says `aarch64-unknown-linux-gnu on x86_64`; an emulated one would say `on aarch64`).
    pub cargo_runs: Vec<String>,
    /// sccache's hits and misses in the phase's cargo runs (`--cache sccache`).
    pub cache_hits: Option<u64>,
    pub cache_misses: Option<u64>,
}

/// One BuildKit step (`#7`) of a run's plain-progress log.
#[derive(Debug, Default, Clone, PartialEq)]
struct BuildStep {
    /// The Dockerfile stage (`deps`, `build`, ...), `export` for the image export, `internal`.
    stage: String,
    is_run: bool,
    cached: bool,
    seconds: f64,
    /// Each unit cargo reported: fresh, its package id.
    units: Vec<(bool, String)>,
    /// What build-env reported: "cargo for <triple> on <machine>".
    cargo_runs: Vec<String>,
    /// sccache's (hits, misses) of the step's cargo run.
    cache: Option<(u64, u64)>,
}

/// What one docker run printed, step by step.
#[derive(Debug, Default, PartialEq)]
pub struct BuildkitLog {
    steps: BTreeMap<u32, BuildStep>,
    /// What cargo said went wrong, when it is something the user can fix.
    known_failure: Option<KnownFailure>,
}

/// A failure inside an image build that has a known fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownFailure {
    /// `failed to run custom build command`: a build script failed (often a missing tool).
    BuildScript,
    /// `failed to authenticate when downloading repository`: a private git dependency.
    GitAuthentication,
    /// `network bridge not found`: an engine without a bridge network (rootless, or set up
    /// without one) cannot give a RUN step the default network.
    NoBridgeNetwork,
}

impl BuildkitLog {
    /// Read one line of `--progress=plain` output: `#7 [build 2/2] RUN ...` (a step's header),
    /// `#7 CACHED`, `#7 DONE 11.2s`, `#7 12.30 build-env: unit false registry+…#serde@1.0.229`
    /// (its output).
    pub fn read_line(&mut self, line: &str) {
        if line.contains("failed to run custom build command") {
            self.known_failure = Some(KnownFailure::BuildScript);
        } else if line.contains("failed to authenticate when downloading repository") {
            self.known_failure = Some(KnownFailure::GitAuthentication);
        } else if line.contains("network bridge not found") {
            self.known_failure = Some(KnownFailure::NoBridgeNetwork);
        }
        let Some(rest) = line.strip_prefix('#') else {
            return;
        };
        let (id, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let Ok(id) = id.parse::<u32>() else { return };
        let step = self.steps.entry(id).or_default();
        if let Some(header) = rest.strip_prefix('[') {
            let name = header.split([' ', ']']).next().unwrap_or_default();
            step.stage = name.to_string();
            step.is_run |= rest.contains("] RUN ");
        } else if rest.starts_with("exporting to image") {
            step.stage = EXPORT.into();
        } else if rest == "CACHED" {
            step.cached = true;
        } else if let Some(done) = rest.strip_prefix("DONE ") {
            // BuildKit can print `DONE -0.0s` (its clocks): a step takes no negative time, and
            // `+ 0.0` turns -0.0 into 0.0, which a table prints without its sign.
            let seconds: f64 = done.trim_end_matches('s').parse().unwrap_or(0.0);
            step.seconds = seconds.max(0.0) + 0.0;
        } else if let Some(json) = rest.split(SCCACHE_MARKER).nth(1) {
            if let Ok(stats) = sccache::parse_stats(json.trim()) {
                step.cache = Some((stats.hits, stats.misses));
            }
        } else if let Some(run) = rest.split(CARGO_MARKER).nth(1) {
            step.cargo_runs.push(run.trim().to_string());
        } else if let Some(unit) = rest.split(UNIT_MARKER).nth(1) {
            if let Some((fresh, id)) = unit.trim().split_once(' ') {
                step.units.push((fresh == "true", id.to_string()));
            }
        }
    }

    pub fn known_failure(&self) -> Option<KnownFailure> {
        self.known_failure
    }

    /// The steps of these stages, summed into one phase.
    fn phase(
        &self,
        phase: Phase,
        platform: Option<Platform>,
        members: &BTreeSet<String>,
    ) -> PhaseReport {
        let stages = phase.stages();
        let steps: Vec<&BuildStep> = self
            .steps
            .values()
            .filter(|s| stages.contains(&s.stage.as_str()))
            .collect();
        let units: Vec<&(bool, String)> = steps.iter().flat_map(|s| &s.units).collect();
        let compiled: Vec<&String> = units.iter().filter(|u| !u.0).map(|u| &u.1).collect();
        // A member is a path package of a member's name; any other package is third-party.
        let third_party = |id: &String| {
            !(id.starts_with("path+") && members.contains(&crate::cargo::package_name(id)))
        };
        let runs: Vec<&&BuildStep> = steps.iter().filter(|s| s.is_run).collect();
        let cache: Vec<(u64, u64)> = steps.iter().filter_map(|s| s.cache).collect();
        PhaseReport {
            phase,
            platform,
            seconds: steps.iter().map(|s| s.seconds).sum(),
            units_compiled: compiled.len(),
            units_fresh: units.len() - compiled.len(),
            third_party_compiled: compiled
                .iter()
                .filter(|id| third_party(id))
                .map(|id| crate::cargo::package_name(id))
                .collect(),
            cached: !runs.is_empty() && runs.iter().all(|s| s.cached),
            cargo_runs: steps
                .iter()
                .flat_map(|s| s.cargo_runs.iter().cloned())
                .collect(),
            cache_hits: (!cache.is_empty()).then(|| cache.iter().map(|c| c.0).sum()),
            cache_misses: (!cache.is_empty()).then(|| cache.iter().map(|c| c.1).sum()),
        }
    }

    /// Phase reports of a step: an image build splits into deps, build and runtime.
    pub fn reports(&self, step: &Step, wall: f64, members: &BTreeSet<String>) -> Vec<PhaseReport> {
        match step.phase {
            Phase::Build => [Phase::Deps, Phase::Build, Phase::Runtime]
                .into_iter()
                .map(|phase| self.phase(phase, step.platform, members))
                .collect(),
            phase => {
                let mut report = self.phase(phase, step.platform, members);
                report.seconds = wall;
                vec![report]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_phases_compiled_units_and_cache_hits_from_buildkit_output() {
        let mut log = BuildkitLog::default();
        for line in [
            "#5 [toolchain 3/3] RUN build-env setup",
            "#5 CACHED",
            "#9 [deps 4/4] RUN --mount=type=cache build-env cargo build --locked -p ci_optims",
            "#9 CACHED",
            "#10 [build 1/2] COPY . .",
            "#10 DONE -0.0s",
            "#12 [build 2/2] RUN --mount=type=cache build-env cargo build",
            "#12 40.1 build-env: cargo for aarch64-unknown-linux-gnu on x86_64",
            "#12 41.2    Compiling serde v1.0.229",
            "#12 43.0    Compiling my-app v0.1.0 (/app/crates/my-app)",
            "#12 45.0 build-env: unit false registry+https://github.com/rust-lang/crates.io-index#serde@1.0.229",
            "#12 45.0 build-env: unit false registry+https://github.com/rust-lang/crates.io-index#serde@1.0.229",
            "#12 45.0 build-env: unit true registry+https://github.com/rust-lang/crates.io-index#itoa@1.0.15",
            "#12 45.0 build-env: unit false path+file:///app/crates/my-app#0.1.0",
            "#12 45.0 build-env: unit false path+file:///vendor/patched#0.2.0",
            r#"#12 50.1 build-env: sccache stats {"stats":{"cache_hits":{"counts":{"Rust":1}},"cache_misses":{"counts":{"Rust":1}}},"cache_location":"Redis: (from the sccache_env secret)"}"#,
            "#12 44.0 warning: Compiling is a word",
            "#12 DONE 11.5s",
            "#14 [runtime 1/1] COPY --from=build /runtime/ /",
            "#14 DONE 0.1s",
            "#15 exporting to image",
            "#15 DONE 0.3s",
        ] {
            log.read_line(line);
        }
        let members: BTreeSet<String> = ["my-app".to_string(), "my_app".to_string()].into();
        let step = Step {
            phase: Phase::Build,
            platform: Some(Platform::LinuxArm64),
            command: crate::exec::Command::new("docker"),
        };
        let reports = log.reports(&step, 13.0, &members);
        let phases: Vec<_> = reports.iter().map(|r| r.phase).collect();
        assert_eq!(phases, [Phase::Deps, Phase::Build, Phase::Runtime]);
        let (deps, build, runtime) = (&reports[0], &reports[1], &reports[2]);
        assert!(deps.cached && deps.units_compiled == 0);
        assert!(!build.cached);
        assert_eq!(build.seconds, 11.5, "the COPY step's -0.0 s counts as 0");
        assert!(
            reports.iter().all(|r| !r.seconds.is_sign_negative()),
            "no -0.0 to print"
        );
        // Units, as cargo's messages count them: serde's build script and library, the member,
        // and a path package that is no member (third-party).
        assert_eq!((build.units_compiled, build.units_fresh), (4, 1));
        assert_eq!(build.third_party_compiled, ["serde", "serde", "patched"]);
        assert_eq!(build.cargo_runs, ["aarch64-unknown-linux-gnu on x86_64"]);
        assert_eq!((build.cache_hits, build.cache_misses), (Some(1), Some(1)));
        assert_eq!(deps.cache_hits, None, "no sccache run in a cached phase");
        assert!(
            (runtime.seconds - 0.4).abs() < 1e-9,
            "runtime stage + export"
        );
    }

    /// What a missing system library looks like from the log: the failure then names the
    /// `system-packages` key.
    #[test]
    fn a_failed_build_script_is_noticed() {
        let mut log = BuildkitLog::default();
        log.read_line("#13 500.1    Compiling openssl-sys v0.9.107");
        assert_eq!(log.known_failure(), None);
        log.read_line(
            "#13 511.9 error: failed to run custom build command for `openssl-sys v0.9.107`",
        );
        assert_eq!(log.known_failure(), Some(KnownFailure::BuildScript));
        log.read_line(
            "#11 2.301 error: failed to authenticate when downloading repository: http://127.0.0.1:9/private.git",
        );
        assert_eq!(log.known_failure(), Some(KnownFailure::GitAuthentication));
        log.read_line("ERROR: failed to solve: network bridge not found");
        assert_eq!(log.known_failure(), Some(KnownFailure::NoBridgeNetwork));
    }
}

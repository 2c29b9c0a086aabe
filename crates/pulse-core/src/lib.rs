//! pulse-core: the logic of the pulse metrics service.
//!
//! - [`line`]: parse StatsD-style metric lines (`api.latency:12.5|ms`).
//! - [`summary`]: aggregate samples into count / sum / min / max / mean / percentiles.
//! - [`store`]: keep samples in SQLite and summarise them there.
//! - [`build_info!`]: what the running binary is (version, commit, variant, target).

pub mod line;
pub mod store;
pub mod summary;

pub use line::{parse_line, parse_lines, Kind, ParseError, Sample};
pub use store::Store;
pub use summary::Summary;

/// What a binary was built from. Filled in by [`build_info!`] in the binary's own crate, so a
/// new commit recompiles the binaries only, not this library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BuildInfo {
    pub name: &'static str,
    pub version: &'static str,
    pub commit: &'static str,
    pub variant: &'static str,
    /// The variant's feature set (`minimal`, `full`, ...).
    pub features: &'static str,
    pub target: &'static str,
}

impl std::fmt::Display for BuildInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} (commit {}, {} build, features {}, {})",
            self.name, self.version, self.commit, self.variant, self.features, self.target
        )
    }
}

/// Build information of the calling crate, read from the environment at compile time:
/// `APP_VERSION` (default: the package version), `APP_COMMIT_SHA`, `APP_BUILD_VARIANT`,
/// `APP_FEATURE_SET` (set by `cargo xtask build --variant production` and the Dockerfile) and
/// `APP_TARGET` (set by the crate's build.rs).
#[macro_export]
macro_rules! build_info {
    () => {
        $crate::BuildInfo {
            name: env!("CARGO_BIN_NAME"),
            version: match option_env!("APP_VERSION") {
                Some(v) => v,
                None => env!("CARGO_PKG_VERSION"),
            },
            commit: match option_env!("APP_COMMIT_SHA") {
                Some(v) => v,
                None => "unknown",
            },
            variant: match option_env!("APP_BUILD_VARIANT") {
                Some(v) => v,
                // `cargo build` and `cargo xtask build --variant dev` (which sets nothing, so
                // that the two share every unit).
                None if cfg!(debug_assertions) => "dev",
                None => "unspecified",
            },
            features: match option_env!("APP_FEATURE_SET") {
                Some(v) => v,
                None => "unspecified",
            },
            target: env!("APP_TARGET"),
        }
    };
}

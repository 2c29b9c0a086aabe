//! `cargo xtask ci-optims check` passes on the tree and fails, naming the fix, after a
//! dependency is added to an app crate without `sync`; `sync` repairs it.

mod common;

use common::*;
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

    let out = xtask(&root, &["ci-optims", "check"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ci_optims/Cargo.toml") && err.contains("cargo xtask ci-optims sync"),
        "{err}"
    );

    xtask_ok(&root, &["ci-optims", "sync"]);
    let generated = std::fs::read_to_string(root.join("ci_optims/Cargo.toml")).unwrap();
    assert!(
        generated.contains("\nitoa = { version = \"="),
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

    if Command::new(docker()).arg("--version").output().is_err() {
        println!("SKIPPED (no-engine message): no docker client to point at a missing engine");
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

//! `cargo xtask build` on this workspace, for real: the dev server answers, the production
//! binaries are the right architecture and run (aarch64 under qemu), sums verify, and
//! `--dry-run` writes nothing.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn artifacts(summary: &serde_json::Value) -> Vec<(String, String, PathBuf)> {
    summary["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["target"].as_str().unwrap().to_string(),
                PathBuf::from(a["path"].as_str().unwrap()),
            )
        })
        .collect()
}

#[test]
fn dev_build_serves_healthz_and_version_on_loopback() {
    let _guard = heavy();
    let root = workspace_root();
    let summary: serde_json::Value =
        serde_json::from_str(&xtask_ok(&root, &["build", "--variant", "dev", "--json"])).unwrap();
    assert_eq!(summary["profile"], "dev");
    let service = service_config(&root);
    let bin = service["bin"].as_str().unwrap();
    let (_, _, path) = artifacts(&summary)
        .into_iter()
        .find(|(name, _, _)| name == bin)
        .expect("service binary built");
    assert!(
        path.starts_with(root.join("target/debug")),
        "{}",
        path.display()
    );

    let listen: Vec<String> = service["listen-args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let server = start_service(&path, &listen);
    assert!(server.addr.starts_with("127.0.0.1:"), "{}", server.addr);
    let (status, body) = http_get(&server.addr, service["health-path"].as_str().unwrap());
    assert_eq!((status, body.trim()), (200, "ok"));

    let (status, body) = http_get(&server.addr, service["version-path"].as_str().unwrap());
    assert_eq!(status, 200);
    let version: serde_json::Value = serde_json::from_str(&body).unwrap();
    // A dev build is the user's own `cargo build`: no build info in its environment, so the
    // binary names no feature set or commit (production builds and images do).
    assert_eq!(version["variant"], "dev");
    assert_eq!(version["features"], "unspecified");
    assert_eq!(version["commit"], "unknown");
    assert_eq!(version["target"], "x86_64-unknown-linux-gnu");
    let (status, head, _) = http_get_with(&server.addr, "/metrics", &[("Accept-Encoding", "gzip")]);
    assert_eq!(status, 200);
    assert!(
        !head.contains("content-encoding"),
        "no gzip in `minimal`: {head}"
    );
}

#[test]
fn production_build_packages_both_architectures() {
    if !available("aarch64 cross build", missing_cross_aarch64()) {
        return;
    }
    let _guard = heavy();
    // In a copy: the checkout's dist/ is the user's. Its target dir is the checkout's, so the
    // third-party units built by other tests are reused.
    let root = copy_workspace("build-production");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["build", "--variant", "production", "--json"])
        .env("CARGO_TARGET_DIR", workspace_root().join("target"))
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        tail(&String::from_utf8_lossy(&out.stderr), 40)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dist = PathBuf::from(summary["dist_dir"].as_str().unwrap());

    // The sums verify with the standard tool, from inside dist/.
    assert_sums_verify(&dist);

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dist.join("manifest.json")).unwrap())
            .unwrap();
    let entries = manifest["artifacts"].as_array().unwrap();
    let targets: std::collections::BTreeSet<_> = entries
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets.into_iter().collect::<Vec<_>>(),
        ["aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu"]
    );
    for e in entries {
        assert_eq!(e["profile"], "production");
        assert_eq!(e["sha256"].as_str().unwrap().len(), 64);
        assert!(e["size"].as_u64().unwrap() > 0);
        assert!(e["rustc"].as_str().unwrap().starts_with("rustc "));
        for key in [
            "name",
            "version",
            "commit",
            "dirty",
            "build_seconds",
            "created",
        ] {
            assert!(e.get(key).is_some(), "manifest entry lacks {key}: {e}");
        }
    }

    for (name, target, path) in artifacts(&summary) {
        let (machine, mut cmd) = if target.starts_with("aarch64") {
            let mut cmd = qemu_aarch64();
            cmd.arg(&path);
            (EM_AARCH64, cmd)
        } else {
            (EM_X86_64, Command::new(&path))
        };
        assert_eq!(elf_machine(&path), machine, "{name} for {target}");
        let out = output_within(cmd.arg("--version"), std::time::Duration::from_secs(60));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name} ({target}) --version failed");
        assert!(
            text.contains(&name) && text.contains(&target) && text.contains("production"),
            "{text}"
        );
        assert!(text.contains("features full"), "{text}");
        if name == "pulse-server" && target.starts_with("x86_64") {
            // The `full` feature set: the production service compresses /metrics.
            let server = start_service(&path, &["--listen".into(), "{addr}".into()]);
            let (status, head, body) =
                http_get_with(&server.addr, "/metrics", &[("Accept-Encoding", "gzip")]);
            assert_eq!(status, 200);
            assert!(head.contains("content-encoding: gzip"), "{head}");
            assert_eq!(&body[..2], [0x1f, 0x8b], "a gzip stream");
        }
    }
}

/// Every file under `root` (but .git) with its modification time.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Option<SystemTime>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
        .filter_map(Result::ok)
        .map(|e| {
            (
                e.path().to_path_buf(),
                e.metadata().ok().and_then(|m| m.modified().ok()),
            )
        })
        .collect()
}

#[test]
fn dry_run_writes_nothing() {
    let _guard = heavy();
    let root = workspace_root();
    let before = snapshot(&root);
    for variant in ["dev", "production"] {
        let out = xtask(
            &root,
            &["build", "--variant", variant, "--dry-run", "--json"],
        );
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(plan["variant"], variant);
        let cargo = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == "cargo")
            .expect("a cargo step");
        assert!(cargo["command"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "build"));
    }
    let out = xtask_ok(
        &root,
        &[
            "build",
            "--variant",
            "production",
            "--dry-run",
            "--target",
            "x86_64-unknown-linux-gnu",
        ],
    );
    assert!(
        out.contains("\n  cargo    ") && out.contains("--profile production"),
        "{out}"
    );
    assert_eq!(snapshot(&root), before, "a dry run changed files");
}

#[test]
fn bad_input_is_refused_with_the_valid_values() {
    let root = workspace_root();
    let out = xtask(&root, &["build", "--variant", "fast"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dev") && err.contains("production"), "{err}");

    let out = xtask(
        &root,
        &[
            "build",
            "--variant",
            "production",
            "--target",
            "mips-unknown-linux-gnu",
            "--dry-run",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("valid targets are: x86_64-unknown-linux-gnu"));

    let out = xtask(&root, &["build", "--bin", "nope", "--dry-run"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown binary `nope`"));
}

/// A member's `rust-version` newer than the toolchain is a requirement of the plan: the dry run
/// fails naming it and the fix, before anything compiles (the mirror's stubs carry none, so
/// `ci_optims` alone would build).
#[test]
fn a_rust_version_newer_than_the_toolchain_fails_the_plan() {
    let root = small_workspace("build-rust-version", "");
    let manifest = std::fs::read_to_string(root.join("core/Cargo.toml")).unwrap();
    write_file(
        &root,
        "core/Cargo.toml",
        &manifest.replace(
            "edition = \"2021\"\n",
            "edition = \"2021\"\nrust-version = \"1.999\"\n",
        ),
    );
    let out = xtask(&root, &["build", "--variant", "dev", "--dry-run"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("core-lib's rust-version 1.999") && err.contains("rustup update"),
        "{err}"
    );
}

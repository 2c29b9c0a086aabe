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

/// A workspace with third-party crates of every kind (a proc macro with build scripts under it,
/// a library, a dev-dependency), as a root package or a virtual manifest. Every crate is in this
/// repository's Cargo.lock, so the lockfile resolves offline.
fn coverage_workspace(name: &str, root_package: bool) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&root);
    let w = |rel: &str, text: &str| write_file(&root, rel, text);
    let lib = "[package]\nname = \"parse\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
               [dependencies]\nanyhow = \"1\"\n";
    let app_deps = "[dependencies]\nanyhow = \"1\"\nparse = { path = \"PARSE\" }\nserde = { version = \"1\", features = [\"derive\"] }\n\n\
                    [dev-dependencies]\nitoa = \"1\"\n";
    let main = "#[derive(serde::Serialize)]\nstruct Point { x: u32 }\n\n\
                fn main() -> anyhow::Result<()> {\n    let _ = Point { x: 1 };\n    parse::n()\n}\n\n\
                #[test]\nfn formats() { assert_eq!(itoa::Buffer::new().format(7), \"7\"); }\n";
    w(
        "parse/src/lib.rs",
        "pub fn n() -> anyhow::Result<()> { Ok(()) }\n",
    );
    if root_package {
        w(
            "Cargo.toml",
            &format!(
                "[package]\nname = \"rootapp\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n{}\n\
                 [workspace]\nmembers = [\"parse\"]\n",
                app_deps.replace("PARSE", "parse")
            ),
        );
        w("src/main.rs", main);
        w("parse/Cargo.toml", lib);
    } else {
        w(
            "Cargo.toml",
            "[workspace]\nresolver = \"2\"\nmembers = [\"crates/*\"]\n",
        );
        w(
            "crates/app/Cargo.toml",
            &format!(
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n{}",
                app_deps.replace("PARSE", "../parse")
            ),
        );
        w("crates/app/src/main.rs", main);
        std::fs::rename(root.join("parse"), root.join("crates/parse")).unwrap();
        w("crates/parse/Cargo.toml", lib);
    }
    w(".gitignore", "/target/\n");
    generate_lockfile(&root);
    git_commit_all(&root, "workspace");
    root
}

/// The count coverage claims, made without the tool: in an empty target dir, `cargo ARGS` of
/// ci_optims, then of the workspace, with cargo's JSON messages; the second run's non-member
/// `compiler-artifact` messages, fresh and in all.
fn independent_count(root: &Path, args: &[&str]) -> (u64, u64) {
    let target = root.join("target/independent-count");
    let _ = std::fs::remove_dir_all(&target);
    let cargo = |manifest: &str| {
        let out = Command::new(env!("CARGO"))
            .args(args)
            .args([
                "--manifest-path",
                manifest,
                "--message-format=json",
                "--target-dir",
            ])
            .arg(&target)
            .current_dir(root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let members: Vec<String> = metadata(root, true)["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    cargo("ci_optims/Cargo.toml");
    let (mut fresh, mut total) = (0, 0);
    for line in cargo("Cargo.toml").lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let member = message["package_id"]
            .as_str()
            .is_some_and(|id| members.iter().any(|m| m == id));
        if message["reason"] == "compiler-artifact" && !member {
            total += 1;
            fresh += u64::from(message["fresh"] == true);
        }
    }
    std::fs::remove_dir_all(&target).unwrap();
    (fresh, total)
}

/// `ci-optims coverage` reports what cargo's own messages say, on a root package and on a
/// virtual manifest, for a build and for the tests: every third-party unit fresh.
#[test]
fn coverage_equals_an_independent_count_of_cargos_messages() {
    let _guard = heavy();
    for (name, root_package, mode, args) in [
        ("coverage-root-package", true, "build", &["build"][..]),
        ("coverage-virtual", false, "build", &["build"][..]),
        (
            "coverage-virtual",
            false,
            "test",
            &["test", "--no-run", "--workspace"][..],
        ),
    ] {
        let root = if mode == "build" {
            coverage_workspace(name, root_package)
        } else {
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
        };
        xtask_ok(&root, &["ci-optims", "sync"]);
        let report: serde_json::Value = serde_json::from_str(&xtask_ok(
            &root,
            &["ci-optims", "coverage", "--mode", mode, "--json"],
        ))
        .unwrap();
        let (fresh, total) = independent_count(&root, args);
        assert_eq!(
            (
                report["fresh"].as_u64(),
                report["third_party_units"].as_u64()
            ),
            (Some(fresh), Some(total)),
            "{name} {mode}: the tool's figure and the independent count: {report}"
        );
        assert!(total >= 10, "{name} {mode}: {total} third-party units");
        assert_eq!(fresh, total, "{name} {mode}: {report}");
    }
}

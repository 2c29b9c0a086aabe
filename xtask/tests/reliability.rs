//! Nothing lost, whatever the user does: dangerous `dist-dir` values are refused before anything
//! is written; two production builds started together both leave a `dist/` whose sums verify;
//! a bench killed with SIGKILL never costs the user a byte they wrote afterwards; a bench beside
//! a live one leaves the live one alone. Each in a generated throwaway workspace.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn generate(name: &str, extra: &str) -> PathBuf {
    small_workspace(&format!("reliability/{name}"), extra)
}

fn xtask_in(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(root)
        .output()
        .unwrap()
}

fn spawn(root: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Every file under `root` but target/ and .git/, with its bytes.
fn files(root: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| e.file_name() != "target" && e.file_name() != ".git")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect()
}

#[test]
fn dangerous_dist_dirs_are_refused_and_nothing_is_written() {
    let _guard = heavy();
    let root = generate("dist-dir", "");
    let before = files(&root);
    for value in ["", ".", "..", "/tmp", "target", "core", "scripts"] {
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let with = manifest.replace(
            "[workspace.metadata.xtask]\n",
            &format!("[workspace.metadata.xtask]\ndist-dir = \"{value}\"\n"),
        );
        std::fs::write(root.join("Cargo.toml"), &with).unwrap();
        for dry in [true, false] {
            let mut args = vec!["build", "--variant", "production"];
            if dry {
                args.push("--dry-run");
            }
            let out = xtask_in(&root, &args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "dist-dir {value:?} (dry run {dry}): {err}"
            );
            assert!(
                err.contains(&format!("dist-dir `{value}`")) && err.contains("fix:"),
                "{err}"
            );
        }
        std::fs::write(root.join("Cargo.toml"), &manifest).unwrap();
        assert_eq!(files(&root), before, "dist-dir {value:?} changed files");
    }
    // `dist` as a file of the user's: refused, kept.
    std::fs::write(root.join("dist"), "my notes").unwrap();
    let out = xtask_in(&root, &["build", "--variant", "production"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a file"));
    assert_eq!(
        std::fs::read_to_string(root.join("dist")).unwrap(),
        "my notes"
    );
}

#[test]
fn two_production_builds_at_once_both_leave_a_dist_that_verifies() {
    let _guard = heavy();
    let root = generate("concurrent", "");
    // A first build, so the rounds race on packaging rather than on compiling.
    let out = xtask_in(&root, &["build", "--variant", "production"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for round in 1..=5 {
        let a = spawn(&root, &["build", "--variant", "production"]);
        let b = spawn(&root, &["build", "--variant", "production"]);
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        for out in [&a, &b] {
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let check = Command::new("sha256sum")
            .args(["-c", "SHA256SUMS"])
            .current_dir(root.join("dist"))
            .output()
            .unwrap();
        assert!(check.status.success(), "round {round}: sha256sum -c failed");
        assert!(!root.join("dist.staging").exists() && !root.join("dist.previous").exists());
    }
    // With --no-wait, a build that finds dist/ taken (the lock held here, as a running build
    // holds it) fails at once and says why.
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(root.join("dist.lock"))
        .unwrap();
    lock.lock().unwrap();
    let b = xtask_in(&root, &["build", "--variant", "production", "--no-wait"]);
    drop(lock);
    let err = String::from_utf8_lossy(&b.stderr);
    assert!(!b.status.success(), "{err}");
    assert!(
        err.contains("in use by") && err.contains("--no-wait"),
        "{err}"
    );
}

/// Wait until `file` differs from `original` (a bench has edited it).
fn wait_for_edit(file: &Path, original: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read(file).unwrap() == original {
        assert!(
            Instant::now() < deadline,
            "the bench never edited {}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_bench_never_costs_the_user_a_byte() {
    let _guard = heavy();
    let root = generate("bench-kill", "");
    let leaf = root.join("app/src/main.rs");
    let original = std::fs::read(&leaf).unwrap();
    let mut bench = spawn(&root, &["bench", "--baseline", "--runs", "50"]);
    wait_for_edit(&leaf, &original);
    bench.kill().unwrap(); // SIGKILL: no handler runs
    bench.wait().unwrap();
    // The user puts the file back by hand and writes a line of their own.
    let mut mine = original.clone();
    mine.extend_from_slice(b"// my own line\n");
    std::fs::write(&leaf, &mine).unwrap();
    let out = xtask_in(
        &root,
        &[
            "bench",
            "--baseline",
            "--runs",
            "1",
            "--scenario",
            "incr-leaf/dev",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        std::fs::read(&leaf).unwrap(),
        mine,
        "the user's bytes are gone: {err}"
    );
    let saved = root.join("app/src/main.rs.bench-orig");
    assert_eq!(std::fs::read(&saved).unwrap(), original);
    assert!(
        err.contains("kept") && err.contains("main.rs.bench-orig"),
        "{err}"
    );

    // Killed again, nobody touches the file: a dry run says so and writes nothing; the next
    // command of any kind (not only a bench: here a build) puts the original back, and says so.
    std::fs::write(&leaf, &original).unwrap();
    let mut bench = spawn(&root, &["bench", "--baseline", "--runs", "50"]);
    wait_for_edit(&leaf, &original);
    bench.kill().unwrap();
    bench.wait().unwrap();
    assert_ne!(std::fs::read(&leaf).unwrap(), original);
    let out = xtask_in(&root, &["build", "--variant", "dev", "--dry-run"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains("left edited by a bench"),
        "{err}"
    );
    assert_ne!(
        std::fs::read(&leaf).unwrap(),
        original,
        "a dry run wrote the file"
    );
    let out = xtask_in(&root, &["build", "--variant", "dev"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(std::fs::read(&leaf).unwrap(), original);
    assert!(err.contains("restored") && err.contains("killed"), "{err}");
}

#[test]
fn a_second_bench_leaves_a_live_one_alone() {
    let _guard = heavy();
    let root = generate("bench-live", "");
    let leaf = root.join("app/src/main.rs");
    let original = std::fs::read(&leaf).unwrap();
    let live = spawn(&root, &["bench", "--baseline", "live", "--runs", "50"]);
    wait_for_edit(&leaf, &original);
    for args in [
        &["bench", "--list"][..],
        &["bench", "--baseline", "other", "--no-wait"][..],
    ] {
        let out = xtask_in(&root, args);
        assert_ne!(
            std::fs::read(&leaf).unwrap(),
            original,
            "`{}` touched the live bench's file",
            args.join(" ")
        );
        if args.contains(&"--no-wait") {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success() && err.contains("in use by"), "{err}");
        }
    }
    assert!(root
        .join("target/xtask/bench/pending-edits")
        .read_dir()
        .unwrap()
        .next()
        .is_some());
    let status = Command::new("kill")
        .args(["-INT", &live.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = live.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(std::fs::read(&leaf).unwrap(), original);
}

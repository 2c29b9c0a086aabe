//! `cache save` / `cache restore`: a fresh checkout at the same path, with the target dir of an
//! earlier build restored, rebuilds exactly the workspace units whose inputs differ, and never
//! reuses an artifact built from other content (a branch switch back to older content with an
//! older mtime included); a record that cannot serve is ignored with a warning and the build
//! is still correct.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Repo {
    origin: PathBuf,
    work: PathBuf,
    saved: PathBuf,
}

impl Repo {
    /// A workspace (`core-lib`, `app` printing `core_lib::answer()`) committed in `origin`.
    fn new(name: &str) -> Repo {
        let origin = small_workspace(&format!("{name}-origin"), "");
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        Repo {
            origin,
            work: tmp.join(format!("{name}-work")),
            saved: tmp.join(format!("{name}-saved-target")),
        }
    }

    /// A commit in origin with `rel` replaced by `text`; returns its id.
    fn commit(&self, rel: &str, text: &str) -> String {
        write_file(&self.origin, rel, text);
        git_commit(&self.origin, rel)
    }

    /// A fresh clone at the work path, at `commit`.
    fn clone_at(&self, commit: &str) {
        let _ = std::fs::remove_dir_all(&self.work);
        let status = Command::new("git")
            .args(["clone", "-q"])
            .arg(&self.origin)
            .arg(&self.work)
            .status()
            .unwrap();
        assert!(status.success());
        git(&self.work, &["checkout", "-q", commit]);
    }

    /// Build there, save, and keep the target dir aside (what CI's cache would store).
    fn build_and_save(&self) -> Vec<String> {
        let compiled = build(&self.work);
        xtask_ok(&self.work, &["cache", "save"]);
        let _ = std::fs::remove_dir_all(&self.saved);
        copy_tree(&self.work.join("target"), &self.saved);
        compiled
    }

    /// A fresh runner: a new clone at the same path, the saved target dir restored (mtimes
    /// kept), then `cache restore`; returns restore's stderr.
    fn fresh_runner(&self, commit: &str, before_restore: impl FnOnce(&Path)) -> String {
        self.clone_at(commit);
        copy_tree(&self.saved, &self.work.join("target"));
        before_restore(&self.work);
        let out = xtask(&self.work, &["cache", "restore"]);
        assert!(out.status.success(), "cache restore");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

/// `cp -a`: contents and mtimes.
fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// `cargo build` in `root`: the workspace units it compiled (not fresh).
fn build(root: &Path) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args(["build", "--message-format=json"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut compiled: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["fresh"] == false)
        .filter_map(|m| m["target"]["name"].as_str().map(str::to_string))
        .collect();
    compiled.sort();
    compiled
}

fn answer(root: &Path) -> String {
    let out = Command::new(root.join("target/debug/app"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const CORE: &str = "core/src/lib.rs";
const APP: &str = "app/src/main.rs";

#[test]
fn a_fresh_checkout_rebuilds_only_what_changed_and_never_a_stale_unit() {
    let _guard = heavy();
    let repo = Repo::new("reuse");
    let one = git_head(&repo.origin);
    repo.clone_at(&one);
    assert_eq!(repo.build_and_save(), ["app", "core_lib"]);

    // No change: nothing compiles.
    let said = repo.fresh_runner(&one, |_| {});
    assert!(said.contains("restored:"), "{said}");
    assert_eq!(build(&repo.work), Vec::<String>::new(), "no change");

    // A leaf edit compiles the leaf; an edit of the crate others use compiles it and them.
    let leaf = repo.commit(
        APP,
        "fn main() { println!(\"{}!\", core_lib::answer()); }\n",
    );
    repo.fresh_runner(&leaf, |_| {});
    assert_eq!(build(&repo.work), ["app"], "leaf edit");
    assert_eq!(answer(&repo.work), "42!");
    let core = repo.commit(CORE, "pub fn answer() -> u32 { 43 }\n");
    repo.fresh_runner(&core, |_| {});
    assert_eq!(build(&repo.work), ["app", "core_lib"], "core edit");
    assert_eq!(answer(&repo.work), "43!");

    // Saved at the newer commit, then a branch switch back to older content whose mtime is
    // older still (what restoring mtimes from commit times does): rebuilt, never reused.
    repo.build_and_save();
    repo.fresh_runner(&one, |work| {
        for rel in [CORE, APP] {
            let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(946_684_800);
            std::fs::File::open(work.join(rel))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
    });
    assert_eq!(build(&repo.work), ["app", "core_lib"], "older content");
    assert_eq!(
        answer(&repo.work),
        "42",
        "the binary is the older content's"
    );

    // A truncated restore: found, the target dir emptied, a cold build, correct.
    repo.build_and_save();
    let said = repo.fresh_runner(&one, |work| {
        let deps = work.join("target/debug/deps");
        let rlib = std::fs::read_dir(&deps)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "rlib"))
            .unwrap();
        std::fs::write(&rlib, b"truncated").unwrap();
    });
    assert!(
        said.contains("warning") && said.contains("truncated or corrupt"),
        "{said}"
    );
    assert_eq!(
        build(&repo.work),
        ["app", "core_lib"],
        "after a truncated restore"
    );
    assert_eq!(answer(&repo.work), "42");

    // A corrupt record: ignored with a warning, the build correct.
    repo.build_and_save();
    let said = repo.fresh_runner(&core, |work| {
        std::fs::write(work.join("target/xtask/sources.json"), "{ not json").unwrap();
    });
    assert!(
        said.contains("warning") && said.contains("does not parse"),
        "{said}"
    );
    assert_eq!(build(&repo.work), ["app", "core_lib"]);
    assert_eq!(answer(&repo.work), "43!");
}

/// Another checkout path: the record says so and is not used.
#[test]
fn a_record_from_another_path_is_not_used() {
    let repo = Repo::new("reuse-path");
    let one = git_head(&repo.origin);
    repo.clone_at(&one);
    repo.build_and_save();
    let elsewhere = repo.work.with_file_name("reuse-path-elsewhere");
    let _ = std::fs::remove_dir_all(&elsewhere);
    copy_tree(&repo.work, &elsewhere);
    let out = xtask(&elsewhere, &["cache", "restore"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.contains("restore at the same path"),
        "{said}"
    );
    assert!(
        !elsewhere.join("target/debug").exists(),
        "the target dir was emptied"
    );
}

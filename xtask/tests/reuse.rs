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
    cargo_units(root, &["build"], &[])
}

/// `cargo ARGS` in `root` with `env` set: the target names of the units it compiled.
fn cargo_units(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .arg("--message-format=json")
        .envs(env.iter().copied())
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

    // No change: nothing compiles. The tool's own files in the target dir (a history that a
    // `timings` run appended to after the save, a new baseline) are no part of a build: they
    // void nothing.
    let said = repo.fresh_runner(&one, |work| {
        write_file(
            work,
            "target/xtask/history.jsonl",
            "{\"a later point\": 1}\n",
        );
        write_file(work, "target/xtask/bench/main.json", "{}\n");
        // Nor is an uplifted binary (`debug/app`): cargo links it again from its unit on every
        // build, fresh or not, and two units of one binary (the build's, the tests') take turns.
        let uplifted = work.join("target/debug/app");
        std::fs::remove_file(&uplifted).unwrap();
        std::fs::write(&uplifted, "another unit's binary").unwrap();
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(946_684_800);
        let file = std::fs::File::options().write(true).open(&uplifted);
        file.unwrap().set_modified(old).unwrap();
    });
    assert!(
        said.contains("restored:") && !said.contains("warning"),
        "{said}"
    );
    assert_eq!(build(&repo.work), Vec::<String>::new(), "no change");
    assert_eq!(answer(&repo.work), "42", "cargo linked the binary again");

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

    // A truncated restore: found, what cargo built removed (the tool's history stays), a cold
    // build, correct.
    repo.build_and_save();
    let said = repo.fresh_runner(&one, |work| {
        write_file(work, "target/xtask/history.jsonl", "kept\n");
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
    assert!(
        !repo.work.join("target/debug").exists(),
        "what cargo built is removed"
    );
    assert_eq!(
        std::fs::read_to_string(repo.work.join("target/xtask/history.jsonl")).unwrap(),
        "kept\n",
        "the history is no build output"
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

/// The entries of `root/rel`, sorted.
fn names(root: &Path, rel: &str) -> Vec<String> {
    let mut all: Vec<String> = std::fs::read_dir(root.join(rel))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    all.sort();
    all
}

/// Units no build uses (another opt-level's, the tests' when only `build` is kept) are pruned
/// before saving; what the kept build uses survives: the next runner compiles nothing for it.
#[test]
fn saving_prunes_the_units_no_kept_build_uses() {
    let _guard = heavy();
    let repo = Repo::new("reuse-prune");
    let one = git_head(&repo.origin);
    repo.clone_at(&one);
    let stale = [("CARGO_PROFILE_DEV_OPT_LEVEL", "1")];
    assert_eq!(
        cargo_units(&repo.work, &["build"], &stale),
        ["app", "core_lib"]
    );
    let stale_incremental = names(&repo.work, "target/debug/incremental");
    // Incremental dirs are told apart by time, in whole seconds: the stale ones are older.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(!cargo_units(&repo.work, &["test", "--no-run"], &[]).is_empty());
    assert_eq!(build(&repo.work), ["app"], "the tests built the library");
    let fingerprints = names(&repo.work, "target/debug/.fingerprint");
    assert!(fingerprints.len() > 2, "{fingerprints:?}");

    let said: serde_json::Value =
        serde_json::from_str(&xtask_ok(&repo.work, &["cache", "save", "--json"])).unwrap();
    assert_eq!(said["compiled"], 0, "{said}");
    assert!(said["pruned"]["entries"].as_u64().unwrap() > 0, "{said}");
    assert!(said["pruned"]["bytes"].as_u64().unwrap() > 0, "{said}");
    // What is left: the two units `cargo build` uses, their incremental data (and the
    // tests', compiled in the same second: kept, as the rule cannot tell them apart).
    let left = names(&repo.work, "target/debug/.fingerprint");
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|f| fingerprints.contains(f)));
    let incremental = names(&repo.work, "target/debug/incremental");
    assert!(incremental.iter().any(|d| d.starts_with("app-")));
    assert!(incremental.iter().any(|d| d.starts_with("core_lib-")));
    assert!(
        incremental.iter().all(|d| !stale_incremental.contains(d)),
        "stale {stale_incremental:?}, left {incremental:?}"
    );

    // A fresh runner: `cargo build` compiles nothing; the tests' units were pruned (rebuilt).
    let _ = std::fs::remove_dir_all(&repo.saved);
    copy_tree(&repo.work.join("target"), &repo.saved);
    let said = repo.fresh_runner(&one, |_| {});
    assert!(said.contains("restored:"), "{said}");
    assert_eq!(build(&repo.work), Vec::<String>::new());
    assert_eq!(answer(&repo.work), "42");
    assert!(!cargo_units(&repo.work, &["test", "--no-run"], &[]).is_empty());

    // --keep names the job's builds: the tests' units are kept too.
    xtask_ok(
        &repo.work,
        &["cache", "save", "--keep", "build", "--keep", "test"],
    );
    assert_eq!(build(&repo.work), Vec::<String>::new());
    assert_eq!(
        cargo_units(&repo.work, &["test", "--no-run"], &[]),
        Vec::<String>::new()
    );
    // --variant: the tool's own build, with its flags and environment: built, nothing more.
    xtask_ok(&repo.work, &["build", "--variant", "dev"]);
    let said: serde_json::Value = serde_json::from_str(&xtask_ok(
        &repo.work,
        &[
            "cache",
            "save",
            "--json",
            "--variant",
            "dev",
            "--keep",
            "test",
        ],
    ))
    .unwrap();
    assert_eq!(said["compiled"], 0, "{said}");
    // Not a build: refused, naming the fix; nothing pruned.
    let out = xtask(&repo.work, &["cache", "save", "--keep", "run --bin app"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--keep"), "{err}");
    assert_eq!(
        cargo_units(&repo.work, &["test", "--no-run"], &[]),
        Vec::<String>::new()
    );
}

/// Each way a unit's inputs change on a fresh runner rebuilds it, and the binary shows the
/// checked-out source: a moved, a deleted module; a revert (content as built: nothing compiles);
/// a build script's `rerun-if-changed` file and `rerun-if-env-changed` variable; `RUSTFLAGS`;
/// a profile setting.
#[test]
fn every_changed_input_rebuilds_its_unit_on_a_fresh_runner() {
    let _guard = heavy();
    let repo = Repo::new("reuse-inputs");
    write_file(
        &repo.origin,
        CORE,
        "mod more;\npub fn answer() -> u32 { more::value() }\n",
    );
    write_file(
        &repo.origin,
        "core/src/more.rs",
        "pub fn value() -> u32 { 42 }\n",
    );
    write_file(
        &repo.origin,
        "app/build.rs",
        "fn main() {\n    println!(\"cargo::rerun-if-changed=greeting.txt\");\n    println!(\"cargo::rerun-if-env-changed=APP_GREETING\");\n    \
         let text = std::env::var(\"APP_GREETING\").unwrap_or_else(|_| std::fs::read_to_string(\"greeting.txt\").unwrap());\n    \
         println!(\"cargo::rustc-env=GREETING={}\", text.trim());\n}\n",
    );
    write_file(&repo.origin, "app/greeting.txt", "hello\n");
    write_file(
        &repo.origin,
        APP,
        "fn main() { println!(\"{} {}\", core_lib::answer(), env!(\"GREETING\")); }\n",
    );
    let base = git_commit(&repo.origin, "module, build script");
    repo.clone_at(&base);
    repo.build_and_save();
    let lib_and_app = ["app", "build-script-build", "core_lib"];

    // A module moved (more.rs → more/mod.rs, new content), then that commit reverted.
    std::fs::remove_file(repo.origin.join("core/src/more.rs")).unwrap();
    write_file(
        &repo.origin,
        "core/src/more/mod.rs",
        "pub fn value() -> u32 { 44 }\n",
    );
    let moved = git_commit(&repo.origin, "moved");
    repo.fresh_runner(&moved, |_| {});
    assert_eq!(build(&repo.work), ["app", "core_lib"], "moved module");
    assert_eq!(answer(&repo.work), "44 hello");
    let who = ["-c", "user.name=t", "-c", "user.email=t@t"];
    git(
        &repo.origin,
        &[&who[..], &["revert", "--no-edit", "HEAD"]].concat(),
    );
    let reverted = git_head(&repo.origin);
    repo.fresh_runner(&reverted, |_| {});
    assert_eq!(
        build(&repo.work),
        Vec::<String>::new(),
        "reverted: as built"
    );
    assert_eq!(answer(&repo.work), "42 hello");

    // A module deleted.
    std::fs::remove_file(repo.origin.join("core/src/more.rs")).unwrap();
    let deleted = repo.commit(
        CORE,
        "pub fn answer() -> u32 { if cfg!(shout) { 99 } else { 45 } }\n",
    );
    repo.fresh_runner(&deleted, |_| {});
    assert_eq!(build(&repo.work), ["app", "core_lib"], "deleted module");
    assert_eq!(answer(&repo.work), "45 hello");

    // The build script's watched file (saved at the commit before), then its watched variable.
    repo.build_and_save();
    let greeting = repo.commit("app/greeting.txt", "bye\n");
    repo.fresh_runner(&greeting, |_| {});
    assert_eq!(build(&repo.work), ["app"], "rerun-if-changed input");
    assert_eq!(answer(&repo.work), "45 bye");
    let hi = [("APP_GREETING", "hi")];
    assert_eq!(
        cargo_units(&repo.work, &["build"], &hi),
        ["app"],
        "rerun-if-env-changed"
    );
    assert_eq!(answer(&repo.work), "45 hi");

    // Flags and profile: cargo's own fingerprint, on top of the restored mtimes.
    repo.fresh_runner(&deleted, |_| {});
    let shout = [("RUSTFLAGS", "--cfg shout")];
    assert_eq!(
        cargo_units(&repo.work, &["build"], &shout),
        lib_and_app,
        "RUSTFLAGS"
    );
    assert_eq!(answer(&repo.work), "99 hello");
    repo.fresh_runner(&deleted, |_| {});
    let opt = [("CARGO_PROFILE_DEV_OPT_LEVEL", "1")];
    // (build scripts are compiled with the build-override profile: not rebuilt)
    assert_eq!(
        cargo_units(&repo.work, &["build"], &opt),
        ["app", "core_lib"],
        "profile"
    );
    assert_eq!(answer(&repo.work), "45 hello");
}

/// On a runner the tool builds itself before it can run `cache restore` (its units in the same
/// target dir): what it rebuilt since the save is not taken for a damaged restore.
#[test]
fn a_unit_the_runner_built_before_restoring_does_not_void_the_record() {
    let _guard = heavy();
    let repo = Repo::new("reuse-tool-first");
    let one = git_head(&repo.origin);
    repo.clone_at(&one);
    repo.build_and_save();
    let said = repo.fresh_runner(&one, |work| {
        // The new checkout's mtimes: core-lib rebuilt (its files rewritten, its old
        // incremental session replaced), as the tool's own crates are.
        assert_eq!(
            cargo_units(work, &["build", "-p", "core-lib"], &[]),
            ["core_lib"]
        );
    });
    assert!(
        said.contains("restored:") && !said.contains("warning"),
        "{said}"
    );
    assert_eq!(
        build(&repo.work),
        ["app"],
        "only what uses the rebuilt unit"
    );
    assert_eq!(answer(&repo.work), "42");
}

/// Every file under `dir` dated `secs` later (the clock of a machine ahead of this one).
fn shift_mtimes(dir: &Path, secs: u64) {
    for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if entry.file_type().is_file() {
            let file = std::fs::File::options()
                .append(true)
                .open(entry.path())
                .unwrap();
            let then = entry.metadata().unwrap().modified().unwrap();
            file.set_modified(then + std::time::Duration::from_secs(secs))
                .unwrap();
        }
    }
}

/// Inputs reached through symlinks, a clock behind the saving machine's, a file gone from a
/// package whose build script watches it all: each still rebuilds what it feeds, and the binary
/// shows the checked-out source. Nothing outside the workspace is dated; a file there, reached
/// through a link and not as built, voids the record (a cold build, correct).
#[test]
fn links_a_late_clock_and_a_deleted_file_rebuild_what_they_feed() {
    let _guard = heavy();
    let repo = Repo::new("reuse-links");
    let outside = repo.work.with_file_name("reuse-links-outside.rs");
    std::fs::write(&outside, "pub const V: u32 = 7;\n").unwrap();
    let w = |rel: &str, text: &str| write_file(&repo.origin, rel, text);
    let link = |to: &str, rel: &str| {
        let at = repo.origin.join(rel);
        let _ = std::fs::remove_file(&at);
        std::os::unix::fs::symlink(to, at).unwrap();
    };
    w("core/src/values/one.rs", "pub fn value() -> u32 { 1 }\n");
    w("core/src/values/two.rs", "pub fn value() -> u32 { 2 }\n");
    w("core/src/kinds/a/mod.rs", "pub const KIND: &str = \"a\";\n");
    w("core/src/kinds/b/mod.rs", "pub const KIND: &str = \"b\";\n");
    link("values/two.rs", "core/src/chosen.rs");
    link("kinds/b", "core/src/kind");
    link(outside.to_str().unwrap(), "core/src/outside.rs");
    w(
        CORE,
        "mod chosen;\nmod kind;\nmod outside;\npub fn answer() -> String { format!(\"{}{}{}\", chosen::value(), kind::KIND, outside::V) }\n",
    );
    // A build script that reads a folder and names no file to watch: cargo watches the package.
    w(
        "app/build.rs",
        "fn main() { println!(\"cargo::rustc-env=DATA={}\", std::fs::read_dir(\"data\").unwrap().count()); }\n",
    );
    w("app/data/a", "a\n");
    w("app/data/b", "b\n");
    w(
        APP,
        "fn main() { println!(\"{} {}\", core_lib::answer(), env!(\"DATA\")); }\n",
    );
    w(".gitignore", "/target/\n*.log\n");
    let base = git_commit(&repo.origin, "links, a build script reading data/");
    repo.clone_at(&base);
    // A file git ignores, written by the job (not a build script): no checkout has it, and
    // cargo never watched it.
    write_file(&repo.work, "app/job.log", "ran\n");
    repo.build_and_save();
    assert_eq!(answer(&repo.work), "2b7 2");
    let outside_mtime = || std::fs::metadata(&outside).unwrap().modified().unwrap();
    let before = outside_mtime();

    // A file link switched to another unchanged file, then a folder link.
    link("values/one.rs", "core/src/chosen.rs");
    let file_link = git_commit(&repo.origin, "chosen: one");
    let said = repo.fresh_runner(&file_link, |_| {});
    assert!(!said.contains("run again"), "an ignored file gone: {said}");
    assert_eq!(build(&repo.work), ["app", "core_lib"], "file link switched");
    assert_eq!(answer(&repo.work), "1b7 2");
    assert_eq!(
        outside_mtime(),
        before,
        "a file outside the workspace dated"
    );
    link("kinds/a", "core/src/kind");
    let dir_link = git_commit(&repo.origin, "kind: a");
    repo.fresh_runner(&dir_link, |_| {});
    assert_eq!(
        build(&repo.work),
        ["app", "core_lib"],
        "folder link switched"
    );
    assert_eq!(answer(&repo.work), "1a7 2");

    // A file deleted from a package whose build script watches the whole package.
    std::fs::remove_file(repo.origin.join("app/data/b")).unwrap();
    let deleted = git_commit(&repo.origin, "data/b gone");
    let said = repo.fresh_runner(&deleted, |_| {});
    assert!(said.contains("run again") && said.contains("app"), "{said}");
    assert_eq!(build(&repo.work), ["app", "core_lib"], "a data file gone");
    assert_eq!(answer(&repo.work), "1a7 1");

    // The saving machine's clock an hour ahead of this one: its units are dated in this
    // machine's future, and a change made now must still be newer than they are.
    let hour = 3600;
    let said = repo.fresh_runner(&file_link, |work| {
        shift_mtimes(&work.join("target"), hour);
        let path = work.join("target/xtask/sources.json");
        let mut record: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let later = |v: &serde_json::Value| v.as_u64().unwrap() + hour * 1_000_000_000;
        record["saved_at"] = later(&record["saved_at"]).into();
        for source in record["sources"].as_object_mut().unwrap().values_mut() {
            source["mtime"] = later(&source["mtime"]).into();
        }
        std::fs::write(&path, record.to_string()).unwrap();
    });
    assert!(said.contains("clock is"), "{said}");
    assert_eq!(build(&repo.work), ["app", "core_lib"], "a clock behind");
    assert_eq!(answer(&repo.work), "1b7 2");

    // The file outside, reached by a link, not as built (and dated long ago): not used.
    repo.build_and_save();
    std::fs::write(&outside, "pub const V: u32 = 8;\n").unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(946_684_800);
    std::fs::File::options()
        .append(true)
        .open(&outside)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let said = repo.fresh_runner(&file_link, |_| {});
    assert!(said.contains("links out of the workspace"), "{said}");
    build(&repo.work);
    assert_eq!(answer(&repo.work), "1b8 2");
}

/// A file a build script wrote into the workspace (git-ignored, so no fresh checkout has it):
/// the script runs again and writes it, and the build is correct, not a missing module.
#[test]
fn a_file_a_build_script_wrote_into_the_workspace_is_written_again() {
    let _guard = heavy();
    let repo = Repo::new("reuse-generated");
    let w = |rel: &str, text: &str| write_file(&repo.origin, rel, text);
    w(
        "core/build.rs",
        "fn main() {\n    println!(\"cargo::rerun-if-changed=schema.txt\");\n    \
         let schema = std::fs::read_to_string(\"schema.txt\").unwrap();\n    \
         std::fs::write(\"src/generated.rs\", format!(\"pub const SCHEMA: u32 = {};\\n\", schema.trim())).unwrap();\n}\n",
    );
    w("core/schema.txt", "5\n");
    w(
        CORE,
        "mod generated;\npub fn answer() -> u32 { generated::SCHEMA }\n",
    );
    w(".gitignore", "/target/\ngenerated.rs\n");
    let base = git_commit(&repo.origin, "a generated module");
    repo.clone_at(&base);
    repo.build_and_save();
    assert_eq!(answer(&repo.work), "5");

    let said = repo.fresh_runner(&base, |_| {});
    assert!(
        said.contains("run again") && said.contains("core-lib"),
        "{said}"
    );
    assert_eq!(build(&repo.work), ["app", "core_lib"], "written again");
    assert_eq!(answer(&repo.work), "5");
    let six = repo.commit("core/schema.txt", "6\n");
    repo.fresh_runner(&six, |_| {});
    build(&repo.work);
    assert_eq!(answer(&repo.work), "6");
}

/// Cargo counts a folder's own mtime when a build script watches the folder: as built, the
/// folder is shown unchanged (nothing rebuilt); a file added to or deleted from it (the folder's
/// entries differ, its files' contents not) runs the script again.
#[test]
fn a_watched_folder_reruns_its_build_script_only_when_its_entries_differ() {
    let _guard = heavy();
    let repo = Repo::new("reuse-folder");
    let w = |rel: &str, text: &str| write_file(&repo.origin, rel, text);
    w(
        "app/build.rs",
        "fn main() {\n    println!(\"cargo::rerun-if-changed=assets\");\n    \
         let mut names: Vec<String> = std::fs::read_dir(\"assets\").unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();\n    \
         names.sort();\n    println!(\"cargo::rustc-env=ASSETS={}\", names.join(\",\"));\n}\n",
    );
    w("app/assets/a.txt", "a\n");
    w("app/assets/b.txt", "b\n");
    w(APP, "fn main() { println!(\"{}\", env!(\"ASSETS\")); }\n");
    let base = git_commit(&repo.origin, "a watched folder");
    repo.clone_at(&base);
    repo.build_and_save();
    assert_eq!(answer(&repo.work), "a.txt,b.txt");

    repo.fresh_runner(&base, |_| {});
    assert_eq!(build(&repo.work), Vec::<String>::new(), "as built");

    std::fs::remove_file(repo.origin.join("app/assets/b.txt")).unwrap();
    let deleted = git_commit(&repo.origin, "b.txt deleted");
    repo.fresh_runner(&deleted, |_| {});
    assert_eq!(build(&repo.work), ["app"], "a file deleted from the folder");
    assert_eq!(answer(&repo.work), "a.txt");

    let added = repo.commit("app/assets/c.txt", "c\n");
    repo.fresh_runner(&added, |_| {});
    assert_eq!(build(&repo.work), ["app"], "a file added to the folder");
    assert_eq!(answer(&repo.work), "a.txt,c.txt");

    // A record of format 3 (no folders in it) is still used: its folders keep the checkout's
    // time, so the script runs again, and nothing else is built.
    let record = repo.saved.join("xtask/sources.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    json["format"] = 3.into();
    json.as_object_mut().unwrap().remove("folders");
    std::fs::write(&record, json.to_string()).unwrap();
    let said = repo.fresh_runner(&base, |_| {});
    assert!(said.contains("restored:"), "{said}");
    assert_eq!(build(&repo.work), ["app"], "format 3: the folder looks new");
    assert_eq!(answer(&repo.work), "a.txt,b.txt");
}

/// Where this tool is a member built in the same target dir (as in its own repository), `cache
/// save` keeps its build, so the next `cargo xtask` starts at once; what it prunes, it names.
#[test]
fn saving_keeps_the_tools_own_build_and_names_what_it_prunes() {
    let _guard = heavy();
    let root = small_workspace("reuse-tool-member", "");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))
        .unwrap()
        .replace(
            "members = [\"core\", \"app\"]",
            "members = [\"core\", \"app\", \"tool\"]\ndefault-members = [\"core\", \"app\"]",
        );
    write_file(&root, "Cargo.toml", &manifest);
    write_file(
        &root,
        "tool/Cargo.toml",
        "[package]\nname = \"xtask-fastbuild\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [[bin]]\nname = \"xtask\"\npath = \"main.rs\"\n",
    );
    write_file(&root, "tool/main.rs", "fn main() {}\n");
    generate_lockfile(&root);
    git_commit(&root, "the tool as a member");
    build(&root);
    assert_eq!(
        cargo_units(&root, &["build", "--package", "xtask-fastbuild"], &[]),
        ["xtask"]
    );
    assert!(!cargo_units(&root, &["test", "--no-run"], &[]).is_empty());

    let said: serde_json::Value =
        serde_json::from_str(&xtask_ok(&root, &["cache", "save", "--json"])).unwrap();
    let pruned: Vec<&str> = said["pruned"]["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert!(
        pruned.contains(&"app") && !pruned.contains(&"xtask-fastbuild"),
        "the tests' units go, the tool's stay: {said}"
    );
    assert_eq!(
        cargo_units(&root, &["build", "--package", "xtask-fastbuild"], &[]),
        Vec::<String>::new(),
        "the tool's next run compiles nothing"
    );
    let out = xtask(&root, &["cache", "save"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("pruned 0 units"), "{text}");
}

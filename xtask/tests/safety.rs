//! Nothing lost, nothing written where it must not be (round 2), each case in a generated
//! throwaway workspace: a plan that would build nothing is refused and `dist/` kept; ci-optims
//! keeps a file it did not write and says what it removes; a stale Cargo.lock is rewritten by no
//! check, no dry run and no image build; `cache clean` keeps what another workspace uses; a
//! user's edit during a bench is kept without the bench's line; bad configuration is refused
//! with the fix; every dry run writes nothing anywhere.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn generate(name: &str, extra: &str) -> PathBuf {
    small_workspace(&format!("safety/{name}"), extra)
}

/// `cargo xtask ARGS` in `dir` with `env` on top of ours.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Replace `from` by `to` in the root Cargo.toml of `root`.
fn edit_manifest(root: &Path, from: &str, to: &str) {
    let path = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} not in {text}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// What is under `root`, links not followed: every file's bytes and mode, every link's text,
/// every folder (so an added empty one shows).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let Ok(entry) = entry else { continue };
        let path = entry.path().to_path_buf();
        let meta = entry.path().symlink_metadata().unwrap();
        let what = if meta.is_symlink() {
            format!("link {}", std::fs::read_link(&path).unwrap().display())
        } else if meta.is_dir() {
            "dir".to_string()
        } else {
            let bytes = std::fs::read(&path).unwrap_or_default();
            let mtime = meta.modified().ok();
            format!(
                "file {:o} {} {:?} {:x}",
                meta.permissions().mode(),
                bytes.len(),
                mtime,
                bytes
                    .iter()
                    .fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(*b as u64))
            )
        };
        out.insert(path, what);
    }
    out
}

fn assert_same(before: &BTreeMap<PathBuf, String>, after: &BTreeMap<PathBuf, String>, what: &str) {
    let changed: Vec<String> = before
        .iter()
        .filter(|(p, v)| after.get(*p) != Some(v))
        .map(|(p, _)| format!("changed or removed: {}", p.display()))
        .chain(
            after
                .keys()
                .filter(|p| !before.contains_key(*p))
                .map(|p| format!("added: {}", p.display())),
        )
        .collect();
    assert!(changed.is_empty(), "{what}:\n{}", changed.join("\n"));
}

#[test]
fn a_build_that_would_produce_nothing_is_refused_and_dist_is_kept() {
    let _guard = heavy();
    let root = generate("empty-plan", "");
    let out = run(&root, &["build", "--variant", "production"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_sums_verify(&root.join("dist"));
    let dist = snapshot(&root.join("dist"));
    for (from, to, says) in [
        (
            "targets = [\"x86_64-unknown-linux-gnu\"]",
            "targets = []",
            "`targets = []`",
        ),
        (
            "targets = [\"x86_64-unknown-linux-gnu\"]",
            "targets = [\"x86_64-unknown-linux-gnu\"]\nbins = []",
            "`bins = []`",
        ),
    ] {
        edit_manifest(&root, from, to);
        for dry in [true, false] {
            let mut args = vec!["build", "--variant", "production"];
            if dry {
                args.push("--dry-run");
            }
            let out = run(&root, &args, &[]);
            assert_eq!(out.status.code(), Some(2), "{to} (dry run {dry})");
            let err = stderr(&out);
            assert!(
                err.contains(says) && err.contains("remove the key"),
                "{err}"
            );
        }
        edit_manifest(&root, to, from);
        assert_same(&dist, &snapshot(&root.join("dist")), to);
    }
}

#[test]
fn ci_optims_sync_keeps_a_file_it_did_not_write_and_says_what_it_removes() {
    let _guard = heavy();
    let root = generate("ci-optims-keep", "");
    let out = run(&root, &["ci-optims", "sync"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(root.join("ci_optims/NOTES.md"), "my notes\n").unwrap();
    // A stub of a member that is gone: generated by this tool, so it goes.
    let gone = "ci_optims/members/old/Cargo.toml";
    write_file(
        &root,
        gone,
        "# @generated by `cargo xtask ci-optims sync` from `cargo metadata`: do not edit.\n",
    );
    let dry = run(&root, &["ci-optims", "sync", "--dry-run"], &[]);
    let plan = stdout(&dry);
    assert!(plan.contains(&format!("remove   {gone}")), "{plan}");
    assert!(
        plan.contains("keep     ci_optims/NOTES.md (not written by this tool)"),
        "{plan}"
    );
    let out = run(&root, &["ci-optims", "sync"], &[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("removed {gone}")), "{err}");
    assert!(!err.contains("wrote ci_optims/NOTES.md"), "{err}");
    assert!(err.contains("kept ci_optims/NOTES.md"), "{err}");
    assert_eq!(
        std::fs::read_to_string(root.join("ci_optims/NOTES.md")).unwrap(),
        "my notes\n"
    );
    assert!(!root.join(gone).exists() && !root.join("ci_optims/members/old").exists());
    let check = run(&root, &["ci-optims", "check"], &[]);
    assert!(check.status.success(), "{}", stderr(&check));
}

#[test]
fn a_stale_lockfile_is_rewritten_by_no_check_no_dry_run_and_no_image_build() {
    let _guard = heavy();
    let root = generate("stale-lock", "");
    assert!(run(&root, &["ci-optims", "sync"], &[]).status.success());
    // A new member the app depends on: Cargo.lock lacks its entry.
    write_file(
        &root,
        "extra/Cargo.toml",
        "[package]\nname = \"extra\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    write_file(&root, "extra/src/lib.rs", "pub fn x() {}\n");
    edit_manifest(&root, "\"core\", \"app\"]", "\"core\", \"app\", \"extra\"]");
    let app = root.join("app/Cargo.toml");
    let text = std::fs::read_to_string(&app).unwrap();
    std::fs::write(&app, format!("{text}extra = {{ path = \"../extra\" }}\n")).unwrap();
    let lock = std::fs::read(root.join("Cargo.lock")).unwrap();
    for (args, env) in [
        (&["ci-optims", "check"][..], &[][..]),
        (&["ci-optims", "check"][..], &[("CI", "true")][..]),
        (&["ci-optims", "check", "--dry-run"][..], &[][..]),
        (
            &[
                "docker",
                "build",
                "--variant",
                "development",
                "--docker",
                "/nonexistent/docker",
            ][..],
            &[][..],
        ),
    ] {
        let out = run(&root, args, env);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {err}");
        assert!(
            err.contains("Cargo.lock does not match the manifests")
                && err.contains("cargo xtask ci-optims sync"),
            "{args:?}: {err}"
        );
        assert_eq!(
            std::fs::read(root.join("Cargo.lock")).unwrap(),
            lock,
            "{args:?} rewrote Cargo.lock"
        );
    }
    // The dry run of sync says it will update the lockfile, and writes nothing.
    let dry = run(&root, &["ci-optims", "sync", "--dry-run"], &[]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(
        stdout(&dry).contains("(update Cargo.lock, stale for the manifests"),
        "{}",
        stdout(&dry)
    );
    assert_eq!(std::fs::read(root.join("Cargo.lock")).unwrap(), lock);
    // Sync does what its plan said.
    let out = run(&root, &["ci-optims", "sync"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("updated Cargo.lock"),
        "{}",
        stderr(&out)
    );
    assert!(std::fs::read_to_string(root.join("Cargo.lock"))
        .unwrap()
        .contains("name = \"extra\""));
    assert!(run(&root, &["ci-optims", "check"], &[]).status.success());
}

/// A cargo home whose registry holds the extracted source of a crate this workspace does not
/// lock (as another workspace on the machine would leave it): `cache clean` keeps it, because
/// cargo's own record says it is in use, and its dry run never offers to remove it.
#[test]
fn cache_clean_keeps_what_another_workspace_uses() {
    let _guard = heavy();
    let root = generate("cache-clean", "");
    let home = root.join("target/fake-cargo-home");
    let foreign = home.join("registry/src/index.crates.io-1949cf8c6b5b557f/foreign-1.0.0");
    write_file(&foreign, "src/lib.rs", "pub fn used_elsewhere() {}\n");
    let home_str = home.display().to_string();
    let env = [("CARGO_HOME", home_str.as_str())];
    let dry = run(&root, &["cache", "clean", "--dry-run"], &env);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let plan = stdout(&dry);
    assert!(!plan.contains("foreign"), "{plan}");
    assert!(plan.contains("no workspace on this machine used"), "{plan}");
    let out = run(&root, &["cache", "clean"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(foreign.join("src/lib.rs").is_file(), "{}", stderr(&out));
    // What cargo's record says no workspace used for 40 days goes; the rest stays.
    if available(
        "python3 (sqlite3)",
        missing_program("python3", "apt-get install python3"),
    ) {
        let index = "index.crates.io-1949cf8c6b5b557f";
        std::fs::create_dir_all(home.join("registry/index").join(index)).unwrap();
        let old = home.join("registry/src").join(index).join("old-0.1.0");
        write_file(&old, "src/lib.rs", "pub fn unused() {}\n");
        let script = format!(
            "import sqlite3, time\n\
             c = sqlite3.connect({db:?})\n\
             now = int(time.time())\n\
             c.execute('insert or ignore into registry_index (name, timestamp) values (?, ?)', ({index:?}, now))\n\
             rid = c.execute('select id from registry_index where name = ?', ({index:?},)).fetchone()[0]\n\
             c.execute('insert or replace into registry_src values (?, ?, ?, ?)', (rid, 'old-0.1.0', 20, now - 40 * 86400))\n\
             c.commit()\n",
            db = home.join(".global-cache").display().to_string(),
        );
        let status = Command::new("python3")
            .args(["-c", &script])
            .status()
            .unwrap();
        assert!(status.success(), "writing cargo's record");
        // Cargo cleans at most once per second, even when asked always to.
        std::thread::sleep(Duration::from_millis(1100));
        let out = run(&root, &["cache", "clean"], &env);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            !old.exists(),
            "unused for 40 days, yet kept: {}",
            stderr(&out)
        );
        assert!(foreign.join("src/lib.rs").is_file());
    }
    // --docker says that the prune is engine-wide, before it runs.
    let dry = run(
        &root,
        &["cache", "clean", "--docker", "--dry-run"],
        &[("DOCKER", "/nonexistent/docker")],
    );
    assert!(stdout(&dry).contains("engine-wide"), "{}", stdout(&dry));
}

/// Wait until `file` holds `needle`.
fn wait_for(file: &Path, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !std::fs::read_to_string(file).unwrap().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "{} never held {needle}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_users_edit_during_a_bench_is_kept_and_the_bench_line_is_not() {
    let _guard = heavy();
    let root = generate("bench-user-edit", "");
    let leaf = root.join("app/src/main.rs");
    let original = std::fs::read_to_string(&leaf).unwrap();
    let bench = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["bench", "--baseline", "--runs", "3"])
        .current_dir(&root)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&leaf, "__xtask_bench_edit");
    // The user's editor saves the file with a line of theirs (keeping what it showed).
    let shown = std::fs::read_to_string(&leaf).unwrap();
    std::fs::write(&leaf, format!("// mine\n{shown}")).unwrap();
    let out = bench.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(
        std::fs::read_to_string(&leaf).unwrap(),
        format!("// mine\n{original}"),
        "{err}"
    );
    assert!(err.contains("kept your edit"), "{err}");

    // A bench line left behind (reformatted, so no bench could take it out): the next bench
    // names it and how to remove it, before it edits or measures anything.
    let left = format!("{original}pub fn __xtask_bench_edit() -> &'static str {{\n    \"x\"\n}}\n");
    std::fs::write(&leaf, &left).unwrap();
    for args in [
        &["bench", "--baseline", "--runs", "1"][..],
        &["bench", "--baseline", "--dry-run"][..],
    ] {
        let out = run(&root, args, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("app/src/main.rs:2 holds `__xtask_bench_edit`")
                && err.contains("delete that function"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&leaf).unwrap(), left);
    }
}

#[test]
fn bad_configuration_is_refused_with_the_fix() {
    let _guard = heavy();
    let root = generate("bad-config", "");
    let base = "[workspace.metadata.xtask.bench]\n";
    for (add, says) in [
        ("runs = { noop = 0 }\n", "noop = 0 is out of range"),
        ("runs = { noop = 100000000000 }\n", "out of range"),
        ("runs = { nop = 3 }\n", "unknown variant `nop`"),
    ] {
        edit_manifest(&root, base, &format!("{base}{add}"));
        let out = run(&root, &["bench", "--list"], &[]);
        assert_eq!(out.status.code(), Some(2), "{add}");
        assert!(stderr(&out).contains(says), "{add}: {}", stderr(&out));
        edit_manifest(&root, &format!("{base}{add}"), base);
    }
    let table = "[workspace.metadata.xtask]\n";
    for (add, says) in [
        (
            "linkers = { \"mips-unknown-linux-gnu\" = \"gcc\" }\n",
            "neither a configured target",
        ),
        (
            "[workspace.metadata.xtask.variants.production]\nfeatures = [\"app/nope\"]\n",
            "app has no feature `nope`",
        ),
    ] {
        let text = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let with = if add.starts_with('[') {
            format!("{text}\n{add}")
        } else {
            text.replacen(table, &format!("{table}{add}"), 1)
        };
        std::fs::write(root.join("Cargo.toml"), &with).unwrap();
        let out = run(
            &root,
            &["build", "--variant", "production", "--dry-run"],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{add}");
        assert!(stderr(&out).contains(says), "{add}: {}", stderr(&out));
        std::fs::write(root.join("Cargo.toml"), text).unwrap();
    }
    let out = run(&root, &["doctor", "--json", "--format", "markdown"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
    // From a member's folder, the workspace is the whole one, as for cargo.
    let out = run(
        &root.join("core"),
        &["build", "--variant", "production", "--dry-run"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("--bin app"), "{}", stdout(&out));
}

#[test]
fn a_configured_path_that_leaves_the_workspace_through_a_link_is_refused() {
    let _guard = heavy();
    let root = generate("links-out", "");
    let outside = root.with_file_name("links-out-elsewhere");
    let _ = std::fs::remove_dir_all(&outside);
    write_file(&outside, "main.rs", "fn main() {}\n");
    std::os::unix::fs::symlink(&outside, root.join("elsewhere")).unwrap();
    let before = snapshot(&outside);
    edit_manifest(
        &root,
        "[workspace.metadata.xtask]\n",
        "[workspace.metadata.xtask]\ndist-dir = \"elsewhere/dist\"\n",
    );
    let out = run(&root, &["build", "--variant", "production"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    edit_manifest(&root, "dist-dir = \"elsewhere/dist\"\n", "");
    edit_manifest(
        &root,
        "[workspace.metadata.xtask.bench]\n",
        "[workspace.metadata.xtask.bench]\nleaf-file = \"elsewhere/main.rs\"\n",
    );
    let out = run(&root, &["bench", "--baseline", "--runs", "1"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a file of the workspace"),
        "{}",
        stderr(&out)
    );
    assert_same(&before, &snapshot(&outside), "the folder outside");
}

/// Every command's dry run, in a workspace with a saved baseline, ci_optims/, a dist/ and git:
/// the workspace, its target dir and HOME are the same before and after, to the byte and mtime.
#[test]
fn every_dry_run_writes_nothing_anywhere() {
    let _guard = heavy();
    let root = generate("dry-runs", "");
    assert!(run(&root, &["ci-optims", "sync"], &[]).status.success());
    assert!(run(&root, &["build", "--variant", "production"], &[])
        .status
        .success());
    let out = run(&root, &["bench", "--baseline", "--runs", "1"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    git(&root, &["add", "-A"]);
    git(
        &root,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "two",
        ],
    );
    let other = generate("dry-runs-other", "");
    let home = root.with_file_name("dry-runs-home");
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let [(_, cargo_home), (_, rustup_home)] = tool_homes();
    let env = [
        ("HOME", home.to_str().unwrap()),
        ("CARGO_HOME", cargo_home.as_str()),
        ("RUSTUP_HOME", rustup_home.as_str()),
    ];
    let other_path = other.display().to_string();
    let tool_path = workspace_root().join("xtask").display().to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec!["build", "--variant", "dev"],
        vec!["build", "--variant", "production"],
        vec!["ci-optims", "sync"],
        vec!["ci-optims", "check"],
        vec!["ci-optims", "coverage"],
        vec!["bench", "--baseline"],
        vec!["bench", "--compare"],
        vec!["docker", "build", "--variant", "development"],
        vec!["docker", "manifest", "--registry", "127.0.0.1:5000"],
        vec!["changes", "--base", "HEAD~1"],
        vec!["init", &other_path, "--tool-path", &tool_path],
        vec!["timings", "--variant", "dev"],
        vec!["cache", "clean", "--docker"],
        vec!["cache"],
        vec!["doctor"],
    ];
    for command in commands {
        for json in [false, true] {
            let mut args = command.clone();
            args.push("--dry-run");
            if json {
                args.push("--json");
            }
            let before = (snapshot(&root), snapshot(&home), snapshot(&other));
            let out = run(&root, &args, &env);
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
            let what = format!("`cargo xtask {}`", args.join(" "));
            assert_same(&before.0, &snapshot(&root), &what);
            assert_same(&before.1, &snapshot(&home), &format!("{what}: HOME"));
            assert_same(
                &before.2,
                &snapshot(&other),
                &format!("{what}: the other workspace"),
            );
        }
    }
}

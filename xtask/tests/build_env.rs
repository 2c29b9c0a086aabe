//! `docker/build-env.sh`, the part of the images that runs inside them, run here on the host:
//! what `stage` puts into the runtime image and what `select` hands the deps stage.
mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("xtask-build-env-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn build_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new("sh");
    command
        .arg(workspace_root().join("docker/build-env.sh"))
        .args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn needed(file: &Path) -> Vec<String> {
    let out = Command::new("readelf")
        .arg("-d")
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once("Shared library: [").map(|(_, r)| r))
        .map(|r| r.trim_end_matches(']').to_string())
        .collect()
}

/// Every library the binary needs, and every library those need, is in the runtime dir, even when
/// they are not in TARGET_LIBDIR (a cross build's libssl comes from Debian's multiarch dir).
#[test]
fn stage_copies_the_binarys_libraries_and_theirs() {
    if !available(
        "readelf",
        missing_program("readelf", "apt-get install binutils"),
    ) {
        return;
    }
    let scratch = Scratch::new("stage");
    // This test's own binary, and a system one: the order of their libraries differs, and the
    // walk must end cleanly whichever library comes last (one with no NEEDED entry of its own
    // used to end it with an error).
    let mut exes = vec![std::env::current_exe().unwrap()];
    exes.extend(on_path("true"));
    for (i, exe) in exes.iter().enumerate() {
        assert_staged(&scratch.0.join(i.to_string()), exe);
    }
}

fn assert_staged(scratch: &Path, exe: &Path) {
    let empty = scratch.join("empty-libdir");
    std::fs::create_dir_all(&empty).unwrap();
    let root = scratch.join("runtime");
    let out = build_env(
        &[
            "stage",
            root.to_str().unwrap(),
            &format!("amd64={}", exe.display()),
        ],
        &[("TARGET_LIBDIR", empty.to_str().unwrap())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out_dir = root.join("amd64");

    let triplet = format!("{}-linux-gnu", std::env::consts::ARCH);
    let libdir = out_dir.join("lib").join(&triplet);
    let bin = out_dir.join("usr/local/bin").join(exe.file_name().unwrap());
    assert!(bin.is_file());
    let mut checked = vec![bin];
    checked.extend(
        std::fs::read_dir(&libdir)
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    let mut transitive = 0;
    for file in &checked {
        for lib in needed(file) {
            assert!(
                libdir.join(&lib).is_file(),
                "{} needs {lib}, not staged in {}",
                file.display(),
                libdir.display()
            );
            if file.starts_with(&libdir) {
                transitive += 1;
            }
        }
    }
    // libc.so.6 itself needs the dynamic loader: the closure goes beyond the binary's own list.
    assert!(transitive > 0, "no library of a library was checked");
    let passwd = std::fs::read_to_string(out_dir.join("etc/passwd")).unwrap();
    assert!(passwd.contains(":10001:10001:"), "{passwd}");
}

/// One build stage stages every platform's binary (musl: one cargo run built them all), each in
/// the directory its runtime stage copies (`/runtime/<arch>/`), with the CA certificates when
/// asked for.
#[test]
fn stage_puts_each_platforms_binary_in_its_own_dir() {
    if !available(
        "readelf",
        missing_program("readelf", "apt-get install binutils"),
    ) {
        return;
    }
    let scratch = Scratch::new("stage-each");
    let certs = Path::new("/etc/ssl/certs/ca-certificates.crt");
    let exe = std::env::current_exe().unwrap();
    let root = scratch.0.join("runtime");
    let out = build_env(
        &[
            "stage",
            root.to_str().unwrap(),
            &format!("amd64={}", exe.display()),
            &format!("arm64={}", exe.display()),
        ],
        &[(
            "CA_CERTIFICATES",
            if certs.is_file() { "true" } else { "false" },
        )],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = exe.file_name().unwrap();
    for arch in ["amd64", "arm64"] {
        let dir = root.join(arch);
        assert!(dir.join("usr/local/bin").join(name).is_file(), "{arch}");
        assert!(dir.join("etc/passwd").is_file(), "{arch}");
        assert_eq!(
            std::fs::read_link(dir.join("entrypoint")).unwrap(),
            Path::new("/usr/local/bin").join(name)
        );
        if certs.is_file() {
            assert_eq!(
                std::fs::read(dir.join("etc/ssl/certs/ca-certificates.crt")).unwrap(),
                std::fs::read(certs).unwrap()
            );
        }
    }
    // Nothing else at the top: only the architectures' own dirs.
    let mut top: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    assert_eq!(top, ["amd64", "arm64"]);
    // Without CA_CERTIFICATES there are none.
    let bare = scratch.0.join("bare");
    let out = build_env(
        &[
            "stage",
            bare.to_str().unwrap(),
            &format!("amd64={}", exe.display()),
        ],
        &[],
    );
    assert!(out.status.success());
    assert!(!bare.join("amd64/etc/ssl").exists());
}

/// A library found nowhere fails the stage and names the fix.
#[test]
fn stage_names_the_fix_for_a_missing_library() {
    if !available(
        "readelf",
        missing_program("readelf", "apt-get install binutils"),
    ) {
        return;
    }
    let scratch = Scratch::new("stage-missing");
    let exe = std::env::current_exe().unwrap();
    // A target whose multiarch dirs do not exist here.
    let out = build_env(
        &[
            "stage",
            scratch.0.join("runtime").to_str().unwrap(),
            &format!("sparc64={}", exe.display()),
        ],
        &[
            ("TARGET_MULTIARCH", "sparc64-linux-gnu"),
            ("TARGET_LIBDIR", scratch.0.to_str().unwrap()),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("system-packages"), "{stderr}");
}

/// `select` copies what the list names, at one fixed mtime, and records the content the deps
/// stage will compile (the build stage gives that mtime back to unchanged files).
#[test]
fn select_copies_the_listed_paths_at_one_mtime_with_their_content_recorded() {
    let scratch = Scratch::new("select");
    let context = scratch.0.join("context");
    write_file(
        &context,
        "vendor/foo/Cargo.toml",
        "[package]\nname = \"foo\"\n",
    );
    write_file(&context, "vendor/foo/src/lib.rs", "pub fn foo() {}\n");
    write_file(&context, "src/main.rs", "fn main() {}\n");
    write_file(&context, "ci_optims/local-paths", "vendor/foo\n");
    let selected = scratch.0.join("selected");
    let out = build_env(
        &[
            "select",
            context.to_str().unwrap(),
            "ci_optims/local-paths",
            selected.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(selected.join("vendor/foo/src/lib.rs").is_file());
    assert!(
        !selected.join("src").exists(),
        "an unlisted path was copied"
    );
    for rel in [
        "vendor/foo/src/lib.rs",
        "vendor/foo/Cargo.toml",
        "vendor/foo",
    ] {
        let mtime = std::fs::metadata(selected.join(rel))
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(mtime, 946_684_800, "{rel}");
    }
    let record =
        std::fs::read_to_string(selected.join("target/.build-env/local-paths.files")).unwrap();
    assert!(record.contains("  vendor/foo/src/lib.rs\n"), "{record}");
    assert!(record.contains("  vendor/foo/Cargo.toml\n"), "{record}");

    // A path outside the context is refused.
    write_file(&context, "ci_optims/local-paths", "../elsewhere\n");
    let out = build_env(
        &[
            "select",
            context.to_str().unwrap(),
            "ci_optims/local-paths",
            scratch.0.join("selected-2").to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside the build context"));
}

/// The tests' guard against a run that never ends (a binary under qemu or wine): killed at its
/// limit, and the test fails saying so.
#[test]
#[should_panic(expected = "did not finish within")]
fn a_command_past_its_limit_is_killed() {
    output_within(
        Command::new("sleep").arg("30"),
        std::time::Duration::from_millis(300),
    );
}

/// `build-env cargo build` reports one `build-env: unit <fresh> <package id>` line per
/// `compiler-artifact` message of its cargo run (what `cargo xtask docker build` counts per
/// phase), as many as cargo's own JSON has for the same build; the second run's are all fresh.
#[test]
fn cargo_reports_each_unit_as_cargos_messages_count_it() {
    let root = small_workspace("build-env-units", "");
    let units = |target: &str| -> Vec<String> {
        let out = Command::new("sh")
            .arg(workspace_root().join("docker/build-env.sh"))
            .args(["cargo", "build"])
            .env("BUILD_CARGO", format!("build --target-dir {target}"))
            .current_dir(&root)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(
            err.contains("Compiling") || err.contains("Finished"),
            "cargo's progress stays: {err}"
        );
        err.lines()
            .filter_map(|l| l.strip_prefix("build-env: unit "))
            .map(str::to_string)
            .collect()
    };
    let independent = Command::new(env!("CARGO"))
        .args([
            "build",
            "--message-format=json",
            "--target-dir",
            "target/independent",
        ])
        .current_dir(&root)
        .output()
        .unwrap();
    let artifacts: Vec<serde_json::Value> = String::from_utf8_lossy(&independent.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .collect();
    let first = units("target/image");
    let mut expected: Vec<String> = artifacts
        .iter()
        .map(|m| format!("false {}", m["package_id"].as_str().unwrap()))
        .collect();
    let mut reported = first.clone();
    expected.sort();
    reported.sort();
    assert_eq!(reported, expected);
    let again = units("target/image");
    assert_eq!(again.len(), first.len());
    assert!(again.iter().all(|u| u.starts_with("true ")), "{again:?}");
}

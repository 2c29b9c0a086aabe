//! Every count of units the tool prints about a build is cargo's own: the `compiler-artifact`
//! messages of the same build, compiled (not fresh), fresh and in all. `build`, `timings` (its
//! own build and `--report` of cargo's HTML), `history` and `bench` are held against a plain
//! `cargo build --message-format=json` of the same workspace.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A workspace with a build script of its own and a third-party crate with one (`anyhow`, in
/// this repository's Cargo.lock: resolved offline).
fn workspace() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("counts");
    let _ = std::fs::remove_dir_all(&root);
    let w = |rel: &str, text: &str| write_file(&root, rel, text);
    w(
        "Cargo.toml",
        "[workspace]\nresolver = \"2\"\nmembers = [\"core\", \"app\"]\n\n\
         [workspace.metadata.xtask.bench]\nscenarios = [\"cold\", \"noop\"]\nvariants = [\"dev\"]\n\
         runs = { cold = 1, noop = 1 }\n",
    );
    w(
        "core/Cargo.toml",
        "[package]\nname = \"core-lib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    w(
        "core/build.rs",
        "fn main() { println!(\"cargo::rerun-if-changed=build.rs\"); }\n",
    );
    w("core/src/lib.rs", "pub fn answer() -> u32 { 42 }\n");
    w(
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\ncore-lib = { path = \"../core\" }\nanyhow = \"1\"\n",
    );
    w(
        "app/src/main.rs",
        "fn main() -> anyhow::Result<()> { println!(\"{}\", core_lib::answer()); Ok(()) }\n",
    );
    w(".gitignore", "/target/\n");
    generate_lockfile(&root);
    git_commit_all(&root, "one");
    root
}

/// Cargo's own count of a `cargo build` in `target_dir`: (compiled, fresh, build-script outcomes).
fn cargo_count(root: &Path, target_dir: &Path) -> (u64, u64, u64) {
    let out = Command::new(env!("CARGO"))
        .args(["build", "--message-format=json", "--target-dir"])
        .arg(target_dir)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut compiled, mut fresh, mut runs) = (0, 0, 0);
    for message in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        match message["reason"].as_str() {
            Some("compiler-artifact") if message["fresh"] == true => fresh += 1,
            Some("compiler-artifact") => compiled += 1,
            Some("build-script-executed") => runs += 1,
            _ => {}
        }
    }
    (compiled, fresh, runs)
}

fn json(root: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&xtask_ok(root, args)).unwrap()
}

#[test]
fn every_count_of_units_is_cargos_own() {
    let _guard = heavy();
    let root = workspace();
    let (total, fresh, runs) = cargo_count(&root, &root.join("target/independent"));
    assert_eq!(fresh, 0, "a cold build");
    assert!(
        total >= 5 && runs >= 2,
        "{total} units, {runs} build scripts run"
    );

    // build: cold, then warm, against cargo's own count of the same builds.
    let cold = json(&root, &["build", "--variant", "dev", "--json"]);
    assert_eq!(
        (
            cold["units_compiled"].as_u64(),
            cold["units_fresh"].as_u64()
        ),
        (Some(total), Some(0)),
        "{cold}"
    );
    let warm = json(&root, &["build", "--variant", "dev", "--json"]);
    assert_eq!(
        (
            warm["units_compiled"].as_u64(),
            warm["units_fresh"].as_u64()
        ),
        (Some(0), Some(total)),
        "{warm}"
    );
    // (Cargo names a build script's outcome again when it is fresh.)
    assert_eq!(cargo_count(&root, &root.join("target")), (0, total, runs));

    // timings: its own cold build, then cargo's report of it read again; the history's point.
    let timed = json(&root, &["timings", "--json"]);
    assert_eq!(
        timed["units_compiled"].as_u64(),
        Some(total),
        "{}",
        timed["units_compiled"]
    );
    assert_eq!(timed["build_scripts_run"].as_u64(), Some(runs));
    let report = format!("--report={}", timed["cargo_report"].as_str().unwrap());
    let reread = json(&root, &["timings", &report, "--no-history", "--json"]);
    assert_eq!(reread["units_compiled"].as_u64(), Some(total));
    let history = json(&root, &["history", "--json"]);
    let point = history["points"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(point["units_compiled"].as_u64(), Some(total), "{point}");

    // bench: a cold run compiles every unit, a no-op none.
    let bench = json(&root, &["bench", "--baseline", "--json"]);
    let units = |id: &str| {
        bench["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["scenario"]["id"] == id)
            .map(|r| r["units_compiled"].clone())
            .unwrap_or_else(|| panic!("no {id} in {bench}"))
    };
    assert_eq!(units("cold/dev"), serde_json::json!([total]));
    assert_eq!(units("noop/dev"), serde_json::json!([0]));
}

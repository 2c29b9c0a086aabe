//! The plan is the program: for every command that plans, the steps a real run executes (its
//! `--trace`) are exactly the steps its `--dry-run --json` printed, in order, field for field.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// The steps `--dry-run --json` prints, and the steps a real run traces, for `args` in `root`.
fn planned_and_run(root: &Path, args: &[&str], env: &[(&str, String)]) -> (Vec<Value>, Vec<Value>) {
    let mut dry = args.to_vec();
    dry.extend(["--dry-run", "--json"]);
    let plan: Value = serde_json::from_slice(&ok(xtask_with(root, &dry, env))).unwrap();
    let planned = plan["steps"].as_array().expect("a plan has steps").clone();

    let name: String = args
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trace = root.with_extension(format!("trace-{name}"));
    let _ = std::fs::remove_file(&trace);
    // The same format: a plan may depend on it (`changes` reads Cargo.lock only for JSON and
    // markdown).
    let mut real = args.to_vec();
    let flag = format!("--trace={}", trace.display());
    real.extend(["--json", &flag]);
    ok(xtask_with(root, &real, env));
    let traced = std::fs::read_to_string(&trace)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["step"].clone())
        .collect();
    (planned, traced)
}

fn ok(out: std::process::Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn assert_runs_as_planned(root: &Path, args: &[&str]) {
    assert_runs_as_planned_with(root, args, &[]);
}

fn assert_runs_as_planned_with(root: &Path, args: &[&str], env: &[(&str, String)]) {
    let (planned, traced) = planned_and_run(root, args, env);
    assert!(!planned.is_empty(), "{args:?} planned nothing");
    assert_eq!(
        traced,
        planned,
        "`cargo xtask {}` ran other steps than its dry run printed",
        args.join(" ")
    );
}

#[test]
fn builds_run_the_steps_their_dry_runs_print() {
    let _guard = heavy();
    let root = small_workspace("plan/build", "");
    assert_runs_as_planned(&root, &["build", "--variant", "dev"]);
    assert_runs_as_planned(&root, &["build", "--variant", "production"]);
}

#[test]
fn timings_runs_the_steps_its_dry_run_prints_and_a_dry_run_of_a_report_writes_no_chart() {
    let _guard = heavy();
    let root = small_workspace("plan/timings", "");
    assert_runs_as_planned(&root, &["timings", "--variant", "dev"]);
    // The build went into the history; `history` writes its chart as planned.
    assert_runs_as_planned(&root, &["history"]);
    let reports = root.join("target/xtask-timings/dev/cargo-timings");
    let report = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "html"))
        .expect("cargo's report");
    let charts = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|e| e == "svg")
            })
            .count()
    };
    assert_eq!(charts(&reports), 1);
    for chart in std::fs::read_dir(&reports).unwrap() {
        let path = chart.unwrap().path();
        if path.extension().is_some_and(|e| e == "svg") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let arg = format!("--report={}", report.display());
    let dry = xtask_ok(&root, &["timings", &arg, "--dry-run"]);
    assert!(dry.contains("write the chart"), "{dry}");
    assert_eq!(charts(&reports), 0, "a dry run wrote the chart");
    assert_runs_as_planned(&root, &["timings", &arg]);
    assert_eq!(charts(&reports), 1);
}

#[test]
fn cache_clean_runs_the_steps_its_dry_run_prints() {
    let _guard = heavy();
    let root = small_workspace("plan/cache-clean", "");
    let home = root.join("target/fake-cargo-home");
    std::fs::create_dir_all(&home).unwrap();
    write_file(
        &root,
        "target/xtask/ci-optims-coverage/left.txt",
        "leftover\n",
    );
    let env = [("CARGO_HOME", home.display().to_string())];
    assert_runs_as_planned_with(&root, &["cache", "clean"], &env);
    assert!(!root.join("target/xtask/ci-optims-coverage").exists());
}

#[test]
fn ci_optims_runs_the_steps_its_dry_runs_print() {
    let _guard = heavy();
    let root = small_workspace("plan/ci-optims", "");
    assert_runs_as_planned(&root, &["ci-optims", "sync"]);
    assert!(root.join("ci_optims/Cargo.toml").is_file());
    assert_runs_as_planned(&root, &["ci-optims", "check"]);
    assert_runs_as_planned(
        &root,
        &[
            "ci-optims",
            "coverage",
            "--variant",
            "dev",
            "--mode",
            "build",
        ],
    );
}

#[test]
fn every_bench_run_runs_the_steps_the_dry_run_prints() {
    let _guard = heavy();
    let root = small_workspace("plan/bench", "");
    let args = [
        "bench",
        "--baseline",
        "--scenario",
        "incr-leaf/dev",
        "--runs",
        "2",
    ];
    let mut dry = args.to_vec();
    dry.extend(["--dry-run", "--json"]);
    let plan: Value = serde_json::from_str(&xtask_ok(&root, &dry)).unwrap();
    let scenario = &plan["scenarios"][0];
    let planned = scenario["steps"].as_array().unwrap();
    assert_eq!(planned.len(), 2, "{planned:?}");
    let runs = (scenario["warmup"].as_u64().unwrap() + 2) as usize;

    let trace = root.with_extension("trace");
    let _ = std::fs::remove_file(&trace);
    let flag = format!("--trace={}", trace.display());
    xtask_ok(&root, &[&args[..], &[flag.as_str()]].concat());
    let traced: Vec<Value> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["command"] == scenario["command"])
        .map(|l| l["step"].clone())
        .collect();
    assert_eq!(traced.len(), runs * planned.len(), "{traced:?}");
    for run in traced.chunks(planned.len()) {
        assert_eq!(
            run,
            &planned[..],
            "a bench run ran other steps than planned"
        );
    }
}

#[test]
fn changes_runs_the_step_its_dry_run_prints() {
    let root = small_workspace("plan/changes", "");
    write_file(&root, "core/src/lib.rs", "pub fn answer() -> u32 { 43 }\n");
    git_commit_all(&root, "two");
    let args = ["changes", "--base", "HEAD~1", "--head", "HEAD"];
    assert_runs_as_planned(&root, &args);
    let out = xtask_ok(&root, &args);
    assert!(out.contains("code=true"), "{out}");
}

//! `cargo xtask history`: every `timings` appends a point; the newest is held against the
//! earlier ones beyond their noise, and each slower unit is named with the change behind it.
//! Each test holds `heavy()`: build times measured while another test builds would be noise.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn timings(root: &Path, history: &Path) {
    let history = history.display().to_string();
    xtask_ok(
        root,
        &[
            "timings",
            "--variant",
            "dev",
            "--history",
            &history,
            "--source",
            "test",
        ],
    );
}

/// Generic code enough to make a crate take seconds to compile (it took well under one).
fn big_source(functions: usize) -> String {
    let mut text =
        String::from("fn main() { println!(\"{}\", core_lib::answer() as u64 + f0(3)); }\n");
    for i in 0..functions {
        text += &format!(
            "pub fn f{i}(x: u64) -> u64 {{ let v: Vec<(u64, String)> = (0..x).map(|y| (y * {i}, format!(\"{{y}}\"))).collect(); v.iter().map(|(a, s)| a + s.len() as u64).sum() }}\n"
        );
    }
    text
}

/// As CI keeps it: five points on one runner (one clone), the history file handed to the next
/// runner (a clone at another path) whose commit adds a slow build script to `core-lib` and
/// grows `app`: both are named, each with its delta and the change that explains it, and the
/// markdown says slower. Before: no history is a clear error; the same tree's points are no
/// change.
#[test]
fn a_slow_build_script_and_a_grown_member_are_named_with_their_changes_across_runners() {
    let _guard = heavy();
    let root = small_workspace("history/first-runner", "");
    let kept = root.with_file_name("history-kept");
    let _ = std::fs::remove_dir_all(&kept);
    let file = kept.join("history.jsonl");
    let file_arg = file.display().to_string();

    let none = xtask(&root, &["history", "--file", &file_arg]);
    assert!(!none.status.success());
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert!(stderr.contains("cargo xtask timings"), "{stderr}");

    for _ in 0..5 {
        timings(&root, &file);
    }
    let lines = std::fs::read_to_string(&file).unwrap();
    assert_eq!(lines.lines().count(), 5, "one point per timings run");
    let same: Value = serde_json::from_str(&xtask_ok(
        &root,
        &["history", "--file", &file_arg, "--json"],
    ))
    .unwrap();
    assert_eq!(same["comparison"]["earlier_points"], 4);
    assert!(
        same["comparison"]["cannot_tell"]
            .as_str()
            .unwrap()
            .contains("cannot tell"),
        "four earlier points are too few: {}",
        same["comparison"]
    );

    let next = root.with_file_name("history-second-runner");
    let _ = std::fs::remove_dir_all(&next);
    git(
        root.parent().unwrap(),
        &[
            "clone",
            "-q",
            root.to_str().unwrap(),
            next.to_str().unwrap(),
        ],
    );
    write_file(
        &next,
        "core/build.rs",
        "fn main() { std::thread::sleep(std::time::Duration::from_secs(4)); }\n",
    );
    write_file(&next, "app/src/main.rs", &big_source(1500));
    git_commit(&next, "a slow build script, a big member");
    timings(&next, &file);

    let report: Value = serde_json::from_str(&xtask_ok(
        &next,
        &["history", "--file", &file_arg, "--json"],
    ))
    .unwrap();
    let c = &report["comparison"];
    assert_eq!(c["earlier_points"], 5, "{c}");
    assert!(c["cannot_tell"].is_null(), "{c}");
    let units = c["units"].as_array().unwrap();
    let unit = |package: &str, kind: &str| {
        units
            .iter()
            .find(|u| u["metric"].as_str().unwrap().starts_with(package) && u["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} of {package} flagged: {c:#}"))
    };
    let script = unit("core-lib", "build-script-run");
    assert_eq!(script["verdict"], "new", "{script}");
    assert!(script["after"].as_f64().unwrap() >= 4.0, "{script}");
    let why = script["why"].to_string();
    assert!(why.contains("core-lib's build script changed"), "{script}");
    let app = unit("app", "member");
    assert_eq!(app["verdict"], "slower", "{app}");
    assert!(
        app["why"].to_string().contains("app's sources: +1501"),
        "{app}"
    );
    assert_eq!(c["total"]["verdict"], "slower", "{c}");
    assert!(
        report["chart"]
            .as_str()
            .is_some_and(|p| Path::new(p).is_file()),
        "{report}"
    );

    let markdown = xtask_ok(
        &next,
        &["history", "--file", &file_arg, "--format", "markdown"],
    );
    assert!(
        markdown.starts_with("### Build times: slower"),
        "{markdown}"
    );
    assert!(
        markdown.contains("core-lib's build script changed"),
        "{markdown}"
    );
    let text = xtask_ok(&next, &["history", "--file", &file_arg]);
    assert!(text.contains("rule: "), "the rule is printed: {text}");

    // The same build script, not yet committed (not even added): named with its cause too.
    let file = kept.join("history-uncommitted.jsonl");
    std::fs::copy(kept.join("history.jsonl"), &file).unwrap();
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .take(5)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&file, lines.concat()).unwrap();
    let file_arg = file.display().to_string();
    let third = root.with_file_name("history-third-runner");
    let _ = std::fs::remove_dir_all(&third);
    git(
        root.parent().unwrap(),
        &[
            "clone",
            "-q",
            root.to_str().unwrap(),
            third.to_str().unwrap(),
        ],
    );
    write_file(
        &third,
        "core/build.rs",
        "fn main() { std::thread::sleep(std::time::Duration::from_secs(4)); }\n",
    );
    timings(&third, &file);
    let report: Value = serde_json::from_str(&xtask_ok(
        &third,
        &["history", "--file", &file_arg, "--json"],
    ))
    .unwrap();
    let c = &report["comparison"];
    let script = c["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["kind"] == "build-script-run")
        .unwrap_or_else(|| panic!("the new build script is not flagged: {c:#}"));
    assert!(
        script["why"]
            .to_string()
            .contains("core-lib's build script changed"),
        "an untracked build.rs is a cause: {script}"
    );
}

/// Bad input: a point that is not in the history, a line cut off by an interrupted run.
#[test]
fn a_bad_point_or_a_cut_line_is_said_and_loses_nothing() {
    let _guard = heavy();
    let root = small_workspace("history/bad-input", "");
    let file = root.join("target/xtask/history.jsonl");
    xtask_ok(&root, &["timings", "--variant", "dev"]);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().lines().count(),
        1,
        "appended by default"
    );
    let mut text = std::fs::read_to_string(&file).unwrap();
    text += "{\"format\":1,\"commit\":\"cut\n";
    std::fs::write(&file, &text).unwrap();
    let out = xtask(&root, &["history", "--compare", "1", "9"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no point \"9\""), "{stderr}");
    let listed = xtask(&root, &["history"]);
    assert!(listed.status.success());
    assert!(
        String::from_utf8_lossy(&listed.stderr).contains("1 line (2) of"),
        "the cut line is reported, by its number"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        text,
        "the history is as it was"
    );
    let chart = root.join("target/xtask/history.svg");
    assert!(chart.is_file(), "the chart beside the history");
    std::fs::remove_file(&chart).unwrap();
    xtask_ok(&root, &["history", "--dry-run"]);
    assert!(!chart.exists(), "a dry run wrote the chart");
}

/// The bench's runs can be points too: each scenario's median and its speed control.
#[test]
fn a_bench_appends_one_point_per_scenario() {
    let _guard = heavy();
    let root = small_workspace("history/bench", "");
    let file = root.join("target/bench-history.jsonl");
    let file_arg = file.display().to_string();
    xtask_ok(
        &root,
        &[
            "bench",
            "--baseline",
            "t",
            "--runs",
            "2",
            "--history",
            &file_arg,
        ],
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let points: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(points.len(), 1, "{text}");
    assert_eq!(points[0]["mode"], "bench incr-leaf", "{text}");
    assert_eq!(points[0]["variant"], "dev", "{text}");
    assert!(points[0]["total_seconds"].as_f64().unwrap() > 0.0, "{text}");
    assert!(
        points[0]["control_seconds"].as_f64().unwrap() > 0.0,
        "{text}"
    );
    assert!(points[0]["critical_path_seconds"].is_null(), "{text}");
    let shown = xtask_ok(&root, &["history", "--file", &file_arg]);
    assert!(shown.contains("bench incr-leaf"), "{shown}");
}

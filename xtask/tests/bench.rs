//! `cargo xtask bench` on a generated throwaway workspace: baseline then compare is "no
//! change", an injected slowdown is "slower" with exit 1, bad baselines are refused and left
//! as they were, a failing build saves nothing, and SIGINT during an edit restores the file.
//! Each test holds `heavy()`: timings measured while another test builds would be noise.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A workspace whose library's build script computes for XTASK_TEST_WORK million loop steps
/// (the injected slowdown: CPU work, so it scales with machine speed as compiling does and as
/// the speed control assumes) and fails when XTASK_TEST_FAIL is set.
fn generate(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&root);
    let write = |rel: &str, text: &str| write_file(&root, rel, text);
    write(
        "Cargo.toml",
        r#"[workspace]
resolver = "2"
members = ["corelib", "app"]

[profile.production]
inherits = "release"

[workspace.metadata.xtask]
targets = ["x86_64-unknown-linux-gnu"]

[workspace.metadata.xtask.bench]
scenarios = ["cold", "noop", "incr-leaf", "incr-core"]
variants = ["dev"]
"#,
    );
    write(
        "corelib/Cargo.toml",
        "[package]\nname = \"corelib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    write(
        "corelib/build.rs",
        r#"fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=XTASK_TEST_WORK");
    println!("cargo:rerun-if-env-changed=XTASK_TEST_FAIL");
    if std::env::var_os("XTASK_TEST_FAIL").is_some() {
        panic!("injected build failure");
    }
    let steps: u64 = std::env::var("XTASK_TEST_WORK").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut x: u64 = 1;
    for i in 0..steps * 1_000_000 {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    assert_ne!(x, 0);
}
"#,
    );
    write("corelib/src/lib.rs", "pub fn answer() -> u32 { 42 }\n");
    write(
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\ncorelib = { path = \"../corelib\" }\n",
    );
    write(
        "app/src/main.rs",
        "fn main() { println!(\"{}\", corelib::answer()); }\n",
    );
    generate_lockfile(&root);
    root
}

fn bench(root: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    eprintln!("$ cargo xtask {} {env:?}", all.join(" "));
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(&all)
        .envs(env.iter().copied())
        .current_dir(root)
        .output()
        .unwrap();
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn verdicts(out: &Output) -> Vec<String> {
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("JSON comparison on stdout");
    json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["verdict"].as_str().unwrap_or("-").to_string())
        .collect()
}

/// `bench --compare` with `runs` runs and JSON output, plus `extra` arguments.
fn compare_json(root: &Path, env: &[(&str, &str)], runs: &str, extra: &[&str]) -> Output {
    let mut args = vec!["--compare", "--runs", runs, "--format", "json"];
    args.extend_from_slice(extra);
    bench(root, env, &args)
}

#[test]
fn no_change_passes_and_an_injected_slowdown_fails_the_gate() {
    let _guard = heavy();
    let root = generate("bench-gate");
    let base_env = [("XTASK_TEST_WORK", "250")];
    let out = bench(
        &root,
        &base_env,
        &["--baseline", "--scenario", "cold/dev", "--runs", "5"],
    );
    assert_eq!(out.status.code(), Some(0));
    let saved = root.join("target/xtask/bench/main.json");
    let before = std::fs::read(&saved).unwrap();
    let baseline: serde_json::Value = serde_json::from_slice(&before).unwrap();
    assert_eq!(baseline["schema"], 3);
    for runs in ["samples", "controls", "cpu_samples", "cpu_controls"] {
        assert_eq!(
            baseline["results"][0][runs].as_array().unwrap().len(),
            5,
            "{runs}: one per measured run"
        );
    }
    for key in ["cpu_model", "cpus", "memory_bytes", "os", "rustc", "host"] {
        assert!(
            baseline["machine"].get(key).is_some(),
            "machine.{key} missing"
        );
    }

    // 5 runs against 5: two sets of the same build separate completely by chance 2 times in 252.
    let out = compare_json(&root, &base_env, "5", &[]);
    assert_eq!(out.status.code(), Some(0), "A/A must pass");
    assert_eq!(verdicts(&out), ["no-change"]);

    let out = compare_json(&root, &[("XTASK_TEST_WORK", "500")], "3", &[]);
    assert_eq!(out.status.code(), Some(1), "a regression exits 1");
    assert_eq!(verdicts(&out), ["slower"]);

    let out = bench(
        &root,
        &base_env,
        &["--compare", "--runs", "1", "--format", "markdown"],
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("| cold/dev |") && md.contains("verdict"),
        "{md}"
    );

    // The speed control goes through the same `rustc` as cargo. Make only the control slower
    // by about 0.6 s of CPU work (as if the machine were): the builds, unchanged, are scaled
    // down to the baseline's machine speed, in wall and CPU time, and count as faster;
    // --no-speed-control leaves them raw.
    let slow_control = root.join("slow-control.sh");
    write_file(
        &root,
        "slow-control.sh",
        "#!/bin/sh\ncase \"$*\" in *'--crate-name control'*) i=0; while [ $i -lt 700000 ]; do i=$((i+1)); done ;; esac\nexec rustc \"$@\"\n",
    );
    make_executable(&slow_control);
    let slow_env = [
        ("XTASK_TEST_WORK", "250"),
        ("RUSTC", slow_control.to_str().unwrap()),
    ];
    let medians = |out: &Output| {
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let row = &json["rows"][0];
        let median = |key: &str| row[key]["median"].as_f64().unwrap();
        (
            median("current"),
            median("current_raw"),
            json["speed"].clone(),
        )
    };
    let out = compare_json(&root, &slow_env, "2", &[]);
    assert_eq!(out.status.code(), Some(0), "faster is not a regression");
    assert_eq!(verdicts(&out), ["faster"]);
    let (scaled, raw, speed) = medians(&out);
    let (then, now) = (
        speed["baseline_control"].as_f64().unwrap(),
        speed["current_control"].as_f64().unwrap(),
    );
    // The wrapper works about 0.6 s in every control; the control itself takes about 0.25 s.
    assert!(
        now > then + 0.3,
        "the control did not go through $RUSTC: {then} s then, {now} s now"
    );
    assert!(
        scaled < raw * 0.6,
        "runs not scaled by the control: {scaled} s scaled, {raw} s raw"
    );
    let out = compare_json(&root, &slow_env, "2", &["--no-speed-control"]);
    let (scaled, raw, speed) = medians(&out);
    assert_eq!(scaled, raw, "--no-speed-control compares raw times");
    assert_eq!(speed["not_applied"], "--no-speed-control");

    assert_eq!(
        std::fs::read(&saved).unwrap(),
        before,
        "comparing never rewrites the baseline"
    );
}

#[test]
fn bad_baselines_and_failing_builds_change_nothing() {
    let _guard = heavy();
    let root = generate("bench-bad");
    let dir = root.join("target/xtask/bench");
    std::fs::create_dir_all(&dir).unwrap();

    // Missing.
    let out = bench(&root, &[], &["--compare", "nightly"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cargo xtask bench --baseline nightly"));

    // Corrupt: refused, and left byte for byte.
    let corrupt = dir.join("main.json");
    std::fs::write(&corrupt, b"{\"schema\": 1, \"results\": [tr").unwrap();
    let out = bench(&root, &[], &["--compare"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));
    assert_eq!(
        std::fs::read(&corrupt).unwrap(),
        b"{\"schema\": 1, \"results\": [tr"
    );

    // Unknown scenario: the valid ones are listed.
    let out = bench(&root, &[], &["--baseline", "x", "--scenario", "warm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("incr-core/dev"));

    // A build that fails: reported, and the existing baseline stays as it was.
    let keep = [
        "--baseline",
        "keep",
        "--scenario",
        "noop/dev",
        "--runs",
        "1",
    ];
    let good = bench(&root, &[], &keep);
    assert_eq!(good.status.code(), Some(0));
    let kept = dir.join("keep.json");
    let before = std::fs::read(&kept).unwrap();
    let out = bench(&root, &[("XTASK_TEST_FAIL", "1")], &keep);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("scenario noop/dev failed"));
    assert_eq!(std::fs::read(&kept).unwrap(), before);

    // An edit to a file the build never compiles would time a no-op: refused, nothing saved,
    // and the file restored.
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    write_file(
        &root,
        "Cargo.toml",
        &format!("{manifest}core-file = \"corelib/notes.rs\"\n"),
    );
    write_file(&root, "corelib/notes.rs", "// not a module of corelib\n");
    let mut unused = keep;
    unused[3] = "incr-core/dev";
    let out = bench(&root, &[], &unused);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("corelib/notes.rs compiled nothing"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&kept).unwrap(), before);
    assert_eq!(
        std::fs::read_to_string(root.join("corelib/notes.rs")).unwrap(),
        "// not a module of corelib\n"
    );
    std::fs::write(root.join("Cargo.toml"), manifest).unwrap();

    // A place that cannot be written: refused before measuring.
    let blocker = root.join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    let target = blocker.join("sub/base.json");
    let out = bench(
        &root,
        &[],
        &[
            "--baseline",
            "--file",
            target.to_str().unwrap(),
            "--scenario",
            "noop/dev",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot create"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn list_shows_scenarios_and_the_files_they_edit() {
    let _guard = heavy();
    let root = generate("bench-list");
    let out = bench(&root, &[], &["--list", "--format", "json"]);
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_id = |id: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id("incr-leaf/dev")["edit_file"], "app/src/main.rs");
    assert_eq!(by_id("incr-core/dev")["edit_file"], "corelib/src/lib.rs");
    assert_eq!(by_id("cold/dev")["edit_file"], serde_json::Value::Null);

    // A dry run lists each scenario's steps and touches nothing: no edit, no baseline.
    let leaf = std::fs::read(root.join("app/src/main.rs")).unwrap();
    let out = bench(
        &root,
        &[],
        &[
            "--baseline",
            "--dry-run",
            "--json",
            "--scenario",
            "incr-leaf/dev",
        ],
    );
    assert!(out.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = &plan["scenarios"][0]["steps"];
    assert_eq!(steps[0]["task"], "edit");
    assert!(steps[0]["purpose"]
        .as_str()
        .unwrap()
        .contains("app/src/main.rs"));
    assert_eq!(steps[1]["step"], "cargo");
    assert!(steps[1]["command"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a
            .as_str()
            .unwrap()
            .ends_with("target/xtask/bench/target/dev")));
    assert_eq!(std::fs::read(root.join("app/src/main.rs")).unwrap(), leaf);
    assert!(
        !root.join("target/xtask/bench").exists(),
        "a dry run wrote into target/"
    );
}

#[test]
fn sigint_during_an_edit_leaves_the_file_byte_identical() {
    let _guard = heavy();
    let root = generate("bench-sigint");
    let leaf = root.join("app/src/main.rs");
    let original = std::fs::read(&leaf).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "bench",
            "--baseline",
            "--scenario",
            "incr-leaf/dev",
            "--runs",
            "50",
        ])
        .current_dir(&root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the edit is in place (a build is running on it), then interrupt.
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read(&leaf).unwrap() == original {
        assert!(
            Instant::now() < deadline,
            "the bench never edited {}",
            leaf.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "exit code after SIGINT");
    assert_eq!(
        std::fs::read(&leaf).unwrap(),
        original,
        "the edited file was not restored"
    );
    assert!(
        !root.join("target/xtask/bench/main.json").exists(),
        "no baseline from an interrupted run"
    );
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

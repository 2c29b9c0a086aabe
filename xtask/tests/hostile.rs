//! Nothing lost, nothing touched outside (round 3): a sweep over every command that writes,
//! removes or dates files, with hostile targets (a target dir that holds the workspace, `/`,
//! a link out; outputs that are links out) and hostile inputs a restored cache or another
//! branch can bring (records, histories, baselines and a bench journal naming `..`, absolute
//! and outside paths, bytes that are not UTF-8, times that are no times, a record too large to
//! read). Afterwards a sibling folder of the workspace, a fake HOME and every tracked file are
//! as they were (the sibling and HOME to the mtime).

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

/// A workspace beside a folder and a HOME of the user's, all under one folder.
struct Sandbox {
    top: PathBuf,
    ws: PathBuf,
    sibling: PathBuf,
    home: PathBuf,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let ws = small_workspace(&format!("hostile/{name}/ws"), "");
        let top = ws.parent().unwrap().to_path_buf();
        let (sibling, home) = (top.join("sibling"), top.join("home"));
        for (dir, file) in [(&sibling, "notes.txt"), (&home, ".bashrc")] {
            let _ = std::fs::remove_dir_all(dir);
            write_file(dir, file, "the user's own\n");
        }
        Sandbox {
            top,
            ws,
            sibling,
            home,
        }
    }

    /// `cargo xtask ARGS` in the workspace, with the fake HOME and `env`.
    fn xtask(&self, args: &[&str], env: &[(&str, String)]) -> Output {
        // A CARGO_HOME of its own (the workspace has no dependency): `cache clean` asks cargo
        // to clean its caches, which must not be this machine's.
        let [_, rustup_home] = tool_homes();
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .env("HOME", &self.home)
            .env("CARGO_HOME", self.top.join("cargo-home"))
            .envs([rustup_home])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.ws)
            .output()
            .unwrap();
        eprintln!(
            "$ cargo xtask {} -> {}\n{}",
            args.join(" "),
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr), 8)
        );
        out
    }

    /// The sibling and HOME (bytes, modes, mtimes), and the bytes of every tracked file.
    fn state(&self) -> [BTreeMap<PathBuf, String>; 3] {
        let listed = Command::new("git")
            .args(["ls-files", "-z"])
            .current_dir(&self.ws)
            .output()
            .unwrap();
        let tracked = String::from_utf8(listed.stdout)
            .unwrap()
            .split('\0')
            .filter(|f| !f.is_empty())
            .map(|f| {
                let bytes = std::fs::read(self.ws.join(f)).unwrap_or_default();
                (PathBuf::from(f), format!("{bytes:?}"))
            })
            .collect();
        [snapshot(&self.sibling), snapshot(&self.home), tracked]
    }

    fn assert_untouched(&self, before: &[BTreeMap<PathBuf, String>; 3], what: &str) {
        let after = self.state();
        for (i, place) in ["the sibling folder", "HOME", "the tracked files"]
            .iter()
            .enumerate()
        {
            assert_same(&before[i], &after[i], &format!("{what}: {place}"));
        }
    }
}

/// One short bench run.
const BENCH: &[&str] = &[
    "bench",
    "--baseline",
    "--runs",
    "1",
    "--scenario",
    "incr-leaf/dev",
];

/// Every command that writes, removes or dates files (the bench and the production build kept
/// to one short run).
const WRITERS: &[&[&str]] = &[
    &["build", "--variant", "dev"],
    &["build", "--variant", "production"],
    &["ci-optims", "sync"],
    &["ci-optims", "coverage"],
    BENCH,
    &["timings"],
    &["history"],
    &["cache", "save"],
    &["cache", "restore"],
    &["cache", "clean"],
    &["init", "--check"],
];

fn said(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// A target dir that is the workspace root, `/`, or in `.git`: every command is refused before
/// its first step, with the fix, and touches nothing. A folder above the workspace is cargo's to
/// use: every command runs there, and the sibling, HOME and tracked files stay as they were.
#[test]
fn a_target_dir_that_is_the_workspace_or_the_root_is_refused_by_every_command() {
    let _guard = heavy();
    let sandbox = Sandbox::new("target-dir");
    let before = sandbox.state();
    let ws = sandbox.ws.display().to_string();
    let parent = sandbox.top.display().to_string();
    for args in WRITERS {
        sandbox.xtask(args, &[("CARGO_TARGET_DIR", parent.clone())]);
    }
    sandbox.assert_untouched(&before, "CARGO_TARGET_DIR=<the workspace's parent>");
    for target in [ws.clone(), "/".to_string(), format!("{ws}/.git/objects")] {
        for args in WRITERS {
            let out = sandbox.xtask(args, &[("CARGO_TARGET_DIR", target.clone())]);
            let text = said(&out);
            assert!(
                !out.status.success()
                    && text.contains("target dir")
                    && text.contains("build.target-dir"),
                "CARGO_TARGET_DIR={target} cargo xtask {}: {text}",
                args.join(" ")
            );
        }
        sandbox.assert_untouched(&before, &format!("CARGO_TARGET_DIR={target}"));
    }
}

/// A target dir that is a link out of the workspace is cargo's and the tool's place: every
/// command runs, and nothing else outside is touched.
#[test]
fn a_target_dir_linked_out_of_the_workspace_serves_and_nothing_else_moves() {
    let _guard = heavy();
    let sandbox = Sandbox::new("target-link");
    let elsewhere = sandbox.top.join("elsewhere-target");
    let _ = std::fs::remove_dir_all(&elsewhere);
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, sandbox.ws.join("target")).unwrap();
    let before = sandbox.state();
    for args in WRITERS {
        let out = sandbox.xtask(args, &[]);
        // `history` before any timed build, `init --check` in a workspace that adopted nothing:
        // refused with the reason; the rest runs.
        let expected = !matches!(args[0], "init");
        assert_eq!(
            out.status.success(),
            expected,
            "cargo xtask {}: {}",
            args.join(" "),
            said(&out)
        );
    }
    sandbox.assert_untouched(&before, "a target dir linked out");
    assert!(
        elsewhere.join("debug").is_dir(),
        "cargo built through the link"
    );
}

/// Outputs the user made links out of the workspace (dist/, a bench report, a history's chart,
/// a history appended to): refused with the fix, never written through or replaced.
#[test]
fn outputs_that_are_links_out_are_refused_and_left_as_they_are() {
    let _guard = heavy();
    let sandbox = Sandbox::new("output-links");
    let victim = sandbox.sibling.join("notes.txt");
    let link = |rel: &str| {
        let path = sandbox.ws.join(rel);
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        path.display().to_string()
    };
    std::os::unix::fs::symlink(&sandbox.sibling, sandbox.ws.join("dist")).unwrap();
    let report = format!("--report={}", link("report.html"));
    let chart = format!("--chart={}", link("chart.svg"));
    let history = format!("--history={}", link("history.jsonl"));
    let before = sandbox.state();
    for args in [
        &["build", "--variant", "production"][..],
        &[BENCH, &[report.as_str()]].concat(),
        &["timings", &history],
    ] {
        let out = sandbox.xtask(args, &[]);
        assert!(
            !out.status.success() && said(&out).contains("link"),
            "cargo xtask {}: {}",
            args.join(" "),
            said(&out)
        );
    }
    // A history of the tool's own, then its chart asked for through the link.
    assert!(sandbox.xtask(&["timings"], &[]).status.success());
    let out = sandbox.xtask(&["history", &chart], &[]);
    assert!(
        !out.status.success() && said(&out).contains("is a link"),
        "{}",
        said(&out)
    );
    sandbox.assert_untouched(&before, "outputs as links out");
    for rel in ["dist", "report.html", "chart.svg", "history.jsonl"] {
        assert!(
            sandbox.ws.join(rel).is_symlink(),
            "{rel} is still the user's link"
        );
    }
}

/// What a restored cache or another branch brings (the record, the history, a baseline, a bench
/// journal) naming places outside, bytes that are not UTF-8, times that are no times, a size
/// past the limit: each entry skipped with a warning that names it, or the file refused with
/// the reason; nothing outside is written, removed or dated.
#[test]
fn records_histories_baselines_and_journals_that_lie_touch_nothing_outside() {
    let _guard = heavy();
    let sandbox = Sandbox::new("inputs");
    let ws = &sandbox.ws;
    let outside = sandbox.sibling.join("notes.txt");
    assert!(sandbox
        .xtask(&["build", "--variant", "dev"], &[])
        .status
        .success());
    assert!(sandbox.xtask(&["cache", "save"], &[]).status.success());
    assert!(sandbox.xtask(&["timings"], &[]).status.success());
    assert!(sandbox.xtask(BENCH, &[]).status.success());
    let before = sandbox.state();
    let xtask_dir = ws.join("target/xtask");

    // The record: entries through `..`, absolute, with a link's file outside.
    let record_path = xtask_dir.join("sources.json");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    let entry = json!({"sha256": "0", "mtime": 0});
    let dotdot = format!("{}/../sibling/notes.txt", ws.display());
    record["sources"]["../sibling/notes.txt"] = entry.clone();
    record["sources"][outside.display().to_string()] = entry.clone();
    record["sources"]["core/src/lib.rs"]["real"] = json!(dotdot);
    record["target"]["../sibling/notes.txt"] = json!(1);
    record["folders"][".."] = json!({"entries": "0", "mtime": 0});
    std::fs::write(&record_path, record.to_string()).unwrap();
    let out = sandbox.xtask(&["cache", "restore"], &[]);
    let text = said(&out);
    assert!(
        out.status.success() && text.contains("skipped") && text.contains("../sibling/notes.txt"),
        "{text}"
    );
    sandbox.assert_untouched(&before, "a record naming places outside");

    // One byte that is not UTF-8: said so (not "nothing saved"); what cargo built is removed,
    // nothing else. Past the size limit: refused at once, the limit named.
    let mut bytes = std::fs::read(&record_path).unwrap();
    bytes.insert(10, 0xff);
    std::fs::write(&record_path, &bytes).unwrap();
    let text = said(&sandbox.xtask(&["cache", "restore"], &[]));
    assert!(
        text.contains("does not parse") && !text.contains("nothing saved"),
        "{text}"
    );
    std::fs::write(&record_path, vec![b' '; (64 << 20) + 1]).unwrap();
    let text = said(&sandbox.xtask(&["cache", "restore"], &[]));
    assert!(text.contains("over the 64.0 MiB"), "{text}");
    assert!(
        xtask_dir.join("history.jsonl").is_file(),
        "the history stays"
    );
    sandbox.assert_untouched(&before, "a record that does not parse, or is too large");

    // The history: a negative time, a time of 1e308, bytes that are not UTF-8; the good point
    // stays, each bad line is named.
    let history_path = xtask_dir.join("history.jsonl");
    let good = std::fs::read_to_string(&history_path).unwrap();
    let point: Value = serde_json::from_str(good.lines().next().unwrap()).unwrap();
    let mut history = good.clone().into_bytes();
    for total in [-5.0, 1e308] {
        let mut bad = point.clone();
        bad["total_seconds"] = json!(total);
        history.extend(format!("{bad}\n").bytes());
    }
    history.extend(b"{\"format\": 1, \"commit\": \"\xff\"}\n");
    std::fs::write(&history_path, &history).unwrap();
    let out = sandbox.xtask(&["history"], &[]);
    let text = said(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("3 lines (2, 3, 4)") && !text.contains("e308"),
        "{text}"
    );
    assert!(
        !text.contains("-5."),
        "a negative time reached a table: {text}"
    );

    // A baseline whose scenario edits a file outside: refused, the file untouched.
    let baseline_path = xtask_dir.join("bench/main.json");
    let mut baseline: Value =
        serde_json::from_slice(&std::fs::read(&baseline_path).unwrap()).unwrap();
    for file in [
        "../sibling/notes.txt".to_string(),
        outside.display().to_string(),
    ] {
        baseline["results"][0]["scenario"]["edit_file"] = json!(file);
        std::fs::write(&baseline_path, baseline.to_string()).unwrap();
        let out = sandbox.xtask(&["bench", "--compare", "--runs", "1"], &[]);
        assert!(
            !out.status.success() && said(&out).contains("not a file of the workspace"),
            "{}",
            said(&out)
        );
    }
    let mut bytes = std::fs::read(&baseline_path).unwrap();
    bytes.insert(5, 0xff);
    std::fs::write(&baseline_path, &bytes).unwrap();
    let out = sandbox.xtask(&["bench", "--compare", "--runs", "1"], &[]);
    assert!(
        !out.status.success() && said(&out).contains("not valid JSON"),
        "{}",
        said(&out)
    );

    // A bench journal naming a file outside, as a killed bench would have left it: any command
    // skips it, and writes nothing there.
    let journal = xtask_dir.join("bench/pending-edits");
    std::fs::create_dir_all(&journal).unwrap();
    std::fs::write(journal.join("0-0.path"), outside.display().to_string()).unwrap();
    std::fs::write(journal.join("0-0.orig"), "an attacker's bytes\n").unwrap();
    std::fs::write(journal.join("0-0.edited"), "the user's own\n").unwrap();
    let out = sandbox.xtask(&["build", "--variant", "dev"], &[]);
    assert!(
        out.status.success() && said(&out).contains("no file of the workspace"),
        "{}",
        said(&out)
    );
    sandbox.assert_untouched(&before, "histories, baselines and a journal that lie");
}

/// `init` on a workspace whose `.cargo/config.toml` is a link: to a file outside, refused with
/// the fix (its dry run too) and the link and that file left as they are; to a file inside the
/// workspace, written through (the dry run says so), the link kept.
#[test]
fn init_never_replaces_a_linked_config_and_writes_through_only_inside() {
    let _guard = heavy();
    let sandbox = Sandbox::new("init-link");
    let ws = &sandbox.ws;
    write_file(&sandbox.sibling, "config.toml", "[build]\njobs = 2\n");
    std::fs::create_dir_all(ws.join(".cargo")).unwrap();
    let config = ws.join(".cargo/config.toml");
    std::os::unix::fs::symlink(sandbox.sibling.join("config.toml"), &config).unwrap();
    let before = sandbox.state();
    let tool = workspace_root().join("xtask").display().to_string();
    let init = |extra: &[&str]| {
        let mut args = vec!["init", ws.to_str().unwrap(), "--tool-path", &tool];
        args.extend(extra);
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(&args)
            .current_dir(workspace_root())
            .output()
            .unwrap()
    };
    for extra in [&["--dry-run"][..], &[]] {
        let out = init(extra);
        assert!(
            !out.status.success() && said(&out).contains("is a link to"),
            "init {extra:?}: {}",
            said(&out)
        );
    }
    sandbox.assert_untouched(&before, "init with a config linked out");
    assert!(config.is_symlink(), "the link is the user's");
    assert!(!ws.join("xtask").exists(), "a refused init wrote nothing");

    // Linked to a file of the workspace: written through.
    std::fs::remove_file(&config).unwrap();
    write_file(ws, "config/cargo.toml", "[build]\njobs = 2\n");
    std::os::unix::fs::symlink("../config/cargo.toml", &config).unwrap();
    let out = init(&["--dry-run"]);
    assert!(
        out.status.success() && said(&out).contains("written through to"),
        "{}",
        said(&out)
    );
    let out = init(&[]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(config.is_symlink(), "the link stays");
    let through = std::fs::read_to_string(ws.join("config/cargo.toml")).unwrap();
    assert!(
        through.contains("jobs = 2") && through.contains("xtask ="),
        "{through}"
    );
}

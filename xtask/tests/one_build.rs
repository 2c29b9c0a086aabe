//! One build, whoever starts it: `cargo xtask` (a real `cargo run`, as its alias runs it) and
//! the user's own `cargo` share every unit. A fixture whose build script watches every variable
//! it can see (and every one cargo's reference says `cargo run` sets) is built by each kind of
//! command once; then every ordered pair of kinds runs, and nothing compiles again: 0 units,
//! counted from the fingerprints cargo writes (a fresh unit's are left as they are). Then the
//! generated test workflow's `run:` steps, as a script, twice; then production.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// What cargo's reference lists under "Environment variables Cargo sets for crates" (with
/// `CARGO_BIN_EXE_<name>` for this fixture's binary) and the dynamic library path: the fixture's
/// build script watches each, set or not.
const DOCUMENTED: &[&str] = &[
    "CARGO",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_PKG_VERSION",
    "CARGO_PKG_VERSION_MAJOR",
    "CARGO_PKG_VERSION_MINOR",
    "CARGO_PKG_VERSION_PATCH",
    "CARGO_PKG_VERSION_PRE",
    "CARGO_PKG_AUTHORS",
    "CARGO_PKG_NAME",
    "CARGO_PKG_DESCRIPTION",
    "CARGO_PKG_HOMEPAGE",
    "CARGO_PKG_REPOSITORY",
    "CARGO_PKG_LICENSE",
    "CARGO_PKG_LICENSE_FILE",
    "CARGO_PKG_RUST_VERSION",
    "CARGO_PKG_README",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "OUT_DIR",
    "CARGO_BIN_EXE_app",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "LD_LIBRARY_PATH",
];

/// The fixture: `watch` (a library whose build script watches the variables), `app` (a binary
/// using it and `anyhow`, a crate with a build script of its own), and `xtask/`, a thin crate
/// that `cargo xtask` runs (`cargo run`, as the alias `init` writes) and that becomes the tool
/// built for this test.
fn fixture(name: &str, host: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&root);
    let w = |rel: &str, text: &str| write_file(&root, rel, text);
    w(
        "Cargo.toml",
        &format!(
            "[workspace]\nresolver = \"2\"\nmembers = [\"watch\", \"app\"]\n\n\
             [profile.production]\ninherits = \"release\"\n\n\
             [workspace.metadata.xtask]\ntargets = [\"{host}\"]\n\n\
             [workspace.metadata.xtask.bench]\nscenarios = [\"noop\", \"incr-leaf\", \"incr-core\", \"test-build\"]\n\
             variants = [\"dev\"]\nruns = {{ noop = 1, incr-leaf = 1, incr-core = 1, test-build = 1 }}\n"
        ),
    );
    w(
        "watch/Cargo.toml",
        "[package]\nname = \"watch\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    let documented = DOCUMENTED
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    w(
        "watch/build.rs",
        &format!(
            "fn main() {{\n    \
             let seen = std::env::vars_os().map(|(k, _)| k.to_string_lossy().into_owned());\n    \
             for name in seen.chain([{documented}].map(String::from)) {{\n        \
             println!(\"cargo::rerun-if-env-changed={{name}}\");\n    }}\n}}\n"
        ),
    );
    w(
        "watch/src/lib.rs",
        "pub fn word() -> &'static str { \"watched\" }\n",
    );
    w(
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nwatch = { path = \"../watch\" }\nanyhow = \"1\"\n",
    );
    w(
        "app/src/main.rs",
        "fn main() -> anyhow::Result<()> {\n    println!(\"{}\", watch::word());\n    Ok(())\n}\n\n\
         #[test]\nfn word() {\n    assert_eq!(watch::word(), \"watched\");\n}\n",
    );
    w(
        "xtask/Cargo.toml",
        "[package]\nname = \"xtask\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    );
    w(
        "xtask/src/main.rs",
        &format!(
            "use std::os::unix::process::CommandExt;\n\n\
             fn main() {{\n    \
             let err = std::process::Command::new({:?}).args(std::env::args_os().skip(1)).exec();\n    \
             panic!(\"{{err}}\");\n}}\n",
            env!("CARGO_BIN_EXE_xtask")
        ),
    );
    w(
        ".cargo/config.toml",
        "[alias]\nxtask = \"run --quiet --manifest-path xtask/Cargo.toml --target-dir target/xtask-tool --\"\n",
    );
    w(
        ".gitignore",
        "/target/\n/dist/\n/dist.*\n/xtask/Cargo.lock\n",
    );
    generate_lockfile(&root);
    git_commit_all(&root, "fixture");
    root
}

/// The host triple of this toolchain.
fn host() -> String {
    let out = Command::new("rustc").arg("-vV").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .unwrap()
        .to_string()
}

/// The environment of the user's shell: a few variables and none of cargo's (this test runs
/// under `cargo test`, which set its own).
fn shell() -> Vec<(&'static str, String)> {
    [
        "PATH",
        "HOME",
        "CARGO_HOME",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
    ]
    .into_iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| (k, v)))
    .collect()
}

/// Every unit's fingerprint file in the workspace's own profile dirs (`target/<profile>`,
/// `target/<triple>/<profile>`), with its mtime: cargo rewrites it when it compiles or runs
/// the unit, and leaves a fresh one alone.
fn fingerprints(target: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let dirs = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect()
    };
    let mut found = BTreeMap::new();
    for profile in dirs(target)
        .into_iter()
        .flat_map(|d| std::iter::once(d.clone()).chain(dirs(&d)))
    {
        for unit in dirs(&profile.join(".fingerprint")) {
            for file in std::fs::read_dir(&unit).unwrap().flatten() {
                let name = file.file_name().to_string_lossy().into_owned();
                let bookkeeping = name.ends_with(".json")
                    || name.starts_with("dep-")
                    || name.starts_with("output-")
                    || name == "invoked.timestamp";
                if !bookkeeping {
                    found.insert(file.path(), file.metadata().unwrap().modified().unwrap());
                }
            }
        }
    }
    found
}

/// The fixture and how its commands are run.
struct Fixture {
    root: PathBuf,
    shell: Vec<(&'static str, String)>,
}

impl Fixture {
    /// `program ARGS` from the user's shell in the fixture; it must succeed.
    fn run(&self, program: &str, args: &[&str], env: &[(&str, String)]) {
        eprintln!("$ {program} {}", args.join(" "));
        let out = Command::new(program)
            .args(args)
            .current_dir(&self.root)
            .env_clear()
            .envs(self.shell.iter().map(|(k, v)| (k, v)))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            tail(&String::from_utf8_lossy(&out.stderr), 40)
        );
    }

    /// The units a command of `kind` compiled or ran, by their fingerprint files.
    fn units_of(&self, kind: &str) -> Vec<String> {
        let target = self.root.join("target");
        let before = fingerprints(&target);
        match kind {
            "xtask build" => self.run("cargo", &["xtask", "build", "--variant", "dev"], &[]),
            "cargo build" => self.run("cargo", &["build"], &[]),
            "cargo test --no-run" => self.run("cargo", &["test", "--no-run"], &[]),
            "xtask timings --warm" => self.run("cargo", &["xtask", "timings", "--warm"], &[]),
            "xtask bench (dev)" => self.run("cargo", &["xtask", "bench", "--baseline"], &[]),
            "cache restore, cargo build" => {
                self.run("cargo", &["xtask", "cache", "restore"], &[]);
                self.run("cargo", &["build"], &[]);
            }
            "xtask build production" => {
                self.run("cargo", &["xtask", "build", "--variant", "production"], &[])
            }
            "cargo build --profile production" => {
                self.run("cargo", &["build", "--profile", "production"], &[])
            }
            "xtask timings production --warm" => self.run(
                "cargo",
                &["xtask", "timings", "--variant", "production", "--warm"],
                &[],
            ),
            other => panic!("no command {other}"),
        }
        let after = fingerprints(&target);
        after
            .iter()
            .filter(|(path, mtime)| before.get(*path) != Some(mtime))
            .map(|(path, _)| path.strip_prefix(&target).unwrap().display().to_string())
            .collect()
    }

    /// Each kind once (its first build may compile), then a walk through every ordered pair of
    /// kinds: each step must compile nothing.
    fn every_pair(&self, kinds: &[&str]) -> Vec<String> {
        for kind in kinds {
            self.units_of(kind);
        }
        let mut failures = Vec::new();
        let mut previous = kinds[kinds.len() - 1];
        for &next in &walk(kinds) {
            let units = self.units_of(next);
            if !units.is_empty() {
                failures.push(format!(
                    "`{next}` after `{previous}` compiled {} unit(s): {}",
                    units.len(),
                    units.join(", ")
                ));
            }
            previous = next;
        }
        failures
    }
}

/// A walk that takes every ordered pair (a, b), a ≠ b, once (an Euler circuit of the complete
/// directed graph), starting after the last kind.
fn walk<'a>(kinds: &[&'a str]) -> Vec<&'a str> {
    let n = kinds.len();
    let mut unused: Vec<Vec<usize>> = (0..n)
        .map(|a| (0..n).filter(|&b| b != a).rev().collect())
        .collect();
    let (mut stack, mut circuit) = (vec![n - 1], Vec::new());
    while let Some(&at) = stack.last() {
        match unused[at].pop() {
            Some(next) => stack.push(next),
            None => circuit.push(stack.pop().unwrap()),
        }
    }
    circuit.reverse();
    circuit[1..].iter().map(|&i| kinds[i]).collect()
}

#[test]
fn the_walk_takes_every_ordered_pair_once() {
    let kinds = ["a", "b", "c", "d"];
    let steps = walk(&kinds);
    let mut pairs: Vec<(&str, &str)> = std::iter::once("d")
        .chain(steps.iter().copied())
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| (w[0], w[1]))
        .collect();
    pairs.sort();
    let mut every: Vec<(&str, &str)> = kinds
        .iter()
        .flat_map(|a| kinds.iter().map(move |b| (*a, *b)))
        .filter(|(a, b)| a != b)
        .collect();
    every.sort();
    assert_eq!(pairs, every);
}

/// The `run:` steps of the test workflow `init` generates, in order, as one script (the
/// toolchain install left out: the machine has its toolchain), and the workflow's `env:`.
fn workflow_script() -> (String, Vec<(String, String)>) {
    let text = std::fs::read_to_string(workspace_root().join("xtask/assets/test.yml")).unwrap();
    let mut env = Vec::new();
    let mut in_env = false;
    let mut script = String::from("set -euo pipefail\n");
    for line in text.lines() {
        if line == "env:" {
            in_env = true;
            continue;
        }
        if in_env {
            match line.strip_prefix("  ").and_then(|l| l.split_once(": ")) {
                Some((k, v)) if !line.starts_with("   ") => {
                    env.push((k.to_string(), v.to_string()));
                    continue;
                }
                _ => in_env = false,
            }
        }
        if let Some(run) = line.trim_start().strip_prefix("run: ") {
            if !run.starts_with("rustup ") {
                script.push_str(run);
                script.push('\n');
            }
        }
    }
    assert!(
        script.contains("cargo xtask cache restore") && script.contains("cargo test"),
        "{script}"
    );
    (script, env)
}

#[test]
fn the_tool_and_plain_cargo_share_every_unit() {
    let _guard = heavy();
    let host = host();
    let fixture = Fixture {
        root: fixture("one-build", &host),
        shell: shell(),
    };
    // The record `cache restore` reads: the job's builds are warm first.
    fixture.run("cargo", &["build"], &[]);
    fixture.run("cargo", &["test", "--no-run"], &[]);
    fixture.run(
        "cargo",
        &[
            "xtask",
            "cache",
            "save",
            "--keep",
            "build",
            "--keep",
            "test --no-run",
        ],
        &[],
    );
    let mut failures = fixture.every_pair(&[
        "xtask build",
        "cargo build",
        "cargo test --no-run",
        "xtask timings --warm",
        "xtask bench (dev)",
        "cache restore, cargo build",
    ]);

    // The generated test workflow, as a script, twice: the second run compiles nothing.
    let (script, env) = workflow_script();
    // Beside the fixture: a file added to its target dir would void the saved record.
    let outputs = fixture.root.with_extension("github-outputs");
    let mut env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    env.push(("GITHUB_OUTPUT", outputs.display().to_string()));
    env.push(("GITHUB_STEP_SUMMARY", outputs.display().to_string()));
    let script_file = fixture.root.with_extension("workflow.sh");
    std::fs::write(&script_file, &script).unwrap();
    let target = fixture.root.join("target");
    let script_path = script_file.display().to_string();
    fixture.run("bash", &[&script_path], &env);
    let before = fingerprints(&target);
    fixture.run("bash", &[&script_path], &env);
    let after = fingerprints(&target);
    let again: Vec<_> = after
        .iter()
        .filter(|(p, m)| before.get(*p) != Some(m))
        .map(|(p, _)| p.display().to_string())
        .collect();
    if !again.is_empty() {
        failures.push(format!(
            "the workflow's steps, run again, compiled {} unit(s): {}\n{script}",
            again.len(),
            again.join(", ")
        ));
    }

    // Production: the user's `cargo build --profile production` in the same target dir.
    failures.extend(fixture.every_pair(&[
        "xtask build production",
        "cargo build --profile production",
        "xtask timings production --warm",
    ]));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

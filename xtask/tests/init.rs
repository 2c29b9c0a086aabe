//! `cargo xtask init` on a generated workspace of another shape (a root package with library
//! members, a Makefile and a `.dockerignore` of its own): the dry run changes nothing; the run
//! wires it without touching its lockfile, its files or what `cargo build` builds; the installed
//! `cargo xtask` works through the alias; a second run changes nothing.

mod common;

use common::*;
use snapshot::digest;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A content fingerprint of every file under `root` (but target/ and .git/).
mod snapshot {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    pub fn digest(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        walkdir::WalkDir::new(root)
            .into_iter()
            .filter_entry(|e| e.file_name() != "target" && e.file_name() != ".git")
            .filter_map(Result::ok)
            .filter(|e| !e.file_type().is_dir())
            .map(|e| {
                let bytes = if e.path_is_symlink() {
                    std::fs::read_link(e.path())
                        .unwrap()
                        .to_string_lossy()
                        .as_bytes()
                        .to_vec()
                } else {
                    std::fs::read(e.path()).unwrap()
                };
                (e.path().strip_prefix(root).unwrap().to_path_buf(), bytes)
            })
            .collect()
    }
}

fn generate() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("init-ws");
    let _ = std::fs::remove_dir_all(&root);
    let w = |rel: &str, text: &str| write_file(&root, rel, text);
    w(
        "Cargo.toml",
        "[package]\nname = \"tool\"\nversion = \"0.3.0\"\nedition = \"2021\"\n\n[workspace]\nmembers = [\"crates/*\"]\n\n[dependencies]\nparse = { path = \"crates/parse\" }\n",
    );
    w(
        "src/main.rs",
        "fn main() { println!(\"{}\", parse::n()); }\n",
    );
    w(
        "crates/parse/Cargo.toml",
        "[package]\nname = \"parse\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nitoa = \"1\"\n",
    );
    w(
        "crates/parse/src/lib.rs",
        "pub fn n() -> String { itoa::Buffer::new().format(7).to_string() }\n",
    );
    w("Makefile", "all:\n\tcargo build\n");
    w(".gitignore", "/target\n");
    std::os::unix::fs::symlink(".gitignore", root.join(".dockerignore")).unwrap();
    let status = Command::new(env!("CARGO"))
        .args(["generate-lockfile", "--offline"])
        .current_dir(&root)
        .status()
        .unwrap();
    assert!(status.success());
    root
}

fn default_members(root: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["workspace_default_members"].clone()
}

#[test]
fn init_wires_a_workspace_without_changing_its_build() {
    let _guard = heavy();
    let root = generate();
    let here = workspace_root();
    let before = digest(&root);
    let defaults = default_members(&root);
    let arg = root.display().to_string();

    let plan = xtask_ok(&here, &["init", &arg, "--service", "tool", "--dry-run"]);
    assert!(plan.contains("create  xtask/Cargo.toml"), "{plan}");
    assert!(plan.contains("keep    Makefile"), "{plan}");
    assert!(plan.contains("+ [profile.production]"), "{plan}");
    assert_eq!(digest(&root), before, "a dry run changed files");

    xtask_ok(&here, &["init", &arg, "--service", "tool"]);
    let after = digest(&root);
    for kept in ["Cargo.lock", "Makefile", ".dockerignore", "src/main.rs"] {
        assert_eq!(
            after[Path::new(kept)],
            before[Path::new(kept)],
            "{kept} changed"
        );
    }
    assert_eq!(
        default_members(&root),
        defaults,
        "what `cargo build` builds changed"
    );
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("[workspace.metadata.xtask.service]\nbin = \"tool\""),
        "{manifest}"
    );
    assert!(root.join("xtask/Cargo.lock").is_file() && root.join("ci_optims/Cargo.lock").is_file());
    assert!(
        root.join("Dockerfile.dockerignore").is_file(),
        "the build context's own ignore file"
    );
    let ignored = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    for pattern in ["/dist/", "/dist.staging/", "/dist.lock"] {
        assert!(
            ignored.lines().any(|l| l == pattern),
            "{pattern} not git-ignored: {ignored}"
        );
    }

    // Idempotent.
    let again = xtask_ok(&here, &["init", &arg, "--dry-run"]);
    assert!(again.contains("nothing to change"), "{again}");
    xtask_ok(&here, &["init", &arg]);
    let mut third = digest(&root);
    let mut after = after;
    // ci_optims is regenerated identically; nothing else is touched.
    third.retain(|p, _| !p.starts_with("ci_optims"));
    after.retain(|p, _| !p.starts_with("ci_optims"));
    assert_eq!(third, after);

    // The installed tool runs through the alias, from its own workspace.
    let out = Command::new(env!("CARGO"))
        .args(["xtask", "ci-optims", "check"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo xtask ci-optims check: {}",
        tail(&String::from_utf8_lossy(&out.stderr), 30)
    );
    assert_eq!(
        std::fs::read(root.join("Cargo.lock")).unwrap(),
        before[Path::new("Cargo.lock")],
        "building the installed xtask changed the workspace's lockfile"
    );
    // It builds under the workspace's target/, not in a target dir of its own in the tree.
    assert!(!root.join("xtask/target").exists());
    assert!(root.join("target/xtask-tool").is_dir());
}

/// A workspace with an `xtask` of its own (helix's shape): the tool goes to `xtask-build/`
/// under the alias `cargo xtask-build`, and the Makefile and workflows it adds call that, not
/// the team's tool; the team's alias stays as it was.
#[test]
fn beside_a_workspaces_own_xtask_the_files_call_the_tool_by_its_alias() {
    let root = small_workspace("init-own-xtask", "");
    // The generated config has a table: start from a workspace without one, as init finds it.
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let bare = manifest[..manifest.find("[workspace.metadata.xtask]").unwrap()].to_string();
    write_file(&root, "Cargo.toml", &bare);
    write_file(
        &root,
        "xtask/Cargo.toml",
        "[package]\nname = \"xtask\"\nversion = \"0.1.0\"\n",
    );
    write_file(
        &root,
        ".cargo/config.toml",
        "[alias]\nxtask = \"run --manifest-path xtask/Cargo.toml --\"\n",
    );
    let arg = root.display().to_string();
    xtask_ok(&workspace_root(), &["init", &arg]);
    assert!(root.join("xtask-build/Cargo.toml").is_file());
    let makefile = std::fs::read_to_string(root.join("Makefile")).unwrap();
    assert!(
        makefile.contains("$(CARGO) xtask-build docker build")
            && !makefile.contains("$(CARGO) xtask "),
        "{makefile}"
    );
    for workflow in ["xtask-docker.yml", "xtask-bench.yml"] {
        let text = std::fs::read_to_string(root.join(".github/workflows").join(workflow)).unwrap();
        assert!(
            text.contains("cargo xtask-build ") && !text.contains("cargo xtask "),
            "{workflow}: {text}"
        );
    }
    let config = std::fs::read_to_string(root.join(".cargo/config.toml")).unwrap();
    assert!(
        config.contains("xtask = \"run --manifest-path xtask/Cargo.toml --\""),
        "{config}"
    );
}

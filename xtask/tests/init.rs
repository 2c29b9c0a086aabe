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
    generate_at("init-ws")
}

/// The workspace of [`generate`], at `name` under the test's tmp dir.
fn generate_at(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
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

/// `init` with the tool pinned from a local git repository of this checkout's tool.
fn source(tool: &(String, String)) -> [&str; 4] {
    ["--git", &tool.0, "--rev", &tool.1]
}

fn cargo_in(root: &Path, args: &[&str]) -> std::process::Output {
    eprintln!("$ cargo {} (in {})", args.join(" "), root.display());
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(root)
        .env_remove("COLUMNS")
        .output()
        .unwrap();
    eprintln!("{}", tail(&String::from_utf8_lossy(&out.stderr), 30));
    out
}

/// Adopt, check, edit, upgrade: the tool arrives as a dependency pinned at a git revision; the
/// workspace's lockfile, its own files and what `cargo build` builds stay; the installed tool
/// runs through the alias and `init --check` passes; an edited generated file fails the check;
/// an upgrade replaces the unedited files and puts the new version beside the edited one; a
/// file the tool did not write is never replaced, `--force` or not.
#[test]
fn init_adopts_the_tool_as_a_pinned_dependency_and_upgrades_keep_edits() {
    let _guard = heavy();
    let root = generate();
    let tool_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("init-tool-repo");
    let tool = tool_repo(&tool_dir);
    let here = workspace_root();
    let before = digest(&root);
    let defaults = default_members(&root);
    let arg = root.display().to_string();
    let init = |extra: &[&str]| {
        let mut args = vec!["init", arg.as_str(), "--service", "tool"];
        args.extend(source(&tool));
        args.extend(extra);
        xtask_ok(&here, &args)
    };

    let plan = init(&["--dry-run"]);
    assert!(plan.contains("write    xtask/Cargo.toml"), "{plan}");
    assert!(
        plan.contains("keep     Makefile (not written by this tool"),
        "{plan}"
    );
    assert!(plan.contains("[profile.production]"), "{plan}");
    assert_eq!(digest(&root), before, "a dry run changed files");

    init(&[]);
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
    // The tool is a dependency, not a copy: a few lines of the workspace's own.
    let thin = std::fs::read_to_string(root.join("xtask/Cargo.toml")).unwrap();
    assert!(
        thin.contains(&format!(
            "xtask-fastbuild = {{ git = \"{}\", rev = \"{}\" }}",
            tool.0, tool.1
        )),
        "{thin}"
    );
    let sources: Vec<_> = after
        .keys()
        .filter(|p| p.starts_with("xtask") && p.extension().is_some_and(|e| e == "rs"))
        .collect();
    assert_eq!(
        sources,
        [Path::new("xtask/src/main.rs")],
        "only the thin main.rs"
    );
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("[workspace.metadata.xtask.service]\nbin = \"tool\""),
        "{manifest}"
    );
    assert!(root.join("xtask/Cargo.lock").is_file() && root.join("ci_optims/Cargo.lock").is_file());
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    assert!(
        dockerfile.starts_with("# generated by xtask-fastbuild "),
        "stamped: {dockerfile}"
    );
    let ignored = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    for pattern in ["/dist/", "/dist.staging/", "/dist.lock"] {
        assert!(
            ignored.lines().any(|l| l == pattern),
            "{pattern} not git-ignored: {ignored}"
        );
    }

    // Idempotent: a second run writes nothing, and no alias twice.
    let again = init(&["--dry-run"]);
    assert!(!again.contains("write "), "{again}");
    init(&[]);
    let (mut third, mut after) = (digest(&root), after);
    third.retain(|p, _| !p.starts_with("ci_optims"));
    after.retain(|p, _| !p.starts_with("ci_optims"));
    assert_eq!(third, after);
    let config = std::fs::read_to_string(root.join(".cargo/config.toml")).unwrap();
    assert_eq!(config.matches("xtask =").count(), 1, "{config}");

    // The installed tool runs through the alias, built from the pinned revision.
    let out = cargo_in(&root, &["xtask", "init", "--check"]);
    assert!(out.status.success(), "init --check after init");
    assert_eq!(
        std::fs::read(root.join("Cargo.lock")).unwrap(),
        before[Path::new("Cargo.lock")],
        "building the installed xtask changed the workspace's lockfile"
    );
    assert!(!root.join("xtask/target").exists() && root.join("target/xtask-tool").is_dir());

    // An edit of a generated file, while its template stays the one it started from, stands:
    // the check names it and passes (nothing to merge).
    let workflow = root.join(".github/workflows/xtask-docker.yml");
    let edited = std::fs::read_to_string(&workflow).unwrap() + "# the team's edit\n";
    std::fs::write(&workflow, &edited).unwrap();
    let test_workflow = root.join(".github/workflows/xtask-test.yml");
    let test_edited = std::fs::read_to_string(&test_workflow).unwrap() + "# ours too\n";
    std::fs::write(&test_workflow, &test_edited).unwrap();
    let out = cargo_in(&root, &["xtask", "init", "--check"]);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "an edit of an unmoved template failed: {text}"
    );
    assert!(
        text.contains("xtask-docker.yml") && text.contains("edited since"),
        "{text}"
    );

    // Version 2 of the tool changes two templates; the upgrade moves the pin and regenerates.
    let template = tool_dir.join("assets/Dockerfile");
    let v2 = std::fs::read_to_string(&template).unwrap() + "# version 2\n";
    std::fs::write(&template, v2).unwrap();
    let workflow_template = tool_dir.join("assets/docker.yml");
    let text = std::fs::read_to_string(&workflow_template).unwrap() + "# version 2\n";
    std::fs::write(&workflow_template, text).unwrap();
    let rev2 = git_commit(&tool_dir, "version 2");
    let out = cargo_in(&root, &["xtask", "upgrade", "--rev", &rev2]);
    assert!(out.status.success(), "upgrade");
    let thin = std::fs::read_to_string(root.join("xtask/Cargo.toml")).unwrap();
    assert!(thin.contains(&rev2), "the pin moved: {thin}");
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    assert!(
        dockerfile.ends_with("# version 2\n"),
        "the unedited Dockerfile is replaced"
    );
    assert_eq!(
        std::fs::read_to_string(&workflow).unwrap(),
        edited,
        "the edited workflow is kept"
    );
    let beside =
        std::fs::read_to_string(root.join(".github/workflows/xtask-docker.yml.new")).unwrap();
    assert!(
        beside.ends_with("# version 2\n"),
        "the new version beside it"
    );
    // The test workflow's template did not move in version 2: the edit stands, no `.new`.
    assert_eq!(
        std::fs::read_to_string(&test_workflow).unwrap(),
        test_edited
    );
    assert!(!root.join(".github/workflows/xtask-test.yml.new").exists());
    let out = cargo_in(&root, &["xtask", "init", "--check"]);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("xtask-docker.yml") && text.contains("the template has moved"),
        "a moved template is named: {text}"
    );
    // The workspace's own Makefile: never replaced, --force or not.
    let out = cargo_in(&root, &["xtask", "init", "--force"]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read(root.join("Makefile")).unwrap(),
        before[Path::new("Makefile")]
    );
    assert_eq!(
        std::fs::read_to_string(root.join(".github/workflows/xtask-docker.yml.edited")).unwrap(),
        edited,
        "--force keeps the edited version beside"
    );
}

/// Every input is read before anything is written: a malformed `.cargo/config.toml` stops
/// init with the file's name, and a pin that does not resolve stops it too; the workspace is
/// as it was each time.
#[test]
fn a_failed_init_leaves_the_workspace_as_it_was() {
    let root = small_workspace("init-malformed", "");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let bare = manifest[..manifest.find("[workspace.metadata.xtask]").unwrap()].to_string();
    write_file(&root, "Cargo.toml", &bare);
    write_file(&root, ".cargo/config.toml", "[alias\nb = \"build\"\n");
    let before = digest(&root);
    let tool = workspace_root().join("xtask").display().to_string();
    let out = xtask(
        &workspace_root(),
        &["init", &root.display().to_string(), "--tool-path", &tool],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(".cargo/config.toml"), "{err}");
    assert_eq!(digest(&root), before, "a failed init wrote files");

    // A pin that does not resolve: init fails naming it, and the workspace is as it was; a
    // rerun with a good one adopts.
    write_file(&root, ".cargo/config.toml", "[alias]\nb = \"build\"\n");
    let before = digest(&root);
    let arg = root.display().to_string();
    let nowhere = format!(
        "file://{}",
        root.with_file_name("init-no-such-repo").display()
    );
    let out = xtask(
        &workspace_root(),
        &["init", &arg, "--git", &nowhere, "--rev", "0123abc"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("resolving xtask/Cargo.lock"));
    assert_eq!(digest(&root), before, "a failed init left files");
    let tool = tool_repo(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("init-malformed-tool"));
    let mut args = vec!["init", arg.as_str()];
    args.extend(source(&tool));
    xtask_ok(&workspace_root(), &args);
    let config = std::fs::read_to_string(root.join(".cargo/config.toml")).unwrap();
    assert!(
        config.starts_with("[alias]\nb = \"build\"\nxtask = "),
        "{config}"
    );
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
    let tool = tool_repo(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("init-own-xtask-tool"));
    let arg = root.display().to_string();
    let mut args = vec!["init", arg.as_str()];
    args.extend(source(&tool));
    xtask_ok(&workspace_root(), &args);
    let thin = std::fs::read_to_string(root.join("xtask-build/Cargo.toml")).unwrap();
    assert!(thin.contains("name = \"xtask-build\""), "{thin}");
    let makefile = std::fs::read_to_string(root.join("Makefile")).unwrap();
    assert!(
        makefile.contains("$(CARGO) xtask-build docker build")
            && !makefile.contains("$(CARGO) xtask "),
        "{makefile}"
    );
    for workflow in [
        "xtask-docker.yml",
        "xtask-bench.yml",
        "xtask-test.yml",
        "xtask-release.yml",
    ] {
        let text = std::fs::read_to_string(root.join(".github/workflows").join(workflow)).unwrap();
        assert!(
            text.contains("cargo xtask-build ") && !text.contains("cargo xtask "),
            "{workflow}: {text}"
        );
    }
    let bench = std::fs::read_to_string(root.join(".github/workflows/xtask-bench.yml")).unwrap();
    assert!(
        bench.contains("--path xtask-build "),
        "the bench builds the tool from its folder"
    );
    let config = std::fs::read_to_string(root.join(".cargo/config.toml")).unwrap();
    assert!(
        config.contains("xtask = \"run --manifest-path xtask/Cargo.toml --\""),
        "{config}"
    );
    assert!(
        config.contains("xtask-build = \"run --manifest-path xtask-build/Cargo.toml"),
        "{config}"
    );
}

/// What build scripts need is read from Cargo.lock before anything compiles: init proposes the
/// Debian packages (prost-build runs protoc), doctor shows the need unmet, and the dry runs of
/// a build and an image warn instead of saying the machine has everything.
#[test]
fn build_script_needs_are_proposed_checked_and_warned_about_up_front() {
    // A lockfile as a tonic service's would have it.
    let (root, manifest) = unadopted_workspace(
        "init-needs",
        &[("prost-build", "0.13.5"), ("tonic-build", "0.12.3")],
    );
    let tool = workspace_root().join("xtask").display().to_string();
    let plan = xtask_ok(
        &workspace_root(),
        &[
            "init",
            &root.display().to_string(),
            "--tool-path",
            &tool,
            "--dry-run",
            "--json",
        ],
    );
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let write = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/Cargo.toml") && !p.contains("xtask"))
        })
        .expect("the root manifest is written");
    assert!(
        write["purpose"]
            .as_str()
            .unwrap()
            .contains("[workspace.metadata.xtask]"),
        "{write}"
    );

    // With the config table the workspace has (no system-packages): doctor and the plans say it.
    write_file(&root, "Cargo.toml", &manifest);
    let out = xtask(&root, &["doctor"]);
    let doctor = String::from_utf8_lossy(&out.stdout);
    assert!(
        doctor.lines().any(|l| l.contains("✗")
            && l.contains("prost-build")
            && l.contains("protobuf-compiler")),
        "{doctor}"
    );
    for args in [
        &["build", "--variant", "dev", "--dry-run"][..],
        &["docker", "build", "--variant", "development", "--dry-run"],
    ] {
        let out = xtask(&root, args);
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            text.contains("warning")
                && text.contains("prost-build")
                && text.contains("\"protobuf-compiler\""),
            "{args:?}: {text}"
        );
        assert!(
            !text.contains("has everything this build needs"),
            "{args:?}: {text}"
        );
    }
    // Listed: no warning.
    let listed = manifest.replace(
        "[workspace.metadata.xtask]\n",
        "[workspace.metadata.xtask]\nsystem-packages = [\"protobuf-compiler\"]\n",
    );
    write_file(&root, "Cargo.toml", &listed);
    let out = xtask(&root, &["build", "--variant", "dev", "--dry-run"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning:"));
}

/// `init` interrupted by SIGINT at many moments: each time the workspace is as it was, or a
/// rerun completes it to exactly what an uninterrupted init writes (no temporary file, no half
/// file, no key twice).
#[test]
fn an_interrupted_init_leaves_the_workspace_as_it_was_or_a_rerun_completes_it() {
    let tool = tool_repo(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("init-interrupted-tool"));
    let here = workspace_root();
    let name = "init-interrupted";
    let root = generate_at(name);
    let arg = root.display().to_string();
    let mut args = vec!["init", arg.as_str()];
    args.extend(source(&tool));
    let before = digest(&root);
    xtask_ok(&here, &args);
    let reference = digest(&root);
    let (mut untouched, mut completed) = (0, 0);
    for delay_ms in [0, 1, 2, 4, 8, 15, 30, 60, 120, 250, 500] {
        generate_at(name);
        let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        if digest(&root) == before {
            untouched += 1;
            continue;
        }
        // Interrupted part way (or not at all): a rerun completes it, exactly.
        xtask_ok(&here, &args);
        assert_eq!(
            digest(&root),
            reference,
            "interrupted after {delay_ms} ms ({status}), then run again"
        );
        completed += 1;
    }
    eprintln!("{untouched} interruptions left the workspace as it was, {completed} were completed by a rerun");
}

/// Uninstall takes out what init added and nothing else: after adopting, editing one generated
/// file and uninstalling, the workspace is as before adoption but for the edited file, which
/// stays (the plan says why).
#[test]
fn uninstall_takes_out_what_init_added_and_keeps_an_edited_file() {
    let tool = tool_repo(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("init-uninstall-tool"));
    let root = generate_at("init-uninstall");
    let before = digest(&root);
    let arg = root.display().to_string();
    let mut args = vec!["init", arg.as_str(), "--service", "tool"];
    args.extend(source(&tool));
    xtask_ok(&workspace_root(), &args);
    let edited = root.join(".github/workflows/xtask-bench.yml");
    let text = std::fs::read_to_string(&edited).unwrap() + "# the team's edit\n";
    std::fs::write(&edited, &text).unwrap();
    let adopted = digest(&root);
    let plan = xtask_ok(&root, &["uninstall", "--dry-run"]);
    assert_eq!(digest(&root), adopted, "a dry run changed files");
    assert!(
        plan.contains("keep     .github/workflows/xtask-bench.yml (generated by"),
        "{plan}"
    );
    xtask_ok(&root, &["uninstall"]);
    assert_eq!(
        std::fs::read_to_string(&edited).unwrap(),
        text,
        "the edited file stays"
    );
    std::fs::remove_file(&edited).unwrap();
    std::fs::remove_dir_all(root.join(".github")).unwrap();
    assert_eq!(digest(&root), before, "the workspace is as before adoption");
}

/// On a workspace with several binaries, init writes the image's binary so that the first
/// `docker build` works: the one that serves (its package depends on a server framework), else
/// the first, with a note on how to change it.
#[test]
fn init_picks_the_binary_an_image_runs() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("init-service");
    let _ = std::fs::remove_dir_all(&root);
    let w = |rel: &str, text: &str| write_file(&root, rel, text);
    w(
        "Cargo.toml",
        "[workspace]\nresolver = \"2\"\nmembers = [\"cli\", \"server\"]\n",
    );
    w(
        "cli/Cargo.toml",
        "[package]\nname = \"cli\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    w("cli/src/main.rs", "fn main() {}\n");
    w(
        "server/Cargo.toml",
        "[package]\nname = \"server\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\naxum = { version = \"0.8\", default-features = false }\n",
    );
    w("server/src/main.rs", "fn main() {}\n");
    generate_lockfile(&root);
    let tool = workspace_root().join("xtask").display().to_string();
    xtask_ok(
        &workspace_root(),
        &["init", root.to_str().unwrap(), "--tool-path", &tool],
    );
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(
            "it depends on axum: it serves; to ship another, set `bin` to one of cli, server"
        ) && manifest.contains("[workspace.metadata.xtask.service]\nbin = \"server\""),
        "{manifest}"
    );
    let plan = xtask_ok(
        &root,
        &["docker", "build", "--variant", "development", "--dry-run"],
    );
    assert!(plan.contains("server"), "{plan}");
}

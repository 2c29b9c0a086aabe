//! `cargo xtask docker build` against a real engine: the dev image serves /healthz and the
//! build's VERSION / COMMIT_SHA, a source edit rebuilds no dependency, arm64 is cross-compiled
//! and joined with amd64 in one manifest list, the image runs as non-root, and a build secret
//! lands in no layer. Skipped (with the reason) without an engine; required in CI.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const FLAGS: &str = "--docker-flags=--network host";

fn docker_build(root: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["docker", "build", "--json", FLAGS];
    all.extend_from_slice(args);
    serde_json::from_str(&xtask_ok(root, &all)).unwrap()
}

/// Text no earlier run has used (process id and wall-clock nanoseconds). The engine's build cache
/// outlives test runs: an edit, or a secret, seen before would come back `CACHED` and prove nothing.
/// A one-line source edit the engine's cache cannot already hold, so the build stage must run.
fn append_edit(root: &Path, service_bin: &str) {
    let file = bin_source(root, service_bin);
    let mut text = std::fs::read_to_string(&file).unwrap();
    let tag = unique("edit");
    text.push_str(&format!("\nconst _: &str = \"{tag}\";\n"));
    std::fs::write(file, text).unwrap();
}

/// After a source edit: the deps stage came from cache, the edited crate was compiled, and no
/// third-party crate was.
fn assert_rebuilt_no_dependency(report: &serde_json::Value) {
    let deps = phase(report, "linux/amd64", "deps");
    assert_eq!(deps["cached"], true, "deps stage was not cached: {deps}");
    let build = phase(report, "linux/amd64", "build");
    assert!(
        build["units_compiled"].as_u64().unwrap() >= 1,
        "the edited crate was not rebuilt: {build}"
    );
    assert_eq!(
        build["third_party_compiled"],
        serde_json::json!([]),
        "{build}"
    );
}

struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new(docker()).args(["rm", "-f", &self.0]).output();
    }
}

#[test]
fn dev_image_serves_its_version_and_a_source_edit_rebuilds_no_dependency() {
    if !available("docker engine", missing_docker()) {
        return;
    }
    let _guard = heavy();
    let root = copy_workspace("docker-dev");
    let service = service_config(&root);
    let bin = service["bin"].as_str().unwrap().to_string();
    let common = [
        "--variant",
        "development",
        "--image",
        "xtask-test",
        "--tag",
        "dev",
        "--version",
        "9.9.9-test",
        "--commit",
        "cafebabe",
    ];

    // An edit no run has seen, so that this build really runs the build stage (a `CACHED` one
    // would leave the members cache holding units of another copy's source mtimes).
    append_edit(&root, &bin);
    // --smoke: the built image answered its health and version paths before the command ended.
    docker_build(&root, &[&common[..], &["--smoke"]].concat());
    let image = "xtask-test:dev";
    assert_eq!(
        docker_ok(&["image", "inspect", "--format", "{{.Config.User}}", image]).trim(),
        "10001:10001"
    );
    let labels = docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        image,
    ]);
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["org.opencontainers.image.version"], "9.9.9-test");
    assert_eq!(labels["org.opencontainers.image.revision"], "cafebabe");
    assert_eq!(labels["org.opencontainers.image.title"], bin.as_str());

    // Run it on loopback and ask it what it is.
    let addr = format!("127.0.0.1:{}", free_port());
    let mut run = vec!["run", "-d", "--network", "host", image];
    let listen: Vec<String> = service["listen-args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().replace("{addr}", &addr))
        .collect();
    run.extend(listen.iter().map(String::as_str));
    let container = Container(docker_ok(&run).trim().to_string());
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "the container never listened on {addr}: {}",
            docker_ok(&["logs", &container.0])
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, body) = http_get(&addr, service["health-path"].as_str().unwrap());
    assert_eq!((status, body.trim()), (200, "ok"));
    let (_, body) = http_get(&addr, service["version-path"].as_str().unwrap());
    let version: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(version["version"], "9.9.9-test");
    assert_eq!(version["commit"], "cafebabe");
    assert_eq!(version["variant"], "dev");
    assert_eq!(version["features"], "minimal");
    let ps = docker_ok(&["top", &container.0, "-o", "pid,uid"]);
    let uids: Vec<&str> = ps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert!(
        !uids.is_empty() && uids.iter().all(|uid| *uid == "10001"),
        "processes not all uid 10001: {ps}"
    );
    drop(container);

    // One-line source change: deps stage from cache, no third-party crate compiled.
    append_edit(&root, &bin);
    let report = docker_build(&root, &common);
    assert_rebuilt_no_dependency(&report);
    // The other workspace crates' units came back from the previous build (the members cache
    // mount): only the edited binary's unit was compiled (cargo's count: its JSON messages).
    let build = phase(&report, "linux/amd64", "build");
    assert_eq!(build["units_compiled"], 1, "{build}");
}

#[test]
fn arm64_is_cross_compiled_and_joined_with_amd64_in_one_manifest_list() {
    if !available("docker engine", missing_docker())
        || !available("local registry", missing_registry())
    {
        return;
    }
    let _guard = heavy();
    let root = copy_workspace("docker-multi");
    let bin = service_config(&root)["bin"].as_str().unwrap().to_string();
    // A pinned toolchain with components, as real workspaces have (helix): only the build stage
    // sees the file, and it must still build with the image's toolchain and its target std.
    let rustc = String::from_utf8(
        std::process::Command::new("rustc")
            .arg("--version")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let version = rustc.split_whitespace().nth(1).unwrap().to_string();
    std::fs::write(
        root.join("rust-toolchain.toml"),
        format!("[toolchain]\nchannel = \"{version}\"\ncomponents = [\"clippy\", \"rust-src\"]\n"),
    )
    .unwrap();
    // A feature set with its own dependency: both stages build it (CARGO_FEATURES), so the deps
    // stage compiles that dependency and the build stage none.
    let manifest = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let dev_set = "[workspace.metadata.xtask.variants.dev]\nfeature-set = \"minimal\"\n";
    assert!(
        text.contains(dev_set),
        "the root manifest's dev feature set moved"
    );
    std::fs::write(
        &manifest,
        text.replace(
            dev_set,
            "[workspace.metadata.xtask.variants.dev]\nfeature-set = \"gzip-dev\"\nfeatures = [\"pulse-server/gzip\"]\n",
        ),
    )
    .unwrap();
    // Without an edit, a second run of the same commit is all `CACHED` and runs no cargo.
    append_edit(&root, &bin);
    let args = [
        "docker",
        "build",
        "--json",
        FLAGS,
        "--variant",
        "development",
        "--platforms",
        "linux/amd64,linux/arm64",
        "--registry",
        "127.0.0.1:5000",
        "--image",
        "xtask-test",
        "--tag",
        "multi",
    ];
    // The plan is the program: what runs (both platforms in parallel, then the pushes and
    // the manifest list) is what the dry run printed, to the last build argument. The creation
    // time is fixed, as reproducible builds fix it.
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000".to_string())];
    let dry = xtask_with(&root, &[&args[..], &["--dry-run"]].concat(), &epoch);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let planned: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    let trace = root.with_extension("trace");
    let _ = std::fs::remove_file(&trace);
    let flag = format!("--trace={}", trace.display());
    let out = xtask_with(&root, &[&args[..], &[flag.as_str()]].concat(), &epoch);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let traced: Vec<serde_json::Value> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["step"].clone())
        .collect();
    let planned = planned["steps"].as_array().unwrap();
    assert_eq!(
        &traced, planned,
        "the image build ran other steps than it planned"
    );
    assert!(
        planned.iter().any(|s| s["lane"] == "linux/arm64") && planned.len() >= 8,
        "{planned:?}"
    );
    for platform in ["linux/amd64", "linux/arm64"] {
        let build = phase(&report, platform, "build");
        assert_eq!(
            build["third_party_compiled"],
            serde_json::json!([]),
            "{build}"
        );
    }
    let arm_build = phase(&report, "linux/arm64", "build");
    let runs: Vec<&str> = arm_build["cargo_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        !runs.is_empty()
            && runs
                .iter()
                .all(|r| *r == "aarch64-unknown-linux-gnu on x86_64"),
        "not a cross build: {runs:?}"
    );

    let list = docker_ok(&[
        "manifest",
        "inspect",
        "--insecure",
        "127.0.0.1:5000/xtask-test:multi",
    ]);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let mut arches: Vec<&str> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    arches.sort();
    assert_eq!(arches, ["amd64", "arm64"]);

    // The arm64 image's own root file system runs its binary under qemu: aarch64, complete.
    let rootfs = export_rootfs(
        "127.0.0.1:5000/xtask-test:multi-arm64",
        "linux/arm64",
        "docker-multi-rootfs",
    );
    let exe = rootfs.join("usr/local/bin").join(&bin);
    assert_eq!(elf_machine(&exe), EM_AARCH64);
    if available(
        "qemu",
        missing_program("qemu-aarch64-static", "apt-get install qemu-user-static"),
    ) {
        let out = output_within(
            Command::new("qemu-aarch64-static")
                .arg("-L")
                .arg(&rootfs)
                .arg(&exe)
                .arg("--version"),
            Duration::from_secs(60),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success()
                && text.contains("aarch64-unknown-linux-gnu")
                && text.contains("features gzip-dev"),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `--libc musl`: one cargo-zigbuild run in the build stages builds both platforms' static
/// binaries (the other platform's `docker build` finds those stages done), and each image is
/// `scratch` with its own binary, a non-root user and, configured here, the CA certificates.
#[test]
fn musl_images_of_both_platforms_come_from_one_zigbuild_run() {
    if !available("docker engine", missing_docker()) {
        return;
    }
    let _guard = heavy();
    let root = copy_workspace("docker-musl");
    let bin = service_config(&root)["bin"].as_str().unwrap().to_string();
    let manifest = root.join("Cargo.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    let table = "[workspace.metadata.xtask.docker]";
    assert!(
        !text.contains(table),
        "the root manifest has a docker table now"
    );
    text.push_str(&format!("\n{table}\nca-certificates = true\n"));
    std::fs::write(&manifest, text).unwrap();
    // An edit no run has seen, so the build stages really run.
    append_edit(&root, &bin);
    let report = docker_build(
        &root,
        &[
            "--variant",
            "development",
            "--platforms",
            "linux/amd64,linux/arm64",
            "--libc",
            "musl",
            "--image",
            "xtask-test",
            "--tag",
            "musl",
        ],
    );
    assert_eq!(report["libc"], "musl");
    // One cargo run per stage, for both targets, whichever platform's build ran it.
    for stage in ["deps", "build"] {
        let runs: Vec<String> = ["linux/amd64", "linux/arm64"]
            .iter()
            .flat_map(|p| {
                phase(&report, p, stage)["cargo_runs"]
                    .as_array()
                    .unwrap()
                    .clone()
            })
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        assert!(
            runs == ["x86_64-unknown-linux-musl, aarch64-unknown-linux-musl on x86_64"]
                || (stage == "deps" && runs.is_empty()),
            "{stage}: not one cargo run for both targets: {runs:?}"
        );
    }
    for platform in ["linux/amd64", "linux/arm64"] {
        let build = phase(&report, platform, "build");
        assert_eq!(
            build["third_party_compiled"],
            serde_json::json!([]),
            "{build}"
        );
    }
    for (arch, machine, triple) in [
        ("amd64", EM_X86_64, "x86_64-unknown-linux-musl"),
        ("arm64", EM_AARCH64, "aarch64-unknown-linux-musl"),
    ] {
        let image = format!("xtask-test:musl-{arch}");
        assert_eq!(
            docker_ok(&["image", "inspect", "--format", "{{.Config.User}}", &image]).trim(),
            "10001:10001"
        );
        let rootfs = export_rootfs(&image, &format!("linux/{arch}"), "docker-musl-rootfs");
        let exe = rootfs.join("usr/local/bin").join(&bin);
        assert_eq!(elf_machine(&exe), machine, "{arch}");
        assert!(!elf_interpreter(&exe), "{arch}: not a static binary");
        // Nothing but the binary, its user and the certificates (docker adds the rest).
        let mut files: Vec<String> = walk(&rootfs)
            .into_iter()
            .filter(|f| {
                !(f.starts_with("dev/")
                    || f.starts_with("etc/host")
                    || ["etc/resolv.conf", "etc/mtab", ".dockerenv"].contains(&f.as_str()))
            })
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                "entrypoint".to_string(),
                "etc/group".into(),
                "etc/passwd".into(),
                "etc/ssl/certs/ca-certificates.crt".into(),
                format!("usr/local/bin/{bin}"),
            ],
            "{arch}"
        );
        // Run it: amd64 in the engine, arm64 under qemu (its image's binary, as exported).
        let version = if arch == "amd64" {
            docker_ok(&["run", "--rm", "--network", "host", &image, "--version"])
        } else if available(
            "qemu",
            missing_program("qemu-aarch64-static", "apt-get install qemu-user-static"),
        ) {
            let out = output_within(
                Command::new("qemu-aarch64-static")
                    .arg(&exe)
                    .arg("--version"),
                Duration::from_secs(60),
            );
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        } else {
            continue;
        };
        assert!(version.contains(triple), "{arch}: {version}");
    }
}

/// Every file and link under `dir`, relative to it.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap();
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out
}

#[test]
fn a_build_secret_appears_in_no_layer_and_no_history() {
    if !available("docker engine", missing_docker()) {
        return;
    }
    let _guard = heavy();
    let root = copy_workspace("docker-secret");
    let bin = service_config(&root)["bin"].as_str().unwrap().to_string();
    let secret = unique("xtask-secret");
    let secret_file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docker-secret.txt");
    std::fs::write(&secret_file, &secret).unwrap();
    // An edit forces the build stage to run, with the secret mounted.
    append_edit(&root, &bin);
    let spec = format!("id=git_token,src={}", secret_file.display());
    let mut args = vec![
        "--variant",
        "development",
        "--image",
        "xtask-test",
        "--tag",
        "secret",
        "--secret",
        &spec,
    ];
    // With a registry, the deps stage becomes an image too (the cache others pull): check it as well.
    let registry = missing_registry().is_none();
    if registry {
        args.extend(["--registry", "127.0.0.1:5000"]);
    }
    let report = docker_build(&root, &args);
    assert_eq!(
        phase(&report, "linux/amd64", "build")["cached"],
        false,
        "the build stage must have run with the secret"
    );

    let mut images = vec![
        "127.0.0.1:5000/xtask-test:secret-amd64",
        "127.0.0.1:5000/xtask-test:deps-development-amd64",
    ];
    if !registry {
        images = vec!["xtask-test:secret-amd64"];
    }
    for image in images {
        assert_not_in_image(image, &secret);
    }
}

/// A `[patch.crates-io]` to a crate vendored inside the workspace: the deps stage copies that
/// path (listed in ci_optims/local-paths) and compiles it with the other dependencies; a source
/// edit leaves the deps stage cached and compiles no third-party crate, the vendored one included.
#[test]
fn a_vendored_patch_is_compiled_in_the_deps_stage_only() {
    if !available("docker engine", missing_docker()) {
        return;
    }
    let _guard = heavy();
    let root = copy_workspace("docker-vendored");
    let bin = service_config(&root)["bin"].as_str().unwrap().to_string();
    // Vendor the registry's own copy of itoa (a dependency of serde_json) under vendor/.
    let meta = metadata(&root, false);
    let itoa = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "itoa")
        .expect("itoa is in the graph");
    let src = Path::new(itoa["manifest_path"].as_str().unwrap())
        .parent()
        .unwrap();
    for entry in walkdir::WalkDir::new(src) {
        let entry = entry.unwrap();
        let to = root
            .join("vendor/itoa")
            .join(entry.path().strip_prefix(src).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    let manifest = root.join("Cargo.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    assert!(!text.contains("[patch.crates-io]"));
    text.push_str("\n[patch.crates-io]\nitoa = { path = \"vendor/itoa\" }\n");
    std::fs::write(&manifest, text).unwrap();
    xtask_ok(&root, &["ci-optims", "sync"]);
    assert_eq!(
        std::fs::read_to_string(root.join("ci_optims/local-paths")).unwrap(),
        "vendor/itoa\n"
    );

    let common = [
        "--variant",
        "development",
        "--image",
        "xtask-test",
        "--tag",
        "vendored",
    ];
    docker_build(&root, &common);
    // As a fresh checkout (a CI runner, a colleague's clone) would have them: the vendored files'
    // content unchanged, their mtimes new. The deps layer is keyed by content, so it is reused;
    // cargo judges path dependencies by mtime, so without help it would rebuild itoa and all
    // that depends on it.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
    for entry in walkdir::WalkDir::new(root.join("vendor/itoa")) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let file = std::fs::File::options()
                .write(true)
                .open(entry.path())
                .unwrap();
            file.set_modified(later).unwrap();
        }
    }
    append_edit(&root, &bin);
    let report = docker_build(&root, &common);
    assert_rebuilt_no_dependency(&report);
}

/// A private git dependency, served by `git http-backend` behind basic auth on 127.0.0.1 (as
/// GitHub serves a private repository): without GH_PAT the image fails and says what to set;
/// with it, the image builds; the token is in no log line, no layer, no image history.
#[test]
fn a_private_git_dependency_builds_with_gh_pat_and_leaves_no_trace() {
    if !available("docker engine", missing_docker())
        || !available("git", missing_program("git", "apt-get install git"))
        || !available(
            "python3",
            missing_program("python3", "apt-get install python3"),
        )
    {
        return;
    }
    let _guard = heavy();
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gh-pat");
    let _ = std::fs::remove_dir_all(&scratch);
    // The private crate, in a bare repository under the server's root.
    let src = scratch.join("src");
    write_file(
        &src,
        "Cargo.toml",
        "[package]\nname = \"private-dep\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    write_file(&src, "src/lib.rs", "pub fn answer() -> u32 { 42 }\n");
    git_commit_all(&src, "private");
    let repos = scratch.join("repos");
    std::fs::create_dir_all(&repos).unwrap();
    git(
        &repos,
        &["clone", "-q", "--bare", "../src", "private-dep.git"],
    );

    let token = unique("ghp");
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/git_server.py");
    let server = Command::new("python3")
        .arg(&script)
        .args([
            &port.to_string(),
            repos.to_str().unwrap(),
            "x-access-token",
            &token,
        ])
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(server);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the git server never listened");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The workspace depends on it; the host resolves it with the token from a credential
    // helper of a HOME of its own (cargo's and rustup's homes kept).
    let root = copy_workspace("docker-gh-pat");
    let bin = service_config(&root)["bin"].as_str().unwrap().to_string();
    let manifest = bin_source(&root, &bin)
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let url = format!("http://127.0.0.1:{port}/private-dep.git");
    std::fs::write(
        &manifest,
        text.replacen(
            "[dependencies]\n",
            &format!("[dependencies]\nprivate-dep = {{ git = \"{url}\" }}\n"),
            1,
        ),
    )
    .unwrap();
    let home = scratch.join("home");
    let token_file = scratch.join("token");
    std::fs::write(&token_file, &token).unwrap();
    write_file(
        &home,
        ".gitconfig",
        &format!(
            "[credential]\n\thelper = \"!f() {{ echo username=x-access-token; echo password=$(cat {}); }}; f\"\n",
            token_file.display()
        ),
    );
    let [cargo_home, rustup_home] = tool_homes();
    let host_env = [
        ("HOME", home.display().to_string()),
        cargo_home,
        rustup_home,
    ];
    let resolved = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .current_dir(&root)
        .envs(host_env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(
        resolved.status.success(),
        "{}",
        String::from_utf8_lossy(&resolved.stderr)
    );
    xtask_with(&root, &["ci-optims", "sync"], &host_env);

    let image_args = [
        "docker",
        "build",
        "--variant",
        "development",
        "--image",
        "xtask-test",
        "--tag",
        "gh-pat",
        FLAGS,
    ];
    let log = |out: &std::process::Output| {
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
    };
    let without = xtask_with(&root, &image_args, &[("GH_PAT", String::new())]);
    assert!(!without.status.success(), "built without the token");
    assert!(
        log(&without).contains("GH_PAT") && log(&without).contains("failed to authenticate"),
        "{}",
        tail(&log(&without), 30)
    );

    let with = xtask_with(&root, &image_args, &[("GH_PAT", token.clone())]);
    assert!(with.status.success(), "{}", tail(&log(&with), 40));
    assert!(
        log(&with).contains("private-dep"),
        "the dependency was not built"
    );
    assert!(!log(&with).contains(&token), "the token is in the log");
    assert_not_in_image("xtask-test:gh-pat", &token);
}

/// Start `cargo xtask ARGS` in `root`, wait until its output shows `marker`, send `signal`, and
/// wait for it and every process it started to end. `None`: it ended before the marker.
fn interrupt_at(
    root: &Path,
    args: &[&str],
    env: &[(&str, String)],
    marker: &str,
    signal: &str,
) -> Option<std::process::ExitStatus> {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = false;
    for line in lines.map_while(Result::ok) {
        if line.contains(marker) {
            seen = true;
            break;
        }
    }
    if seen {
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success(), "kill {signal} {pid}");
    }
    let status = child.wait().unwrap();
    eprintln!("interrupted at `{marker}` with {signal}: {status}");
    // Its children end with it (the parent-death signal): no docker client is left holding a
    // secret in its environment.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let children = Command::new("pgrep").args(["-P", &pid]).output().unwrap();
        let docker_clients = Command::new("pgrep")
            .args(["-f", "docker build --progress=plain"])
            .output()
            .unwrap();
        if children.stdout.is_empty() && docker_clients.stdout.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a process of the interrupted build lives on"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    seen.then_some(status)
}

/// GH_PAT and the password of a shared sccache backend reach the builds only as BuildKit
/// secrets read from the docker client's environment: no file ever holds them. Image builds
/// interrupted by SIGINT, SIGTERM and SIGKILL at three moments each (the client started, the
/// build context sent, cargo running in a stage), then one more command of the tool: no byte of
/// either secret in the workspace, its target dir, the temp dir, HOME or the image.
#[test]
fn an_interrupted_image_build_leaves_no_secret_anywhere() {
    if !available("docker engine", missing_docker())
        || !available(
            "redis-server",
            missing_program("redis-server", "apt-get install redis-server"),
        )
    {
        return;
    }
    let _guard = heavy();
    let password = unique("redis-password");
    let redis = Redis::start("secret-interrupt", Some(&password));
    let token = unique("ghp-interrupt");
    let root = copy_workspace("docker-secret-interrupt");
    let bin = service_config(&root)["bin"].as_str().unwrap().to_string();
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("secret-interrupt");
    let _ = std::fs::remove_dir_all(&scratch);
    let (home, tmp) = (scratch.join("home"), scratch.join("tmp"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let mut env = redis.sccache_env();
    env.extend([
        ("GH_PAT", token.clone()),
        ("HOME", home.display().to_string()),
        ("TMPDIR", tmp.display().to_string()),
    ]);
    env.extend(tool_homes());
    let args = [
        "docker",
        "build",
        "--variant",
        "development",
        "--image",
        "xtask-test",
        "--tag",
        "secret-interrupt",
        "--cache",
        "sccache",
        FLAGS,
    ];
    // One whole build first: the image to search, and warm caches, so that each interrupted
    // build reaches its moment quickly.
    append_edit(&root, &bin);
    let whole = xtask_with(&root, &args, &env);
    assert!(
        whole.status.success(),
        "{}",
        tail(&String::from_utf8_lossy(&whole.stderr), 40)
    );
    let moments = [
        "build --progress=plain",
        "transferring context",
        "build-env: cargo for",
    ];
    for moment in moments {
        for signal in ["-INT", "-TERM", "-KILL"] {
            // An edit no run has seen: the build stage must run, with the secrets mounted.
            append_edit(&root, &bin);
            let ended = interrupt_at(&root, &args, &env, moment, signal);
            assert!(
                ended.is_some(),
                "the build finished before `{moment}` ({signal})"
            );
        }
    }
    // One more command of the tool, as a user would run next.
    let next = xtask_with(&root, &["doctor"], &env);
    assert!(next.status.code().is_some());
    // The workspace's target dir, wherever cargo puts it (CARGO_TARGET_DIR may move it out).
    let target_dir =
        std::path::PathBuf::from(metadata(&root, true)["target_directory"].as_str().unwrap());
    for secret in [&token, &password] {
        for dir in [&root, &target_dir, &home, &tmp, Path::new("/tmp")] {
            let found = files_holding(dir, secret);
            assert!(found.is_empty(), "a secret is on disk: {found:?}");
        }
        assert_not_in_image("xtask-test:secret-interrupt", secret);
    }
}

/// An engine without a bridge network fails every image build at its first RUN step: the error
/// names the fix (build on the host's network), and does not repeat it when the build already
/// asked for that network. A stand-in client answers as such an engine does; no engine needed.
#[test]
fn an_engine_without_a_bridge_network_names_the_fix() {
    let root = small_workspace("docker-no-bridge", "");
    xtask_ok(&root, &["ci-optims", "sync"]);
    let fake = root.join("target/fake-docker");
    write_file(
        &root,
        "target/fake-docker",
        "#!/bin/sh\ncase \"$1 $2\" in\n  version*) echo 28.2.2 ;;\n  'build --help') echo '  --secret stringArray' ;;\n  \
         build*) echo '#5 [toolchain 1/3] RUN build-env setup' >&2; \
         echo 'ERROR: failed to solve: network bridge not found' >&2; exit 1 ;;\nesac\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fake = fake.display().to_string();
    let build = |flags: &[&str]| {
        let mut args = vec![
            "docker",
            "build",
            "--variant",
            "development",
            "--docker",
            &fake,
        ];
        args.extend(flags);
        let out = xtask(&root, &args);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let said = build(&[]);
    assert!(
        said.contains("DOCKER_BUILD_FLAGS=\"--network host\""),
        "{said}"
    );
    let said = build(&["--docker-flags=--network host"]);
    assert!(
        said.contains("no bridge network") && !said.contains("DOCKER_BUILD_FLAGS="),
        "the fix is not the setting it has: {said}"
    );
}

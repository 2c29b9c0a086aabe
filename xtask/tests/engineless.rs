//! `cargo xtask docker build --engine none`: the image assembled without an engine. The same
//! sources give the same digest in two clones (and no engine is asked: DOCKER_HOST points at
//! nothing); the arm64 image's binary runs under qemu; the archive loads into an engine and runs;
//! a push to a registry with basic auth sends only what the registry lacks, keeps its digest,
//! refuses wrong credentials and a registry that is down without reporting a push, and leaves
//! no credentials on disk; a push killed halfway is completed by the next, which sends only the
//! blobs still missing; static musl images of both platforms run. The engine, registry, skopeo
//! and cross parts are skipped (with the reason) without them; required in CI.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A fixture with the build-env script the image's files are staged by, committed.
fn fixture(rel: &str) -> PathBuf {
    let root = small_workspace(rel, "");
    let script = std::fs::read_to_string(workspace_root().join("docker/build-env.sh")).unwrap();
    write_file(&root, "docker/build-env.sh", &script);
    git_commit(&root, "build-env");
    root
}

fn image(root: &Path, args: &[&str], env: &[(&str, String)]) -> serde_json::Value {
    let mut all = vec!["docker", "build", "--engine", "none", "--json"];
    all.extend_from_slice(args);
    let out = xtask_with(root, &all, env);
    assert!(out.status.success(), "the image build failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// No engine: DOCKER_HOST at a socket nobody listens on.
fn no_engine() -> Vec<(&'static str, String)> {
    vec![("DOCKER_HOST", "unix:///nonexistent/docker.sock".to_string())]
}

#[test]
fn the_same_sources_give_the_same_image_in_two_clones_without_an_engine() {
    let _guard = heavy();
    let a = fixture("engineless-a");
    let b = a.with_file_name("engineless-b");
    let _ = std::fs::remove_dir_all(&b);
    git(
        a.parent().unwrap(),
        &["clone", "-q", "engineless-a", "engineless-b"],
    );
    let args = ["--variant", "production", "--platforms", "linux/amd64"];
    let one = image(&a, &args, &no_engine());
    let two = image(&b, &args, &no_engine());
    assert_eq!(one["digest"], two["digest"], "{one}\n{two}");
    assert!(one["digest"].as_str().unwrap().starts_with("sha256:"));
    // The layout's index names that digest, and the archive is there.
    let layout = PathBuf::from(one["layout"].as_str().unwrap());
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], one["digest"]);
    assert!(one["archive"].is_null(), "written only when asked");
    // An edit gives another digest; putting it back gives the first one again.
    let main = b.join("app/src/main.rs");
    let source = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, source.replace("{}", "{} ")).unwrap();
    let edited = image(&b, &args, &no_engine());
    assert_ne!(edited["digest"], one["digest"]);
    std::fs::write(&main, source).unwrap();
    assert_eq!(image(&b, &args, &no_engine())["digest"], one["digest"]);
}

#[test]
fn the_arm64_image_holds_a_binary_that_runs_under_qemu() {
    if !available("aarch64 cross toolchain", missing_cross_aarch64()) {
        return;
    }
    let _guard = heavy();
    let root = fixture("engineless-arm64");
    let report = image(
        &root,
        &["--variant", "dev", "--platforms", "linux/amd64,linux/arm64"],
        &no_engine(),
    );
    let layout = PathBuf::from(report["layout"].as_str().unwrap());
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    // The name points at an index of both platforms.
    let top = &index["manifests"][0];
    assert_eq!(top["mediaType"], "application/vnd.oci.image.index.v1+json");
    let blob = |digest: &serde_json::Value| {
        let hex = digest.as_str().unwrap().trim_start_matches("sha256:");
        std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()
    };
    let list: serde_json::Value = serde_json::from_slice(&blob(&top["digest"])).unwrap();
    let archs: Vec<&str> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    // The arm64 image's last layer holds its binary: unpacked, it runs under qemu.
    let arm: serde_json::Value =
        serde_json::from_slice(&blob(&list["manifests"][1]["digest"])).unwrap();
    let layers = arm["layers"].as_array().unwrap();
    let unpacked = root.join("target/arm64-rootfs");
    let _ = std::fs::remove_dir_all(&unpacked);
    for layer in layers {
        tar::Archive::new(blob(&layer["digest"]).as_slice())
            .unpack(&unpacked)
            .unwrap();
    }
    let binary = unpacked.join("usr/local/bin/app");
    assert_eq!(elf_machine(&binary), 183, "aarch64");
    let out = qemu_aarch64()
        .arg("-L")
        .arg(&unpacked)
        .arg(&binary)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
}

/// A registry of the test's own on loopback, with basic auth (user `tester`), logging each
/// request.
struct Registry {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Registry {
    fn start(dir: &Path) -> Registry {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", "tester", "right-password"])
            .output()
            .unwrap();
        assert!(htpasswd.status.success());
        std::fs::write(dir.join("htpasswd"), &htpasswd.stdout).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {root}\n\
             http:\n  addr: {addr}\nauth:\n  htpasswd:\n    realm: test\n    path: {root}/htpasswd\n",
            root = dir.display()
        );
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let log = dir.join("registry.log");
        let child = Command::new("docker-registry")
            .args(["serve", dir.join("config.yml").to_str().unwrap()])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(
                std::fs::File::options().append(true).open(&log).unwrap(),
            ))
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(&addr).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Registry { child, addr, log }
    }

    /// Layer and config uploads the registry completed so far.
    fn blob_uploads(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .filter(|l| {
                l.contains("\"PUT /v2/") && l.contains("/blobs/uploads/") && l.contains("\" 201 ")
            })
            .count()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// skopeo, and a registry of the test's own with basic auth (docker-registry, htpasswd).
fn can_push() -> bool {
    available(
        "skopeo",
        missing_program("skopeo", "apt-get install skopeo"),
    ) && available(
        "docker-registry and htpasswd",
        missing_program("docker-registry", "apt-get install docker-registry")
            .or_else(|| missing_program("htpasswd", "apt-get install apache2-utils")),
    )
}

/// No engine, and the registry's user `tester` with `password`, as the push reads them.
fn with_credentials(password: &str) -> Vec<(&'static str, String)> {
    let mut env = no_engine();
    env.push(("REGISTRY_USER", "tester".to_string()));
    env.push(("REGISTRY_PASSWORD", password.to_string()));
    env
}

fn secrets_left(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join("target/xtask/secrets"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().display().to_string())
        .collect()
}

#[test]
fn a_push_sends_what_the_registry_lacks_and_reports_nothing_it_did_not_push() {
    if !can_push() || !available("docker engine", missing_docker()) {
        return;
    }
    let _guard = heavy();
    let root = fixture("engineless-push");
    let registry = Registry::start(&root.with_file_name("engineless-registry"));
    let addr = registry.addr.clone();
    let args = ["--variant", "dev", "--registry", &addr];
    let creds = with_credentials;
    let mut all = vec!["docker", "build", "--engine", "none", "--json"];
    all.extend_from_slice(&args);

    // Wrong credentials: an error, no report, no credentials left behind.
    let out = xtask_with(&root, &all, &creds("wrong-password"));
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "a report of a push that failed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("skopeo") && stderr.contains("failed"),
        "{stderr}"
    );
    assert_eq!(secrets_left(&root), Vec::<String>::new());
    assert_eq!(registry.blob_uploads(), 0);

    // Right ones: the registry holds the digest built here.
    let first = image(&root, &args, &creds("right-password"));
    let name = format!("{addr}/app:development");
    assert_eq!(first["image"], name);
    let first_uploads = registry.blob_uploads();
    assert!(first_uploads >= 3, "layers and config: {first_uploads}");
    let inspect = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            "tester:right-password",
        ])
        .arg(format!("docker://{name}"))
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let digest = format!("sha256:{}", sha256_hex(&inspect.stdout));
    assert_eq!(first["digest"], digest.as_str());
    assert_eq!(secrets_left(&root), Vec::<String>::new());

    // The archive loads into an engine and runs, as the user of the image.
    let with_archive = [&args[..], &["--archive"]].concat();
    let first_again = image(&root, &with_archive, &creds("right-password"));
    assert_eq!(first_again["digest"], first["digest"]);
    assert_eq!(
        registry.blob_uploads(),
        first_uploads,
        "nothing new to send"
    );
    let archive = first_again["archive"].as_str().unwrap();
    docker_ok(&["load", "-i", archive]);
    let ran = docker_ok(&["run", "--rm", "--network", "host", &name]);
    assert_eq!(ran.trim(), "42");
    assert_eq!(
        docker_ok(&["image", "inspect", "--format", "{{.Config.User}}", &name]).trim(),
        "10001:10001"
    );

    // An edit: only the binary's layer and the config travel.
    let main = root.join("app/src/main.rs");
    let source = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, format!("// an edit\n{source}")).unwrap();
    let edited = image(&root, &args, &creds("right-password"));
    assert_ne!(edited["digest"], first["digest"]);
    assert_eq!(
        registry.blob_uploads() - first_uploads,
        2,
        "the binary's layer and the config"
    );

    // The registry down: an error naming the push, nothing reported.
    drop(registry);
    std::fs::write(&main, format!("// another edit\n{source}")).unwrap();
    let out = xtask_with(&root, &all, &creds("right-password"));
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert_eq!(secrets_left(&root), Vec::<String>::new());
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

#[test]
fn a_library_the_binary_needs_and_this_machine_lacks_is_named_with_the_fix() {
    let _guard = heavy();
    let root = fixture("engineless-missing-lib");
    // A shared library of the workspace's own, linked by name: the binary needs it at run
    // time, and no system folder holds it.
    let lib = root.join("native");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(
        lib.join("answer.c"),
        "int native_answer(void) { return 42; }\n",
    )
    .unwrap();
    let gcc = Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(lib.join("libxtaskanswer.so"))
        .arg(lib.join("answer.c"))
        .status()
        .unwrap();
    assert!(gcc.success());
    write_file(
        &root,
        "app/build.rs",
        &format!(
            "fn main() {{ println!(\"cargo:rustc-link-search=native={}\"); println!(\"cargo:rustc-link-lib=dylib=xtaskanswer\"); }}\n",
            lib.display()
        ),
    );
    write_file(
        &root,
        "app/src/main.rs",
        "extern \"C\" { fn native_answer() -> i32; }\nfn main() { println!(\"{}\", unsafe { native_answer() }); }\n",
    );
    let out = xtask_with(
        &root,
        &["docker", "build", "--engine", "none", "--variant", "dev"],
        &no_engine(),
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no image reported");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("libxtaskanswer.so"), "{stderr}");
    assert!(stderr.contains("install the package"), "{stderr}");
}

/// A loopback proxy to `target` that passes what clients send at about `bytes_per_second`:
/// a push through it takes long enough to be interrupted halfway.
struct SlowProxy {
    addr: String,
}

impl SlowProxy {
    fn start(target: &str, bytes_per_second: usize) -> SlowProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let target = target.to_string();
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Ok(server) = std::net::TcpStream::connect(&target) else {
                    continue;
                };
                let (client2, server2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pipe(client, server, Some(bytes_per_second)));
                std::thread::spawn(move || pipe(server2, client2, None));
            }
        });
        SlowProxy { addr }
    }
}

fn pipe(mut from: std::net::TcpStream, mut to: std::net::TcpStream, rate: Option<usize>) {
    use std::io::{Read, Write};
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
        if let Some(rate) = rate {
            std::thread::sleep(std::time::Duration::from_secs_f64(n as f64 / rate as f64));
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// A push killed halfway (a layer sent, the binary's still on its way): nothing is reported,
/// no credentials stay once the next command runs, and the next push completes it, sending
/// only what the registry still lacks.
#[test]
fn an_interrupted_push_is_completed_by_the_next() {
    if !can_push() {
        return;
    }
    let _guard = heavy();
    let root = fixture("engineless-interrupted-push");
    let registry = Registry::start(&root.with_file_name("engineless-interrupted-registry"));
    // The debug binary is a few MB: at 1 MB/s its layer takes seconds.
    let proxy = SlowProxy::start(&registry.addr, 1 << 20);
    let env = with_credentials("right-password");
    let args = [
        "docker",
        "build",
        "--engine",
        "none",
        "--json",
        "--variant",
        "dev",
        "--registry",
        &proxy.addr,
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the registry has taken a blob (the small ones go first), before the end.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    while registry.blob_uploads() == 0 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the push ended before any blob arrived"
        );
        assert!(std::time::Instant::now() < deadline, "no blob arrived");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status();
    let killed = child.wait_with_output().unwrap();
    assert!(!killed.status.success());
    assert!(
        killed.stdout.is_empty(),
        "a report of a push that did not end"
    );
    let sent_before = registry.blob_uploads();

    // The next run completes it: the registry holds the digest the tool reports, and the blobs
    // it already had were not sent again.
    let done = image(&root, &args[5..], &env);
    let name = format!("{}/app:development", proxy.addr);
    assert_eq!(done["image"], name.as_str());
    let inspect = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            "tester:right-password",
        ])
        .arg(format!("docker://{}/app:development", registry.addr))
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    assert_eq!(
        done["digest"],
        format!("sha256:{}", sha256_hex(&inspect.stdout)).as_str()
    );
    let layers = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--creds",
            "tester:right-password",
        ])
        .arg(format!("docker://{}/app:development", registry.addr))
        .output()
        .unwrap();
    let layers: serde_json::Value = serde_json::from_slice(&layers.stdout).unwrap();
    let blobs = layers["Layers"].as_array().unwrap().len() + 1;
    eprintln!("blobs: {sent_before} of {blobs} sent by the killed push");
    assert!(
        sent_before >= 1 && sent_before < blobs,
        "{sent_before} of {blobs} before"
    );
    assert_eq!(
        registry.blob_uploads(),
        blobs,
        "each blob sent once: {sent_before} by the killed push, the rest by the next"
    );
    assert_eq!(secrets_left(&root), Vec::<String>::new());
}

/// Static musl images without an engine: both platforms' binaries from the native
/// cargo-zigbuild run, each image nothing but its binary, its user and the entrypoint (no
/// library layer), each binary static and running (arm64 under qemu).
#[test]
fn musl_images_without_an_engine_are_static_and_run_on_both_platforms() {
    let missing = missing_target("x86_64-unknown-linux-musl")
        .or_else(|| missing_target("aarch64-unknown-linux-musl"))
        .or_else(|| missing_program("cargo-zigbuild", "run ../shared/tools/cross-env up"))
        .or_else(|| missing_program("qemu-aarch64-static", "apt-get install qemu-user-static"));
    if !available("musl targets, cargo-zigbuild and qemu", missing) {
        return;
    }
    let _guard = heavy();
    let root = fixture("engineless-musl");
    let report = image(
        &root,
        &[
            "--variant",
            "production",
            "--libc",
            "musl",
            "--platforms",
            "linux/amd64,linux/arm64",
        ],
        &no_engine(),
    );
    let layout = PathBuf::from(report["layout"].as_str().unwrap());
    let blob = |digest: &serde_json::Value| {
        let hex = digest.as_str().unwrap().trim_start_matches("sha256:");
        std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let list: serde_json::Value =
        serde_json::from_slice(&blob(&index["manifests"][0]["digest"])).unwrap();
    let manifests = list["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2, "{list}");
    for (manifest, (arch, machine)) in manifests.iter().zip([("amd64", 62), ("arm64", 183)]) {
        assert_eq!(manifest["platform"]["architecture"], arch);
        let image: serde_json::Value = serde_json::from_slice(&blob(&manifest["digest"])).unwrap();
        let rootfs = root.join(format!("target/musl-rootfs-{arch}"));
        let _ = std::fs::remove_dir_all(&rootfs);
        for layer in image["layers"].as_array().unwrap() {
            tar::Archive::new(blob(&layer["digest"]).as_slice())
                .unpack(&rootfs)
                .unwrap();
        }
        let mut files: Vec<String> = walkdir::WalkDir::new(&rootfs)
            .into_iter()
            .flatten()
            .filter(|e| !e.file_type().is_dir())
            .map(|e| {
                let rel = e.path().strip_prefix(&rootfs).unwrap();
                rel.display().to_string()
            })
            .collect();
        files.sort();
        assert!(
            !files.iter().any(|f| f.contains("lib/")),
            "{arch}: a library in a static image: {files:?}"
        );
        let binary = rootfs.join("usr/local/bin/app");
        assert!(
            files.contains(&"usr/local/bin/app".to_string()),
            "{files:?}"
        );
        assert_eq!(elf_machine(&binary), machine, "{arch}");
        assert!(!elf_interpreter(&binary), "{arch}: not a static binary");
        let out = match arch {
            "amd64" => Command::new(&binary).output().unwrap(),
            _ => qemu_aarch64().arg(&binary).output().unwrap(),
        };
        assert!(
            out.status.success(),
            "{arch}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42", "{arch}");
    }
}

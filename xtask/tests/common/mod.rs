//! Helpers shared by the integration tests: run the xtask binary, find tools, skip (or, in CI,
//! fail) when the machine lacks something, talk HTTP to a server on 127.0.0.1.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Builds in one test binary share a target dir and two cores: one at a time.
pub static HEAVY: Mutex<()> = Mutex::new(());

pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}

/// The workspace this xtask belongs to.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `cargo xtask ARGS` in `dir`, with the binary cargo built for this test.
pub fn xtask(dir: &Path, args: &[&str]) -> Output {
    xtask_with(dir, args, &[])
}

/// [`xtask`] with extra environment variables.
pub fn xtask_with(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    eprintln!("$ cargo xtask {} (in {})", args.join(" "), dir.display());
    // Tables are wrapped to COLUMNS when it is set: the tests read whole cells.
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env_remove("COLUMNS")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .stderr(Stdio::piped())
        .output()
        .expect("running xtask");
    eprintln!("{}", tail(&String::from_utf8_lossy(&out.stderr), 40));
    out
}

/// The last `lines` lines of `text`: where a failing command says why, and short enough that a
/// failed test's captured output still shows its panic message.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let omitted = if start > 0 {
        format!("[{start} earlier lines omitted]\n")
    } else {
        String::new()
    };
    omitted + &all[start..].join("\n")
}

/// Like [`xtask`], but the command must succeed; returns its stdout.
pub fn xtask_ok(dir: &Path, args: &[&str]) -> String {
    let out = xtask(dir, args);
    assert!(
        out.status.success(),
        "cargo xtask {} failed: {}",
        args.join(" "),
        tail(&String::from_utf8_lossy(&out.stderr), 40)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// `true` when `problem` is `None`. Otherwise the test is skipped with the reason on a user's
/// machine, and fails in CI, where `.ci/run` installs everything.
pub fn available(what: &str, problem: Option<String>) -> bool {
    let Some(problem) = problem else { return true };
    if in_ci() {
        panic!("{what} is required in CI but missing: {problem}");
    }
    // Straight to the terminal: the test harness captures print!/eprint! of passing tests, and
    // a skip must show in the default `cargo test` output.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED ({what}): {problem} [in {}]",
        std::thread::current().name().unwrap_or("a test")
    );
    false
}

pub fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

pub fn missing_program(program: &str, fix: &str) -> Option<String> {
    on_path(program)
        .is_none()
        .then(|| format!("`{program}` not on PATH ({fix})"))
}

pub fn missing_target(target: &str) -> Option<String> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    let dir = Path::new(&sysroot)
        .join("lib/rustlib")
        .join(target)
        .join("lib");
    (!dir.is_dir()).then(|| format!("no Rust std for {target} (rustup target add {target})"))
}

/// What the machine needs to build and run the aarch64 production target.
pub fn missing_cross_aarch64() -> Option<String> {
    let fix = "run ../shared/tools/cross-env up, or apt-get install gcc-aarch64-linux-gnu qemu-user-static";
    missing_target("aarch64-unknown-linux-gnu")
        .or_else(|| missing_program("aarch64-linux-gnu-gcc", fix))
        .or_else(|| missing_program("qemu-aarch64-static", fix))
}

/// qemu for a glibc aarch64 binary of this machine's cross toolchain. With Debian's multiarch
/// arm64 libc installed (`libssl-dev:arm64` brings it), the host's own aarch64 loader and libc
/// agree with each other: qemu runs the binary as it is. Without it, the cross toolchain's
/// sysroot serves (`-L`); mixing the two made qemu spin forever.
pub fn qemu_aarch64() -> Command {
    let mut cmd = Command::new("qemu-aarch64-static");
    if !Path::new("/lib/ld-linux-aarch64.so.1").exists() {
        cmd.args(["-L", "/usr/aarch64-linux-gnu"]);
    }
    cmd
}

/// CARGO_HOME and RUSTUP_HOME as this process has them: for a command run with a HOME of the
/// test's own, so that cargo and rustup still find their caches and toolchains.
pub fn tool_homes() -> [(&'static str, String); 2] {
    let home = std::env::var("HOME").unwrap();
    [
        (
            "CARGO_HOME",
            std::env::var("CARGO_HOME").unwrap_or(format!("{home}/.cargo")),
        ),
        (
            "RUSTUP_HOME",
            std::env::var("RUSTUP_HOME").unwrap_or(format!("{home}/.rustup")),
        ),
    ]
}

/// ELF machine of a binary: 62 = x86_64, 183 = aarch64 (e_machine, little-endian, offset 18).
pub fn elf_machine(path: &Path) -> u16 {
    let mut header = [0u8; 20];
    std::fs::File::open(path)
        .unwrap()
        .read_exact(&mut header)
        .unwrap();
    assert_eq!(
        &header[..4],
        b"\x7fELF",
        "{} is not an ELF file",
        path.display()
    );
    assert_eq!(header[4], 2, "{} is not a 64-bit ELF", path.display());
    u16::from_le_bytes([header[18], header[19]])
}

/// Run `command` to its end, or kill it after `limit` and fail naming it: a binary run under
/// qemu can spin forever (qemu took the host's multiarch arm64 libc once), and a test must fail,
/// not hang the CI run.
pub fn output_within(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not finish within {limit:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Does the ELF executable ask for a program interpreter (the dynamic loader)? A static binary
/// (musl, static-pie included) does not.
pub fn elf_interpreter(path: &Path) -> bool {
    let bytes = std::fs::read(path).unwrap();
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
    let (entry_size, count) = (u16_at(54), u16_at(56));
    const PT_INTERP: u32 = 3;
    (0..count).any(|i| {
        let o = phoff + i * entry_size;
        u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) == PT_INTERP
    })
}

/// `image`'s root file system (as `platform` runs it), exported into a fresh directory under
/// the test target's tmp dir.
pub fn export_rootfs(image: &str, platform: &str, name: &str) -> PathBuf {
    let id = docker_ok(&["create", "--platform", platform, image])
        .trim()
        .to_string();
    let rootfs = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&rootfs);
    std::fs::create_dir_all(&rootfs).unwrap();
    let export = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "\"$DOCKER_CLIENT\" export {id} | tar -x -C {}",
            rootfs.display()
        ))
        .env("DOCKER_CLIENT", docker())
        .status()
        .unwrap();
    docker_ok(&["rm", &id]);
    assert!(export.success(), "exporting {image}");
    rootfs
}

pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;

/// The `[workspace.metadata.xtask.service]` table of the workspace at `root`.
pub fn service_config(root: &Path) -> toml::Table {
    let manifest: toml::Table = std::fs::read_to_string(root.join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    manifest["workspace"]["metadata"]["xtask"]["service"]
        .as_table()
        .expect("a service table")
        .clone()
}

/// A running server, killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `binary` with the service's listen args on 127.0.0.1:0 and wait for its
/// `listening on ADDR` line.
pub fn start_service(binary: &Path, listen_args: &[String]) -> Server {
    let args: Vec<String> = listen_args
        .iter()
        .map(|a| a.replace("{addr}", "127.0.0.1:0"))
        .collect();
    let mut child = Command::new(binary)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Server {
        addr: addr.to_string(),
        child,
    }
}

/// `GET path` over HTTP/1.0 on loopback: (status, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let (status, _, body) = http_get_with(addr, path, &[]);
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `GET path` with request headers: (status, response head in lower case, body bytes).
pub fn http_get_with(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                eprintln!("connect {addr}: {e}; retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("connect {addr}: {e}"),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (key, value) in headers {
        request.push_str(&format!("{key}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]).to_lowercase();
    let body = response.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, body)
}

/// Copy the workspace's sources (no target/, dist/, .git/) to a scratch folder, so a test can
/// edit files without touching the real tree.
pub fn copy_workspace(name: &str) -> PathBuf {
    let src = workspace_root();
    let dest = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dest);
    for entry in walkdir::WalkDir::new(&src).into_iter().filter_entry(|e| {
        let name = e.file_name().to_string_lossy();
        !(e.depth() == 1 && (name == "target" || name.starts_with("dist") || name == ".git"))
    }) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(&src).unwrap();
        let to = dest.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    dest
}

/// `cargo metadata` of the workspace at `root` (with the dependency graph unless `no_deps`).
pub fn metadata(root: &Path, no_deps: bool) -> serde_json::Value {
    let mut args = vec!["metadata", "--format-version", "1"];
    if no_deps {
        args.push("--no-deps");
    }
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The source file of binary `bin` in the workspace at `root` (from `cargo metadata`).
pub fn bin_source(root: &Path, bin: &str) -> PathBuf {
    metadata(root, true)["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .find(|t| t["name"] == bin)
        .map(|t| PathBuf::from(t["src_path"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("no binary {bin}"))
}

/// The docker client to use: `$DOCKER` (set by `container-engine env`), else `docker`.
pub fn docker() -> String {
    std::env::var("DOCKER").unwrap_or_else(|_| "docker".into())
}

/// Why Docker tests cannot run here, if they cannot.
pub fn missing_docker() -> Option<String> {
    let fix = "start an engine (in this repo's CI: ../shared/tools/container-engine up --registry, then eval \"$(../shared/tools/container-engine env)\")";
    match Command::new(docker())
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
    {
        Ok(out) if out.status.success() => None,
        Ok(_) => Some(format!("no Docker engine answers; {fix}")),
        Err(e) => Some(format!("no docker client ({e}); {fix}")),
    }
}

pub fn missing_registry() -> Option<String> {
    TcpStream::connect("127.0.0.1:5000")
        .err()
        .map(|e| format!("no registry on 127.0.0.1:5000 ({e}); run ../shared/tools/container-engine up --registry"))
}

/// `docker ARGS`, which must succeed; returns stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let out = Command::new(docker()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Write the lockfile of a generated workspace (it has no registry dependencies, so this needs
/// no network), as `--locked` builds in CI require one.
pub fn generate_lockfile(root: &Path) {
    let status = Command::new(env!("CARGO"))
        .args(["generate-lockfile", "--offline"])
        .current_dir(root)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cargo generate-lockfile in {}",
        root.display()
    );
}

/// A workspace with a library (`core-lib`) and a binary (`app`), no dependencies, the x86_64
/// production target only, committed to git, under the test target's tmp dir at `rel`.
/// `extra` goes into `[workspace.metadata.xtask]`.
pub fn small_workspace(rel: &str, extra: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(rel);
    let _ = std::fs::remove_dir_all(&root);
    let w = |rel: &str, text: &str| write_file(&root, rel, text);
    w(
        "Cargo.toml",
        &format!(
            "[workspace]\nresolver = \"2\"\nmembers = [\"core\", \"app\"]\n\n[profile.production]\ninherits = \"release\"\n\n\
             [workspace.metadata.xtask]\ntargets = [\"x86_64-unknown-linux-gnu\"]\n{extra}\n\n\
             [workspace.metadata.xtask.bench]\nscenarios = [\"incr-leaf\"]\nvariants = [\"dev\"]\n"
        ),
    );
    w(
        "core/Cargo.toml",
        "[package]\nname = \"core-lib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    w("core/src/lib.rs", "pub fn answer() -> u32 { 42 }\n");
    w(
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\ncore-lib = { path = \"../core\" }\n",
    );
    w(
        "app/src/main.rs",
        "fn main() { println!(\"{}\", core_lib::answer()); }\n",
    );
    w("scripts/keep.sh", "echo mine\n");
    w(".gitignore", "/target/\n/dist/\n/dist.*\n");
    generate_lockfile(&root);
    git_commit_all(&root, "one");
    root
}

/// Write `text` to `root/rel`, creating folders (for generated workspaces).
pub fn write_file(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// One phase of a `cargo xtask docker build --json` report.
pub fn phase<'a>(
    report: &'a serde_json::Value,
    platform: &str,
    phase: &str,
) -> &'a serde_json::Value {
    report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["platform"] == platform && p["phase"] == phase)
        .unwrap_or_else(|| panic!("no {phase} phase for {platform} in {report}"))
}

/// `git ARGS` in `dir`; it must succeed.
pub fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?} in {}", dir.display());
}

/// A new repository in `dir` (branch `main`) with one commit of everything in it.
pub fn git_commit_all(dir: &Path, message: &str) {
    git(dir, &["init", "-q", "-b", "main"]);
    git_commit(dir, message);
}

/// `needle` is nowhere an image keeps: its `docker history`, its config, any byte of
/// `docker save`.
pub fn assert_not_in_image(image: &str, needle: &str) {
    for args in [
        &["history", "--no-trunc", image][..],
        &["image", "inspect", image][..],
    ] {
        assert!(
            !docker_ok(args).contains(needle),
            "found in `docker {args:?}`"
        );
    }
    let saved = Command::new(docker())
        .args(["save", image])
        .output()
        .unwrap();
    assert!(saved.status.success(), "docker save {image}");
    let needle = needle.as_bytes();
    assert!(
        !saved.stdout.windows(needle.len()).any(|w| w == needle),
        "found inside a layer of {image}"
    );
}

/// A Redis server on 127.0.0.1 with its own port and data dir, stopped by pid when dropped.
pub struct Redis {
    child: Child,
    port: u16,
    dir: PathBuf,
    password: Option<String>,
}

impl Redis {
    /// With `password`, clients must give it (user `default`).
    pub fn start(name: &str, password: Option<&str>) -> Redis {
        let port = free_port();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("redis-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--dir"])
            .arg(&dir)
            .args(password.map(|p| ["--requirepass", p]).into_iter().flatten())
            .stdout(Stdio::null())
            .spawn()
            .expect("starting redis-server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server never listened");
            std::thread::sleep(Duration::from_millis(100));
        }
        Redis {
            child,
            port,
            dir,
            password: password.map(String::from),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// What sccache needs to use it: the endpoint and, with a password, the credentials
    /// (sccache 0.16 reads them from these variables, not from the URL).
    pub fn sccache_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("SCCACHE_REDIS_ENDPOINT", self.url())];
        if let Some(password) = &self.password {
            env.push(("SCCACHE_REDIS_USERNAME", "default".into()));
            env.push(("SCCACHE_REDIS_PASSWORD", password.clone()));
        }
        env
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `sha256sum -c SHA256SUMS` passes in `dir` (a dist dir).
pub fn assert_sums_verify(dir: &Path) {
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "sha256sum -c in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&check.stdout)
    );
}

/// A git repository of the tool as it is in this checkout (its package: manifest, sources,
/// assets and the two crates below it, links resolved), at `dir`, with one commit: what an adopting workspace pins by
/// `--git file://… --rev …`, offline. Returns (url, commit).
pub fn tool_repo(dir: &Path) -> (String, String) {
    let _ = std::fs::remove_dir_all(dir);
    let package = workspace_root().join("xtask");
    for entry in walkdir::WalkDir::new(&package)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| {
            // The package and the crates below it; not the tests.
            e.depth() != 1
                || ["Cargo.toml", "src", "assets", "core", "ops"]
                    .contains(&e.file_name().to_str().unwrap())
        })
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
    {
        let to = dir.join(entry.path().strip_prefix(&package).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(entry.path(), &to).unwrap();
    }
    git_commit_all(dir, "the tool");
    (format!("file://{}", dir.display()), git_head(dir))
}

/// A new commit of everything in the repository at `dir`; returns its id.
pub fn git_commit(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(
        dir,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            message,
        ],
    );
    git_head(dir)
}

/// The commit `HEAD` names in the repository at `dir`.
pub fn git_head(dir: &Path) -> String {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// What is under `root`, links not followed: every file's bytes and mode, every link's text,
/// every folder (so an added empty one shows).
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let Ok(entry) = entry else { continue };
        let path = entry.path().to_path_buf();
        let meta = entry.path().symlink_metadata().unwrap();
        let what = if meta.is_symlink() {
            format!("link {}", std::fs::read_link(&path).unwrap().display())
        } else if meta.is_dir() {
            "dir".to_string()
        } else {
            let bytes = std::fs::read(&path).unwrap_or_default();
            let mtime = meta.modified().ok();
            format!(
                "file {:o} {} {:?} {:x}",
                meta.permissions().mode(),
                bytes.len(),
                mtime,
                bytes
                    .iter()
                    .fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(*b as u64))
            )
        };
        out.insert(path, what);
    }
    out
}

pub fn assert_same(
    before: &BTreeMap<PathBuf, String>,
    after: &BTreeMap<PathBuf, String>,
    what: &str,
) {
    let changed: Vec<String> = before
        .iter()
        .filter(|(p, v)| after.get(*p) != Some(v))
        .map(|(p, _)| format!("changed or removed: {}", p.display()))
        .chain(
            after
                .keys()
                .filter(|p| !before.contains_key(*p))
                .map(|p| format!("added: {}", p.display())),
        )
        .collect();
    assert!(changed.is_empty(), "{what}:\n{}", changed.join("\n"));
}

/// A value no earlier run can have written anywhere (a secret to search for, an edit).
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Every file under `dir` holding `needle`.
pub fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let out = Command::new("grep")
        .args(["-rlFs", "--", needle])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// [`small_workspace`] without its `[workspace.metadata.xtask]` table (a workspace init has not
/// adopted yet), its Cargo.lock also naming `packages` (name, version: only names matter to
/// what reads them). Returns the root and the manifest as it was, with the table.
pub fn unadopted_workspace(rel: &str, packages: &[(&str, &str)]) -> (PathBuf, String) {
    let root = small_workspace(rel, "");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let bare = manifest[..manifest.find("[workspace.metadata.xtask]").unwrap()].to_string();
    write_file(&root, "Cargo.toml", &bare);
    let mut lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap();
    for (name, version) in packages {
        lock.push_str(&format!(
            "\n[[package]]\nname = \"{name}\"\nversion = \"{version}\"\n"
        ));
    }
    write_file(&root, "Cargo.lock", &lock);
    (root, manifest)
}

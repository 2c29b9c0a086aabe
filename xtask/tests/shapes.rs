//! `ci_optims` on every workspace shape cargo accepts: each test generates a throwaway
//! workspace of one shape, runs `cargo xtask ci-optims sync`, then counts on its own (plain cargo
//! and its JSON messages, not the xtask's report) how many third-party units the real build finds
//! fresh after building ci_optims: all of them, for `cargo build` and `cargo test --no-run`.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh folder for a generated workspace (and whatever sits beside it), removed when dropped.
/// In the system's temp dir, not under this checkout: cargo would take this repository's root
/// manifest for the workspace of a package it finds above no nearer root it knows.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir()
        .join(format!("xtask-shapes-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn cargo(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {} in {}: {}",
        args.join(" "),
        dir.display(),
        tail(&String::from_utf8_lossy(&out.stderr), 30)
    );
    out
}

/// Package ids of the workspace's members (from `cargo metadata`).
fn members(root: &Path) -> BTreeSet<String> {
    let out = cargo(root, &["metadata", "--format-version", "1", "--no-deps"]);
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect()
}

/// (third-party units, of which fresh, the others) in a cargo run's JSON messages.
fn count(stdout: &[u8], members: &BTreeSet<String>) -> (usize, usize, Vec<String>) {
    let mut total = 0;
    let mut fresh = 0;
    let mut compiled = Vec::new();
    for line in String::from_utf8_lossy(stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let id = msg["package_id"].as_str().unwrap();
        if members.contains(id) {
            continue;
        }
        total += 1;
        if msg["fresh"] == true {
            fresh += 1;
        } else {
            compiled.push(format!("{id} {}", msg["target"]["name"]));
        }
    }
    (total, fresh, compiled)
}

/// Sync ci_optims, then for `cargo build` and `cargo test --no-run`: build the mirror, then the
/// real thing, in one scratch target dir; every third-party unit of the real run is fresh.
/// Returns the third-party unit counts (build, test).
fn assert_all_fresh(root: &Path) -> (usize, usize) {
    xtask_ok(root, &["ci-optims", "sync"]);
    let target = root.join("target-shapes");
    let target_arg = format!("--target-dir={}", target.display());
    let json = "--message-format=json";
    let members = members(root);
    let mut totals = Vec::new();
    for mode in [&["build"][..], &["test", "--no-run", "--workspace"][..]] {
        let mut warm = mode.to_vec();
        warm.extend(["--manifest-path", "ci_optims/Cargo.toml", &target_arg, json]);
        cargo(root, &warm);
        let mut real = mode.to_vec();
        real.extend([&target_arg[..], json]);
        let out = cargo(root, &real);
        let (total, fresh, compiled) = count(&out.stdout, &members);
        eprintln!(
            "{}: {fresh}/{total} third-party units fresh",
            mode.join(" ")
        );
        assert!(total > 0, "{}: no third-party unit at all", mode.join(" "));
        assert_eq!(
            fresh,
            total,
            "`cargo {}` compiled third-party units that ci_optims should have: {compiled:#?}",
            mode.join(" ")
        );
        totals.push(total);
    }
    (totals[0], totals[1])
}

fn lockfile(root: &Path) {
    let offline = Command::new(env!("CARGO"))
        .args(["generate-lockfile", "--offline"])
        .current_dir(root)
        .output()
        .unwrap();
    if !offline.status.success() {
        cargo(root, &["generate-lockfile"]);
    }
}

fn package(name: &str, extra: &str) -> String {
    format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{extra}")
}

/// A root package plus workspace, members reached through path dependencies, no
/// default-members; workspace inheritance; target-specific, optional and renamed dependencies;
/// `default-features = false` in one member and defaults in another; two versions of a crate;
/// a dependency with other features in a build script than in the app; a proc-macro member; a
/// build script compiling C.
#[test]
fn a_root_package_with_members_and_every_kind_of_dependency() {
    let _guard = heavy();
    let scratch = scratch("root-package");
    let root = scratch.0.clone();
    let w = |rel: &str, text: &str| write_file(&root, rel, text);
    w(
        "Cargo.toml",
        r#"[package]
name = "app"
version = "0.1.0"
edition = "2021"

[workspace]
members = ["libs/*"]

[workspace.dependencies]
memchr = { version = "2", default-features = false }
itoa = "1"

[dependencies]
core-lib = { path = "libs/core-lib", features = ["fast"] }
macros = { path = "libs/macros" }
itoa.workspace = true
json_num = { package = "ryu", version = "1" }
old_itoa = { package = "itoa", version = "0.4" }

[target.'cfg(unix)'.dependencies]
cfg-if = "1"

[target.'cfg(windows)'.dependencies]
smallvec = "1"

[build-dependencies]
memchr = { workspace = true }
cc = "1"
"#,
    );
    w(
        "build.rs",
        "fn main() {\n    cc::Build::new().file(\"native/add.c\").compile(\"add\");\n    let _ = memchr::memchr(b'a', b\"cat\");\n}\n",
    );
    w("native/add.c", "int add(int a, int b) { return a + b; }\n");
    w(
        "src/main.rs",
        "extern \"C\" { fn add(a: i32, b: i32) -> i32; }\nfn main() { let mut b = itoa::Buffer::new(); println!(\"{} {} {}\", b.format(core_lib::two()), unsafe { add(1, 2) }, macros::answer!()); }\n",
    );
    w(
        "libs/core-lib/Cargo.toml",
        &package(
            "core-lib",
            "\n[features]\nfast = [\"dep:smallvec\", \"memchr/std\"]\n\n[dependencies]\nmemchr = { workspace = true, features = [\"alloc\"] }\nsmallvec = { version = \"1\", optional = true }\n\n[dev-dependencies]\nonce_cell = \"1\"\n",
        ),
    );
    w("libs/core-lib/src/lib.rs", "pub fn two() -> u32 { 2 }\n");
    w(
        "libs/macros/Cargo.toml",
        &package(
            "macros",
            "\n[lib]\nproc-macro = true\n\n[dependencies]\nquote = \"1\"\nproc-macro2 = \"1\"\n",
        ),
    );
    w(
        "libs/macros/src/lib.rs",
        "use proc_macro::TokenStream;\n#[proc_macro]\npub fn answer(_: TokenStream) -> TokenStream { let t: proc_macro2::TokenStream = quote::quote!(42); t.into() }\n",
    );
    lockfile(&root);
    let (build, test) = assert_all_fresh(&root);
    // smallvec is there through a feature, cc for the build script, itoa twice.
    assert!(build >= 8 && test >= build, "{build} {test}");
}

/// A virtual manifest with default-members; a git dependency (a local repository); a
/// `[patch.crates-io]` to a path outside the root, one to a crate vendored inside it and one to
/// a git repository; a path dependency outside the workspace root; a member with only a test.
#[test]
fn a_virtual_workspace_with_git_patches_and_an_outside_path() {
    let _guard = heavy();
    let scratch = scratch("virtual");
    let top = scratch.0.clone();
    let git_repo = |name: &str, files: &[(&str, &str)]| -> String {
        let dir = top.join(name);
        for (rel, text) in files {
            write_file(&dir, rel, text);
        }
        git_commit_all(&dir, "one");
        format!("file://{}", dir.display())
    };
    let greeting = git_repo(
        "greeting-repo",
        &[
            (
                "Cargo.toml",
                &package("greeting", "\n[dependencies]\nitoa = \"1\"\n"),
            ),
            ("src/lib.rs", "pub fn hi() -> &'static str { \"hi\" }\n"),
        ],
    );
    // Patched crates keep their name and a semver-compatible version.
    let ryu_git = git_repo(
        "ryu-repo",
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"ryu\"\nversion = \"1.0.99\"\nedition = \"2021\"\n\n[dependencies]\ncfg-if = \"1\"\n",
            ),
            ("src/lib.rs", "pub fn patched() -> bool { true }\n"),
        ],
    );
    write_file(
        &top,
        "vendor-itoa/Cargo.toml",
        "[package]\nname = \"itoa\"\nversion = \"1.0.99\"\nedition = \"2021\"\n\n[dependencies]\nmemchr = \"2\"\n",
    );
    write_file(
        &top,
        "vendor-itoa/src/lib.rs",
        "pub fn patched() -> bool { true }\n",
    );
    write_file(
        &top,
        "outside/Cargo.toml",
        &package("outside", "\n[dependencies]\nonce_cell = \"1\"\n"),
    );
    write_file(&top, "outside/src/lib.rs", "pub fn outside() -> u8 { 1 }\n");

    let root = top.join("ws");
    let w = |rel: &str, text: &str| write_file(&root, rel, text);
    w(
        "Cargo.toml",
        &format!(
            r#"[workspace]
resolver = "2"
members = ["crates/server", "crates/util", "tools/gen", "checks"]
exclude = ["vendor"]
default-members = ["crates/server"]

[patch.crates-io]
itoa = {{ path = "../vendor-itoa" }}
log = {{ path = "vendor/logrepo/log" }}
ryu = {{ git = "{ryu_git}", branch = "main" }}
"#
        ),
    );
    w(
        "crates/server/Cargo.toml",
        &package(
            "server",
            &format!(
                "\n[dependencies]\nutil = {{ path = \"../util\" }}\ngreeting = {{ git = \"{greeting}\", branch = \"main\" }}\noutside = {{ path = \"../../../outside\" }}\nitoa = \"1\"\nryu = \"1\"\n"
            ),
        ),
    );
    w(
        "crates/server/src/main.rs",
        "fn main() { println!(\"{} {} {} {} {}\", util::u(), greeting::hi(), outside::outside(), itoa::patched(), ryu::patched()); }\n",
    );
    w(
        "crates/util/Cargo.toml",
        &package("util", "\n[dependencies]\nlog = \"0.4\"\n"),
    );
    w("crates/util/src/lib.rs", "pub fn u() -> u8 { 0 }\n");
    // Vendored inside the root, a member of a workspace of its own that it inherits from: cargo
    // hashes it by its path relative to the workspace root.
    w(
        "vendor/logrepo/Cargo.toml",
        "[workspace]\nmembers = [\"log\"]\n\n[workspace.package]\nedition = \"2021\"\n\n[workspace.dependencies]\ncfg-if = \"1\"\n",
    );
    w(
        "vendor/logrepo/log/Cargo.toml",
        "[package]\nname = \"log\"\nversion = \"0.4.99\"\nedition.workspace = true\n\n[dependencies]\ncfg-if.workspace = true\n",
    );
    w("vendor/logrepo/log/src/lib.rs", "pub fn vendored() {}\n");
    // Not a default member: `cargo build` leaves it (and its dependency) out, in both.
    w(
        "tools/gen/Cargo.toml",
        &package("gen", "\n[dependencies]\nbitflags = \"2\"\n"),
    );
    w("tools/gen/src/main.rs", "fn main() {}\n");
    // Only a `[[test]]` target (no library, no binary), as typst's `tests` member.
    w(
        "checks/Cargo.toml",
        &package(
            "checks",
            "\n[[test]]\nname = \"it\"\npath = \"src/it.rs\"\nharness = false\n\n[dependencies]\nscopeguard = \"1\"\n",
        ),
    );
    w("checks/src/it.rs", "fn main() {}\n");
    lockfile(&root);
    let mirror = std::fs::read_to_string(root.join("ci_optims/Cargo.toml")).unwrap_or_default();
    let (build, test) = assert_all_fresh(&root);
    assert!(build >= 5 && test > build, "{build} {test}");
    let mirror_after = std::fs::read_to_string(root.join("ci_optims/Cargo.toml")).unwrap();
    assert!(
        mirror.is_empty() && mirror_after.contains("default-members = [\"members/crates/server\"]")
    );
    // The patch's path is written relative to ci_optims/; the paths the mirror refers to are
    // listed from the root for images, and those outside the root make `docker build` refuse.
    assert!(
        mirror_after.contains("path = \"../../vendor-itoa\""),
        "{mirror_after}"
    );
    let local = std::fs::read_to_string(root.join("ci_optims/local-paths")).unwrap();
    assert_eq!(
        local,
        "../outside\n../vendor-itoa\nvendor/logrepo/Cargo.toml\nvendor/logrepo/log\n"
    );
    // The vendored crate is reached through a link at the same relative path in the mirror.
    assert!(
        mirror_after.contains("path = \"vendor/logrepo/log\""),
        "{mirror_after}"
    );
    assert_eq!(
        std::fs::read_link(root.join("ci_optims/vendor")).unwrap(),
        Path::new("../vendor")
    );
    // A sync that drops the link removes the link, never the files behind it.
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        manifest.replace("log = { path = \"vendor/logrepo/log\" }\n", ""),
    )
    .unwrap();
    cargo(&root, &["generate-lockfile", "--offline"]);
    xtask_ok(&root, &["ci-optims", "sync"]);
    assert!(std::fs::symlink_metadata(root.join("ci_optims/vendor")).is_err());
    assert!(root.join("vendor/logrepo/log/src/lib.rs").is_file());
    std::fs::write(root.join("Cargo.toml"), manifest).unwrap();
    cargo(&root, &["generate-lockfile", "--offline"]);
    xtask_ok(&root, &["ci-optims", "sync"]);
    let out = xtask(&root, &["docker", "build"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("paths outside its root (../outside, ../vendor-itoa)")
            && stderr.contains("move them under the workspace root"),
        "{stderr}"
    );
}

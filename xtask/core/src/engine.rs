//! The container engine this machine can use: the docker client (`$DOCKER`), its extra build
//! flags (`$DOCKER_BUILD_FLAGS`), and whether an engine answers with BuildKit. Every command that
//! talks to the engine (docker, bench, cache, doctor) asks here.

use crate::exec::{Command, Exec};
use anyhow::bail;

/// The docker client: `$DOCKER`, else `docker`.
pub fn client() -> String {
    std::env::var("DOCKER").unwrap_or_else(|_| "docker".into())
}

/// Extra flags of every `docker build`: `$DOCKER_BUILD_FLAGS`, whitespace-separated.
pub fn build_flags() -> Vec<String> {
    std::env::var("DOCKER_BUILD_FLAGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Is an engine reachable, and does the client build with BuildKit?
pub fn check(exec: &Exec, docker: &str) -> anyhow::Result<()> {
    let version = Command::new(docker)
        .args(["version", "--format", "{{.Server.Version}}"])
        .env("DOCKER_BUILDKIT", "1");
    let version = match exec.output(&version) {
        Err(e) => bail!("cannot run the docker client `{docker}`: {e:#}; fix: install Docker, or set DOCKER=/path/to/docker"),
        Ok(out) if !out.success => bail!(
            "no Docker engine answers ({}); fix: start one (e.g. `sudo systemctl start docker`) or point DOCKER_HOST at it",
            out.stderr.trim()
        ),
        Ok(out) => out.stdout.trim().to_string(),
    };
    let help = exec.output(
        &Command::new(docker)
            .args(["build", "--help"])
            .env("DOCKER_BUILDKIT", "1"),
    )?;
    let help_text = help.stdout + &help.stderr;
    buildkit_problem(&version, help.success, &help_text).map_or(Ok(()), |p| bail!(p))
}

/// Why BuildKit cannot be used, from the engine version and `docker build --help`.
fn buildkit_problem(server_version: &str, help_ok: bool, help: &str) -> Option<String> {
    let mut parts = server_version
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < (18, 9) {
        return Some(format!(
            "the Docker engine {server_version} has no BuildKit (needs 18.09 or newer); fix: upgrade the engine"
        ));
    }
    if !help_ok || !help.contains("--secret") {
        return Some(
            "this docker client cannot build with BuildKit (no `--secret` in `docker build --help`; a recent CLI without the buildx plugin refuses BuildKit); fix: install docker-buildx, or set DOCKER to a client with BuildKit built in (e.g. /usr/bin/docker)"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildkit_detection() {
        assert!(buildkit_problem("17.06.0", true, "--secret")
            .unwrap()
            .contains("upgrade"));
        assert!(
            buildkit_problem("28.2.2", false, "buildx component is missing")
                .unwrap()
                .contains("docker-buildx")
        );
        assert_eq!(
            buildkit_problem("20.10.24+dfsg1", true, "      --secret stringArray"),
            None
        );
    }
}

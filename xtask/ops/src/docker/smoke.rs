//! `docker build --smoke`: the image of this machine's architecture, run on loopback, must
//! answer as the service says it does (`[workspace.metadata.xtask.service]`): its health path
//! with 200, its version path with the version and commit it was built with.

use crate::exec::{Command, Exec};
use anyhow::{bail, Context};
use serde::Serialize;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What the smoke check runs and expects.
#[derive(Debug, Clone, Serialize)]
pub struct Smoke {
    pub image: String,
    /// The service's arguments to listen on `{addr}`.
    pub listen_args: Vec<String>,
    pub health_path: String,
    pub version_path: String,
    /// Words the version path's answer must contain (the version, the commit).
    pub expect: Vec<String>,
}

/// How long the service may take to answer its health path.
const STARTUP: Duration = Duration::from_secs(60);

impl Smoke {
    pub fn describe(&self) -> String {
        format!(
            "smoke check: run {} on 127.0.0.1 ({}), GET {} must give 200, GET {} must name {}",
            self.image,
            self.listen_args.join(" "),
            self.health_path,
            self.version_path,
            self.expect.join(" and ")
        )
    }

    pub fn check(&self, exec: &Exec, docker: &str) -> anyhow::Result<()> {
        let addr = format!("127.0.0.1:{}", free_port()?);
        let args: Vec<String> = self
            .listen_args
            .iter()
            .map(|a| a.replace("{addr}", &addr))
            .collect();
        let run = Command::new(docker)
            .args(["run", "-d", "--network", "host", &self.image])
            .args(&args);
        let id = exec
            .read(&run)
            .context("starting the image for its smoke check")?
            .trim()
            .to_string();
        let container = Container { exec, docker, id };
        let answer = self.probe(&addr);
        if answer.is_err() {
            let logs = Command::new(docker).args(["logs", "--tail", "20", &container.id]);
            if let Ok(out) = exec.output(&logs) {
                eprintln!("{}{}", out.stdout, out.stderr);
            }
        }
        drop(container);
        answer.with_context(|| {
            format!(
                "the smoke check of {} failed; the service's paths and listen arguments are \
                 [workspace.metadata.xtask.service] health-path, version-path, listen-args",
                self.image
            )
        })
    }

    fn probe(&self, addr: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + STARTUP;
        let (status, _) = loop {
            match get(addr, &self.health_path) {
                Ok(answer) => break answer,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(250))
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("nothing answered on {addr} within {} s", STARTUP.as_secs())
                    })
                }
            }
        };
        if status != 200 {
            bail!("GET {} answered {status}, not 200", self.health_path);
        }
        let (status, body) = get(addr, &self.version_path)?;
        let missing: Vec<&String> = self.expect.iter().filter(|w| !body.contains(*w)).collect();
        if status != 200 || !missing.is_empty() {
            bail!(
                "GET {} answered {status} without {:?}: {}",
                self.version_path,
                missing,
                body.trim()
            );
        }
        eprintln!(
            "smoke: {} answered GET {} 200 and GET {} with {}",
            self.image,
            self.health_path,
            self.version_path,
            self.expect.join(" and ")
        );
        Ok(())
    }
}

/// The container, removed when dropped (whatever the check found).
struct Container<'a> {
    exec: &'a Exec<'a>,
    docker: &'a str,
    id: String,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let remove = Command::new(self.docker).args(["rm", "-f", &self.id]);
        let _ = self.exec.output(&remove);
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// `GET path` over HTTP/1.0: the status and the body.
fn get(addr: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    // One write: a server that answers as soon as it has the request line must not find the
    // rest arriving after it closed.
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("GET {path}: not an HTTP answer: {head}"))?;
    Ok((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server on loopback answering every request with `status` and `body`.
    fn serve(status: &'static str, body: &'static str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut stream = stream;
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!("HTTP/1.0 {status}\r\n\r\n{body}");
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        addr
    }

    fn smoke(expect: &[&str]) -> Smoke {
        Smoke {
            image: "svc:dev".into(),
            listen_args: vec!["--listen".into(), "{addr}".into()],
            health_path: "/healthz".into(),
            version_path: "/version".into(),
            expect: expect.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_service_must_be_healthy_and_name_its_version_and_commit() {
        let good = serve("200 OK", r#"{"version":"1.2.3","commit":"cafe"}"#);
        smoke(&["1.2.3", "cafe"]).probe(&good).unwrap();
        let err = smoke(&["1.2.3", "beef"])
            .probe(&good)
            .unwrap_err()
            .to_string();
        assert!(err.contains("beef"), "{err}");
        let missing = serve("404 Not Found", "");
        let err = smoke(&[]).probe(&missing).unwrap_err().to_string();
        assert!(err.contains("answered 404"), "{err}");
    }
}

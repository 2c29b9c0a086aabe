//! Every process the xtask starts (cargo, docker, git, rustc) is a [`Command`]
//! value, spawned here through the workspace's `Shell` (its directory and environment), with
//! its output streamed line by line to a handler and the tail kept for the error.

use anyhow::{bail, Context};
use serde::Serialize;
use std::collections::VecDeque;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;
use xshell::Shell;

/// A process to run: what a plan holds and `--dry-run` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Command {
    pub program: String,
    pub args: Vec<String>,
    /// Set on top of the shell's environment.
    pub env: Vec<(String, String)>,
    /// Working directory, when not the workspace root.
    pub dir: Option<PathBuf>,
    /// Variables holding secrets: set on this process only, from this process's environment
    /// when it starts. A plan names them and their sources, never their values, and no file
    /// ever holds them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secret_env: Vec<SecretEnv>,
}

/// A secret passed to one process in its environment: `name` holds the `KEY=VALUE` lines of
/// the variables `from` of this process (those that are set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretEnv {
    pub name: String,
    pub from: Vec<String>,
}

impl SecretEnv {
    /// The value, read from this process's environment now.
    fn value(&self) -> String {
        self.from
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v}\n")))
            .collect()
    }
}

impl Command {
    pub fn new(program: impl Into<String>) -> Command {
        Command {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            dir: None,
            secret_env: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Command {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, args: I) -> Command {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Command {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Command {
        self.dir = Some(dir.into());
        self
    }

    /// Set `name` to the `KEY=VALUE` lines of the variables `from`, at start only.
    pub fn secret_env(mut self, name: &str, from: &[String]) -> Command {
        self.secret_env.push(SecretEnv {
            name: name.into(),
            from: from.to_vec(),
        });
        self
    }

    /// The value of `key` this command sets, if it sets one.
    #[cfg(test)]
    pub fn env_value(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `program arg arg`, as a person reads it (arguments with spaces are quoted).
    pub fn line(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .map(|a| {
                if a.is_empty() || a.contains([' ', '"', '\'']) {
                    format!("'{}'", a.replace('\'', "'\\''"))
                } else {
                    a.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How much of a process's output reaches the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Nothing while it runs; the tail if it fails.
    Quiet,
    /// The command line, then every line the handler lets through.
    Normal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What a handler says about one line of output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// For people: shown (at `Normal`) and kept in the tail.
    Show,
    /// Consumed by the handler (a JSON message): neither shown nor kept.
    Consumed,
}

/// How many lines of output a failed command shows.
pub const TAIL_LINES: usize = 40;

/// The runner, bound to the workspace's shell.
pub struct Exec<'a> {
    sh: &'a Shell,
    pub verbosity: Verbosity,
}

impl<'a> Exec<'a> {
    pub fn new(sh: &'a Shell, verbosity: Verbosity) -> Exec<'a> {
        Exec { sh, verbosity }
    }

    /// The same runner at another verbosity.
    pub fn with(&self, verbosity: Verbosity) -> Exec<'a> {
        Exec {
            sh: self.sh,
            verbosity,
        }
    }

    /// The process ready to start, with the shell's directory and environment applied: it can
    /// then run on another thread (`Prepared` is `Send`; the shell is not).
    pub fn prepare(&self, command: &Command, label: &str) -> Prepared {
        let mut cmd = self.sh.cmd(&command.program).args(&command.args);
        for (k, v) in &command.env {
            cmd = cmd.env(k, v);
        }
        for secret in &command.secret_env {
            cmd = cmd.env(&secret.name, secret.value());
        }
        let mut process: std::process::Command = cmd.into();
        if let Some(dir) = &command.dir {
            process.current_dir(dir);
        }
        end_with_us(&mut process);
        Prepared {
            process,
            line: command.line(),
            label: label.to_string(),
            verbosity: self.verbosity,
        }
    }

    /// Run `command` to the end, every output line through `on_line`.
    pub fn run(
        &self,
        command: &Command,
        on_line: &mut dyn FnMut(Stream, &str) -> Line,
    ) -> anyhow::Result<()> {
        self.prepare(command, "").run(on_line)
    }

    /// Run `command` silently; its stdout, or an error with its stderr.
    pub fn read(&self, command: &Command) -> anyhow::Result<String> {
        let out = self.output(command)?;
        if !out.success {
            bail!(
                "`{}` failed: {}",
                command.line(),
                tail_text(out.stderr.trim(), TAIL_LINES)
            );
        }
        Ok(out.stdout.trim_end().to_string())
    }

    /// Run `command` silently and return what it printed and whether it succeeded; an error
    /// only when it cannot start.
    pub fn output(&self, command: &Command) -> anyhow::Result<Output> {
        let mut process = self.prepare(command, "").process;
        let out = process
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("starting `{}`", command.program))?;
        Ok(Output {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Did `command` run and exit 0?
    pub fn succeeds(&self, command: &Command) -> bool {
        self.output(command).is_ok_and(|o| o.success)
    }
}

/// A child of ours gets SIGTERM when we end, however we end (kill -9 included): an interrupted
/// command leaves no `docker build` or cargo running on (Linux's parent-death signal; it fires
/// when the spawning thread ends, and every child here is waited for on the thread that spawned it).
fn end_with_us(process: &mut std::process::Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: prctl and getppid are async-signal-safe and touch no memory of the parent.
        unsafe {
            process.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                // The parent may have ended before the signal was asked for.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("the parent process has ended"));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = process;
}

/// What a silent run printed.
#[derive(Debug)]
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// A process ready to start (see [`Exec::prepare`]).
pub struct Prepared {
    process: std::process::Command,
    line: String,
    label: String,
    verbosity: Verbosity,
}

impl Prepared {
    /// Start it and stream both outputs, line by line in arrival order, to `on_line`.
    pub fn run(mut self, on_line: &mut dyn FnMut(Stream, &str) -> Line) -> anyhow::Result<()> {
        let prefix = if self.label.is_empty() {
            String::new()
        } else {
            format!("{} ", self.label)
        };
        let normal = self.verbosity == Verbosity::Normal;
        if normal {
            eprintln!("{prefix}$ {}", self.line);
        }
        let start = Instant::now();
        let mut child = self
            .process
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting `{}`", self.line))?;
        let (tx, rx) = std::sync::mpsc::channel::<(Stream, String)>();
        let readers = [
            (
                Stream::Stdout,
                child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            ),
            (
                Stream::Stderr,
                child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            ),
        ]
        .into_iter()
        .filter_map(|(stream, pipe)| {
            let pipe = pipe?;
            let tx = tx.clone();
            Some(std::thread::spawn(move || {
                for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send((stream, line)).is_err() {
                        break;
                    }
                }
            }))
        })
        .collect::<Vec<_>>();
        drop(tx);
        let mut tail = VecDeque::new();
        for (stream, line) in rx {
            if on_line(stream, &line) == Line::Show {
                if normal {
                    eprintln!("{prefix}{line}");
                }
                tail.push_back(line);
                if tail.len() > TAIL_LINES {
                    tail.pop_front();
                }
            }
        }
        for reader in readers {
            let _ = reader.join();
        }
        let status = child
            .wait()
            .with_context(|| format!("waiting for `{}`", self.line))?;
        if !status.success() {
            if !normal {
                for line in &tail {
                    eprintln!("{prefix}{line}");
                }
            }
            let seconds = start.elapsed().as_secs_f64();
            bail!(
                "{prefix}`{}` failed ({status}) after {seconds:.1} s",
                self.line
            );
        }
        Ok(())
    }
}

/// CPU seconds (user + system) of every child process this one has waited for so far, their
/// own waited-for children included (cargo waits for rustc, rustc for the linker). The difference
/// around a run is that run's work: unlike its wall time, it barely moves when other processes
/// compete for the cores.
pub fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct it is given, nothing else.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The last `lines` lines of `text`, saying how many came before.
pub fn tail_text(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let omitted = if start > 0 {
        format!("[{start} earlier lines omitted]\n")
    } else {
        String::new()
    };
    omitted + &all[start..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_both_outputs_and_keeps_the_tail_of_a_failure() {
        let sh = Shell::new().unwrap();
        let exec = Exec::new(&sh, Verbosity::Quiet);
        let script = "echo '{\"json\":1}'; echo out; echo err >&2; exit 3";
        let mut seen = Vec::new();
        let err = exec
            .run(
                &Command::new("sh").args(["-c", script]),
                &mut |stream, line| {
                    seen.push((stream, line.to_string()));
                    if line.starts_with('{') {
                        Line::Consumed
                    } else {
                        Line::Show
                    }
                },
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("failed (exit status: 3)"), "{err}");
        seen.sort();
        assert_eq!(
            seen,
            [
                (Stream::Stdout, "out".to_string()),
                (Stream::Stdout, "{\"json\":1}".to_string()),
                (Stream::Stderr, "err".to_string()),
            ]
        );
    }

    #[test]
    fn runs_in_the_shells_directory_with_its_environment_plus_the_commands() {
        let sh = Shell::new().unwrap();
        let dir = crate::test_support::scratch("exec-dir");
        sh.change_dir(&dir);
        let _env = sh.push_env("XTASK_FROM_SHELL", "shell");
        let exec = Exec::new(&sh, Verbosity::Quiet);
        let out = exec
            .read(
                &Command::new("sh")
                    .args(["-c", "echo \"$PWD $XTASK_FROM_SHELL $XTASK_FROM_COMMAND\""])
                    .env("XTASK_FROM_COMMAND", "command"),
            )
            .unwrap();
        assert_eq!(out, format!("{} shell command", dir.display()));
        assert!(!exec.succeeds(&Command::new("false")));
        let err = exec.read(&Command::new("/nonexistent/tool")).unwrap_err();
        assert!(format!("{err:#}").contains("starting `/nonexistent/tool`"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn command_lines_quote_what_needs_it() {
        let c = Command::new("docker").args(["build", "--label", "a=b c", ""]);
        assert_eq!(c.line(), "docker build --label 'a=b c' ''");
    }
}

//! Every process the xtask starts (cargo, docker, git, rustc) is a [`Command`]
//! value, spawned here through the workspace's `Shell` (its directory and environment), with
//! its output streamed line by line to a handler and the tail kept for the error.

use crate::progress;
use anyhow::{bail, Context};
use serde::Serialize;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::BufRead;
use std::path::{Path, PathBuf};
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
    #[cfg(any(test, feature = "test-support"))]
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

    /// The shell's folder: the workspace root, once the workspace is found.
    pub fn dir(&self) -> PathBuf {
        self.sh.current_dir()
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
        let mut process = self.process(command);
        end_with_us(&mut process);
        Prepared {
            process,
            line: command.line(),
            label: label.to_string(),
            verbosity: self.verbosity,
        }
    }

    fn process(&self, command: &Command) -> std::process::Command {
        let cmd = self.sh.cmd(&command.program).args(&command.args);
        let mut process: std::process::Command = cmd.into();
        for (key, value) in as_the_shell_had_it() {
            match value {
                Some(value) => process.env(key, value),
                None => process.env_remove(key),
            };
        }
        process.envs(command.env.iter().map(|(k, v)| (k, v)));
        for secret in &command.secret_env {
            process.env(&secret.name, secret.value());
        }
        if let Some(dir) = &command.dir {
            process.current_dir(dir);
        }
        process
    }

    /// Start a service that outlives this process (in a process group of its own, so a
    /// Ctrl-C here does not reach it): `stdin` is written to it and closed (a config that
    /// must not be a file), its output goes to `log`. Its pid.
    pub fn start_service(
        &self,
        command: &Command,
        stdin: &[u8],
        log: &Path,
    ) -> anyhow::Result<u32> {
        use std::io::Write;
        use std::os::unix::process::CommandExt;
        let out =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = self
            .process(command)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting `{}`", command.line()))?;
        let mut input = child.stdin.take().context("the service's stdin")?;
        input
            .write_all(stdin)
            .with_context(|| format!("writing the config of `{}`", command.line()))?;
        drop(input);
        Ok(child.id())
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
        let line: String = command.line().chars().take(60).collect();
        let _waiting = progress::Waiting::on(format!("{line} …"));
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

/// What `cargo run` (so `cargo xtask`) adds to the environment of the program it runs, as
/// cargo's reference lists it ("Environment variables Cargo sets for crates"): names, then
/// prefixes. A cargo started with them differs from the user's own `cargo`: a build script that
/// watches one (`rerun-if-env-changed`; ring does, for `CARGO_MANIFEST_DIR`) would run again
/// whenever the two alternate, and everything above it would compile again.
pub const SET_BY_CARGO_RUN: &[&str] = &[
    "CARGO",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];
pub const SET_BY_CARGO_RUN_PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_BIN_EXE_"];

/// The dynamic library path cargo extends for the program it runs.
pub const LIBRARY_PATH: &str = if cfg!(windows) {
    "PATH"
} else if cfg!(target_os = "macos") {
    "DYLD_FALLBACK_LIBRARY_PATH"
} else if cfg!(target_os = "aix") {
    "LIBPATH"
} else {
    "LD_LIBRARY_PATH"
};

/// Every process starts with the environment the user's shell gave `cargo xtask`: the changes
/// to ours that undo what `cargo run` added (computed once).
fn as_the_shell_had_it() -> &'static [(OsString, Option<OsString>)] {
    static CHANGES: std::sync::OnceLock<Vec<(OsString, Option<OsString>)>> =
        std::sync::OnceLock::new();
    CHANGES.get_or_init(|| undo_cargo_run(std::env::vars_os()))
}

/// The changes (`None`: remove) that take an environment `cargo run` made back to the one it
/// started from. Nothing when cargo did not start us (no `CARGO_MANIFEST_DIR`). Cargo puts its
/// library dirs (the build's output dirs, then the toolchain's `lib/rustlib/<host>/lib`) in
/// front of the path it found: the entries up to that last one go.
pub fn undo_cargo_run(
    vars: impl Iterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, Option<OsString>)> {
    let vars: Vec<(OsString, OsString)> = vars.collect();
    if !vars.iter().any(|(k, _)| k == "CARGO_MANIFEST_DIR") {
        return Vec::new();
    }
    let mut changes: Vec<(OsString, Option<OsString>)> = vars
        .iter()
        .filter(|(k, _)| {
            let k = k.to_string_lossy();
            SET_BY_CARGO_RUN.contains(&k.as_ref())
                || SET_BY_CARGO_RUN_PREFIXES.iter().any(|p| k.starts_with(p))
        })
        .map(|(k, _)| (k.clone(), None))
        .collect();
    if let Some((_, path)) = vars.iter().find(|(k, _)| k == LIBRARY_PATH) {
        let entries: Vec<PathBuf> = std::env::split_paths(path).collect();
        let rustlib = entries.iter().position(|e| {
            let parts: Vec<_> = e.components().rev().take(4).collect();
            parts.len() == 4
                && parts[0].as_os_str() == "lib"
                && parts[2].as_os_str() == "rustlib"
                && parts[3].as_os_str() == "lib"
        });
        if let Some(last_of_cargos) = rustlib {
            let rest = &entries[last_of_cargos + 1..];
            let value = (!rest.is_empty())
                .then(|| std::env::join_paths(rest).ok())
                .flatten();
            changes.push((LIBRARY_PATH.into(), value));
        }
    }
    changes
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

/// What a running process's status line says, given how long it has run (`None`: the
/// process's own line and time).
pub type Status<'a> = &'a dyn Fn(std::time::Duration) -> Option<String>;

/// How often a running process's status is drawn again.
const TICK: std::time::Duration = std::time::Duration::from_millis(250);

impl Prepared {
    /// Set a variable that changes only how the process shows its progress (not part of the
    /// command line a plan prints).
    pub fn env(mut self, key: &str, value: &str) -> Prepared {
        self.process.env(key, value);
        self
    }

    /// Start it and stream both outputs, line by line in arrival order, to `on_line`.
    pub fn run(self, on_line: &mut dyn FnMut(Stream, &str) -> Line) -> anyhow::Result<()> {
        self.run_with_status(on_line, &|_| None)
    }

    /// [`Prepared::run`], with a live status line (see [`crate::progress`]) that `status` words
    /// from what `on_line` has seen; from its second second on, so a short process shows none.
    pub fn run_with_status(
        mut self,
        on_line: &mut dyn FnMut(Stream, &str) -> Line,
        status: Status,
    ) -> anyhow::Result<()> {
        let prefix = if self.label.is_empty() {
            String::new()
        } else {
            format!("{} ", self.label)
        };
        let normal = self.verbosity == Verbosity::Normal;
        if normal {
            progress::line(&format!("{prefix}$ {}", self.line));
        }
        let task = progress::task();
        let own = |elapsed| {
            let line: String = self.line.chars().take(60).collect();
            format!("{prefix}{line} … {}", progress::duration(elapsed))
        };
        let start = Instant::now();
        let mut child = self
            .process
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting `{}`", self.line))?;
        let (rx, readers) = read_lines(&mut child);
        let mut tail = VecDeque::new();
        loop {
            match rx.recv_timeout(TICK) {
                Ok((stream, line, Ending::Redraw)) => {
                    // Read for the status (cargo's bar), never shown: the status line is ours.
                    let _ = on_line(stream, &line);
                }
                Ok((stream, line, Ending::Line)) => {
                    if on_line(stream, &line) == Line::Show {
                        if normal {
                            progress::line(&format!("{prefix}{line}"));
                        }
                        tail.push_back(line);
                        if tail.len() > TAIL_LINES {
                            tail.pop_front();
                        }
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
            let elapsed = start.elapsed();
            if elapsed >= std::time::Duration::from_secs(2) {
                let text = status(elapsed).map_or_else(|| own(elapsed), |s| format!("{prefix}{s}"));
                progress::status(task, Some(text));
            }
        }
        progress::status(task, None);
        for reader in readers {
            let _ = reader.join();
        }
        let status = child
            .wait()
            .with_context(|| format!("waiting for `{}`", self.line))?;
        if !status.success() {
            if !normal {
                for line in &tail {
                    progress::line(&format!("{prefix}{line}"));
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

/// How a piece of output ended: a newline, or a carriage return (a line the program redraws in
/// place, like cargo's progress bar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Line,
    Redraw,
}

/// Both outputs of `child`, line by line in arrival order, each read on a thread of its own.
type Lines = std::sync::mpsc::Receiver<(Stream, String, Ending)>;

fn read_lines(child: &mut std::process::Child) -> (Lines, Vec<std::thread::JoinHandle<()>>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let pipes = [
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
    ];
    let readers = pipes
        .into_iter()
        .filter_map(|(stream, pipe)| {
            let pipe = pipe?;
            let tx = tx.clone();
            Some(std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(pipe);
                let mut bytes = Vec::new();
                while reader.read_until(b'\n', &mut bytes).is_ok_and(|n| n > 0) {
                    for (text, ending) in split_redraws(&bytes) {
                        if tx.send((stream, text, ending)).is_err() {
                            return;
                        }
                    }
                    bytes.clear();
                }
            }))
        })
        .collect();
    (rx, readers)
}

/// One chunk of output up to a newline, as text (bytes that are no UTF-8 replaced, so that one
/// bad byte loses nothing after it): the pieces a carriage return ends are redraws, the rest is
/// the line (a `\r\n` ending is a plain line end).
fn split_redraws(bytes: &[u8]) -> Vec<(String, Ending)> {
    let text = String::from_utf8_lossy(bytes);
    let (text, line) = match text.strip_suffix('\n') {
        Some(text) => (text.strip_suffix('\r').unwrap_or(text), true),
        // The end of the output without a newline.
        None => (text.as_ref(), false),
    };
    let mut pieces: Vec<(String, Ending)> = text
        .split('\r')
        .map(|piece| (piece.to_string(), Ending::Redraw))
        .collect();
    if let Some(last) = pieces.last_mut() {
        last.1 = Ending::Line;
    }
    pieces.retain(|(piece, ending)| !piece.trim().is_empty() || (*ending == Ending::Line && line));
    pieces
}

/// Where a secret another process must read is kept while that process runs, under the target
/// dir (a registry's credentials, the sccache-dist client's token). Each file is named
/// `<what>-<pid>.<ext>` by the process that made it; what a killed process left is removed by
/// the next command.
pub const SECRETS: &str = "xtask/secrets";

/// A file holding a secret for a child process: made new with mode 0600 (never through a link
/// or over a file), named `<stem>-<pid>.<ext>`, removed when dropped.
pub struct SecretFile(PathBuf);

impl SecretFile {
    pub fn create(dir: &Path, stem: &str, ext: &str, content: &[u8]) -> anyhow::Result<SecretFile> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{stem}-{}.{ext}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        let guard = SecretFile(path);
        file.write_all(content)
            .with_context(|| format!("writing {}", guard.0.display()))?;
        Ok(guard)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Is `path` (`<what>-<pid>.<ext>`, a [`SecretFile`]) the file of another process that still
/// runs?
pub fn held_by_a_live_process(path: &Path) -> bool {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.rsplit_once('-'))
        .and_then(|(_, pid)| pid.parse().ok())
        .is_some_and(other_process_alive)
}

/// Is `pid` another process that runs now, on this machine? (A file named by the process that
/// made it is left behind when it is not.)
pub fn other_process_alive(pid: u32) -> bool {
    pid != std::process::id() && std::path::Path::new(&format!("/proc/{pid}")).exists()
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
    use super::Ending::{Line as L, Redraw as R};

    #[test]
    fn a_redrawn_line_is_told_from_a_line() {
        let split = |b: &[u8]| super::split_redraws(b);
        let owned = |v: &[(&str, super::Ending)]| -> Vec<(String, super::Ending)> {
            v.iter().map(|(t, e)| (t.to_string(), *e)).collect()
        };
        assert_eq!(split(b"plain\n"), owned(&[("plain", L)]));
        assert_eq!(split(b"windows\r\n"), owned(&[("windows", L)]));
        assert_eq!(split(b"\n"), owned(&[("", L)]));
        assert_eq!(
            split(b"  Building [=> ] 1/4: a   \r   Compiling b v1\n"),
            owned(&[("  Building [=> ] 1/4: a   ", R), ("   Compiling b v1", L)])
        );
        assert_eq!(
            split(b"bar 1\rbar 2\r"),
            owned(&[("bar 1", R), ("bar 2", R)])
        );
        assert_eq!(split(b"no end"), owned(&[("no end", L)]));
        // A byte that is no UTF-8 loses neither the line nor what follows.
        assert_eq!(split(b"a\xffb\n"), owned(&[("a\u{fffd}b", L)]));
    }
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

    fn os(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn what_cargo_run_added_is_taken_out_and_the_rest_kept() {
        let run = os(&[
            ("CARGO", "/tc/bin/cargo"),
            ("CARGO_MANIFEST_DIR", "/ws/xtask"),
            ("CARGO_PKG_NAME", "xtask"),
            ("CARGO_BIN_EXE_app", "/ws/target/debug/app"),
            ("CARGO_HOME", "/home/u/.cargo"),
            ("CARGO_TARGET_DIR", "/big/target"),
            (
                "LD_LIBRARY_PATH",
                "/ws/target/debug:/ws/target/debug/deps:/tc/lib/rustlib/x86_64-unknown-linux-gnu/lib:/tc/lib:/opt/mine",
            ),
        ]);
        let mut changes = undo_cargo_run(run.into_iter());
        changes.sort();
        let expect: Vec<(OsString, Option<OsString>)> = vec![
            ("CARGO".into(), None),
            ("CARGO_BIN_EXE_app".into(), None),
            ("CARGO_MANIFEST_DIR".into(), None),
            ("CARGO_PKG_NAME".into(), None),
            ("LD_LIBRARY_PATH".into(), Some("/tc/lib:/opt/mine".into())),
        ];
        assert_eq!(changes, expect);
        // Cargo's entries alone: the variable goes. Not started by cargo: nothing changes.
        let only = os(&[
            ("CARGO_MANIFEST_DIR", "/ws/xtask"),
            (
                "LD_LIBRARY_PATH",
                "/ws/target/debug:/tc/lib/rustlib/x86_64-unknown-linux-gnu/lib",
            ),
        ]);
        assert!(undo_cargo_run(only.into_iter()).contains(&("LD_LIBRARY_PATH".into(), None)));
        let shell = os(&[
            ("CARGO_PKG_NAME", "mine"),
            ("LD_LIBRARY_PATH", "/tc/lib/rustlib/x/lib"),
        ]);
        assert!(undo_cargo_run(shell.into_iter()).is_empty());
    }

    /// The names cargo's reference lists under "Environment variables Cargo sets for crates"
    /// (the rust-docs component's copy of the Cargo book), `<name>` as a prefix.
    fn documented_for_crates() -> Option<(Vec<String>, String)> {
        let sysroot = std::process::Command::new(crate::toolchain::rustc())
            .args(["--print", "sysroot"])
            .output()
            .ok()?;
        let sysroot = String::from_utf8(sysroot.stdout).ok()?;
        let page = PathBuf::from(sysroot.trim())
            .join("share/doc/rust/html/cargo/reference/environment-variables.html");
        let html = std::fs::read_to_string(page).ok()?;
        let start = html.find("id=\"environment-variables-cargo-sets-for-crates\"")?;
        let end = start
            + html[start..].find("id=\"environment-variables-cargo-sets-for-build-scripts\"")?;
        let section = &html[start..end];
        let names = section
            .split("<code>")
            .skip(1)
            .filter_map(|s| s.split("</code>").next())
            .map(|name| name.replace("&lt;name&gt;", ""))
            .filter(|name| {
                name.len() > 2 && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            })
            .collect();
        Some((names, section.to_string()))
    }

    #[test]
    fn the_list_holds_every_variable_cargos_reference_says_it_sets_for_crates() {
        let Some((names, section)) = documented_for_crates() else {
            let why = "the Cargo book of the rust-docs component is not installed (fix: rustup component add rust-docs)";
            assert!(std::env::var_os("CI").is_none(), "{why}");
            eprintln!("SKIPPED (cargo's reference): {why}");
            return;
        };
        assert!(names.len() > 15, "the section was not read: {names:?}");
        let library_paths = [
            "PATH",
            "DYLD_FALLBACK_LIBRARY_PATH",
            "LD_LIBRARY_PATH",
            "LIBPATH",
        ];
        let missing: Vec<&String> = names
            .iter()
            .filter(|n| {
                !SET_BY_CARGO_RUN.contains(&n.as_str())
                    && !SET_BY_CARGO_RUN_PREFIXES.iter().any(|p| n.starts_with(p))
                    && !library_paths.contains(&n.as_str())
            })
            .collect();
        assert!(
            missing.is_empty(),
            "cargo sets these for crates, the list lacks them: {missing:?}"
        );
        assert!(
            section.contains(&format!("<code>{LIBRARY_PATH}</code>")),
            "{LIBRARY_PATH}"
        );
    }

    /// A real `cargo run`, taken back by [`undo_cargo_run`], gives exactly the environment a
    /// plain `cargo` started from the same shell has (seen through a cargo subcommand, which
    /// gets cargo's own environment plus `CARGO`).
    #[test]
    fn undone_cargo_run_is_the_environment_of_a_plain_cargo() {
        let dir = crate::test_support::scratch("exec-cargo-run");
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all(dir.join("p/src")).unwrap();
        let print = dir.join("bin/cargo-printenv");
        std::fs::write(&print, "#!/bin/sh\nexec env -0\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&print, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            dir.join("p/Cargo.toml"),
            "[package]\nname = \"p\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("p/src/main.rs"),
            "fn main() { for (k, v) in std::env::vars_os() { print!(\"{}={}\\0\", k.to_string_lossy(), v.to_string_lossy()); } }\n",
        )
        .unwrap();
        // The user's shell: a few variables, none of cargo's.
        let path = std::env::join_paths(
            std::iter::once(dir.join("bin"))
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
        )
        .unwrap();
        let shell: Vec<(&str, OsString)> =
            ["HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"]
                .iter()
                .filter_map(|k| std::env::var_os(k).map(|v| (*k, v)))
                .chain([("PATH", path)])
                .collect();
        let env_of = |args: &[&str]| -> std::collections::BTreeMap<OsString, OsString> {
            let out = std::process::Command::new("cargo")
                .args(args)
                .current_dir(dir.join("p"))
                .env_clear()
                .envs(shell.iter().map(|(k, v)| (k, v)))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "cargo {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout)
                .unwrap()
                .split('\0')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.into(), v.into()))
                .collect()
        };
        let mut plain = env_of(&["printenv"]);
        // `CARGO` is what cargo adds for a subcommand, `PWD` what the subcommand's `sh` sets.
        plain.remove(std::ffi::OsStr::new("CARGO"));
        plain.remove(std::ffi::OsStr::new("PWD"));
        let mut run = env_of(&["run", "-q", "--target-dir", "../target"]);
        for (key, value) in undo_cargo_run(run.clone().into_iter()) {
            match value {
                Some(value) => run.insert(key, value),
                None => run.remove(&key),
            };
        }
        assert_eq!(run, plain);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn command_lines_quote_what_needs_it() {
        let c = Command::new("docker").args(["build", "--label", "a=b c", ""]);
        assert_eq!(c.line(), "docker build --label 'a=b c' ''");
    }
}

//! The one plan vocabulary and its one runner. Every command builds a [`Plan`] of [`Step`]s;
//! `--dry-run` prints it ([`Plan::print`]: text, markdown or JSON); [`run`] executes exactly
//! those steps, in order, and with `--trace FILE` appends each one, as the dry run's JSON
//! prints it, to FILE as it starts (so a test can hold the two side by side).
//!
//! What a step's output means (cargo's messages aside) is the command's: a [`Handler`] reads
//! the lines of each process, receives what each step produced, and does the command's own
//! in-process work at its [`Step::Task`]s.

use crate::cargo::{Invocation, Outcome};
use crate::exec::{Command, Exec, Line, Stream};
use crate::render::{print_json, Format, Table};
use crate::toolchain::{self, Requirement};
use anyhow::Context as _;
use serde::Serialize;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What a command will do: facts a person wants first (targets, paths), then the steps.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The command, as typed after `cargo xtask`.
    pub command: String,
    /// Decided before any step: printed as `key: value` lines, flattened into the JSON.
    #[serde(flatten)]
    pub facts: serde_json::Map<String, serde_json::Value>,
    pub steps: Vec<Step>,
    /// Paths under it print relative to it (the workspace root).
    #[serde(skip)]
    pub root: Option<PathBuf>,
    /// When set, the only folders its writes and removals may reach (links resolved): checked
    /// before the first step runs.
    #[serde(skip)]
    pub places: Vec<PathBuf>,
}

/// One step of any command.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Fail, naming each fix, unless the machine has these.
    Check { requirements: Vec<Requirement> },
    /// Run a process. Steps of the same `lane` that follow each other run in parallel with
    /// the other lanes' (each lane in order); the plan goes on when all have ended.
    Run {
        purpose: String,
        command: Command,
        #[serde(skip_serializing_if = "Option::is_none")]
        lane: Option<String>,
    },
    /// Run cargo and read its messages (units, executables, the timings report).
    Cargo {
        purpose: String,
        #[serde(serialize_with = "as_command")]
        command: Invocation,
    },
    /// Write a file whole: a sibling temporary file, renamed over it when complete.
    Write {
        path: PathBuf,
        purpose: String,
        lines: usize,
        #[serde(skip)]
        content: String,
    },
    /// Make `path` a symbolic link to `target` (made beside it, renamed over it).
    Link { path: PathBuf, target: String },
    /// Remove a file or a folder.
    Remove { path: PathBuf, purpose: String },
    /// Leave a file as it is (said, so that a person sees why).
    Keep { path: PathBuf, why: String },
    /// The command's own in-process work at this point (its handler does it).
    Task { task: String, purpose: String },
}

fn as_command<S: serde::Serializer>(invocation: &Invocation, s: S) -> Result<S::Ok, S::Error> {
    invocation.command().serialize(s)
}

impl Plan {
    pub fn new(command: impl Into<String>) -> Plan {
        Plan {
            command: command.into(),
            facts: serde_json::Map::new(),
            steps: Vec::new(),
            root: None,
            places: Vec::new(),
        }
    }

    /// Refuse to run when a write or removal would land outside `places`.
    pub fn confined_to(mut self, places: &[&Path]) -> Plan {
        self.places = places.iter().map(|p| p.to_path_buf()).collect();
        self
    }

    /// Print the paths under `root` relative to it.
    pub fn within(mut self, root: &Path) -> Plan {
        self.root = Some(root.to_path_buf());
        self
    }

    /// Add a fact (a value that serialises; a list prints comma-separated).
    pub fn fact(mut self, key: &str, value: impl Serialize) -> Plan {
        let value = serde_json::to_value(value).expect("a plan's facts serialise");
        self.facts.insert(key.to_string(), value);
        self
    }

    pub fn step(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// Give every cargo step the time a unit took on this machine (see
    /// [`Invocation::unit_millis`]): the status line's estimate, nothing cargo sees.
    pub fn estimate(&mut self, unit_millis: Option<u64>) {
        for step in &mut self.steps {
            if let Step::Cargo { command, .. } = step {
                command.unit_millis = unit_millis;
            }
        }
    }

    /// The plan for people, one line per step (and per variable a process gets).
    pub fn text(&self) -> String {
        let mut out = format!("plan: cargo xtask {}\n", self.command);
        for (key, value) in &self.facts {
            out.push_str(&format!(
                "  {:<8} {}\n",
                format!("{key}:"),
                fact_text(value)
            ));
        }
        if self.steps.is_empty() {
            out.push_str("  nothing to do\n");
        }
        for step in &self.steps {
            for (verb, text) in step.lines(self.root.as_deref()) {
                out.push_str(&format!("  {verb:<8} {text}\n"));
            }
        }
        out
    }

    /// The steps as a markdown table.
    pub fn markdown(&self) -> String {
        let mut table = Table::new(["#", "step", "what"]);
        for (i, step) in self.steps.iter().enumerate() {
            let lines = step.lines(self.root.as_deref());
            let text: Vec<&str> = lines.iter().map(|(_, t)| t.as_str()).collect();
            table.row([(i + 1).to_string(), lines[0].0.to_string(), text.join("; ")]);
        }
        format!("**cargo xtask {}**\n\n{}", self.command, table.markdown())
    }

    /// Print it as `format` asks. A plan the run would refuse (a write out of its places) is
    /// refused here too, with the same words.
    pub fn print(&self, format: Format) -> anyhow::Result<()> {
        self.check_places()?;
        match format {
            Format::Json => print_json(self),
            Format::Markdown => {
                print!("{}", self.markdown());
                Ok(())
            }
            Format::Text => {
                print!("{}", self.text());
                Ok(())
            }
        }
    }

    /// The paths the plan writes or removes.
    fn touched(&self) -> impl Iterator<Item = &Path> {
        self.steps.iter().filter_map(|s| match s {
            Step::Write { path, .. } | Step::Link { path, .. } | Step::Remove { path, .. } => {
                Some(path.as_path())
            }
            _ => None,
        })
    }

    /// Fail, before anything is touched, when a write or removal would land outside the
    /// plan's places through a symbolic link (or a `..`), or would write through a link to a
    /// file outside them.
    fn check_places(&self) -> anyhow::Result<()> {
        let places: Vec<PathBuf> = self.places.iter().map(|p| resolved(p)).collect();
        let inside = |p: &Path| places.iter().any(|place| p.starts_with(place));
        let named = || {
            self.places
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        };
        for step in &self.steps {
            if let Step::Write { path, .. } = step {
                if path.is_symlink() && !link_target(path).is_some_and(|t| inside(&t)) {
                    anyhow::bail!(
                        "{} is a link to {}, outside {}: this command writes through a link only to a file inside; make it a file of its own (or link it inside), then run again",
                        path.display(),
                        std::fs::read_link(path).unwrap_or_default().display(),
                        if places.is_empty() { "the places it writes".to_string() } else { named() }
                    );
                }
            }
        }
        if places.is_empty() {
            return Ok(());
        }
        for path in self.touched() {
            // The path itself may be a link the step replaces or removes: its folder counts.
            let parent = resolved(path.parent().unwrap_or(path));
            if !inside(&parent) {
                anyhow::bail!(
                    "{} resolves to {}, outside {}: this command writes only there and never \
                     follows a link out; remove the link or give a path inside",
                    path.display(),
                    parent.display(),
                    named()
                );
            }
        }
        Ok(())
    }

    /// Fail, before anything is touched, when a step would take the workspace with it (the
    /// workspace is the runner's folder): removing the root or a folder above it, or a folder
    /// holding a file git tracks (a tracked file the tool generated may go: the user commits
    /// that); writing, linking or removing anything in `.git`.
    fn check_workspace(&self, exec: &Exec) -> anyhow::Result<()> {
        for step in &self.steps {
            let (path, removal) = match step {
                Step::Remove { path, .. } => (path, true),
                Step::Write { path, .. } | Step::Link { path, .. } => (path, false),
                _ => continue,
            };
            if let Some(why) = refusal(exec, path, removal) {
                anyhow::bail!(
                    "{} would be {}, and {why}: this command never touches that; point the target dir (`CARGO_TARGET_DIR`, `build.target-dir`) or the output at a folder of its own",
                    path.display(),
                    if removal { "removed" } else { "written" }
                );
            }
        }
        Ok(())
    }
}

/// Why removing (or writing) `path` would take the workspace with it, if it would (the
/// workspace is the runner's folder): removing the root or a folder above it, or a folder
/// holding a file git tracks; anything in `.git`. In-process removals ask it too.
pub fn refusal(exec: &Exec, path: &Path, removal: bool) -> Option<&'static str> {
    let root = resolved(&exec.dir());
    // A link is removed or replaced itself, not what it leads to: its folder counts.
    let real = match path.is_symlink() {
        true => resolved(path.parent().unwrap_or(path)).join(path.file_name().unwrap_or_default()),
        false => resolved(path),
    };
    if real.starts_with(root.join(".git")) {
        Some("it is git's own data")
    } else if removal && root.starts_with(&real) {
        Some("it holds the workspace")
    } else if removal && real.is_dir() && real.starts_with(&root) && tracks(exec, &root, &real) {
        Some("it is a folder holding files git tracks")
    } else {
        None
    }
}

/// Does git track a file at or under `path` (in the repository at `root`)?
pub fn tracks(exec: &Exec, root: &Path, path: &Path) -> bool {
    let listed = exec.output(
        &Command::new("git")
            .arg("-C")
            .arg(root.display().to_string())
            .args(["ls-files", "-z", "--"])
            .arg(path.display().to_string()),
    );
    listed.is_ok_and(|out| out.success && !out.stdout.is_empty())
}

/// The file a link leads to, when it leads to one.
pub fn link_target(path: &Path) -> Option<PathBuf> {
    path.is_symlink()
        .then(|| std::fs::canonicalize(path).ok())
        .flatten()
}

/// `path` with every link of its deepest existing ancestor resolved (the rest appended).
fn resolved(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut at = path;
    loop {
        if let Ok(real) = at.canonicalize() {
            return rest.iter().rev().fold(real, |p, part| p.join(part));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                at = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

fn fact_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => {
            items.iter().map(fact_text).collect::<Vec<_>>().join(", ")
        }
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k} -> {}", fact_text(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

impl Step {
    /// A process, run for `purpose`.
    pub fn run(purpose: impl Into<String>, command: Command) -> Step {
        Step::Run {
            purpose: purpose.into(),
            command,
            lane: None,
        }
    }

    pub fn cargo(purpose: impl Into<String>, invocation: Invocation) -> Step {
        Step::Cargo {
            purpose: purpose.into(),
            command: invocation,
        }
    }

    pub fn write(path: impl Into<PathBuf>, purpose: impl Into<String>, content: String) -> Step {
        Step::Write {
            path: path.into(),
            purpose: purpose.into(),
            lines: content.lines().count(),
            content,
        }
    }

    pub fn remove(path: impl Into<PathBuf>, purpose: impl Into<String>) -> Step {
        Step::Remove {
            path: path.into(),
            purpose: purpose.into(),
        }
    }

    pub fn task(task: &str, purpose: impl Into<String>) -> Step {
        Step::Task {
            task: task.into(),
            purpose: purpose.into(),
        }
    }

    /// `(verb, text)` lines: the first names the step, the others (variables, notes) follow it.
    pub fn lines(&self, root: Option<&Path>) -> Vec<(&'static str, String)> {
        let shown = |path: &Path| {
            root.and_then(|r| path.strip_prefix(r).ok())
                .unwrap_or(path)
                .display()
                .to_string()
        };
        match self {
            Step::Check { requirements } => requirements
                .iter()
                .map(|r| ("needs", r.describe()))
                .collect(),
            Step::Run {
                purpose,
                command,
                lane,
            } => {
                let lane = lane.as_ref().map(|l| format!("[{l}] ")).unwrap_or_default();
                command_lines(
                    "run",
                    &format!("{lane}{}", command.line()),
                    command,
                    purpose,
                )
            }
            Step::Cargo { purpose, command } => {
                let command = command.command();
                command_lines("cargo", &command.line(), &command, purpose)
            }
            Step::Write {
                path,
                purpose,
                lines,
                ..
            } => {
                let through = link_target(path)
                    .map(|t| format!(" (a link: written through to {})", t.display()))
                    .unwrap_or_default();
                vec![(
                    "write",
                    format!("{}{through} ({lines} lines): {purpose}", shown(path)),
                )]
            }
            Step::Link { path, target } => vec![("link", format!("{} -> {target}", shown(path)))],
            Step::Remove { path, purpose } => {
                vec![("remove", format!("{} ({purpose})", shown(path)))]
            }
            Step::Keep { path, why } => vec![("keep", format!("{} ({why})", shown(path)))],
            Step::Task { purpose, .. } => vec![("then", purpose.clone())],
        }
    }
}

fn command_lines(
    verb: &'static str,
    line: &str,
    command: &Command,
    purpose: &str,
) -> Vec<(&'static str, String)> {
    let mut lines = vec![(verb, line.to_string())];
    if let Some(dir) = &command.dir {
        lines.push(("in", dir.display().to_string()));
    }
    for (key, value) in &command.env {
        lines.push(("env", format!("{key}={value}")));
    }
    for secret in &command.secret_env {
        lines.push((
            "secret",
            format!("{} from {}", secret.name, secret.from.join(", ")),
        ));
    }
    if !purpose.is_empty() {
        lines.push(("", format!("({purpose})")));
    }
    lines
}

/// What one step produced, for the handler.
pub enum Done<W> {
    /// A process ended well; `watch` read its lines.
    Ran {
        watch: W,
        seconds: f64,
    },
    Cargo(Outcome),
    /// A check, write, removal or keep: nothing to read.
    Nothing,
}

/// Reads the lines of one process as they come (on the process's own thread in a lane).
pub trait Watch: Send {
    fn line(&mut self, stream: Stream, line: &str) -> Line;
}

/// Keeps stdout (not shown); shows stderr and keeps it too.
#[derive(Default)]
pub struct Capture {
    pub stdout: String,
    pub stderr: String,
}

impl Watch for Capture {
    fn line(&mut self, stream: Stream, line: &str) -> Line {
        match stream {
            Stream::Stdout => {
                self.stdout.push_str(line);
                self.stdout.push('\n');
                Line::Consumed
            }
            Stream::Stderr => {
                self.stderr.push_str(line);
                self.stderr.push('\n');
                Line::Show
            }
        }
    }
}

/// A command's part in running its plan.
pub trait Handler {
    type Watch: Watch + Default;
    /// A reader for the lines of this `Run` step (by default, a fresh one).
    fn watch(&self, _step: &Step) -> Self::Watch {
        Self::Watch::default()
    }
    /// The step is about to start (not called for parallel lanes).
    fn before(&mut self, _step: &Step) {}
    /// The step ran; what it produced. A `Task` step is the command's to do here.
    fn done(&mut self, step: &Step, done: Done<Self::Watch>) -> anyhow::Result<()>;
    /// The step failed: add what the command knows about why (by default, nothing).
    fn failed(
        &self,
        _step: &Step,
        _watch: Option<Self::Watch>,
        error: anyhow::Error,
    ) -> anyhow::Error {
        error
    }
}

static TRACE: OnceLock<PathBuf> = OnceLock::new();

/// `--trace FILE`: every step run from now on is appended to FILE as a JSON line.
pub fn trace_to(path: PathBuf) {
    let _ = TRACE.set(path);
}

fn trace(command: &str, step: &Step) -> anyhow::Result<()> {
    let Some(path) = TRACE.get() else {
        return Ok(());
    };
    let line = serde_json::json!({ "command": command, "step": step });
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| writeln!(f, "{line}"))
        .with_context(|| format!("appending to the trace {}", path.display()))
}

/// Run `plan`'s steps in order, exactly as planned. `is_member` tells cargo's units of the
/// workspace from third-party ones.
pub fn run<H: Handler>(
    exec: &Exec,
    plan: &Plan,
    is_member: &dyn Fn(&str) -> bool,
    handler: &mut H,
) -> anyhow::Result<()> {
    plan.check_places()?;
    plan.check_workspace(exec)?;
    let mut i = 0;
    while i < plan.steps.len() {
        let lanes = lane_run(&plan.steps[i..]);
        if lanes > 1 {
            run_lanes(exec, plan, &plan.steps[i..i + lanes], handler)?;
            i += lanes;
            continue;
        }
        let step = &plan.steps[i];
        trace(&plan.command, step)?;
        handler.before(step);
        let done = match step {
            Step::Run { command, .. } => {
                let mut watch = handler.watch(step);
                let start = std::time::Instant::now();
                match exec.run(command, &mut |s, l| watch.line(s, l)) {
                    Ok(()) => Done::Ran {
                        watch,
                        seconds: start.elapsed().as_secs_f64(),
                    },
                    Err(e) => return Err(handler.failed(step, Some(watch), e)),
                }
            }
            Step::Cargo { command, .. } => match command.run(exec, is_member) {
                Ok(outcome) => Done::Cargo(outcome),
                Err(e) => return Err(handler.failed(step, None, e)),
            },
            other => {
                if let Err(e) = act(exec, other) {
                    return Err(handler.failed(step, None, e));
                }
                Done::Nothing
            }
        };
        handler.done(step, done)?;
        i += 1;
    }
    Ok(())
}

/// How many steps from the first are laned `Run` steps (parallel), when there are two lanes
/// or more; else 1.
fn lane_run(steps: &[Step]) -> usize {
    let laned = steps
        .iter()
        .take_while(|s| matches!(s, Step::Run { lane: Some(_), .. }))
        .count();
    let lanes: std::collections::BTreeSet<&str> = steps[..laned]
        .iter()
        .filter_map(|s| match s {
            Step::Run { lane, .. } => lane.as_deref(),
            _ => None,
        })
        .collect();
    if lanes.len() > 1 {
        laned
    } else {
        1
    }
}

/// One thread per lane, each running its steps in order; then every step's result, in plan
/// order, to the handler.
fn run_lanes<H: Handler>(
    exec: &Exec,
    plan: &Plan,
    steps: &[Step],
    handler: &mut H,
) -> anyhow::Result<()> {
    let lane_of = |s: &Step| match s {
        Step::Run { lane, .. } => lane.clone().unwrap_or_default(),
        _ => String::new(),
    };
    type Lane<W> = (String, Vec<(usize, crate::exec::Prepared, W)>);
    let mut lanes: Vec<Lane<H::Watch>> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        trace(&plan.command, step)?;
        let Step::Run { command, .. } = step else {
            unreachable!("lanes hold Run steps only")
        };
        let lane = lane_of(step);
        let prepared = exec.prepare(command, &format!("[{lane}]"));
        let entry = (i, prepared, handler.watch(step));
        match lanes.iter_mut().find(|(l, _)| *l == lane) {
            Some((_, list)) => list.push(entry),
            None => lanes.push((lane, vec![entry])),
        }
    }
    type Ran<W> = (usize, anyhow::Result<()>, W, f64);
    let mut results: Vec<Ran<H::Watch>> = std::thread::scope(|scope| {
        let handles: Vec<_> = lanes
            .into_iter()
            .map(|(_, list)| {
                scope.spawn(move || {
                    let mut ran = Vec::new();
                    for (i, prepared, mut watch) in list {
                        let start = std::time::Instant::now();
                        let result = prepared.run(&mut |s, l| watch.line(s, l));
                        let failed = result.is_err();
                        ran.push((i, result, watch, start.elapsed().as_secs_f64()));
                        if failed {
                            break;
                        }
                    }
                    ran
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a lane of the plan panicked"))
            .collect()
    });
    results.sort_by_key(|r| r.0);
    for (i, result, watch, seconds) in results {
        match result {
            Ok(()) => handler.done(&steps[i], Done::Ran { watch, seconds })?,
            Err(e) => return Err(handler.failed(&steps[i], Some(watch), e)),
        }
    }
    Ok(())
}

/// The steps the runner does itself.
fn act(exec: &Exec, step: &Step) -> anyhow::Result<()> {
    match step {
        Step::Check { requirements } => toolchain::check_all(exec, requirements),
        // Through a link (to a file inside the plan's places: checked before the first step).
        Step::Write { path, content, .. } => {
            write_whole(&link_target(path).unwrap_or(path.clone()), content)
        }
        Step::Link { path, target } => link(path, target),
        Step::Remove { path, .. } => remove(path),
        Step::Keep { .. } | Step::Task { .. } => Ok(()),
        Step::Run { .. } | Step::Cargo { .. } => unreachable!("processes run in `run`"),
    }
}

/// Write `path` whole: a sibling temporary file renamed over it, so a reader (or an
/// interruption) sees the old file or the new one, never half of one.
/// The file keeps its permissions; a new script (`#!`) is made executable.
pub fn write_whole(path: &Path, content: impl AsRef<[u8]>) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let content = content.as_ref();
    let _held = SignalsHeld::new();
    let tmp = beside(path)?;
    let mode = match std::fs::metadata(path) {
        Ok(meta) => Some(meta.permissions()),
        Err(_) if content.starts_with(b"#!") => Some(std::fs::Permissions::from_mode(0o755)),
        Err(_) => None,
    };
    std::fs::write(&tmp, content)
        .and_then(|()| mode.map_or(Ok(()), |m| std::fs::set_permissions(&tmp, m)))
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("writing {}", path.display()))
}

/// Append `line` (and a newline) to `path` in one write, signals held: a reader sees the
/// line whole or not at all, and two processes appending never interleave within a line.
pub fn append_line(path: &Path, line: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let _held = SignalsHeld::new();
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()))
        .with_context(|| format!("appending to {}", path.display()))
}

/// A temporary name beside `path`, of this process.
fn beside(path: &Path) -> anyhow::Result<PathBuf> {
    let parent = path
        .parent()
        .with_context(|| format!("{} has no parent folder", path.display()))?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    Ok(parent.join(format!(".{name}.xtask-{}", std::process::id())))
}

/// SIGINT, SIGTERM and SIGHUP held back on this thread while a file is swapped in: one that
/// comes meanwhile takes effect once the file is whole in its place, so an interruption never
/// leaves a temporary file or half a file behind (SIGKILL still can).
struct SignalsHeld(libc::sigset_t);

impl SignalsHeld {
    fn new() -> SignalsHeld {
        // SAFETY: sigset_t is plain data, initialised by sigemptyset before use; the mask
        // calls only change this thread's signal mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::sigaddset(&mut set, signal);
            }
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            SignalsHeld(old)
        }
    }
}

impl Drop for SignalsHeld {
    fn drop(&mut self) {
        // SAFETY: puts back the mask `new` saved.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut());
        }
    }
}

#[cfg(unix)]
fn link(path: &Path, target: &str) -> anyhow::Result<()> {
    let _held = SignalsHeld::new();
    let tmp = beside(path)?;
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("linking {} to {target}", path.display()))
}

#[cfg(not(unix))]
fn link(path: &Path, target: &str) -> anyhow::Result<()> {
    anyhow::bail!(
        "{} must be a symbolic link to {target}, which needs a unix system",
        path.display()
    )
}

fn remove(path: &Path) -> anyhow::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
    .with_context(|| format!("removing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_every_step_and_variable() {
        let mut plan = Plan::new("cache clean").fact("targets", ["a", "b"]);
        plan.step(Step::run(
            "prune",
            Command::new("docker")
                .args(["builder", "prune"])
                .env("K", "V"),
        ));
        plan.step(Step::remove("/t/x", "leftover"));
        let text = plan.text();
        assert!(
            text.starts_with("plan: cargo xtask cache clean\n"),
            "{text}"
        );
        assert!(text.contains("  targets: a, b\n"), "{text}");
        assert!(text.contains("  run      docker builder prune\n"), "{text}");
        assert!(text.contains("  env      K=V\n"), "{text}");
        assert!(text.contains("  remove   /t/x (leftover)\n"), "{text}");
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["targets"][1], "b");
        assert_eq!(json["steps"][0]["step"], "run");
        assert_eq!(json["steps"][1]["path"], "/t/x");
    }

    #[test]
    fn parallel_lanes_are_the_run_of_laned_steps_with_two_lanes_or_more() {
        let laned = |lane: &str| Step::Run {
            purpose: String::new(),
            command: Command::new("true"),
            lane: Some(lane.into()),
        };
        let steps = [
            laned("a"),
            laned("b"),
            laned("a"),
            Step::run("", Command::new("x")),
        ];
        assert_eq!(lane_run(&steps), 3);
        assert_eq!(
            lane_run(&[laned("a"), laned("a")]),
            1,
            "one lane runs in order"
        );
        assert_eq!(lane_run(&steps[3..]), 1);
    }

    #[test]
    fn a_write_through_a_link_out_of_its_places_is_refused_before_any_step() {
        let dir = crate::test_support::scratch("plan-places");
        let (inside, outside) = (dir.join("ws"), dir.join("elsewhere"));
        std::fs::create_dir_all(&inside).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, inside.join("out")).unwrap();
        let mut plan = Plan::new("test").confined_to(&[&inside]);
        plan.step(Step::write(inside.join("first"), "", "a".into()));
        plan.step(Step::write(inside.join("out/x"), "", "b".into()));
        assert!(plan.check_places().is_err());
        let mut fine = Plan::new("test").confined_to(&[&inside]);
        fine.step(Step::write(inside.join("new/dir/file"), "", "a".into()));
        fine.step(Step::remove(inside.join("out"), "the link itself"));
        fine.check_places().unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A handler with nothing of its own to do.
    struct Nothing;

    impl Handler for Nothing {
        type Watch = Capture;

        fn done(&mut self, _: &Step, _: Done<Capture>) -> anyhow::Result<()> {
            Ok(())
        }
    }

    /// A write through a link goes to the file it leads to only when that lies inside.
    #[test]
    fn a_write_through_a_link_is_refused_out_and_written_through_inside() {
        let dir = crate::test_support::scratch("plan-link-write");
        let ws = dir.join("ws");
        std::fs::create_dir_all(ws.join("conf")).unwrap();
        std::fs::write(dir.join("theirs.toml"), "theirs\n").unwrap();
        std::fs::write(ws.join("conf/mine.toml"), "mine\n").unwrap();
        std::os::unix::fs::symlink(dir.join("theirs.toml"), ws.join("out.toml")).unwrap();
        std::os::unix::fs::symlink("conf/mine.toml", ws.join("in.toml")).unwrap();
        let mut out = Plan::new("test").confined_to(&[&ws]);
        out.step(Step::write(ws.join("out.toml"), "", "new\n".into()));
        let err = out.print(Format::Text).unwrap_err().to_string();
        assert!(err.contains("is a link to"), "{err}");
        let sh = xshell::Shell::new().unwrap();
        sh.change_dir(&ws);
        let exec = Exec::new(&sh, crate::exec::Verbosity::Quiet);
        let mut inside = Plan::new("test").confined_to(&[&ws]);
        inside.step(Step::write(ws.join("in.toml"), "", "new\n".into()));
        assert!(
            inside.text().contains("written through to"),
            "{}",
            inside.text()
        );
        run(&exec, &inside, &|_| false, &mut Nothing).unwrap();
        assert!(ws.join("in.toml").is_symlink());
        assert_eq!(
            std::fs::read_to_string(ws.join("conf/mine.toml")).unwrap(),
            "new\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("theirs.toml")).unwrap(),
            "theirs\n"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// No step removes the workspace, a folder above it, a folder holding tracked files, or
    /// touches `.git`; a tracked file of its own making may go.
    #[test]
    fn no_step_takes_the_workspace_or_git_with_it() {
        let dir = crate::test_support::scratch("plan-workspace");
        let ws = dir.join("ws");
        std::fs::create_dir_all(ws.join("src")).unwrap();
        std::fs::create_dir_all(ws.join("out")).unwrap();
        std::fs::write(ws.join("src/lib.rs"), "").unwrap();
        std::fs::write(ws.join("generated.rs"), "").unwrap();
        let git = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .args(args)
                .current_dir(&ws)
                .output();
            assert!(ok.unwrap().status.success(), "git {args:?}");
        };
        git(&["init", "-q"]);
        git(&["add", "src/lib.rs", "generated.rs"]);
        let sh = xshell::Shell::new().unwrap();
        sh.change_dir(&ws);
        let exec = Exec::new(&sh, crate::exec::Verbosity::Quiet);
        for (step, refused) in [
            (Step::remove(&ws, ""), true),
            (Step::remove(&dir, ""), true),
            (Step::remove(ws.join("src"), ""), true),
            (Step::remove(ws.join(".git/config"), ""), true),
            (
                Step::write(ws.join(".git/hooks/pre-commit"), "", String::new()),
                true,
            ),
            (Step::remove(ws.join("out"), ""), false),
            (Step::remove(ws.join("generated.rs"), ""), false),
        ] {
            let line = step.lines(None)[0].1.clone();
            let mut plan = Plan::new("test");
            plan.step(step);
            let err = run(&exec, &plan, &|_| false, &mut Nothing).err();
            assert_eq!(err.is_some(), refused, "{line}: {err:?}");
            if let Some(err) = err {
                assert!(err.to_string().contains("never touches that"), "{err}");
            }
        }
        assert!(ws.join("src/lib.rs").is_file() && ws.join(".git/config").is_file());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

//! `cargo xtask cache`: every cache a build of this workspace uses, in one report (the target
//! dir per profile and target, cargo's registry and git caches, sccache, the Docker build cache
//! and deps-stage images, the last ci_optims coverage); `cache clean` prunes what is safe to.

mod prune;
mod sources;

use crate::ci_optims::{self, Coverage};
use crate::config::Variant;
use crate::exec::{Command, Exec};
use crate::lock;
use crate::plan::{Capture, Done, Handler, Plan, Step};
use crate::render::{human_size, print_json, Format, Options, Table};
use crate::rules::{self, BuildRequest, Facts};
use crate::sccache::{self, CacheStats};
use crate::toolchain;
use crate::workspace::Workspace;
use prune::size_of;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: Option<CacheCommand>,
}

#[derive(clap::Subcommand)]
pub enum CacheCommand {
    /// Remove what is safe to: this tool's leftover scratch dirs, and, by cargo's own cleaning
    /// of its caches, what no workspace on this machine used for a month (extracted sources,
    /// git checkouts) or three (downloads, git databases): cargo keeps that record
    /// machine-wide, so a crate another workspace still uses stays. --dry-run shows the plan.
    Clean {
        /// Also prune the Docker engine's build cache unused for 7 days (`docker builder
        /// prune`): engine-wide, every project's cache, not only this workspace's.
        #[arg(long)]
        docker: bool,
    },
    /// After a build: remove the units none of the job's builds uses, then record in the target
    /// dir what it was built from (each workspace file's content hash and mtime, each target
    /// file's size), so that a fresh checkout at the same path, with this target dir restored,
    /// rebuilds only what changed (`cache restore`).
    Save {
        /// A cargo command the job ran, without `cargo` (`--keep "test --workspace --locked"`;
        /// repeat for each): its units are kept, every other unit of the profile dirs they use
        /// is removed. Cargo is asked again with `--message-format=json` (a no-op when the job
        /// built them so; tests are not run). Default: `build`.
        #[arg(long, value_name = "CARGO ARGS")]
        keep: Vec<String>,
        /// A `cargo xtask build --variant` the job ran (repeat for each): its units are kept,
        /// asked of cargo with the build's own flags and environment.
        #[arg(long = "variant", value_enum, value_name = "VARIANT")]
        variants: Vec<Variant>,
        /// Keep every unit (the target dir grows with each dependency bump).
        #[arg(long, conflicts_with_all = ["keep", "variants"])]
        no_prune: bool,
    },
    /// On a fresh checkout at the same path, with a saved target dir restored: give every file
    /// whose content is the recorded one (reached the same way, through the same symlinks) its
    /// recorded mtime, every other the current time (never before the save), so cargo rebuilds
    /// exactly the units whose inputs differ; a build script whose package lost a file it may
    /// have written runs again. A record that cannot serve (another path, toolchain, a truncated
    /// target dir, a changed file outside the workspace behind a symlink) is not used: a
    /// warning, and what cargo built is removed (the target dir's profile dirs; the build starts
    /// cold, and correct).
    Restore,
}

/// One sized place.
#[derive(Debug, Serialize)]
pub struct Place {
    pub what: String,
    pub path: PathBuf,
    pub bytes: u64,
}

impl Place {
    fn of(what: impl Into<String>, path: PathBuf) -> Place {
        Place {
            what: what.into(),
            bytes: size_of(&path),
            path,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DockerCache {
    /// `docker system df`'s build cache line: size, reclaimable.
    pub build_cache: String,
    /// `<image>:deps-<variant>-<arch>` images and their sizes.
    pub deps_images: Vec<(String, String)>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    /// What `cache save` recorded and what the last `cache restore` did, if anything.
    pub sources: Option<sources::Summary>,
    pub target_dir: Vec<Place>,
    pub cargo_home: Vec<Place>,
    pub sccache: Option<CacheStats>,
    pub docker: Option<DockerCache>,
    pub coverage: Vec<Coverage>,
}

pub fn run(args: CacheArgs, exec: &Exec, ws: &Workspace, opts: Options) -> anyhow::Result<()> {
    match args.command {
        None => {
            let report = report(exec, ws);
            match opts.format {
                Format::Json => print_json(&report),
                Format::Markdown => {
                    print!("{}", report.table().markdown());
                    Ok(())
                }
                Format::Text => {
                    println!("{}", report.table().terminal());
                    Ok(())
                }
            }
        }
        Some(CacheCommand::Clean { docker }) => clean(exec, ws, opts, docker),
        Some(CacheCommand::Save {
            keep,
            variants,
            no_prune,
        }) => {
            let mut keep = match (no_prune, keep.is_empty() && variants.is_empty()) {
                (true, _) => Vec::new(),
                (false, true) => vec![Keep::Cargo("build".to_string())],
                (false, false) => {
                    let builds = variants.into_iter().map(Keep::Variant);
                    builds.chain(keep.into_iter().map(Keep::Cargo)).collect()
                }
            };
            // The tool itself, where it is a member built in the same target dir: the next
            // `cargo xtask` must not compile it again.
            if !keep.is_empty() {
                keep.extend(ws.tool_members.clone().into_iter().map(Keep::Tool));
            }
            save(exec, ws, opts, &keep)
        }
        Some(CacheCommand::Restore) => restore(exec, ws, opts),
    }
}

/// `cache save`'s tasks.
const PRUNE: &str = "prune";
const RECORD: &str = "record";

/// A build of the job whose units the saved target dir keeps.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Keep {
    /// `cargo xtask build --variant V`.
    Variant(Variant),
    /// `cargo ARGS`.
    Cargo(String),
    /// The tool's own package, as `cargo xtask` (`cargo run`) builds it.
    Tool(String),
}

impl Keep {
    fn line(&self) -> String {
        match self {
            Keep::Variant(v) => format!("cargo xtask build --variant {}", v.profile()),
            Keep::Cargo(args) => format!("cargo {args}"),
            Keep::Tool(package) => format!("cargo build --package {package} (this tool)"),
        }
    }

    /// The command that names its units: the build itself, with cargo's JSON messages.
    fn command(
        &self,
        exec: &Exec,
        ws: &Workspace,
        toolchain: &toolchain::Toolchain,
    ) -> anyhow::Result<Command> {
        match self {
            Keep::Variant(variant) => {
                let facts = Facts::from_machine(exec, ws, toolchain);
                let spec = rules::spec(ws, &BuildRequest::of(*variant), &facts)?;
                Ok(spec.cargo().command())
            }
            Keep::Cargo(args) => keep_command(ws, args),
            Keep::Tool(package) => keep_command(ws, &format!("build --package {package}")),
        }
    }
}

/// The cargo command that names `keep`'s units (`keep`: what the job ran, without `cargo`).
fn keep_command(ws: &Workspace, keep: &str) -> anyhow::Result<Command> {
    let words: Vec<&str> = keep.split_whitespace().collect();
    let fix =
        "pass the job's cargo command without `cargo`, e.g. --keep \"test --workspace --locked\"";
    if keep.contains(['"', '\'', '\\']) || words.iter().any(|w| w.starts_with("--message-format")) {
        anyhow::bail!("--keep {keep:?}: no quotes or --message-format inside ({fix})");
    }
    let (args, rest) = match words.iter().position(|w| *w == "--") {
        Some(i) => (&words[..i], &words[i..]),
        None => (&words[..], &[][..]),
    };
    let mut command = Command::new(&ws.cargo).args(args);
    match args.first().copied() {
        Some("build" | "check" | "clippy") => {}
        Some("test" | "bench") if args.contains(&"--no-run") => {}
        Some("test" | "bench") => command = command.arg("--no-run"),
        _ => anyhow::bail!(
            "--keep {keep:?}: not a build (build, check, clippy, test or bench); {fix}"
        ),
    }
    Ok(command.arg("--message-format=json").args(rest))
}

/// `cache save`: the units no build uses removed, then the record written into the target dir.
fn save(exec: &Exec, ws: &Workspace, opts: Options, keep: &[Keep]) -> anyhow::Result<()> {
    let toolchain = toolchain::Toolchain::detect(exec)?;
    let lines: Vec<String> = keep.iter().map(Keep::line).collect();
    let mut plan = Plan::new("cache save")
        .within(&ws.root)
        .confined_to(&[&ws.target_dir])
        .fact("keep", &lines);
    for (k, line) in keep.iter().zip(&lines) {
        plan.step(Step::run(
            format!(
                "the units `{line}` uses, as cargo names them: a no-op when the job built them so"
            ),
            k.command(exec, ws, &toolchain)?,
        ));
    }
    if !keep.is_empty() {
        plan.step(Step::task(
            PRUNE,
            "remove from the profile dirs these builds use every unit none of them uses: its files, fingerprint, build-script dirs, incremental data",
        ));
    }
    plan.step(Step::task(
        RECORD,
        format!(
            "write {}: each workspace file's content hash and mtime, each target file's size",
            sources::record_path(ws).display()
        ),
    ));
    if opts.dry_run || opts.format != Format::Json {
        plan.print(opts.format)?;
    }
    if opts.dry_run {
        return Ok(());
    }
    let mut saving = Saving {
        ws,
        toolchain: &toolchain.verbose_version,
        kept: prune::Kept::default(),
        saved: Saved::default(),
    };
    crate::plan::run(exec, &plan, &|_| false, &mut saving)?;
    let saved = saving.saved;
    match opts.format {
        Format::Json => print_json(&saved)?,
        _ => eprintln!("{}", saved.sentence(keep)),
    }
    Ok(())
}

/// What `cache save` did.
#[derive(Debug, Default, Serialize)]
struct Saved {
    /// Units the keep commands compiled (the job had not built them so).
    compiled: usize,
    pruned: Option<prune::Pruned>,
    sources: usize,
    target_files: usize,
    target_bytes: u64,
}

impl Saved {
    fn sentence(&self, keep: &[Keep]) -> String {
        let mut out = match &self.pruned {
            Some(p) => format!(
                "pruned {} units no kept build uses{} ({} entries, {}); ",
                p.units.len(),
                crate::render::some_names(&p.units, 8),
                p.entries,
                human_size(p.bytes)
            ),
            None => "not pruned (--no-prune); ".to_string(),
        };
        out += &format!(
            "the target dir holds {} files, {}; recorded {} workspace files",
            self.target_files,
            human_size(self.target_bytes),
            self.sources
        );
        if self.compiled > 0 {
            out += &format!(
                "\nwarning: keeping compiled {} units the job had not built so: name the job's own builds with --keep or --variant (given: {})",
                self.compiled,
                keep.iter().map(Keep::line).collect::<Vec<_>>().join(", ")
            );
        }
        out
    }
}

/// Save's part: the units the builds name, the pruning, the record.
struct Saving<'a> {
    ws: &'a Workspace,
    toolchain: &'a str,
    kept: prune::Kept,
    saved: Saved,
}

impl Handler for Saving<'_> {
    type Watch = Capture;

    fn done(&mut self, step: &Step, done: Done<Capture>) -> anyhow::Result<()> {
        match (step, done) {
            (Step::Run { .. }, Done::Ran { watch, .. }) => self.kept.read(&watch.stdout),
            (Step::Task { task, .. }, _) if task == PRUNE => {
                self.saved.compiled = self.kept.compiled;
                self.saved.pruned = Some(prune::prune(&self.kept, false)?);
            }
            (Step::Task { task, .. }, _) if task == RECORD => {
                let record = sources::record(self.ws, self.toolchain)?;
                self.saved.sources = record.sources.len();
                self.saved.target_files = record.target.len();
                self.saved.target_bytes = record.target.values().sum();
                crate::plan::write_whole(
                    &sources::record_path(self.ws),
                    &serde_json::to_string(&record)?,
                )?;
            }
            _ => {}
        }
        Ok(())
    }

    fn failed(&self, step: &Step, _: Option<Capture>, e: anyhow::Error) -> anyhow::Error {
        match step {
            Step::Run { .. } => e.context(
                "asking cargo which units the job's build uses (is --keep the job's own command?)",
            ),
            _ => e,
        }
    }
}

/// The task of `cache restore`.
const RESTORE: &str = "restore";

/// `cache restore`: the record applied to this checkout.
fn restore(exec: &Exec, ws: &Workspace, opts: Options) -> anyhow::Result<()> {
    let toolchain = toolchain::Toolchain::detect(exec)?;
    let mut plan = Plan::new("cache restore")
        .within(&ws.root)
        .confined_to(&[&ws.root, &ws.target_dir]);
    let profiles: Vec<String> = crate::cargo::profile_dirs(&ws.target_dir)
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    plan.step(Step::task(
        RESTORE,
        format!(
            "each workspace file whose content is the one {} records gets its recorded mtime, every other the current time; a build script whose package lost a file it may have written or watched runs again (git check-ignore tells which it watched); a record that cannot serve empties what cargo built (the profile dirs: {}; this tool's history and baselines stay)",
            sources::record_path(ws).display(),
            if profiles.is_empty() { "none yet".to_string() } else { profiles.join(", ") }
        ),
    ));
    if opts.dry_run {
        return plan.print(opts.format);
    }
    let mut restoring = Restoring {
        exec,
        ws,
        toolchain: &toolchain.verbose_version,
        restored: None,
    };
    crate::plan::run(exec, &plan, &|_| false, &mut restoring)?;
    let restored = restoring.restored.unwrap_or_default();
    for warning in &restored.warnings {
        eprintln!("warning: {warning}");
    }
    match opts.format {
        Format::Json => print_json(&restored)?,
        _ => match &restored.ignored {
            Some(why) => {
                eprintln!("warning: the saved target dir is not used: {why}; the build starts cold")
            }
            None => {
                eprintln!(
                    "restored: {} files as built, {} changed, {} new, {} gone (cargo rebuilds what they feed)",
                    restored.unchanged,
                    restored.changed.len(),
                    restored.new.len(),
                    restored.missing.len()
                );
                if !restored.rerun.is_empty() {
                    eprintln!(
                        "build scripts that run again (a file of their package is gone, maybe one they wrote): {}",
                        restored.rerun.join(", ")
                    );
                }
            }
        },
    }
    Ok(())
}

/// Restore's part: the task.
struct Restoring<'a> {
    exec: &'a Exec<'a>,
    ws: &'a Workspace,
    toolchain: &'a str,
    restored: Option<sources::Restored>,
}

impl Handler for Restoring<'_> {
    type Watch = Capture;

    fn done(&mut self, step: &Step, _: Done<Capture>) -> anyhow::Result<()> {
        if matches!(step, Step::Task { task, .. } if task == RESTORE) {
            let restored = sources::restore(self.exec, self.ws, self.toolchain)?;
            sources::keep(self.ws, &restored);
            self.restored = Some(restored);
        }
        Ok(())
    }
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string()
}

/// A cargo output dir holds `.fingerprint`: `target/<profile>` for the host, and
/// `target/<triple>/<profile>` for a named target.
fn target_places(target: &Path) -> Vec<Place> {
    let mut places = Vec::new();
    let Ok(entries) = std::fs::read_dir(target) else {
        return places;
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = name_of(&dir);
        if dir.join(".fingerprint").is_dir() {
            places.push(Place::of(format!("profile {name} (host)"), dir));
            continue;
        }
        let mut profiles: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|e| e.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        profiles.retain(|p| p.join(".fingerprint").is_dir());
        profiles.sort();
        if profiles.is_empty() {
            let what = if name == "xtask" {
                "this tool's scratch (bench, coverage)".to_string()
            } else {
                format!("{name}/")
            };
            places.push(Place::of(what, dir));
        }
        for profile in profiles {
            let p = name_of(&profile);
            places.push(Place::of(format!("profile {p} ({name})"), profile));
        }
    }
    places
}

fn cargo_home_places(home: &Path) -> Vec<Place> {
    [
        ("registry index", "registry/index"),
        ("registry downloads (.crate)", "registry/cache"),
        ("registry sources (extracted)", "registry/src"),
        ("git databases", "git/db"),
        ("git checkouts", "git/checkouts"),
    ]
    .into_iter()
    .map(|(what, rel)| Place::of(what, home.join(rel)))
    .collect()
}

/// The running sccache server's counters; none when no server runs (asking would start one).
fn sccache_stats(exec: &Exec) -> Option<CacheStats> {
    toolchain::find_program(sccache::PROGRAM)?;
    let port = std::env::var("SCCACHE_SERVER_PORT")
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(4226);
    std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let json = exec.read(&sccache::show_stats()).ok()?;
    sccache::parse_stats(&json).ok()
}

fn docker_cache(exec: &Exec) -> Option<DockerCache> {
    let docker = crate::engine::client();
    let df = exec
        .read(&Command::new(&docker).args(["system", "df", "--format", "{{json .}}"]))
        .ok()?;
    let build_cache = df
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["Type"] == "Build Cache")
        .map(|v| {
            format!(
                "{} ({} reclaimable)",
                v["Size"].as_str().unwrap_or("?"),
                v["Reclaimable"].as_str().unwrap_or("?")
            )
        })
        .unwrap_or_default();
    let images = exec
        .read(&Command::new(&docker).args(["images", "--format", "{{json .}}"]))
        .unwrap_or_default();
    let deps_images = images
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["Tag"].as_str().is_some_and(|t| t.starts_with("deps-")))
        .map(|v| {
            (
                format!(
                    "{}:{}",
                    v["Repository"].as_str().unwrap_or("?"),
                    v["Tag"].as_str().unwrap_or("?")
                ),
                v["Size"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    Some(DockerCache {
        build_cache,
        deps_images,
    })
}

pub fn report(exec: &Exec, ws: &Workspace) -> Report {
    Report {
        sources: sources::summary(ws),
        target_dir: target_places(&ws.target_dir),
        cargo_home: cargo_home_places(&cargo_home()),
        sccache: sccache_stats(exec),
        docker: docker_cache(exec),
        coverage: ci_optims::last_coverage(ws),
    }
}

impl Report {
    pub fn table(&self) -> Table {
        let mut table = Table::new(["cache", "what", "size", "where / state"]);
        if let Some(s) = &self.sources {
            table.row([
                "target dir".to_string(),
                "what it was built from (cache save)".to_string(),
                format!("{} files", s.files),
                s.sentence(),
            ]);
        }
        for p in &self.target_dir {
            table.row([
                "target dir".to_string(),
                p.what.clone(),
                human_size(p.bytes),
                p.path.display().to_string(),
            ]);
        }
        for p in &self.cargo_home {
            table.row([
                "cargo home".to_string(),
                p.what.clone(),
                human_size(p.bytes),
                p.path.display().to_string(),
            ]);
        }
        match &self.sccache {
            Some(s) => table.row([
                "sccache".to_string(),
                s.location.clone(),
                s.size.map(human_size).unwrap_or_else(|| "-".to_string()),
                s.sentence(),
            ]),
            None => table.row([
                "sccache".to_string(),
                "-".to_string(),
                "-".to_string(),
                "not on PATH, or no server runs (cargo xtask doctor)".to_string(),
            ]),
        }
        match &self.docker {
            Some(d) => {
                table.row([
                    "docker".to_string(),
                    "BuildKit build cache".to_string(),
                    d.build_cache.clone(),
                    "docker system df".to_string(),
                ]);
                for (image, size) in &d.deps_images {
                    table.row([
                        "docker".to_string(),
                        "deps-stage image".to_string(),
                        size.clone(),
                        image.clone(),
                    ]);
                }
            }
            None => table.row([
                "docker".to_string(),
                "-".to_string(),
                "-".to_string(),
                "no engine answers (cargo xtask doctor)".to_string(),
            ]),
        }
        if self.coverage.is_empty() {
            table.row([
                "ci_optims".to_string(),
                "coverage".to_string(),
                "-".to_string(),
                "never measured here: cargo xtask ci-optims coverage".to_string(),
            ]);
        }
        for c in &self.coverage {
            table.row([
                "ci_optims".to_string(),
                format!("coverage {} {}", c.variant.profile(), c.mode.name()),
                format!("{}/{} fresh", c.fresh, c.third_party_units),
                format!("{:.0}%, measured {}", c.percent(), c.measured_at),
            ]);
        }
        table
    }
}

/// The folders of this tool's own scratch work that nothing reads any more (the next coverage
/// run or an earlier version's lockfile trim made them).
const LEFTOVER_SCRATCH: [&str; 2] = ["ci-optims-coverage", "ci-optims-lock"];

/// What cargo's own cleaning of its caches is asked with: a build of an empty crate in this
/// tool's scratch dir (cargo cleans only in a build, and only when online) with the clean due now.
fn cargo_gc(ws: &Workspace) -> (PathBuf, Command) {
    let probe = ws.target_dir.join("xtask/cargo-gc");
    let command = Command::new(&ws.cargo)
        .args(["build", "--manifest-path"])
        .arg(probe.join("Cargo.toml").display().to_string())
        .args([
            "--target-dir".to_string(),
            probe.join("target").display().to_string(),
        ])
        .env("CARGO_CACHE_AUTO_CLEAN_FREQUENCY", "always");
    (probe, command)
}

/// The BuildKit cache prune: engine-wide, every project's cache that no build used for a week.
fn docker_prune() -> Command {
    Command::new(crate::engine::client()).args(["builder", "prune", "-f", "--filter", "until=168h"])
}

/// What `cache clean` does, in order: remove this tool's leftover scratch, let cargo clean
/// its own caches (in an empty probe crate), and with `--docker` prune the engine's cache.
fn clean_plan(ws: &Workspace, docker: bool) -> Plan {
    let command = if docker {
        "cache clean --docker"
    } else {
        "cache clean"
    };
    let mut plan = Plan::new(command).confined_to(&[&ws.target_dir]);
    for scratch in LEFTOVER_SCRATCH {
        let path = ws.target_dir.join("xtask").join(scratch);
        if path.exists() {
            let bytes = human_size(size_of(&path));
            plan.step(Step::remove(
                path,
                format!("leftover scratch of this tool, {bytes}"),
            ));
        }
    }
    let (dir, command) = cargo_gc(ws);
    plan.step(Step::write(
        dir.join("Cargo.toml"),
        "an empty crate: cargo cleans its caches only in a build",
        PROBE_MANIFEST.to_string(),
    ));
    plan.step(Step::write(
        dir.join("lib.rs"),
        "its library",
        String::new(),
    ));
    plan.step(Step::run(
        "cargo removes from its caches only what no workspace on this machine used for a month \
         (extracted sources, git checkouts) or three (downloads, git databases), by its own \
         machine-wide record",
        command,
    ));
    if docker {
        plan.step(Step::run(
            "engine-wide: every project's BuildKit cache unused for 7 days, not only this \
             workspace's",
            docker_prune(),
        ));
    }
    plan
}

fn clean(exec: &Exec, ws: &Workspace, opts: Options, docker: bool) -> anyhow::Result<()> {
    let plan = clean_plan(ws, docker);
    if opts.dry_run {
        plan.print(opts.format)?;
        eprintln!("dry run: nothing was removed");
        return Ok(());
    }
    // The scratch folders are coverage's: not while a sync or coverage runs.
    let _ours = lock::acquire(
        &ws.target_dir.join("xtask/ci-optims.lock"),
        "ci_optims/ (another ci-optims sync or coverage)",
        opts.no_wait,
    )?;
    crate::plan::run(exec, &plan, &|_| false, &mut Cleaning)
}

/// Says what each step removed.
struct Cleaning;

impl Handler for Cleaning {
    type Watch = Capture;

    fn done(&mut self, step: &Step, done: Done<Capture>) -> anyhow::Result<()> {
        match (step, done) {
            (Step::Remove { path, purpose }, _) => {
                eprintln!("removed {} ({purpose})", path.display());
            }
            (Step::Run { .. }, Done::Ran { watch, .. }) if !watch.stdout.trim().is_empty() => {
                eprintln!("{}", watch.stdout.trim());
            }
            _ => {}
        }
        Ok(())
    }

    fn failed(&self, step: &Step, _: Option<Capture>, e: anyhow::Error) -> anyhow::Error {
        match step {
            Step::Run { command, .. } if *command == docker_prune() => {
                e.context("pruning the Docker build cache")
            }
            Step::Run { .. } => e.context("cargo's cleaning of its caches"),
            _ => e,
        }
    }
}

const PROBE_MANIFEST: &str = "[package]\nname = \"xtask-cargo-gc\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[lib]\npath = \"lib.rs\"\n\n[workspace]\n";

//! `cargo xtask cache`: every cache a build of this workspace uses, in one report (the target
//! dir per profile and target, cargo's registry and git caches, sccache, the Docker build cache
//! and deps-stage images, the last ci_optims coverage); `cache clean` prunes what is safe to.

use crate::ci_optims::{self, Coverage};
use crate::exec::{Command, Exec};
use crate::lock;
use crate::render::{human_size, print_json, Format, Options, Table};
use crate::sccache::{self, CacheStats};
use crate::toolchain;
use crate::workspace::Workspace;
use anyhow::Context as _;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: Option<CacheCommand>,
}

#[derive(clap::Subcommand)]
pub enum CacheCommand {
    /// Remove what is safe to: extracted registry sources of versions this workspace's
    /// Cargo.lock does not lock (cargo extracts them again from its download cache), and this
    /// tool's leftover scratch dirs; with --docker, BuildKit cache unused for a week. Waits for
    /// (or with --no-wait, refuses) a cargo holding the package cache. --dry-run lists it all.
    Clean {
        /// Also prune the Docker build cache unused for 7 days (`docker builder prune`).
        #[arg(long)]
        docker: bool,
    },
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
    }
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

/// Bytes under `path`, links not followed.
fn size_of(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| size_of(&e.path())).sum())
        .unwrap_or(0)
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

fn sccache_stats(exec: &Exec) -> Option<CacheStats> {
    toolchain::find_program(sccache::PROGRAM)?;
    let json = exec.read(&sccache::show_stats()).ok()?;
    sccache::parse_stats(&json).ok()
}

fn docker_cache(exec: &Exec) -> Option<DockerCache> {
    let docker = crate::docker::client();
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
                "not on PATH or its server does not answer (cargo xtask doctor)".to_string(),
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

/// Package `name-version` directory names this workspace's Cargo.lock locks.
fn locked_dirs(ws: &Workspace) -> anyhow::Result<BTreeSet<String>> {
    let lock = ws.root.join("Cargo.lock");
    let text = std::fs::read_to_string(&lock).with_context(|| {
        format!(
            "reading {} (cache clean keeps what it locks)",
            lock.display()
        )
    })?;
    let lock: toml::Table = text.parse().context("parsing Cargo.lock")?;
    Ok(lock
        .get("package")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(format!(
                "{}-{}",
                p.get("name")?.as_str()?,
                p.get("version")?.as_str()?
            ))
        })
        .collect())
}

fn clean(exec: &Exec, ws: &Workspace, opts: Options, docker: bool) -> anyhow::Result<()> {
    let home = cargo_home();
    let locked = locked_dirs(ws)?;
    let mut remove: Vec<Place> = Vec::new();
    for index in std::fs::read_dir(home.join("registry/src"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for source in std::fs::read_dir(index.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = source.file_name().to_string_lossy().to_string();
            if !locked.contains(&name) {
                remove.push(Place::of(
                    format!("registry source {name} (not locked here)"),
                    source.path(),
                ));
            }
        }
    }
    for scratch in ["ci-optims-coverage", "ci-optims-lock"] {
        let path = ws.target_dir.join("xtask").join(scratch);
        if path.exists() {
            remove.push(Place::of(format!("leftover scratch {scratch}"), path));
        }
    }
    let total: u64 = remove.iter().map(|p| p.bytes).sum();
    let prune = Command::new(crate::docker::client()).args([
        "builder",
        "prune",
        "-f",
        "--filter",
        "until=168h",
    ]);
    if opts.dry_run {
        if opts.format == Format::Json {
            return print_json(&serde_json::json!({
                "remove": remove,
                "bytes": total,
                "docker": docker.then(|| prune.clone()),
            }));
        }
        for p in &remove {
            println!(
                "remove  {}  {}  ({})",
                human_size(p.bytes),
                p.path.display(),
                p.what
            );
        }
        if docker {
            println!("run     {}", prune.line());
        }
        println!(
            "dry run: {} in {} places would be removed; nothing was",
            human_size(total),
            remove.len()
        );
        return Ok(());
    }
    // Every running cargo holds `.package-cache-mutate` shared (a download or an extraction
    // also `.package-cache`): exclusive, they mean no cargo reads these sources now.
    let _reading = lock::acquire_foreign(
        &home.join(".package-cache-mutate"),
        "cargo's package cache (a running cargo reads it)",
        opts.no_wait,
    )?;
    let _cargo = lock::acquire_foreign(
        &home.join(".package-cache"),
        "cargo's package cache (a running cargo downloads)",
        opts.no_wait,
    )?;
    let _ours = lock::acquire(
        &ws.target_dir.join("xtask/ci-optims.lock"),
        "ci_optims/ (another ci-optims sync or coverage)",
        opts.no_wait,
    )?;
    for p in &remove {
        std::fs::remove_dir_all(&p.path)
            .with_context(|| format!("removing {}", p.path.display()))?;
    }
    eprintln!("removed {} in {} places", human_size(total), remove.len());
    if docker {
        let pruned = exec
            .read(&prune)
            .context("pruning the Docker build cache")?;
        eprintln!("{}", pruned.trim());
    }
    Ok(())
}

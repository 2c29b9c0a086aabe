//! A target dir that a fresh checkout can reuse: `cache save` records, beside the target dir's
//! files, what the build was built from (every file of the workspace: its content hash and its
//! mtime then); `cache restore`, on a fresh checkout at the same path with the target dir
//! restored, gives each file whose content is the recorded one its recorded mtime back, and
//! every other file the current time. Cargo judges a workspace unit by comparing its inputs'
//! mtimes with the unit's own: unchanged inputs look unchanged, any input that differs, is new
//! or is missing makes its unit rebuild.
//!
//! Never a stale artifact: an mtime is only ever set back for content that is byte for byte
//! what the build saw, reached the same way (a branch switch to older content with an older
//! commit time gets the current time, not an old one); a changed file is dated after the save
//! even when this machine's clock is behind the saving one's; a path reached through a symlink
//! that now leads elsewhere dates both files (cargo checks the file a link led to when it
//! built); a file gone from a package runs the package's build script again when the script
//! watches the whole package or the file was written while it ran (it may be what wrote it);
//! a folder (cargo counts a folder's own mtime when a build script watches it) gets its
//! recorded mtime back only when it holds the entries it held then, by name and kind, and is
//! reached without a symlink: a file added to or deleted from a watched folder still shows;
//! nothing outside the workspace is dated, so a file there, reached through a link and
//! not as built, voids the record; a record from another checkout path, toolchain or format, or
//! a target dir whose build outputs are not the recorded ones (a truncated or corrupt restore),
//! is not used: a warning, and the profile dirs (what cargo built) are removed so that cargo
//! builds from scratch; this tool's own files there (history, baselines) stay. Cargo's own
//! fingerprints cover the rest (flags, profile, features, environment variables a build script
//! watches, the toolchain).

use super::prune::unit_hash;
use crate::exec::{Command, Exec};
use crate::hash::{sha256_file, sha256_hex};
use crate::progress::Count;
use crate::workspace::Workspace;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a build was built from, kept inside the target dir (so it travels with it).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub format: u32,
    /// The workspace root of the build: path packages' unit hashes include it, so a target
    /// dir serves only a checkout at the same path.
    pub checkout: PathBuf,
    /// `rustc -vV` of the build (a unit of another toolchain is rebuilt by cargo anyway).
    pub toolchain: String,
    /// Every file of the workspace (but the target dir and .git): content hash and mtime.
    pub sources: BTreeMap<String, Source>,
    /// Every folder of the workspace reached without a symlink (but the target dir and .git):
    /// its entries and mtime (none in a format 3 record: then every folder keeps the
    /// checkout's time).
    #[serde(default)]
    pub folders: BTreeMap<String, Folder>,
    /// Every file of the target dir and its size.
    pub target: BTreeMap<String, u64>,
    /// When it was saved (nanoseconds since the epoch): what a runner rebuilt since is newer.
    pub saved_at: u128,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Clone)]
pub struct Source {
    pub sha256: String,
    /// Nanoseconds since the epoch.
    pub mtime: u128,
    /// The file the path led to, when a symlink made it another (cargo records and checks
    /// that one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real: Option<PathBuf>,
}

/// A folder: a hash of its entries' names and kinds, and its mtime (nanoseconds since the epoch).
#[derive(Debug, Serialize, Deserialize, PartialEq, Clone)]
pub struct Folder {
    pub entries: String,
    pub mtime: u128,
}

const FORMAT: u32 = 4;
/// The oldest format this tool still reads (3 lacks the folders: they are left new).
const OLDEST_FORMAT: u32 = 3;

/// Where the record lives: in the target dir (so it travels with it).
pub fn record_path(ws: &Workspace) -> PathBuf {
    ws.target_dir.join("xtask/sources.json")
}

/// A file of the workspace as a build reads it: `rel` (relative, `/`-separated), through any
/// symlinks on the way to `real`, the file it is (canonical).
#[derive(Debug)]
struct Found {
    rel: String,
    path: PathBuf,
    real: Option<PathBuf>,
}

impl Found {
    fn at(ws: &Workspace, path: &Path) -> Option<Found> {
        let rel = path.strip_prefix(&ws.root).ok()?;
        Some(Found {
            rel: rel.to_string_lossy().replace('\\', "/"),
            path: path.to_path_buf(),
            real: std::fs::canonicalize(path).ok(),
        })
    }
}

/// Where the workspace and its target dir really are (symlinks resolved).
struct Bounds {
    root: PathBuf,
    target: PathBuf,
}

impl Bounds {
    fn of(ws: &Workspace) -> Bounds {
        let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        Bounds {
            root: real(&ws.root),
            target: real(&ws.target_dir),
        }
    }

    /// May this tool date the file `real`? It is where its path says (no link, no `..` on the
    /// way), inside the workspace, not in the target dir.
    fn ours(&self, real: &Path) -> bool {
        std::fs::canonicalize(real).is_ok_and(|canonical| {
            canonical == real
                && canonical.starts_with(&self.root)
                && !canonical.starts_with(&self.target)
        })
    }

    /// The file `found` is, when a symlink makes it another than its path says.
    fn redirected(&self, found: &Found) -> Option<PathBuf> {
        let real = found.real.as_ref()?;
        (*real != self.root.join(&found.rel)).then(|| real.clone())
    }
}

/// The workspace as the build reads it (symlinks followed, loops skipped), without the target
/// dir and `.git`: its files, and its folders that are where their path says (one reached
/// through a symlink is left as the checkout made it: never set back).
#[derive(Default)]
struct Tree {
    files: Vec<Found>,
    folders: Vec<Found>,
}

fn workspace_tree(ws: &Workspace) -> Tree {
    let bounds = Bounds::of(ws);
    let entries = walkdir::WalkDir::new(&ws.root)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| {
            let into_target = e.path_is_symlink()
                && std::fs::canonicalize(e.path()).is_ok_and(|r| r.starts_with(&bounds.target));
            e.path() != ws.target_dir && e.file_name() != ".git" && !into_target
        })
        .filter_map(Result::ok);
    let mut tree = Tree::default();
    for entry in entries {
        let Some(found) = Found::at(ws, entry.path()) else {
            continue;
        };
        if entry.file_type().is_file() {
            tree.files.push(found);
        } else if entry.file_type().is_dir()
            && found.real.is_some()
            && bounds.redirected(&found).is_none()
        {
            tree.folders.push(found);
        }
    }
    tree
}

/// A hash of the names and kinds of `dir`'s entries: what the folder's own mtime stands for.
fn entries_hash(dir: &Path) -> anyhow::Result<String> {
    let read = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut names = Vec::new();
    for entry in read {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let kind = match entry.file_type()? {
            t if t.is_symlink() => 'l',
            t if t.is_dir() => 'd',
            t if t.is_file() => 'f',
            _ => 'o',
        };
        names.push(format!("{kind} {}", entry.file_name().to_string_lossy()));
    }
    names.sort();
    Ok(sha256_hex(names.join("\n").as_bytes()))
}

fn folder(path: &Path) -> anyhow::Result<Folder> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Folder {
        entries: entries_hash(path)?,
        mtime: nanos(meta.modified()?),
    })
}

/// The files and sizes of the target dir's profile dirs: what cargo built (this tool's own files,
/// a history or a baseline that grows after the save, are no part of a build).
fn target_files(ws: &Workspace) -> BTreeMap<String, u64> {
    crate::cargo::profile_dirs(&ws.target_dir)
        .into_iter()
        .flat_map(|dir| {
            walkdir::WalkDir::new(dir)
                .into_iter()
                .filter_map(Result::ok)
        })
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| {
            let rel = e.path().strip_prefix(&ws.target_dir).ok()?;
            let size = e.metadata().ok()?.len();
            Some((rel.to_string_lossy().replace('\\', "/"), size))
        })
        .collect()
}

fn nanos(time: SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

/// Files under `.git/` that a build script watches (`rerun-if-changed`, e.g. `.git/HEAD` for
/// a version with the commit in it): the walk leaves `.git` out, yet their mtimes count too.
fn watched_git_files(ws: &Workspace) -> Vec<Found> {
    let mut out = Vec::new();
    let outputs = walkdir::WalkDir::new(&ws.target_dir)
        .max_depth(4)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name() == "output"
                && e.path()
                    .parent()
                    .and_then(|p| p.parent())
                    .is_some_and(|b| b.ends_with("build"))
        });
    for entry in outputs {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        // build/<package>-<hash>/output: the script ran in the package's folder.
        let dir_name = entry
            .path()
            .parent()
            .and_then(|p| p.file_name())
            .unwrap_or_default()
            .to_string_lossy();
        let package = dir_name
            .rsplit_once('-')
            .map_or(dir_name.as_ref(), |(p, _)| p);
        let Some(member) = ws.members.iter().find(|m| m.name == package) else {
            continue;
        };
        for line in text.lines() {
            let Some(path) = line
                .strip_prefix("cargo:rerun-if-changed=")
                .or_else(|| line.strip_prefix("cargo::rerun-if-changed="))
            else {
                continue;
            };
            let Ok(path) = std::fs::canonicalize(member.dir.join(path)) else {
                continue;
            };
            if let Ok(rel) = path.strip_prefix(&ws.root) {
                if rel.starts_with(".git") && path.is_file() {
                    out.push((rel.to_string_lossy().replace('\\', "/"), path.clone()));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out.into_iter()
        .filter_map(|(_, path)| Found::at(ws, &path))
        .collect()
}

/// The record of the workspace as it is now, built with `toolchain`.
pub fn record(ws: &Workspace, toolchain: &str) -> anyhow::Result<Record> {
    let bounds = Bounds::of(ws);
    let mut sources = BTreeMap::new();
    let tree = workspace_tree(ws);
    let (total, mut progress) = (tree.files.len(), Count::new("save: files hashed"));
    for (i, found) in tree
        .files
        .into_iter()
        .chain(watched_git_files(ws))
        .enumerate()
    {
        progress.tick(i, total);
        let real = bounds.redirected(&found);
        let path = &found.path;
        let meta =
            std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        let mtime = nanos(meta.modified()?);
        sources.insert(
            found.rel,
            Source {
                sha256: sha256_file(path)?,
                mtime,
                real,
            },
        );
    }
    let mut folders = BTreeMap::new();
    for found in tree.folders {
        folders.insert(found.rel, folder(&found.path)?);
    }
    Ok(Record {
        format: FORMAT,
        checkout: ws.root.clone(),
        toolchain: toolchain.to_string(),
        sources,
        folders,
        target: target_files(ws),
        saved_at: nanos(SystemTime::now()),
    })
}

/// What a restore did, or why it used nothing.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Restored {
    /// Files whose content is the recorded one: their mtime set back.
    pub unchanged: usize,
    /// Files whose content differs: the current time.
    pub changed: Vec<String>,
    /// Files the record does not have: the current time.
    pub new: Vec<String>,
    /// Recorded files that are gone.
    pub missing: Vec<String>,
    /// Packages a file is gone from whose build scripts run again (it may be what wrote it, or
    /// it watches the whole package).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rerun: Vec<String>,
    /// Why the record was not used (then the profile dirs were removed), if it was not.
    pub ignored: Option<String>,
    /// What the restore did but the user should know (a clock behind the saving machine's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Why `record` cannot serve this checkout, if it cannot.
fn unusable(ws: &Workspace, record: &Record, toolchain: &str) -> Option<String> {
    if !(OLDEST_FORMAT..=FORMAT).contains(&record.format) {
        return Some(format!(
            "the record's format is {}, this tool reads {OLDEST_FORMAT} to {FORMAT}",
            record.format
        ));
    }
    if record.checkout != ws.root {
        return Some(format!(
            "it was built at {}, this checkout is at {} (path packages' units include their path: restore at the same path)",
            record.checkout.display(),
            ws.root.display()
        ));
    }
    if record.toolchain != toolchain {
        return Some("it was built by another toolchain".into());
    }
    let differ = damaged(ws, record);
    (differ > 0).then(|| {
        format!("{differ} of its {} target files are missing or of another size (a truncated or corrupt restore)", record.target.len())
    })
}

/// Recorded target files that are missing or of another size, but for what this runner built
/// since the save (the tool itself, before it could run `cache restore`): the files of a unit
/// whose fingerprint was invoked since, an incremental dir changed since. An uplifted output
/// (`debug/app`, no hash) is no evidence either way: cargo links it again from its unit on every
/// build, fresh or not (two units of one binary, the build's and the tests', take turns there).
/// A file the restore truncated keeps its unit's old fingerprint, so it counts.
fn damaged(ws: &Workspace, record: &Record) -> usize {
    let now = target_files(ws);
    let newer = |rel: &str| {
        std::fs::metadata(ws.target_dir.join(rel))
            .and_then(|m| m.modified())
            .is_ok_and(|t| nanos(t) > record.saved_at)
    };
    let explained = |rel: &str| {
        let path = Path::new(rel);
        let in_profile_dir = path
            .parent()
            .is_some_and(|p| ws.target_dir.join(p).join(".fingerprint").is_dir());
        let uplifted = in_profile_dir && unit_hash(rel).is_none();
        uplifted
            || path.ancestors().any(|a| {
                let name = a.file_name().unwrap_or_default().to_string_lossy();
                let in_incremental = a.parent().is_some_and(|p| p.ends_with("incremental"));
                (in_incremental && newer(&a.to_string_lossy()))
                    || unit_hash(&name)
                        .is_some_and(|hash| rebuilt_unit(ws, a, hash, record.saved_at))
            })
    };
    record
        .target
        .iter()
        .filter(|(rel, size)| now.get(*rel) != Some(size) && !explained(rel))
        .count()
}

/// Was the unit `hash` (named in `rel`, relative to the target dir) compiled since `saved_at`?
fn rebuilt_unit(ws: &Workspace, rel: &Path, hash: &str, saved_at: u128) -> bool {
    // The profile dir: the parent of deps/, build/, .fingerprint/, examples/.
    let Some(profile) = rel.parent().and_then(Path::parent) else {
        return false;
    };
    let fingerprints = ws.target_dir.join(profile).join(".fingerprint");
    std::fs::read_dir(fingerprints)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| unit_hash(&e.file_name().to_string_lossy()) == Some(hash))
        .any(|e| {
            std::fs::metadata(e.path().join("invoked.timestamp"))
                .and_then(|m| m.modified())
                .is_ok_and(|t| nanos(t) > saved_at)
        })
}

/// The largest record a restore reads: about 400,000 files. A restored cache can be written by
/// a pull request; a larger record is refused, not read for minutes.
const RECORD_LIMIT: u64 = 64 << 20;

/// The record in the target dir: `Ok(None)` when there is none, `Err` (why) when it cannot be
/// used as it is.
fn read_record(path: &Path) -> Result<Option<Record>, String> {
    let size = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("the record cannot be read ({e})")),
    };
    if size > RECORD_LIMIT {
        return Err(format!(
            "the record is {}, over the {} a restore reads",
            crate::render::human_size(size),
            crate::render::human_size(RECORD_LIMIT)
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("the record cannot be read ({e})"))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("the record does not parse ({e})"))
}

/// Entries of a record that name no place in the workspace or the target dir as a save writes
/// it (a `..`, an absolute or empty relative path; a link's file named not as a canonical path):
/// a restored cache can be written by a pull request, so each is dropped, and named.
fn drop_foreign_entries(record: &mut Record) -> Vec<String> {
    let normal = |rel: &str| {
        !rel.is_empty()
            && Path::new(rel)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
    };
    let canonical_form = |p: &Path| {
        p.is_absolute()
            && p.components().all(|c| {
                matches!(
                    c,
                    std::path::Component::RootDir | std::path::Component::Normal(_)
                )
            })
    };
    let mut dropped = Vec::new();
    record.sources.retain(|rel, source| {
        let keep = normal(rel) && source.real.as_deref().is_none_or(canonical_form);
        if !keep {
            dropped.push(rel.clone());
        }
        keep
    });
    dropped.extend(record.target.retain_keys(&normal));
    // The root folder's own entry is the empty path.
    dropped.extend(
        record
            .folders
            .retain_keys(&|rel| rel.is_empty() || normal(rel)),
    );
    dropped
}

/// `retain` on the keys of the record's maps, the keys dropped returned.
trait RetainKeys {
    fn retain_keys(&mut self, keep: &dyn Fn(&str) -> bool) -> Vec<String>;
}

impl<V> RetainKeys for BTreeMap<String, V> {
    fn retain_keys(&mut self, keep: &dyn Fn(&str) -> bool) -> Vec<String> {
        let gone: Vec<String> = self.keys().filter(|k| !keep(k)).cloned().collect();
        for key in &gone {
            self.remove(key);
        }
        gone
    }
}

/// Apply the record in the target dir to the checkout (see the module's comment).
pub fn restore(exec: &Exec, ws: &Workspace, toolchain: &str) -> anyhow::Result<Restored> {
    let path = record_path(ws);
    let problem = match read_record(&path) {
        Ok(None) => {
            return Ok(Restored {
                ignored: Some(format!(
                    "no record at {} (nothing saved yet)",
                    path.display()
                )),
                ..Restored::default()
            })
        }
        Ok(Some(record)) => match date_by(exec, ws, record, toolchain)? {
            Ok(dating) => return apply(dating),
            Err(problem) => problem,
        },
        Err(problem) => problem,
    };
    empty_profile_dirs(exec, ws)?;
    Ok(Restored {
        ignored: Some(problem),
        ..Restored::default()
    })
}

/// How `record` dates this checkout, or why it cannot serve it.
fn date_by(
    exec: &Exec,
    ws: &Workspace,
    mut record: Record,
    toolchain: &str,
) -> anyhow::Result<Result<Dating, String>> {
    let dropped = drop_foreign_entries(&mut record);
    if let Some(problem) = unusable(ws, &record, toolchain) {
        return Ok(Err(problem));
    }
    let mut dating = dating(exec, ws, &record)?;
    if !dropped.is_empty() {
        dating.restored.warnings.push(format!(
            "{} entries of the record name a place outside the workspace and its target dir, skipped:{}",
            dropped.len(),
            crate::render::some_names(&dropped, 5)
        ));
    }
    Ok(match dating.undatable.first() {
        None => Ok(dating),
        Some(rel) => Err(format!(
            "{rel} is not as built and links out of the workspace, where this tool dates nothing: cargo could not be shown the change"
        )),
    })
}

/// Every profile dir of the target dir removed (what cargo built; this tool's history and
/// baselines stay): the build starts from scratch, never from parts.
fn empty_profile_dirs(exec: &Exec, ws: &Workspace) -> anyhow::Result<()> {
    for dir in crate::cargo::profile_dirs(&ws.target_dir) {
        if let Some(why) = crate::plan::refusal(exec, &dir, true) {
            eprintln!("warning: {} is left as it is: {why}", dir.display());
            continue;
        }
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// How a restore dates the workspace's files, decided before any is touched.
#[derive(Default)]
struct Dating {
    restored: Restored,
    /// Each file (canonical) and the latest time any path to it asks for.
    times: BTreeMap<PathBuf, SystemTime>,
    /// Paths not as built whose file lies outside the workspace (a symlink out of it): this tool
    /// dates nothing there, so cargo could not be shown the change.
    undatable: Vec<String>,
    /// Build-script fingerprints to remove (their scripts run again).
    rerun: Vec<PathBuf>,
    /// Each folder and its time.
    folders: Vec<(PathBuf, SystemTime)>,
}

/// The time a changed or new file gets: now, and never before the save. A runner whose clock is
/// behind the saving machine's would otherwise date a change before the units built from the
/// old content, and cargo would take them for fresh.
fn changed_time(record: &Record, now: SystemTime) -> SystemTime {
    let saved = UNIX_EPOCH + Duration::from_nanos(record.saved_at as u64);
    now.max(saved + Duration::from_secs(1))
}

fn dating(exec: &Exec, ws: &Workspace, record: &Record) -> anyhow::Result<Dating> {
    // A restore within a second of the save (a quick runner, the same machine) waits out that
    // second: a file dated ahead of this clock would be newer than the next build of it, and
    // would look changed again to every later build and save.
    let saved = UNIX_EPOCH + Duration::from_nanos(record.saved_at as u64);
    let ahead = (saved + Duration::from_secs(1))
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    if ahead <= Duration::from_secs(2) {
        std::thread::sleep(ahead);
    }
    let now = SystemTime::now();
    let changed_at = changed_time(record, now);
    let bounds = Bounds::of(ws);
    let mut dating = Dating::default();
    if record.saved_at > nanos(now) {
        dating.restored.warnings.push(format!(
            "this machine's clock is {:.0} s behind the one that saved the target dir: changed files are dated after the save, and cargo may rebuild them again until this clock passes it",
            (record.saved_at - nanos(now)) as f64 / 1e9
        ));
    }
    // The recorded files under .git/ (watched by build scripts) that are here.
    let git = record
        .sources
        .keys()
        .filter(|rel| rel.starts_with(".git/") && ws.root.join(rel).is_file())
        .filter_map(|rel| Found::at(ws, &ws.root.join(rel)));
    let mut seen = BTreeSet::new();
    let tree = workspace_tree(ws);
    let (total, mut progress) = (tree.files.len(), Count::new("restore: files compared"));
    for (i, found) in tree.files.into_iter().chain(git).enumerate() {
        progress.tick(i, total);
        dating.judge(&bounds, &found, record.sources.get(&found.rel), changed_at)?;
        seen.insert(found.rel);
    }
    dating.restored.missing = record
        .sources
        .keys()
        .filter(|rel| !seen.contains(*rel))
        .cloned()
        .collect();
    dating.rerun_build_scripts(exec, ws, record);
    for found in tree.folders {
        let time = match record.folders.get(&found.rel) {
            Some(then) if entries_hash(&found.path)? == then.entries => {
                UNIX_EPOCH + Duration::from_nanos(then.mtime as u64)
            }
            _ => changed_at,
        };
        dating.folders.push((found.path, time));
    }
    Ok(dating)
}

impl Dating {
    /// Date the file `found` is as `recorded` says if it is as built (content, and the file its
    /// path leads to), else `changed_at`, with the file its path led to when built.
    fn judge(
        &mut self,
        bounds: &Bounds,
        found: &Found,
        recorded: Option<&Source>,
        changed_at: SystemTime,
    ) -> anyhow::Result<()> {
        if let Some(source) = recorded {
            if source.real == bounds.redirected(found) && sha256_file(&found.path)? == source.sha256
            {
                self.restored.unchanged += 1;
                if let Some(real) = found.real.clone().filter(|r| bounds.ours(r)) {
                    self.date(real, UNIX_EPOCH + Duration::from_nanos(source.mtime as u64));
                }
                return Ok(());
            }
        }
        let list = match recorded {
            Some(_) => &mut self.restored.changed,
            None => &mut self.restored.new,
        };
        list.push(found.rel.clone());
        let then = recorded.map(|s| s.real.clone().unwrap_or(bounds.root.join(&found.rel)));
        for real in found.real.iter().chain(then.iter().filter(|r| r.exists())) {
            match bounds.ours(real) {
                true => self.date(real.clone(), changed_at),
                false => self.undatable.push(found.rel.clone()),
            }
        }
        Ok(())
    }

    /// Each package a file is gone from: the build-script runs it asks to do again.
    fn rerun_build_scripts(&mut self, exec: &Exec, ws: &Workspace, record: &Record) {
        let ignored = git_ignored(exec, ws, &self.restored.missing);
        let mut gone: BTreeMap<&str, Vec<Gone>> = BTreeMap::new();
        for rel in &self.restored.missing {
            if let (Some(package), Some(source)) = (member_of(ws, rel), record.sources.get(rel)) {
                gone.entry(package).or_default().push(Gone {
                    mtime: source.mtime,
                    ignored: ignored.contains(rel),
                });
            }
        }
        for (package, files) in gone {
            let runs = runs_to_redo(ws, package, &files);
            if !runs.is_empty() {
                self.restored.rerun.push(package.to_string());
                self.rerun.extend(runs);
            }
        }
    }

    /// `real` gets `time` unless a path to it asked for a later one.
    fn date(&mut self, real: PathBuf, time: SystemTime) {
        let entry = self.times.entry(real).or_insert(time);
        *entry = (*entry).max(time);
    }
}

/// The member whose folder holds `rel` (relative to the root): the innermost.
fn member_of<'a>(ws: &'a Workspace, rel: &str) -> Option<&'a str> {
    let path = ws.root.join(rel);
    ws.members
        .iter()
        .filter(|m| path.starts_with(&m.dir))
        .max_by_key(|m| m.dir.components().count())
        .map(|m| m.name.as_str())
}

/// The entries of `dir` (none if it cannot be read).
fn entries(dir: &Path) -> Vec<PathBuf> {
    let read = std::fs::read_dir(dir).into_iter().flatten().flatten();
    read.map(|e| e.path()).collect()
}

fn mtime_nanos(path: &Path) -> Option<u128> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(nanos)
}

/// A file gone from a package: when it was written, and whether git ignores it (then cargo does
/// not watch it as one of the package's files).
struct Gone {
    mtime: u128,
    ignored: bool,
}

/// Which of `rels` git ignores (none outside git: then cargo watches every file).
fn git_ignored(exec: &Exec, ws: &Workspace, rels: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for chunk in rels.chunks(500) {
        let command = Command::new("git")
            .args(["check-ignore", "--"])
            .args(chunk)
            .dir(&ws.root);
        if let Ok(answer) = exec.output(&command) {
            out.extend(answer.stdout.lines().map(str::to_string));
        }
    }
    out
}

/// The runs of `package`'s build script in the target dir that files gone from the package ask
/// to do again, as the fingerprint files that make cargo do it: a run that names no
/// rerun-if-changed file when a gone file is one cargo watched (cargo then watches the whole
/// package, but for what git ignores), and a run while which a gone file was written (it may be
/// what wrote it: a git-ignored file that no checkout has).
fn runs_to_redo(ws: &Workspace, package: &str, gone: &[Gone]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    // Profile dirs: target/<profile>, target/<triple>/<profile>.
    let profiles = entries(&ws.target_dir)
        .into_iter()
        .flat_map(|dir| entries(&dir).into_iter().chain([dir]));
    let prefix = format!("{package}-");
    for profile in profiles {
        for run in entries(&profile.join("build")) {
            let name = run
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let ours = unit_hash(&name).is_some_and(|h| name.strip_suffix(h) == Some(&prefix));
            let Ok(output) = std::fs::read_to_string(run.join("output")) else {
                continue;
            };
            let watches_all = !output.contains("rerun-if-changed=");
            let start = mtime_nanos(&run.join("invoked.timestamp"));
            // An archive may keep whole seconds only: the window's end is widened by one.
            let end = mtime_nanos(&run.join("output")).map(|t| t + 1_000_000_000);
            let wrote = |g: &Gone| {
                start
                    .zip(end)
                    .is_some_and(|(a, b)| (a..=b).contains(&g.mtime))
            };
            let redo = gone.iter().any(|g| (watches_all && !g.ignored) || wrote(g));
            if ours && redo {
                let fingerprints = entries(&profile.join(".fingerprint").join(&name));
                out.extend(fingerprints.into_iter().filter(|f| {
                    f.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("run-build-script-"))
                }));
            }
        }
    }
    out
}

/// Date every file as decided, and remove the build-script fingerprints.
fn apply(dating: Dating) -> anyhow::Result<Restored> {
    for (path, time) in &dating.times {
        set_mtime(path, *time)?;
    }
    // A folder not dated (a system that cannot open one) keeps the checkout's time: rebuilt.
    for (path, time) in &dating.folders {
        let _ = set_mtime(path, *time);
    }
    for fingerprint in &dating.rerun {
        std::fs::remove_file(fingerprint)
            .with_context(|| format!("removing {}", fingerprint.display()))?;
    }
    Ok(dating.restored)
}

fn set_mtime(path: &Path, time: SystemTime) -> anyhow::Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.set_modified(time))
        .with_context(|| format!("setting the mtime of {}", path.display()))
}

/// The last restore's outcome, kept beside the record (for `cargo xtask cache`).
fn restored_path(ws: &Workspace) -> PathBuf {
    ws.target_dir.join("xtask/sources-restored.json")
}

/// Keep `restored` for the report (a failure to keep it costs only the report's line).
pub fn keep(ws: &Workspace, restored: &Restored) {
    if let Ok(text) = serde_json::to_string(restored) {
        let _ = crate::plan::write_whole(&restored_path(ws), &text);
    }
}

/// What the report says of the record.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub files: usize,
    /// The target dir's files and bytes as saved.
    pub target_files: usize,
    pub target_bytes: u64,
    /// Seconds since it was saved.
    pub age_seconds: u64,
    pub last_restore: Option<serde_json::Value>,
}

impl Summary {
    pub fn sentence(&self) -> String {
        let age = match self.age_seconds {
            s if s < 3600 => format!("{} min", s / 60),
            s if s < 86400 => format!("{} h", s / 3600),
            s => format!("{} days", s / 86400),
        };
        let restore = match &self.last_restore {
            None => "not restored here".to_string(),
            Some(r) if !r["ignored"].is_null() => format!(
                "last restore not used: {}",
                r["ignored"].as_str().unwrap_or("")
            ),
            Some(r) => format!(
                "last restore: {} files as built, {} changed, {} new",
                r["unchanged"],
                r["changed"].as_array().map_or(0, Vec::len),
                r["new"].as_array().map_or(0, Vec::len)
            ),
        };
        format!(
            "saved {age} ago ({} workspace files; target dir {} files, {}); {restore}",
            self.files,
            self.target_files,
            crate::render::human_size(self.target_bytes)
        )
    }
}

/// The record's summary, if there is a record.
pub fn summary(ws: &Workspace) -> Option<Summary> {
    let path = record_path(ws);
    let saved = std::fs::metadata(&path).ok()?.modified().ok()?;
    let record = read_record(&path).ok()??;
    let last_restore = std::fs::read_to_string(restored_path(ws))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    Some(Summary {
        files: record.sources.len(),
        target_files: record.target.len(),
        target_bytes: record.target.values().sum(),
        age_seconds: SystemTime::now()
            .duration_since(saved)
            .unwrap_or_default()
            .as_secs(),
        last_restore,
    })
}

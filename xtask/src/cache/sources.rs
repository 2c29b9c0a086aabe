//! A target dir that a fresh checkout can reuse: `cache save` records, beside the target dir's
//! files, what the build was built from (every file of the workspace: its content hash and its
//! mtime then); `cache restore`, on a fresh checkout at the same path with the target dir
//! restored, gives each file whose content is the recorded one its recorded mtime back, and
//! every other file the current time. Cargo judges a workspace unit by comparing its inputs'
//! mtimes with the unit's own: unchanged inputs look unchanged, any input that differs, is new
//! or is missing makes its unit rebuild.
//!
//! Never a stale artifact: an mtime is only ever set back for content that is byte for byte
//! what the build saw (a branch switch to older content with an older commit time gets the
//! current time, not an old one); directories are never set back (a file deleted from a
//! `rerun-if-changed` folder still shows); a record from another checkout path, toolchain or
//! format, or a target dir whose files are not the recorded ones (a truncated or corrupt
//! restore), is not used: a warning, and the target dir is emptied so that cargo builds from
//! scratch. Cargo's own fingerprints cover the rest (flags, profile, features, environment
//! variables a build script watches, the toolchain).

use super::prune::unit_hash;
use crate::build::dist::sha256_file;
use crate::workspace::Workspace;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
}

const FORMAT: u32 = 2;

/// Where the record lives: in the target dir (so it travels with it).
pub fn record_path(ws: &Workspace) -> PathBuf {
    ws.target_dir.join("xtask/sources.json")
}

/// The workspace's files (relative, `/`-separated), without the target dir and `.git`.
fn workspace_files(ws: &Workspace) -> Vec<(String, PathBuf)> {
    let target = &ws.target_dir;
    walkdir::WalkDir::new(&ws.root)
        .into_iter()
        .filter_entry(|e| e.path() != target && e.file_name() != ".git")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| {
            let rel = e.path().strip_prefix(&ws.root).ok()?;
            Some((
                rel.to_string_lossy().replace('\\', "/"),
                e.path().to_path_buf(),
            ))
        })
        .collect()
}

/// The target dir's files and sizes (the record and the last restore's outcome left out).
fn target_files(ws: &Workspace) -> BTreeMap<String, u64> {
    let own = [record_path(ws), restored_path(ws)];
    walkdir::WalkDir::new(&ws.target_dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && !own.iter().any(|p| p == e.path()))
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
fn watched_git_files(ws: &Workspace) -> Vec<(String, PathBuf)> {
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
    out
}

/// The record of the workspace as it is now, built with `toolchain`.
pub fn record(ws: &Workspace, toolchain: &str) -> anyhow::Result<Record> {
    let mut sources = BTreeMap::new();
    for (rel, path) in workspace_files(ws).into_iter().chain(watched_git_files(ws)) {
        let meta =
            std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        let mtime = nanos(meta.modified()?);
        sources.insert(
            rel,
            Source {
                sha256: sha256_file(&path)?,
                mtime,
            },
        );
    }
    Ok(Record {
        format: FORMAT,
        checkout: ws.root.clone(),
        toolchain: toolchain.to_string(),
        sources,
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
    /// Why the record was not used (then the target dir was emptied), if it was not.
    pub ignored: Option<String>,
}

/// Why `record` cannot serve this checkout, if it cannot.
fn unusable(ws: &Workspace, record: &Record, toolchain: &str) -> Option<String> {
    if record.format != FORMAT {
        return Some(format!(
            "the record's format is {}, this tool's {FORMAT}",
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
/// whose fingerprint was invoked since, an incremental dir changed since, an uplifted output
/// (`debug/app`, no hash: cargo links it again from its unit) written since. A file the restore
/// truncated keeps its unit's old fingerprint, so it counts.
fn damaged(ws: &Workspace, record: &Record) -> usize {
    let now = target_files(ws);
    let newer = |rel: &str| {
        std::fs::metadata(ws.target_dir.join(rel))
            .and_then(|m| m.modified())
            .is_ok_and(|t| nanos(t) > record.saved_at)
    };
    let rebuilt = |rel: &str| {
        let path = Path::new(rel);
        let in_profile_dir = path
            .parent()
            .is_some_and(|p| ws.target_dir.join(p).join(".fingerprint").is_dir());
        let uplifted = in_profile_dir && unit_hash(rel).is_none();
        (uplifted && newer(rel))
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
        .filter(|(rel, size)| now.get(*rel) != Some(size) && !rebuilt(rel))
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

/// Apply the record in the target dir to the checkout (see the module's comment).
pub fn restore(ws: &Workspace, toolchain: &str) -> anyhow::Result<Restored> {
    let path = record_path(ws);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(_) => {
            return Ok(Restored {
                ignored: Some(format!(
                    "no record at {} (nothing saved yet)",
                    path.display()
                )),
                ..Restored::default()
            })
        }
    };
    let problem = match serde_json::from_str::<Record>(&text) {
        Ok(record) => match unusable(ws, &record, toolchain) {
            None => return apply(ws, &record),
            Some(problem) => problem,
        },
        Err(e) => format!("the record does not parse ({e})"),
    };
    empty_target_dir(ws)?;
    Ok(Restored {
        ignored: Some(problem),
        ..Restored::default()
    })
}

/// Every entry of the target dir removed: the build starts from scratch, never from parts.
fn empty_target_dir(ws: &Workspace) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(&ws.target_dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let removed = match entry.file_type().is_ok_and(|t| t.is_dir()) {
            true => std::fs::remove_dir_all(&path),
            false => std::fs::remove_file(&path),
        };
        removed.with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

fn apply(ws: &Workspace, record: &Record) -> anyhow::Result<Restored> {
    let now = SystemTime::now();
    let mut restored = Restored::default();
    let mut seen = std::collections::BTreeSet::new();
    // The recorded files under .git/ (watched by build scripts) that are here.
    let git: Vec<(String, PathBuf)> = record
        .sources
        .keys()
        .filter(|rel| rel.starts_with(".git/"))
        .map(|rel| (rel.clone(), ws.root.join(rel)))
        .filter(|(_, path)| path.is_file())
        .collect();
    for (rel, path) in workspace_files(ws).into_iter().chain(git) {
        let time = match record.sources.get(&rel) {
            Some(source) if sha256_file(&path)? == source.sha256 => {
                restored.unchanged += 1;
                UNIX_EPOCH + Duration::from_nanos(source.mtime as u64)
            }
            Some(_) => {
                restored.changed.push(rel.clone());
                now
            }
            None => {
                restored.new.push(rel.clone());
                now
            }
        };
        set_mtime(&path, time)?;
        seen.insert(rel);
    }
    restored.missing = record
        .sources
        .keys()
        .filter(|rel| !seen.contains(*rel))
        .cloned()
        .collect();
    Ok(restored)
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
    let record: Record = serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
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

//! Before a target dir is saved: remove every unit that none of the job's builds uses, so the
//! cache holds what the next runner needs and does not grow with each dependency bump.
//!
//! Which units a build uses is asked of cargo itself: the job's cargo commands are run again
//! with `--message-format=json` (a no-op when the job built them: every unit is fresh, and cargo
//! still names each one's files). A unit's files, fingerprint and build-script dirs carry its
//! hash in their names (`libfoo-<16 hex>.rlib`, `.fingerprint/foo-<hash>`, `build/foo-<hash>`);
//! an uplifted binary (`target/debug/app`) is the same file as its hashed twin in `deps/`.
//! Entries of another unit's hash are removed; entries without a hash are kept. Incremental
//! data is named by crate, not by hash: a crate's incremental dir goes when it was last used
//! before every kept unit of that crate was last compiled (so it cannot be theirs). Only the
//! profile dirs the builds use are pruned (`release/` stays when only `debug/` was asked for).

use anyhow::Context;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What the builds use, from cargo's messages.
#[derive(Debug, Default)]
pub struct Kept {
    /// Unit hashes (the `-<16 hex>` of their file and dir names).
    hashes: BTreeSet<String>,
    /// Profile dirs holding them (`target/debug`, `target/<triple>/release`).
    dirs: BTreeSet<PathBuf>,
    /// Crate names (`-` as `_`) of units whose hashed files could not be found: every entry of
    /// that name is kept.
    names: BTreeSet<String>,
    /// Each kept unit's crate name and hash (for its incremental dir).
    units: BTreeSet<(String, String)>,
    /// Units cargo compiled now (the job had not built them so).
    pub compiled: usize,
}

/// What the pruning removed, and the target dir's size after it.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Pruned {
    pub entries: usize,
    pub bytes: u64,
    pub dirs: Vec<PathBuf>,
    /// The units removed, by the name of their fingerprint dir without its hash (a crate
    /// name, once per unit).
    pub units: Vec<String>,
}

/// The `-<16 hex>` hash in an entry's name (`libfoo-0123456789abcdef.rlib` → the hex), if any.
pub fn unit_hash(name: &str) -> Option<&str> {
    name.match_indices('-').find_map(|(i, _)| {
        let hash = name.get(i + 1..i + 17)?;
        let after = name[i + 17..].chars().next();
        (hash
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            && matches!(after, None | Some('.')))
        .then_some(hash)
    })
}

/// The profile dir a file of the build lives in: the nearest ancestor with `.fingerprint/`.
fn profile_dir(file: &Path) -> Option<PathBuf> {
    file.ancestors()
        .skip(1)
        .find(|a| a.join(".fingerprint").is_dir())
        .map(Path::to_path_buf)
}

/// The hash of the file in `deps/` (or beside `file`) that is the same file as `file`.
fn twin_hash(file: &Path, dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(file).ok()?;
    let stem = file.file_stem()?.to_string_lossy().into_owned();
    [dir.join("deps"), file.parent()?.to_path_buf()]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
        .find_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let hash = unit_hash(&name)?;
            let twin = name.starts_with(&format!("{stem}-"))
                && entry
                    .metadata()
                    .is_ok_and(|m| m.ino() == meta.ino() && m.dev() == meta.dev());
            twin.then(|| hash.to_string())
        })
}

impl Kept {
    /// Add what one build's JSON messages name.
    pub fn read(&mut self, messages: &str) {
        for message in messages
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        {
            let files: Vec<PathBuf> = match message["reason"].as_str() {
                Some("compiler-artifact") => {
                    self.compiled += usize::from(message["fresh"] == false);
                    let listed = message["filenames"].as_array().into_iter().flatten();
                    listed
                        .chain(message.get("executable"))
                        .filter_map(|f| f.as_str().map(PathBuf::from))
                        .collect()
                }
                Some("build-script-executed") => message["out_dir"]
                    .as_str()
                    .map(PathBuf::from)
                    .into_iter()
                    .collect(),
                _ => continue,
            };
            let crate_name = message["target"]["name"]
                .as_str()
                .unwrap_or_default()
                .replace('-', "_");
            for file in files {
                self.add(&file, &crate_name);
            }
        }
    }

    fn add(&mut self, file: &Path, crate_name: &str) {
        let Some(dir) = profile_dir(file) else {
            return;
        };
        // Only the names under the profile dir (the checkout's own path may look like one).
        let hashed = file
            .strip_prefix(&dir)
            .unwrap_or(file)
            .components()
            .filter_map(|c| unit_hash(&c.as_os_str().to_string_lossy()).map(str::to_string))
            .next_back();
        match hashed.or_else(|| twin_hash(file, &dir)) {
            Some(hash) => {
                if !crate_name.is_empty() {
                    self.units.insert((crate_name.to_string(), hash.clone()));
                }
                self.hashes.insert(hash);
            }
            None => {
                self.names.insert(crate_name.to_string());
            }
        }
        self.dirs.insert(dir);
    }

    /// Is the entry `name` (of `deps/`, `build/`, `.fingerprint/`, `examples/`) kept?
    fn keeps(&self, name: &str) -> bool {
        let Some(hash) = unit_hash(name) else {
            return true;
        };
        if self.hashes.contains(hash) {
            return true;
        }
        let at = name.find(hash).unwrap_or(0);
        let stem = name[..at].trim_end_matches('-').replace('-', "_");
        self.names.contains(&stem) || self.names.contains(stem.trim_start_matches("lib"))
    }
}

/// Remove (or with `dry_run`, count) every entry of the kept profile dirs no kept unit owns.
pub fn prune(kept: &Kept, dry_run: bool) -> anyhow::Result<Pruned> {
    let mut pruned = Pruned {
        dirs: kept.dirs.iter().cloned().collect(),
        ..Pruned::default()
    };
    for dir in &kept.dirs {
        let mut doomed: Vec<PathBuf> = Vec::new();
        for sub in [".fingerprint", "build", "deps", "examples"] {
            doomed.extend(
                entries(&dir.join(sub))
                    .into_iter()
                    .filter(|p| !kept.keeps(&p.file_name().unwrap_or_default().to_string_lossy())),
            );
        }
        doomed.extend(unused_incremental(kept, dir));
        for path in doomed {
            if path.parent().is_some_and(|p| p.ends_with(".fingerprint")) {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                let hash = unit_hash(&name).unwrap_or_default().len();
                let unit = &name[..name.len() - hash].trim_end_matches('-');
                pruned.units.push(unit.to_string());
            }
            pruned.bytes += size_of(&path);
            pruned.entries += 1;
            if !dry_run {
                remove(&path)?;
            }
        }
    }
    pruned.units.sort();
    Ok(pruned)
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut all: Vec<PathBuf> = read.flatten().map(|e| e.path()).collect();
    all.sort();
    all
}

/// When a kept unit was last compiled: its fingerprint dir's `invoked.timestamp`.
fn compiled_at(dir: &Path, hash: &str) -> Option<SystemTime> {
    entries(&dir.join(".fingerprint"))
        .into_iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| unit_hash(&n.to_string_lossy()) == Some(hash))
        })
        .and_then(|p| std::fs::metadata(p.join("invoked.timestamp")).ok())
        .and_then(|m| m.modified().ok())
}

/// `incremental/<crate>-<id>` dirs last used before every kept unit of that crate was last
/// compiled (a crate no kept unit has: all of its dirs).
fn unused_incremental(kept: &Kept, dir: &Path) -> Vec<PathBuf> {
    let mut oldest: BTreeMap<&str, Option<SystemTime>> = BTreeMap::new();
    for (name, hash) in &kept.units {
        let at = compiled_at(dir, hash);
        let entry = oldest.entry(name.as_str()).or_insert(at);
        *entry = match (*entry, at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            _ => None, // one of them unknown: keep every dir of the crate
        };
    }
    // Whole seconds: an archive may have kept one timestamp's fraction and lost the other's.
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    entries(&dir.join("incremental"))
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            let crate_name = name.rsplit_once('-').map_or(name.as_ref(), |(c, _)| c);
            if kept.names.contains(crate_name) {
                return false;
            }
            match oldest.get(crate_name) {
                None => true,
                Some(None) => false,
                Some(Some(first)) => last_used(p).is_some_and(|t| secs(t) < secs(*first)),
            }
        })
        .collect()
}

/// The newest session of an incremental dir (its entries' mtimes).
fn last_used(dir: &Path) -> Option<SystemTime> {
    entries(dir)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok()?.modified().ok())
        .max()
        .or(Some(SystemTime::UNIX_EPOCH))
}

/// Bytes under `path`, links not followed.
pub fn size_of(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .follow_root_links(false)
        .into_iter()
        .flatten()
        .filter(|e| !e.file_type().is_dir())
        .filter_map(|e| e.metadata().ok())
        .map(|meta| meta.len())
        .sum()
}

fn remove(path: &Path) -> anyhow::Result<()> {
    let removed = match std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        true => std::fs::remove_dir_all(path),
        false => std::fs::remove_file(path),
    };
    removed.with_context(|| format!("removing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_hash_is_sixteen_lowercase_hex_digits_before_an_extension_or_the_end() {
        assert_eq!(
            unit_hash("libfoo_bar-0123456789abcdef.rlib"),
            Some("0123456789abcdef")
        );
        assert_eq!(
            unit_hash("helix-core-0123456789abcdef"),
            Some("0123456789abcdef")
        );
        assert_eq!(
            unit_hash("app-0123456789abcdef.1xd578.rcgu.o"),
            Some("0123456789abcdef")
        );
        assert_eq!(unit_hash("app"), None);
        assert_eq!(unit_hash("app.d"), None);
        assert_eq!(unit_hash("x-0123456789ABCDEF"), None);
        assert_eq!(unit_hash("x-0123456789abcdef0"), None);
        assert_eq!(unit_hash("just-0xyssqwjv3iva"), None);
    }

    #[test]
    fn entries_of_other_hashes_go_and_entries_without_one_stay() {
        let mut kept = Kept::default();
        kept.hashes.insert("0123456789abcdef".into());
        kept.names.insert("copied".into());
        assert!(kept.keeps("libcore_lib-0123456789abcdef.rlib"));
        assert!(!kept.keeps("libcore_lib-fedcba9876543210.rlib"));
        assert!(kept.keeps("app.d"));
        assert!(kept.keeps("copied-fedcba9876543210"));
        assert!(kept.keeps("libcopied-fedcba9876543210.rlib"));
    }
}

//! Source edits that are always undone, and never at the cost of a byte someone else wrote.
//!
//! Before the first change, the original bytes go into a journal under the target dir (with the
//! owner's pid), and before every change, the bytes the bench is about to write. A file is put
//! back on success, on error, on panic (`Drop`), on SIGINT / SIGTERM / SIGHUP (a signal thread),
//! and, after a SIGKILL, by the next bench run (journal replay, under the bench's lock, and only
//! for owners that are gone) — each time only if it still holds exactly the bench's edit. If it
//! holds anything else (someone restored it and wrote their own line), it is kept as it is and
//! the bench's original is saved beside it as `<file>.bench-orig`. Every write is a rename of a
//! complete file, under one lock, so a signal never meets a half-written source file.
//!
//! A file put back gets its original mtime too, so the user's next `cargo build` finds the
//! workspace's units fresh, unless a build wrote into the workspace's target dir while the edit
//! was on disk (it may have compiled the edit: the new mtime then makes cargo compile again).

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// A file being edited: where, its original bytes and mtime, what the bench last wrote, its
/// journal entry, when the edit began.
struct Active {
    path: PathBuf,
    original: Vec<u8>,
    mtime: Option<SystemTime>,
    edited: Option<Vec<u8>>,
    entry: PathBuf,
    began: SystemTime,
}

impl Active {
    /// Put the original back; with its mtime when no build in `target_dir` can have seen the
    /// edit.
    fn put_back(&self, scratch: &Path, target_dir: &Path) -> anyhow::Result<Restored> {
        let outcome = put_back(&self.path, &self.original, self.edited.as_deref(), scratch)?;
        if let (Restored::Original, Some(mtime)) = (&outcome, self.mtime) {
            if !built_since(target_dir, self.began) {
                let file = std::fs::File::options().write(true).open(&self.path);
                // Only a cost if it fails: the next build compiles the file again.
                let _ = file.and_then(|f| f.set_modified(mtime));
            }
        }
        Ok(outcome)
    }
}

/// Did a build write a fingerprint into one of `target_dir`'s profile dirs (`debug/`,
/// `<triple>/release/`, not the scratch target dirs deeper down) since `since`? A file's mtime
/// comes from a coarser clock than `SystemTime::now()`: a margin of 2 s keeps this on the safe
/// side.
fn built_since(target_dir: &Path, since: SystemTime) -> bool {
    let since = since - std::time::Duration::from_secs(2);
    let read = |dir: PathBuf| std::fs::read_dir(dir).into_iter().flatten().flatten();
    crate::cargo::profile_dirs(target_dir)
        .into_iter()
        .flat_map(|profile| read(profile.join(".fingerprint")))
        .flat_map(|unit| read(unit.path()))
        .any(|file| {
            file.metadata()
                .and_then(|m| m.modified())
                .map_or(true, |t| t >= since)
        })
}

static ACTIVE: Mutex<Vec<Active>> = Mutex::new(Vec::new());

fn lock() -> std::sync::MutexGuard<'static, Vec<Active>> {
    ACTIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Write `bytes` to `path` by renaming a complete file from `scratch` (same file system).
fn replace_file(path: &Path, bytes: &[u8], scratch: &Path) -> anyhow::Result<()> {
    let tmp = scratch.join(format!("write-{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    if std::fs::rename(&tmp, path).is_err() {
        // Another file system: no atomic rename; write in place.
        std::fs::remove_file(&tmp).ok();
        std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// What putting a file back did.
#[derive(Debug, PartialEq, Eq)]
pub enum Restored {
    /// It held the bench's edit: the original is back.
    Original,
    /// It already held the original (or the bench never wrote): nothing to do.
    Untouched,
    /// Someone edited it meanwhile: their edit is kept, the bench's line taken out.
    KeptYourEdit,
    /// It held something else, without the bench's line: kept; the bench's original is saved
    /// at this path.
    KeptYours(PathBuf),
    /// It held someone's edit and the bench's line reformatted (so not taken out): kept, and
    /// the line is named (see [`MARKER`]); the original is saved at this path.
    KeptWithBenchLine(PathBuf),
}

/// What every line the bench appends contains: a file holding it after a bench still has a line
/// of the bench's (see [`leftover`]).
pub const MARKER: &str = "__xtask_bench_edit";

/// The line (1-based) of `path` that holds the bench's marker, if any.
pub fn leftover(path: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().position(|l| l.contains(MARKER)).map(|i| i + 1)
}

/// `current` without the one line the bench appended (`edited` is `original` plus it).
fn without_bench_line(current: &[u8], original: &[u8], edited: &[u8]) -> Option<Vec<u8>> {
    let appended = edited.strip_prefix(original)?;
    let line: &[u8] = {
        let start = appended.iter().position(|&b| b != b'\n')?;
        &appended[start..]
    };
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    // The line at a line start, followed by its newline or the end of the file.
    let mut at = 0;
    while let Some(i) = find(&current[at..], body).map(|i| i + at) {
        let starts_line = i == 0 || current[i - 1] == b'\n';
        let end = i + body.len();
        let ends_line = end == current.len() || current[end] == b'\n';
        if starts_line && ends_line {
            let end = (end + 1).min(current.len());
            return Some([&current[..i], &current[end..]].concat());
        }
        at = i + 1;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    (needle.len() <= haystack.len())
        .then(|| haystack.windows(needle.len()).position(|w| w == needle))
        .flatten()
}

/// Put `original` back into `path` if it holds exactly `edited`; never overwrite other bytes.
fn put_back(
    path: &Path,
    original: &[u8],
    edited: Option<&[u8]>,
    scratch: &Path,
) -> anyhow::Result<Restored> {
    let current = std::fs::read(path).ok();
    if current.as_deref() == Some(original) {
        return Ok(Restored::Untouched);
    }
    if current.is_some() && current.as_deref() == edited {
        replace_file(path, original, scratch)?;
        return Ok(Restored::Original);
    }
    if edited.is_none() && current.is_none() {
        return Ok(Restored::Untouched);
    }
    if let (Some(current), Some(edited)) = (current.as_deref(), edited) {
        if let Some(theirs) = without_bench_line(current, original, edited) {
            replace_file(path, &theirs, scratch)?;
            return Ok(Restored::KeptYourEdit);
        }
    }
    let bench_line_left = current
        .as_deref()
        .is_some_and(|c| find(c, MARKER.as_bytes()).is_some());
    let mut saved = PathBuf::from(format!("{}.bench-orig", path.display()));
    let mut n = 1;
    while saved.exists() && std::fs::read(&saved).ok().as_deref() != Some(original) {
        n += 1;
        saved = PathBuf::from(format!("{}.bench-orig.{n}", path.display()));
    }
    std::fs::write(&saved, original)
        .with_context(|| format!("saving the original as {}", saved.display()))?;
    Ok(match bench_line_left {
        true => Restored::KeptWithBenchLine(saved),
        false => Restored::KeptYours(saved),
    })
}

/// Say what putting back did, for people.
pub fn report(path: &Path, outcome: &Restored, why: &str) {
    match outcome {
        Restored::Original => eprintln!("restored {} ({why})", path.display()),
        Restored::Untouched => {}
        Restored::KeptYourEdit => eprintln!(
            "kept your edit to {} ({why}) and took out the line the bench had appended",
            path.display()
        ),
        Restored::KeptYours(saved) => eprintln!(
            "kept {} as it is ({why}: it no longer holds the bench's edit, so it holds your work); \
             the file as it was before the bench is saved as {}",
            path.display(),
            saved.display()
        ),
        Restored::KeptWithBenchLine(saved) => eprintln!(
            "kept {} as it is ({why}: it holds your edit and the bench's line, changed so that it \
             cannot be taken out safely); delete the `{MARKER}` function at line {} by hand; the \
             file as it was before the bench is saved as {}",
            path.display(),
            leftover(path).unwrap_or(0),
            saved.display()
        ),
    }
}

/// The process that made a journal entry (`<pid>-<n>.path`).
fn owner(entry: &Path) -> u32 {
    entry
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.split('-').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// Edits under one journal folder, of files of the workspace at `root` that the builds in
/// `target_dir` compile.
#[derive(Clone)]
pub struct Editor {
    journal: PathBuf,
    root: PathBuf,
    target_dir: PathBuf,
}

impl Editor {
    /// Edits journaled under `journal` (made when the first edit starts).
    pub fn new(journal: PathBuf, root: PathBuf, target_dir: PathBuf) -> Editor {
        Editor {
            journal,
            root,
            target_dir,
        }
    }

    /// Is `path` a file of the workspace, where its path says (no link, no `..`), outside
    /// `.git` and the target dir? A journal lives in the target dir, which a restored cache can
    /// bring: an entry naming any other file is never written.
    fn workspace_file(&self, path: &Path) -> bool {
        let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let (root, target) = (real(&self.root), real(&self.target_dir));
        std::fs::canonicalize(path).is_ok_and(|file| {
            file == path
                && file.starts_with(&root)
                && !file.starts_with(root.join(".git"))
                && !file.starts_with(&target)
        })
    }

    /// The files earlier runs that are gone left edited (from the journal; nothing is read
    /// beyond it).
    pub fn left(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.journal)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "path"))
            .filter(|p| !crate::exec::other_process_alive(owner(p)))
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|t| PathBuf::from(t.trim_end_matches('\n')))
            .collect()
    }

    /// Put back what earlier, killed runs left edited (owners still alive are left alone).
    pub fn recover(&self) -> anyhow::Result<Vec<(PathBuf, Restored)>> {
        let mut done = Vec::new();
        if !self.journal.is_dir() {
            return Ok(done);
        }
        for entry in std::fs::read_dir(&self.journal)
            .with_context(|| format!("reading {}", self.journal.display()))?
        {
            let entry = entry?.path();
            if entry.extension().is_none_or(|e| e != "path") {
                continue;
            }
            if crate::exec::other_process_alive(owner(&entry)) {
                continue;
            }
            let target = PathBuf::from(
                std::fs::read_to_string(&entry)
                    .with_context(|| format!("reading {}", entry.display()))?
                    .trim_end_matches('\n'),
            );
            if !self.workspace_file(&target) {
                eprintln!(
                    "warning: {} names {}, no file of the workspace: skipped, and removed",
                    entry.display(),
                    target.display()
                );
                for ext in ["orig", "edited", "path"] {
                    let _ = std::fs::remove_file(entry.with_extension(ext));
                }
                continue;
            }
            let original_file = entry.with_extension("orig");
            let original = std::fs::read(&original_file).with_context(|| {
                format!("reading the saved original {}", original_file.display())
            })?;
            let edited = std::fs::read(entry.with_extension("edited")).ok();
            let outcome = put_back(&target, &original, edited.as_deref(), &self.journal)?;
            for ext in ["orig", "edited", "path"] {
                let _ = std::fs::remove_file(entry.with_extension(ext));
            }
            done.push((target, outcome));
        }
        Ok(done)
    }

    /// Start editing `path`; the returned guard puts it back when dropped.
    pub fn edit(&self, path: &Path) -> anyhow::Result<EditGuard> {
        let mut active = lock();
        if active.iter().any(|a| a.path == path) {
            anyhow::bail!("{} is already being edited", path.display());
        }
        let began = SystemTime::now();
        let original =
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        std::fs::create_dir_all(&self.journal)
            .with_context(|| format!("creating {}", self.journal.display()))?;
        let entry = self
            .journal
            .join(format!("{}-{}", std::process::id(), active.len()));
        let orig = entry.with_extension("orig");
        std::fs::write(&orig, &original).with_context(|| format!("writing {}", orig.display()))?;
        let record = entry.with_extension("path");
        std::fs::write(&record, path.display().to_string())
            .with_context(|| format!("writing {}", record.display()))?;
        active.push(Active {
            path: path.to_path_buf(),
            original: original.clone(),
            mtime,
            edited: None,
            entry,
            began,
        });
        Ok(EditGuard {
            path: path.to_path_buf(),
            original,
            scratch: self.journal.clone(),
            target_dir: self.target_dir.clone(),
        })
    }
}

pub struct EditGuard {
    path: PathBuf,
    original: Vec<u8>,
    scratch: PathBuf,
    target_dir: PathBuf,
}

impl EditGuard {
    /// The file as it was, plus `line` appended: a real source change.
    pub fn append(&self, line: &str) -> anyhow::Result<()> {
        let mut bytes = self.original.clone();
        if !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        let mut active = lock();
        let current = active
            .iter_mut()
            .find(|a| a.path == self.path)
            .expect("being edited");
        // Journal what is about to be written first: a kill between the two leaves the file
        // holding either the original or exactly this.
        let edited = current.entry.with_extension("edited");
        std::fs::write(&edited, &bytes).with_context(|| format!("writing {}", edited.display()))?;
        current.edited = Some(bytes.clone());
        replace_file(&self.path, &bytes, &self.scratch)
    }
}

impl Drop for EditGuard {
    fn drop(&mut self) {
        let mut active = lock();
        if let Some(i) = active.iter().position(|a| a.path == self.path) {
            let a = active.remove(i);
            match a.put_back(&self.scratch, &self.target_dir) {
                Ok(outcome) => report(&a.path, &outcome, "after the run"),
                Err(e) => {
                    eprintln!(
                        "error: could not put back {}: {e:#}; its original is kept in {}",
                        a.path.display(),
                        a.entry.with_extension("orig").display()
                    );
                    return;
                }
            }
            for ext in ["orig", "edited", "path"] {
                let _ = std::fs::remove_file(a.entry.with_extension(ext));
            }
        }
    }
}

/// Put back every edited file now (from the signal thread), then exit with 128 + `signal`.
fn restore_all_and_exit(signal: i32, editor: &Editor) -> ! {
    let mut active = lock();
    let mut failed = false;
    for a in active.drain(..) {
        match a.put_back(&editor.journal, &editor.target_dir) {
            Ok(outcome) => {
                eprintln!();
                report(&a.path, &outcome, "interrupted");
                for ext in ["orig", "edited", "path"] {
                    let _ = std::fs::remove_file(a.entry.with_extension(ext));
                }
            }
            Err(e) => {
                failed = true;
                eprintln!(
                    "\ninterrupted: could not put back {} ({e:#}); the next bench run will",
                    a.path.display()
                );
            }
        }
    }
    std::process::exit(if failed { 1 } else { 128 + signal });
}

/// On SIGINT, SIGTERM or SIGHUP: restore every edited file, then exit.
pub fn restore_on_signals(editor: &Editor) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("installing signal handlers")?;
    let editor = editor.clone();
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            restore_all_and_exit(signal, &editor);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        crate::test_support::scratch(&format!("edit-{name}"))
    }

    #[test]
    fn drop_restores_the_exact_bytes() {
        let dir = scratch("drop");
        let file = dir.join("lib.rs");
        std::fs::write(&file, b"fn a() {}").unwrap(); // no trailing newline
        let editor = Editor::new(dir.join("journal"), dir.clone(), dir.join("target"));
        {
            let guard = editor.edit(&file).unwrap();
            guard.append("fn b() {}").unwrap();
            assert_eq!(
                std::fs::read_to_string(&file).unwrap(),
                "fn a() {}\nfn b() {}\n"
            );
            guard.append("fn c() {}").unwrap();
            assert_eq!(
                std::fs::read_to_string(&file).unwrap(),
                "fn a() {}\nfn c() {}\n",
                "edits replace, not pile up"
            );
        }
        assert_eq!(std::fs::read(&file).unwrap(), b"fn a() {}");
        assert_eq!(
            std::fs::read_dir(dir.join("journal")).unwrap().count(),
            0,
            "journal emptied"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Put back with its mtime, so the workspace's units stay fresh; but not when a build wrote
    /// into the workspace's target dir while the edit was on disk (it may have compiled it).
    #[test]
    fn the_original_mtime_comes_back_unless_a_build_may_have_seen_the_edit() {
        let dir = scratch("mtime");
        let file = dir.join("lib.rs");
        std::fs::write(&file, "fn a() {}\n").unwrap();
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let set_old = || {
            let f = std::fs::File::options().write(true).open(&file).unwrap();
            f.set_modified(old).unwrap();
        };
        let mtime = || std::fs::metadata(&file).unwrap().modified().unwrap();
        let unit = dir.join("target/debug/.fingerprint/lib-0123456789abcdef");
        std::fs::create_dir_all(&unit).unwrap();
        std::fs::write(unit.join("lib-lib"), "before").unwrap();
        let built_long_ago = std::fs::File::options()
            .write(true)
            .open(unit.join("lib-lib"));
        built_long_ago.unwrap().set_modified(old).unwrap();
        let deeper = dir.join("target/xtask/bench/target/debug/.fingerprint/lib-1");
        std::fs::create_dir_all(&deeper).unwrap();
        let editor = Editor::new(dir.join("journal"), dir.clone(), dir.join("target"));
        set_old();
        {
            let guard = editor.edit(&file).unwrap();
            guard.append("fn b() {}").unwrap();
            // The bench's own builds, in a scratch target dir deeper down, do not count.
            std::fs::write(deeper.join("lib-lib"), "bench").unwrap();
        }
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "fn a() {}\n");
        assert_eq!(mtime(), old, "no build saw the edit: the mtime is back");

        set_old();
        {
            let guard = editor.edit(&file).unwrap();
            guard.append("fn b() {}").unwrap();
            std::fs::write(unit.join("lib-lib"), "a build during the bench").unwrap();
        }
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "fn a() {}\n");
        assert!(
            mtime() > old,
            "a build may have compiled the edit: a new mtime"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A journal comes with the target dir, which a restored cache can bring: an entry naming
    /// a file outside the workspace (or reached through a link) is skipped, never written.
    #[test]
    fn a_journal_entry_naming_a_file_outside_the_workspace_is_never_written() {
        let dir = scratch("foreign");
        let (ws, outside) = (dir.join("ws"), dir.join("victim.txt"));
        std::fs::create_dir_all(ws.join("src")).unwrap();
        std::fs::write(&outside, "the user's file\n").unwrap();
        std::os::unix::fs::symlink(&outside, ws.join("src/link.rs")).unwrap();
        let journal = ws.join("target/journal");
        std::fs::create_dir_all(&journal).unwrap();
        for (i, named) in [
            outside.clone(),
            ws.join("../victim.txt"),
            ws.join("src/link.rs"),
        ]
        .iter()
        .enumerate()
        {
            // Owner pid 0: gone. The bytes "edited" are the file's own: a put-back would write.
            let entry = journal.join(format!("0-{i}"));
            std::fs::write(entry.with_extension("path"), named.display().to_string()).unwrap();
            std::fs::write(entry.with_extension("orig"), "an attacker's bytes\n").unwrap();
            std::fs::write(entry.with_extension("edited"), "the user's file\n").unwrap();
        }
        let editor = Editor::new(journal.clone(), ws.clone(), ws.join("target"));
        assert_eq!(editor.left().len(), 3);
        assert!(editor.recover().unwrap().is_empty());
        assert_eq!(
            std::fs::read_to_string(&outside).unwrap(),
            "the user's file\n"
        );
        assert!(editor.left().is_empty(), "the entries are gone");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_panic_restores_too() {
        let dir = scratch("panic");
        let file = dir.join("main.rs");
        std::fs::write(&file, "fn main() {}\n").unwrap();
        let editor = Editor::new(dir.join("journal"), dir.clone(), dir.join("target"));
        let result = std::panic::catch_unwind(|| {
            let guard = editor.edit(&file).unwrap();
            guard.append("// edited").unwrap();
            panic!("build exploded");
        });
        assert!(result.is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "fn main() {}\n");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Make the journal's entries belong to `pid` (a process that does not exist).
    fn rename_owner(journal: &Path, pid: u32) {
        for entry in std::fs::read_dir(journal).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let rest = name.split_once('-').unwrap().1;
            std::fs::rename(&path, journal.join(format!("{pid}-{rest}"))).unwrap();
        }
    }

    #[test]
    fn a_users_edit_after_a_kill_is_kept_and_the_original_saved_beside_it() {
        let dir = scratch("yours");
        let file = dir.join("lib.rs");
        std::fs::write(&file, "original\n").unwrap();
        let editor = Editor::new(dir.join("journal"), dir.clone(), dir.join("target"));
        let guard = editor.edit(&file).unwrap();
        guard.append("bench line").unwrap();
        std::mem::forget(guard);
        lock().retain(|a| a.path != file);
        rename_owner(&dir.join("journal"), 999_999_998);
        // The user put the file back by hand and added a line of their own.
        std::fs::write(&file, "original\nmy own line\n").unwrap();
        let done = editor.recover().unwrap();
        let saved = PathBuf::from(format!("{}.bench-orig", file.display()));
        assert_eq!(
            done,
            vec![(file.clone(), Restored::KeptYours(saved.clone()))]
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "original\nmy own line\n"
        );
        assert_eq!(std::fs::read_to_string(&saved).unwrap(), "original\n");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_killed_run_is_recovered_from_the_journal() {
        let dir = scratch("recover");
        let file = dir.join("lib.rs");
        std::fs::write(&file, "original\n").unwrap();
        let editor = Editor::new(dir.join("journal"), dir.clone(), dir.join("target"));
        let guard = editor.edit(&file).unwrap();
        guard.append("edited").unwrap();
        std::mem::forget(guard); // as if the process died here
        lock().retain(|a| a.path != file);
        // Owned by a live process (pid 1): a bench beside a live one leaves it alone.
        rename_owner(&dir.join("journal"), 1);
        assert!(editor.recover().unwrap().is_empty());
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "original\nedited\n"
        );
        rename_owner(&dir.join("journal"), 999_999_999);
        assert_eq!(
            editor.recover().unwrap(),
            vec![(file.clone(), Restored::Original)]
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "original\n");
        assert!(editor.recover().unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_users_edit_during_a_run_is_kept_without_the_bench_line() {
        let dir = scratch("during");
        let file = dir.join("lib.rs");
        std::fs::write(&file, "fn a() {}").unwrap(); // no trailing newline
        let editor = Editor::new(dir.join("journal"), dir.clone(), dir.join("target"));
        let guard = editor.edit(&file).unwrap();
        guard.append("fn __xtask_bench_edit() {}").unwrap();
        // The user saves the file with a line of theirs below, and one above.
        std::fs::write(
            &file,
            "// mine above\nfn a() {}\nfn __xtask_bench_edit() {}\nfn mine() {}\n",
        )
        .unwrap();
        drop(guard);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "// mine above\nfn a() {}\nfn mine() {}\n"
        );
        assert_eq!(leftover(&file), None);
        assert!(!PathBuf::from(format!("{}.bench-orig", file.display())).exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_reformatted_bench_line_is_named_not_guessed_at() {
        let dir = scratch("reformatted");
        let file = dir.join("lib.rs");
        std::fs::write(&file, "fn a() {}\n").unwrap();
        let editor = Editor::new(dir.join("journal"), dir.clone(), dir.join("target"));
        let guard = editor.edit(&file).unwrap();
        guard.append("fn __xtask_bench_edit() { 1 }").unwrap();
        // rustfmt on save split the bench's line.
        std::fs::write(
            &file,
            "fn a() {}\nfn __xtask_bench_edit() {\n    1\n}\nfn mine() {}\n",
        )
        .unwrap();
        let (path, original, edited) = {
            let active = lock();
            let a = active.iter().find(|a| a.path == file).unwrap();
            (a.path.clone(), a.original.clone(), a.edited.clone())
        };
        let outcome = put_back(&path, &original, edited.as_deref(), &dir).unwrap();
        assert!(
            matches!(outcome, Restored::KeptWithBenchLine(_)),
            "{outcome:?}"
        );
        assert_eq!(leftover(&file), Some(2));
        std::mem::forget(guard);
        lock().retain(|a| a.path != file);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

//! Source edits that are always undone.
//!
//! The original bytes are kept in memory and in a journal under the target dir before the
//! first change, and put back on success, on error, on panic (`Drop`), on SIGINT / SIGTERM /
//! SIGHUP (a signal thread), and, after a SIGKILL, by the next bench run (journal replay).
//! Every write, edit or restore, is a rename of a complete file, under one lock, so a signal
//! never meets a half-written source file.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Files currently edited: (path, original bytes, journal entry).
static ACTIVE: Mutex<Vec<(PathBuf, Vec<u8>, PathBuf)>> = Mutex::new(Vec::new());

fn lock() -> std::sync::MutexGuard<'static, Vec<(PathBuf, Vec<u8>, PathBuf)>> {
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

/// Edits under one journal folder.
#[derive(Clone)]
pub struct Editor {
    journal: PathBuf,
}

impl Editor {
    /// Edits journaled under `journal` (made when the first edit starts).
    pub fn new(journal: PathBuf) -> Editor {
        Editor { journal }
    }

    /// Put back every file a previous, killed run left edited. Returns the files restored.
    pub fn recover(&self) -> anyhow::Result<Vec<PathBuf>> {
        let mut restored = Vec::new();
        if !self.journal.is_dir() {
            return Ok(restored);
        }
        for entry in std::fs::read_dir(&self.journal)? {
            let entry = entry?.path();
            if entry.extension().is_some_and(|e| e == "path") {
                let target = PathBuf::from(std::fs::read_to_string(&entry)?.trim_end_matches('\n'));
                let original = entry.with_extension("orig");
                let bytes = std::fs::read(&original).with_context(|| {
                    format!("reading the saved original {}", original.display())
                })?;
                replace_file(&target, &bytes, &self.journal)?;
                std::fs::remove_file(&original)?;
                std::fs::remove_file(&entry)?;
                restored.push(target);
            }
        }
        Ok(restored)
    }

    /// Start editing `path`; the returned guard restores it when dropped.
    pub fn edit(&self, path: &Path) -> anyhow::Result<EditGuard> {
        let mut active = lock();
        if active.iter().any(|(p, _, _)| p == path) {
            anyhow::bail!("{} is already being edited", path.display());
        }
        let original =
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        std::fs::create_dir_all(&self.journal)
            .with_context(|| format!("creating {}", self.journal.display()))?;
        let entry = self
            .journal
            .join(format!("{}-{}", std::process::id(), active.len()));
        std::fs::write(entry.with_extension("orig"), &original)?;
        std::fs::write(entry.with_extension("path"), path.display().to_string())?;
        active.push((path.to_path_buf(), original.clone(), entry));
        Ok(EditGuard {
            path: path.to_path_buf(),
            original,
            scratch: self.journal.clone(),
        })
    }
}

pub struct EditGuard {
    path: PathBuf,
    original: Vec<u8>,
    scratch: PathBuf,
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
        let _active = lock();
        replace_file(&self.path, &bytes, &self.scratch)
    }
}

impl Drop for EditGuard {
    fn drop(&mut self) {
        let mut active = lock();
        if let Some(i) = active.iter().position(|(p, _, _)| p == &self.path) {
            let (path, original, entry) = active.remove(i);
            if let Err(e) = replace_file(&path, &original, &self.scratch) {
                eprintln!(
                    "error: could not restore {}: {e:#}; its original is kept in {}",
                    path.display(),
                    entry.display()
                );
                return;
            }
            let _ = std::fs::remove_file(entry.with_extension("orig"));
            let _ = std::fs::remove_file(entry.with_extension("path"));
        }
    }
}

/// Restore every edited file now (from the signal thread), then exit with 128 + `signal`.
fn restore_all_and_exit(signal: i32, scratch: &Path) -> ! {
    let mut active = lock();
    let mut failed = false;
    for (path, original, entry) in active.drain(..) {
        match replace_file(&path, &original, scratch) {
            Ok(()) => {
                let _ = std::fs::remove_file(entry.with_extension("orig"));
                let _ = std::fs::remove_file(entry.with_extension("path"));
                eprintln!("\ninterrupted: restored {}", path.display());
            }
            Err(e) => {
                failed = true;
                eprintln!(
                    "\ninterrupted: could not restore {} ({e:#}); the next bench run will",
                    path.display()
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
    let scratch = editor.journal.clone();
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            restore_all_and_exit(signal, &scratch);
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
        let editor = Editor::new(dir.join("journal"));
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

    #[test]
    fn a_panic_restores_too() {
        let dir = scratch("panic");
        let file = dir.join("main.rs");
        std::fs::write(&file, "fn main() {}\n").unwrap();
        let editor = Editor::new(dir.join("journal"));
        let result = std::panic::catch_unwind(|| {
            let guard = editor.edit(&file).unwrap();
            guard.append("// edited").unwrap();
            panic!("build exploded");
        });
        assert!(result.is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "fn main() {}\n");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_killed_run_is_recovered_from_the_journal() {
        let dir = scratch("recover");
        let file = dir.join("lib.rs");
        std::fs::write(&file, "original\n").unwrap();
        let editor = Editor::new(dir.join("journal"));
        let guard = editor.edit(&file).unwrap();
        guard.append("edited").unwrap();
        std::mem::forget(guard); // as if the process died here
        lock().retain(|(p, _, _)| p != &file);
        assert_eq!(editor.recover().unwrap(), vec![file.clone()]);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "original\n");
        assert!(editor.recover().unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

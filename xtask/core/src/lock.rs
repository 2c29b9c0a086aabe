//! One lock per output (dist/, a bench's target dir and journal, ci_optims/), held for the
//! command's life: a second command waits, saying for what and for whom, or fails at once with
//! `--no-wait`. The lock is the operating system's file lock (`flock`), so a lock whose process
//! died (even by `kill -9`) is free again: nothing to clean up, nothing to take over by hand.

use anyhow::{bail, Context};
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// Held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Take the lock at `path` (made if missing) for `what`; wait for it unless `no_wait`.
pub fn acquire(path: &Path, what: &str, no_wait: bool) -> anyhow::Result<Lock> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("opening the lock {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() {
                "another cargo xtask".to_string()
            } else {
                holder.to_string()
            };
            if no_wait {
                bail!(
                    "{what} is in use by {holder} (lock {}); wait for it to finish, or run again without --no-wait to wait",
                    path.display()
                );
            }
            eprintln!(
                "waiting for {what}: in use by {holder} (lock {})",
                path.display()
            );
            file.lock()
                .with_context(|| format!("waiting for the lock {}", path.display()))?;
            eprintln!("got {what}");
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    let me = format!(
        "cargo xtask (pid {}: {})\n",
        std::process::id(),
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    file.set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| file.write_all(me.as_bytes()))
        .with_context(|| format!("writing the lock {}", path.display()))?;
    Ok(Lock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_or_is_refused_and_a_dropped_lock_is_free() {
        let dir = crate::test_support::scratch("lock");
        let path = dir.join("dist.lock");
        let first = acquire(&path, "dist/", true).unwrap();
        let err = acquire(&path, "dist/", true).unwrap_err().to_string();
        assert!(err.contains("dist/ is in use by cargo xtask (pid"), "{err}");
        assert!(err.contains("--no-wait"), "{err}");
        // A waiter gets it as soon as the holder is gone.
        let waiter = std::thread::spawn({
            let path = path.clone();
            move || acquire(&path, "dist/", false).map(|_| ())
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(first);
        waiter.join().unwrap().unwrap();
        acquire(&path, "dist/", true).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}

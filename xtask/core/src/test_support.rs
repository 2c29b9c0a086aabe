//! Helpers of the unit tests.

use std::path::PathBuf;

/// An empty folder of its own for one test (`<tmp>/xtask-<name>-<pid>`), made anew.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

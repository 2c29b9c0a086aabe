//! Packaging production artifacts into `dist/`: binaries per target, `manifest.json`,
//! `SHA256SUMS`. Everything is written into a staging folder that replaces `dist/` only once it
//! is complete, so a failed or interrupted build leaves the previous `dist/` as it was.

use crate::hash::sha256_file;
use crate::workspace::GitState;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A binary cargo built, before packaging.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub name: String,
    pub version: String,
    pub target: String,
    pub path: PathBuf,
    /// Seconds from the start of the cargo run until this binary was linked.
    pub build_seconds: f64,
}

/// What the artifacts were built from.
pub struct Provenance {
    pub git: Option<GitState>,
    pub rustc: String,
    pub profile: String,
}

pub const MANIFEST_SCHEMA: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    pub created: String,
    pub artifacts: Vec<ManifestEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub name: String,
    pub version: String,
    pub commit: Option<String>,
    pub dirty: Option<bool>,
    pub target: String,
    pub profile: String,
    /// Relative to the dist folder.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub build_seconds: f64,
    pub rustc: String,
    pub created: String,
}

pub fn staging_dir(dist: &Path) -> PathBuf {
    dist.with_file_name(format!("{}.staging", file_name(dist)))
}

fn previous_dir(dist: &Path) -> PathBuf {
    dist.with_file_name(format!("{}.previous", file_name(dist)))
}

/// The lock two production builds take before touching `dist` (see `lock`).
pub fn lock_file(dist: &Path) -> PathBuf {
    dist.with_file_name(format!("{}.lock", file_name(dist)))
}

/// The file every folder this tool makes for artifacts carries: only such a folder is replaced.
pub const MARKER: &str = ".xtask-dist";

/// What the workspace is made of, for [`check_place`].
pub struct Surroundings<'a> {
    pub root: &'a Path,
    pub target_dir: &'a Path,
    pub member_dirs: Vec<PathBuf>,
    /// Is anything under this folder tracked by git?
    pub tracked: &'a dyn Fn(&Path) -> bool,
}

/// Refuse, before anything is built or written, a dist dir (from config or flags) that this tool
/// must not replace: anything but a folder inside the workspace that is absent or was made by
/// this tool, and is not the root, a parent, `target/`, a member, or tracked by git. The same
/// for its staging and previous folders.
pub fn check_place(configured: &str, dist: &Path, around: &Surroundings) -> anyhow::Result<()> {
    // An example that is not the setting the user already has.
    let example = if configured == "dist" {
        "out/dist"
    } else {
        "dist"
    };
    let refuse = |why: String| -> anyhow::Result<()> {
        bail!(
            "dist-dir `{configured}` ({}) {why}; fix: set [workspace.metadata.xtask] dist-dir to a \
             new folder inside the workspace, e.g. \"{example}\"",
            dist.display()
        )
    };
    let rel = Path::new(configured);
    if configured.trim().is_empty()
        || rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return refuse("is not a plain relative path inside the workspace".into());
    }
    if leaves(around.root, dist) {
        return refuse("leads outside the workspace through a symbolic link".into());
    }
    let covers = |other: &Path| other.starts_with(dist);
    if covers(around.root) {
        return refuse("is the workspace root".into());
    }
    if covers(around.target_dir) {
        return refuse("is (or holds) cargo's target dir".into());
    }
    if let Some(member) = around.member_dirs.iter().find(|m| covers(m)) {
        return refuse(format!("is (or holds) the member {}", member.display()));
    }
    if (around.tracked)(dist) {
        return refuse("holds files tracked by git".into());
    }
    for place in [dist.to_path_buf(), staging_dir(dist), previous_dir(dist)] {
        let what = if place.is_symlink() {
            "a symbolic link"
        } else if place.exists() && !place.is_dir() {
            "a file, not a folder"
        } else {
            ""
        };
        if !what.is_empty() {
            bail!(
                "dist-dir `{configured}` cannot be used: {} is {what}, and the build makes that folder itself; fix: remove {} (it is yours: move what it holds first), or set [workspace.metadata.xtask] dist-dir to another new folder, e.g. \"{example}\"",
                place.display(),
                place.display()
            );
        }
        if place.is_dir() && !made_here(&place) {
            return refuse(format!(
                "cannot be replaced: {} was not made by cargo xtask (no {MARKER} in it); move it away first",
                place.display()
            ));
        }
    }
    Ok(())
}

/// Does `path` (absolute, inside `root` by its name) resolve outside `root`: does its deepest
/// existing folder, links followed, lie elsewhere?
pub fn leaves(root: &Path, path: &Path) -> bool {
    let Ok(root) = root.canonicalize() else {
        return true;
    };
    path.ancestors()
        .find_map(|p| p.canonicalize().ok())
        .is_none_or(|real| !real.starts_with(&root))
}

/// Made by this tool: it has the marker (or, from before the marker, its manifest and sums).
fn made_here(dir: &Path) -> bool {
    dir.join(MARKER).is_file()
        || (dir.join("manifest.json").is_file() && dir.join("SHA256SUMS").is_file())
        || std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dist".into())
}

/// Copy `artifacts` into `staging`, write the manifest and sums, then swap it in as `dist`.
pub fn package(
    artifacts: &[Artifact],
    staging: &Path,
    dist: &Path,
    meta: &Provenance,
) -> anyhow::Result<Manifest> {
    if artifacts.is_empty() {
        bail!(
            "the build produced no binary, so {} was left as it was",
            dist.display()
        );
    }
    if staging.exists() {
        std::fs::remove_dir_all(staging)
            .with_context(|| format!("removing stale {}", staging.display()))?;
    }
    std::fs::create_dir_all(staging).with_context(|| format!("creating {}", staging.display()))?;
    match fill(artifacts, staging, meta) {
        Ok(manifest) => {
            swap_in(staging, dist)?;
            Ok(manifest)
        }
        Err(e) => {
            // A full disk must not stay full: the half-made folder goes, `dist/` is as it was.
            let _ = std::fs::remove_dir_all(staging);
            Err(e.context(format!(
                "{} was left as it was (the half-made {} is removed)",
                dist.display(),
                staging.display()
            )))
        }
    }
}

/// The staging folder's content: the artifacts, the manifest, the sums.
fn fill(artifacts: &[Artifact], staging: &Path, meta: &Provenance) -> anyhow::Result<Manifest> {
    std::fs::write(
        staging.join(MARKER),
        "Made by `cargo xtask build --variant production`, which replaces this folder whole.\n",
    )
    .with_context(|| format!("writing {}", staging.join(MARKER).display()))?;
    let created = crate::render::utc_now();
    let mut entries = Vec::new();
    for a in artifacts {
        // Cargo's own file name: `name`, or `name.exe` for Windows.
        let file = a
            .path
            .file_name()
            .map_or_else(|| a.name.clone(), |f| f.to_string_lossy().into_owned());
        let rel = format!("{}/{file}", a.target);
        let dest = staging.join(&rel);
        std::fs::create_dir_all(dest.parent().expect("has a parent"))
            .with_context(|| format!("creating {}", staging.display()))?;
        std::fs::copy(&a.path, &dest)
            .with_context(|| format!("copying {} to {}", a.path.display(), dest.display()))?;
        entries.push(ManifestEntry {
            name: a.name.clone(),
            version: a.version.clone(),
            commit: meta.git.as_ref().map(|g| g.commit.clone()),
            dirty: meta.git.as_ref().map(|g| g.dirty),
            target: a.target.clone(),
            profile: meta.profile.clone(),
            path: rel,
            size: std::fs::metadata(&dest)?.len(),
            sha256: sha256_file(&dest)?,
            build_seconds: (a.build_seconds * 10.0).round() / 10.0,
            rustc: meta.rustc.clone(),
            created: created.clone(),
        });
    }
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA,
        created,
        artifacts: entries,
    };
    std::fs::write(
        staging.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )
    .context("writing manifest.json")?;
    // The format `sha256sum -c` reads: run it from inside the dist folder.
    let sums: String = manifest
        .artifacts
        .iter()
        .map(|e| format!("{}  {}\n", e.sha256, e.path))
        .collect();
    std::fs::write(staging.join("SHA256SUMS"), sums).context("writing SHA256SUMS")?;
    Ok(manifest)
}

/// Replace `dist` by `staging` with renames: at every moment one complete folder exists, and a
/// run interrupted between the two renames is finished by the next (its `previous` is the last
/// complete dist).
fn swap_in(staging: &Path, dist: &Path) -> anyhow::Result<()> {
    let previous = previous_dir(dist);
    settle_previous(dist)?;
    if dist.exists() {
        std::fs::rename(dist, &previous).with_context(|| {
            format!("moving {} aside to {}", dist.display(), previous.display())
        })?;
    }
    std::fs::rename(staging, dist)
        .with_context(|| format!("moving {} to {}", staging.display(), dist.display()))?;
    if previous.exists() {
        std::fs::remove_dir_all(&previous)
            .with_context(|| format!("removing {}", previous.display()))?;
    }
    Ok(())
}

/// A `previous` folder a run stopped during its swap left: removed when `dist` is whole (the
/// run stopped after its swap), else put back as `dist` (it is the last complete one). What was
/// done, for people.
fn settle_previous(dist: &Path) -> anyhow::Result<Option<String>> {
    let previous = previous_dir(dist);
    if !previous.join(MARKER).is_file() {
        return Ok(None);
    }
    if dist.exists() {
        std::fs::remove_dir_all(&previous)
            .with_context(|| format!("removing the old {}", previous.display()))?;
        return Ok(Some(format!(
            "removed {}, the old dist a stopped build left",
            previous.display()
        )));
    }
    std::fs::rename(&previous, dist)
        .with_context(|| format!("putting back {} as {}", previous.display(), dist.display()))?;
    Ok(Some(format!(
        "put {} back as {}: a build stopped between its renames",
        previous.display(),
        dist.display()
    )))
}

/// Does a build that could not clean up (killed, power lost) seem to have left something beside
/// `dist` (its staging or previous folder)?
pub fn left_over(dist: &Path) -> bool {
    [staging_dir(dist), previous_dir(dist)]
        .iter()
        .any(|d| d.join(MARKER).is_file())
}

/// Settle what such a build left (the caller holds the dist lock): its previous folder (see
/// [`settle_previous`]), its half-made staging folder removed. What was done, for people.
pub fn settle(dist: &Path) -> anyhow::Result<Vec<String>> {
    let mut done: Vec<String> = settle_previous(dist)?.into_iter().collect();
    let staging = staging_dir(dist);
    if staging.join(MARKER).is_file() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("removing {}", staging.display()))?;
        done.push(format!(
            "removed {}, half-made by a build that was stopped",
            staging.display()
        ));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        crate::test_support::scratch(&format!("dist-{name}"))
    }

    #[test]
    fn package_replaces_dist_whole() {
        let dir = scratch("pkg");
        let bin = dir.join("tool");
        std::fs::write(&bin, "binary").unwrap();
        let dist = dir.join("dist");
        std::fs::create_dir_all(dist.join("old-target")).unwrap();
        let artifacts = [Artifact {
            name: "tool".into(),
            version: "1.0.0".into(),
            target: "x86_64-unknown-linux-gnu".into(),
            path: bin,
            build_seconds: 1.26,
        }];
        let meta = Provenance {
            git: None,
            rustc: "rustc 1.95.0".into(),
            profile: "production".into(),
        };
        let manifest = package(&artifacts, &staging_dir(&dist), &dist, &meta).unwrap();
        assert_eq!(manifest.artifacts[0].build_seconds, 1.3);
        assert!(
            !dist.join("old-target").exists(),
            "the previous dist is replaced, not merged"
        );
        assert!(!staging_dir(&dist).exists() && !previous_dir(&dist).exists());
        let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
        assert_eq!(
            sums,
            format!(
                "{}  x86_64-unknown-linux-gnu/tool\n",
                sha256_file(&dist.join("x86_64-unknown-linux-gnu/tool")).unwrap()
            )
        );
        let read: Manifest =
            serde_json::from_str(&std::fs::read_to_string(dist.join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(read.artifacts[0].size, 6);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn around<'a>(
        root: &'a Path,
        target: &'a Path,
        tracked: &'a dyn Fn(&Path) -> bool,
    ) -> Surroundings<'a> {
        Surroundings {
            root,
            target_dir: target,
            member_dirs: vec![root.join("crates/app")],
            tracked,
        }
    }

    #[test]
    fn dangerous_dist_dirs_are_refused_before_anything_is_written() {
        let dir = scratch("place");
        let (root, target) = (dir.clone(), dir.join("target"));
        std::fs::create_dir_all(root.join("scripts")).unwrap();
        std::fs::write(root.join("scripts/run.sh"), "keep").unwrap();
        let tracked = |p: &Path| p.ends_with("scripts");
        let check =
            |value: &str| check_place(value, &root.join(value), &around(&root, &target, &tracked));
        for (value, why) in [
            ("", "not a plain relative path"),
            (".", "not a plain relative path"),
            ("..", "not a plain relative path"),
            ("/tmp", "not a plain relative path"),
            ("target", "target dir"),
            ("crates", "member"),
            ("crates/app", "member"),
            ("scripts", "tracked by git"),
        ] {
            let err = check(value).unwrap_err().to_string();
            assert!(
                err.contains(why) && err.contains("fix:"),
                "{value:?}: {err}"
            );
        }
        // A folder of the user's, a file, a stale staging folder of someone else's: refused.
        std::fs::create_dir_all(root.join("mine")).unwrap();
        std::fs::write(root.join("mine/notes.txt"), "keep").unwrap();
        assert!(check("mine")
            .unwrap_err()
            .to_string()
            .contains("not made by cargo xtask"));
        std::fs::write(root.join("afile"), "x").unwrap();
        assert!(check("afile")
            .unwrap_err()
            .to_string()
            .contains("is a file"));
        std::fs::write(root.join("out.previous"), "x").unwrap();
        assert!(check("out")
            .unwrap_err()
            .to_string()
            .contains("out.previous is a file"));
        // A link out of the workspace, above the dist dir or as it.
        let outside = scratch("place-outside");
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        assert!(check("out/dist")
            .unwrap_err()
            .to_string()
            .contains("symbolic link"));
        assert!(check("out")
            .unwrap_err()
            .to_string()
            .contains("symbolic link"));
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
        std::fs::remove_dir_all(outside).unwrap();
        // The fix never repeats the setting: a `dist` that is a link is not told to be "dist".
        std::fs::create_dir_all(root.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere"), root.join("dist")).unwrap();
        let err = check("dist").unwrap_err().to_string();
        assert!(
            err.contains("fix: remove") && !err.contains("e.g. \"dist\""),
            "{err}"
        );
        std::fs::remove_file(root.join("dist")).unwrap();
        // Absent, or made here: fine.
        check("dist").unwrap();
        std::fs::create_dir_all(root.join("dist")).unwrap();
        std::fs::write(root.join("dist").join(MARKER), "").unwrap();
        std::fs::write(root.join("dist/x"), "").unwrap();
        check("dist").unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("scripts/run.sh")).unwrap(),
            "keep"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_swap_interrupted_between_its_renames_keeps_the_previous_dist() {
        let dir = scratch("swap");
        let dist = dir.join("dist");
        // As left by a run killed after `dist -> dist.previous`, before `staging -> dist`.
        std::fs::create_dir_all(previous_dir(&dist)).unwrap();
        std::fs::write(previous_dir(&dist).join("old"), "previous build").unwrap();
        let staging = staging_dir(&dist);
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join("new"), "this build").unwrap();
        swap_in(&staging, &dist).unwrap();
        assert_eq!(
            std::fs::read_to_string(dist.join("new")).unwrap(),
            "this build"
        );
        assert!(!previous_dir(&dist).exists() && !staging.exists());
        // And a run that fails before its swap leaves the restored one in place.
        std::fs::create_dir_all(previous_dir(&dist)).unwrap();
        std::fs::remove_dir_all(&dist).unwrap();
        std::fs::write(previous_dir(&dist).join("old"), "previous build").unwrap();
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join("new"), "next").unwrap();
        swap_in(&staging, &dist).unwrap();
        assert!(dist.join("new").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// What a killed build left is settled by the next command: the last complete dist put
    /// back, a half-made staging folder removed; a folder without this tool's marker is no
    /// leftover of it.
    #[test]
    fn what_a_killed_build_left_is_settled() {
        let dir = scratch("settle");
        let dist = dir.join("dist");
        for (folder, file) in [(previous_dir(&dist), "old"), (staging_dir(&dist), "half")] {
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join(MARKER), "").unwrap();
            std::fs::write(folder.join(file), "").unwrap();
        }
        assert!(left_over(&dist));
        let done = settle(&dist).unwrap();
        assert_eq!(done.len(), 2, "{done:?}");
        assert!(dist.join("old").is_file(), "the last complete dist is back");
        assert!(!staging_dir(&dist).exists() && !previous_dir(&dist).exists());
        assert!(!left_over(&dist));
        std::fs::create_dir_all(staging_dir(&dist)).unwrap();
        std::fs::write(staging_dir(&dist).join("yours"), "").unwrap();
        assert!(!left_over(&dist) && settle(&dist).unwrap().is_empty());
        assert!(staging_dir(&dist).join("yours").is_file());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A copy that fails (a full disk fails the same way, one write later) leaves `dist/` as it
    /// was and no half-made staging folder holding the disk.
    #[test]
    fn a_failed_copy_leaves_dist_untouched_and_no_staging() {
        let dir = scratch("fail");
        let dist = dir.join("dist");
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::write(dist.join("keep"), "previous").unwrap();
        let artifacts = [Artifact {
            name: "tool".into(),
            version: "1.0.0".into(),
            target: "t".into(),
            path: dir.join("missing"),
            build_seconds: 0.0,
        }];
        let meta = Provenance {
            git: None,
            rustc: String::new(),
            profile: "production".into(),
        };
        let err = package(&artifacts, &staging_dir(&dist), &dist, &meta).unwrap_err();
        assert!(format!("{err:#}").contains("is removed"), "{err:#}");
        assert_eq!(
            std::fs::read_to_string(dist.join("keep")).unwrap(),
            "previous"
        );
        assert!(!staging_dir(&dist).exists(), "the staging folder is gone");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

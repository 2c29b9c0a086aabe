//! The workspace as cargo sees it (`cargo metadata --no-deps`) plus its
//! `[workspace.metadata.xtask]` configuration. Nothing here knows the names of the app crates.

use crate::cargo::{Metadata, MetadataRequest};
use crate::config::Config;
use crate::exec::{Command, Exec};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// A workspace member: its sources and which other members it depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    /// The folder of its manifest.
    pub dir: PathBuf,
    pub default: bool,
    pub lib_src: Option<PathBuf>,
    pub bin_srcs: Vec<(String, PathBuf)>,
    /// Names of the members it depends on (any kind).
    pub depends_on: Vec<String>,
    /// Its features, and its optional dependencies (which are features unless `dep:` hides them).
    pub features: BTreeSet<String>,
    /// What it calls its dependencies (renames included), any kind.
    pub dependency_names: BTreeSet<String>,
    /// Its `rust-version` (inherited ones resolved by cargo).
    pub rust_version: Option<String>,
}

/// A binary target of a default member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bin {
    pub name: String,
    pub package: String,
    pub version: String,
}

pub struct Workspace {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    /// The cargo that runs us (`$CARGO`), so a pinned toolchain is used throughout.
    pub cargo: String,
    /// Binary targets of the default members.
    pub bins: Vec<Bin>,
    /// Every workspace member but this tool's own package.
    pub members: Vec<Member>,
    /// Package ids of every member (this tool's included): what is not one is third-party.
    pub member_ids: BTreeSet<String>,
    /// This tool's packages that are members (its own repository; none where it is adopted).
    pub tool_members: Vec<String>,
    /// Custom profiles the root manifest and `.cargo/config.toml` define.
    pub profiles: BTreeSet<String>,
    pub config: Config,
}

/// The folder of the workspace's generated mirror (`cargo xtask ci-optims`).
pub const MIRROR_DIR: &str = "ci_optims";
/// The mirror's list of the workspace paths outside it that it refers to.
pub const MIRROR_LOCAL_PATHS: &str = "local-paths";

/// The tool's packages: the one a workspace's xtask depends on, and the two below it.
pub const TOOL_PACKAGES: [&str; 3] = [
    "xtask-fastbuild",
    "xtask-fastbuild-ops",
    env!("CARGO_PKG_NAME"),
];

/// Is this package this tool (by its package name: a workspace's own crate called `xtask` is
/// one of its members like any other)?
pub fn is_this_tool(p: &cargo_metadata::Package) -> bool {
    TOOL_PACKAGES.contains(&p.name.as_str())
}

impl Workspace {
    /// Read the workspace that contains the current directory, from its root manifest (cargo
    /// run in a member's folder reports that member as the only default one).
    pub fn load(exec: &Exec) -> anyhow::Result<Workspace> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let root = exec
            .read(&Command::new(&cargo).args([
                "locate-project",
                "--workspace",
                "--message-format",
                "plain",
            ]))
            .context(
                "finding the workspace (is the current directory inside a Cargo workspace?)",
            )?;
        Self::load_manifest(exec, Some(std::path::Path::new(root.trim())))
    }

    /// Read the workspace whose root (or a member) is the directory `dir`.
    pub fn load_at(exec: &Exec, dir: &std::path::Path) -> anyhow::Result<Workspace> {
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            bail!(
                "{} has no Cargo.toml: give the root of a Cargo workspace",
                dir.display()
            );
        }
        Self::load_manifest(exec, Some(&manifest))
    }

    fn load_manifest(
        exec: &Exec,
        manifest_path: Option<&std::path::Path>,
    ) -> anyhow::Result<Workspace> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let meta = MetadataRequest {
            cargo: &cargo,
            no_deps: true,
            platform: None,
            manifest_path,
            locked: false,
        }
        .run(exec)?;
        Self::from_metadata(&meta, cargo)
    }

    pub fn from_metadata(meta: &Metadata, cargo: String) -> anyhow::Result<Workspace> {
        let config = Config::from_metadata(&meta.workspace_metadata)?;
        // The package of this very binary is tooling: never built or shipped as part of the app.
        let members = meta.workspace_packages();
        let default_members: BTreeSet<&cargo_metadata::PackageId> =
            if meta.workspace_default_members.is_available() {
                meta.workspace_default_members.iter().collect()
            } else {
                meta.workspace_members.iter().collect()
            };
        let member_names: BTreeSet<&str> = members.iter().map(|p| p.name.as_str()).collect();
        let mut bins: Vec<Bin> = members
            .iter()
            .filter(|p| default_members.contains(&p.id) && !is_this_tool(p))
            .flat_map(|p| {
                p.targets.iter().filter(|t| t.is_bin()).map(|t| Bin {
                    name: t.name.clone(),
                    package: p.name.to_string(),
                    version: p.version.to_string(),
                })
            })
            .collect();
        bins.sort_by(|a, b| a.name.cmp(&b.name));
        let app_members = members
            .iter()
            .filter(|p| !is_this_tool(p))
            .map(|p| Member {
                rust_version: p.rust_version.as_ref().map(|v| v.to_string()),
                name: p.name.to_string(),
                dir: p
                    .manifest_path
                    .parent()
                    .map(|d| d.as_std_path().to_path_buf())
                    .unwrap_or_default(),
                default: default_members.contains(&p.id),
                lib_src: p
                    .targets
                    .iter()
                    .find(|t| t.is_lib() || t.is_proc_macro())
                    .map(|t| t.src_path.clone().into()),
                bin_srcs: p
                    .targets
                    .iter()
                    .filter(|t| t.is_bin())
                    .map(|t| (t.name.clone(), t.src_path.clone().into()))
                    .collect(),
                depends_on: p
                    .dependencies
                    .iter()
                    .filter(|d| d.path.is_some() && member_names.contains(d.name.as_str()))
                    .map(|d| d.name.clone())
                    .collect(),
                features: p
                    .features
                    .keys()
                    .cloned()
                    .chain(
                        p.dependencies
                            .iter()
                            .filter(|d| d.optional)
                            .map(|d| d.rename.clone().unwrap_or_else(|| d.name.clone())),
                    )
                    .collect(),
                dependency_names: p
                    .dependencies
                    .iter()
                    .map(|d| d.rename.clone().unwrap_or_else(|| d.name.clone()))
                    .collect(),
            })
            .collect();
        let root: PathBuf = meta.workspace_root.clone().into();
        let profiles = ["Cargo.toml", ".cargo/config.toml"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(root.join(f)).ok())
            .filter_map(|text| text.parse::<toml::Table>().ok())
            .filter_map(|t| t.get("profile").and_then(|p| p.as_table()).cloned())
            .flat_map(|p| p.keys().cloned().collect::<Vec<_>>())
            .collect();
        let ws = Workspace {
            profiles,
            root: meta.workspace_root.clone().into(),
            target_dir: meta.target_directory.clone().into(),
            cargo,
            bins,
            members: app_members,
            member_ids: meta
                .workspace_members
                .iter()
                .map(|id| id.repr.clone())
                .collect(),
            tool_members: members
                .iter()
                .filter(|p| is_this_tool(p))
                .map(|p| p.name.to_string())
                .collect(),
            config,
        };
        ws.validate()?;
        Ok(ws)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.check_target_dir()?;
        for name in self.config.bins.iter().flatten() {
            self.bin(name)
                .context("in [workspace.metadata.xtask] bins")?;
        }
        if let Some(service) = &self.config.service {
            self.bin(&service.bin)
                .context("in [workspace.metadata.xtask.service] bin")?;
        }
        let targets = self.config.production_targets();
        for triple in self.config.linkers.keys() {
            if !targets.contains(triple)
                && !crate::toolchain::KNOWN_TARGETS.contains(&triple.as_str())
            {
                bail!(
                    "[workspace.metadata.xtask.linkers] names `{triple}`, which is neither a configured \
                     target nor one this tool knows; valid: {}",
                    targets
                        .iter()
                        .map(String::as_str)
                        .chain(crate::toolchain::KNOWN_TARGETS)
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        for variant in crate::config::Variant::ALL {
            for feature in &self.config.variants.of(variant).features {
                self.check_feature(feature).with_context(|| {
                    format!(
                        "in [workspace.metadata.xtask.variants.{}] features",
                        variant.profile()
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Is `feature` (cargo's `--features` spelling) one cargo will find? `package/feature` of a
    /// member must be one of its features; `dependency/feature` must name a dependency of a
    /// member; a plain name must be a feature of a default member.
    fn check_feature(&self, feature: &str) -> anyhow::Result<()> {
        let listed = |m: &Member| m.features.iter().cloned().collect::<Vec<_>>().join(", ");
        match feature.split_once('/') {
            Some((package, name)) => match self.members.iter().find(|m| m.name == package) {
                Some(member) if member.features.contains(name) => Ok(()),
                Some(member) => bail!(
                    "`{feature}`: {package} has no feature `{name}`; its features: {}",
                    listed(member)
                ),
                None if self.members.iter().any(|m| m.dependency_names.contains(package)) => Ok(()),
                None => bail!(
                    "`{feature}`: `{package}` is neither a member nor a dependency of one; members: {}",
                    self.members
                        .iter()
                        .map(|m| m.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            None if self
                .members
                .iter()
                .any(|m| m.default && m.features.contains(feature)) =>
            {
                Ok(())
            }
            None => bail!(
                "`{feature}` is a feature of no default member; name it as `package/{feature}`"
            ),
        }
    }

    /// The binary called `name`, or an error listing the valid names.
    /// The package names in Cargo.lock (none without one): what the build may compile.
    pub fn locked_names(&self) -> BTreeSet<String> {
        let lock = std::fs::read_to_string(self.root.join("Cargo.lock")).unwrap_or_default();
        lock.lines()
            .filter_map(|line| line.strip_prefix("name = "))
            .map(|name| name.trim_matches('"').to_string())
            .collect()
    }

    pub fn bin(&self, name: &str) -> anyhow::Result<&Bin> {
        match self.bins.iter().find(|b| b.name == name) {
            Some(bin) => Ok(bin),
            None => bail!(
                "unknown binary `{name}`; the workspace's binaries are: {}",
                self.bins
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The binaries to ship: `[workspace.metadata.xtask] bins`, else all of them.
    pub fn shipped_bins(&self) -> Vec<&Bin> {
        match &self.config.bins {
            Some(names) => names.iter().filter_map(|n| self.bin(n).ok()).collect(),
            None => self.bins.iter().collect(),
        }
    }

    pub fn dist_dir(&self) -> PathBuf {
        self.root
            .join(self.config.dist_dir.as_deref().unwrap_or("dist"))
    }

    /// The target dir must be a folder of its own: this tool keeps its files there (`xtask/`:
    /// the history, baselines, the restore's record) and removes what cargo built there. The
    /// workspace root itself (`.`: they would mix with yours, `xtask/` first), `/`, or a folder
    /// in `.git` is refused with the fix. (A folder above the workspace is cargo's to use: no
    /// step removes the workspace or a folder holding it, see `plan`.)
    fn check_target_dir(&self) -> anyhow::Result<()> {
        let real = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.into());
        let (root, target) = (real(&self.root), real(&self.target_dir));
        let why = if root == target {
            "is the workspace root"
        } else if target.parent().is_none() {
            "is the file system's root"
        } else if target.starts_with(root.join(".git")) {
            "is inside .git"
        } else {
            return Ok(());
        };
        bail!(
            "the target dir {} {why}: this tool keeps its own files there and removes what cargo \
             built there, which would mix with yours; give cargo a folder of its own \
             (`build.target-dir = \"target\"` in .cargo/config.toml, or CARGO_TARGET_DIR)",
            self.target_dir.display()
        )
    }

    /// Is this package id one of the workspace's members?
    pub fn is_member(&self, package_id: &str) -> bool {
        self.member_ids.contains(package_id)
    }

    /// The crate names of the members as rustc and cargo print them (`my-app` and `my_app`).
    pub fn crate_names(&self) -> BTreeSet<String> {
        self.members
            .iter()
            .flat_map(|m| [m.name.clone(), m.name.replace('-', "_")])
            .collect()
    }

    /// The commit the tree is at and whether it has uncommitted changes; `None` outside git.
    pub fn git_state(&self, exec: &Exec) -> Option<GitState> {
        let git = |args: &[&str]| {
            exec.read(&Command::new("git").args(args).dir(&self.root))
                .ok()
        };
        let commit = git(&["rev-parse", "HEAD"])?;
        // Without optional locks: a plain `git status` rewrites .git/index to refresh it. An
        // untracked file counts (a new `build.rs`, a module not yet added is built too); an
        // ignored one does not.
        let status = git(&[
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--untracked-files=normal",
        ])?;
        Some(GitState {
            commit,
            dirty: !status.is_empty(),
        })
    }
}

/// The commit the tree is at and whether it has uncommitted changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GitState {
    pub commit: String,
    pub dirty: bool,
}

#[cfg(any(test, feature = "test-support"))]
pub mod tests_support {
    use super::*;
    use crate::config::Service;

    /// A workspace with binaries `svc` (the service) and `tool`, without running cargo.
    pub fn workspace_with_service() -> Workspace {
        let mut ws = workspace(Config {
            service: Some(Service::named("svc")),
            ..Config::default()
        });
        ws.bins = ["svc", "tool"]
            .iter()
            .map(|name| Bin {
                name: name.to_string(),
                package: format!("{name}-pkg"),
                version: "1.2.3".into(),
            })
            .collect();
        ws
    }

    /// A workspace at /ws with `config`, no binaries and no members.
    pub fn workspace(config: Config) -> Workspace {
        Workspace {
            root: "/ws".into(),
            target_dir: "/ws/target".into(),
            cargo: "cargo".into(),
            bins: vec![],
            members: vec![],
            member_ids: BTreeSet::new(),
            tool_members: Vec::new(),
            profiles: ["production".to_string()].into(),
            config,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_TARGETS;
    use std::path::Path;

    fn metadata(xtask: &str) -> Metadata {
        let package = |id: &str, name: &str, version: &str, targets: &str| {
            format!(
                r#"{{"id":"{id}","name":"{name}","version":"{version}","dependencies":[],"features":{{"fast":[]}},
                "manifest_path":"/ws/{name}/Cargo.toml","targets":{targets}}}"#
            )
        };
        let target = |name: &str, kind: &str| {
            format!(r#"{{"name":"{name}","kind":["{kind}"],"src_path":"/ws/src/{name}.rs"}}"#)
        };
        let json = format!(
            r#"{{"version":1,"workspace_root":"/ws","target_directory":"/ws/target",
            "workspace_members":["a","b","x"],"workspace_default_members":["a","b"],
            "metadata":{{"xtask":{xtask}}},
            "packages":[{},{},{}]}}"#,
            package(
                "a",
                "alpha",
                "1.0.0",
                &format!("[{}]", target("alpha", "lib"))
            ),
            package(
                "b",
                "beta",
                "2.0.0",
                &format!(
                    "[{},{}]",
                    target("beta-cli", "bin"),
                    target("beta-d", "bin")
                )
            ),
            package(
                "x",
                "tool",
                "0.1.0",
                &format!("[{}]", target("tool", "bin"))
            ),
        );
        cargo_metadata::MetadataCommand::parse(json).unwrap()
    }

    fn load(xtask: &str) -> anyhow::Result<Workspace> {
        Workspace::from_metadata(&metadata(xtask), "cargo".into())
    }

    #[test]
    fn bins_come_from_default_members_only() {
        let ws = load("{}").unwrap();
        let names: Vec<_> = ws.bins.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["beta-cli", "beta-d"]);
        assert_eq!(ws.shipped_bins().len(), 2);
        assert_eq!(ws.config.production_targets(), DEFAULT_TARGETS);
        assert_eq!(ws.dist_dir(), Path::new("/ws/dist"));
        assert!(ws.is_member("x") && !ws.is_member("serde"));
    }

    #[test]
    fn config_selects_bins_and_targets() {
        let ws = load(
            r#"{"bins":["beta-d"],"targets":["aarch64-unknown-linux-musl"],"dist-dir":"out"}"#,
        )
        .unwrap();
        assert_eq!(ws.shipped_bins()[0].name, "beta-d");
        assert_eq!(ws.shipped_bins()[0].version, "2.0.0");
        assert_eq!(
            ws.config.production_targets(),
            ["aarch64-unknown-linux-musl"]
        );
        assert_eq!(ws.dist_dir(), Path::new("/ws/out"));
    }

    #[test]
    fn unknown_bin_in_config_lists_the_valid_ones() {
        let msg = format!("{:#}", load(r#"{"bins":["nope"]}"#).err().unwrap());
        assert!(
            msg.contains("unknown binary `nope`") && msg.contains("beta-cli, beta-d"),
            "{msg}"
        );
    }

    #[test]
    fn features_and_linkers_are_checked_against_the_workspace() {
        let err = |xtask: &str| format!("{:#}", load(xtask).err().expect(xtask));
        assert!(
            err(r#"{"variants":{"production":{"features":["beta/nope"]}}}"#)
                .contains("beta has no feature `nope`"),
        );
        assert!(err(r#"{"variants":{"dev":{"features":["ghost/x"]}}}"#)
            .contains("`ghost` is neither a member nor a dependency"));
        assert!(err(r#"{"variants":{"dev":{"features":["plain"]}}}"#)
            .contains("a feature of no default member"));
        assert!(err(r#"{"linkers":{"mips-unknown-linux-gnu":"gcc"}}"#)
            .contains("`mips-unknown-linux-gnu`, which is neither a configured target"));
        load(r#"{"variants":{"production":{"features":["beta/fast"]}},"linkers":{"aarch64-unknown-linux-gnu":"clang"}}"#).unwrap();
    }

    #[test]
    fn a_typo_in_the_config_is_an_error() {
        let err = load(r#"{"target":["x"]}"#).err().unwrap();
        assert!(
            format!("{err:#}").contains("unknown field `target`"),
            "{err:#}"
        );
    }
}

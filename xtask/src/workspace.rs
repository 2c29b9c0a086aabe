//! The workspace as cargo sees it (`cargo metadata --no-deps`) plus its
//! `[workspace.metadata.xtask]` configuration. Nothing here knows the names of the app crates.

use anyhow::{bail, Context};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use xshell::{cmd, Shell};

/// Production targets when `[workspace.metadata.xtask] targets` is not set.
pub const DEFAULT_TARGETS: [&str; 2] = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"];

/// `[workspace.metadata.xtask]`. Every key is optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Binaries to ship (default: every binary of the default members).
    pub bins: Option<Vec<String>>,
    /// Production targets (default: [`DEFAULT_TARGETS`]).
    pub targets: Option<Vec<String>>,
    /// Where production artifacts go, relative to the workspace root (default `dist`).
    pub dist_dir: Option<String>,
    /// Linker per target triple, replacing the built-in choice (`aarch64-linux-gnu-gcc`, ...).
    #[serde(default)]
    pub linkers: BTreeMap<String, String>,
    /// The long-running service binary, for containers and smoke tests.
    pub service: Option<Service>,
    /// `cargo xtask docker`: image name, source URL and labels.
    pub docker: Option<DockerConfig>,
    /// `cargo xtask bench`: scenarios, variants, runs, edited files.
    pub bench: Option<crate::bench::BenchConfig>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DockerConfig {
    /// Image name (default: the service binary's name).
    pub image: Option<String>,
    /// `org.opencontainers.image.source` label.
    pub source: Option<String>,
    /// Extra labels on every image.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Service {
    pub bin: String,
    #[serde(default = "default_health_path")]
    pub health_path: String,
    #[serde(default = "default_version_path")]
    pub version_path: String,
    /// Arguments that make the binary listen on `{addr}`.
    #[serde(default)]
    pub listen_args: Vec<String>,
}

fn default_health_path() -> String {
    "/healthz".into()
}

fn default_version_path() -> String {
    "/version".into()
}

/// A workspace member: its sources and which other members it depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub default: bool,
    pub lib_src: Option<PathBuf>,
    pub bin_srcs: Vec<(String, PathBuf)>,
    /// Names of the members it depends on (any kind).
    pub depends_on: Vec<String>,
}

/// A binary target of a default member.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub config: Config,
}

#[derive(Deserialize)]
struct Metadata {
    workspace_root: PathBuf,
    target_directory: PathBuf,
    packages: Vec<Package>,
    workspace_members: Vec<String>,
    #[serde(default)]
    workspace_default_members: Option<Vec<String>>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Package {
    id: String,
    name: String,
    version: String,
    targets: Vec<Target>,
    #[serde(default)]
    dependencies: Vec<Dependency>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
    #[serde(default)]
    src_path: PathBuf,
}

#[derive(Deserialize)]
struct Dependency {
    name: String,
    #[serde(default)]
    path: Option<PathBuf>,
}

impl Workspace {
    /// Read the workspace that contains the current directory.
    pub fn load(sh: &Shell) -> anyhow::Result<Workspace> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let json = cmd!(sh, "{cargo} metadata --format-version 1 --no-deps")
            .quiet()
            .read()
            .context(
                "running `cargo metadata` (is the current directory inside a Cargo workspace?)",
            )?;
        Self::from_metadata_json(&json, cargo)
    }

    fn from_metadata_json(json: &str, cargo: String) -> anyhow::Result<Workspace> {
        let meta: Metadata =
            serde_json::from_str(json).context("parsing `cargo metadata` output")?;
        let config = match meta.metadata.as_ref().and_then(|m| m.get("xtask")) {
            Some(value) => Config::deserialize(value.clone())
                .context("reading [workspace.metadata.xtask] in the root Cargo.toml")?,
            None => Config::default(),
        };
        // The package of this very binary is tooling: never built or shipped as part of the app.
        let xtask_package = env!("CARGO_PKG_NAME");
        let default_members = meta
            .workspace_default_members
            .clone()
            .unwrap_or_else(|| meta.workspace_members.clone());
        let mut bins = Vec::new();
        for pkg in meta
            .packages
            .iter()
            .filter(|p| default_members.contains(&p.id))
        {
            if pkg.name == xtask_package {
                continue;
            }
            for t in pkg
                .targets
                .iter()
                .filter(|t| t.kind.iter().any(|k| k == "bin"))
            {
                bins.push(Bin {
                    name: t.name.clone(),
                    package: pkg.name.clone(),
                    version: pkg.version.clone(),
                });
            }
        }
        bins.sort_by(|a, b| a.name.cmp(&b.name));
        let member_names: Vec<&str> = meta
            .packages
            .iter()
            .filter(|p| meta.workspace_members.contains(&p.id))
            .map(|p| p.name.as_str())
            .collect();
        let members = meta
            .packages
            .iter()
            .filter(|p| meta.workspace_members.contains(&p.id) && p.name != xtask_package)
            .map(|p| {
                let src = |kind: &'static str| {
                    p.targets
                        .iter()
                        .filter(move |t| t.kind.iter().any(|k| k == kind))
                };
                Member {
                    name: p.name.clone(),
                    default: default_members.contains(&p.id),
                    lib_src: src("lib").next().map(|t| t.src_path.clone()),
                    bin_srcs: src("bin")
                        .map(|t| (t.name.clone(), t.src_path.clone()))
                        .collect(),
                    depends_on: p
                        .dependencies
                        .iter()
                        .filter(|d| d.path.is_some() && member_names.contains(&d.name.as_str()))
                        .map(|d| d.name.clone())
                        .collect(),
                }
            })
            .collect();
        let ws = Workspace {
            root: meta.workspace_root,
            target_dir: meta.target_directory,
            cargo,
            bins,
            members,
            config,
        };
        ws.validate()?;
        Ok(ws)
    }

    fn validate(&self) -> anyhow::Result<()> {
        for name in self.config.bins.iter().flatten() {
            self.bin(name)
                .context("in [workspace.metadata.xtask] bins")?;
        }
        if let Some(service) = &self.config.service {
            self.bin(&service.bin)
                .context("in [workspace.metadata.xtask.service] bin")?;
        }
        Ok(())
    }

    /// The binary called `name`, or an error listing the valid names.
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

    pub fn production_targets(&self) -> Vec<String> {
        match &self.config.targets {
            Some(t) => t.clone(),
            None => DEFAULT_TARGETS.iter().map(|t| t.to_string()).collect(),
        }
    }

    pub fn dist_dir(&self) -> PathBuf {
        self.root
            .join(self.config.dist_dir.as_deref().unwrap_or("dist"))
    }

    /// Directory cargo puts a profile's output in (`dev` is called `debug` on disk).
    pub fn profile_dir(&self, target: Option<&str>, profile: &str) -> PathBuf {
        let dir = if profile == "dev" { "debug" } else { profile };
        match target {
            Some(t) => self.target_dir.join(t).join(dir),
            None => self.target_dir.join(dir),
        }
    }
}

/// The commit the tree is at and whether it has uncommitted changes; `None` outside git.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct GitState {
    pub commit: String,
    pub dirty: bool,
}

pub fn git_state(sh: &Shell, root: &Path) -> Option<GitState> {
    let _dir = sh.push_dir(root);
    let commit = cmd!(sh, "git rev-parse HEAD")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?;
    let status = cmd!(sh, "git status --porcelain --untracked-files=no")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?;
    Some(GitState {
        commit,
        dirty: !status.is_empty(),
    })
}

#[cfg(test)]
pub mod tests_support {
    use super::*;

    /// A workspace with binaries `svc` (the service) and `tool`, without running cargo.
    pub fn workspace_with_service() -> Workspace {
        let bin = |name: &str| Bin {
            name: name.into(),
            package: format!("{name}-pkg"),
            version: "1.2.3".into(),
        };
        Workspace {
            root: "/ws".into(),
            target_dir: "/ws/target".into(),
            cargo: "cargo".into(),
            bins: vec![bin("svc"), bin("tool")],
            members: vec![],
            config: Config {
                service: Some(Service {
                    bin: "svc".into(),
                    health_path: default_health_path(),
                    version_path: default_version_path(),
                    listen_args: vec![],
                }),
                ..Config::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(xtask: &str) -> String {
        format!(
            r#"{{"workspace_root":"/ws","target_directory":"/ws/target",
            "workspace_members":["a","b","x"],"workspace_default_members":["a","b"],
            "metadata":{{"xtask":{xtask}}},
            "packages":[
              {{"id":"a","name":"alpha","version":"1.0.0","targets":[{{"name":"alpha","kind":["lib"]}}]}},
              {{"id":"b","name":"beta","version":"2.0.0","targets":[{{"name":"beta-cli","kind":["bin"]}},{{"name":"beta-d","kind":["bin"]}}]}},
              {{"id":"x","name":"tool","version":"0.1.0","targets":[{{"name":"tool","kind":["bin"]}}]}}
            ]}}"#
        )
    }

    #[test]
    fn bins_come_from_default_members_only() {
        let ws = Workspace::from_metadata_json(&metadata("{}"), "cargo".into()).unwrap();
        let names: Vec<_> = ws.bins.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["beta-cli", "beta-d"]);
        assert_eq!(ws.shipped_bins().len(), 2);
        assert_eq!(ws.production_targets(), DEFAULT_TARGETS);
        assert_eq!(ws.dist_dir(), Path::new("/ws/dist"));
    }

    #[test]
    fn config_selects_bins_and_targets() {
        let ws = Workspace::from_metadata_json(
            &metadata(
                r#"{"bins":["beta-d"],"targets":["aarch64-unknown-linux-musl"],"dist-dir":"out"}"#,
            ),
            "cargo".into(),
        )
        .unwrap();
        assert_eq!(ws.shipped_bins()[0].name, "beta-d");
        assert_eq!(ws.shipped_bins()[0].version, "2.0.0");
        assert_eq!(ws.production_targets(), ["aarch64-unknown-linux-musl"]);
        assert_eq!(ws.dist_dir(), Path::new("/ws/out"));
    }

    #[test]
    fn unknown_bin_in_config_lists_the_valid_ones() {
        let err = Workspace::from_metadata_json(&metadata(r#"{"bins":["nope"]}"#), "cargo".into())
            .err()
            .unwrap();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("unknown binary `nope`") && msg.contains("beta-cli, beta-d"),
            "{msg}"
        );
    }

    #[test]
    fn a_typo_in_the_config_is_an_error() {
        let err = Workspace::from_metadata_json(&metadata(r#"{"target":["x"]}"#), "cargo".into())
            .err()
            .unwrap();
        assert!(
            format!("{err:#}").contains("unknown field `target`"),
            "{err:#}"
        );
    }

    #[test]
    fn profile_dirs() {
        let ws = Workspace::from_metadata_json(&metadata("{}"), "cargo".into()).unwrap();
        assert_eq!(ws.profile_dir(None, "dev"), Path::new("/ws/target/debug"));
        assert_eq!(
            ws.profile_dir(Some("aarch64-unknown-linux-gnu"), "production"),
            Path::new("/ws/target/aarch64-unknown-linux-gnu/production")
        );
    }
}

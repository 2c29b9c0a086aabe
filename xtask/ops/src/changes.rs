//! `cargo xtask changes`: what a change between two commits touches, so CI can skip the jobs it
//! cannot affect, and what it did to `Cargo.lock`, for a pull-request comment.
//!
//! The change is `git diff BASE...HEAD`: from the merge base of the two to HEAD, the files a pull
//! request shows, whatever landed on the base branch since it forked. Every file gets one kind,
//! the first that matches: `deps` (manifests, lockfiles, ci_optims/, Docker and toolchain files,
//! `.cargo/`), `ci` (`.github/`, `.ci/`), `code` (Rust sources), `docs`, else `other`. Workflows
//! treat `other` like code: a file nobody classified may matter to the build.

use crate::ci_optims;
use crate::exec::{self, Exec};
use crate::render::{print_json, Format, Options, Table};
use crate::workspace::Workspace;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The change is `git diff BASE...HEAD` (from their merge base), as a pull request shows it.\n\
    Needs both commits and their history in the clone (GitHub Actions: actions/checkout with fetch-depth: 0)."
)]
pub struct ChangesArgs {
    /// Where the change starts: a branch, tag or commit (a pull request's base).
    #[arg(long, value_name = "REF")]
    pub base: String,
    /// Where the change ends.
    #[arg(long, value_name = "REF", default_value = "HEAD")]
    pub head: String,
}

/// What a changed file can affect. Declared in precedence order: a file is the first that fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// What gets compiled and how: manifests, lockfiles, ci_optims/, Docker and toolchain files.
    Deps,
    /// CI definitions: `.github/`, `.ci/`.
    Ci,
    /// Rust sources.
    Code,
    /// Documentation only.
    Docs,
    /// Anything else (scripts, Makefile, data files): treated like code by the workflows.
    Other,
}

impl Kind {
    const ALL: [Kind; 5] = [Kind::Deps, Kind::Ci, Kind::Code, Kind::Docs, Kind::Other];

    /// Its key in `$GITHUB_OUTPUT` and markdown, as in JSON.
    fn key(self) -> String {
        crate::render::name(&self)
    }
}

/// The kind of `path` (relative to the repository root, `/`-separated). `ws_prefix` is where the
/// Cargo workspace sits in the repository (`""` at its root, else `dir/`).
pub fn classify(path: &str, ws_prefix: &str, build_env: &str) -> Kind {
    let parts: Vec<&str> = path.split('/').collect();
    let name = *parts.last().unwrap_or(&"");
    let in_ws = path.strip_prefix(ws_prefix);
    let ws_top = in_ws.and_then(|p| p.split('/').next()).unwrap_or("");
    let ws_nested = in_ws.is_some_and(|p| p.contains('/'));
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let ext = ext.as_deref().unwrap_or("");

    let deps = matches!(
        name,
        "Cargo.toml" | "Cargo.lock" | "rust-toolchain" | "rust-toolchain.toml" | ".dockerignore"
    ) || name == "Dockerfile"
        || name.starts_with("Dockerfile.")
        || ext == "dockerfile"
        // Cargo reads `.cargo/config.toml` of every directory above the one it runs in.
        || parts[..parts.len() - 1].contains(&".cargo")
        // The crate that precompiles every dependency, and the Dockerfile's build environment
        // (its build script, copied before the deps stage): both rebuild the dependencies.
        || (ws_nested && ws_top == ci_optims::DIR)
        || in_ws == Some(build_env);
    if deps {
        return Kind::Deps;
    }
    if matches!(parts[0], ".github" | ".ci") && parts.len() > 1 {
        return Kind::Ci;
    }
    if ext == "rs" {
        return Kind::Code;
    }
    let upper = name.to_ascii_uppercase();
    let docs = matches!(ext, "md" | "markdown" | "rst" | "adoc")
        || (parts.len() > 1 && matches!(parts[0], "docs" | "doc"))
        || [
            "LICENSE",
            "COPYING",
            "CHANGELOG",
            "AUTHORS",
            "NOTICE",
            "CONTRIBUTING",
        ]
        .iter()
        .any(|p| upper.starts_with(p));
    if docs {
        Kind::Docs
    } else {
        Kind::Other
    }
}

/// A revision as given and the commit it names.
#[derive(Debug, Clone, Serialize)]
pub struct Revision {
    pub name: String,
    pub commit: String,
}

/// Everything `changes` will read, resolved (and checked) before anything is read.
#[derive(Debug, Clone, Serialize)]
pub struct ChangesPlan {
    pub base: Revision,
    pub head: Revision,
    /// Where the diff starts: the merge base of `base` and `head`.
    pub merge_base: String,
    /// The workspace's directory in the repository (`""` at its root, else `dir/`).
    pub ws_prefix: String,
    /// The workspace's root, where git runs.
    pub root: std::path::PathBuf,
    /// The workspace's lockfile, relative to the repository root.
    pub lockfile: String,
    /// Whether the lockfile at both ends is read and compared (markdown, json).
    pub compare_lockfile: bool,
    /// The image's build script, relative to the workspace root (configured, or the default).
    pub build_env: String,
}

/// `cargo xtask changes`: resolve both ends (the plan), then diff them.
pub fn run(args: ChangesArgs, exec: &Exec, ws: &Workspace, opts: Options) -> anyhow::Result<()> {
    let Options {
        format, dry_run, ..
    } = opts;
    let plan = args.plan(exec, ws, format)?;
    let program = program(&plan, &args);
    if dry_run {
        return program.print(format);
    }
    let mut reading = Reading {
        exec,
        plan: &plan,
        report: None,
    };
    crate::plan::run(exec, &program, &|_| false, &mut reading)?;
    let report = reading.report.context("the plan read no diff")?;
    match format {
        Format::Text => print!("{}", report.key_values()),
        Format::Markdown => print!("{}", report.markdown()),
        Format::Json => print_json(&report)?,
    }
    Ok(())
}

/// The task that reads the diff (and the lockfile at both ends).
const DIFF: &str = "diff";

/// The revisions resolved, then one read-only step.
fn program(plan: &ChangesPlan, args: &ChangesArgs) -> crate::plan::Plan {
    let mut program =
        crate::plan::Plan::new(format!("changes --base {} --head {}", args.base, args.head))
            .fact("base", &plan.base)
            .fact("head", &plan.head)
            .fact("merge_base", &plan.merge_base)
            .fact("lockfile", &plan.lockfile);
    let lockfile = if plan.compare_lockfile {
        format!("; when {} changed, compare it at both ends", plan.lockfile)
    } else {
        String::new()
    };
    program.step(crate::plan::Step::task(
        DIFF,
        format!(
            "git diff --name-only --no-renames -z {} {} in {}: classify each path{lockfile}; write nothing",
            plan.merge_base,
            plan.head.commit,
            plan.root.display()
        ),
    ));
    program
}

/// The command's part: the diff read at its task.
struct Reading<'a> {
    exec: &'a Exec<'a>,
    plan: &'a ChangesPlan,
    report: Option<ChangeReport>,
}

impl crate::plan::Handler for Reading<'_> {
    type Watch = crate::plan::Capture;

    fn done(
        &mut self,
        step: &crate::plan::Step,
        _: crate::plan::Done<crate::plan::Capture>,
    ) -> anyhow::Result<()> {
        if matches!(step, crate::plan::Step::Task { task, .. } if task == DIFF) {
            self.report = Some(execute(self.exec, self.plan)?);
        }
        Ok(())
    }
}

impl ChangesArgs {
    pub fn plan(&self, exec: &Exec, ws: &Workspace, format: Format) -> anyhow::Result<ChangesPlan> {
        let git = |args: &[&str]| git(exec, &ws.root, args);
        let probe = git(&["rev-parse", "--show-prefix"])?;
        if !probe.success {
            bail!(
                "{} is not inside a git repository ({}); `cargo xtask changes` compares two commits: \
                 run it in a clone (in GitHub Actions, after actions/checkout with fetch-depth: 0)",
                ws.root.display(),
                probe.stderr.trim()
            );
        }
        let ws_prefix = probe.stdout.trim().to_string();
        let shallow = git(&["rev-parse", "--is-shallow-repository"])
            .map(|o| o.stdout.trim() == "true")
            .unwrap_or(false);
        let fetch_hint = if shallow {
            "this clone is shallow: fetch the history (`git fetch --unshallow`, or actions/checkout with fetch-depth: 0)"
        } else {
            "fetch it first (`git fetch origin <branch>`; in GitHub Actions, actions/checkout with fetch-depth: 0)"
        };
        let resolve = |flag: &str, name: &str| -> anyhow::Result<Revision> {
            let spec = format!("{name}^{{commit}}");
            // `--end-of-options`: a ref that starts with `-` is a name, never an option.
            let out = git(&[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &spec,
            ])?;
            if !out.success || name.is_empty() {
                bail!("unknown git ref `{name}` (given as {flag}): no such commit in this clone; {fetch_hint}");
            }
            Ok(Revision {
                name: name.to_string(),
                commit: out.stdout.trim().to_string(),
            })
        };
        let base = resolve("--base", &self.base)?;
        let head = resolve("--head", &self.head)?;
        let out = git(&["merge-base", &base.commit, &head.commit])?;
        if !out.success {
            bail!(
                "`{}` and `{}` have no common ancestor in this clone; {fetch_hint}",
                base.name,
                head.name
            );
        }
        let merge_base = out.stdout.trim().to_string();
        Ok(ChangesPlan {
            base,
            head,
            merge_base,
            lockfile: format!("{ws_prefix}Cargo.lock"),
            ws_prefix,
            root: ws.root.clone(),
            compare_lockfile: format != Format::Text,
            build_env: ws
                .config
                .docker
                .clone()
                .unwrap_or_default()
                .build_env_path()
                .to_string(),
        })
    }
}

/// `git ARGS` in `dir`; a non-zero exit is returned, not an error.
fn git(exec: &Exec, dir: &std::path::Path, args: &[&str]) -> anyhow::Result<exec::Output> {
    exec.output(&exec::Command::new("git").args(args).dir(dir))
        .context("running git (is it installed and on PATH?)")
}

pub fn execute(exec: &Exec, plan: &ChangesPlan) -> anyhow::Result<ChangeReport> {
    let git = |args: &[&str]| git(exec, &plan.root, args);
    let (from, to) = (&plan.merge_base, &plan.head.commit);
    // -z: paths verbatim (no quoting); --no-renames: a rename counts at both its old and new path.
    let out = git(&["diff", "--name-only", "--no-renames", "-z", from, to, "--"])?;
    if !out.success {
        bail!("git diff {from} {to} failed: {}", out.stderr.trim());
    }
    let files: Vec<ChangedFile> = out
        .stdout
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(|path| ChangedFile {
            kind: classify(path, &plan.ws_prefix, &plan.build_env),
            path: path.to_string(),
        })
        .collect();
    let lockfile_changed = files.iter().any(|f| f.path == plan.lockfile);
    let lockfile = if plan.compare_lockfile && lockfile_changed {
        let old = read_at(&git, from, &plan.lockfile)?;
        let new = read_at(&git, to, &plan.lockfile)?;
        let parse = |text: Option<String>, commit: &str| -> anyhow::Result<Vec<LockedPackage>> {
            match text {
                Some(text) => parse_lockfile(&text)
                    .with_context(|| format!("reading {} at {commit}", plan.lockfile)),
                None => Ok(Vec::new()),
            }
        };
        Some(lock_diff(&parse(old, from)?, &parse(new, to)?))
    } else {
        None
    };
    Ok(ChangeReport {
        base: plan.base.clone(),
        head: plan.head.clone(),
        merge_base: plan.merge_base.clone(),
        lockfile_path: plan.lockfile.clone(),
        lockfile_changed,
        files,
        lockfile,
    })
}

/// The file at `path` in `commit`, `None` if it does not exist there.
fn read_at(
    git: &dyn Fn(&[&str]) -> anyhow::Result<exec::Output>,
    commit: &str,
    path: &str,
) -> anyhow::Result<Option<String>> {
    let spec = format!("{commit}:{path}");
    if !git(&["cat-file", "-e", &spec])?.success {
        return Ok(None);
    }
    let out = git(&["cat-file", "blob", &spec])?;
    if !out.success {
        bail!("reading {spec}: {}", out.stderr.trim());
    }
    Ok(Some(out.stdout))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedFile {
    pub path: String,
    pub kind: Kind,
}

/// One `[[package]]` of a lockfile.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    /// None for the workspace's own (path) packages.
    pub source: Option<String>,
}

pub fn parse_lockfile(text: &str) -> anyhow::Result<Vec<LockedPackage>> {
    #[derive(Deserialize)]
    struct Lockfile {
        #[serde(default)]
        package: Vec<LockedPackage>,
    }
    let lock: Lockfile = toml::from_str(text).context("parsing Cargo.lock")?;
    Ok(lock.package)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockChangeKind {
    Bumped,
    Downgraded,
    Added,
    Removed,
}

/// What happened to one crate between two lockfiles. A crate locked at several versions lists
/// every version that went (`from`) and came (`to`); versions kept on both sides are not listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockChange {
    pub name: String,
    pub change: LockChangeKind,
    pub from: Vec<String>,
    pub to: Vec<String>,
}

const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";

/// Third-party crates (those with a source) added, removed or moved to another version. The
/// workspace's own packages have no source and are left out: they are not dependencies.
pub fn lock_diff(old: &[LockedPackage], new: &[LockedPackage]) -> Vec<LockChange> {
    fn versions(packages: &[LockedPackage]) -> BTreeMap<&str, BTreeSet<String>> {
        let mut map: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for p in packages {
            let Some(source) = &p.source else { continue };
            // crates.io is the common case: a bare version. Any other source is shown.
            let version = if source == CRATES_IO {
                p.version.clone()
            } else {
                format!("{} ({source})", p.version)
            };
            map.entry(p.name.as_str()).or_default().insert(version);
        }
        map
    }
    let (old, new) = (versions(old), versions(new));
    let names: BTreeSet<&str> = old.keys().chain(new.keys()).copied().collect();
    let empty = BTreeSet::new();
    let mut changes: Vec<LockChange> = names
        .into_iter()
        .filter_map(|name| {
            let before = old.get(name).unwrap_or(&empty);
            let after = new.get(name).unwrap_or(&empty);
            let from: Vec<String> = before.difference(after).cloned().collect();
            let to: Vec<String> = after.difference(before).cloned().collect();
            let change = match (from.is_empty(), to.is_empty()) {
                (true, true) => return None,
                (true, false) => LockChangeKind::Added,
                (false, true) => LockChangeKind::Removed,
                (false, false) => {
                    let newest = |v: &[String]| v.iter().map(|s| version_key(s)).max();
                    if newest(&to) < newest(&from) {
                        LockChangeKind::Downgraded
                    } else {
                        LockChangeKind::Bumped
                    }
                }
            };
            Some(LockChange {
                name: name.to_string(),
                change,
                from,
                to,
            })
        })
        .collect();
    changes.sort_by(|a, b| a.change.cmp(&b.change).then_with(|| a.name.cmp(&b.name)));
    changes
}

/// Orders versions by semver precedence (`1.10.0` > `1.9.3`, a pre-release before its
/// release); the source a non-crates.io version carries is ignored, and an unparsable version
/// sorts first.
fn version_key(version: &str) -> Option<semver::Version> {
    semver::Version::parse(version.split_whitespace().next().unwrap_or("")).ok()
}

/// Everything `changes` found, in every output format.
#[derive(Debug, Serialize)]
pub struct ChangeReport {
    pub base: Revision,
    pub head: Revision,
    pub merge_base: String,
    pub lockfile_path: String,
    pub lockfile_changed: bool,
    pub files: Vec<ChangedFile>,
    /// The lockfile's changes, when they were compared.
    pub lockfile: Option<Vec<LockChange>>,
}

impl ChangeReport {
    fn touches(&self, kind: Kind) -> bool {
        self.files.iter().any(|f| f.kind == kind)
    }

    fn only(&self, kind: Kind) -> bool {
        !self.files.is_empty() && self.files.iter().all(|f| f.kind == kind)
    }

    /// The `key=value` pairs for `$GITHUB_OUTPUT`, in a fixed order.
    pub fn outputs(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Kind::ALL
            .iter()
            .map(|k| (k.key(), self.touches(*k).to_string()))
            .collect();
        out.push(("docs_only".into(), self.only(Kind::Docs).to_string()));
        out.push(("ci_only".into(), self.only(Kind::Ci).to_string()));
        // Can the change alter what cargo builds or what the tests see? (`other` counts: an
        // unclassified file may be read by a build script or a test.)
        let build = [Kind::Deps, Kind::Code, Kind::Other]
            .iter()
            .any(|k| self.touches(*k));
        out.push(("build".into(), build.to_string()));
        out.push(("lockfile".into(), self.lockfile_changed.to_string()));
        out.push(("files".into(), self.files.len().to_string()));
        out
    }

    pub fn key_values(&self) -> String {
        self.outputs()
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }

    /// For a pull-request comment: what the change touches and what it did to Cargo.lock.
    pub fn markdown(&self) -> String {
        let short = |c: &str| c.chars().take(12).collect::<String>();
        let touched: Vec<String> = Kind::ALL
            .iter()
            .filter(|k| self.touches(**k))
            .map(|k| format!("**{}**", k.key()))
            .collect();
        let mut out = String::from("### Dependency changes\n\n");
        let _ = writeln!(
            out,
            "`{}` (`{}`) against `{}` (merge base with `{}`): {} file{} changed{}.\n",
            self.head.name,
            short(&self.head.commit),
            short(&self.merge_base),
            self.base.name,
            self.files.len(),
            if self.files.len() == 1 { "" } else { "s" },
            if touched.is_empty() {
                String::new()
            } else {
                format!(", touching {}", touched.join(", "))
            }
        );
        let lockfile = format!("`{}`", self.lockfile_path);
        match &self.lockfile {
            _ if !self.lockfile_changed => {
                let _ = writeln!(out, "{lockfile} is unchanged.");
            }
            Some(changes) if changes.is_empty() => {
                let _ = writeln!(
                    out,
                    "{lockfile} changed, but no third-party crate was added, removed or moved to another version."
                );
            }
            Some(changes) => {
                let count =
                    |kind: LockChangeKind| changes.iter().filter(|c| c.change == kind).count();
                let summary: Vec<String> = [
                    (LockChangeKind::Bumped, "bumped"),
                    (LockChangeKind::Downgraded, "downgraded"),
                    (LockChangeKind::Added, "added"),
                    (LockChangeKind::Removed, "removed"),
                ]
                .iter()
                .filter(|(k, _)| count(*k) > 0)
                .map(|(k, word)| format!("{} {word}", count(*k)))
                .collect();
                let _ = writeln!(out, "{lockfile}: {}.\n", summary.join(", "));
                let mut table = Table::new(["crate", "change", "version"]);
                for c in changes {
                    let version = match c.change {
                        LockChangeKind::Added => c.to.join(", "),
                        LockChangeKind::Removed => c.from.join(", "),
                        LockChangeKind::Bumped | LockChangeKind::Downgraded => {
                            format!("{} → {}", c.from.join(", "), c.to.join(", "))
                        }
                    };
                    let change = match c.change {
                        LockChangeKind::Bumped => "bumped",
                        LockChangeKind::Downgraded => "downgraded",
                        LockChangeKind::Added => "added",
                        LockChangeKind::Removed => "removed",
                    };
                    table.row([
                        format!("`{}`", c.name),
                        change.to_string(),
                        version.replace('|', "\\|"),
                    ]);
                }
                out.push_str(&table.markdown());
            }
            None => {
                let _ = writeln!(out, "{lockfile} changed.");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_BUILD_ENV;

    fn report(paths: &[&str]) -> ChangeReport {
        let rev = |name: &str, commit: &str| Revision {
            name: name.into(),
            commit: commit.into(),
        };
        ChangeReport {
            base: rev("main", "1111111111111111111111111111111111111111"),
            head: rev("HEAD", "2222222222222222222222222222222222222222"),
            merge_base: "3333333333333333333333333333333333333333".into(),
            lockfile_path: "Cargo.lock".into(),
            lockfile_changed: paths.contains(&"Cargo.lock"),
            files: paths
                .iter()
                .map(|p| ChangedFile {
                    path: p.to_string(),
                    kind: classify(p, "", DEFAULT_BUILD_ENV),
                })
                .collect(),
            lockfile: None,
        }
    }

    fn outputs(paths: &[&str]) -> BTreeMap<String, String> {
        report(paths).outputs().into_iter().collect()
    }

    #[test]
    fn each_file_gets_the_first_kind_that_fits() {
        for (path, kind) in [
            ("Cargo.lock", Kind::Deps),
            ("Cargo.toml", Kind::Deps),
            ("crates/app/Cargo.toml", Kind::Deps),
            ("ci_optims/src/lib.rs", Kind::Deps),
            ("ci_optims/standalone/Cargo.lock", Kind::Deps),
            ("Dockerfile", Kind::Deps),
            ("images/server.Dockerfile", Kind::Deps),
            ("Dockerfile.alpine", Kind::Deps),
            (".dockerignore", Kind::Deps),
            ("docker/build-env.sh", Kind::Deps),
            ("rust-toolchain.toml", Kind::Deps),
            ("rust-toolchain", Kind::Deps),
            (".cargo/config.toml", Kind::Deps),
            ("crates/app/.cargo/config.toml", Kind::Deps),
            (".github/workflows/ci.yml", Kind::Ci),
            (".github/CODEOWNERS", Kind::Ci),
            (".ci/run", Kind::Ci),
            ("crates/app/src/main.rs", Kind::Code),
            ("crates/app/build.rs", Kind::Code),
            ("xtask/tests/validate.rs", Kind::Code),
            ("README.md", Kind::Docs),
            ("crates/app/CHANGELOG.md", Kind::Docs),
            ("docs/guide/setup.html", Kind::Docs),
            ("LICENSE-MIT", Kind::Docs),
            ("Makefile", Kind::Other),
            ("scripts/measure.sh", Kind::Other),
            ("crates/app/migrations/1.sql", Kind::Other),
            (".gitignore", Kind::Other),
            // Names that only look like a rule.
            ("docker", Kind::Other),
            ("ci_optims", Kind::Other),
            ("crates/docker/src/lib.rs", Kind::Code),
            ("docs", Kind::Other),
            (".github", Kind::Other),
        ] {
            assert_eq!(classify(path, "", DEFAULT_BUILD_ENV), kind, "{path}");
        }
    }

    #[test]
    fn workspace_relative_rules_follow_the_workspace_into_a_subdirectory() {
        assert_eq!(
            classify("rust/ci_optims/Cargo.toml", "rust/", DEFAULT_BUILD_ENV),
            Kind::Deps
        );
        assert_eq!(
            classify("rust/ci_optims/src/lib.rs", "rust/", DEFAULT_BUILD_ENV),
            Kind::Deps
        );
        assert_eq!(
            classify("rust/docker/build-env.sh", "rust/", DEFAULT_BUILD_ENV),
            Kind::Deps
        );
        assert_eq!(
            classify("ci_optims/notes.txt", "rust/", DEFAULT_BUILD_ENV),
            Kind::Other
        );
        // A build script installed elsewhere (init puts it under xtask/docker/ when the
        // workspace has its own docker/ folder) is what the deps stage copies.
        assert_eq!(
            classify("xtask/docker/build-env.sh", "", "xtask/docker/build-env.sh"),
            Kind::Deps
        );
        assert_eq!(
            classify("docker/build-env.sh", "", "xtask/docker/build-env.sh"),
            Kind::Other
        );
        assert_eq!(
            classify(".github/workflows/ci.yml", "rust/", DEFAULT_BUILD_ENV),
            Kind::Ci
        );
    }

    #[test]
    fn a_code_only_change_needs_a_build_but_no_dependency_work() {
        let o = outputs(&["crates/app/src/main.rs", "crates/core/src/lib.rs"]);
        assert_eq!(o["code"], "true");
        assert_eq!(o["deps"], "false");
        assert_eq!(o["build"], "true");
        assert_eq!(o["docs_only"], "false");
        assert_eq!(o["ci_only"], "false");
        assert_eq!(o["lockfile"], "false");
        assert_eq!(o["files"], "2");
    }

    #[test]
    fn docs_only_and_ci_only_changes_need_no_build() {
        let docs = outputs(&["README.md", "docs/x.md"]);
        assert_eq!(
            (docs["docs_only"].as_str(), docs["build"].as_str()),
            ("true", "false")
        );
        let ci = outputs(&[".github/workflows/ci.yml", ".ci/run"]);
        assert_eq!(
            (ci["ci_only"].as_str(), ci["build"].as_str()),
            ("true", "false")
        );
        let both = outputs(&["README.md", ".ci/run"]);
        assert_eq!(
            (
                both["docs_only"].as_str(),
                both["ci_only"].as_str(),
                both["build"].as_str()
            ),
            ("false", "false", "false")
        );
        // An unclassified file counts as a build input.
        assert_eq!(outputs(&["README.md", "Makefile"])["build"], "true");
        // Nothing changed: nothing to run, and it is not "docs only" either.
        let none = outputs(&[]);
        assert_eq!(
            (
                none["docs_only"].as_str(),
                none["build"].as_str(),
                none["files"].as_str()
            ),
            ("false", "false", "0")
        );
    }

    #[test]
    fn key_values_are_one_line_each_in_a_fixed_order() {
        assert_eq!(
            report(&["Cargo.lock"]).key_values(),
            "deps=true\nci=false\ncode=false\ndocs=false\nother=false\n\
             docs_only=false\nci_only=false\nbuild=true\nlockfile=true\nfiles=1\n"
        );
    }

    const OLD_LOCK: &str = r#"
version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["serde"]

[[package]]
name = "serde"
version = "1.0.200"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "aaaa"

[[package]]
name = "syn"
version = "1.0.109"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "syn"
version = "2.0.50"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "oldcrate"
version = "0.3.1"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "regex"
version = "1.10.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;

    const NEW_LOCK: &str = r#"
version = 4

[[package]]
name = "app"
version = "0.2.0"

[[package]]
name = "serde"
version = "1.0.210"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "bbbb"

[[package]]
name = "syn"
version = "2.0.60"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "itoa"
version = "1.0.11"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "regex"
version = "1.9.6"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "patched"
version = "0.1.0"
source = "git+https://example.invalid/patched?rev=abc#abc"
"#;

    fn diff() -> Vec<LockChange> {
        lock_diff(
            &parse_lockfile(OLD_LOCK).unwrap(),
            &parse_lockfile(NEW_LOCK).unwrap(),
        )
    }

    #[test]
    fn lockfile_diff_lists_bumps_additions_and_removals_of_third_party_crates() {
        let changes = diff();
        let simple: Vec<(&str, LockChangeKind, String, String)> = changes
            .iter()
            .map(|c| (c.name.as_str(), c.change, c.from.join(","), c.to.join(",")))
            .collect();
        use LockChangeKind::*;
        assert_eq!(
            simple,
            [
                ("serde", Bumped, "1.0.200".into(), "1.0.210".into()),
                // Two versions went (syn 1 is no longer needed), one came.
                ("syn", Bumped, "1.0.109,2.0.50".into(), "2.0.60".into()),
                ("regex", Downgraded, "1.10.0".into(), "1.9.6".into()),
                ("itoa", Added, "".into(), "1.0.11".into()),
                (
                    "patched",
                    Added,
                    "".into(),
                    "0.1.0 (git+https://example.invalid/patched?rev=abc#abc)".into()
                ),
                ("oldcrate", Removed, "0.3.1".into(), "".into()),
            ]
        );
        // The workspace's own package (no source) is not a dependency: not listed.
        assert!(changes.iter().all(|c| c.name != "app"));
    }

    #[test]
    fn identical_lockfiles_have_no_changes_and_checksums_alone_do_not_count() {
        let old = parse_lockfile(OLD_LOCK).unwrap();
        assert!(lock_diff(&old, &old).is_empty());
        let rechecked = parse_lockfile(&OLD_LOCK.replace("aaaa", "cccc")).unwrap();
        assert!(lock_diff(&old, &rechecked).is_empty());
        // A lockfile that appears lists every crate as added (syn with both its versions).
        let added = lock_diff(&[], &old);
        assert_eq!(added.len(), 4);
        assert!(added.iter().all(|c| c.change == LockChangeKind::Added));
    }

    #[test]
    fn a_broken_lockfile_is_an_error() {
        let err = parse_lockfile("[[package]]\nname = 1\n").unwrap_err();
        assert!(format!("{err:#}").contains("parsing Cargo.lock"), "{err:#}");
    }

    #[test]
    fn markdown_summarises_the_lockfile_for_a_pull_request() {
        let mut r = report(&["Cargo.lock", "crates/app/Cargo.toml"]);
        r.lockfile = Some(diff());
        let md = r.markdown();
        assert!(md.starts_with("### Dependency changes\n\n"), "{md}");
        assert!(
            md.contains("`HEAD` (`222222222222`) against `333333333333` (merge base with `main`): 2 files changed, touching **deps**."),
            "{md}"
        );
        assert!(
            md.contains("`Cargo.lock`: 2 bumped, 1 downgraded, 2 added, 1 removed.\n\n"),
            "{md}"
        );
        assert!(
            md.contains("| crate | change | version |\n| --- | --- | --- |\n"),
            "{md}"
        );
        assert!(
            md.contains("| `serde` | bumped | 1.0.200 → 1.0.210 |\n"),
            "{md}"
        );
        assert!(
            md.contains("| `syn` | bumped | 1.0.109, 2.0.50 → 2.0.60 |\n"),
            "{md}"
        );
        assert!(
            md.contains("| `regex` | downgraded | 1.10.0 → 1.9.6 |\n"),
            "{md}"
        );
        assert!(md.contains("| `itoa` | added | 1.0.11 |\n"), "{md}");
        assert!(md.contains("| `oldcrate` | removed | 0.3.1 |\n"), "{md}");

        let code = report(&["src/main.rs"]).markdown();
        assert!(
            code.contains("1 file changed, touching **code**."),
            "{code}"
        );
        assert!(code.contains("`Cargo.lock` is unchanged."), "{code}");
    }

    #[test]
    fn versions_order_numerically() {
        assert!(version_key("1.10.0") > version_key("1.9.3"));
        assert!(version_key("2.0.0-rc.1") < version_key("2.0.0"));
        assert!(version_key("0.3.1 (git+x)") > version_key("0.3.0"));
        assert!(version_key("1.0.0-alpha.10") > version_key("1.0.0-alpha.2"));
        assert!(version_key("1.0.0-beta") > version_key("1.0.0-alpha.10"));
    }
}

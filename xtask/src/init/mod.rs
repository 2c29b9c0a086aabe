//! `cargo xtask init [PATH]`: adopt the tool in a workspace, as a dependency; `init --check`:
//! are the generated files as this version writes them; `cargo xtask upgrade`: move the pin.
//!
//! Adopting adds, without changing what the workspace builds or which versions it resolves to:
//! - `xtask/`: a few lines of the workspace's own (a manifest pinning the tool by git revision,
//!   version or path; a `main.rs` that calls it, with room for the team's commands), a workspace
//!   of its own (its own Cargo.lock); the `cargo xtask` alias (`xtask-build` beside a
//!   workspace's own `xtask`);
//! - `[workspace.metadata.xtask]`, a `production` profile when there is none, `exclude` entries
//!   when a member glob would take in `xtask/` or `ci_optims/`, dist/ git-ignored;
//! - generated files, each stamped with the version that wrote it: the Dockerfile and its build
//!   script (under `xtask/docker/` when the workspace has its own), a Makefile where it has
//!   none, two workflows; and `ci_optims/`.
//!
//! Every input is read and validated while planning; nothing is written before the plan is
//! whole. The alias is written last: an interrupted init leaves no half-installed tool
//! reachable, and a rerun completes it. A generated file the user edited is never overwritten
//! (the new version goes beside it), a file the tool did not write is never replaced.

mod edit;
mod files;
mod uninstall;

use crate::ci_optims;
use crate::config::DEFAULT_BUILD_ENV;
use crate::exec::{Command, Exec, Line, Stream};
use crate::plan::{Done, Handler, Plan, Step, Watch};
use crate::render::{Options, Table};
use crate::workspace::Workspace;
use anyhow::{bail, Context};
use edit::Source;
use files::State;
use std::path::{Path, PathBuf};

/// Where the workspace's xtask gets the tool.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// The tool from a git repository (pin it with --rev, --tag or --branch).
    #[arg(long, value_name = "URL")]
    pub git: Option<String>,
    /// The commit of the git repository to pin.
    #[arg(long, conflicts_with_all = ["tag", "branch"])]
    pub rev: Option<String>,
    /// The tag of the git repository to pin.
    #[arg(long, conflicts_with = "branch")]
    pub tag: Option<String>,
    /// The branch of the git repository to follow (Cargo.lock records its commit).
    #[arg(long)]
    pub branch: Option<String>,
    /// The tool from the registry, at this version requirement.
    #[arg(long, value_name = "VERSION", conflicts_with_all = ["git", "tool_path"])]
    pub tool_version: Option<String>,
    /// The tool from a local checkout (the folder of its xtask package): to try it, not to
    /// commit (the path is this machine's).
    #[arg(long, value_name = "DIR", conflicts_with = "git")]
    pub tool_path: Option<PathBuf>,
}

impl SourceArgs {
    /// The source the flags name, if any; `--rev` alone keeps the git URL of `pinned`.
    fn source(&self, pinned: Option<&Source>) -> anyhow::Result<Option<Source>> {
        let at = [
            ("rev", &self.rev),
            ("tag", &self.tag),
            ("branch", &self.branch),
        ]
        .into_iter()
        .find_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)));
        if let Some(version) = &self.tool_version {
            return Ok(Some(Source::Version(version.clone())));
        }
        if let Some(path) = &self.tool_path {
            let path = std::path::absolute(path)?;
            if !path.join("Cargo.toml").is_file() {
                bail!(
                    "--tool-path {}: no Cargo.toml there; give the tool's xtask/ folder",
                    path.display()
                );
            }
            return Ok(Some(Source::Path(path.display().to_string())));
        }
        let url = match (&self.git, pinned) {
            (Some(url), _) => url.clone(),
            (None, Some(Source::Git { url, .. })) if at.is_some() => url.clone(),
            (None, _) if at.is_some() => bail!("--rev, --tag and --branch need --git URL"),
            (None, _) => return Ok(None),
        };
        Ok(Some(Source::Git { url, at }))
    }
}

const NO_SOURCE: &str = "say where the workspace's xtask gets the tool: --git URL --rev COMMIT \
    (or --tag, --branch), --tool-version VERSION (from the registry), or --tool-path DIR (a \
    local checkout's xtask/, to try it)";

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example: cargo xtask init ../my-workspace --git https://github.com/OWNER/REPO --rev COMMIT\n\
    Then, in CI: cargo xtask init --check. To move the pin later: cargo xtask upgrade --rev COMMIT."
)]
pub struct InitArgs {
    /// The workspace to adopt the tool in (default: the current one).
    pub path: Option<PathBuf>,
    /// The long-running binary, for images and smoke tests (`[workspace.metadata.xtask.service]`).
    #[arg(long, value_name = "BIN")]
    pub service: Option<String>,
    /// Replace generated files that were edited (each edited version is kept beside it, as
    /// FILE.edited). A file the tool did not write is never replaced, --force or not.
    #[arg(long)]
    pub force: bool,
    /// Write nothing; fail, naming each file and the fix, when a generated file is missing,
    /// stale (another version's) or edited, or ci_optims/ is stale. For CI.
    #[arg(long, conflicts_with = "force")]
    pub check: bool,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Example: cargo xtask upgrade --rev COMMIT (the git URL stays).")]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Where the tool goes: its folder and its alias.
struct Place {
    dir: String,
    alias: String,
}

impl Place {
    fn manifest(&self) -> String {
        format!("{}/Cargo.toml", self.dir)
    }

    /// The alias's command: the workspace's xtask, built under the workspace's target/ (not in
    /// `xtask/target`, a folder no ignore file of the workspace covers).
    fn run_command(&self) -> String {
        format!(
            "run --manifest-path {} --target-dir target/{}-tool --",
            self.manifest(),
            self.dir
        )
    }
}

pub fn run(args: InitArgs, exec: &Exec, ws: &Workspace, opts: Options) -> anyhow::Result<()> {
    if !ws.tool_members.is_empty() {
        if args.check {
            eprintln!("the tool's own workspace: its files are the templates; nothing to check");
            return Ok(());
        }
        bail!("this is the tool's own workspace; give the path of the workspace to adopt it in: cargo xtask init ../my-workspace --git URL --rev COMMIT");
    }
    let place = install_place(&ws.root)?;
    if args.check {
        return check(exec, ws, &place);
    }
    if let Some(service) = &args.service {
        ws.bin(service).context("--service")?;
    }
    let plan = plan(ws, &args, &place)?;
    plan.print(opts.format)?;
    if opts.dry_run {
        return Ok(());
    }
    // The thin xtask's files this run creates: removed again if its pin does not resolve.
    let tool_dir = ws.root.join(&place.dir);
    let created = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Write { path, .. } if path.starts_with(&tool_dir) && !path.exists() => {
                Some(path.clone())
            }
            _ => None,
        })
        .collect();
    let mut adopting = Adopting {
        exec,
        ws,
        place: &place,
        created,
    };
    crate::plan::run(exec, &plan, &|_| false, &mut adopting)?;
    eprintln!(
        "done: try `cargo {} build --variant dev` in {}; commit what init wrote, and run `cargo {} init --check` in CI",
        place.alias,
        ws.root.display(),
        place.alias
    );
    Ok(())
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// `xtask/` and `cargo xtask`, unless the workspace has an `xtask` of its own (helix does):
/// then `xtask-build/` and `cargo xtask-build`.
fn install_place(root: &Path) -> anyhow::Result<Place> {
    let config = read(&root.join(".cargo/config.toml")).unwrap_or_default();
    let aliases: toml::Table = config
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("alias").and_then(|a| a.as_table()).cloned())
        .unwrap_or_default();
    for name in ["xtask", "xtask-build"] {
        let dir_free = match read(&root.join(name).join("Cargo.toml")) {
            Some(manifest) if manifest.contains(COPIED) => bail!(
                "{name}/ is a copy of an earlier version of the tool (before it was a library): \
                 move it away (`git rm -r {name}`), then run init again; it writes a thin {name}/ \
                 that depends on the tool"
            ),
            Some(manifest) => edit::pin(&manifest).is_some(),
            None => !root.join(name).exists(),
        };
        let alias_free = match aliases.get(name).map(|a| a.to_string()) {
            Some(alias) => alias.contains(&format!("{name}/Cargo.toml")),
            None => true,
        };
        if dir_free && alias_free {
            return Ok(Place {
                dir: name.to_string(),
                alias: name.to_string(),
            });
        }
    }
    bail!(
        "the workspace has its own `xtask` and `xtask-build` (folders or cargo aliases): move one \
         away, then run init again"
    )
}

/// The description of the tool's package when init copied its sources (up to 0.1.0 of Dec 2026).
const COPIED: &str = "Build, package, measure and containerise this workspace";

/// A file the tool generates: where, and what (unstamped).
struct Generated {
    rel: String,
    body: String,
    purpose: &'static str,
}

/// The Dockerfile and its script: where configured; else at the usual place unless the
/// workspace has its own there, then under the tool's folder.
fn docker_place(ws: &Workspace, place: &Place) -> (String, String) {
    if let Some(docker) = &ws.config.docker {
        if let Some(dockerfile) = &docker.dockerfile {
            return (dockerfile.clone(), docker.build_env_path().to_string());
        }
    }
    let foreign =
        |rel: &str| files::state(read(&ws.root.join(rel)).as_deref(), "") == State::Foreign;
    match foreign("Dockerfile") || foreign(DEFAULT_BUILD_ENV) {
        false => ("Dockerfile".into(), DEFAULT_BUILD_ENV.into()),
        true => (
            format!("{}/docker/Dockerfile", place.dir),
            format!("{}/docker/build-env.sh", place.dir),
        ),
    }
}

/// Every file the tool generates in this workspace, as this version writes it.
fn generated(ws: &Workspace, place: &Place) -> Vec<Generated> {
    let (dockerfile, build_env) = docker_place(ws, place);
    let file = |rel: String, template: &str, purpose| Generated {
        rel,
        body: files::render(template, &place.alias, &place.dir),
        purpose,
    };
    vec![
        file(dockerfile.clone(), files::DOCKERFILE, "the image build"),
        file(build_env, files::BUILD_ENV, "the image stages' script"),
        file(
            format!("{dockerfile}.dockerignore"),
            files::DOCKERIGNORE,
            "the build context's ignore file, for this Dockerfile only",
        ),
        file(
            "Makefile".into(),
            files::MAKEFILE,
            "make targets calling the tool",
        ),
        file(
            ".github/workflows/xtask-docker.yml".into(),
            files::DOCKER_WORKFLOW,
            "the image workflow",
        ),
        file(
            ".github/workflows/xtask-bench.yml".into(),
            files::BENCH_WORKFLOW,
            "the build-time workflow of pull requests",
        ),
        file(
            ".github/workflows/xtask-test.yml".into(),
            files::TEST_WORKFLOW,
            "build and test, reusing the default branch's target dir",
        ),
        file(
            ".github/workflows/xtask-release.yml".into(),
            files::RELEASE_WORKFLOW,
            "a release of each version tag: every target's binaries, macOS ones on a macOS runner when they need the SDK",
        ),
    ]
}

const LOCKFILE: &str = "lockfile";
const SYNC: &str = "ci-optims";

/// Every change, decided (and every input read and validated) before any is made.
fn plan(ws: &Workspace, args: &InitArgs, place: &Place) -> anyhow::Result<Plan> {
    let root = &ws.root;
    let mut plan = Plan::new("init")
        .within(root)
        .confined_to(&[root])
        .fact("workspace", root)
        .fact("tool", format!("{} {}", files::TOOL, files::VERSION));
    let frameworks: Vec<&str> = crate::needs::macos_sdk(ws)
        .iter()
        .map(|n| n.krate)
        .collect();
    if !frameworks.is_empty() {
        plan = plan.fact(
            "macos",
            format!(
                "{} link Apple frameworks: macOS targets need the macOS SDK (SDKROOT) on Linux, else a macOS runner (the release workflow does that: `cargo xtask targets`)",
                frameworks.join(", ")
            ),
        );
    }
    // Read and validated first: a malformed file stops init before anything is written.
    let config_rel = ".cargo/config.toml";
    let config = read(&root.join(config_rel)).unwrap_or_default();
    let alias = edit::alias(config_rel, &config, &place.alias, &place.run_command())?;
    let manifest = manifest_edits(ws, args, place)?;
    // First the pin, resolved: a source that does not resolve stops init before the rest.
    thin_xtask(&mut plan, ws, args, place)?;
    for g in generated(ws, place) {
        file_steps(&mut plan, root, &g, &place.alias, args.force);
    }
    if let Some((text, what)) = manifest {
        plan.step(Step::write(
            root.join("Cargo.toml"),
            format!("add {what}"),
            text,
        ));
    }
    if let Some(text) = ignore_build_output(ws) {
        plan.step(Step::write(
            root.join(".gitignore"),
            "git-ignore dist/ and its siblings (build output)",
            text,
        ));
    }
    plan.step(Step::task(
        SYNC,
        format!("{}/: generated from the workspace (Cargo.lock updated first if it does not match the manifests)", ci_optims::DIR),
    ));
    if let Some(text) = alias {
        plan.step(Step::write(
            root.join(config_rel),
            format!("the alias `cargo {}` = `cargo {}` (last: the tool is reachable once the rest is in place)", place.alias, place.run_command()),
            text,
        ));
    }
    Ok(plan)
}

/// The steps for one generated file, by what is at its place now.
fn file_steps(plan: &mut Plan, root: &Path, g: &Generated, alias: &str, force: bool) {
    let path = root.join(&g.rel);
    let on_disk = read(&path);
    let text = files::stamped(&g.body, alias);
    match files::state(on_disk.as_deref(), &g.body) {
        State::Current => {}
        State::Absent => plan.step(Step::write(path, g.purpose, text)),
        State::Stale { version } => plan.step(Step::write(
            path,
            format!("{}: replaces version {version}'s (not edited)", g.purpose),
            text,
        )),
        State::Edited { version, .. } if force => {
            let theirs = on_disk.unwrap_or_default();
            plan.step(Step::write(
                root.join(format!("{}.edited", g.rel)),
                "the edited version, kept (--force)",
                theirs,
            ));
            plan.step(Step::write(
                path,
                format!(
                    "{}: replaces version {version}'s, edited (--force)",
                    g.purpose
                ),
                text,
            ));
        }
        State::Edited {
            version,
            template_moved: false,
        } => plan.step(Step::Keep {
            path,
            why: format!(
                "edited since version {version} wrote it, and this version's template is the one the edit started from: the edit stands, nothing to merge"
            ),
        }),
        State::Edited { version, .. } => {
            let beside = root.join(format!("{}.new", g.rel));
            if read(&beside).as_deref() != Some(text.as_str()) {
                plan.step(Step::write(
                    beside,
                    format!(
                        "this version's {}, beside the edited one: merge it, then delete it",
                        g.rel
                    ),
                    text,
                ));
            }
            plan.step(Step::Keep {
                path,
                why: format!("edited since version {version} wrote it: never overwritten (--force replaces it, keeping it as {}.edited)", g.rel),
            });
        }
        State::Foreign => plan.step(Step::Keep {
            path,
            why: "not written by this tool: never replaced".into(),
        }),
    }
}

/// The workspace's own xtask: written once (then the team's), pinned at `source`.
fn thin_xtask(
    plan: &mut Plan,
    ws: &Workspace,
    args: &InitArgs,
    place: &Place,
) -> anyhow::Result<()> {
    let root = &ws.root;
    let manifest_path = root.join(place.manifest());
    match read(&manifest_path) {
        Some(manifest) => {
            let pinned = edit::pin(&manifest)
                .context("the workspace's xtask does not depend on the tool")?;
            let unfinished = !completed(root, place);
            if let Some(source) = args.source.source(Some(&pinned))? {
                if source != pinned && unfinished {
                    // An init that never resolved its pin (a wrong URL, say): the new one replaces it.
                    plan.step(Step::write(
                        manifest_path,
                        format!("the workspace's xtask: the tool from {} (the unresolved pin {} replaced)", source.describe(), pinned.describe()),
                        edit::set_pin(&place.manifest(), &manifest, &source)?,
                    ));
                    return lock_and_main(plan, root, place);
                }
                if source != pinned {
                    bail!(
                        "{} pins the tool at {}; to move the pin: cargo {} upgrade (with the same flags)",
                        place.manifest(),
                        pinned.describe(),
                        place.alias
                    );
                }
            }
            plan.step(Step::Keep {
                path: manifest_path,
                why: format!("the workspace's xtask, pinned at {}", pinned.describe()),
            });
        }
        None => {
            let source = args.source.source(None)?.context(NO_SOURCE)?;
            plan.step(Step::write(
                manifest_path,
                format!(
                    "the workspace's xtask, a workspace of its own: the tool from {}",
                    source.describe()
                ),
                thin_manifest(place, &source)?,
            ));
        }
    }
    lock_and_main(plan, root, place)
}

/// Did an init complete here: is the alias, written last, in place?
fn completed(root: &Path, place: &Place) -> bool {
    read(&root.join(".cargo/config.toml"))
        .and_then(|text| text.parse::<toml::Table>().ok())
        .is_some_and(|t| t.get("alias").and_then(|a| a.get(&place.alias)).is_some())
}

/// The thin xtask's main.rs (once) and its lockfile (until it resolved).
fn lock_and_main(plan: &mut Plan, root: &Path, place: &Place) -> anyhow::Result<()> {
    let main = root.join(&place.dir).join("src/main.rs");
    if !main.exists() {
        plan.step(Step::write(
            main,
            "calls the tool; the team's own commands go here too",
            MAIN.to_string(),
        ));
    }
    // Until the alias is written (last), the install is not complete: an interrupted one may
    // have left a lockfile cargo was still writing.
    if !completed(root, place) || !root.join(&place.dir).join("Cargo.lock").exists() {
        plan.step(Step::task(
            LOCKFILE,
            format!(
                "{}/Cargo.lock: the versions the tool was tested with, resolved by cargo",
                place.dir
            ),
        ));
    }
    Ok(())
}

const MAIN: &str =
    "//! This workspace's `cargo xtask`: the build tool's commands (`cargo xtask --help`).
//! The team's own commands go before it, e.g.:
//! `if std::env::args().nth(1).as_deref() == Some(\"release\") { return release(); }`

fn main() -> std::process::ExitCode {
    xtask_fastbuild::main()
}
";

fn thin_manifest(place: &Place, source: &Source) -> anyhow::Result<String> {
    let text = format!(
        "# This workspace's own `cargo {alias}` (written by `cargo {alias} init`, then yours: add\n\
         # commands in src/main.rs, their dependencies here). The build tool is the dependency\n\
         # below; `cargo {alias} upgrade` moves its pin and regenerates the files it wrote.\n\
         [package]\nname = \"{dir}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         # One binary, `xtask`, whatever the folder is called (the workflows install it by that name).\n\
         [[bin]]\nname = \"xtask\"\npath = \"src/main.rs\"\n\n\
         [dependencies]\n\n\
         # A workspace of its own: it never joins (or changes) the one it builds.\n[workspace]\n\n\
         # Compiled on every fresh clone before anything else runs, so compiled for that: no\n\
         # debug info (panics still name their functions) and no incremental state (a path pin\n\
         # would get it), about two thirds of the time. Editing the tool: CARGO_INCREMENTAL=1.\n\
         [profile.dev]\ndebug = false\nincremental = false\n\n\
         # It hashes image layers and cache records: optimized, SHA-256 is about ten times faster.\n\
         [profile.dev.package.hmac-sha256]\nopt-level = 3\n",
        alias = place.alias,
        dir = place.dir,
    );
    edit::set_pin(&place.manifest(), &text, source)
}

/// The root manifest with the config table, the production profile and the excludes it lacks,
/// and what was added; None when it has them all.
fn manifest_edits(
    ws: &Workspace,
    args: &InitArgs,
    place: &Place,
) -> anyhow::Result<Option<(String, String)>> {
    let rel = "Cargo.toml";
    let original = read(&ws.root.join(rel)).context("reading the root Cargo.toml")?;
    let table: toml::Table = edit::parse(rel, &original)?.to_string().parse()?;
    let workspace = table.get("workspace");
    let mut text = original.clone();
    let mut added = Vec::new();
    let needed = excludes_needed(workspace, &place.dir);
    if !needed.is_empty() {
        text = edit::exclude(rel, &text, &needed)?;
        added.push(format!("workspace.exclude {needed:?}"));
    }
    let has_config = workspace
        .and_then(|w| w.get("metadata"))
        .and_then(|m| m.get("xtask"))
        .is_some();
    let (dockerfile, build_env) = docker_place(ws, place);
    let moved = dockerfile != "Dockerfile";
    if !has_config {
        text = edit::append(
            rel,
            &text,
            &config_table(ws, args, moved.then_some((&dockerfile, &build_env))),
        )?;
        let packages = proposed_packages(ws);
        added.push(match packages.is_empty() {
            true => "[workspace.metadata.xtask]".into(),
            false => format!("[workspace.metadata.xtask] with system-packages = {packages:?} (what Cargo.lock's build scripts need)"),
        });
    } else if moved
        && ws
            .config
            .docker
            .as_ref()
            .is_none_or(|d| d.dockerfile.is_none())
    {
        let entries = vec![
            ("dockerfile", toml_edit::value(&dockerfile)),
            ("build-env", toml_edit::value(&build_env)),
        ];
        text = edit::set(
            rel,
            &text,
            &["workspace", "metadata", "xtask", "docker"],
            entries,
        )?;
        added.push("[workspace.metadata.xtask.docker]".into());
    }
    let packages = proposed_packages(ws);
    let has_packages = workspace
        .and_then(|w| w.get("metadata"))
        .and_then(|m| m.get("xtask"))
        .is_some_and(|x| x.get("system-packages").is_some());
    if has_config && !has_packages && !packages.is_empty() {
        let entries = vec![("system-packages", edit::strings(&packages))];
        text = edit::set(rel, &text, &["workspace", "metadata", "xtask"], entries)?;
        added.push(format!(
            "system-packages = {packages:?} (what Cargo.lock's build scripts need)"
        ));
    }
    if !ws.profiles.contains("production") {
        text = edit::append(rel, &text, PRODUCTION)?;
        added.push("[profile.production]".into());
    }
    Ok((text != original).then(|| (text, added.join(", "))))
}

/// The Debian packages Cargo.lock's build scripts need (`system-packages` to propose).
fn proposed_packages(ws: &Workspace) -> Vec<String> {
    crate::needs::packages(&crate::needs::of(ws))
}

const PRODUCTION: &str = "\n# Optimized release builds of `cargo xtask build --variant production` (added by `cargo xtask init`).\n\
    [profile.production]\ninherits = \"release\"\nlto = \"thin\"\ncodegen-units = 1\nstrip = true\n";

/// The tool's folder and ci_optims/, where a member glob would take them in.
fn excludes_needed<'a>(workspace: Option<&toml::Value>, dir: &'a str) -> Vec<&'a str> {
    let Some(patterns) = workspace
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
    else {
        return Vec::new();
    };
    let excluded: Vec<&str> = workspace
        .and_then(|w| w.get("exclude"))
        .and_then(|e| e.as_array())
        .map(|e| e.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    [dir, ci_optims::DIR]
        .into_iter()
        .filter(|d| !excluded.contains(d))
        .filter(|d| {
            patterns
                .iter()
                .filter_map(|p| p.as_str())
                .any(|p| glob(p, d))
        })
        .collect()
}

/// Crates a binary that serves depends on (a server framework or its core).
const SERVES_WITH: &[&str] = &[
    "axum",
    "actix-web",
    "warp",
    "rocket",
    "poem",
    "salvo",
    "tide",
    "tonic",
    "ntex",
    "hyper",
    "tower-http",
];

/// The binary the image runs, when a workspace has several (with one, images take it anyway):
/// `--service`, else the one whose package depends on a server framework, else the first, each
/// with a note on why and how to change it, so that the first `docker build` works.
fn image_service(ws: &Workspace, args: &InitArgs) -> Option<(String, String)> {
    if let Some(service) = &args.service {
        return Some((service.clone(), String::new()));
    }
    let bins = ws.shipped_bins();
    if bins.len() < 2 {
        return None;
    }
    let serves = |bin: &&&crate::workspace::Bin| {
        let member = ws.members.iter().find(|m| m.name == bin.package);
        member.and_then(|m| {
            SERVES_WITH
                .iter()
                .find(|s| m.dependency_names.contains(**s))
        })
    };
    let names: Vec<&str> = bins.iter().map(|b| b.name.as_str()).collect();
    let change = format!(
        "; to ship another, set `bin` to one of {}",
        names.join(", ")
    );
    let serving: Vec<_> = bins.iter().filter(|b| serves(b).is_some()).collect();
    Some(match serving.as_slice() {
        [only] => (
            only.name.clone(),
            format!(" (it depends on {}: it serves{change})", serves(only)?),
        ),
        _ => (
            bins[0].name.clone(),
            format!(" (the first of the binaries{change})"),
        ),
    })
}

fn config_table(ws: &Workspace, args: &InitArgs, docker: Option<(&String, &String)>) -> String {
    let bins: Vec<String> = ws.bins.iter().map(|b| format!("\"{}\"", b.name)).collect();
    // A library-only workspace ships nothing: `bins = []` would refuse every production build
    // with a wrong cause, so the key is left out until there is a binary.
    let bins_line = match bins.is_empty() {
        true => {
            "# bins = [\"...\"]: none yet (a library-only workspace); dev builds its libraries.\n"
                .to_string()
        }
        false => format!("bins = [{}]\n", bins.join(", ")),
    };
    let mut text = format!(
        "\n# What `cargo xtask` builds, ships and measures (added by `cargo xtask init`; every key is optional).\n\
         [workspace.metadata.xtask]\n# Binaries shipped into dist/ by `cargo xtask build --variant production`.\n{bins_line}"
    );
    let packages = proposed_packages(ws);
    if !packages.is_empty() {
        let why: Vec<String> = crate::needs::of(ws)
            .iter()
            .map(|n| format!("{} {}", n.krate, n.what))
            .collect();
        text.push_str(&format!(
            "# Debian packages the build scripts need, read from Cargo.lock ({}); images install them.\nsystem-packages = {packages:?}\n",
            why.join("; ")
        ));
    }
    let frameworks: Vec<&str> = crate::needs::macos_sdk(ws)
        .iter()
        .map(|n| n.krate)
        .collect();
    if !frameworks.is_empty() {
        text.push_str(&format!(
            "# macOS targets (x86_64-apple-darwin, aarch64-apple-darwin) need the macOS SDK here: Cargo.lock has {} (Apple frameworks). Set SDKROOT to a MacOSX.sdk to build them on Linux; else the release workflow builds them on a macOS runner (`cargo xtask targets`).\n",
            frameworks.join(", ")
        ));
    }
    if let Some((service, why)) = image_service(ws, args) {
        text.push_str(&format!(
            "\n# The long-running binary: the image's entry point and the smoke tests' target{why}.\n[workspace.metadata.xtask.service]\nbin = \"{service}\"\n"
        ));
    }
    if let Some((dockerfile, build_env)) = docker {
        text.push_str(&format!(
            "\n# The tool's Dockerfile and build script (the workspace has its own at the usual place).\n[workspace.metadata.xtask.docker]\ndockerfile = \"{dockerfile}\"\nbuild-env = \"{build_env}\"\n"
        ));
    }
    text
}

/// The root `.gitignore` with dist/ and its siblings (staging, previous, lock) added, as far as
/// it does not ignore them already; None when it does.
fn ignore_build_output(ws: &Workspace) -> Option<String> {
    let dist = ws
        .config
        .dist_dir
        .as_deref()
        .unwrap_or("dist")
        .trim_matches('/');
    let current = read(&ws.root.join(".gitignore")).unwrap_or_default();
    let has = |pattern: &str| {
        current.lines().any(|l| {
            let l = l.trim();
            l == pattern
                || l == pattern.trim_start_matches('/')
                || l == pattern.trim_end_matches('/')
        })
    };
    let missing: Vec<String> = [
        format!("/{dist}/"),
        format!("/{dist}.staging/"),
        format!("/{dist}.previous/"),
        format!("/{dist}.lock"),
    ]
    .into_iter()
    .filter(|p| !has(p))
    .collect();
    if missing.is_empty() {
        return None;
    }
    let mut text = current;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "\n# The output of `cargo xtask build --variant production` (added by `cargo xtask init`).\n{}\n",
        missing.join("\n")
    ));
    Some(text)
}

/// Does the member pattern `pattern` (cargo's globs: `*`, `?`) match the directory `dir`?
fn glob(pattern: &str, dir: &str) -> bool {
    fn matches(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                matches(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && matches(p, &s[1..]))
            }
            (Some(b'?'), Some(c)) if *c != b'/' => matches(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => matches(&p[1..], &s[1..]),
            _ => false,
        }
    }
    matches(pattern.trim_end_matches('/').as_bytes(), dir.as_bytes())
}

/// Init's part: the lockfile and ci_optims/ tasks.
struct Adopting<'a> {
    exec: &'a Exec<'a>,
    ws: &'a Workspace,
    place: &'a Place,
    created: Vec<PathBuf>,
}

impl Handler for Adopting<'_> {
    type Watch = Shown;

    fn done(&mut self, step: &Step, _: Done<Shown>) -> anyhow::Result<()> {
        match step {
            Step::Task { task, .. } if task == LOCKFILE => {
                tool_lockfile(self.exec, self.ws, self.place).inspect_err(|_| {
                    // Nothing else is written yet: the workspace is as it was.
                    for path in &self.created {
                        let _ = std::fs::remove_file(path);
                    }
                    let dir = self.ws.root.join(&self.place.dir);
                    let _ = std::fs::remove_dir(dir.join("src"));
                    let _ = std::fs::remove_dir(dir);
                })
            }
            Step::Task { task, .. } if task == SYNC => {
                // ci_optims mirrors the workspace as it is now (with the profile just added).
                let ws = Workspace::load_at(self.exec, &self.ws.root)?;
                ci_optims::sync(self.exec, &ws)?.print();
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Every line of a process shown as it comes (cargo's own progress and errors).
#[derive(Default)]
pub struct Shown;

impl Watch for Shown {
    fn line(&mut self, _: Stream, _: &str) -> Line {
        Line::Show
    }
}

/// The workspace xtask's Cargo.lock: the versions this tool was tested with, trimmed (and the
/// tool's own source added) by cargo.
fn tool_lockfile(exec: &Exec, ws: &Workspace, place: &Place) -> anyhow::Result<()> {
    let lock = ws.root.join(&place.dir).join("Cargo.lock");
    crate::plan::write_whole(&lock, files::TESTED_LOCK)?;
    let manifest = ws.root.join(place.manifest());
    let metadata = |offline: bool| {
        let c = Command::new(&ws.cargo)
            .args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(manifest.display().to_string());
        match offline {
            true => c.arg("--offline"),
            false => c,
        }
    };
    if !exec.succeeds(&metadata(true)) {
        if let Err(e) = exec.read(&metadata(false)) {
            let _ = std::fs::remove_file(&lock);
            return Err(e.context(format!(
                "resolving {}/Cargo.lock (is the tool's source reachable?)",
                place.dir
            )));
        }
    }
    eprintln!("wrote {}/Cargo.lock", place.dir);
    Ok(())
}

/// `init --check`: every generated file as this version writes it, and ci_optims/ current.
fn check(exec: &Exec, ws: &Workspace, place: &Place) -> anyhow::Result<()> {
    let Some(manifest) = read(&ws.root.join(place.manifest())) else {
        bail!(
            "the tool is not adopted here ({} is missing): run `cargo xtask init`",
            place.manifest()
        );
    };
    let pinned = edit::pin(&manifest)
        .map(|s| s.describe())
        .unwrap_or_default();
    let fix_init = format!("cargo {} init", place.alias);
    let mut table = Table::new(["file", "state", "fix"]);
    let mut problems = Vec::new();
    for g in generated(ws, place) {
        let on_disk = read(&ws.root.join(&g.rel));
        let (state, fix) = match files::state(on_disk.as_deref(), &g.body) {
            State::Current => ("current".to_string(), String::new()),
            State::Foreign => ("the workspace's own (not checked)".into(), String::new()),
            State::Absent => ("missing".into(), fix_init.clone()),
            State::Stale { version } => (
                format!("written by {version}, the pin is {}", files::VERSION),
                fix_init.clone(),
            ),
            State::Edited {
                version,
                template_moved: false,
            } => (
                format!("edited since {version} wrote it; the template is the one it started from: current"),
                String::new(),
            ),
            State::Edited { version, .. } => (
                format!("edited since {version} wrote it, and the template has moved since"),
                "merge this version's template into it (`init` puts it beside as .new), or delete its stamp line to own the file".into(),
            ),
        };
        let pending = ws.root.join(format!("{}.new", g.rel)).exists();
        let (state, fix) = match pending {
            true => (
                format!("{state}; {}.new waits beside it", g.rel),
                format!("merge {}.new into it, then delete it", g.rel),
            ),
            false => (state, fix),
        };
        if !fix.is_empty() {
            problems.push(g.rel.clone());
        }
        table.row([g.rel, state, fix]);
    }
    match ci_optims::check(exec, ws) {
        Ok(()) => table.row([
            format!("{}/", ci_optims::DIR),
            "current".into(),
            String::new(),
        ]),
        Err(e) => {
            problems.push(format!("{}/", ci_optims::DIR));
            table.row([
                format!("{}/", ci_optims::DIR),
                format!("{e:#}"),
                format!("cargo {} ci-optims sync", place.alias),
            ]);
        }
    }
    println!(
        "{} {} ({pinned}):\n{}",
        files::TOOL,
        files::VERSION,
        table.terminal()
    );
    if !problems.is_empty() {
        bail!(
            "{} generated file(s) are not as this version writes them: {}",
            problems.len(),
            problems.join(", ")
        );
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Edited generated files and a thin xtask with the team's own code stay (the plan says so). --dry-run first."
)]
pub struct UninstallArgs {}

/// `cargo xtask uninstall`: what init added, taken out (see `uninstall`).
pub fn uninstall(
    _: UninstallArgs,
    exec: &Exec,
    ws: &Workspace,
    opts: Options,
) -> anyhow::Result<()> {
    if !ws.tool_members.is_empty() {
        bail!("this is the tool's own workspace: uninstall runs in a workspace that adopted it");
    }
    let place = install_place(&ws.root)?;
    let plan = uninstall::plan(ws, &place)?;
    plan.print(opts.format)?;
    if opts.dry_run {
        return Ok(());
    }
    crate::plan::run(
        exec,
        &plan,
        &|_| false,
        &mut Tidying {
            root: &ws.root,
            removed: Vec::new(),
        },
    )?;
    eprintln!(
        "done: the tool is out of {}; `git status` shows what changed",
        ws.root.display()
    );
    Ok(())
}

/// Uninstall's part: the folders its removals emptied go too (up to the workspace root).
struct Tidying<'a> {
    root: &'a Path,
    removed: Vec<PathBuf>,
}

impl Handler for Tidying<'_> {
    type Watch = Shown;

    fn done(&mut self, step: &Step, _: Done<Shown>) -> anyhow::Result<()> {
        match step {
            Step::Remove { path, .. } => self.removed.push(path.clone()),
            Step::Task { task, .. } if task == uninstall::TIDY => {
                for path in &self.removed {
                    for dir in path.ancestors().skip(1) {
                        if dir == self.root
                            || !dir.starts_with(self.root)
                            || std::fs::remove_dir(dir).is_err()
                        {
                            break;
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// `cargo xtask upgrade`: move the pin, resolve it, and let the new version regenerate.
pub fn upgrade(
    args: UpgradeArgs,
    exec: &Exec,
    ws: &Workspace,
    opts: Options,
) -> anyhow::Result<()> {
    if !ws.tool_members.is_empty() {
        bail!("this is the tool's own workspace: upgrade runs in a workspace that adopted it");
    }
    let place = install_place(&ws.root)?;
    let rel = place.manifest();
    let path = ws.root.join(&rel);
    let manifest = read(&path)
        .with_context(|| format!("{rel} is missing: adopt the tool first (cargo xtask init)"))?;
    let pinned = edit::pin(&manifest)
        .with_context(|| format!("{rel} does not depend on {}", files::TOOL))?;
    let source = args.source.source(Some(&pinned))?.context(NO_SOURCE)?;
    let lock = ws.root.join(&place.dir).join("Cargo.lock");
    let mut plan = Plan::new("upgrade")
        .within(&ws.root)
        .confined_to(&[&ws.root])
        .fact("from", pinned.describe())
        .fact("to", source.describe());
    let moved = edit::set_pin(&rel, &manifest, &source)?;
    if moved != manifest {
        plan.step(Step::write(
            &path,
            format!(
                "move the pin: {} -> {}",
                pinned.describe(),
                source.describe()
            ),
            moved,
        ));
    }
    let cargo = |args: &[&str]| {
        Command::new(&ws.cargo)
            .args(args)
            .arg("--manifest-path")
            .arg(path.display().to_string())
            .dir(&ws.root)
    };
    plan.step(Step::run(
        format!(
            "{}/Cargo.lock: the new pin resolved (put back as it was if this fails)",
            place.dir
        ),
        cargo(&["update", "--package", files::TOOL]),
    ));
    plan.step(Step::run(
        "the new version regenerates the files it writes (edited ones kept, the new version beside them)",
        cargo(&["run", "--target-dir", &format!("target/{}-tool", place.dir)]).args(["--", "init"]),
    ));
    plan.print(opts.format)?;
    if opts.dry_run {
        return Ok(());
    }
    let saved = (manifest, read(&lock));
    crate::plan::run(
        exec,
        &plan,
        &|_| false,
        &mut Upgrading { path, lock, saved },
    )
}

/// Upgrade's part: a pin that does not resolve is put back, with the lockfile.
struct Upgrading {
    path: PathBuf,
    lock: PathBuf,
    saved: (String, Option<String>),
}

impl Handler for Upgrading {
    type Watch = Shown;

    fn done(&mut self, _: &Step, _: Done<Shown>) -> anyhow::Result<()> {
        Ok(())
    }

    fn failed(&self, step: &Step, _: Option<Shown>, e: anyhow::Error) -> anyhow::Error {
        let resolving =
            matches!(step, Step::Run { command, .. } if command.line().contains(" update "));
        if !resolving {
            return e;
        }
        let put_back =
            crate::plan::write_whole(&self.path, &self.saved.0).and_then(|()| {
                match &self.saved.1 {
                    Some(lock) => crate::plan::write_whole(&self.lock, lock),
                    None => Ok(()),
                }
            });
        match put_back {
            Ok(()) => e.context(
                "the new pin does not resolve; the manifest and Cargo.lock are as they were",
            ),
            Err(p) => e.context(format!(
                "the new pin does not resolve, and putting the manifest back failed too: {p:#}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workspace_with_its_own_xtask_gets_the_tool_beside_it() {
        let dir = crate::test_support::scratch("install-place");
        let place = |d: &Path| install_place(d).map(|p| (p.dir, p.alias));
        assert_eq!(place(&dir).unwrap(), ("xtask".into(), "xtask".into()));
        std::fs::create_dir_all(dir.join("xtask")).unwrap();
        std::fs::write(
            dir.join("xtask/Cargo.toml"),
            "[package]\nname = \"xtask\"\n",
        )
        .unwrap();
        assert_eq!(
            place(&dir).unwrap(),
            ("xtask-build".into(), "xtask-build".into())
        );
        // Ours (a second init): the same place again.
        let ours = format!(
            "[package]\nname = \"xtask\"\n[dependencies]\n{} = \"0.1\"\n",
            files::TOOL
        );
        std::fs::write(dir.join("xtask/Cargo.toml"), ours).unwrap();
        assert_eq!(place(&dir).unwrap().0, "xtask");
        // A cargo alias of its own counts too.
        std::fs::create_dir_all(dir.join(".cargo")).unwrap();
        std::fs::write(
            dir.join(".cargo/config.toml"),
            "[alias]\nxtask = \"run -p xtask --\"\n",
        )
        .unwrap();
        assert_eq!(place(&dir).unwrap().0, "xtask-build");
        // A copy of the tool from before it was a library: named, with the way out.
        std::fs::write(
            dir.join("xtask/Cargo.toml"),
            format!("description = \"{COPIED}\"\n"),
        )
        .unwrap();
        let err = place(&dir).unwrap_err().to_string();
        assert!(err.contains("git rm -r xtask"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn member_globs() {
        assert!(glob("*", "xtask"));
        assert!(glob("*", "ci_optims"));
        assert!(!glob("crates/*", "xtask"));
        assert!(glob("x?ask", "xtask"));
        assert!(glob("xtask/", "xtask"));
        assert!(!glob("*", "a/b"));
    }

    #[test]
    fn the_thin_manifest_is_a_workspace_of_its_own_pinning_the_tool() {
        let place = Place {
            dir: "xtask-build".into(),
            alias: "xtask-build".into(),
        };
        let source = Source::Git {
            url: "file:///tmp/tool".into(),
            at: Some(("rev".into(), "abc".into())),
        };
        let text = thin_manifest(&place, &source).unwrap();
        let doc: toml::Table = text.parse().unwrap();
        assert_eq!(doc["package"]["name"].as_str(), Some("xtask-build"));
        assert!(doc.contains_key("workspace"), "{text}");
        assert_eq!(edit::pin(&text), Some(source));
    }
}

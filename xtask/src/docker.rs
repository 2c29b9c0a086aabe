//! `cargo xtask docker build`: the image of the service binary, per platform, in phases.
//!
//! Each platform is one `docker build` (platforms in parallel, each cross-compiled on the build
//! platform). Its BuildKit log is read step by step: each step's stage gives its phase (deps,
//! build, runtime), its `DONE` line the time, its `CACHED` line the cache hit, and cargo's
//! `Compiling` lines which crates it compiled, and which of them were third-party: the proof
//! that a source change never rebuilds a dependency. With a registry, the deps stage is tagged
//! too (a cached run) and pushed as the cache other machines start from, each platform's image
//! is pushed, and the platforms are joined into one manifest list.

use crate::ci_optims;
use crate::workspace::{git_state, Workspace};
use anyhow::{bail, Context};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Instant;
use xshell::Shell;

#[derive(Debug, clap::Args)]
pub struct DockerArgs {
    #[command(subcommand)]
    command: DockerCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DockerCommand {
    /// Build the service image for each platform (in parallel), then push and join them.
    Build(DockerBuildArgs),
    /// Join per-platform images already pushed (`<tag>-<arch>`) into the manifest list `<tag>`:
    /// the last step when each platform was built by its own CI job.
    Manifest(DockerBuildArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DockerVariant {
    /// `production` profile: optimized, stripped.
    Production,
    /// `dev` profile: fastest to build.
    #[value(alias = "dev")]
    Development,
}

impl DockerVariant {
    fn build_arg(self) -> &'static str {
        match self {
            DockerVariant::Production => "production",
            DockerVariant::Development => "development",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
pub enum Platform {
    #[value(name = "linux/amd64")]
    #[serde(rename = "linux/amd64")]
    LinuxAmd64,
    #[value(name = "linux/arm64")]
    #[serde(rename = "linux/arm64")]
    LinuxArm64,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::LinuxAmd64 => "linux/amd64",
            Platform::LinuxArm64 => "linux/arm64",
        }
    }

    pub fn arch(self) -> &'static str {
        match self {
            Platform::LinuxAmd64 => "amd64",
            Platform::LinuxArm64 => "arm64",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct DockerBuildArgs {
    /// Build variant (BUILD_VARIANT).
    #[arg(long, value_enum, default_value_t = DockerVariant::Production)]
    pub variant: DockerVariant,
    /// Comma-separated platforms (PLATFORMS). Default: linux/amd64 for development,
    /// linux/amd64,linux/arm64 for production.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub platforms: Vec<Platform>,
    /// Image name (IMAGE). Default: [workspace.metadata.xtask.docker] image, else the service binary.
    #[arg(long)]
    pub image: Option<String>,
    /// Tag (TAG); per-platform images get `-<arch>` appended. Default: the variant name.
    #[arg(long)]
    pub tag: Option<String>,
    /// Version reported by the binary (VERSION). Default: the service package's version.
    #[arg(long)]
    pub version: Option<String>,
    /// Commit reported by the binary (COMMIT_SHA). Default: `git rev-parse HEAD`.
    #[arg(long)]
    pub commit: Option<String>,
    /// Registry to push to, e.g. 127.0.0.1:5000 (REGISTRY): push each platform, then one manifest list.
    #[arg(long)]
    pub registry: Option<String>,
    /// Extra image label KEY=VALUE (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// BuildKit secret passed through, e.g. `id=git_token,src=token.txt` (repeatable).
    #[arg(long = "secret", value_name = "SPEC")]
    pub secrets: Vec<String>,
    /// Compile through sccache (its own cache mount).
    #[arg(long)]
    pub sccache: bool,
    /// Docker client (DOCKER).
    #[arg(long, env = "DOCKER", default_value = "docker")]
    pub docker: String,
    /// Extra flags for every `docker build`, whitespace-separated (DOCKER_BUILD_FLAGS), e.g.
    /// `--network host --cache-from reg/img:tag`.
    #[arg(long, allow_hyphen_values = true, value_name = "FLAGS")]
    pub docker_flags: Option<String>,
    /// Print every docker command and build nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(skip)]
    pub manifest_only: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// One docker invocation of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub phase: Phase,
    pub platform: Option<Platform>,
    pub args: Vec<String>,
}

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

#[derive(Debug, Serialize)]
pub struct DockerPlan {
    pub docker: String,
    pub variant: DockerVariant,
    pub bin: String,
    /// The final reference: one platform's image, or the manifest list.
    pub image: String,
    /// Per platform: its image reference and its build steps, run in order.
    pub platforms: Vec<(Platform, String, Vec<Step>)>,
    /// After every platform is built: pushes, then the manifest list.
    pub publish: Vec<Step>,
}

impl DockerArgs {
    pub fn run(self, sh: &Shell, ws: &Workspace) -> anyhow::Result<()> {
        match self.command {
            DockerCommand::Build(args) => args.run(sh, ws),
            DockerCommand::Manifest(args) => args.manifest(ws),
        }
    }
}

impl DockerBuildArgs {
    pub fn run(self, sh: &Shell, ws: &Workspace) -> anyhow::Result<()> {
        let commit = match &self.commit {
            Some(c) => c.clone(),
            None => git_state(sh, &ws.root)
                .map(|g| g.commit)
                .unwrap_or_default(),
        };
        let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let plan = self.plan(ws, &commit, &created)?;
        if self.dry_run {
            if self.json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
            } else {
                for (_, _, steps) in &plan.platforms {
                    for step in steps {
                        println!("{}", plan.command_line(step));
                    }
                }
                for step in &plan.publish {
                    println!("{}", plan.command_line(step));
                }
            }
            return Ok(());
        }
        ci_optims::check(sh, ws).context("the Docker deps stage builds ci_optims/")?;
        check_engine(&plan.docker)?;
        let members = workspace_crates(ws);
        let report = execute(&plan, ws, &members, false)?;
        report.write_step_summary()?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!("{}", report.table());
        }
        Ok(())
    }

    fn manifest(mut self, ws: &Workspace) -> anyhow::Result<()> {
        if self.registry.is_none() {
            bail!("a manifest list lives in a registry: give --registry (REGISTRY)");
        }
        self.manifest_only = true;
        let mut plan = self.plan(ws, "", "")?;
        plan.platforms.clear();
        plan.publish.retain(|s| s.phase == Phase::Manifest);
        if self.dry_run {
            for step in &plan.publish {
                println!("{}", plan.command_line(step));
            }
            return Ok(());
        }
        check_engine(&plan.docker)?;
        let report = execute(&plan, ws, &workspace_crates(ws), false)?;
        report.write_step_summary()?;
        println!("{}", report.table());
        Ok(())
    }

    pub fn plan(&self, ws: &Workspace, commit: &str, created: &str) -> anyhow::Result<DockerPlan> {
        let service = ws.config.service.as_ref().context(
            "no service to containerise: set [workspace.metadata.xtask.service] bin = \"<binary>\" in the root Cargo.toml",
        )?;
        let bin = ws.bin(&service.bin)?;
        let docker_config = ws.config.docker.clone().unwrap_or_default();
        let image = self
            .image
            .clone()
            .or(docker_config.image)
            .unwrap_or_else(|| bin.name.clone());
        let tag = self
            .tag
            .clone()
            .unwrap_or_else(|| self.variant.build_arg().to_string());
        let version = self.version.clone().unwrap_or_else(|| bin.version.clone());
        let repo = match &self.registry {
            Some(registry) => format!("{}/{image}", registry.trim_end_matches('/')),
            None => image.clone(),
        };
        let mut platforms = self.platforms.clone();
        if platforms.is_empty() {
            platforms = match self.variant {
                DockerVariant::Development => vec![Platform::LinuxAmd64],
                DockerVariant::Production => vec![Platform::LinuxAmd64, Platform::LinuxArm64],
            };
        }
        platforms.sort();
        platforms.dedup();
        let extra: Vec<String> = self
            .docker_flags
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(String::from)
            .collect();

        let mut common = vec![
            "--build-arg".to_string(),
            format!("BUILD_VARIANT={}", self.variant.build_arg()),
            "--build-arg".into(),
            format!("BIN={}", bin.name),
            "--build-arg".into(),
            format!("VERSION={version}"),
            "--build-arg".into(),
            format!("COMMIT_SHA={commit}"),
            "--build-arg".into(),
            format!("SCCACHE={}", self.sccache),
        ];
        for secret in &self.secrets {
            common.extend(["--secret".into(), secret.clone()]);
        }

        let single = platforms.len() == 1;
        let mut per_platform = Vec::new();
        let mut publish = Vec::new();
        let mut pushed = Vec::new();
        for platform in &platforms {
            let arch = platform.arch();
            let image_ref = format!("{repo}:{tag}-{arch}");
            // The deps stage gets its own tag: pushed, it is the cache another machine starts from.
            let deps_ref = format!("{repo}:deps-{}-{arch}", self.variant.build_arg());
            let base = |phase: Phase, target: &str| {
                let mut args = vec![
                    "build".to_string(),
                    "--progress=plain".into(),
                    "--platform".into(),
                    platform.as_str().into(),
                    "--target".into(),
                    target.into(),
                ];
                args.extend(common.iter().cloned());
                if self.registry.is_some() {
                    args.extend(["--cache-from".into(), deps_ref.clone()]);
                }
                args.extend(extra.iter().cloned());
                Step {
                    phase,
                    platform: Some(*platform),
                    args,
                }
            };
            // One run builds every stage: its log gives the deps, build and runtime phases.
            let mut image = base(Phase::Build, "runtime");
            image.args.extend([
                "--build-arg".into(),
                format!("CREATED={created}"),
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
                .chain(self.labels.iter().cloned())
            {
                image.args.extend(["--label".into(), label]);
            }
            image.args.extend(["-t".into(), image_ref.clone()]);
            if single {
                image.args.extend(["-t".into(), format!("{repo}:{tag}")]);
            }
            let mut steps = vec![image];
            if self.registry.is_some() {
                // The deps stage as an image of its own, with inline cache metadata: pushed,
                // it is what `--cache-from` gives another machine. Fully cached here.
                let mut cache = base(Phase::Cache, "deps");
                cache.args.extend([
                    "--build-arg".into(),
                    "BUILDKIT_INLINE_CACHE=1".into(),
                    "-t".into(),
                    deps_ref.clone(),
                ]);
                steps.push(cache);
            }
            for step in &mut steps {
                step.args.push(".".into());
            }
            per_platform.push((*platform, image_ref.clone(), steps));
            if self.registry.is_some() {
                for reference in [&deps_ref, &image_ref] {
                    publish.push(Step {
                        phase: Phase::Push,
                        platform: Some(*platform),
                        args: vec!["push".into(), reference.clone()],
                    });
                }
                pushed.push(image_ref);
            }
        }
        let list = format!("{repo}:{tag}");
        // One platform alone is pushed under `<tag>-<arch>` only: the manifest list is made
        // once every platform is there (`cargo xtask docker manifest`).
        if let Some(registry) = self
            .registry
            .as_ref()
            .filter(|_| !single || self.manifest_only)
        {
            // A plain-HTTP registry on loopback (a local or CI cache) needs --insecure.
            let insecure = registry.starts_with("127.") || registry.starts_with("localhost");
            let mut create = vec!["manifest".to_string(), "create".into()];
            if insecure {
                create.push("--insecure".into());
            }
            create.push("--amend".into());
            create.push(list.clone());
            create.extend(pushed.iter().cloned());
            publish.push(Step {
                phase: Phase::Manifest,
                platform: None,
                args: create,
            });
            let mut push = vec!["manifest".to_string(), "push".into()];
            if insecure {
                push.push("--insecure".into());
            }
            push.push(list.clone());
            publish.push(Step {
                phase: Phase::Manifest,
                platform: None,
                args: push,
            });
        }
        Ok(DockerPlan {
            docker: self.docker.clone(),
            variant: self.variant,
            bin: bin.name.clone(),
            image: list,
            platforms: per_platform,
            publish,
        })
    }
}

impl DockerPlan {
    pub fn command_line(&self, step: &Step) -> String {
        std::iter::once(self.docker.as_str())
            .chain(step.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Is an engine reachable, and does the client build with BuildKit?
pub fn check_engine(docker: &str) -> anyhow::Result<()> {
    let version = Command::new(docker)
        .args(["version", "--format", "{{.Server.Version}}"])
        .env("DOCKER_BUILDKIT", "1")
        .output();
    let version = match version {
        Err(e) => bail!("cannot run the docker client `{docker}`: {e}; fix: install Docker, or set DOCKER=/path/to/docker"),
        Ok(out) if !out.status.success() => bail!(
            "no Docker engine answers ({}); fix: start one (e.g. `sudo systemctl start docker`) or point DOCKER_HOST at it",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_string(),
    };
    let help = Command::new(docker)
        .args(["build", "--help"])
        .env("DOCKER_BUILDKIT", "1")
        .output()?;
    let help_text =
        String::from_utf8_lossy(&help.stdout).to_string() + &String::from_utf8_lossy(&help.stderr);
    buildkit_problem(&version, help.status.success(), &help_text).map_or(Ok(()), |p| bail!(p))
}

/// Why BuildKit cannot be used, from the engine version and `docker build --help`.
fn buildkit_problem(server_version: &str, help_ok: bool, help: &str) -> Option<String> {
    let mut parts = server_version
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < (18, 9) {
        return Some(format!(
            "the Docker engine {server_version} has no BuildKit (needs 18.09 or newer); fix: upgrade the engine"
        ));
    }
    if !help_ok || !help.contains("--secret") {
        return Some(
            "this docker client cannot build with BuildKit (no `--secret` in `docker build --help`; a recent CLI without the buildx plugin refuses BuildKit); fix: install docker-buildx, or set DOCKER to a client with BuildKit built in (e.g. /usr/bin/docker)"
                .into(),
        );
    }
    None
}

/// Crate names of the workspace (theirs compile in the build phase; any other name is third-party).
fn workspace_crates(ws: &Workspace) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = ws
        .members
        .iter()
        .map(|m| m.name.replace('-', "_"))
        .collect();
    names.extend(ws.members.iter().map(|m| m.name.clone()));
    names.insert(ci_optims::PACKAGE.into());
    names
}

#[derive(Debug, Serialize)]
pub struct PhaseReport {
    pub phase: Phase,
    pub platform: Option<Platform>,
    pub seconds: f64,
    /// `Compiling <crate>` lines in the phase's output.
    pub crates_compiled: usize,
    pub third_party_compiled: Vec<String>,
    /// Every build step of the phase came from cache.
    pub cached: bool,
    /// Each cargo run of the phase: "<target triple> on <machine that ran it>" (a cross build
    /// says `aarch64-unknown-linux-gnu on x86_64`; an emulated one would say `on aarch64`).
    pub cargo_runs: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct DockerReport {
    pub image: String,
    pub platform_images: Vec<(Platform, String)>,
    pub phases: Vec<PhaseReport>,
    pub seconds: f64,
}

/// One BuildKit step (`#7`) of a run's plain-progress log.
#[derive(Debug, Default, Clone, PartialEq)]
struct BuildStep {
    /// The Dockerfile stage (`deps`, `build`, ...), `export` for the image export, `internal`.
    stage: String,
    is_run: bool,
    cached: bool,
    seconds: f64,
    /// Crates cargo printed `Compiling` for.
    compiled: Vec<String>,
    /// What build-env reported: "cargo for <triple> on <machine>".
    cargo_runs: Vec<String>,
}

/// What one docker run printed, step by step.
#[derive(Debug, Default, PartialEq)]
struct BuildkitLog {
    steps: BTreeMap<u32, BuildStep>,
}

impl BuildkitLog {
    /// Read one line of `--progress=plain` output: `#7 [build 2/2] RUN ...` (a step's header),
    /// `#7 CACHED`, `#7 DONE 11.2s`, `#7 12.30    Compiling serde v1.0.229` (its output).
    fn read_line(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix('#') else {
            return;
        };
        let (id, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let Ok(id) = id.parse::<u32>() else { return };
        let step = self.steps.entry(id).or_default();
        if let Some(header) = rest.strip_prefix('[') {
            let name = header.split([' ', ']']).next().unwrap_or_default();
            step.stage = name.to_string();
            step.is_run |= rest.contains("] RUN ");
        } else if rest.starts_with("exporting to image") {
            step.stage = "export".into();
        } else if rest == "CACHED" {
            step.cached = true;
        } else if let Some(done) = rest.strip_prefix("DONE ") {
            step.seconds = done.trim_end_matches('s').parse().unwrap_or(0.0);
        } else if let Some(run) = rest.split("build-env: cargo for ").nth(1) {
            step.cargo_runs.push(run.trim().to_string());
        } else if let Some(compiling) = rest.split("Compiling ").nth(1) {
            let mut words = compiling.split_whitespace();
            if let (Some(name), Some(version)) = (words.next(), words.next()) {
                if version.starts_with('v') {
                    step.compiled.push(name.to_string());
                }
            }
        }
    }

    /// The steps of these stages, summed into one phase.
    fn phase(
        &self,
        phase: Phase,
        stages: &[&str],
        platform: Option<Platform>,
        members: &BTreeSet<String>,
    ) -> PhaseReport {
        let steps: Vec<&BuildStep> = self
            .steps
            .values()
            .filter(|s| stages.contains(&s.stage.as_str()))
            .collect();
        let compiled: Vec<String> = steps
            .iter()
            .flat_map(|s| s.compiled.iter().cloned())
            .collect();
        let runs: Vec<&&BuildStep> = steps.iter().filter(|s| s.is_run).collect();
        PhaseReport {
            phase,
            platform,
            seconds: steps.iter().map(|s| s.seconds).sum(),
            crates_compiled: compiled.len(),
            third_party_compiled: compiled
                .iter()
                .filter(|c| !members.contains(*c))
                .cloned()
                .collect(),
            cached: !runs.is_empty() && runs.iter().all(|s| s.cached),
            cargo_runs: steps
                .iter()
                .flat_map(|s| s.cargo_runs.iter().cloned())
                .collect(),
        }
    }

    /// Phase reports of a step: an image build splits into deps, build and runtime.
    fn reports(&self, step: &Step, wall: f64, members: &BTreeSet<String>) -> Vec<PhaseReport> {
        match step.phase {
            Phase::Build => vec![
                self.phase(Phase::Deps, &["toolchain", "deps"], step.platform, members),
                self.phase(Phase::Build, &["build"], step.platform, members),
                self.phase(
                    Phase::Runtime,
                    &["runtime", "export"],
                    step.platform,
                    members,
                ),
            ],
            phase => {
                let mut report = self.phase(
                    phase,
                    &["toolchain", "deps", "build", "runtime", "export"],
                    step.platform,
                    members,
                );
                report.seconds = wall;
                vec![report]
            }
        }
    }
}

fn run_step(
    plan: &DockerPlan,
    step: &Step,
    root: &std::path::Path,
    quiet: bool,
) -> anyhow::Result<(f64, BuildkitLog)> {
    let prefix = match step.platform {
        Some(p) => format!("[{} {:?}]", p.arch(), step.phase).to_lowercase(),
        None => format!("[{:?}]", step.phase).to_lowercase(),
    };
    if !quiet {
        eprintln!("{prefix} $ {}", plan.command_line(step));
    }
    let start = Instant::now();
    let mut child = Command::new(&plan.docker)
        .args(&step.args)
        .env("DOCKER_BUILDKIT", "1")
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", plan.docker))?;
    let stderr = child.stderr.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let prefix_out = prefix.clone();
    let out_thread = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if !quiet {
                eprintln!("{prefix_out} {line}");
            }
        }
    });
    let mut facts = BuildkitLog::default();
    let mut kept = std::collections::VecDeque::new();
    for line in std::io::BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
    {
        if quiet {
            kept.push_back(line.clone());
            if kept.len() > 40 {
                kept.pop_front();
            }
        } else {
            eprintln!("{prefix} {line}");
        }
        facts.read_line(&line);
    }
    let _ = out_thread.join();
    let status = child.wait()?;
    if !status.success() {
        for line in kept {
            eprintln!("{prefix} {line}");
        }
        bail!("{prefix} `{}` failed ({status})", plan.command_line(step));
    }
    Ok((start.elapsed().as_secs_f64(), facts))
}

/// Run the plan without echoing docker's output (shown only on failure).
pub fn execute_quiet(plan: &DockerPlan, ws: &Workspace) -> anyhow::Result<DockerReport> {
    execute(plan, ws, &workspace_crates(ws), true)
}

fn execute(
    plan: &DockerPlan,
    ws: &Workspace,
    members: &BTreeSet<String>,
    quiet: bool,
) -> anyhow::Result<DockerReport> {
    let start = Instant::now();
    let results: Vec<anyhow::Result<Vec<PhaseReport>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = plan
            .platforms
            .iter()
            .map(|(_, _, steps)| {
                scope.spawn(move || -> anyhow::Result<Vec<PhaseReport>> {
                    let mut reports = Vec::new();
                    for step in steps {
                        let (seconds, facts) = run_step(plan, step, &ws.root, quiet)?;
                        reports.extend(facts.reports(step, seconds, members));
                    }
                    Ok(reports)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a platform build panicked"))
            .collect()
    });
    let mut phases = Vec::new();
    for result in results {
        phases.extend(result?);
    }
    for step in &plan.publish {
        let (seconds, facts) = run_step(plan, step, &ws.root, quiet)?;
        phases.extend(facts.reports(step, seconds, members));
    }
    Ok(DockerReport {
        image: plan.image.clone(),
        platform_images: plan
            .platforms
            .iter()
            .map(|(p, r, _)| (*p, r.clone()))
            .collect(),
        phases,
        seconds: start.elapsed().as_secs_f64(),
    })
}

impl DockerReport {
    /// In GitHub Actions, append the phase table (markdown) to the job's step summary.
    fn write_step_summary(&self) -> anyhow::Result<()> {
        let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
            return Ok(());
        };
        let rows = self.phases.iter().map(|p| {
            vec![
                p.platform
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "all".into()),
                format!("{:?}", p.phase).to_lowercase(),
                format!("{:.1} s", p.seconds),
                p.crates_compiled.to_string(),
                p.third_party_compiled.len().to_string(),
                if p.cached { "yes" } else { "" }.into(),
            ]
        });
        let table = crate::bench::markdown_table(
            &[
                "platform",
                "phase",
                "time",
                "crates compiled",
                "third-party compiled",
                "cached",
            ],
            rows,
        );
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)?;
        writeln!(file, "### `{}`\n\n{table}", self.image)?;
        Ok(())
    }

    pub fn table(&self) -> String {
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        table.set_header([
            "platform",
            "phase",
            "seconds",
            "crates compiled",
            "third-party compiled",
            "cached",
        ]);
        for p in &self.phases {
            table.add_row([
                p.platform
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "all".into()),
                format!("{:?}", p.phase).to_lowercase(),
                format!("{:.1}", p.seconds),
                p.crates_compiled.to_string(),
                match p.third_party_compiled.len() {
                    0 => "0".into(),
                    n if n <= 4 => format!("{n} ({})", p.third_party_compiled.join(", ")),
                    n => format!("{n} ({}, ...)", p.third_party_compiled[..4].join(", ")),
                },
                if p.cached { "yes" } else { "" }.into(),
            ]);
        }
        let images: Vec<String> = self
            .platform_images
            .iter()
            .map(|(p, r)| format!("{} -> {r}", p.as_str()))
            .collect();
        format!(
            "{table}\n{} in {:.1} s: {}",
            self.image,
            self.seconds,
            images.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::tests_support::workspace_with_service;

    fn args(variant: DockerVariant) -> DockerBuildArgs {
        DockerBuildArgs {
            variant,
            platforms: vec![],
            image: None,
            tag: None,
            version: None,
            commit: None,
            registry: None,
            labels: vec![],
            secrets: vec![],
            sccache: false,
            docker: "docker".into(),
            docker_flags: None,
            dry_run: true,
            manifest_only: false,
            json: false,
        }
    }

    #[test]
    fn development_is_one_amd64_build_without_a_registry() {
        let ws = workspace_with_service();
        let plan = args(DockerVariant::Development)
            .plan(&ws, "abc", "2026-01-01T00:00:00Z")
            .unwrap();
        assert_eq!(plan.platforms.len(), 1);
        let (platform, image, steps) = &plan.platforms[0];
        assert_eq!(*platform, Platform::LinuxAmd64);
        assert_eq!(image, "svc:development-amd64");
        assert_eq!(steps.len(), 1, "one docker build; the log gives the phases");
        let line = plan.command_line(&steps[0]);
        assert!(
            line.starts_with(
                "docker build --progress=plain --platform linux/amd64 --target runtime"
            ),
            "{line}"
        );
        assert!(
            line.contains("BUILD_VARIANT=development")
                && line.contains("BIN=svc")
                && line.contains("COMMIT_SHA=abc")
        );
        assert!(
            line.contains("-t svc:development-amd64 -t svc:development"),
            "{line}"
        );
        assert!(
            !line.contains("--cache-from"),
            "no registry, no remote cache"
        );
        assert!(plan.publish.is_empty());
    }

    #[test]
    fn production_with_a_registry_pushes_each_arch_and_joins_them() {
        let ws = workspace_with_service();
        let mut a = args(DockerVariant::Production);
        a.registry = Some("127.0.0.1:5000".into());
        a.tag = Some("v1".into());
        a.docker_flags = Some("--network host".into());
        a.labels = vec!["team=core".into()];
        let plan = a.plan(&ws, "abc", "t").unwrap();
        let arches: Vec<_> = plan.platforms.iter().map(|(p, _, _)| p.arch()).collect();
        assert_eq!(arches, ["amd64", "arm64"]);
        for (_, _, steps) in &plan.platforms {
            for step in steps {
                let line = plan.command_line(step);
                assert!(
                    line.contains("--network host")
                        && line.contains("--cache-from 127.0.0.1:5000/svc:deps-production-"),
                    "{line}"
                );
            }
        }
        let publish: Vec<_> = plan.publish.iter().map(|s| plan.command_line(s)).collect();
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
        let steps = &plan.platforms[0].2;
        assert!(plan.command_line(&steps[0]).contains("--label team=core"));
        let cache = plan.command_line(&steps[1]);
        assert!(
            cache.contains("--target deps")
                && cache.contains(
                    "BUILDKIT_INLINE_CACHE=1 -t 127.0.0.1:5000/svc:deps-production-amd64"
                ),
            "the deps stage is tagged for the registry cache: {cache}"
        );
    }

    #[test]
    fn no_service_is_a_clear_error() {
        let mut ws = workspace_with_service();
        ws.config.service = None;
        let err = args(DockerVariant::Production)
            .plan(&ws, "", "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("[workspace.metadata.xtask.service]"), "{err}");
    }

    #[test]
    fn buildkit_detection() {
        assert!(buildkit_problem("17.06.0", true, "--secret")
            .unwrap()
            .contains("upgrade"));
        assert!(
            buildkit_problem("28.2.2", false, "buildx component is missing")
                .unwrap()
                .contains("docker-buildx")
        );
        assert_eq!(
            buildkit_problem("20.10.24+dfsg1", true, "      --secret stringArray"),
            None
        );
    }

    #[test]
    fn reads_phases_compiled_crates_and_cache_hits_from_buildkit_output() {
        let mut log = BuildkitLog::default();
        for line in [
            "#5 [toolchain 3/3] RUN build-env setup",
            "#5 CACHED",
            "#9 [deps 4/4] RUN --mount=type=cache build-env cargo build --locked -p ci_optims",
            "#9 CACHED",
            "#10 [build 1/2] COPY . .",
            "#10 DONE 0.4s",
            "#12 [build 2/2] RUN --mount=type=cache build-env cargo build",
            "#12 40.1 build-env: cargo for aarch64-unknown-linux-gnu on x86_64",
            "#12 41.2    Compiling serde v1.0.229",
            "#12 43.0    Compiling my_app v0.1.0 (/app/crates/my-app)",
            "#12 44.0 warning: Compiling is a word",
            "#12 DONE 11.5s",
            "#14 [runtime 1/1] COPY --from=build /runtime/ /",
            "#14 DONE 0.1s",
            "#15 exporting to image",
            "#15 DONE 0.3s",
        ] {
            log.read_line(line);
        }
        let members: BTreeSet<String> = ["my_app".to_string()].into();
        let step = Step {
            phase: Phase::Build,
            platform: Some(Platform::LinuxArm64),
            args: vec![],
        };
        let reports = log.reports(&step, 13.0, &members);
        let phases: Vec<_> = reports.iter().map(|r| r.phase).collect();
        assert_eq!(phases, [Phase::Deps, Phase::Build, Phase::Runtime]);
        let (deps, build, runtime) = (&reports[0], &reports[1], &reports[2]);
        assert!(deps.cached && deps.crates_compiled == 0);
        assert!(!build.cached);
        assert_eq!(build.seconds, 11.9);
        assert_eq!(build.crates_compiled, 2);
        assert_eq!(build.third_party_compiled, ["serde"]);
        assert_eq!(build.cargo_runs, ["aarch64-unknown-linux-gnu on x86_64"]);
        assert!(
            (runtime.seconds - 0.4).abs() < 1e-9,
            "runtime stage + export"
        );
    }
}

//! `docker build --engine none`: the image without a Docker engine. The native build (the same
//! cargo command as `cargo xtask build` for these targets, in the workspace's target dir, so an
//! edit recompiles what the native build would and nothing more), each platform's binary staged
//! by the workspace's build-env script (the rule of the Dockerfile's runtime stage: the binary,
//! the libraries its ELF headers name, the CA certificates, the user), then the image assembled
//! here ([`super::oci`]) into an OCI layout and an archive `docker load` takes.

use super::oci::{Image, Meta, Set};
use super::plan::{self, ImageRequest};
use super::smoke::Smoke;
use crate::cargo::Outcome;
use crate::exec::{Command, Exec, SecretFile};
use crate::plan::{Capture, Done, Handler, Plan, Step};
use crate::render::{self, Format, Options, Table};
use crate::rules::image::{self, ImageModel};
use crate::rules::{self, BuildRequest, BuildSpec, Facts};
use crate::toolchain::Cross;
use crate::workspace::Workspace;
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

const ASSEMBLE: &str = "assemble";
/// The push step's purpose starts so.
const PUSH: &str = "push ";
const SMOKE: &str = "smoke";

/// Where one image's files go, under the target dir.
struct Places {
    stage: PathBuf,
    layout: PathBuf,
    /// Written when asked (`--archive`, `--smoke`).
    archive: Option<PathBuf>,
    /// The digest the registry has after the push (skopeo writes it).
    pushed: PathBuf,
    /// Credentials from the environment, while the push runs.
    auth: PathBuf,
}

/// The variables a registry's credentials may come in (else the docker config and its
/// credential helpers, which skopeo reads itself).
const USER_ENV: &str = "REGISTRY_USER";
const PASSWORD_ENV: &str = "REGISTRY_PASSWORD";

/// The push of the layout's image to `registry`: skopeo, over the OCI distribution API. A blob
/// the registry has is not sent again; every digest is kept (the registry's digest is the one
/// printed here); a loopback registry is spoken to over plain HTTP.
fn push(registry: &str, name: &str, places: &Places) -> anyhow::Result<Step> {
    let (_, tag) = name.rsplit_once(':').context("an image name has a tag")?;
    let mut copy =
        Command::new("skopeo").args(["copy", "--all", "--preserve-digests", "--retry-times", "2"]);
    if plan::insecure(registry) {
        copy = copy.arg("--dest-tls-verify=false");
    }
    if std::env::var_os(USER_ENV).is_some() {
        copy = copy
            .arg("--dest-authfile")
            .arg(places.auth.display().to_string());
    }
    copy = copy
        .arg("--digestfile")
        .arg(places.pushed.display().to_string())
        .arg(format!("oci:{}:{tag}", places.layout.display()))
        .arg(format!("docker://{name}"));
    Ok(Step::run(
        format!("{PUSH}{name}: every platform and the index, blobs the registry lacks only"),
        copy,
    ))
}

/// A registry's credentials from REGISTRY_USER and REGISTRY_PASSWORD, in an auth file (mode
/// 0600) that lives as long as the push: removed when this is dropped, and by the next command
/// of any kind if the process was killed first.
/// A registry's credentials from the environment, in a secret file while the push runs.
fn credentials(registry: &str, dir: &Path) -> anyhow::Result<Option<SecretFile>> {
    let (Ok(user), Ok(password)) = (std::env::var(USER_ENV), std::env::var(PASSWORD_ENV)) else {
        if std::env::var_os(USER_ENV).is_some() {
            bail!("{USER_ENV} is set and {PASSWORD_ENV} is not: set both, or neither (then the docker config's credentials are used)");
        }
        return Ok(None);
    };
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let json = serde_json::json!({ "auths": { registry: { "auth": auth } } });
    SecretFile::create(dir, "auth", "json", json.to_string().as_bytes()).map(Some)
}

pub fn run(
    exec: &Exec,
    ws: &Workspace,
    request: &ImageRequest,
    facts: &Facts,
    opts: Options,
    archive: bool,
) -> anyhow::Result<()> {
    let model = image::model(ws, &plan::ask(request), facts)?;
    let name = plan::names(ws, request, &model.bin).image();
    let spec = native_spec(ws, request, &model, facts)?;
    let folder = name.replace(['/', ':'], "-");
    let dir = ws.target_dir.join("xtask/image").join(folder);
    let places = Places {
        stage: dir.join("stage"),
        layout: dir.join("oci"),
        // The smoke check loads it into the engine.
        archive: (archive || request.smoke).then(|| dir.join("image.tar")),
        pushed: dir.join("pushed-digest"),
        auth: ws
            .target_dir
            .join(crate::exec::SECRETS)
            .join(format!("auth-{}.json", std::process::id())),
    };
    let push = match &request.registry {
        Some(registry) => Some(push(registry, &name, &places)?),
        None => None,
    };
    let smoke = match request.smoke {
        true => Some(smoke(ws, request, &model, &name)?),
        false => None,
    };
    let mut program = program(ws, &model, &spec, &name, &places, smoke.as_ref())?;
    if let Some(push) = &push {
        // What an earlier push wrote there must not pass for this one's.
        program.step(Step::remove(
            &places.pushed,
            "the digest an earlier push left",
        ));
        program.step(push.clone());
    }
    if opts.dry_run {
        return program.print(opts.format);
    }
    if !(facts.has_program)("readelf") {
        bail!("staging the image reads the binary's ELF headers with readelf, which this machine lacks: install binutils (apt-get install binutils)");
    }
    if push.is_some() && !(facts.has_program)("skopeo") {
        bail!("--engine none pushes with skopeo, which this machine lacks: install it (apt-get install skopeo; GitHub's Ubuntu runners have it), or drop --registry and push the archive yourself");
    }
    // Credentials from the environment, for the push alone (see `credentials`).
    let _credentials = match push {
        Some(_) => credentials(
            request.registry.as_deref().unwrap_or_default(),
            places.auth.parent().context("the secrets folder")?,
        )?,
        None => None,
    };
    let start = Instant::now();
    let mut assembling = Assembling {
        exec,
        request,
        model: &model,
        name: &name,
        places: &places,
        smoke: smoke.as_ref(),
        host_arch: crate::toolchain::Arch::of(&facts.toolchain.host).docker,
        epoch: epoch(exec, ws)?,
        built: None,
        set: None,
        assembly_seconds: 0.0,
    };
    let is_member = |id: &str| ws.is_member(id);
    crate::plan::run(exec, &program, &is_member, &mut assembling)?;
    assembling.report(opts.format, start.elapsed().as_secs_f64())
}

/// The native build of the image's platforms: for the host alone with glibc, the variant's own
/// build (no `--target`: the units of a plain `cargo build`), else one run for every target.
fn native_spec(
    ws: &Workspace,
    request: &ImageRequest,
    model: &ImageModel,
    facts: &Facts,
) -> anyhow::Result<BuildSpec> {
    let libc = model.rules.libc;
    let triples: Vec<String> = model.platforms.iter().map(|p| p.triple(libc)).collect();
    let host_only = triples == [facts.toolchain.host.clone()];
    let build = BuildRequest {
        targets: if host_only { Vec::new() } else { triples },
        cross: match libc {
            crate::config::Libc::Gnu => Cross::Linker,
            crate::config::Libc::Musl => Cross::Zigbuild,
        },
        ..BuildRequest::of(request.variant)
    };
    rules::spec(ws, &build, facts)
}

fn program(
    ws: &Workspace,
    model: &ImageModel,
    spec: &BuildSpec,
    name: &str,
    places: &Places,
    smoke: Option<&Smoke>,
) -> anyhow::Result<Plan> {
    let build_env = ws.root.join(
        ws.config
            .docker
            .as_ref()
            .and_then(|d| d.build_env.clone())
            .unwrap_or_else(|| "docker/build-env.sh".into()),
    );
    if !build_env.is_file() {
        bail!(
            "{} is missing: it stages the image's files (`cargo xtask init` writes it)",
            build_env.display()
        );
    }
    let mut program = Plan::new(format!(
        "docker build --engine none --variant {}",
        spec.variant.image_name()
    ))
    .fact("image", name)
    .fact("binary", &model.bin.name)
    .fact("libc", model.rules.libc)
    .fact(
        "platforms",
        model.platforms.iter().map(|p| p.name()).collect::<Vec<_>>(),
    )
    .within(&ws.root)
    .confined_to(&[&ws.target_dir]);
    if !spec.requirements.is_empty() {
        program.step(Step::Check {
            requirements: spec.requirements.clone(),
        });
    }
    program.step(Step::cargo(
        "the native build (what `cargo xtask build` runs for these targets)",
        spec.cargo(),
    ));
    program.step(Step::remove(&places.stage, "the tree staged last time"));
    let outputs = spec.output_dirs(&ws.target_dir);
    for (platform, target) in model.platforms.iter().zip(&spec.targets) {
        let exe = outputs[&target.triple].join(&model.bin.name);
        let stage = Command::new("sh")
            .arg(build_env.display().to_string())
            .args(["stage".to_string(), places.stage.display().to_string()])
            .arg(format!("{}={}", target.arch.docker, exe.display()))
            .env(
                "TARGET_LIBDIR",
                target.runtime_libs.clone().unwrap_or_default(),
            )
            .env("TARGET_MULTIARCH", target.arch.multiarch())
            .env("CA_CERTIFICATES", model.rules.ca_certificates.to_string());
        program.step(Step::run(
            format!(
                "stage {}: the binary and the libraries it needs, certificates, user",
                platform.name()
            ),
            stage,
        ));
    }
    let archive = match &places.archive {
        Some(archive) => format!(" and the archive {}", archive.display()),
        None => String::new(),
    };
    program.step(Step::task(
        ASSEMBLE,
        format!(
            "assemble {name}: per platform the layers (libraries, certificates, user, binary), config and manifest; write the OCI layout {}{archive}",
            places.layout.display(),
        ),
    ));
    if let (Some(smoke), Some(archive)) = (smoke, &places.archive) {
        program.step(Step::task(
            SMOKE,
            format!(
                "docker load -i {}, then {}",
                archive.display(),
                smoke.describe()
            ),
        ));
    }
    Ok(program)
}

/// The service's smoke check on the loaded image. A dev binary reports no commit (it is the
/// user's own `cargo build`), so only its version is asked for.
fn smoke(
    ws: &Workspace,
    request: &ImageRequest,
    model: &ImageModel,
    name: &str,
) -> anyhow::Result<Smoke> {
    let mut smoke = plan::service_smoke(ws, request, model, name.to_string())?;
    if request.variant == crate::config::Variant::Dev {
        smoke.expect.retain(|w| *w != request.commit);
    }
    Ok(smoke)
}

/// The image's time: SOURCE_DATE_EPOCH, else the commit's, else 1970.
fn epoch(exec: &Exec, ws: &Workspace) -> anyhow::Result<u64> {
    if let Ok(value) = std::env::var("SOURCE_DATE_EPOCH") {
        if !value.trim().is_empty() {
            return value.trim().parse().with_context(|| {
                format!("SOURCE_DATE_EPOCH={value} is not a count of seconds since 1970 (e.g. `git log -1 --format=%ct`)")
            });
        }
    }
    let log = Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .dir(&ws.root);
    Ok(exec
        .read(&log)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0))
}

struct Assembling<'a> {
    exec: &'a Exec<'a>,
    request: &'a ImageRequest,
    model: &'a ImageModel,
    name: &'a str,
    places: &'a Places,
    smoke: Option<&'a Smoke>,
    host_arch: String,
    epoch: u64,
    built: Option<Outcome>,
    set: Option<Set>,
    assembly_seconds: f64,
}

impl Assembling<'_> {
    fn labels(&self) -> BTreeMap<String, String> {
        let version = self
            .request
            .version
            .clone()
            .unwrap_or_else(|| self.model.bin.version.clone());
        let mut labels = BTreeMap::from([
            (
                "org.opencontainers.image.title",
                self.model.bin.name.clone(),
            ),
            ("org.opencontainers.image.version", version),
            (
                "org.opencontainers.image.revision",
                self.request.commit.clone(),
            ),
        ])
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect::<BTreeMap<String, String>>();
        for label in &self.request.labels {
            if let Some((k, v)) = label.split_once('=') {
                labels.insert(k.to_string(), v.to_string());
            }
        }
        labels
    }

    fn assemble(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        let labels = self.labels();
        let images = self
            .model
            .platforms
            .iter()
            .map(|p| {
                let arch = p.arch().docker;
                let meta = Meta {
                    arch: &arch,
                    labels: &labels,
                    epoch: self.epoch,
                };
                Image::of_tree(&self.places.stage.join(&arch), &meta)
                    .with_context(|| format!("assembling the image of {}", p.name()))
            })
            .collect::<anyhow::Result<Vec<Image>>>()?;
        let set = Set::new(images, self.name.to_string());
        set.write(
            &self.places.layout,
            self.places.archive.as_deref(),
            Some(&self.host_arch),
        )?;
        self.assembly_seconds = start.elapsed().as_secs_f64();
        self.set = Some(set);
        Ok(())
    }

    fn smoke_check(&self, smoke: &Smoke) -> anyhow::Result<()> {
        let docker = &self.request.docker;
        let archive = self.places.archive.as_ref().context("no archive to load")?;
        let load = Command::new(docker).args([
            "load".to_string(),
            "-i".to_string(),
            archive.display().to_string(),
        ]);
        self.exec
            .run(&load, &mut |_, _| crate::exec::Line::Show)
            .context("loading the image into the engine for its smoke check")?;
        smoke.check(self.exec, docker)
    }

    /// The registry holds the digest built here, or the push is an error.
    fn check_pushed(&self) -> anyhow::Result<()> {
        let set = self.set.as_ref().context("the image was not assembled")?;
        let path = &self.places.pushed;
        let pushed = std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading {}, where skopeo writes the digest it pushed",
                path.display()
            )
        })?;
        if pushed.trim() != set.digest() {
            bail!(
                "the registry holds {} for {}, and the image built here is {}: nothing is reported as pushed",
                pushed.trim(),
                set.name,
                set.digest()
            );
        }
        Ok(())
    }

    fn report(&self, format: Format, seconds: f64) -> anyhow::Result<()> {
        let set = self.set.as_ref().context("the image was not assembled")?;
        let mut table = Table::new(["platform", "layers", "size", "digest"]);
        for image in &set.images {
            let size: usize = image.layers.iter().map(|l| l.bytes.len()).sum();
            table.row([
                format!("linux/{}", image.arch),
                image.layers.len().to_string(),
                render::human_size(size as u64),
                image.manifest.digest.clone(),
            ]);
        }
        let build = self.built.as_ref().map_or(0.0, |o| o.seconds);
        let compiled = self.built.as_ref().map_or(0, Outcome::compiled);
        match format {
            Format::Json => render::print_json(&serde_json::json!({
                "image": set.name,
                "digest": set.digest(),
                "layout": self.places.layout,
                "archive": self.places.archive,
                "seconds": seconds,
                "build_seconds": build,
                "units_compiled": compiled,
                "assembly_seconds": self.assembly_seconds,
            }))?,
            Format::Markdown => print!("{}", table.markdown()),
            Format::Text => println!(
                "{}\n{} {} without an engine in {seconds:.1} s (native build {build:.1} s, {compiled} units compiled; assembly {:.2} s)\nOCI layout {}{}",
                table.terminal(),
                set.name,
                set.digest(),
                self.assembly_seconds,
                self.places.layout.display(),
                match &self.places.archive {
                    Some(archive) => format!(", archive {} (`docker load -i` it)", archive.display()),
                    None => ", no archive (--archive writes one for `docker load`)".to_string(),
                }
            ),
        }
        Ok(())
    }
}

impl Handler for Assembling<'_> {
    type Watch = Capture;

    fn failed(&self, step: &Step, _watch: Option<Capture>, error: anyhow::Error) -> anyhow::Error {
        match step {
            Step::Run { purpose, .. } if purpose.starts_with("stage ") => error.context(
                "staging the image's files on this machine: each library the binary needs is \
                 taken from this machine (the host's own, an arm64 one from Debian's multiarch \
                 packages such as `libssl3:arm64`, or the cross toolchain's); install the package \
                 that holds the library named above, then run again",
            ),
            _ => error,
        }
    }

    fn done(&mut self, step: &Step, done: Done<Capture>) -> anyhow::Result<()> {
        match done {
            Done::Cargo(outcome) => {
                self.built = Some(outcome);
                return Ok(());
            }
            Done::Ran { .. } if matches!(step, Step::Run { purpose, .. } if purpose.starts_with(PUSH)) => {
                return self.check_pushed()
            }
            _ => {}
        }
        match step {
            Step::Task { task, .. } if task == ASSEMBLE => self.assemble(),
            Step::Task { task, .. } if task == SMOKE => match self.smoke {
                Some(smoke) => self.smoke_check(smoke),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

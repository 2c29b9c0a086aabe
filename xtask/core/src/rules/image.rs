//! The rules of an image build, decided here once: the cargo run of its build stages (the native
//! build's own model of those targets, `rules::spec`, in the image's places) and what the image
//! needs around its binary (the C library, the C runtime's libraries, the CA certificates, the
//! Rust image). `docker::plan` only writes them down as build arguments.

use super::{mirror_of, spec, BuildRequest, BuildSpec, Cross, Facts, Platform};
use crate::cargo::{Invocation, Selection};
use crate::config::{Libc, Variant};
use crate::workspace::{Bin, Workspace, MIRROR_DIR, MIRROR_LOCAL_PATHS};
use anyhow::bail;
use std::path::{Path, PathBuf};

/// The deps stage's target dir, relative to the Dockerfile's WORKDIR (a layer: it travels with
/// `--cache-from`).
pub const DEPS_TARGET_DIR: &str = "target";

/// The build stage's cache mount of target dirs (the Dockerfile's build stage mounts it here):
/// each build's own folder in it starts as a copy of the deps layer's target dir and keeps the
/// workspace's units between builds, so an edit recompiles only what it touches and the layer
/// gets only the staged binary.
pub const BUILD_TARGETS_MOUNT: &str = "/cache/targets";

/// What an image request asks of the rules.
#[derive(Debug, Clone, Copy)]
pub struct ImageAsk<'a> {
    pub variant: Variant,
    /// `None`: the workspace's `[workspace.metadata.xtask.docker] libc`, else the default.
    pub libc: Option<Libc>,
    /// Empty: the variant's (see `image_platforms`).
    pub platforms: &'a [Platform],
    /// `None`: the service's binary, else the only one shipped.
    pub bin: Option<&'a str>,
}

/// Everything the rules decide about one image request: the binary, the platforms, what they
/// share, and the cargo run that serves each platform.
#[derive(Debug, Clone)]
pub struct ImageModel {
    pub bin: Bin,
    pub platforms: Vec<Platform>,
    pub rules: ImageRules,
    /// `builds[i]` builds `platforms[i]`'s binary: one run per platform with glibc, one for
    /// every platform with musl (the same build each time).
    pub builds: Vec<ImageBuild>,
    /// ci_optims/ lists workspace paths outside it, which the image selects from the context.
    pub local_paths: bool,
}

/// The model of `ask` on the machine `facts` describes.
pub fn model(ws: &Workspace, ask: &ImageAsk, facts: &Facts) -> anyhow::Result<ImageModel> {
    let bin = image_bin(ws, ask.bin)?.clone();
    let platforms = platforms(ws, ask, &facts.toolchain.host)?;
    let rules = image_rules(ws, ask.libc)?;
    let builds = match rules.libc {
        Libc::Musl => {
            let shared = image_build(ws, ask.variant, rules.libc, &platforms, &bin.name, facts)?;
            vec![shared; platforms.len()]
        }
        Libc::Gnu => platforms
            .iter()
            .map(|p| image_build(ws, ask.variant, rules.libc, &[*p], &bin.name, facts))
            .collect::<anyhow::Result<_>>()?,
    };
    Ok(ImageModel {
        bin,
        platforms,
        rules,
        builds,
        local_paths: local_paths(ws),
    })
}

/// The binary an image ships: `bin`, else the service's, else the only one shipped.
pub fn image_bin<'w>(ws: &'w Workspace, bin: Option<&str>) -> anyhow::Result<&'w Bin> {
    if let Some(bin) = bin {
        return ws.bin(bin);
    }
    if let Some(service) = &ws.config.service {
        return ws.bin(&service.bin);
    }
    match ws.shipped_bins().as_slice() {
        [only] => Ok(only),
        [] => bail!("the workspace has no binary to put in an image"),
        many => bail!(
            "which binary goes into the image? give --bin (one of: {}), or set [workspace.metadata.xtask.service] bin",
            many.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The platforms asked for, else the variant's (see `image_platforms`), each once, in order.
pub fn platforms(ws: &Workspace, ask: &ImageAsk, host: &str) -> anyhow::Result<Vec<Platform>> {
    let mut platforms = ask.platforms.to_vec();
    if platforms.is_empty() {
        platforms = super::image_platforms(ws, ask.variant, host)?;
    }
    platforms.sort();
    platforms.dedup();
    Ok(platforms)
}

/// Does ci_optims/ list workspace paths outside it (its `local-paths`)?
fn local_paths(ws: &Workspace) -> bool {
    let list = ws.root.join(MIRROR_DIR).join(MIRROR_LOCAL_PATHS);
    std::fs::read_to_string(list).is_ok_and(|text| text.lines().any(|l| !l.trim().is_empty()))
}

/// What every platform's image of one request shares.
#[derive(Debug, Clone)]
pub struct ImageRules {
    pub libc: Libc,
    /// Put the CA certificates in the image.
    pub ca_certificates: bool,
    /// The Rust image of a pinned toolchain (none: the Dockerfile's default).
    pub rust_image: Option<String>,
}

/// The image rules of `ws`, with the C library asked for (`--libc`) if any.
pub fn image_rules(ws: &Workspace, libc: Option<Libc>) -> anyhow::Result<ImageRules> {
    let docker = ws.config.docker.as_ref();
    Ok(ImageRules {
        libc: libc
            .or_else(|| docker.and_then(|d| d.libc))
            .unwrap_or_default(),
        ca_certificates: docker
            .and_then(|d| d.ca_certificates)
            .unwrap_or_else(|| reads_system_certs(ws)),
        rust_image: rust_image(ws)?,
    })
}

/// One cargo run of the build stages: one platform's binary with glibc, every platform's with
/// musl (one cargo-zigbuild run).
#[derive(Debug, Clone)]
pub struct ImageBuild {
    /// The native build's model of these targets, for the image's binary.
    pub spec: BuildSpec,
    /// The deps stage's cargo: the mirror's, in the deps layer's target dir.
    pub deps: Invocation,
    /// The build stage's cargo: the native invocation, in `target_dir`.
    pub build: Invocation,
    /// The build stage's target dir, a folder of the cache mount (one per binary, profile and
    /// targets).
    pub target_dir: PathBuf,
    /// Each target's binary, by the architecture name its runtime stage copies it by.
    pub bin_paths: Vec<(String, PathBuf)>,
    /// glibc: where the target's C runtime libraries are, and its multiarch name.
    pub runtime_libs: Option<(String, String)>,
}

/// The build of `bin` for `platforms` with `libc`.
pub fn image_build(
    ws: &Workspace,
    variant: Variant,
    libc: Libc,
    platforms: &[Platform],
    bin: &str,
    facts: &Facts,
) -> anyhow::Result<ImageBuild> {
    let request = BuildRequest {
        targets: platforms.iter().map(|p| p.triple(libc)).collect(),
        bins: vec![bin.into()],
        cross: match libc {
            Libc::Gnu => Cross::Linker,
            Libc::Musl => Cross::Zigbuild,
        },
        ..BuildRequest::of(variant)
    };
    let spec = spec(ws, &request, facts)?;
    let target_dir = Path::new(BUILD_TARGETS_MOUNT).join(format!(
        "{bin}-{}-{}",
        spec.profile,
        spec.triples().join("+")
    ));
    let mut build = spec.invocation.clone();
    build.selection = Selection::Bins(vec![bin.to_string()]);
    build.locked = true;
    let deps = mirror_of(
        &build,
        format!("{MIRROR_DIR}/Cargo.toml").into(),
        DEPS_TARGET_DIR.into(),
    );
    build.target_dir = Some(target_dir.clone());
    let outputs = spec.output_dirs(&target_dir);
    let bin_paths = spec
        .targets
        .iter()
        .map(|t| (t.arch.docker.clone(), outputs[&t.triple].join(bin)))
        .collect();
    let runtime_libs = spec
        .targets
        .iter()
        .find_map(|t| t.runtime_libs.clone().map(|dir| (dir, t.arch.multiarch())));
    Ok(ImageBuild {
        spec,
        deps,
        build,
        target_dir,
        bin_paths,
        runtime_libs,
    })
}

/// Crates that read the system's CA certificates (a TLS client verifying servers with them).
const READS_SYSTEM_CERTS: [&str; 5] = [
    "openssl-sys",
    "native-tls",
    "rustls-native-certs",
    "rustls-platform-verifier",
    "openssl-probe",
];

/// Does Cargo.lock have a crate that reads the system's CA certificates?
fn reads_system_certs(ws: &Workspace) -> bool {
    let locked = ws.locked_names();
    READS_SYSTEM_CERTS.iter().any(|name| locked.contains(*name))
}

/// The Rust image of a workspace that pins its toolchain (`rust-toolchain.toml` or
/// `rust-toolchain` with a version as its channel): `rust:<version>-slim-bookworm`.
fn rust_image(ws: &Workspace) -> anyhow::Result<Option<String>> {
    for name in ["rust-toolchain.toml", "rust-toolchain"] {
        let path = ws.root.join(name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let channel = match text.parse::<toml::Table>() {
            Ok(table) => table
                .get("toolchain")
                .and_then(|t| t.get("channel"))
                .and_then(|c| c.as_str())
                .map(str::to_string),
            // The old format: the channel alone.
            Err(_) => Some(text.trim().to_string()),
        };
        let Some(channel) = channel else { continue };
        if channel.split('.').all(|part| part.parse::<u32>().is_ok()) && channel.contains('.') {
            return Ok(Some(format!("rust:{channel}-slim-bookworm")));
        }
        bail!(
            "{} pins the toolchain `{channel}`, which has no official image tag; pin a version \
             (e.g. channel = \"1.95.0\") to build images",
            path.display()
        );
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::tests_support::workspace_with_service;

    #[test]
    fn ca_certificates_follow_the_lockfile_unless_configured() {
        let dir = crate::test_support::scratch("ca-certs");
        let mut ws = workspace_with_service();
        ws.root = dir.clone();
        assert!(
            !image_rules(&ws, None).unwrap().ca_certificates,
            "no lockfile: none"
        );
        let lock = |names: &[&str]| {
            let text: String = names
                .iter()
                .map(|n| format!("[[package]]\nname = \"{n}\"\nversion = \"1.0.0\"\n\n"))
                .collect();
            std::fs::write(dir.join("Cargo.lock"), text).unwrap();
        };
        lock(&["serde", "rustls", "webpki-roots"]);
        assert!(
            !image_rules(&ws, None).unwrap().ca_certificates,
            "rustls with built-in roots reads no file"
        );
        lock(&["serde", "rustls-native-certs"]);
        assert!(image_rules(&ws, None).unwrap().ca_certificates);
        ws.config.docker = Some(crate::config::DockerConfig {
            ca_certificates: Some(false),
            ..Default::default()
        });
        assert!(
            !image_rules(&ws, None).unwrap().ca_certificates,
            "the setting wins"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_pinned_toolchain_picks_the_rust_image() {
        let dir = crate::test_support::scratch("rust-image");
        let mut ws = workspace_with_service();
        ws.root = dir.clone();
        assert_eq!(image_rules(&ws, None).map(|r| r.rust_image).unwrap(), None);
        std::fs::write(
            dir.join("rust-toolchain.toml"),
            "[toolchain]\nchannel = \"1.85.1\"\n",
        )
        .unwrap();
        assert_eq!(
            image_rules(&ws, None)
                .map(|r| r.rust_image)
                .unwrap()
                .as_deref(),
            Some("rust:1.85.1-slim-bookworm")
        );
        std::fs::write(
            dir.join("rust-toolchain.toml"),
            "[toolchain]\nchannel = \"nightly\"\n",
        )
        .unwrap();
        let err = image_rules(&ws, None)
            .map(|r| r.rust_image)
            .unwrap_err()
            .to_string();
        assert!(err.contains("pin a version"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

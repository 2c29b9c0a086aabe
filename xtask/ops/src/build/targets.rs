//! `cargo xtask targets`: the production targets, how each is built here, and which runner a
//! release builds it on: a darwin target links on Linux through cargo-zigbuild, unless a crate of
//! Cargo.lock links an Apple framework and no macOS SDK is given (`SDKROOT`): then a macOS runner
//! builds it. `universal2-apple-darwin` is one binary for both macOS architectures: the two
//! darwin targets built, their binaries joined. `--runner` prints one kind's targets, for a workflow's
//! `$GITHUB_OUTPUT`.

use crate::exec::Exec;
use crate::render::{print_json, Format, Options, Table};
use crate::toolchain::{self, Toolchain};
use crate::workspace::Workspace;
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct TargetsArgs {
    /// Print only the targets this kind of runner builds, space-separated: `macos`, the darwin
    /// targets that need the macOS SDK here (a crate links an Apple framework, SDKROOT is not
    /// set); `linux`, every other (this machine's kind).
    #[arg(long, value_enum)]
    pub runner: Option<Runner>,
    /// With --runner: the rustc targets whose standard library those targets need (what
    /// `rustup target add` takes: universal2-apple-darwin is built from the two darwin ones).
    #[arg(long, requires = "runner")]
    pub std: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Runner {
    Linux,
    Macos,
}

#[derive(Debug, Serialize)]
pub struct TargetRow {
    pub target: String,
    pub runner: Runner,
    pub how: String,
    /// Crates that link an Apple framework (darwin targets only).
    pub frameworks: Vec<String>,
}

/// Each production target, its runner and how it is built.
pub fn rows(ws: &Workspace, host: &str) -> anyhow::Result<Vec<TargetRow>> {
    let frameworks: Vec<String> = crate::needs::macos_sdk(ws)
        .iter()
        .map(|n| n.krate.to_string())
        .collect();
    let sdk = toolchain::macos_sdk_root()?;
    Ok(ws
        .config
        .production_targets()
        .into_iter()
        .map(|target| {
            let darwin = toolchain::is_darwin(&target);
            let elsewhere = darwin && !toolchain::is_darwin(host);
            let needs_mac = elsewhere && !frameworks.is_empty() && sdk.is_none();
            let mut how = match (darwin, elsewhere, &sdk) {
                (true, false, _) => "natively (the Xcode toolchain)".to_string(),
                (true, true, _) if needs_mac => "a macOS runner (the macOS SDK)".to_string(),
                (true, true, Some(root)) if !frameworks.is_empty() => {
                    format!("cargo-zigbuild, SDKROOT={}", root.display())
                }
                (true, true, _) => "cargo-zigbuild (zig links Mach-O)".to_string(),
                (false, _, _) if target == host => "natively".to_string(),
                (false, _, _) => {
                    "cross-compiled (the target's linker, or --cross zigbuild)".to_string()
                }
            };
            if target == toolchain::UNIVERSAL2 {
                how.push_str("; the x86_64 and arm64 binaries joined into one (fat Mach-O)");
            }
            TargetRow {
                runner: if needs_mac {
                    Runner::Macos
                } else {
                    Runner::Linux
                },
                frameworks: if darwin {
                    frameworks.clone()
                } else {
                    Vec::new()
                },
                target,
                how,
            }
        })
        .collect())
}

pub fn run(args: TargetsArgs, exec: &Exec, ws: &Workspace, opts: Options) -> anyhow::Result<()> {
    let host = Toolchain::detect(exec)?.host;
    let rows = rows(ws, &host)?;
    if let Some(runner) = args.runner {
        let mut targets: Vec<&str> = rows
            .iter()
            .filter(|r| r.runner == runner)
            .map(|r| r.target.as_str())
            .collect();
        if args.std {
            targets = toolchain::rustc_targets(targets);
        }
        println!("{}", targets.join(" "));
        return Ok(());
    }
    let mut table = Table::new(["target", "built on", "how", "links Apple frameworks"]);
    for r in &rows {
        table.row([
            r.target.clone(),
            crate::render::name(&r.runner),
            r.how.clone(),
            r.frameworks.join(", "),
        ]);
    }
    match opts.format {
        Format::Json => print_json(&rows),
        Format::Markdown => {
            print!("{}", table.markdown());
            Ok(())
        }
        Format::Text => {
            println!("{}", table.terminal());
            Ok(())
        }
    }
}

//! `cargo xtask`: build, package and measure this workspace.
//!
//! This file only parses flags, finds the workspace and dispatches; each command lives in its
//! own module with a `run(self, sh, ws)` entry point. See ARCHITECTURE.md.

mod bench;
mod build;
mod changes;
mod ci_optims;
mod dist;
mod docker;
mod toolchain;
mod workspace;

#[cfg(test)]
mod test_support;

use clap::{Parser, Subcommand};
use workspace::Workspace;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build this workspace fast, for every target, and measure it",
    long_about = "Build this workspace fast, for every target, and measure it.\n\n\
        The workspace is read from `cargo metadata` (run from the current directory) and its \
        `[workspace.metadata.xtask]` table; see README.md for the keys."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the workspace: `--variant dev` (native debug) or `--variant production`
    /// (optimized, every configured target in parallel, packaged into dist/).
    Build(build::BuildArgs),
    /// Generate (`sync`), verify (`check`) and measure (`coverage`) ci_optims/, the crate that
    /// precompiles every third-party dependency in one step.
    CiOptims(ci_optims::CiOptimsArgs),
    /// Time build scenarios: save a baseline (`--baseline`), or compare with one (`--compare`).
    Bench(bench::BenchArgs),
    /// Container images of the service: `docker build` per platform in phases, push, manifest.
    Docker(docker::DockerArgs),
    /// What a change between two commits touches (deps, code, docs, ci): `key=value` lines for
    /// $GITHUB_OUTPUT, or the Cargo.lock changes as markdown for a pull-request comment.
    Changes(changes::ChangesArgs),
}

fn main() {
    let cli = Cli::parse();
    if let Err(err) = run(cli) {
        eprintln!("error: {err:#}");
        // 1 is kept for "bench found a regression".
        std::process::exit(2);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let sh = xshell::Shell::new()?;
    let ws = Workspace::load(&sh)?;
    sh.change_dir(&ws.root);
    match cli.command {
        Command::Build(args) => args.run(&sh, &ws),
        Command::CiOptims(args) => args.run(&sh, &ws),
        Command::Docker(args) => args.run(&sh, &ws),
        Command::Bench(args) => args.run(&sh, &ws),
        Command::Changes(args) => args.run(&sh, &ws),
    }
}

//! `cargo xtask`: build, package and measure a Cargo workspace.
//!
//! The tool is this library; a workspace's own `xtask` binary calls [`main`] (the whole CLI),
//! and may match its own subcommands first:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     match std::env::args().nth(1).as_deref() {
//!         Some("hello") => {
//!             println!("the team's own command");
//!             std::process::ExitCode::SUCCESS
//!         }
//!         _ => xtask_fastbuild::main(),
//!     }
//! }
//! ```
//!
//! This file only parses flags, finds the workspace and dispatches. The modules are layers;
//! each imports only from the layers below it (see ARCHITECTURE.md and the test at the end):
//!
//!   commands   bench, timings → history → docker, changes → ci_optims, build
//!   rules      what a variant means (profile, targets, linker, env), stated once
//!   workspace  the workspace from `cargo metadata` + its config
//!   cargo      typed cargo invocations, metadata and messages; toolchain: what the machine has
//!   config     the [workspace.metadata.xtask] schema
//!   plan       the one step vocabulary and runner: what --dry-run prints is what runs
//!   bottom     exec (every process), lock, render (tables, formats, names); under them,
//!              progress (the live status line; every line printed while processes run)

// The layers below, compiled first as crates of their own (xtask-fastbuild-core, then
// xtask-fastbuild-ops): named here as this crate's own modules.
use xtask_fastbuild_ops::{
    build, cargo, changes, ci_optims, config, docker, engine, exec, hash, history, lock, needs,
    plan, progress, render, rules, sccache, toolchain, workspace,
};
// Commands.
mod bench;
mod cache;
mod cluster;
mod doctor;
mod init;
mod timings;

#[cfg(test)]
use xtask_fastbuild_core::test_support;

use clap::{Parser, Subcommand};
use exec::{Exec, Verbosity};
use render::{Format, Options};
use workspace::Workspace;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build this workspace fast, for every target, and measure it",
    long_about = "Build this workspace fast, for every target, and measure it.\n\n\
        The workspace is read from `cargo metadata` (run from the current directory) and its \
        `[workspace.metadata.xtask]` table; see README.md for the keys.\n\n\
        Every command plans first: --dry-run prints the plan (with --json, as JSON) and runs nothing.",
    after_help = "Exit status: 0 ok, 1 `bench --compare` found a regression, 2 an error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print what the command would do (commands, environment, files, paths); run nothing.
    #[arg(long, global = true)]
    dry_run: bool,
    /// Output format: text (tables; for `changes`, key=value lines), markdown, json.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Same as `--format json`.
    #[arg(long, global = true, conflicts_with = "format")]
    json: bool,
    /// Fail at once, instead of waiting, when another command holds an output this one writes
    /// (dist/, the bench's target dir, ci_optims/).
    #[arg(long, global = true)]
    no_wait: bool,
    /// Append every step the command runs to FILE as a JSON line, as `--dry-run --json` prints
    /// it, when the step starts: what ran, to compare with what was planned.
    #[arg(long, global = true, value_name = "FILE")]
    trace: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Build the workspace: `--variant dev` (native debug) or `--variant production`
    /// (optimized, every configured target in parallel, packaged into dist/).
    Build(build::BuildArgs),
    /// Generate (`sync`), verify (`check`) and measure (`coverage`) ci_optims/, the mirror of the
    /// workspace that precompiles every third-party dependency in one step.
    CiOptims(ci_optims::CiOptimsArgs),
    /// Time build scenarios: save a baseline (`--baseline`), or compare with one (`--compare`).
    Bench(bench::BenchArgs),
    /// Container images of a binary (the service's by default): `docker build` per platform in
    /// phases, push, manifest.
    Docker(docker::DockerArgs),
    /// What a change between two commits touches (deps, code, docs, ci): `key=value` lines for
    /// $GITHUB_OUTPUT, or the Cargo.lock changes as markdown for a pull-request comment.
    Changes(changes::ChangesArgs),
    /// Adopt the tool in a workspace: a thin xtask/ pinning it, the alias, config, production
    /// profile, ci_optims/ and stamped generated files (`--check` in CI: are they current).
    Init(init::InitArgs),
    /// Move the pin of the tool in a workspace that adopted it (`--rev`, `--tag`, ...), then
    /// let the new version regenerate its files (edited ones are kept, the new one beside).
    Upgrade(init::UpgradeArgs),
    /// Take the tool out of a workspace that adopted it: what init added and nobody edited
    /// (`--dry-run` first; edited files and a thin xtask with the team's code stay).
    Uninstall(init::UninstallArgs),
    /// Everything this tool can use on this machine (toolchain, targets, linkers, zig, qemu,
    /// sccache and its backend, Docker and BuildKit, a registry, disk, ci_optims/), each with
    /// ✓/✗, what it affects and the exact fix.
    Doctor(doctor::DoctorArgs),
    /// Every cache a build uses, in one report (target dir per profile and target, cargo's
    /// registry and git caches, sccache, the Docker build cache, the last ci_optims coverage);
    /// `cache clean` prunes what is safe to (`--dry-run` first).
    Cache(cache::CacheArgs),
    /// Time one build of a variant with cargo's `--timings`: the 10 slowest units, the
    /// critical path, how busy the CPU was, what to do about each, and a Gantt chart (SVG)
    /// next to cargo's own HTML report.
    Timings(timings::TimingsArgs),
    /// Build times across commits (every `timings` appends a point): a table, a chart with the
    /// noise band, and the newest point against the earlier ones: which units got slower or
    /// faster beyond their noise, and the change behind each (Cargo.lock, a build script, a
    /// member's sources). `--format markdown` is the pull-request comment.
    History(history::HistoryArgs),
    /// A loopback sccache-dist cluster for trials and tests (`up [--servers N]`, `down`,
    /// `status`): builds with `--cache sccache-dist` compile library units on it.
    #[command(name = "sccache-dist")]
    SccacheDist(cluster::ClusterArgs),
    /// The production targets: how each is built here, and which runner a release builds it
    /// on (a darwin target that needs the macOS SDK: a macOS runner); `--runner linux|macos`
    /// prints one kind's targets for a workflow.
    Targets(build::targets::TargetsArgs),
}

/// The whole CLI, from the process's arguments: `cargo xtask --help`. Exit status: 0 ok, 1
/// `bench --compare` found a regression, 2 an error (printed).
pub fn main() -> std::process::ExitCode {
    // Cargo's `RUSTC_WRAPPER` in a build through an sccache-dist cluster.
    if let Some(code) = sccache::wrapper::run_if_wrapper() {
        return code;
    }
    main_from(std::env::args_os())
}

/// [`main`] with the arguments given (the first is the program's name), e.g. to put the
/// tool's commands under a subcommand of a team's own CLI.
pub fn main_from<I, T>(args: I) -> std::process::ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => match err.downcast_ref::<bench::Regressed>() {
            Some(regressed) => {
                eprintln!("{regressed}");
                std::process::ExitCode::from(1)
            }
            None => {
                eprintln!("error: {err:#}");
                std::process::ExitCode::from(2)
            }
        },
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(path) = &cli.trace {
        plan::trace_to(std::path::absolute(path)?);
    }
    let sh = xshell::Shell::new()?;
    let exec = Exec::new(&sh, Verbosity::Normal);
    let ws = match &cli.command {
        Command::Init(init::InitArgs {
            path: Some(path), ..
        }) => Workspace::load_at(&exec, path)?,
        _ => Workspace::load(&exec)?,
    };
    sh.change_dir(&ws.root);
    docker::remove_left_secrets(&ws);
    // What a command that could not clean up left (SIGKILL, power lost): the next one settles it.
    bench::left_edits(&ws, cli.dry_run)?;
    build::left_dist(&exec, &ws, cli.dry_run)?;
    let opts = Options {
        format: if cli.json { Format::Json } else { cli.format },
        dry_run: cli.dry_run,
        no_wait: cli.no_wait,
    };
    match cli.command {
        Command::Build(args) => {
            let unit_millis = history::unit_millis(&ws, &render::name(&args.variant));
            build::run(args, &exec, &ws, opts, unit_millis)
        }
        Command::CiOptims(args) => ci_optims::run(args, &exec, &ws, opts),
        Command::Docker(args) => docker::run(args, &exec, &ws, opts),
        Command::Bench(args) => bench::run(args, &exec, &ws, opts),
        Command::Changes(args) => changes::run(args, &exec, &ws, opts),
        Command::Init(args) => init::run(args, &exec, &ws, opts),
        Command::Upgrade(args) => init::upgrade(args, &exec, &ws, opts),
        Command::Uninstall(args) => init::uninstall(args, &exec, &ws, opts),
        Command::Doctor(args) => doctor::run(args, &exec, &ws, opts),
        Command::Cache(args) => cache::run(args, &exec, &ws, opts),
        Command::Timings(args) => timings::run(args, &exec, &ws, opts),
        Command::History(args) => history::run(args, &exec, &ws, opts),
        Command::SccacheDist(args) => cluster::run(args, &exec, &ws, opts),
        Command::Targets(args) => build::targets::run(args, &exec, &ws, opts),
    }
}

/// The layers, bottom first. A module may import only from modules of earlier layers (and
/// from itself); rust-analyzer's tidy tests guard its rules the same way.
#[cfg(test)]
const LAYERS: &[&[&str]] = &[
    &["progress"],
    &["exec", "hash", "lock", "render"],
    &["config"],
    &["sccache"],
    &["cargo", "engine", "toolchain"],
    &["plan"],
    &["workspace"],
    &["needs"],
    &["rules"],
    &["build", "ci_optims"],
    &["changes", "docker"],
    &["history"],
    &["bench", "cache", "cluster", "doctor", "init", "timings"],
];

#[cfg(test)]
mod tests {
    use super::LAYERS;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// Top-level module of each `crate::X` a source file names outside its test code.
    fn imports(text: &str) -> Vec<String> {
        // Test code may reach anywhere: cut `#[cfg(test)]` items.
        let code: String = text
            .split("#[cfg(test)]")
            .enumerate()
            .map(|(i, part)| if i == 0 { part } else { skip_item(part) })
            .collect();
        let mut found = Vec::new();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                found.extend(
                    group
                        .split(',')
                        .map(|m| m.trim().split("::").next().unwrap_or("").to_string()),
                );
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found.push(name);
            }
        }
        found
    }

    /// The text after the item that follows a `#[cfg(test)]` (a braced block, or one line).
    fn skip_item(text: &str) -> &str {
        let Some(open) = text.find(['{', ';']) else {
            return "";
        };
        if text.as_bytes()[open] == b';' {
            return &text[open + 1..];
        }
        let mut depth = 0;
        for (i, c) in text[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return &text[open + i + 1..];
                    }
                }
                _ => {}
            }
        }
        ""
    }

    fn sources(path: &Path, out: &mut Vec<std::path::PathBuf>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                sources(&entry.unwrap().path(), out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.to_path_buf());
        }
    }

    /// The tool's crates, bottom first: the folders of their sources.
    const CRATES: [&str; 3] = ["core/src", "ops/src", "src"];

    #[test]
    fn imports_point_down() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let layer: BTreeMap<&str, usize> = LAYERS
            .iter()
            .enumerate()
            .flat_map(|(i, mods)| mods.iter().map(move |m| (*m, i)))
            .collect();
        let mut checked = 0;
        let mut upward = Vec::new();
        // The highest layer of the crates below: every module of a crate lies above it.
        let mut below = None;
        for krate in CRATES {
            let src = root.join(krate);
            let mut highest = below;
            for entry in std::fs::read_dir(&src).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_stem().unwrap().to_string_lossy().to_string();
                if ["lib", "main", "test_support"].contains(&name.as_str()) {
                    continue;
                }
                let Some(&own) = layer.get(name.as_str()) else {
                    panic!("module `{name}` is in no layer: add it to LAYERS in lib.rs");
                };
                assert!(
                    below.is_none_or(|b| own > b),
                    "{krate}/{name} is in layer {own}, not above the crates below {krate}"
                );
                highest = highest.max(Some(own));
                let mut files = Vec::new();
                sources(&path, &mut files);
                for file in files {
                    for import in imports(&std::fs::read_to_string(&file).unwrap()) {
                        checked += 1;
                        match layer.get(import.as_str()) {
                            Some(&l) if l < own || import == name => {}
                            Some(_) => upward.push(format!(
                                "{} imports crate::{import} (layer {} is not below {name}'s)",
                                file.strip_prefix(root).unwrap().display(),
                                layer[import.as_str()]
                            )),
                            None => {}
                        }
                    }
                }
            }
            below = highest;
        }
        assert!(
            checked > 20,
            "found only {checked} imports: is the parser broken?"
        );
        assert!(
            upward.is_empty(),
            "imports that point up:\n{}",
            upward.join("\n")
        );
    }

    #[test]
    fn the_import_reader_sees_groups_paths_and_skips_tests() {
        let text = "use crate::{exec::Exec, render};\nfn f() { crate::cargo::x(); }\n\
                    #[cfg(test)]\nmod tests { use crate::bench; }\nuse crate::rules;\n";
        assert_eq!(imports(text), ["exec", "render", "cargo", "rules"]);
    }
}

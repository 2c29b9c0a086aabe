//! pulse: ingest metric files into a SQLite database, print summaries, generate sample load.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use pulse_core::{parse_lines, BuildInfo, Store};
use std::io::{Read, Write};
use std::path::PathBuf;

const BUILD: BuildInfo = pulse_core::build_info!();

#[derive(Parser)]
#[command(
    name = "pulse",
    about = "Metric files in, summaries out",
    disable_version_flag = true
)]
struct Cli {
    /// Print version, commit, build variant and target, then exit.
    #[arg(short = 'V', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Parse metric lines from files (or stdin) and store them.
    Ingest {
        /// SQLite database (`:memory:` parses and aggregates without keeping anything).
        #[arg(long)]
        db: PathBuf,
        /// Files of `name:value|kind` lines; stdin when none.
        files: Vec<PathBuf>,
        /// Exit with an error when any line is rejected.
        #[arg(long)]
        strict: bool,
    },
    /// Print the summary of one metric, or list every metric.
    Summary {
        #[arg(long)]
        db: PathBuf,
        name: Option<String>,
    },
    /// Write `count` deterministic sample lines to stdout (load for tests and benchmarks).
    Generate {
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.version {
        println!("{BUILD}");
        return Ok(());
    }
    match cli.command {
        None => bail!("no command given; see `pulse --help`"),
        Some(Command::Ingest { db, files, strict }) => ingest(&db, &files, strict),
        Some(Command::Summary { db, name }) => summary(&db, name.as_deref()),
        Some(Command::Generate { count, seed }) => generate(count, seed),
    }
}

fn ingest(db: &PathBuf, files: &[PathBuf], strict: bool) -> anyhow::Result<()> {
    let mut store = Store::open(db).with_context(|| format!("opening {}", db.display()))?;
    let mut inputs = Vec::new();
    if files.is_empty() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
        inputs.push(("<stdin>".to_string(), text));
    }
    for file in files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        inputs.push((file.display().to_string(), text));
    }
    let (mut accepted, mut rejected) = (0, 0);
    for (source, text) in inputs {
        let (samples, bad) = parse_lines(&text);
        for r in &bad {
            eprintln!("{source}:{}: {}", r.line, r.error);
        }
        rejected += bad.len();
        accepted += store
            .insert(&samples)
            .with_context(|| format!("storing samples of {source}"))?;
    }
    println!("accepted {accepted}, rejected {rejected}");
    if strict && rejected > 0 {
        bail!("{rejected} line(s) rejected (--strict)");
    }
    Ok(())
}

fn summary(db: &PathBuf, name: Option<&str>) -> anyhow::Result<()> {
    let store = Store::open(db).with_context(|| format!("opening {}", db.display()))?;
    let out = match name {
        Some(name) => match store.summary(name)? {
            Some(s) => serde_json::to_string_pretty(&s)?,
            None => bail!("no metric named {name:?} in {}", db.display()),
        },
        None => serde_json::to_string_pretty(&store.metrics()?)?,
    };
    println!("{out}");
    Ok(())
}

/// xorshift64*: deterministic, dependency-free, good enough for load generation.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn generate(count: usize, seed: u64) -> anyhow::Result<()> {
    const NAMES: [(&str, &str); 4] = [
        ("api.latency", "ms"),
        ("db.latency", "ms"),
        ("requests", "c"),
        ("queue.depth", "g"),
    ];
    let mut state = seed.max(1);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for _ in 0..count {
        let (name, kind) = NAMES[(next(&mut state) % NAMES.len() as u64) as usize];
        let value = (next(&mut state) % 100_000) as f64 / 100.0;
        writeln!(out, "{name}:{value}|{kind}")?;
    }
    out.flush()?;
    Ok(())
}

//! This repository's own `cargo xtask`: the tool's whole CLI. An adopting workspace's
//! `xtask/src/main.rs` is the same call (`cargo xtask init` writes it), with room for the
//! team's own commands beside it.

fn main() -> std::process::ExitCode {
    xtask_fastbuild::main()
}

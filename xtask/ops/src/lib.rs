//! The middle layers of `cargo xtask` (the tool is the crate `xtask-fastbuild`): the commands
//! the others build on. Each imports only from the layers below it:
//!
//!   history    build times across commits (the causes read from changes)
//!   changes, docker
//!   build, ci_optims
//!   (below)    xtask-fastbuild-core, its modules re-exported here as this crate's own

pub use xtask_fastbuild_core::{
    cargo, config, engine, exec, hash, lock, needs, plan, progress, render, rules, sccache,
    toolchain, workspace,
};

#[cfg(test)]
use xtask_fastbuild_core::test_support;

pub mod build;
pub mod changes;
pub mod ci_optims;
pub mod docker;
pub mod history;

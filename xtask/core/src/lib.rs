//! The bottom layers of `cargo xtask` (the tool is the crate `xtask-fastbuild`; this crate and
//! `xtask-fastbuild-ops` are its lower layers, compiled first and as a pipeline). Each module
//! imports only from the layers below it (the test in `xtask-fastbuild` holds all three crates
//! to it):
//!
//!   rules      what a variant means (profile, targets, linker, env), stated once
//!   workspace  the workspace from `cargo metadata` + its config; needs: what build scripts need
//!   plan       the one step vocabulary and runner: what --dry-run prints is what runs
//!   cargo      typed cargo invocations, metadata and messages; toolchain: what the machine has
//!   sccache    sccache as the compiler wrapper, the cluster's client, this tool as the wrapper
//!   config     the [workspace.metadata.xtask] schema
//!   bottom     exec (every process), lock, render (tables, formats, names); under them,
//!              progress (the live status line; every line printed while processes run)

// Bottom: no imports from the crate (progress), then what only it imports.
pub mod exec;
pub mod hash;
pub mod lock;
pub mod progress;
pub mod render;
// The [workspace.metadata.xtask] schema.
pub mod config;
// What cargo and the machine are.
pub mod cargo;
pub mod engine;
pub mod sccache;
pub mod toolchain;

pub mod plan;
// The workspace and the build rules.
pub mod needs;
pub mod rules;
pub mod workspace;

#[cfg(any(test, feature = "test-support"))]
pub mod test_support;

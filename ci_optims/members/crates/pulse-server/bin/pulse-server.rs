// @generated stub: see ci_optims/Cargo.toml
fn main() {}

//! Exposes the target triple to `pulse_core::build_info!`. Build scripts are the only place
//! cargo tells it, and one invocation may build several targets at once.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").expect("cargo sets TARGET for build scripts");
    println!("cargo:rustc-env=APP_TARGET={target}");
}

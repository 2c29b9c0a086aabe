//! What the dependencies' build scripts need from the build machine that cargo cannot fetch (a
//! program they run, a system library they link through pkg-config), read from Cargo.lock.
//! One table: `init` proposes the Debian packages as `system-packages`, `doctor` checks them,
//! the build and image plans warn about any not listed (before compiling for minutes).
//!
//! Cargo.lock also holds members' optional dependencies that no feature enables, so a need
//! found here is a likely one: plans warn rather than refuse.

use crate::workspace::Workspace;

/// A crate whose build script needs something of the machine.
#[derive(Debug, PartialEq, Eq)]
pub struct Need {
    /// The crate (in Cargo.lock) whose build script (or whose users' build scripts) needs it.
    pub krate: &'static str,
    /// What it needs, for people.
    pub what: &'static str,
    /// The Debian packages that provide it.
    pub packages: &'static [&'static str],
    /// Crates that provide it instead (vendored sources, bundled binaries): with one of these
    /// in Cargo.lock the need is met without the packages.
    pub unless: &'static [&'static str],
    /// Links an Apple framework: a `*-apple-darwin` build needs the macOS SDK (`SDKROOT`, or a
    /// macOS machine), and no Debian package provides it.
    pub macos_sdk: bool,
}

/// A crate that links an Apple framework (the macOS SDK, for darwin targets only).
const fn framework(krate: &'static str, what: &'static str) -> Need {
    Need {
        krate,
        what,
        packages: &[],
        unless: &[],
        macos_sdk: true,
    }
}

const PKG_CONFIG: &str = "pkg-config";

pub const NEEDS: &[Need] = &[
    Need {
        krate: "prost-build",
        what: "runs protoc, the protobuf compiler (prost, tonic)",
        packages: &["protobuf-compiler"],
        unless: &["protoc-bin-vendored", "protobuf-src"],
        macos_sdk: false,
    },
    Need {
        krate: "cmake",
        what: "runs cmake to build C/C++ sources",
        packages: &["cmake"],
        unless: &[],
        macos_sdk: false,
    },
    Need {
        krate: "bindgen",
        what: "loads libclang to generate bindings",
        packages: &["libclang-dev"],
        unless: &[],
        macos_sdk: false,
    },
    Need {
        krate: "openssl-sys",
        what: "finds OpenSSL's headers and library with pkg-config",
        packages: &[PKG_CONFIG, "libssl-dev"],
        unless: &["openssl-src"],
        macos_sdk: false,
    },
    Need {
        krate: "libudev-sys",
        what: "finds libudev with pkg-config",
        packages: &[PKG_CONFIG, "libudev-dev"],
        unless: &[],
        macos_sdk: false,
    },
    Need {
        krate: "alsa-sys",
        what: "finds ALSA with pkg-config",
        packages: &[PKG_CONFIG, "libasound2-dev"],
        unless: &[],
        macos_sdk: false,
    },
    Need {
        krate: "libdbus-sys",
        what: "finds libdbus with pkg-config",
        packages: &[PKG_CONFIG, "libdbus-1-dev"],
        unless: &[],
        macos_sdk: false,
    },
    Need {
        krate: "yeslogic-fontconfig-sys",
        what: "finds fontconfig with pkg-config",
        packages: &[PKG_CONFIG, "libfontconfig-dev"],
        unless: &[],
        macos_sdk: false,
    },
    Need {
        krate: "glib-sys",
        what: "finds GLib with pkg-config",
        packages: &[PKG_CONFIG, "libglib2.0-dev"],
        unless: &[],
        macos_sdk: false,
    },
    Need {
        krate: "nasm-rs",
        what: "runs nasm to assemble",
        packages: &["nasm"],
        unless: &[],
        macos_sdk: false,
    },
    framework(
        "core-foundation-sys",
        "links Apple's CoreFoundation framework (core-foundation, iana-time-zone on macOS)",
    ),
    framework(
        "security-framework-sys",
        "links Apple's Security framework (security-framework, native-tls on macOS)",
    ),
    framework(
        "system-configuration-sys",
        "links Apple's SystemConfiguration framework (system-configuration, reqwest on macOS)",
    ),
    framework(
        "fsevent-sys",
        "links Apple's CoreServices framework (notify on macOS)",
    ),
    framework("coreaudio-sys", "links Apple's CoreAudio framework"),
    framework("objc2-foundation", "links Apple's Foundation framework"),
    framework("cocoa", "links Apple's AppKit framework"),
];

/// The needs of the crates `locked` names (the package names in Cargo.lock).
pub fn of_names(locked: &std::collections::BTreeSet<String>) -> Vec<&'static Need> {
    NEEDS
        .iter()
        .filter(|n| locked.contains(n.krate))
        .filter(|n| !n.unless.iter().any(|u| locked.contains(*u)))
        .collect()
}

/// The needs of the workspace's Cargo.lock that Debian packages meet.
pub fn of(ws: &Workspace) -> Vec<&'static Need> {
    of_names(&ws.locked_names())
        .into_iter()
        .filter(|n| !n.macos_sdk)
        .collect()
}

/// The crates of the workspace's Cargo.lock that link an Apple framework: a darwin target
/// built on another system needs the macOS SDK for them.
pub fn macos_sdk(ws: &Workspace) -> Vec<&'static Need> {
    of_names(&ws.locked_names())
        .into_iter()
        .filter(|n| n.macos_sdk)
        .collect()
}

/// The Debian packages of `needs`, each once, in the table's order.
pub fn packages(needs: &[&Need]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in needs.iter().flat_map(|n| n.packages) {
        if !out.iter().any(|o| o == p) {
            out.push(p.to_string());
        }
    }
    out
}

/// Each need with a package `system-packages` does not list, and those packages.
pub fn unlisted(ws: &Workspace) -> Vec<(&'static Need, Vec<&'static str>)> {
    of(ws)
        .into_iter()
        .filter_map(|n| {
            let missing: Vec<&str> = n
                .packages
                .iter()
                .copied()
                .filter(|p| !ws.config.system_packages.iter().any(|s| s == p))
                .collect();
            (!missing.is_empty()).then_some((n, missing))
        })
        .collect()
}

/// One line for a plan: what is needed and not listed, and the fix; None when nothing is.
pub fn warning(ws: &Workspace) -> Option<String> {
    let unlisted = unlisted(ws);
    if unlisted.is_empty() {
        return None;
    }
    let what: Vec<String> = unlisted
        .iter()
        .map(|(n, _)| format!("{} {}", n.krate, n.what))
        .collect();
    let mut missing: Vec<&str> = unlisted.iter().flat_map(|(_, p)| p.clone()).collect();
    missing.dedup();
    Some(format!(
        "Cargo.lock has build scripts that need the machine: {}; add {:?} to [workspace.metadata.xtask] system-packages (images install them; `cargo xtask doctor` checks this machine)",
        what.join("; "),
        missing
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn needs_come_from_the_lockfile_unless_vendored() {
        let found = of_names(&names(&[
            "tonic-build",
            "prost-build",
            "serde",
            "openssl-sys",
        ]));
        let crates: Vec<&str> = found.iter().map(|n| n.krate).collect();
        assert_eq!(crates, ["prost-build", "openssl-sys"]);
        assert_eq!(
            packages(&found),
            ["protobuf-compiler", "pkg-config", "libssl-dev"]
        );
        let vendored = of_names(&names(&[
            "prost-build",
            "protoc-bin-vendored",
            "openssl-sys",
            "openssl-src",
        ]));
        assert!(vendored.is_empty(), "{vendored:?}");
        assert!(of_names(&names(&["serde", "cc"])).is_empty());
    }

    #[test]
    fn a_listed_package_is_no_warning() {
        let dir = crate::test_support::scratch("needs");
        std::fs::write(
            dir.join("Cargo.lock"),
            "version = 4\n\n[[package]]\nname = \"cmake\"\nversion = \"0.1.0\"\n",
        )
        .unwrap();
        let mut ws = crate::workspace::tests_support::workspace(Default::default());
        ws.root = dir.clone();
        let warning = warning(&ws).expect("cmake is not listed");
        assert!(
            warning.contains("cmake runs cmake") && warning.contains("[\"cmake\"]"),
            "{warning}"
        );
        ws.config.system_packages = vec!["cmake".into()];
        assert_eq!(super::warning(&ws), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

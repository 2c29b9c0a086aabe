//! `ci_optims/` as a mirror of the workspace: a workspace of its own (never a member of the
//! user's) with one stub package per member. Each stub has the member's name, version, edition,
//! targets (lib, proc-macro, bins, build script), `[features]` and every dependency request as
//! cargo resolved the manifest (workspace inheritance, renames, optional and target-specific
//! dependencies, git and path sources), but empty sources. Its root carries the real root's
//! resolver, profiles, `[patch]` and `[replace]`, and its lockfile is the real one as cargo trims
//! it.
//!
//! Building it asks cargo for exactly what the real build asks for, so the resolver picks the
//! same versions and the same features, host and target kept apart as in the real build, for any
//! selection of packages: every third-party unit it compiles is one the real build then finds
//! fresh. A crate that lists dependencies by hand cannot do that (a dependency used with other
//! features by a build script or a proc macro than by the app, features that depend on which
//! packages are built).

use super::{DIR, HEADER};
use crate::cargo::Metadata;
use crate::workspace::Workspace;
use anyhow::{bail, Context as _};
use cargo_metadata::{Dependency, DependencyKind, Package, Target, TargetKind};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use toml_edit::{value, Array, ArrayOfTables, InlineTable, Key, Table};

/// Every file of the mirror, by path relative to `ci_optims/`, plus the local paths outside it
/// that its manifests refer to (what an image's deps stage must copy too).
pub struct Mirror {
    pub files: BTreeMap<String, String>,
    pub local: LocalPaths,
}

/// The workspace's paths outside `ci_optims/` that the mirror refers to: a `[patch]` or
/// `[replace]` to a path, a path dependency that is no member.
#[derive(Default)]
pub struct LocalPaths {
    /// Relative to the workspace root, `../` first when outside it: what an image must copy.
    pub listed: BTreeSet<String>,
    /// Symbolic links in `ci_optims/` (its top-level name -> link text) to the top-level folders
    /// of those inside the root. Cargo hashes a path package's units by its path relative to
    /// the workspace root, and finds the workspace a package inherits from by walking up its
    /// folders; through the link, the package sits at the same relative path, under the same
    /// folders, in the mirror as in the real workspace, so the real build finds its units fresh.
    /// (Outside the root, cargo hashes the absolute path, the same in both.)
    pub links: BTreeMap<String, String>,
}

/// Names the mirror uses itself at the top of `ci_optims/`: a local path starting with one of
/// them gets no link (its units are then compiled again by the real build).
const RESERVED: [&str; 6] = [
    ROOT_STUB,
    MEMBERS,
    "Cargo.toml",
    "Cargo.lock",
    "target",
    super::LOCAL_PATHS,
];

/// The mirror of the workspace described by `meta` (a full `cargo metadata`), whose lockfile
/// holds `packages` (by name).
pub fn render(
    ws: &Workspace,
    meta: &Metadata,
    out_root: &Path,
    packages: &BTreeSet<String>,
) -> anyhow::Result<Mirror> {
    let root = &ws.root;
    let members: Vec<&Package> = meta
        .workspace_packages()
        .into_iter()
        .filter(|p| !crate::workspace::is_this_tool(p))
        .collect();
    if members.is_empty() {
        bail!("the workspace has no package to mirror (only the xtask?)");
    }
    // Member directory -> its stub's directory (relative to ci_optims/). Stubs never sit where
    // their member sits relative to its workspace root: cargo hashes a path package's output
    // names by that relative path, and a stub must not share a build-script output with its
    // member. The root package's stub is `root`, the others are under `members/`.
    let member_dirs: BTreeMap<PathBuf, String> = members
        .iter()
        .map(|p| {
            let dir = package_dir(p);
            let rel = dir.strip_prefix(root).unwrap_or(&dir).to_path_buf();
            let stub = if rel.as_os_str().is_empty() {
                ROOT_STUB.to_string()
            } else {
                format!("{MEMBERS}/{}", slash(&rel))
            };
            (dir, stub)
        })
        .collect();
    let mut mirror = Mirror {
        files: BTreeMap::new(),
        local: LocalPaths::default(),
    };
    let real_root =
        std::fs::read_to_string(root.join("Cargo.toml")).context("reading the root Cargo.toml")?;
    let real_root: toml::Table = real_root.parse().context("parsing the root Cargo.toml")?;
    let ctx = Mirroring {
        root,
        out_root,
        member_dirs: &member_dirs,
    };

    for package in &members {
        let stub_dir = &member_dirs[&package_dir(package)];
        let (manifest, sources) = stub(&ctx, package, &mut mirror.local)?;
        for (file, text) in sources {
            mirror.files.insert(format!("{stub_dir}/{file}"), text);
        }
        mirror.files.insert(
            format!("{stub_dir}/Cargo.toml"),
            format!("{HEADER}\n{manifest}"),
        );
    }
    let workspace = workspace_table(
        &ctx,
        meta,
        &members,
        &real_root,
        packages,
        &mut mirror.local,
    )?;
    mirror.files.insert(
        "Cargo.toml".into(),
        format!(
            "{HEADER}\n#\n# The workspace `cargo xtask ci-optims` builds to precompile every third-party unit of\n\
             # the real one: its members' dependency requests with empty sources. Not a member of the\n\
             # real workspace.\n{workspace}"
        ),
    );
    Ok(mirror)
}

/// Where the stub of the root package goes, and the stubs of the other members.
const ROOT_STUB: &str = "root";
const MEMBERS: &str = "members";

struct Mirroring<'a> {
    root: &'a Path,
    out_root: &'a Path,
    member_dirs: &'a BTreeMap<PathBuf, String>,
}

impl Mirroring<'_> {
    /// Where the stub of a member directory is, relative to `ci_optims/` (`None`: not a member).
    fn stub_of(&self, dir: &Path) -> Option<&str> {
        self.member_dirs.get(dir).map(String::as_str)
    }

    /// `target` (an absolute path outside the mirror) as written in a file of `stub_dir`.
    fn outside(&self, stub_dir: &str, target: &Path, local: &mut LocalPaths) -> String {
        let from_root = relative_path(self.root, target);
        let listed = slash(&from_root);
        local.listed.insert(listed.clone());
        // A package of another workspace (a vendored repository) inherits from that workspace's
        // root manifest: an image needs that file too.
        if !listed.starts_with("..") {
            let enclosing = target
                .ancestors()
                .skip(1)
                .take_while(|dir| *dir != self.root && dir.starts_with(self.root))
                .map(|dir| dir.join("Cargo.toml"))
                .find(|manifest| {
                    std::fs::read_to_string(manifest)
                        .ok()
                        .and_then(|text| text.parse::<toml::Table>().ok())
                        .is_some_and(|t| t.contains_key("workspace"))
                });
            if let Some(manifest) = enclosing {
                local
                    .listed
                    .insert(slash(&relative_path(self.root, &manifest)));
            }
        }
        let top = from_root.components().next();
        let linkable = matches!(top, Some(Component::Normal(name))
            if !RESERVED.iter().any(|r| name == std::ffi::OsStr::new(r)));
        match linkable {
            true => {
                let top = slash(Path::new(top.expect("linkable").as_os_str()));
                local.links.insert(top.clone(), format!("../{top}"));
                self.inside(stub_dir, &listed)
            }
            false => {
                let from = self.root.join(DIR).join(stub_dir);
                slash(&relative_path(&from, target))
            }
        }
    }

    /// The stub at `to` (relative to ci_optims/) as written in a file of `stub_dir`.
    fn inside(&self, stub_dir: &str, to: &str) -> String {
        let from = self.out_root.join(stub_dir);
        slash(&relative_path(&from, &self.out_root.join(to)))
    }
}

fn package_dir(p: &Package) -> PathBuf {
    p.manifest_path
        .parent()
        .map(|d| d.as_std_path().to_path_buf())
        .unwrap_or_default()
}

fn slash(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    if text.is_empty() {
        ".".into()
    } else {
        text
    }
}

/// `to` relative to the directory `from` (both absolute, neither needs to exist).
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let (from, to) = (normalize(from), normalize(to));
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|i| quote(i))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A stub's `lib.rs`; its build script and other targets add an empty `main`.
const STUB_SOURCE: &str = "// @generated stub: see ci_optims/Cargo.toml\n";

fn stub_main() -> String {
    format!("{STUB_SOURCE}fn main() {{}}\n")
}

/// The stub of one member: its manifest (without header) and its source files.
fn stub(
    ctx: &Mirroring,
    p: &Package,
    local: &mut LocalPaths,
) -> anyhow::Result<(String, Vec<(String, String)>)> {
    let stub_dir = ctx.stub_of(&package_dir(p)).expect("a member").to_string();
    let mut manifest = Manifest::default();
    let mut sources = Vec::new();
    let has_build = p.targets.iter().any(|t| t.is_custom_build());
    manifest.table(&[Key::new("package")], package_table(p, has_build));
    if has_build {
        sources.push(("build.rs".into(), stub_main()));
    }
    let lib = p
        .targets
        .iter()
        .find(|t| t.is_lib() || t.is_proc_macro() || t.kind.iter().any(is_library_kind));
    if let Some(lib) = lib {
        manifest.table(&[Key::new("lib")], lib_table(lib));
        sources.push(("lib.rs".into(), STUB_SOURCE.into()));
    }
    for (section, file, table) in other_targets(p, lib.is_some()) {
        manifest.array_entry(section, table);
        sources.push((file, stub_main()));
    }
    if !p.features.is_empty() {
        let features = p
            .features
            .iter()
            .map(|(name, on)| (name.as_str(), array(on)));
        manifest.table(&[Key::new("features")], features.collect());
    }
    for (path, table) in dependency_tables(ctx, p, &stub_dir, local)? {
        manifest.table(&path, table);
    }
    Ok((manifest.doc.to_string(), sources))
}

/// A manifest being built: its tables print in the order they are added.
#[derive(Default)]
struct Manifest {
    doc: toml_edit::DocumentMut,
    added: isize,
}

impl Manifest {
    /// Adds `table` under `path` (its parents implicit: no header of their own).
    fn table(&mut self, path: &[Key], table: Table) {
        let table = self.next(table);
        let (last, parents) = path.split_last().expect("a table path");
        let mut parent = self.doc.as_table_mut();
        for key in parents {
            parent = parent
                .entry_format(key)
                .or_insert_with(|| {
                    let mut implicit = Table::new();
                    implicit.set_implicit(true);
                    implicit.into()
                })
                .as_table_mut()
                .expect("parents are tables");
        }
        parent.insert_formatted(last, table.into());
    }

    /// Adds `table` to the array of tables `key` (`[[key]]`).
    fn array_entry(&mut self, key: &str, table: Table) {
        let table = self.next(table);
        self.doc
            .entry(key)
            .or_insert_with(|| ArrayOfTables::new().into())
            .as_array_of_tables_mut()
            .expect("an array of tables")
            .push(table);
    }

    fn next(&mut self, mut table: Table) -> Table {
        table.set_position(Some(self.added));
        self.added += 1;
        table
    }
}

fn array(items: &[String]) -> Array {
    items.iter().collect()
}

/// `[package]`: the member's name, version and edition; targets only as listed, the build
/// script when there is one.
fn package_table(p: &Package, has_build: bool) -> Table {
    let mut t = Table::new();
    t["name"] = value(p.name.as_str());
    t["version"] = value(p.version.to_string());
    t["edition"] = value(p.edition.as_str());
    t["publish"] = value(false);
    for auto in ["autobins", "autoexamples", "autotests", "autobenches"] {
        t[auto] = value(false);
    }
    if has_build {
        t["build"] = value("build.rs");
    }
    t
}

/// `[lib]` at `lib.rs`, of the member's library name and kind.
fn lib_table(lib: &Target) -> Table {
    let mut t = Table::new();
    t["name"] = value(lib.name.replace('-', "_"));
    t["path"] = value("lib.rs");
    if lib.is_proc_macro() {
        t["proc-macro"] = value(true);
    } else {
        let types: Vec<String> = lib.crate_types.iter().map(|t| t.to_string()).collect();
        if types != ["lib"] {
            t["crate-type"] = value(array(&types));
        }
    }
    t
}

/// The `[[bin]]`, `[[test]]`, `[[example]]` and `[[bench]]` entries of a stub, with their
/// files. Binaries always; a member with neither a library nor a binary (only `[[test]]`
/// targets, say) gets its tests, examples and benches: cargo rejects a package with no target.
fn other_targets(p: &Package, has_lib: bool) -> Vec<(&'static str, String, Table)> {
    let has_lib_or_bin = has_lib || p.targets.iter().any(|t| t.is_bin());
    let mut out = Vec::new();
    for target in &p.targets {
        let (section, dir) = match () {
            _ if target.is_bin() => ("bin", "bin"),
            _ if has_lib_or_bin => continue,
            _ if target.is_test() => ("test", "tests"),
            _ if target.is_example() => ("example", "examples"),
            _ if target.is_bench() => ("bench", "benches"),
            _ => continue,
        };
        let file = format!("{dir}/{}.rs", target.name);
        let mut t = Table::new();
        t["name"] = value(target.name.as_str());
        t["path"] = value(file.as_str());
        if !target.required_features.is_empty() {
            t["required-features"] = value(array(&target.required_features));
        }
        out.push((section, file, t));
    }
    out
}

/// The dependency tables, by path: `dependencies`, `build-dependencies`, `dev-dependencies`,
/// then the `target.<platform>.*` ones (kind first, then platform), entries sorted by name.
fn dependency_tables(
    ctx: &Mirroring,
    p: &Package,
    stub_dir: &str,
    local: &mut LocalPaths,
) -> anyhow::Result<Vec<(Vec<Key>, Table)>> {
    // (has a platform, kind, platform as written) -> (table name, entries).
    type Section = (bool, u8, Option<String>);
    let mut sections: BTreeMap<Section, (&str, BTreeMap<String, InlineTable>)> = BTreeMap::new();
    for dep in &p.dependencies {
        let (table, kind) = match dep.kind {
            DependencyKind::Normal => ("dependencies", 0),
            DependencyKind::Build => ("build-dependencies", 1),
            DependencyKind::Development => ("dev-dependencies", 2),
            _ => continue,
        };
        let platform = dep.target.as_ref().map(|t| quote(&t.to_string()));
        let name = dep.rename.clone().unwrap_or_else(|| dep.name.clone());
        let request = dependency(ctx, p, dep, stub_dir, local)?;
        let section = (platform.is_some(), kind, platform);
        let entries = &mut sections
            .entry(section)
            .or_insert((table, BTreeMap::new()))
            .1;
        entries.insert(name, request);
    }
    let mut out = Vec::new();
    for ((_, _, platform), (table, entries)) in sections {
        let path = match platform {
            // Quoted even when it could be bare (a target triple), as in mirrors already
            // generated: they stay up to date.
            Some(quoted) => {
                let platform: Key = quoted.parse().expect("a quoted key");
                vec![Key::new("target"), platform, Key::new(table)]
            }
            None => vec![Key::new(table)],
        };
        out.push((path, entries.into_iter().collect()));
    }
    Ok(out)
}

/// One dependency request as cargo resolved it, as an inline table.
fn dependency(
    ctx: &Mirroring,
    p: &Package,
    dep: &Dependency,
    stub_dir: &str,
    local: &mut LocalPaths,
) -> anyhow::Result<InlineTable> {
    let mut t = InlineTable::new();
    if dep.rename.is_some() {
        t.insert("package", dep.name.as_str().into());
    }
    source_fields(ctx, p, dep, stub_dir, local, &mut t)?;
    if !dep.uses_default_features {
        t.insert("default-features", false.into());
    }
    if !dep.features.is_empty() {
        t.insert("features", array(&dep.features).into());
    }
    if dep.optional {
        t.insert("optional", true.into());
    }
    Ok(t)
}

/// Where a dependency comes from: `path`, `git` (and its branch, tag or rev) or crates.io, then
/// its `version` requirement (always for crates.io, else only when the manifest gives one).
fn source_fields(
    ctx: &Mirroring,
    p: &Package,
    dep: &Dependency,
    stub_dir: &str,
    local: &mut LocalPaths,
    t: &mut InlineTable,
) -> anyhow::Result<()> {
    let crates_io = match (&dep.path, &dep.source) {
        (Some(path), _) => {
            let path = path.as_std_path();
            let written = match ctx.stub_of(path) {
                Some(member) => ctx.inside(stub_dir, member),
                None => ctx.outside(stub_dir, path, local),
            };
            t.insert("path", written.into());
            false
        }
        (None, Some(source)) if source.repr.starts_with("git+") => {
            let git = &source.repr["git+".len()..];
            let (url, query) = git.split_once('?').unwrap_or((git, ""));
            t.insert("git", url.into());
            for (k, v) in query.split('&').filter_map(|pair| pair.split_once('=')) {
                if ["branch", "tag", "rev"].contains(&k) {
                    t.insert(k, v.into());
                }
            }
            false
        }
        (None, Some(source)) if source.is_crates_io() => true,
        (None, source) => bail!(
            "{}: dependency `{}` comes from {}, which ci-optims cannot mirror yet (crates.io, git and path are supported)",
            p.name,
            dep.name,
            source.as_ref().map_or("an unknown source", |s| s.repr.as_str())
        ),
    };
    if crates_io || !dep.req.comparators.is_empty() {
        t.insert("version", dep.req.to_string().into());
    }
    Ok(())
}

fn is_library_kind(kind: &TargetKind) -> bool {
    matches!(
        kind,
        TargetKind::Lib
            | TargetKind::RLib
            | TargetKind::DyLib
            | TargetKind::CDyLib
            | TargetKind::StaticLib
            | TargetKind::ProcMacro
    )
}

/// The profiles with only the overrides that name a package of the mirror (or `*`): one naming
/// a package only the tool or an excluded crate uses would match nothing there, and cargo
/// would warn on every build of the mirror.
fn overrides_within(profiles: &toml::Value, packages: &BTreeSet<String>) -> toml::Value {
    let mut profiles = profiles.clone();
    let overrides = profiles
        .as_table_mut()
        .into_iter()
        .flat_map(|t| t.iter_mut().map(|(_, profile)| profile))
        .filter_map(|profile| profile.get_mut("package")?.as_table_mut());
    for overrides in overrides {
        overrides.retain(|spec, _| {
            // `name`, `name@version` or the older `name:version`.
            let name = spec.split(['@', ':']).next().unwrap_or(spec);
            spec == "*" || packages.contains(name)
        });
    }
    profiles
}

/// `[workspace]` of the mirror, then the real root's profiles, patches and replacements.
fn workspace_table(
    ctx: &Mirroring,
    meta: &Metadata,
    members: &[&Package],
    real_root: &toml::Table,
    packages: &BTreeSet<String>,
    local: &mut LocalPaths,
) -> anyhow::Result<String> {
    let stub = |p: &Package| ctx.stub_of(&package_dir(p)).expect("a member").to_string();
    let stub_dirs: Vec<String> = members
        .iter()
        .map(|p| stub(p))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut out = String::from("[workspace]\n");
    let _ = writeln!(out, "members = {}", list(&stub_dirs));
    // `cargo build` with no package flag builds the same packages here as in the real root: its
    // default members, else the root package, else every member.
    let defaults: Option<BTreeSet<String>> = if meta.workspace_default_members.is_available()
        && real_root
            .get("workspace")
            .and_then(|w| w.get("default-members"))
            .is_some()
    {
        Some(
            meta.workspace_default_members
                .iter()
                .filter_map(|id| members.iter().find(|p| &p.id == id))
                .map(|p| stub(p))
                .collect(),
        )
    } else if real_root.contains_key("package") {
        Some([ROOT_STUB.to_string()].into())
    } else {
        None
    };
    if let Some(defaults) = defaults {
        let _ = writeln!(
            out,
            "default-members = {}",
            list(&defaults.into_iter().collect::<Vec<_>>())
        );
    }
    let _ = writeln!(out, "resolver = {}", quote(&resolver(real_root)));
    let mut rest = toml::Table::new();
    if let Some(profile) = real_root.get("profile") {
        rest.insert("profile".into(), overrides_within(profile, packages));
    }
    for key in ["patch", "replace"] {
        if let Some(value) = real_root.get(key) {
            rest.insert(key.into(), rewrite_paths(ctx, value, local));
        }
    }
    // With linked local paths: what such a package may inherit from the workspace around it,
    // and which local paths are no members (the same relative paths, through the links).
    let mut inherited = toml::Table::new();
    let real = real_root.get("workspace");
    if !local.links.is_empty() {
        for key in ["exclude", "package", "lints"] {
            if let Some(value) = real.and_then(|w| w.get(key)) {
                inherited.insert(key.into(), value.clone());
            }
        }
    }
    if let Some(toml::Value::Array(exclude)) = inherited.get_mut("exclude") {
        exclude.retain(|e| e.as_str() != Some(DIR));
    }
    if !inherited.is_empty() {
        let text = toml::to_string(&toml::Table::from_iter([(
            "workspace".to_string(),
            toml::Value::Table(inherited),
        )]))?;
        out.push_str(text.trim_start_matches("[workspace]\n"));
    }
    if !rest.is_empty() {
        out.push('\n');
        out.push_str(&toml::to_string(&rest)?);
    }
    Ok(out)
}

/// The resolver the real workspace uses: `workspace.resolver`, else the root package's
/// edition's default (2021: 2, 2024: 3), else 1.
fn resolver(real_root: &toml::Table) -> String {
    if let Some(r) = real_root
        .get("workspace")
        .and_then(|w| w.get("resolver"))
        .and_then(|r| r.as_str())
    {
        return r.to_string();
    }
    // The root package's edition as cargo resolves it: its own, or `edition.workspace = true`
    // for `[workspace.package] edition`.
    let inherited = || {
        real_root
            .get("workspace")
            .and_then(|w| w.get("package"))
            .and_then(|p| p.get("edition"))
            .and_then(|e| e.as_str())
    };
    let edition = real_root
        .get("package")
        .and_then(|p| p.get("edition"))
        .and_then(|e| match e {
            toml::Value::String(s) => Some(s.as_str()),
            toml::Value::Table(t) if t.get("workspace").and_then(|w| w.as_bool()) == Some(true) => {
                inherited()
            }
            _ => None,
        });
    match edition {
        Some("2024") => "3",
        Some("2021") => "2",
        _ => "1",
    }
    .into()
}

/// `path = "..."` values of `[patch]` / `[replace]` (relative to the real root) as the
/// mirror's root must write them.
fn rewrite_paths(ctx: &Mirroring, value: &toml::Value, local: &mut LocalPaths) -> toml::Value {
    match value {
        toml::Value::Table(table) => toml::Value::Table(
            table
                .iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("path", toml::Value::String(p)) => {
                            let target = normalize(&ctx.root.join(p));
                            toml::Value::String(ctx.outside("", &target, local))
                        }
                        _ => rewrite_paths(ctx, v, local),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_overrides_of_the_mirrors_packages_go_into_it() {
        let profiles: toml::Value = toml::from_str(
            "[dev]\ndebug = 1\n[dev.package.sha2]\nopt-level = 3\n\
             [dev.package.\"*\"]\ndebug = false\n[dev.package.\"serde@1.0.1\"]\ndebug = 1\n\
             [dev.package.xtask-fastbuild-core]\ndebug = false\n\
             [test.package.hmac-sha256]\nopt-level = 3\n",
        )
        .unwrap();
        let mirrored: BTreeSet<String> = ["sha2", "serde", "app"].map(String::from).into();
        let kept = overrides_within(&profiles, &mirrored);
        assert_eq!(kept["dev"]["debug"].as_integer(), Some(1));
        let dev: Vec<&String> = kept["dev"]["package"].as_table().unwrap().keys().collect();
        assert_eq!(dev, ["*", "serde@1.0.1", "sha2"], "{kept}");
        assert!(kept["test"]["package"].as_table().unwrap().is_empty());
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(
                Path::new("/ws/ci_optims/crates/a"),
                Path::new("/ws/crates/b")
            ),
            Path::new("../../../crates/b")
        );
        assert_eq!(
            relative_path(
                Path::new("/ws/ci_optims"),
                Path::new("/ws/ci_optims/crates/a")
            ),
            Path::new("crates/a")
        );
        assert_eq!(
            relative_path(Path::new("/ws/ci_optims"), Path::new("/other/lib")),
            Path::new("../../other/lib")
        );
        assert_eq!(
            relative_path(Path::new("/ws/x"), Path::new("/ws/x")),
            Path::new(".")
        );
    }

    #[test]
    fn the_resolver_follows_the_root() {
        let t = |s: &str| s.parse::<toml::Table>().unwrap();
        assert_eq!(resolver(&t("[workspace]\nresolver = \"2\"")), "2");
        assert_eq!(
            resolver(&t("[package]\nedition = \"2024\"\n[workspace]")),
            "3"
        );
        assert_eq!(resolver(&t("[package]\nedition = \"2021\"")), "2");
        assert_eq!(resolver(&t("[workspace]\nmembers = []")), "1");
        // An inherited edition is the workspace's.
        assert_eq!(
            resolver(&t(
                "[package]\nedition.workspace = true\n[workspace.package]\nedition = \"2024\""
            )),
            "3"
        );
    }
}

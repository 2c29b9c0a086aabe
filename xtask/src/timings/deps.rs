//! The build's dependency graph, unit by unit. Cargo's report names one dependency per unit,
//! the one it waited for last: enough to walk the measured critical path, not to schedule the
//! build on other slots, where another dependency may end last. The others come from `cargo
//! metadata`'s resolve, put on the report's units (by package name and version) by cargo's
//! rules: a library needs its dependencies' metadata (whole, for a proc macro) and its build
//! script's run; a run needs its script compiled and the runs of the `links` packages below;
//! what links (a binary, a test, a build script, a proc macro) needs every library below it
//! whole. An edge the measurement contradicts (the dependency was not ready when the unit
//! started: another platform's dependency, another copy of a crate) is dropped.

use super::report::{Kind, Unblock, Unit};
use crate::cargo::Metadata;
use cargo_metadata::DependencyKind;
use std::collections::{BTreeMap, BTreeSet};

/// A package as cargo's report names it: name and version.
type Key = (String, String);

/// What `cargo metadata` says of the build's packages that cargo's report does not.
#[derive(Debug, Default)]
pub struct Packages {
    deps: BTreeMap<Key, Vec<Dep>>,
    /// Packages with a `links` key: their build script's run reaches their dependents' scripts.
    links: BTreeSet<Key>,
    /// Packages whose library is a proc macro.
    pub proc_macros: BTreeSet<String>,
    /// Packages whose library is a `dylib` or `cdylib`.
    pub linked: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Dep {
    package: Key,
    normal: bool,
    build: bool,
    dev: bool,
}

impl Packages {
    pub fn from_metadata(meta: &Metadata) -> Packages {
        let key = |p: &cargo_metadata::Package| (p.name.to_string(), p.version.to_string());
        let by_id: BTreeMap<_, _> = meta.packages.iter().map(|p| (&p.id, key(p))).collect();
        let mut packages = Packages::default();
        for p in &meta.packages {
            let kinds = p
                .targets
                .iter()
                .flat_map(|t| &t.kind)
                .map(|k| k.to_string());
            for kind in kinds {
                match kind.as_str() {
                    "proc-macro" => packages.proc_macros.insert(p.name.to_string()),
                    "dylib" | "cdylib" => packages.linked.insert(p.name.to_string()),
                    _ => false,
                };
            }
            if p.links.is_some() {
                packages.links.insert(key(p));
            }
        }
        for node in meta.resolve.iter().flat_map(|r| &r.nodes) {
            let deps = node
                .deps
                .iter()
                .filter_map(|d| {
                    let is = |k: DependencyKind| d.dep_kinds.iter().any(|i| i.kind == k);
                    Some(Dep {
                        package: by_id.get(&d.pkg)?.clone(),
                        normal: is(DependencyKind::Normal) || d.dep_kinds.is_empty(),
                        build: is(DependencyKind::Build),
                        dev: is(DependencyKind::Development),
                    })
                })
                .collect();
            if let Some(key) = by_id.get(&node.id) {
                packages.deps.insert(key.clone(), deps);
            }
        }
        packages
    }
}

/// The report's units of each package, by role.
#[derive(Default)]
struct Roles {
    libs: BTreeMap<Key, Vec<usize>>,
    scripts: BTreeMap<Key, Vec<usize>>,
    runs: BTreeMap<Key, Vec<usize>>,
}

impl Roles {
    fn of(units: &[Unit]) -> Roles {
        let mut roles = Roles::default();
        for (u, unit) in units.iter().enumerate() {
            let role = match unit.kind {
                Kind::BuildScript => &mut roles.scripts,
                Kind::BuildScriptRun => &mut roles.runs,
                _ if unit.target.is_empty() => &mut roles.libs,
                _ => continue,
            };
            role.entry(key(unit)).or_default().push(u);
        }
        roles
    }
}

fn key(unit: &Unit) -> Key {
    (unit.package.clone(), unit.version.clone())
}

/// Does the unit link (it needs every library below it whole)?
fn links(unit: &Unit, linked: &BTreeSet<String>) -> bool {
    match unit.kind {
        Kind::BuildScript | Kind::ProcMacro => true,
        Kind::BuildScriptRun => false,
        _ => !unit.target.is_empty() || linked.contains(&unit.package),
    }
}

/// Each unit's dependencies (indexes into `units`): the one cargo's report names, and, with
/// `packages`, every other the measurement allows.
pub fn edges(units: &[Unit], packages: Option<&Packages>) -> Vec<Vec<Unblock>> {
    let mut edges: Vec<BTreeMap<usize, bool>> = units
        .iter()
        .map(|u| {
            u.unblocked_by
                .map(|b| (b.unit, b.metadata))
                .into_iter()
                .collect()
        })
        .collect();
    if let Some(packages) = packages {
        let roles = Roles::of(units);
        for (u, unit) in units.iter().enumerate() {
            for (d, metadata) in direct(unit, packages, &roles, units) {
                add(&mut edges[u], units, u, d, metadata);
            }
        }
        let direct_edges = edges.clone();
        let libs: BTreeSet<usize> = roles.libs.values().flatten().copied().collect();
        for (u, unit) in units.iter().enumerate() {
            if links(unit, &packages.linked) {
                for d in below(&direct_edges, &libs, u) {
                    add(&mut edges[u], units, u, d, false);
                }
            }
        }
    }
    edges
        .into_iter()
        .map(|e| {
            e.into_iter()
                .map(|(unit, metadata)| Unblock { unit, metadata })
                .collect()
        })
        .collect()
}

/// Record `u` needs `d` (its metadata only, or whole), unless `d` was not ready when `u`
/// started in the measured build.
fn add(edges: &mut BTreeMap<usize, bool>, units: &[Unit], u: usize, d: usize, metadata: bool) {
    let dep = &units[d];
    let after = dep
        .metadata_seconds
        .filter(|_| metadata)
        .unwrap_or(dep.seconds);
    if d == u || dep.start + after > units[u].start + 0.011 {
        return;
    }
    let entry = edges.entry(d).or_insert(metadata);
    *entry &= metadata;
}

/// The units `unit` needs by cargo's rules, from its package's dependencies: (unit, metadata
/// only).
fn direct(unit: &Unit, packages: &Packages, roles: &Roles, units: &[Unit]) -> Vec<(usize, bool)> {
    let own = key(unit);
    let deps = packages.deps.get(&own).map_or(&[][..], Vec::as_slice);
    let of = |role: &BTreeMap<Key, Vec<usize>>, k: &Key| role.get(k).cloned().unwrap_or_default();
    let whole = |list: Vec<usize>| list.into_iter().map(|d| (d, false)).collect::<Vec<_>>();
    let test_like = ["test", "bench", "example"]
        .iter()
        .any(|t| unit.target.contains(t));
    match unit.kind {
        Kind::BuildScriptRun => {
            let mut out = whole(of(&roles.scripts, &own));
            for dep in deps
                .iter()
                .filter(|d| d.normal && packages.links.contains(&d.package))
            {
                out.extend(whole(of(&roles.runs, &dep.package)));
            }
            out
        }
        Kind::BuildScript => deps
            .iter()
            .filter(|d| d.build)
            .flat_map(|d| whole(of(&roles.libs, &d.package)))
            .collect(),
        _ if unit.target.is_empty() => {
            let pipelined = !links(unit, &packages.linked);
            let mut out = whole(of(&roles.runs, &own));
            for dep in deps.iter().filter(|d| d.normal) {
                for d in of(&roles.libs, &dep.package) {
                    out.push((d, pipelined && units[d].kind != Kind::ProcMacro));
                }
            }
            out
        }
        _ => {
            let mut out = whole(of(&roles.libs, &own));
            for dep in deps.iter().filter(|d| d.normal || (test_like && d.dev)) {
                out.extend(whole(of(&roles.libs, &dep.package)));
            }
            out
        }
    }
}

/// Every unit of `libs` below `u` through their edges (what a linking unit needs whole).
fn below(edges: &[BTreeMap<usize, bool>], libs: &BTreeSet<usize>, u: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<usize> = edges[u]
        .keys()
        .copied()
        .filter(|d| libs.contains(d))
        .collect();
    while let Some(d) = stack.pop() {
        if seen.insert(d) {
            stack.extend(edges[d].keys().copied().filter(|n| libs.contains(n)));
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(package: &str, target: &str, kind: Kind, start: f64, seconds: f64) -> Unit {
        Unit {
            name: format!("{package} 1.0.0{target}"),
            package: package.into(),
            version: "1.0.0".into(),
            target: target.into(),
            kind,
            start,
            seconds,
            on_critical_path: false,
            unblocked_by: None,
            metadata_seconds: Some(seconds / 2.0),
        }
    }

    fn dep(package: &str, build: bool) -> Dep {
        Dep {
            package: (package.into(), "1.0.0".into()),
            normal: !build,
            build,
            dev: false,
        }
    }

    /// `cc` (a build dependency of `sys`, which has `links`), `sys` (script, run, library),
    /// `mac` (a proc macro), `util`, and `app`'s library and binary on top.
    fn build() -> (Vec<Unit>, Packages) {
        let mut units = vec![
            unit("cc", "", Kind::ThirdParty, 0.0, 2.0),
            unit("sys", " build-script", Kind::BuildScript, 2.0, 1.0),
            unit("sys", " build-script (run)", Kind::BuildScriptRun, 3.0, 4.0),
            unit("sys", "", Kind::ThirdParty, 7.0, 2.0),
            unit("mac", "", Kind::ProcMacro, 0.0, 3.0),
            unit("util", "", Kind::ThirdParty, 2.0, 2.0),
            unit("app", "", Kind::Member, 8.0, 2.0),
            unit("app", " bin \"app\"", Kind::Member, 10.0, 1.0),
        ];
        // What cargo's report names: the last dependency of each.
        for (u, by, metadata) in [(1, 0, false), (2, 1, false), (3, 2, false), (6, 3, true)] {
            units[u].unblocked_by = Some(Unblock { unit: by, metadata });
        }
        units[7].unblocked_by = Some(Unblock {
            unit: 6,
            metadata: false,
        });
        let key = |p: &str| (p.to_string(), "1.0.0".to_string());
        let mut packages = Packages::default();
        packages.deps.insert(key("sys"), vec![dep("cc", true)]);
        // `util` needs `cc` too, the measurement says otherwise (util started at 2 s, cc ended
        // then: allowed) and `sys` (ended at 9 s, after util started: dropped).
        packages
            .deps
            .insert(key("util"), vec![dep("cc", false), dep("sys", false)]);
        packages.deps.insert(
            key("app"),
            vec![dep("sys", false), dep("mac", false), dep("util", false)],
        );
        packages.links.insert(key("sys"));
        (units, packages)
    }

    fn edges_of(units: &[Unit], packages: Option<&Packages>) -> Vec<Vec<(usize, bool)>> {
        edges(units, packages)
            .into_iter()
            .map(|e| e.into_iter().map(|b| (b.unit, b.metadata)).collect())
            .collect()
    }

    #[test]
    fn every_dependency_by_cargos_rules_the_measurement_allows() {
        let (units, packages) = build();
        let e = edges_of(&units, Some(&packages));
        assert_eq!(e[1], [(0, false)], "the script links its build dependency");
        assert_eq!(e[2], [(1, false)], "the run needs the script");
        assert_eq!(e[3], [(2, false)], "the library needs its script's run");
        assert_eq!(
            e[5],
            [(0, true)],
            "util needs cc's metadata; sys ended after util began"
        );
        assert_eq!(
            e[6],
            [(3, true), (4, false), (5, true)],
            "app's library: metadata of sys and util, the proc macro whole"
        );
        assert_eq!(
            e[7],
            [(0, false), (3, false), (4, false), (5, false), (6, false)],
            "the binary links every library below it"
        );
    }

    #[test]
    fn without_metadata_the_report_names_one_dependency() {
        let (units, _) = build();
        let e = edges_of(&units, None);
        assert_eq!(e[6], [(3, true)]);
        assert_eq!(e[7], [(6, false)]);
        assert!(e[5].is_empty());
    }
}

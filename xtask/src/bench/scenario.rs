//! The build scenarios a bench measures, and how one run of each is done.

use super::edit::Editor;
use crate::cargo::{Invocation, Selection, Subcommand};
use crate::config::{BenchConfig, ScenarioKind as Kind, Variant};
use crate::docker::plan::{DockerPlan, ImageRequest, Platform};
use crate::exec::Exec;
use crate::plan::{Capture, Done, Handler, Plan, Step};
use crate::rules::{self, BuildRequest, Facts};
use crate::toolchain;
use crate::workspace::Workspace;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// (warm-up runs, measured runs) of a kind unless configured.
pub fn default_runs(kind: Kind) -> (usize, usize) {
    match kind {
        // Two cold builds already take minutes; their verdict leans on the threshold.
        Kind::Cold => (0, 2),
        // Five runs against five separate completely by chance 2 times in 252 (3 against 3:
        // 1 in 10), so the no-overlap rule carries weight.
        Kind::Noop | Kind::IncrLeaf | Kind::IncrCore | Kind::TestBuild | Kind::DockerRebuild => {
            (1, 5)
        }
    }
}

fn edits(kind: Kind) -> Option<EditTarget> {
    match kind {
        Kind::IncrLeaf | Kind::DockerRebuild => Some(EditTarget::Leaf),
        Kind::IncrCore | Kind::TestBuild => Some(EditTarget::Core),
        Kind::Cold | Kind::Noop => None,
    }
}

enum EditTarget {
    Leaf,
    Core,
}

/// A scenario as saved in a baseline: enough to run it again the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    /// `<kind>/<variant>`, e.g. `incr-core/dev`.
    pub id: String,
    pub kind: Kind,
    pub variant: Variant,
    pub warmup: usize,
    pub runs: usize,
    /// Relative to the workspace root.
    pub edit_file: Option<String>,
    /// Why the scenario cannot run here (no file to edit): listed, refused when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// What is timed, for people.
    pub command: String,
}

/// The file a one-line edit goes to, found from the workspace unless configured.
fn edit_file(ws: &Workspace, config: &BenchConfig, target: &EditTarget) -> anyhow::Result<PathBuf> {
    // The members a build compiles: the default members and the members they depend on.
    let mut built: Vec<&crate::workspace::Member> =
        ws.members.iter().filter(|m| m.default).collect();
    let mut i = 0;
    while i < built.len() {
        for dep in &built[i].depends_on {
            if let Some(m) = ws.members.iter().find(|m| &m.name == dep) {
                if !built.iter().any(|b| b.name == m.name) {
                    built.push(m);
                }
            }
        }
        i += 1;
    }
    let apps = built;
    let used_by = |name: &str| {
        apps.iter()
            .filter(|m| m.depends_on.iter().any(|d| d == name))
            .count()
    };
    let found = match target {
        EditTarget::Leaf => {
            if let Some(file) = &config.leaf_file {
                return Ok(ws.root.join(file));
            }
            let service = ws.config.service.as_ref().map(|s| s.bin.as_str());
            let mut bins: Vec<(bool, &str, &PathBuf)> = apps
                .iter()
                .filter(|m| used_by(&m.name) == 0)
                .flat_map(|m| {
                    m.bin_srcs
                        .iter()
                        .map(|(bin, src)| (Some(bin.as_str()) != service, bin.as_str(), src))
                })
                .collect();
            bins.sort();
            bins.first().map(|(_, _, src)| (*src).clone())
        }
        EditTarget::Core => {
            if let Some(file) = &config.core_file {
                return Ok(ws.root.join(file));
            }
            let mut libs: Vec<(usize, &str, &PathBuf)> = apps
                .iter()
                .filter_map(|m| {
                    m.lib_src
                        .as_ref()
                        .map(|src| (used_by(&m.name), m.name.as_str(), src))
                })
                .filter(|(n, _, _)| *n > 0)
                .collect();
            libs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
            libs.first().map(|(_, _, src)| (*src).clone())
        }
    };
    found.with_context(|| match target {
        EditTarget::Leaf => "no leaf binary crate to edit; set [workspace.metadata.xtask.bench] leaf-file",
        EditTarget::Core => "no library that other members depend on; set [workspace.metadata.xtask.bench] core-file",
    })
}

/// The scenarios of the configuration, with `runs` overriding every measured-run count.
pub fn configured(
    ws: &Workspace,
    config: &BenchConfig,
    runs: Option<usize>,
) -> anyhow::Result<Vec<Scenario>> {
    let kinds = config
        .scenarios
        .clone()
        .unwrap_or_else(|| Kind::ALL.to_vec());
    let variants = config
        .variants
        .clone()
        .unwrap_or_else(|| vec![Variant::Dev, Variant::Production]);
    let mut out = Vec::new();
    for kind in kinds {
        // The Docker rebuild is one scenario: the development image, amd64.
        let kind_variants = if kind == Kind::DockerRebuild {
            vec![Variant::Dev]
        } else {
            variants.clone()
        };
        for variant in kind_variants {
            let (warmup, default_runs) = default_runs(kind);
            let (edit_file, problem) = match edits(kind).map(|t| edit_file(ws, config, &t)) {
                Some(Ok(path)) => (
                    Some(
                        path.strip_prefix(&ws.root)
                            .unwrap_or(&path)
                            .display()
                            .to_string(),
                    ),
                    None,
                ),
                Some(Err(e)) => (None, Some(format!("{e:#}"))),
                None => (None, None),
            };
            out.push(Scenario {
                id: format!("{}/{}", kind.name(), variant.profile()),
                kind,
                variant,
                warmup,
                runs: runs
                    .or_else(|| config.runs.get(&kind).copied())
                    .unwrap_or(default_runs),
                edit_file,
                problem,
                command: describe_command(kind, variant),
            });
        }
    }
    Ok(out)
}

fn describe_command(kind: Kind, variant: Variant) -> String {
    let build = format!("cargo xtask build --variant {}", variant.profile());
    match kind {
        Kind::Cold => format!("rm -rf <bench target dir>; {build}"),
        Kind::Noop => build,
        Kind::IncrLeaf | Kind::IncrCore => format!("<append a line to the edit file>; {build}"),
        Kind::TestBuild => format!(
            "<append a line to the edit file>; cargo test --no-run (profile {})",
            variant.profile()
        ),
        Kind::DockerRebuild => {
            "<append a line to the edit file>; cargo xtask docker build --variant development"
                .into()
        }
    }
}

/// Keep the scenarios whose id or kind matches a filter; unknown filters list the valid ids.
pub fn filter(scenarios: Vec<Scenario>, filters: &[String]) -> anyhow::Result<Vec<Scenario>> {
    if filters.is_empty() {
        return Ok(scenarios);
    }
    for f in filters {
        if !scenarios.iter().any(|s| &s.id == f || &s.kind.name() == f) {
            bail!(
                "unknown scenario `{f}`; valid: {}",
                scenarios
                    .iter()
                    .map(|s| s.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(scenarios
        .into_iter()
        .filter(|s| filters.iter().any(|f| &s.id == f || &s.kind.name() == f))
        .collect())
}

/// One measured (or warm-up) run: seconds, and how many units cargo compiled.
pub struct RunResult {
    pub seconds: f64,
    /// CPU seconds of cargo and what it ran; `None` when the work runs elsewhere (an engine).
    pub cpu: Option<f64>,
    pub compiled: usize,
}

/// The task that appends the run's line to the edited file.
const EDIT: &str = "edit";
/// The task that times the image build.
const IMAGE: &str = "image";

/// One run of a scenario, planned once: its steps, and the image build its task runs.
pub struct RunPlan {
    pub plan: Plan,
    image: Option<DockerPlan>,
}

/// Runs scenarios in a bench target dir of their own, so the user's target dir is untouched.
pub struct Runner<'a> {
    pub exec: &'a Exec<'a>,
    pub ws: &'a Workspace,
    pub editor: Editor,
    pub scratch: PathBuf,
    pub facts: Facts<'a>,
    /// The docker client (DOCKER).
    pub docker: String,
    /// Extra flags of `docker build` (DOCKER_BUILD_FLAGS).
    pub docker_flags: Vec<String>,
    /// Differs between bench invocations (the start time), so no edit repeats an earlier one.
    pub edit_seed: u64,
}

/// The line a run appends to the edited file. Unique per invocation and run: BuildKit's cache
/// is keyed by content and outlives a bench, so an edit seen before would rebuild nothing.
fn edit_line(seed: u64, index: usize) -> String {
    format!(
        "#[doc(hidden)] #[allow(dead_code)] pub fn {}() -> &'static str {{ \"{seed}-{}\" }}",
        super::edit::MARKER,
        index + 1
    )
}

impl Runner<'_> {
    fn target_dir(&self, variant: Variant) -> PathBuf {
        self.scratch.join("target").join(variant.profile())
    }

    /// The cargo command a scenario times: the variant's build, in the bench target dir.
    fn invocation(&self, scenario: &Scenario) -> anyhow::Result<Invocation> {
        let spec = rules::spec(self.ws, &BuildRequest::of(scenario.variant), &self.facts)?;
        let mut invocation = spec.cargo();
        invocation.target_dir = Some(self.target_dir(scenario.variant));
        if scenario.kind == Kind::TestBuild {
            // The test harnesses of the default members instead of the shipped binaries.
            invocation.subcommand = Subcommand::TestNoRun;
            invocation.selection = Selection::Default;
        }
        Ok(invocation)
    }

    /// The development image of the leaf edit, amd64, under a tag of the bench's own.
    fn image_request(&self) -> ImageRequest {
        ImageRequest {
            platforms: vec![Platform::LinuxAmd64],
            image: Some("xtask-bench".into()),
            tag: Some("rebuild".into()),
            commit: "bench".into(),
            // A fixed creation time keeps the runtime stage's label (and so its cache) stable.
            created: "1970-01-01T00:00:00Z".into(),
            docker_flags: self.docker_flags.clone(),
            ..ImageRequest::of(Variant::Dev, &self.docker)
        }
    }

    /// The steps of one run of `scenario`: (empty the target dir,) (edit,) the timed build.
    pub fn plan(&self, scenario: &Scenario) -> anyhow::Result<RunPlan> {
        let mut plan = Plan::new(format!("bench {}", scenario.id)).within(&self.ws.root);
        if scenario.kind == Kind::Cold {
            plan.step(Step::remove(
                self.target_dir(scenario.variant),
                "the bench's target dir: a cold build",
            ));
        }
        if let Some(file) = &scenario.edit_file {
            plan.step(Step::task(
                EDIT,
                format!(
                    "append a line no earlier run used to {file}; put back after the timed step"
                ),
            ));
        }
        let mut image = None;
        match scenario.kind {
            Kind::DockerRebuild => {
                let docker =
                    crate::docker::plan::plan(self.ws, &self.image_request(), &self.facts)?;
                let commands: Vec<String> = docker.steps().map(|s| s.command.line()).collect();
                plan.step(Step::task(
                    IMAGE,
                    format!("time the image build: {}", commands.join("; ")),
                ));
                image = Some(docker);
            }
            _ => plan.step(Step::cargo("the timed build", self.invocation(scenario)?)),
        }
        Ok(RunPlan { plan, image })
    }

    /// Check what the scenario needs; `Some(reason)` when it must be skipped.
    pub fn skip_reason(&self, scenario: &Scenario) -> Option<String> {
        if scenario.kind == Kind::DockerRebuild {
            if let Err(e) = crate::engine::check(self.exec, &self.docker) {
                return Some(format!("{e:#}"));
            }
        }
        None
    }

    /// Fail (naming the fix) when the machine lacks what the scenario's builds need: once per
    /// scenario, not on every run.
    pub fn check(&self, scenario: &Scenario) -> anyhow::Result<()> {
        if let Some(problem) = &scenario.problem {
            bail!("scenario {}: {problem}", scenario.id);
        }
        let spec = rules::spec(self.ws, &BuildRequest::of(scenario.variant), &self.facts)?;
        toolchain::check_all(self.exec, &spec.requirements)
    }

    /// Do one run of `scenario` as `planned` (`index` varies the edit, so every run compiles).
    pub fn run(
        &self,
        scenario: &Scenario,
        planned: &RunPlan,
        index: usize,
    ) -> anyhow::Result<RunResult> {
        let mut timed = Timed {
            runner: self,
            scenario,
            image: planned.image.as_ref(),
            index,
            edit: None,
            cpu_before: 0.0,
            result: None,
        };
        let ran = crate::plan::run(
            self.exec,
            &planned.plan,
            &|id| self.ws.is_member(id),
            &mut timed,
        );
        // The edit is put back whatever happened.
        let result = timed.result.take();
        drop(timed);
        ran.with_context(|| format!("scenario {} failed", scenario.id))?;
        let result = result.context("a scenario times one step")?;
        if let Some(file) = scenario.edit_file.as_ref().filter(|_| result.compiled == 0) {
            bail!(
                "scenario {}: the edit to {} compiled nothing, so the time is a cache hit, not a \
                 build; point `leaf-file` / `core-file` in [workspace.metadata.xtask.bench] at a file \
                 the build compiles",
                scenario.id,
                file
            );
        }
        Ok(result)
    }
}

/// One run's part: the edit (held until the run ends), the timed step's result.
struct Timed<'a> {
    runner: &'a Runner<'a>,
    scenario: &'a Scenario,
    image: Option<&'a DockerPlan>,
    index: usize,
    edit: Option<super::edit::EditGuard>,
    cpu_before: f64,
    result: Option<RunResult>,
}

impl Handler for Timed<'_> {
    type Watch = Capture;

    fn before(&mut self, _: &Step) {
        self.cpu_before = crate::exec::children_cpu_seconds();
    }

    fn done(&mut self, step: &Step, done: Done<Capture>) -> anyhow::Result<()> {
        match (step, done) {
            (Step::Task { task, .. }, _) if task == EDIT => {
                let file = self
                    .scenario
                    .edit_file
                    .as_ref()
                    .context("no file to edit")?;
                let edit = self.runner.editor.edit(&self.runner.ws.root.join(file))?;
                edit.append(&edit_line(self.runner.edit_seed, self.index))?;
                self.edit = Some(edit);
            }
            (Step::Cargo { .. }, Done::Cargo(outcome)) => {
                self.result = Some(RunResult {
                    seconds: outcome.seconds,
                    cpu: Some(crate::exec::children_cpu_seconds() - self.cpu_before),
                    compiled: outcome.compiled(),
                });
            }
            (Step::Task { task, .. }, _) if task == IMAGE => {
                let image = self.image.context("no image build planned")?;
                let r = self.runner;
                let report = crate::docker::execute(r.exec, r.ws, image, &r.docker)?;
                self.result = Some(RunResult {
                    seconds: report.run_seconds,
                    // The build runs in the engine; only the client's CPU time would be counted.
                    cpu: None,
                    compiled: report.phases.iter().map(|p| p.units_compiled).sum(),
                });
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
impl Scenario {
    /// A dev `incr-core` scenario named `id` (the kind does not matter where it is used),
    /// editing `edit`: for other modules' tests.
    pub fn example(id: &str, edit: Option<&str>) -> Scenario {
        Scenario {
            id: id.into(),
            kind: Kind::IncrCore,
            variant: Variant::Dev,
            warmup: 1,
            runs: 5,
            edit_file: edit.map(String::from),
            problem: None,
            command: "cargo build".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::Member;
    use std::path::Path;

    fn ws() -> Workspace {
        let mut ws = crate::workspace::tests_support::workspace_with_service();
        let member = |name: &str, lib: bool, bins: &[&str], deps: &[&str]| Member {
            name: name.into(),
            rust_version: None,
            dir: PathBuf::from(format!("/ws/{name}")),
            default: true,
            lib_src: lib.then(|| PathBuf::from(format!("/ws/{name}/src/lib.rs"))),
            bin_srcs: bins
                .iter()
                .map(|b| {
                    (
                        b.to_string(),
                        PathBuf::from(format!("/ws/{name}/src/{b}.rs")),
                    )
                })
                .collect(),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            features: Default::default(),
            dependency_names: deps.iter().map(|d| d.to_string()).collect(),
        };
        ws.members = vec![
            member("core", true, &[], &[]),
            member("util", true, &[], &["core"]),
            member("svc-pkg", false, &["svc"], &["core", "util"]),
            member("tool-pkg", false, &["tool"], &["core"]),
        ];
        ws
    }

    #[test]
    fn edit_files_are_found_from_the_workspace() {
        let ws = ws();
        let config = BenchConfig::default();
        assert_eq!(
            edit_file(&ws, &config, &EditTarget::Core).unwrap(),
            Path::new("/ws/core/src/lib.rs")
        );
        // The service binary is preferred among leaves.
        assert_eq!(
            edit_file(&ws, &config, &EditTarget::Leaf).unwrap(),
            Path::new("/ws/svc-pkg/src/svc.rs")
        );
        let config = BenchConfig {
            core_file: Some("x/lib.rs".into()),
            ..BenchConfig::default()
        };
        assert_eq!(
            edit_file(&ws, &config, &EditTarget::Core).unwrap(),
            Path::new("/ws/x/lib.rs")
        );
    }

    #[test]
    fn edit_targets_follow_the_members_a_build_compiles() {
        let mut ws = ws();
        // A root package: only it is a default member; the libraries come in as its dependencies.
        for m in &mut ws.members {
            m.default = m.name == "svc-pkg";
        }
        assert_eq!(
            edit_file(&ws, &BenchConfig::default(), &EditTarget::Core).unwrap(),
            Path::new("/ws/core/src/lib.rs")
        );
        // No library anyone depends on: listed with the reason, refused when measured.
        ws.members.retain(|m| m.lib_src.is_none());
        let all = configured(&ws, &BenchConfig::default(), None).unwrap();
        let core = all.iter().find(|s| s.id == "incr-core/dev").unwrap();
        assert!(core.edit_file.is_none());
        assert!(
            core.problem.as_deref().unwrap().contains("core-file"),
            "{core:?}"
        );
    }

    #[test]
    fn default_scenarios_cover_both_variants_and_one_docker_rebuild() {
        let scenarios = configured(&ws(), &BenchConfig::default(), None).unwrap();
        let ids: Vec<_> = scenarios.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "cold/dev",
                "cold/production",
                "noop/dev",
                "noop/production",
                "incr-leaf/dev",
                "incr-leaf/production",
                "incr-core/dev",
                "incr-core/production",
                "test-build/dev",
                "test-build/production",
                "docker-rebuild/dev"
            ]
        );
        let leaf = scenarios.iter().find(|s| s.id == "incr-leaf/dev").unwrap();
        assert_eq!(leaf.edit_file.as_deref(), Some("svc-pkg/src/svc.rs"));
        assert_eq!((leaf.warmup, leaf.runs), (1, 5));
        assert_eq!(scenarios[0].edit_file, None);
    }

    #[test]
    fn runs_come_from_flag_then_config_then_default() {
        let mut config = BenchConfig::default();
        config.runs.insert(Kind::Cold, 4);
        let s = configured(&ws(), &config, None).unwrap();
        assert_eq!(s[0].runs, 4);
        assert_eq!(s[2].runs, 5);
        let s = configured(&ws(), &config, Some(2)).unwrap();
        assert!(s.iter().all(|s| s.runs == 2));
    }

    #[test]
    fn filters_by_id_or_kind_and_names_the_valid_ones() {
        let all = configured(&ws(), &BenchConfig::default(), None).unwrap();
        let some = filter(all.clone(), &["noop".into(), "cold/dev".into()]).unwrap();
        let ids: Vec<_> = some.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["cold/dev", "noop/dev", "noop/production"]);
        let err = filter(all, &["warm".into()]).unwrap_err().to_string();
        assert!(
            err.contains("unknown scenario `warm`") && err.contains("incr-core/dev"),
            "{err}"
        );
    }

    #[test]
    fn no_edit_repeats_within_or_across_invocations() {
        let lines: std::collections::BTreeSet<String> = [1, 2]
            .iter()
            .flat_map(|seed| (0..3).map(move |run| edit_line(*seed, run)))
            .collect();
        assert_eq!(lines.len(), 6, "{lines:?}");
        assert!(lines.iter().all(|l| l.contains("fn __xtask_bench_edit()")));
    }
}

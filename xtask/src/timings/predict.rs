//! What N remote compile slots (sccache-dist) would make of a measured build: a list-scheduling
//! simulation over cargo's own unit graph and times.
//!
//! Each unit keeps its measured time and its dependencies (deps.rs: the one cargo's report says
//! it waited for last, and the others `cargo metadata` gives); ready units start in the order
//! cargo started them. Only an rlib compile of a non-incremental unit can leave the machine: build
//! scripts (compile and run), proc macros, binaries, tests, dynamic libraries and incremental
//! members stay on the local slots. A distributable unit takes a free local slot, else a free
//! remote one if it ends sooner there than waiting for a local slot: remotely it costs
//! `network_seconds` more, and its metadata comes back with the rest (sccache answers cargo
//! once the whole compile is back: no pipelining).

use super::report::{Kind, Timings, Unblock, Unit, Waited};
use crate::render::Table;
use anyhow::{bail, Context as _};
use serde::Serialize;
use std::collections::BTreeSet;

/// Why a unit cannot be sent to a remote slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Local {
    BuildScript,
    BuildScriptRun,
    ProcMacro,
    /// A binary, test, example or dynamic library: it links.
    Links,
    /// A workspace member compiled incrementally: sccache can neither cache nor send it.
    Incremental,
}

impl Local {
    pub fn label(self) -> &'static str {
        match self {
            Local::BuildScript => "build script (compile)",
            Local::BuildScriptRun => "build script (run)",
            Local::ProcMacro => "proc macro",
            Local::Links => "links (binary, test, dylib)",
            Local::Incremental => "incremental member",
        }
    }
}

/// What decides where a unit may run, beyond what cargo's report says.
pub struct Rules<'a> {
    /// The profile compiles workspace members incrementally (cargo's dev profile does).
    pub incremental_members: bool,
    /// Packages whose library links (`dylib`, `cdylib`).
    pub linked: &'a BTreeSet<String>,
}

impl Rules<'_> {
    /// Why `unit` must run locally; `None`: an rlib compile sccache-dist can send.
    pub fn local_only(&self, unit: &Unit) -> Option<Local> {
        match unit.kind {
            Kind::BuildScript => Some(Local::BuildScript),
            Kind::BuildScriptRun => Some(Local::BuildScriptRun),
            Kind::ProcMacro => Some(Local::ProcMacro),
            _ if !unit.target.is_empty() || self.linked.contains(&unit.package) => {
                Some(Local::Links)
            }
            Kind::Member if self.incremental_members => Some(Local::Incremental),
            _ => None,
        }
    }
}

/// Does cargo compile workspace members incrementally with `profile`? `CARGO_INCREMENTAL`
/// (`env`) decides if set; else the profile's `incremental` in `tables` (the root manifest,
/// then `.cargo/config.toml`, which wins), following `inherits`; else cargo's default (dev and
/// test: yes; release, bench: no).
pub fn incremental(profile: &str, env: Option<&str>, tables: &[toml::Table]) -> bool {
    if let Some(value) = env {
        return value == "1";
    }
    let mut name = profile.to_string();
    for _ in 0..8 {
        let set = |key: &str| {
            tables
                .iter()
                .rev()
                .find_map(|t| t.get("profile")?.get(&name)?.get(key).cloned())
        };
        if let Some(value) = set("incremental").and_then(|v| v.as_bool()) {
            return value;
        }
        name = match (set("inherits"), name.as_str()) {
            (Some(toml::Value::String(parent)), _) => parent,
            (_, "test") => "dev".into(),
            (_, "bench") => "release".into(),
            (_, other) => return other == "dev",
        };
    }
    false
}

/// One unit to schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub seconds: f64,
    /// Seconds after its start when its metadata is ready for dependents that need only that.
    pub metadata_seconds: f64,
    pub local_only: Option<Local>,
    /// The jobs whose ends (or metadata) make it ready; none: ready at once.
    pub after: Vec<After>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct After {
    pub job: usize,
    /// It needs only the job's metadata.
    pub metadata: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Slots {
    pub local: usize,
    pub remote: usize,
    /// Seconds a unit run remotely takes beyond its measured time.
    pub network_seconds: f64,
}

/// A job as simulated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    pub start: f64,
    pub end: f64,
    pub remote: bool,
    /// The job it waited for last, and how: the dependency that made it ready, or the job that
    /// freed the slot it took.
    pub waited: Option<(usize, Waited)>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    free_at: f64,
    last: Option<usize>,
}

/// The list-scheduling state: jobs in priority order (cargo's start order).
struct Sim<'a> {
    jobs: &'a [Job],
    slots: Slots,
    /// Each job's dependents, and whether they need only its metadata.
    dependents: Vec<Vec<(usize, bool)>>,
    /// Per job: its dependencies not started yet, and the latest time one of the started ones
    /// is ready, with that one.
    pending: Vec<usize>,
    latest: Vec<(f64, Option<usize>)>,
    /// When each job is ready, once every job it waits for has started.
    ready: Vec<Option<f64>>,
    runs: Vec<Option<Run>>,
    local: Vec<Slot>,
    remote: Vec<Slot>,
}

/// Schedule `jobs` (in priority order) on `slots`: at each moment, each ready job in order
/// takes a free slot it may use, if any; a remote one only when no local slot frees before the
/// network cost is paid (the job ends sooner there).
pub fn simulate(jobs: &[Job], slots: Slots) -> anyhow::Result<Vec<Run>> {
    if slots.local == 0 {
        bail!("no local job slot: local units could never run");
    }
    let mut sim = Sim {
        jobs,
        slots,
        dependents: vec![Vec::new(); jobs.len()],
        pending: jobs.iter().map(|j| j.after.len()).collect(),
        latest: vec![(0.0, None); jobs.len()],
        ready: jobs
            .iter()
            .map(|j| j.after.is_empty().then_some(0.0))
            .collect(),
        runs: vec![None; jobs.len()],
        local: vec![Slot::default(); slots.local],
        remote: vec![Slot::default(); slots.remote],
    };
    for (j, job) in jobs.iter().enumerate() {
        for after in &job.after {
            sim.dependents[after.job].push((j, after.metadata));
        }
    }
    let mut now = 0.0;
    loop {
        while sim.start_ready(now) {}
        match sim.next_event(now) {
            Some(t) => now = t,
            None => break,
        }
    }
    sim.runs
        .into_iter()
        .enumerate()
        .map(|(j, run)| run.with_context(|| format!("unit {j} never became ready (a cycle?)")))
        .collect()
}

impl Sim<'_> {
    /// Start what can start at `now`, in priority order; did any start?
    fn start_ready(&mut self, now: f64) -> bool {
        let mut started = false;
        for j in 0..self.jobs.len() {
            if self.runs[j].is_none() && self.ready[j].is_some_and(|t| t <= now) {
                started |= self.try_start(j, now);
            }
        }
        started
    }

    /// A free slot of `pool` at `now`: the one freed last (it is what the job waited for).
    fn free(pool: &[Slot], now: f64) -> Option<usize> {
        (0..pool.len())
            .filter(|&s| pool[s].free_at <= now)
            .max_by(|&a, &b| pool[a].free_at.total_cmp(&pool[b].free_at))
    }

    /// Start job `j` at `now` if a slot it may use is free; did it start?
    fn try_start(&mut self, j: usize, now: f64) -> bool {
        let Some((remote, slot)) = self.choose(j, now) else {
            return false;
        };
        let job = &self.jobs[j];
        let end = now
            + job.seconds
            + if remote {
                self.slots.network_seconds
            } else {
                0.0
            };
        let freed_by = slot.and_then(|s| {
            let pool = if remote {
                &mut self.remote
            } else {
                &mut self.local
            };
            // The job that freed the slot, if it is taken as it frees.
            let freed_by = pool[s].last.filter(|_| pool[s].free_at == now);
            pool[s] = Slot {
                free_at: end,
                last: Some(j),
            };
            freed_by
        });
        let waited = self.waited(j, now, freed_by);
        self.runs[j] = Some(Run {
            start: now,
            end,
            remote,
            waited,
        });
        self.release(j, now, end, remote);
        true
    }

    /// Where job `j` can start at `now`: remote or not, and the slot (none for a unit timed
    /// 0 s, fresh: cargo runs it at once); none: nowhere yet.
    fn choose(&self, j: usize, now: f64) -> Option<(bool, Option<usize>)> {
        let job = &self.jobs[j];
        if job.seconds == 0.0 {
            return Some((false, None));
        }
        if let Some(s) = Self::free(&self.local, now) {
            return Some((false, Some(s)));
        }
        let sooner_remote = !self.local_frees_within(now + self.slots.network_seconds);
        let s = Self::free(&self.remote, now).filter(|_| job.local_only.is_none())?;
        sooner_remote.then_some((true, Some(s)))
    }

    /// What job `j`, starting at `now`, waited for: ready earlier, a slot (the one `freed_by`
    /// freed now, or, having left a remote slot for a local one another job then took, the job
    /// that ended last); else its last dependency.
    fn waited(&self, j: usize, now: f64, freed_by: Option<usize>) -> Option<(usize, Waited)> {
        let dependency = self.latest[j].1.map(|d| (d, Waited::Dependency));
        if self.ready[j].is_some_and(|ready| ready < now) {
            freed_by
                .or_else(|| self.ended_last(now))
                .map(|p| (p, Waited::JobSlot))
                .or(dependency)
        } else {
            dependency
        }
    }

    /// Job `j` started at `now`, ends at `end`: when its dependents may start.
    fn release(&mut self, j: usize, now: f64, end: f64, remote: bool) {
        let job = &self.jobs[j];
        for &(d, metadata) in &self.dependents[j] {
            // Run remotely, its metadata comes back with the rest.
            let at = if metadata && !remote {
                now + job.metadata_seconds.min(job.seconds)
            } else {
                end
            };
            if at >= self.latest[d].0 {
                self.latest[d] = (at, Some(j));
            }
            self.pending[d] -= 1;
            if self.pending[d] == 0 {
                self.ready[d] = Some(self.latest[d].0);
            }
        }
    }

    /// The job that ended last by `t`.
    fn ended_last(&self, t: f64) -> Option<usize> {
        (0..self.runs.len())
            .filter_map(|k| Some((k, self.runs[k]?.end)))
            .filter(|&(_, end)| end <= t)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(k, _)| k)
    }

    /// Does a local slot free by `t`? Then a unit ends sooner waiting for it than sent remotely.
    fn local_frees_within(&self, t: f64) -> bool {
        self.local.iter().any(|s| s.free_at <= t)
    }

    /// The next moment something changes: a slot frees, or a job becomes ready.
    fn next_event(&self, now: f64) -> Option<f64> {
        let frees = self.local.iter().chain(&self.remote).map(|s| s.free_at);
        let readies = (0..self.jobs.len())
            .filter(|&j| self.runs[j].is_none())
            .filter_map(|j| self.ready[j]);
        frees
            .chain(readies)
            .filter(|&t| t > now)
            .min_by(f64::total_cmp)
    }
}

/// The simulated schedule's critical path, first to last: from the job that ended last, each
/// job it waited for.
pub fn critical_path(runs: &[Run]) -> Vec<usize> {
    let last = (0..runs.len()).max_by(|&a, &b| runs[a].end.total_cmp(&runs[b].end));
    let mut path: Vec<usize> = Vec::new();
    let mut cursor = last;
    while let Some(j) = cursor {
        if path.contains(&j) {
            break;
        }
        path.push(j);
        cursor = runs[j].waited.map(|(p, _)| p);
    }
    path.reverse();
    path
}

/// The measured build as jobs, in the order cargo started its units.
pub struct Graph {
    pub jobs: Vec<Job>,
    /// Each job's index in the report's units.
    pub units: Vec<usize>,
}

impl Graph {
    /// `edges`: each unit's dependencies (deps.rs).
    pub fn of(t: &Timings, rules: &Rules, edges: &[Vec<Unblock>]) -> Graph {
        let mut units: Vec<usize> = (0..t.units.len()).collect();
        units.sort_by(|&a, &b| t.units[a].start.total_cmp(&t.units[b].start));
        let mut job_of = vec![0; units.len()];
        for (j, &u) in units.iter().enumerate() {
            job_of[u] = j;
        }
        let jobs = units
            .iter()
            .map(|&u| {
                let unit = &t.units[u];
                Job {
                    seconds: unit.seconds,
                    // No sections (not pipelined): its dependents needed the whole compile.
                    metadata_seconds: unit.metadata_seconds.unwrap_or(unit.seconds),
                    local_only: rules.local_only(unit),
                    after: edges[u]
                        .iter()
                        .map(|b| After {
                            job: job_of[b.unit],
                            metadata: b.metadata,
                        })
                        .collect(),
                }
            })
            .collect();
        Graph { jobs, units }
    }
}

/// What a number of remote workers would make of the build.
#[derive(Debug, Serialize)]
pub struct Prediction {
    pub measured_wall_seconds: f64,
    /// Cargo's `-j` in the measured build.
    pub measured_jobs: Option<u32>,
    pub local_slots: usize,
    /// Seconds each remotely run unit adds: a parameter, not a measurement.
    pub network_seconds: f64,
    pub units: usize,
    /// Units sccache-dist could send (rlib compiles of non-incremental units).
    pub distributable_units: usize,
    /// Their share of the build's unit time.
    pub distributable_share: f64,
    /// The simulation with 0 workers first (the check against the measured build), then each N.
    pub rows: Vec<Row>,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub workers: usize,
    pub wall_seconds: f64,
    /// Measured wall time / this one.
    pub speedup: f64,
    pub remote_units: usize,
    /// The share of the build's unit time run remotely.
    pub remote_share: f64,
    /// The local-only units on this schedule's critical path, longest first: what bounds it.
    pub bound_by: Vec<PathUnit>,
    /// Their seconds, and the critical path's wall-clock length.
    pub bound_seconds: f64,
    pub critical_path_seconds: f64,
    /// The simulated schedule's critical path, first to last.
    pub critical_path: Vec<PathUnit>,
}

/// A unit on a simulated critical path.
#[derive(Debug, Clone, Serialize)]
pub struct PathUnit {
    pub unit: String,
    /// Why it runs locally; none: it could be sent.
    pub why: Option<Local>,
    pub remote: bool,
    /// Its measured time.
    pub seconds: f64,
    /// When it starts in the simulated schedule, and what it waited for.
    pub start: f64,
    pub waited_for: Waited,
}

/// Simulate the build of `t` with `local` slots and each number of `workers` (0 first).
pub fn predict(
    t: &Timings,
    rules: &Rules,
    edges: &[Vec<Unblock>],
    local: usize,
    workers: &[usize],
    network_seconds: f64,
) -> anyhow::Result<Prediction> {
    let graph = Graph::of(t, rules, edges);
    let total = sum(graph.jobs.iter().map(|j| j.seconds));
    let share = |seconds: f64| if total > 0.0 { seconds / total } else { 0.0 };
    let distributable: Vec<&Job> = graph
        .jobs
        .iter()
        .filter(|j| j.local_only.is_none())
        .collect();
    let mut counts: Vec<usize> = std::iter::once(0).chain(workers.iter().copied()).collect();
    counts.sort_unstable();
    counts.dedup();
    let rows = counts
        .into_iter()
        .map(|remote| {
            let slots = Slots {
                local,
                remote,
                network_seconds,
            };
            row(t, &graph, slots, total)
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Prediction {
        measured_wall_seconds: t.wall_seconds,
        measured_jobs: t.jobs,
        local_slots: local,
        network_seconds,
        units: graph.jobs.len(),
        distributable_units: distributable.len(),
        distributable_share: share(sum(distributable.iter().map(|j| j.seconds))),
        rows,
    })
}

fn row(t: &Timings, graph: &Graph, slots: Slots, total: f64) -> anyhow::Result<Row> {
    let runs = simulate(&graph.jobs, slots)?;
    let wall = runs.iter().map(|r| r.end).fold(0.0, f64::max);
    let remote: Vec<usize> = (0..runs.len()).filter(|&j| runs[j].remote).collect();
    let remote_seconds = sum(remote.iter().map(|&j| graph.jobs[j].seconds));
    let path = critical_path(&runs);
    let on_path: Vec<PathUnit> = path
        .iter()
        .map(|&j| PathUnit {
            unit: t.units[graph.units[j]].name.clone(),
            why: graph.jobs[j].local_only,
            remote: runs[j].remote,
            seconds: graph.jobs[j].seconds,
            start: runs[j].start,
            waited_for: runs[j].waited.map_or(Waited::Start, |(_, w)| w),
        })
        .collect();
    let mut bound_by: Vec<PathUnit> = on_path
        .iter()
        .filter(|p| p.why.is_some())
        .cloned()
        .collect();
    bound_by.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    Ok(Row {
        workers: slots.remote,
        wall_seconds: wall,
        speedup: if wall > 0.0 {
            t.wall_seconds / wall
        } else {
            1.0
        },
        remote_units: remote.len(),
        remote_share: if total > 0.0 {
            remote_seconds / total
        } else {
            0.0
        },
        bound_seconds: sum(bound_by.iter().map(|b| b.seconds)),
        critical_path_seconds: path.first().map_or(0.0, |&j| wall - runs[j].start),
        bound_by,
        critical_path: on_path,
    })
}

/// Seconds added up (`Iterator::sum` of no floats is -0.0, printed "-0").
fn sum(seconds: impl Iterator<Item = f64>) -> f64 {
    seconds.fold(0.0, |a, b| a + b)
}

impl Prediction {
    /// One row per number of workers, the measured build first; then the units that bound the
    /// schedule with the most workers.
    pub fn tables(&self) -> Vec<Table> {
        let mut table = Table::new([
            "remote workers",
            "wall",
            "speedup",
            "run remotely",
            "bound by (longest local-only units on the critical path)",
        ]);
        let jobs = self
            .measured_jobs
            .map(|j| format!(" (-j{j})"))
            .unwrap_or_default();
        table.row([
            format!("measured{jobs}"),
            format!("{:.1} s", self.measured_wall_seconds),
            "1.00×".into(),
            String::new(),
            String::new(),
        ]);
        for row in &self.rows {
            let bound: Vec<String> = row
                .bound_by
                .iter()
                .take(2)
                .map(|b| format!("{} {:.1} s", b.unit, b.seconds))
                .collect();
            table.row([
                row.workers.to_string(),
                format!("{:.1} s", row.wall_seconds),
                format!("{:.2}×", row.speedup),
                format!(
                    "{} units, {:.0}% of unit time",
                    row.remote_units,
                    row.remote_share * 100.0
                ),
                bound.join(", "),
            ]);
        }
        vec![table, self.bound_table()]
    }

    /// The local-only units on the critical path with the most workers.
    fn bound_table(&self) -> Table {
        let last = self.rows.last();
        let mut table = Table::new([
            format!(
                "critical path with {} workers: local-only units",
                last.map_or(0, |r| r.workers)
            ),
            "why local".into(),
            "seconds".into(),
            "starts at".into(),
        ]);
        for bound in last.iter().flat_map(|r| r.bound_by.iter().take(8)) {
            table.row([
                bound.unit.clone(),
                bound.why.map_or("", Local::label).to_string(),
                format!("{:.1}", bound.seconds),
                format!("{:.1}", bound.start),
            ]);
        }
        table
    }

    pub fn sentence(&self) -> String {
        let jobs = self
            .measured_jobs
            .map_or("an unknown -j".into(), |j| format!("-j{j}"));
        let bound = self.rows.last().map_or(String::new(), |r| {
            format!(
                "; with {} workers, local-only units take {:.1} s of the {:.1} s critical path",
                r.workers, r.bound_seconds, r.critical_path_seconds
            )
        });
        format!(
            "simulated with {} local job slot(s) (measured with {jobs}) and {:.1} s of network cost \
             per remote unit (a parameter: --network-cost); distributable: {} of {} units, {:.0}% \
             of the unit time{bound}",
            self.local_slots,
            self.network_seconds,
            self.distributable_units,
            self.units,
            self.distributable_share * 100.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(seconds: f64, after: Option<usize>) -> Job {
        Job {
            seconds,
            metadata_seconds: seconds,
            local_only: None,
            after: after
                .map(|job| After {
                    job,
                    metadata: false,
                })
                .into_iter()
                .collect(),
        }
    }

    fn slots(local: usize, remote: usize) -> Slots {
        Slots {
            local,
            remote,
            network_seconds: 0.5,
        }
    }

    fn wall(jobs: &[Job], slots: Slots) -> f64 {
        simulate(jobs, slots)
            .unwrap()
            .iter()
            .map(|r| r.end)
            .fold(0.0, f64::max)
    }

    #[test]
    fn a_chain_gains_nothing_from_workers() {
        let chain: Vec<Job> = (0..5usize).map(|i| job(2.0, i.checked_sub(1))).collect();
        assert_eq!(wall(&chain, slots(2, 0)), 10.0);
        assert_eq!(
            wall(&chain, slots(2, 64)),
            10.0,
            "a free local slot is always there: nothing goes remote"
        );
        let runs = simulate(&chain, slots(2, 64)).unwrap();
        assert!(runs.iter().all(|r| !r.remote));
        assert_eq!(critical_path(&runs), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_wide_fan_of_libraries_speeds_up_about_n_times() {
        // 64 independent 10 s libraries on 1 local slot: 640 s; with 15 workers, 16 slots.
        let fan: Vec<Job> = (0..64).map(|_| job(10.0, None)).collect();
        let alone = wall(&fan, slots(1, 0));
        assert_eq!(alone, 640.0);
        let spread = wall(&fan, slots(1, 15));
        assert_eq!(
            spread,
            4.0 * 10.5,
            "each remote slot runs 4, 0.5 s of network each"
        );
        let speedup = alone / spread;
        assert!((14.0..16.0).contains(&speedup), "{speedup}");
    }

    #[test]
    fn local_only_units_never_leave_the_machine() {
        let mut jobs: Vec<Job> = (0..8).map(|_| job(3.0, None)).collect();
        for (i, j) in jobs.iter_mut().enumerate().filter(|(i, _)| i % 2 == 0) {
            j.local_only = Some(if i == 0 {
                Local::ProcMacro
            } else {
                Local::Links
            });
        }
        let runs = simulate(&jobs, slots(1, 16)).unwrap();
        for (i, run) in runs.iter().enumerate() {
            assert_eq!(run.remote, i % 2 == 1, "job {i}: {run:?}");
        }
        // The four local units run one after the other on the one local slot.
        assert_eq!(runs.iter().map(|r| r.end).fold(0.0, f64::max), 12.0);
    }

    #[test]
    fn zero_workers_is_a_schedule_of_the_measured_jobs() {
        // -j2: `a` and `b` start at once; `c` (ready at once) waits for a slot, which `b`
        // frees at 1 s; `d` needs only `a`'s metadata (ready at 1.5 s) and waits for `c`'s slot.
        let mut jobs = vec![
            job(4.0, None),
            job(1.0, None),
            job(2.0, None),
            job(1.0, Some(0)),
        ];
        jobs[0].metadata_seconds = 1.5;
        jobs[3].after = vec![After {
            job: 0,
            metadata: true,
        }];
        let runs = simulate(&jobs, slots(2, 0)).unwrap();
        let starts: Vec<f64> = runs.iter().map(|r| r.start).collect();
        assert_eq!(starts, [0.0, 0.0, 1.0, 3.0]);
        assert_eq!(runs[2].waited, Some((1, Waited::JobSlot)));
        assert_eq!(runs[3].waited, Some((2, Waited::JobSlot)));
        assert_eq!(
            critical_path(&runs),
            [1, 2, 3],
            "d ends last, after c's and b's slot"
        );
        // One slot: in cargo's order, one after the other.
        let one: Vec<f64> = simulate(&jobs, slots(1, 0))
            .unwrap()
            .iter()
            .map(|r| r.start)
            .collect();
        assert_eq!(one, [0.0, 4.0, 5.0, 7.0]);
        // Run remotely, `a`'s metadata comes back with the rest: `d` waits for all of `a`.
        let mut remote = jobs.clone();
        remote.insert(0, job(10.0, None));
        remote[0].local_only = Some(Local::Links);
        for after in remote[1..].iter_mut().flat_map(|j| &mut j.after) {
            after.job += 1;
        }
        let runs = simulate(&remote, slots(1, 3)).unwrap();
        assert!(runs[1].remote);
        assert_eq!(runs[4].start, 4.5, "{runs:?}");
    }

    #[test]
    fn the_critical_path_follows_a_dependency_run_remotely() {
        // `x` holds the local slot, `d` goes remote (3.5 s), then the link `c` needs `d`: it
        // waited for `d`, not for `x`, whose slot it takes.
        let mut jobs = vec![job(1.0, None), job(3.0, None), job(1.0, Some(1))];
        jobs[0].local_only = Some(Local::Links);
        jobs[2].local_only = Some(Local::Links);
        let runs = simulate(&jobs, slots(1, 1)).unwrap();
        assert_eq!(runs[2].start, 3.5);
        assert_eq!(runs[2].waited, Some((1, Waited::Dependency)));
        assert_eq!(critical_path(&runs), [1, 2]);
    }

    #[test]
    fn a_short_unit_waits_for_a_local_slot_rather_than_pay_the_network() {
        // The local slot frees at 1 s; `b` (0.2 s) would end at 0.7 s remotely: it goes; `c`,
        // ready at 0.7 s, would end at 1.4 s remotely and at 1.2 s locally: it waits.
        let mut jobs = vec![job(1.0, None), job(0.2, None), job(0.2, None)];
        jobs[0].local_only = Some(Local::Links);
        jobs[2].after = vec![After {
            job: 1,
            metadata: false,
        }];
        let runs = simulate(&jobs, slots(1, 4)).unwrap();
        assert!(runs[1].remote && !runs[2].remote, "{runs:?}");
        assert_eq!((runs[1].end, runs[2].start), (0.7, 1.0));
        // `a` leaves the remote slot for the local one, which `l1` (first in cargo's order)
        // takes at 0.3 s: then `a` goes remote, having waited for `l0`'s end.
        let mut jobs = vec![job(0.3, None), job(2.0, None), job(0.4, None)];
        jobs[0].local_only = Some(Local::Links);
        jobs[1].local_only = Some(Local::Links);
        let runs = simulate(&jobs, slots(1, 1)).unwrap();
        assert!(runs[2].remote, "{runs:?}");
        assert_eq!(runs[2].start, 0.3);
        assert_eq!(runs[2].waited, Some((0, Waited::JobSlot)));
    }

    #[test]
    fn a_unit_waits_for_all_its_dependencies() {
        // `c` needs `a` and `b`: `a` ends last here, though `b` might in another schedule.
        let mut jobs = vec![job(1.0, None), job(3.0, None), job(1.0, Some(1))];
        jobs[2].after.push(After {
            job: 0,
            metadata: false,
        });
        jobs[0].local_only = Some(Local::BuildScriptRun);
        let runs = simulate(&jobs, slots(1, 1)).unwrap();
        assert_eq!(runs[2].start, 3.5, "after `b`, run remotely: {runs:?}");
        assert_eq!(runs[2].waited, Some((1, Waited::Dependency)));
        let local = simulate(&jobs, slots(1, 0)).unwrap();
        assert_eq!(local[2].start, 4.0);
        // Started together, the first to start ends last.
        let jobs = vec![job(3.0, None), job(1.0, None), job(1.0, Some(0))];
        let mut both = jobs.clone();
        both[2].after.push(After {
            job: 1,
            metadata: false,
        });
        let runs = simulate(&both, slots(2, 0)).unwrap();
        assert_eq!(runs[2].start, 3.0);
        assert_eq!(runs[2].waited, Some((0, Waited::Dependency)));
    }

    #[test]
    fn a_unit_timed_zero_takes_no_slot() {
        let jobs = vec![job(5.0, None), job(0.0, None), job(1.0, Some(1))];
        let runs = simulate(&jobs, slots(1, 0)).unwrap();
        assert_eq!(runs[1].start, 0.0);
        assert_eq!(runs[2].start, 5.0);
    }

    #[test]
    fn no_local_slot_is_refused() {
        assert!(simulate(&[job(1.0, None)], slots(0, 4)).is_err());
    }

    /// Cargo's report (1.95) of a dev build with `-j2`: `syn` then the proc macro `derive`,
    /// the member `core-lib` using it, the binary `app` on top; `log` beside them.
    const REPORT: &str = r#"<html><tr><td>Profile:</td><td>dev</td></tr>
<td>Max concurrency:</td><td>2 (jobs=2 ncpu=2)</td><script>
const UNIT_DATA = [
  {"i": 0, "name": "syn", "version": "2.0.0", "mode": "todo", "target": "", "start": 0.0,
   "duration": 4.0, "unblocked_units": [2], "unblocked_rmeta_units": [],
   "sections": [["frontend", {"start": 0.0, "end": 2.0}], ["codegen", {"start": 2.0, "end": 4.0}]]},
  {"i": 1, "name": "log", "version": "0.4.0", "mode": "todo", "target": "", "start": 0.0,
   "duration": 3.0, "unblocked_units": [], "unblocked_rmeta_units": [], "sections": null},
  {"i": 2, "name": "derive", "version": "1.0.0", "mode": "todo", "target": "", "start": 4.0,
   "duration": 2.0, "unblocked_units": [3], "unblocked_rmeta_units": [], "sections": null},
  {"i": 3, "name": "core-lib", "version": "0.1.0", "mode": "todo", "target": "", "start": 6.0,
   "duration": 3.0, "unblocked_units": [4], "unblocked_rmeta_units": [],
   "sections": [["frontend", {"start": 0.0, "end": 1.0}], ["codegen", {"start": 1.0, "end": 3.0}]]},
  {"i": 4, "name": "app", "version": "0.1.0", "mode": "todo", "target": " bin \"app\"", "start": 9.0,
   "duration": 2.0, "unblocked_units": [], "unblocked_rmeta_units": [], "sections": null}
];
</script></html>"#;

    #[test]
    fn a_measured_report_is_reproduced_and_its_local_units_bound_it() {
        let mut t = super::super::report::parse(REPORT, &|name| name.ends_with("-lib")).unwrap();
        t.mark_proc_macros(&["derive".to_string()].into());
        let linked = BTreeSet::new();
        let rules = Rules {
            incremental_members: true,
            linked: &linked,
        };
        let why: Vec<Option<Local>> = t.units.iter().map(|u| rules.local_only(u)).collect();
        assert_eq!(
            why,
            [
                None,
                None,
                Some(Local::ProcMacro),
                Some(Local::Incremental),
                Some(Local::Links)
            ]
        );
        let edges = super::super::deps::edges(&t.units, None);
        let p = predict(&t, &rules, &edges, 2, &[4], 0.5).unwrap();
        let walls: Vec<(usize, f64)> = p.rows.iter().map(|r| (r.workers, r.wall_seconds)).collect();
        assert_eq!(
            walls,
            [(0, 11.0), (4, 11.0)],
            "the measured 11 s, and a chain"
        );
        assert_eq!(t.wall_seconds, 11.0);
        let bound: Vec<(&str, Option<Local>)> = p.rows[1]
            .bound_by
            .iter()
            .map(|b| (b.unit.as_str(), b.why))
            .collect();
        assert_eq!(
            bound,
            [
                ("core-lib 0.1.0", Some(Local::Incremental)),
                ("derive 1.0.0", Some(Local::ProcMacro)),
                ("app 0.1.0 bin \"app\"", Some(Local::Links))
            ]
        );
        let path: Vec<&str> = p.rows[1]
            .critical_path
            .iter()
            .map(|u| u.unit.as_str())
            .collect();
        assert_eq!(path[..2], ["syn 2.0.0", "derive 1.0.0"]);
        assert_eq!(p.rows[1].bound_seconds, 7.0);
        assert_eq!(p.rows[1].critical_path_seconds, 11.0);
        assert_eq!((p.distributable_units, p.distributable_share), (2, 0.5));
        // One slot: `log` (started first by cargo) goes before `derive`, which then waits.
        let one = predict(&t, &rules, &edges, 1, &[], 0.5).unwrap();
        assert_eq!(one.rows[0].wall_seconds, 14.0);
        let tables = p.tables();
        assert_eq!(tables[0].rows.len(), 3, "measured, 0 and 4 workers");
        assert!(tables[0].rows[2][4].starts_with("core-lib 0.1.0 3.0 s, derive"));
        assert!(
            p.sentence().contains("distributable: 2 of 5 units, 50%"),
            "{}",
            p.sentence()
        );
    }

    #[test]
    fn incremental_follows_cargo_env_then_profiles() {
        let manifest: toml::Table = r#"
            [profile.production]
            inherits = "release"
            [profile.fast-dev]
            inherits = "dev"
            [profile.slow]
            inherits = "dev"
            incremental = false
        "#
        .parse()
        .unwrap();
        let tables = [manifest];
        assert!(incremental("dev", None, &tables));
        assert!(incremental("test", None, &tables));
        assert!(incremental("fast-dev", None, &tables));
        assert!(!incremental("slow", None, &tables));
        assert!(!incremental("production", None, &tables));
        assert!(!incremental("dev", Some("0"), &tables));
        assert!(incremental("release", Some("1"), &tables));
        let config: toml::Table = "[profile.dev]\nincremental = false\n".parse().unwrap();
        assert!(!incremental("fast-dev", None, &[tables[0].clone(), config]));
    }
}

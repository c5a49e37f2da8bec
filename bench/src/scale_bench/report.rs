//! The results of a run and their markdown report, with the issue's goals met or missed.

use std::fmt::Write;
use std::time::Duration;

use crate::quality::{Quality, USED_FILTER};
use crate::services::ServicesResult;
use crate::stack::Memory;
use crate::storm::StormResult;

/// The issue's goals: tasks RUNNING per second end to end, the server's peak resident memory,
/// and RunTask's p99 latency during the storm.
const THROUGHPUT_GOAL: f64 = 10_000.0;
const RSS_GOAL_MIB: f64 = 1024.0;
const P99_GOAL_MS: f64 = 50.0;
/// The scale the goals are stated for.
const GOAL_INSTANCES: usize = 10_000;
const GOAL_TASKS: u64 = 50_000;

/// The end of a phase: its length, the processes' memory and the server's CPU time in it.
pub struct Phase {
    pub name: &'static str,
    pub elapsed: Duration,
    pub server: Memory,
    pub server_cpu_seconds: f64,
    pub sim: Memory,
    pub sim_cpu_seconds: f64,
}

pub struct Results {
    pub command: String,
    pub machine: String,
    pub settings: String,
    pub instances: usize,
    pub registration: Duration,
    /// One unfiltered, paginated ListContainerInstances of every instance.
    pub full_listing: Duration,
    pub services: ServicesResult,
    /// The storm run concurrently with the services phase (`--storm-during-services`).
    pub services_storm: Option<StormResult>,
    pub quality: Quality,
    pub storm: StormResult,
    pub phases: Vec<Phase>,
}

/// The `p`th percentile (0..=100), linear interpolation between closest ranks; NaN for none.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// A goal row: `achieved` against `goal`; `higher_is_better` says which way meets it.
fn goal_row(
    out: &mut String,
    name: &str,
    goal: &str,
    achieved: f64,
    unit: &str,
    target: f64,
    higher: bool,
) {
    let met = if higher { achieved >= target } else { achieved <= target };
    let _ = writeln!(
        out,
        "| {name} | {goal} | {achieved:.1} {unit} | {:.2} | {} |",
        achieved / target,
        if met { "met" } else { "**missed**" }
    );
}

fn storm_rows(out: &mut String, label: &str, s: &StormResult) {
    let secs = s.elapsed.as_secs_f64();
    let reasons: Vec<String> = s.failures.iter().map(|(r, n)| format!("{r} × {n}")).collect();
    let _ = writeln!(
        out,
        "| {label} | {} | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {} |",
        s.calls(),
        s.calls() as f64 / secs,
        s.tasks_started as f64 / secs,
        percentile(&s.latencies_ms, 50.0),
        percentile(&s.latencies_ms, 99.0),
        percentile(&s.latencies_ms, 100.0),
        if reasons.is_empty() { "0".to_string() } else { reasons.join(", ") },
        s.http_errors,
    );
}

pub fn markdown(r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## scale-bench\n\n```sh\n{}\n```\n", r.command);
    let _ = writeln!(out, "{}\n\n{}\n", r.machine, r.settings);
    if r.instances < GOAL_INSTANCES || r.services.tasks < GOAL_TASKS {
        let _ = writeln!(
            out,
            "**Reduced scale** ({} instances, {} service tasks; the goals are stated for \
             {GOAL_INSTANCES} instances and {GOAL_TASKS} tasks): the goal rows are indicative \
             only.\n",
            r.instances, r.services.tasks
        );
    }

    let _ = writeln!(out, "### Goals\n");
    let _ =
        writeln!(out, "| goal | target | achieved | achieved / target | |\n|---|---|---|---|---|");
    goal_row(
        &mut out,
        "tasks RUNNING end to end (services phase)",
        "≥ 10,000 tasks/s",
        r.services.tasks_per_second(),
        "tasks/s",
        THROUGHPUT_GOAL,
        true,
    );
    let peak = r.phases.iter().map(|p| p.server.hwm).fold(0.0, f64::max);
    goal_row(&mut out, "server peak RSS (VmHWM)", "≤ 1 GiB", peak, "MiB", RSS_GOAL_MIB, false);
    let p99 = percentile(&r.storm.latencies_ms, 99.0);
    goal_row(&mut out, "RunTask p99 during the storm", "≤ 50 ms", p99, "ms", P99_GOAL_MS, false);
    if let Some(s) = &r.services_storm {
        let p99 = percentile(&s.latencies_ms, 99.0);
        goal_row(
            &mut out,
            "RunTask p99 during the services rollout",
            "≤ 50 ms",
            p99,
            "ms",
            P99_GOAL_MS,
            false,
        );
    }

    let _ = writeln!(out, "\n### Registration and services\n");
    let s = &r.services;
    let _ = writeln!(out, "| measure | value |\n|---|---|");
    let _ = writeln!(
        out,
        "| {} hollow instances registered (spawn → ListContainerInstances counts all) | {} \
         ({:.0} instances/s) |",
        r.instances,
        secs(r.registration),
        r.instances as f64 / r.registration.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| one paginated ListContainerInstances of all instances | {} |",
        secs(r.full_listing)
    );
    let _ = writeln!(out, "| CreateService calls (sequential) | {} |", secs(s.create_calls));
    let placed = s.all_placed.map_or("-".into(), |d| {
        format!("{} ({:.0} tasks/s)", secs(d), s.tasks as f64 / d.as_secs_f64())
    });
    let _ = writeln!(
        out,
        "| first CreateService → all {} tasks placed (pending + running) | {placed} |",
        s.tasks
    );
    let _ = writeln!(
        out,
        "| first CreateService → all {} tasks RUNNING | {} ({:.0} tasks/s) |",
        s.tasks,
        secs(s.all_running),
        s.tasks_per_second()
    );
    let _ = writeln!(
        out,
        "| DescribeServices polls while waiting (slowest round) | {} ({:.1} ms) |",
        s.polls,
        s.slowest_poll.as_secs_f64() * 1000.0
    );

    let _ = writeln!(
        out,
        "\nTimes after CreateService are when a DescribeServices poll first saw the state (one \
         round every {} ms), so they are late by up to that much.",
        s.poll.as_millis()
    );

    let q = &r.quality;
    let _ = writeln!(out, "\n### Placement quality (after the services phase)\n");
    let _ = writeln!(
        out,
        "Instances with `{USED_FILTER}`: **{}**; lower bound for {} tasks: {} → used / lower \
         bound = **{:.3}** (per zone, for the tasks as spread: {} → {:.3}). Listing them \
         (filtered, paginated) took {}, describing them {}.\n",
        q.used,
        q.tasks,
        q.lower_bound,
        q.ratio(),
        q.zone_lower_bound,
        q.used as f64 / q.zone_lower_bound.max(1) as f64,
        secs(q.list_time),
        secs(q.describe_time)
    );
    if r.services_storm.is_some() {
        let _ = writeln!(
            out,
            "(The storm ran during the services phase: its tasks are on these instances too.)\n"
        );
    }
    let _ = writeln!(out, "| zone | instances with tasks | tasks |\n|---|---|---|");
    for (zone, (instances, tasks)) in &q.zones {
        let _ = writeln!(out, "| {zone} | {instances} | {tasks} |");
    }
    let _ = writeln!(out, "\nZone skew (most tasks / fewest): {:.3}\n", q.zone_skew());

    let _ = writeln!(out, "### RunTask storm\n");
    let _ = writeln!(
        out,
        "| storm | calls | calls/s | tasks started/s | p50 ms | p99 ms | max ms | failures | \
         HTTP errors |\n|---|---|---|---|---|---|---|---|---|"
    );
    if let Some(during) = &r.services_storm {
        storm_rows(&mut out, "during the services rollout", during);
    }
    storm_rows(&mut out, "alone", &r.storm);
    for storm in r.services_storm.iter().chain([&r.storm]) {
        if let Some(error) = &storm.first_error {
            let _ = writeln!(
                out,
                "\nFirst HTTP error: `{}`",
                error.chars().take(300).collect::<String>()
            );
        }
    }

    let _ = writeln!(out, "\n### Memory and CPU at the end of each phase\n");
    let _ = writeln!(
        out,
        "| phase | length | server VmRSS MiB | server VmHWM MiB | server CPU s (cores) | sim \
         agents VmRSS MiB | sim agents CPU s (cores) |\n|---|---|---|---|---|---|---|"
    );
    for p in &r.phases {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} | {:.2} ({:.2}) | {:.1} | {:.2} ({:.2}) |",
            p.name,
            secs(p.elapsed),
            p.server.rss,
            p.server.hwm,
            p.server_cpu_seconds,
            p.server_cpu_seconds / p.elapsed.as_secs_f64().max(1e-9),
            p.sim.rss,
            p.sim_cpu_seconds,
            p.sim_cpu_seconds / p.elapsed.as_secs_f64().max(1e-9)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        let v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert_eq!(percentile(&v, 100.0), 4.0);
        assert!(percentile(&[], 99.0).is_nan());
    }
}

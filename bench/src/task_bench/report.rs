//! Samples, statistics and the markdown report.

use std::fmt::Write;
use std::time::Duration;

/// Goal: Flotilla's median single-task start over `docker run -d`'s.
const START_RATIO_GOAL: f64 = 1.10;
/// Goal: the agent's resident memory with a burst running, MiB.
const AGENT_RSS_GOAL_MIB: f64 = 20.0;

/// One Flotilla task start. Epoch times are seconds.
pub struct FlotillaSample {
    /// RunTask sent → first DescribeTasks answer with RUNNING.
    pub total: Duration,
    /// RunTask sent → RunTask answered.
    pub accepted: Duration,
    /// When RunTask was sent.
    pub sent: f64,
    /// Docker's `Created` and `State.StartedAt` of the task's container.
    pub docker_created: f64,
    pub docker_started: f64,
    /// The task's `startedAt`: when the agent set RUNNING (millisecond precision).
    pub agent_running: Option<f64>,
}

/// One `docker run -d`.
pub struct DockerSample {
    /// CLI spawned → CLI returned.
    pub total: Duration,
    pub sent: f64,
    pub docker_created: f64,
    pub docker_started: f64,
}

/// One burst.
pub struct BurstSample {
    /// Until the first task was seen RUNNING / the first `docker run` returned.
    pub first: Duration,
    /// Until all were seen RUNNING / all `docker run` returned.
    pub all: Duration,
    /// Until every RunTask call was answered (Flotilla only).
    pub accepted: Option<Duration>,
    /// Until Docker started the last container (its `State.StartedAt`).
    pub last_started: Duration,
}

/// Resident memory (VmRSS), MiB.
#[derive(Default)]
pub struct Memory {
    pub agent_idle: f64,
    /// The highest VmRSS read the moment a burst was all RUNNING.
    pub agent_burst: f64,
    /// The highest VmRSS read 3 s later, all tasks still running.
    pub agent_burst_steady: f64,
    /// After everything was stopped again.
    pub agent_after: f64,
    /// VmHWM at the end: the highest VmRSS the agent ever had.
    pub agent_peak: f64,
    pub server_idle: f64,
    pub server_after: f64,
}

/// CPU time the agent and the server used for `tasks` task starts and stops (including
/// answering the benchmark's DescribeTasks polls), seconds.
#[derive(Default)]
pub struct CpuUse {
    pub tasks: usize,
    pub agent: f64,
    pub server: f64,
}

pub struct Environment {
    pub cores: usize,
    pub docker: String,
    pub load_before: String,
}

pub struct Settings {
    pub rounds: usize,
    pub warmup: usize,
    pub burst_rounds: usize,
    pub burst: usize,
    pub poll_ms: u64,
    pub burst_poll_ms: u64,
}

pub struct Results {
    pub environment: Environment,
    pub flotilla: Vec<FlotillaSample>,
    pub docker: Vec<DockerSample>,
    pub flotilla_bursts: Vec<BurstSample>,
    pub docker_bursts: Vec<BurstSample>,
    pub memory: Memory,
    pub single_cpu: CpuUse,
    pub burst_cpu: CpuUse,
    pub load_after: String,
}

impl Results {
    pub fn new(environment: Environment) -> Results {
        Results {
            environment,
            flotilla: Vec::new(),
            docker: Vec::new(),
            flotilla_bursts: Vec::new(),
            docker_bursts: Vec::new(),
            memory: Memory::default(),
            single_cpu: CpuUse::default(),
            burst_cpu: CpuUse::default(),
            load_after: String::new(),
        }
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `p`th percentile (0..=100) with linear interpolation between closest ranks (the median
/// of an even count is the mean of the middle two). NaN for no samples.
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

fn median(samples: &[f64]) -> f64 {
    percentile(samples, 50.0)
}

fn fmt(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1}")
    } else {
        "-".into()
    }
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "-".into()
    }
}

/// "met" / "**missed**" for `value <= goal`; "-" when there is no measurement.
fn verdict(value: f64, goal: f64) -> &'static str {
    if !value.is_finite() {
        "-"
    } else if value <= goal {
        "met"
    } else {
        "**missed**"
    }
}

/// The whole report as markdown.
pub fn markdown(settings: &Settings, results: &Results) -> String {
    let mut out = String::new();
    let env = &results.environment;
    let _ = writeln!(
        out,
        "{} cores, Docker {}, load average before {} / after {}; {} measured single-task rounds \
         (+{} warm-up), {} burst rounds of {} tasks; DescribeTasks polled every {} ms (single) / \
         {} ms (burst).\n",
        env.cores,
        env.docker,
        env.load_before,
        results.load_after,
        settings.rounds,
        settings.warmup,
        settings.burst_rounds,
        settings.burst,
        settings.poll_ms,
        settings.burst_poll_ms
    );

    // (1) Single task.
    let flotilla: Vec<f64> = results.flotilla.iter().map(|s| ms(s.total)).collect();
    let raw: Vec<f64> = results.docker.iter().map(|s| ms(s.total)).collect();
    let _ = writeln!(
        out,
        "**Single-task start** (ms). Flotilla: RunTask sent → first DescribeTasks answer with \
         lastStatus RUNNING. docker: `docker run -d --memory 32m --cpu-shares 16 IMAGE sleep` \
         spawned → returned.\n"
    );
    out.push_str(
        "| statistic | Flotilla | docker run -d | Flotilla / docker |\n|---|---:|---:|---:|\n",
    );
    for (name, p) in [("median", 50.0), ("p90", 90.0), ("min", 0.0), ("max", 100.0)] {
        let (f, d) = (percentile(&flotilla, p), percentile(&raw, p));
        let _ = writeln!(out, "| {name} | {} | {} | {} |", fmt(f), fmt(d), ratio(f, d));
    }

    let paired: Vec<f64> = results
        .flotilla
        .iter()
        .zip(&results.docker)
        .map(|(f, d)| ms(f.total) - ms(d.total))
        .collect();
    let _ = writeln!(
        out,
        "\nPer round (the two run back to back), Flotilla − docker: median {} ms, p10 {} ms, \
         p90 {} ms.",
        fmt(median(&paired)),
        fmt(percentile(&paired, 10.0)),
        fmt(percentile(&paired, 90.0))
    );

    // Where the time goes: medians of each phase.
    let phase = |values: Vec<f64>| fmt(median(&values));
    let f = &results.flotilla;
    let d = &results.docker;
    let _ = writeln!(
        out,
        "\n**Where the single-task time goes** (medians, ms; from Docker's `Created` and \
         `State.StartedAt` of the container and the task's `startedAt`; medians of phases need \
         not add up to the median total).\n"
    );
    out.push_str("| phase | Flotilla | docker run -d |\n|---|---:|---:|\n");
    let _ = writeln!(
        out,
        "| request sent → RunTask answered | {} | - |",
        phase(f.iter().map(|s| ms(s.accepted)).collect())
    );
    let _ = writeln!(
        out,
        "| request sent → container created (`Created`) | {} | {} |",
        phase(f.iter().map(|s| (s.docker_created - s.sent) * 1000.0).collect()),
        phase(d.iter().map(|s| (s.docker_created - s.sent) * 1000.0).collect())
    );
    let _ = writeln!(
        out,
        "| created → started (`State.StartedAt`) | {} | {} |",
        phase(f.iter().map(|s| (s.docker_started - s.docker_created) * 1000.0).collect()),
        phase(d.iter().map(|s| (s.docker_started - s.docker_created) * 1000.0).collect())
    );
    let _ = writeln!(
        out,
        "| started → agent sets RUNNING (task `startedAt`, ms precision) | {} | - |",
        phase(
            f.iter()
                .filter_map(|s| s.agent_running.map(|r| (r - s.docker_started) * 1000.0))
                .collect()
        )
    );
    let _ = writeln!(
        out,
        "| agent sets RUNNING → client sees RUNNING | {} | - |",
        phase(
            f.iter()
                .filter_map(|s| s
                    .agent_running
                    .map(|r| (s.sent + s.total.as_secs_f64() - r) * 1000.0))
                .collect()
        )
    );
    let _ = writeln!(
        out,
        "| started → client sees RUNNING / CLI returned | {} | {} |",
        phase(
            f.iter()
                .map(|s| (s.sent + s.total.as_secs_f64() - s.docker_started) * 1000.0)
                .collect()
        ),
        phase(
            d.iter()
                .map(|s| (s.sent + s.total.as_secs_f64() - s.docker_started) * 1000.0)
                .collect()
        )
    );

    let _ = writeln!(
        out,
        "| total outside Docker's create → start (total − (`StartedAt` − `Created`)) | {} | {} |",
        phase(
            f.iter()
                .map(|s| ms(s.total) - (s.docker_started - s.docker_created) * 1000.0)
                .collect()
        ),
        phase(
            d.iter()
                .map(|s| ms(s.total) - (s.docker_started - s.docker_created) * 1000.0)
                .collect()
        )
    );

    // (2) Bursts.
    let fb = &results.flotilla_bursts;
    let db = &results.docker_bursts;
    let _ = writeln!(
        out,
        "\n**Burst of {n}** (ms, median of {r} rounds, min–max in brackets). Flotilla: {calls} \
         RunTask calls (count ≤ 10) sent concurrently → DescribeTasks shows all {n} RUNNING. \
         docker: {n} concurrent `docker run -d` processes → the last returned.\n",
        n = settings.burst,
        r = fb.len().min(db.len()),
        calls = settings.burst.div_ceil(10)
    );
    out.push_str(
        "| measure | Flotilla | docker run -d | Flotilla / docker |\n|---|---:|---:|---:|\n",
    );
    let spread = |values: &[f64]| {
        format!(
            "{} ({}–{})",
            fmt(median(values)),
            fmt(percentile(values, 0.0)),
            fmt(percentile(values, 100.0))
        )
    };
    type Measure = fn(&BurstSample) -> Option<Duration>;
    let rows: [(&str, Measure); 4] = [
        ("all RUNNING / all returned", |b| Some(b.all)),
        ("first RUNNING / first returned", |b| Some(b.first)),
        ("every RunTask answered", |b| b.accepted),
        ("last container started (`State.StartedAt`)", |b| Some(b.last_started)),
    ];
    for (name, get) in rows {
        let fv: Vec<f64> = fb.iter().filter_map(|b| get(b).map(ms)).collect();
        let dv: Vec<f64> = db.iter().filter_map(|b| get(b).map(ms)).collect();
        let dcell = if dv.is_empty() { "-".to_string() } else { spread(&dv) };
        let _ = writeln!(
            out,
            "| {name} | {} | {dcell} | {} |",
            spread(&fv),
            ratio(median(&fv), median(&dv))
        );
    }

    // (3) Memory.
    let m = &results.memory;
    let _ = writeln!(out, "\n**Agent memory** (VmRSS from /proc/<pid>/status, MiB).\n");
    out.push_str("| when | agent | server |\n|---|---:|---:|\n");
    let _ = writeln!(
        out,
        "| idle, registered, before any task | {} | {} |",
        fmt(m.agent_idle),
        fmt(m.server_idle)
    );
    let _ = writeln!(
        out,
        "| {} tasks RUNNING (highest of the bursts) | {} | - |",
        settings.burst,
        fmt(m.agent_burst)
    );
    let _ = writeln!(
        out,
        "| {} tasks RUNNING, 3 s later (highest) | {} | - |",
        settings.burst,
        fmt(m.agent_burst_steady)
    );
    let _ = writeln!(
        out,
        "| at the end, all stopped | {} | {} |",
        fmt(m.agent_after),
        fmt(m.server_after)
    );
    let _ = writeln!(out, "| peak (VmHWM) over the run | {} | - |", fmt(m.agent_peak));

    let _ = writeln!(
        out,
        "\n**CPU time per Flotilla task** (start + stop, utime + stime from /proc/<pid>/stat, \
         ms per task; the server's includes answering the benchmark's DescribeTasks polls).\n"
    );
    out.push_str("| phase | tasks | agent | server |\n|---|---:|---:|---:|\n");
    for (name, cpu) in [("single tasks", &results.single_cpu), ("bursts", &results.burst_cpu)] {
        let per_task = |seconds: f64| fmt(seconds * 1000.0 / cpu.tasks.max(1) as f64);
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            cpu.tasks,
            per_task(cpu.agent),
            per_task(cpu.server)
        );
    }

    // Goals.
    let start_ratio = median(&flotilla) / median(&raw);
    let burst_ratio = median(&fb.iter().map(|b| ms(b.all)).collect::<Vec<_>>())
        / median(&db.iter().map(|b| ms(b.all)).collect::<Vec<_>>());
    let rss = m.agent_burst.max(m.agent_burst_steady);
    let _ = writeln!(out, "\n**Goals**\n");
    out.push_str("| goal | measured | verdict |\n|---|---:|---|\n");
    let _ = writeln!(
        out,
        "| single-task start: median Flotilla / docker ≤ {START_RATIO_GOAL:.2} | {:.2} | {} |",
        start_ratio,
        verdict(start_ratio, START_RATIO_GOAL)
    );
    let _ = writeln!(
        out,
        "| burst of {}: median Flotilla / docker (same bar, ≤ {START_RATIO_GOAL:.2}) | {:.2} | {} |",
        settings.burst,
        burst_ratio,
        verdict(burst_ratio, START_RATIO_GOAL)
    );
    let _ = writeln!(
        out,
        "| agent VmRSS ≤ {AGENT_RSS_GOAL_MIB:.0} MiB idle and with {} tasks | {} / {} | {} |",
        settings.burst,
        fmt(m.agent_idle),
        fmt(rss),
        verdict(m.agent_idle.max(rss), AGENT_RSS_GOAL_MIB)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        let v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 4.0);
        assert!((percentile(&v, 90.0) - 3.7).abs() < 1e-9);
        assert!(percentile(&[], 50.0).is_nan());
    }
}

//! Samples, statistics and the markdown tables.

use std::fmt::Write;
use std::time::Duration;

/// Goal (a): the replacement is RUNNING less than this after the death is observed.
const REPLACEMENT_GOAL: Duration = Duration::from_secs(1);
/// Goal (c): the service is whole again within this after the agent is lost.
const LOSS_GOAL: Duration = Duration::from_secs(10);

/// One replacement round (a). `Duration`s are from T0 (when `docker kill` returned) as the
/// benchmark saw them; the `Option<f64>`s are server, agent and Docker timestamps minus T0's
/// epoch time, in seconds.
pub struct ReplacementSample {
    pub kill_cli: Duration,
    /// T0 → first DescribeTasks answer with the killed task STOPPED.
    pub observed: Duration,
    /// T0 → first answer with a new task of the service RUNNING.
    pub replaced: Duration,
    /// Docker's `State.FinishedAt` of the killed container.
    pub docker_died: Option<f64>,
    /// The killed task's `stoppedAt` (set by the agent).
    pub agent_stopped: Option<f64>,
    /// The replacement's `createdAt` (the controller pass that placed it).
    pub placed: Option<f64>,
    /// The replacement's `startedAt` (set by the agent).
    pub agent_running: Option<f64>,
    /// Whether the replacement landed on the killed task's instance.
    pub same_instance: bool,
}

/// One rolling update (b); times from UpdateService sent (T0).
#[derive(Default)]
pub struct RollingSample {
    pub answered: Duration,
    /// Event "has started N tasks" (createdAt − T0).
    pub started_event: Option<f64>,
    /// Docker StartedAt of the last new container (− T0).
    pub last_container_started: Option<f64>,
    /// End of the first passing probe of the last new container to pass (− T0).
    pub last_healthy: Option<f64>,
    /// DescribeServices first shows the new deployment with all tasks RUNNING.
    pub all_new_running: Option<Duration>,
    /// First event "has stopped N running tasks" (createdAt − T0).
    pub stop_event: Option<f64>,
    /// DescribeServices first shows one deployment (the old one's tasks are all gone).
    pub old_gone: Option<Duration>,
    /// DescribeServices: one deployment, COMPLETED, runningCount == desired.
    pub completed: Duration,
}

/// The same rolling update done by hand with the docker CLI (b); times from T0 (the burst of
/// new containers was spawned).
pub struct RollingFloor {
    /// `count` concurrent `docker run -d`: the last returned.
    pub start_all: Duration,
    /// Docker `StartedAt` of the last new container − T0, seconds.
    pub last_started: f64,
    /// With health checks: the last container's first passing probe ended (Docker's clock).
    /// Without: `last_started` + the 3 s "proven running" window. Seconds.
    pub healthy: f64,
    /// One `docker stop` of an old container, alone.
    pub stop_one: Duration,
    /// The other old containers stopped at once: the last returned.
    pub stop_rest: Duration,
}

impl RollingFloor {
    /// Ready, then the last old container stopped.
    pub fn total(&self) -> f64 {
        self.healthy + self.stop_one.as_secs_f64()
    }
}

/// One agent loss (c); times from T0 (the agent was sent SIGKILL).
pub struct LossSample {
    /// Tasks of the service on the killed agent's instance / in all.
    pub on_lost: usize,
    pub total_tasks: usize,
    /// First answer with every stale task's desiredStatus STOPPED (the instance is lost).
    pub given_up: Option<Duration>,
    /// Earliest replacement `createdAt` − T0.
    pub placed: Option<f64>,
    /// First answer with `total_tasks` tasks RUNNING, none on the lost instance.
    pub whole: Duration,
    /// Agent restarted → DescribeContainerInstances says agentConnected.
    pub reconnected: Duration,
    /// Agent restarted → every stale task STOPPED.
    pub stale_stopped: Duration,
    /// No stale container was running any more afterwards.
    pub stale_containers_gone: bool,
}

pub struct Results {
    pub environment: String,
    pub settings: String,
    pub agent_timeout: f64,
    pub rolling_tasks: usize,
    pub replacement: Vec<ReplacementSample>,
    pub replacement_floor: Vec<Duration>,
    /// (variant title, health checks?, samples, floors).
    pub rolling: Vec<(String, bool, Vec<RollingSample>, Vec<RollingFloor>)>,
    pub loss: Vec<LossSample>,
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Stats {
    median: f64,
    p90: f64,
    min: f64,
    max: f64,
}

/// Median (mean of the middle two for an even count), p90 by nearest rank, min, max.
fn stats(values: &[f64]) -> Option<Stats> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    let rank = ((0.9 * n as f64).ceil() as usize).clamp(1, n);
    Some(Stats { median, p90: v[rank - 1], min: v[0], max: v[n - 1] })
}

/// A table row `| label | median | p90 | min | max |` in ms, or dashes without values.
fn row(out: &mut String, label: &str, values_ms: &[f64], p90: bool) {
    let cells = match stats(values_ms) {
        Some(s) if p90 => {
            format!("{:.0} | {:.0} | {:.0} | {:.0}", s.median, s.p90, s.min, s.max)
        }
        Some(s) => format!("{:.0} | {:.0} | {:.0}", s.median, s.min, s.max),
        None if p90 => "– | – | – | –".into(),
        None => "– | – | –".into(),
    };
    let _ = writeln!(out, "| {label} | {cells} |");
}

fn opt_ms(values: impl Iterator<Item = Option<f64>>) -> Vec<f64> {
    values.flatten().map(|s| s * 1000.0).collect()
}

pub fn markdown(r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n\n{}\n", r.environment, r.settings);
    replacement(&mut out, r);
    rolling(&mut out, r);
    loss(&mut out, r);
    out
}

fn replacement(out: &mut String, r: &Results) {
    let s = &r.replacement;
    if s.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "### (a) Replacement after a container death ({} rounds, REPLICA desired 2)\n",
        s.len()
    );
    let _ = writeln!(
        out,
        "| from T0 = `docker kill` returned | median (ms) | p90 (ms) | min (ms) | max (ms) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    let observed: Vec<f64> = s.iter().map(|x| ms(x.observed)).collect();
    let after: Vec<f64> = s.iter().map(|x| ms(x.replaced) - ms(x.observed)).collect();
    let total: Vec<f64> = s.iter().map(|x| ms(x.replaced)).collect();
    let floor: Vec<f64> = r.replacement_floor.iter().map(|d| ms(*d)).collect();
    row(out, "death → observed (DescribeTasks: STOPPED)", &observed, true);
    row(out, "**observed → replacement RUNNING** (DescribeTasks)", &after, true);
    row(out, "**total: death → replacement RUNNING**", &total, true);
    row(out, "floor: `docker run -d` of the same image (CLI returned)", &floor, true);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Where the time goes, from the timestamps Docker, the agent and the server recorded \
         (the container really died before `docker kill` returned):\n"
    );
    let _ = writeln!(out, "| step | median (ms) | p90 (ms) | min (ms) | max (ms) |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    type At = dyn Fn(&ReplacementSample) -> Option<f64>;
    let step = |from: &At, to: &At| -> Vec<f64> {
        s.iter().filter_map(|x| Some((to(x)? - from(x)?) * 1000.0)).collect()
    };
    let t0: &At = &|_| Some(0.0);
    let died: &At = &|x| x.docker_died;
    let agent_stopped: &At = &|x| x.agent_stopped;
    let observed_at: &At = &|x| Some(x.observed.as_secs_f64());
    let placed: &At = &|x| x.placed;
    let agent_running: &At = &|x| x.agent_running;
    let seen_at: &At = &|x| Some(x.replaced.as_secs_f64());
    row(
        out,
        "container exited (Docker `FinishedAt`) → `docker kill` returned (T0)",
        &step(died, t0),
        true,
    );
    row(
        out,
        "container exited → agent set STOPPED (`stoppedAt`)",
        &step(died, agent_stopped),
        true,
    );
    row(
        out,
        "agent STOPPED → DescribeTasks shows STOPPED (poll)",
        &step(agent_stopped, observed_at),
        true,
    );
    row(
        out,
        "agent STOPPED → controller placed the replacement (`createdAt`)",
        &step(agent_stopped, placed),
        true,
    );
    row(out, "placed → agent set RUNNING (`startedAt`)", &step(placed, agent_running), true);
    row(
        out,
        "agent RUNNING → DescribeTasks shows RUNNING (poll)",
        &step(agent_running, seen_at),
        true,
    );
    row(out, "**container exited → replacement RUNNING seen**", &step(died, seen_at), true);
    row(
        out,
        "(the `docker kill` CLI itself, ending at T0)",
        &s.iter().map(|x| ms(x.kill_cli)).collect::<Vec<_>>(),
        true,
    );
    let same = s.iter().filter(|x| x.same_instance).count();
    let _ = writeln!(
        out,
        "\nReplacements placed on the killed task's instance: {same} of {}.",
        s.len()
    );
    if let (Some(a), Some(f)) = (stats(&after), stats(&floor)) {
        let verdict = if a.p90 < ms(REPLACEMENT_GOAL) {
            "**met** (p90 too)"
        } else if a.median < ms(REPLACEMENT_GOAL) {
            "**met at the median**, missed at p90"
        } else {
            "**missed**"
        };
        let _ = writeln!(
            out,
            "\nGoal: replacement RUNNING < {} ms after the death is observed: median {:.0} ms, \
             p90 {:.0} ms → {verdict}. Floor (`docker run -d`): median {:.0} ms; observed → \
             RUNNING is {:.2}× the floor ({:+.0} ms).\n",
            ms(REPLACEMENT_GOAL),
            a.median,
            a.p90,
            f.median,
            a.median / f.median.max(1e-9),
            a.median - f.median
        );
    }
}

fn rolling(out: &mut String, r: &Results) {
    let n = r.rolling_tasks;
    for (title, health, s, floors) in &r.rolling {
        if s.is_empty() {
            continue;
        }
        let _ =
            writeln!(out, "### (b) Rolling update to steady state: {title} ({} rounds)\n", s.len());
        let _ = writeln!(
            out,
            "| from T0 = UpdateService --force-new-deployment sent | median (ms) | min (ms) | max (ms) |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|");
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        row(
            out,
            "UpdateService answered",
            &s.iter().map(|x| ms(x.answered)).collect::<Vec<_>>(),
            false,
        );
        row(
            out,
            "controller started the new tasks (event \"has started\")",
            &opt_ms(s.iter().map(|x| x.started_event)),
            false,
        );
        row(
            out,
            "last new container started (Docker `StartedAt`)",
            &opt_ms(s.iter().map(|x| x.last_container_started)),
            false,
        );
        row(
            out,
            "all new tasks RUNNING (DescribeServices)",
            &opt_ms(s.iter().map(|x| secs(x.all_new_running))),
            false,
        );
        if *health {
            row(
                out,
                "last new container healthy (its first passing probe ended, Docker)",
                &opt_ms(s.iter().map(|x| x.last_healthy)),
                false,
            );
        }
        row(
            out,
            "controller stopped the first old tasks (event \"has stopped\")",
            &opt_ms(s.iter().map(|x| x.stop_event)),
            false,
        );
        row(
            out,
            "old deployment gone (one deployment left)",
            &opt_ms(s.iter().map(|x| secs(x.old_gone))),
            false,
        );
        let total: Vec<f64> = s.iter().map(|x| ms(x.completed)).collect();
        row(out, "**steady: one deployment, COMPLETED, runningCount = desired**", &total, false);
        let f = |get: &dyn Fn(&RollingFloor) -> f64| -> Vec<f64> {
            floors.iter().map(|x| get(x) * 1000.0).collect()
        };
        row(
            out,
            &format!("floor: {n} × `docker run -d` at once (last CLI returned)"),
            &f(&|x| x.start_all.as_secs_f64()),
            false,
        );
        row(
            out,
            "floor: last container started (Docker `StartedAt`)",
            &f(&|x| x.last_started),
            false,
        );
        if *health {
            row(
                out,
                "floor: last container healthy (first passing probe ended)",
                &f(&|x| x.healthy),
                false,
            );
        } else {
            row(
                out,
                "floor: last container started + 3 s proven-running window",
                &f(&|x| x.healthy),
                false,
            );
        }
        row(
            out,
            "floor: one `docker stop` of an old container",
            &f(&|x| x.stop_one.as_secs_f64()),
            false,
        );
        row(
            out,
            &format!("(for reference: the other {} old ones stopped at once)", n.saturating_sub(1)),
            &f(&|x| x.stop_rest.as_secs_f64()),
            false,
        );
        let floor = f(&RollingFloor::total);
        row(out, "**floor total** (ready + one stop)", &floor, false);
        if let (Some(t), Some(f)) = (stats(&total), stats(&floor)) {
            let _ = writeln!(
                out,
                "\nSteady after {:.0} ms (median) against a floor of {:.0} ms: {:+.0} ms ({:.2}×).\n",
                t.median,
                f.median,
                t.median - f.median,
                t.median / f.median.max(1e-9)
            );
        }
    }
}

fn loss(out: &mut String, r: &Results) {
    let s = &r.loss;
    if s.is_empty() {
        return;
    }
    let timeout_ms = r.agent_timeout * 1000.0;
    let _ = writeln!(
        out,
        "### (c) Agent loss to service whole again ({} rounds, desired {}, `--agent-timeout {}`)\n",
        s.len(),
        s[0].total_tasks,
        r.agent_timeout
    );
    let _ =
        writeln!(out, "| from T0 = `kill -9` of the agent | median (ms) | min (ms) | max (ms) |");
    let _ = writeln!(out, "|---|---:|---:|---:|");
    row(
        out,
        "stale tasks given up (desiredStatus STOPPED)",
        &opt_ms(s.iter().map(|x| x.given_up.map(|d| d.as_secs_f64()))),
        false,
    );
    row(out, "replacements placed (`createdAt`)", &opt_ms(s.iter().map(|x| x.placed)), false);
    let total: Vec<f64> = s.iter().map(|x| ms(x.whole)).collect();
    row(out, "**whole again: all tasks RUNNING, none on the lost instance**", &total, false);
    row(
        out,
        "whole again − agent timeout",
        &total.iter().map(|t| t - timeout_ms).collect::<Vec<_>>(),
        false,
    );
    row(
        out,
        "given up → whole again",
        &s.iter().filter_map(|x| Some(ms(x.whole) - ms(x.given_up?))).collect::<Vec<_>>(),
        false,
    );
    let _ = writeln!(out, "| *after the measurement: the agent restarted (same instance)* | | | |");
    row(
        out,
        "restart → agentConnected",
        &s.iter().map(|x| ms(x.reconnected)).collect::<Vec<_>>(),
        false,
    );
    row(
        out,
        "restart → every stale task STOPPED",
        &s.iter().map(|x| ms(x.stale_stopped)).collect::<Vec<_>>(),
        false,
    );
    let on_lost: Vec<String> =
        s.iter().map(|x| format!("{}/{}", x.on_lost, x.total_tasks)).collect();
    let gone = s.iter().filter(|x| x.stale_containers_gone).count();
    let _ = writeln!(
        out,
        "\nTasks on the killed agent's instance per round: {}. Stale containers no longer running \
         after the restart: {gone} of {} rounds.",
        on_lost.join(", "),
        s.len()
    );
    if let Some(t) = stats(&total) {
        let verdict = if t.max <= ms(LOSS_GOAL) { "**met**" } else { "**missed**" };
        let _ = writeln!(
            out,
            "\nGoal: whole again ≤ {:.0} ms: median {:.0} ms, max {:.0} ms → {verdict}; the agent \
             timeout alone is {timeout_ms:.0} ms, so Flotilla's own part is {:.0} ms (median).\n",
            ms(LOSS_GOAL),
            t.median,
            t.max,
            t.median - timeout_ms
        );
    }
}

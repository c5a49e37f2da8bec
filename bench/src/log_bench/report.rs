//! Samples and the markdown report: throughput per round and side by side, where the time
//! goes, the agent's CPU at a steady rate, and the goals.

use std::fmt::Write;

use crate::cpu::CpuSample;
use crate::lines::Tally;

/// Goal: lines per second end to end (median of the rounds).
const RATE_GOAL: f64 = 50_000.0;
/// Goal: the agent's CPU at 10,000 lines/s, % of one core.
const AGENT_CPU_GOAL_PERCENT: f64 = 25.0;

/// When things happened to one writer's lines, epoch seconds (Docker's clock and the
/// benchmark's are the same machine's).
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// The container's `State.StartedAt`.
    pub started: f64,
    /// Docker's timestamps of the first and the last line (when dockerd read them from the
    /// container; Flotilla keeps them at millisecond precision).
    pub first_line_at: f64,
    pub last_line_at: f64,
    /// When the last line was readable: the GetLogEvents page or the `docker logs` line
    /// holding it had arrived.
    pub readable_at: f64,
}

/// One writer of `lines` lines read back to the last one.
pub struct RoundSample {
    pub lines: u64,
    pub timing: Timing,
    pub tally: Tally,
    /// CPU used from starting the writer to the last line readable.
    pub cpu: CpuSample,
}

impl RoundSample {
    /// Lines per second as the issue defines it: Flotilla's from the first line's timestamp,
    /// docker's from the container's start.
    fn rate(&self, side: Side) -> f64 {
        let since = match side {
            Side::Flotilla => self.timing.first_line_at,
            Side::Docker => self.timing.started,
        };
        self.lines as f64 / (self.timing.readable_at - since)
    }

    /// Lines per second both measured from the container's start.
    fn rate_from_start(&self) -> f64 {
        self.lines as f64 / (self.timing.readable_at - self.timing.started)
    }

    /// How fast the container got its lines written (Docker's timestamps).
    fn written_rate(&self) -> f64 {
        self.lines as f64 / (self.timing.last_line_at - self.timing.first_line_at)
    }
}

#[derive(Clone, Copy)]
enum Side {
    Flotilla,
    Docker,
}

/// The steady-rate writer of the CPU phase.
pub struct SteadySample {
    pub lines: u64,
    pub rate: u64,
    pub timing: Timing,
    pub tally: Tally,
    /// CPU used over the window, and the window: first line readable → last line readable.
    pub cpu: CpuSample,
    pub window_secs: f64,
}

pub struct Settings {
    pub lines: u64,
    pub pad: usize,
    pub rounds: usize,
    pub poll_ms: u64,
}

pub struct Results {
    pub cores: usize,
    pub docker_version: String,
    pub load_before: String,
    pub load_after: String,
    pub flotilla: Vec<RoundSample>,
    pub docker: Vec<RoundSample>,
    pub steady: Option<SteadySample>,
}

impl Results {
    /// Every line of every writer arrived exactly once, in order.
    pub fn exact(&self) -> bool {
        self.tallies().all(|t| t.is_exact())
    }

    fn tallies(&self) -> impl Iterator<Item = &Tally> {
        self.flotilla
            .iter()
            .chain(&self.docker)
            .map(|s| &s.tally)
            .chain(self.steady.as_ref().map(|s| &s.tally))
    }
}

/// The median (mean of the middle two for an even count); NaN for none.
fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    }
}

fn range(values: &[f64]) -> (f64, f64) {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (low, high)
}

/// A count with thousands separators ("201,234").
fn count(value: f64) -> String {
    if !value.is_finite() {
        return "-".into();
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 {
        out.insert(0, '-');
    }
    out
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "-".into()
    }
}

fn percent(cpu: f64, secs: f64) -> f64 {
    100.0 * cpu / secs
}

fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

/// The whole report as markdown.
pub fn markdown(settings: &Settings, results: &Results) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{} cores, Docker {}, load average before {} / after {}; ",
        results.cores, results.docker_version, results.load_before, results.load_after
    );
    if !results.flotilla.is_empty() {
        let _ = write!(
            out,
            "{} rounds of writers of {} lines each side; ",
            settings.rounds,
            count(settings.lines as f64)
        );
    }
    let _ = writeln!(
        out,
        "lines of ~{} bytes; GetLogEvents polled every {} ms while caught up.\n",
        settings.pad + 12,
        settings.poll_ms
    );
    throughput(&mut out, results);
    steady(&mut out, results);
    goals(&mut out, results);
    out
}

fn throughput(out: &mut String, results: &Results) {
    if results.flotilla.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "**Throughput, end to end** (lines/s). Flotilla: an `awslogs` task writing as fast as it \
         can; lines ÷ (last line readable through GetLogEvents − first line's timestamp). docker: \
         the same container with `docker run -d --log-driver json-file`, read by `docker logs -f`; \
         lines ÷ (last line read − `State.StartedAt`).\n"
    );
    out.push_str(
        "| round | Flotilla | docker logs | Flotilla / docker | lost (Flotilla / docker) |\n\
         |---|---:|---:|---:|---|\n",
    );
    let flotilla: Vec<f64> = results.flotilla.iter().map(|s| s.rate(Side::Flotilla)).collect();
    let docker: Vec<f64> = results.docker.iter().map(|s| s.rate(Side::Docker)).collect();
    for (i, (f, d)) in results.flotilla.iter().zip(&results.docker).enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} / {} |",
            i + 1,
            count(flotilla[i]),
            count(docker[i]),
            ratio(flotilla[i], docker[i]),
            f.tally.lost,
            d.tally.lost
        );
    }
    let (fm, dm) = (median(&flotilla), median(&docker));
    let _ = writeln!(
        out,
        "| **median** | **{}** | **{}** | **{}** | |",
        count(fm),
        count(dm),
        ratio(fm, dm)
    );
    let ((fl, fh), (dl, dh)) = (range(&flotilla), range(&docker));
    let _ = writeln!(
        out,
        "| range | {}–{} | {}–{} | | |\n",
        count(fl),
        count(fh),
        count(dl),
        count(dh)
    );
    if results.flotilla.iter().chain(&results.docker).any(|s| s.tally.lost > 0) {
        out.push_str(
            "Lines were lost: the rates above count every line written, so they overstate what \
             arrived.\n\n",
        );
    }

    let _ = writeln!(out, "Where the time goes (medians of the rounds):\n");
    out.push_str("| measure | Flotilla | docker logs |\n|---|---:|---:|\n");
    // (row, what is measured, decimals: 0 = a count with separators).
    let rows: [(&str, Measure, usize); 5] = [
        (
            "container started → first line written (ms)",
            |s| 1000.0 * (s.timing.first_line_at - s.timing.started),
            1,
        ),
        ("first → last line written (s)", |s| s.timing.last_line_at - s.timing.first_line_at, 2),
        ("the writer's pace, Docker's timestamps (lines/s)", RoundSample::written_rate, 0),
        (
            "last line written → readable (ms)",
            |s| 1000.0 * (s.timing.readable_at - s.timing.last_line_at),
            1,
        ),
        ("lines/s from `State.StartedAt` (same base both sides)", RoundSample::rate_from_start, 0),
    ];
    for (name, measure, digits) in rows {
        let cell = |v: f64| if digits == 0 { count(v) } else { format!("{v:.digits$}") };
        let (f, d) = (medians(&results.flotilla, measure), medians(&results.docker, measure));
        let _ = writeln!(out, "| {name} | {} | {} |", cell(f), cell(d));
    }
    // CPU per line, µs; the agent and the server idle during the docker rounds.
    let agent = medians(&results.flotilla, |s| per_line(s.cpu.agent, s));
    let server = medians(&results.flotilla, |s| per_line(s.cpu.server, s));
    let _ = writeln!(out, "| agent CPU per line (µs) | {agent:.1} | - |");
    let _ =
        writeln!(out, "| server CPU per line (µs, incl. answering the reads) | {server:.1} | - |");
    let dockerd = |s: &RoundSample| s.cpu.dockerd.map_or(f64::NAN, |c| per_line(c, s));
    let _ = writeln!(
        out,
        "| dockerd CPU per line (µs) | {:.1} | {:.1} |",
        medians(&results.flotilla, dockerd),
        medians(&results.docker, dockerd)
    );
    let bench = |s: &RoundSample| per_line(s.cpu.bench, s);
    let _ = writeln!(
        out,
        "| log-bench's reading per line (µs) | {:.1} | {:.1} |\n",
        medians(&results.flotilla, bench),
        medians(&results.docker, bench)
    );
}

/// A per-round number for the "where the time goes" table.
type Measure = fn(&RoundSample) -> f64;

fn medians(samples: &[RoundSample], measure: Measure) -> f64 {
    median(&samples.iter().map(measure).collect::<Vec<_>>())
}

fn per_line(cpu_secs: f64, sample: &RoundSample) -> f64 {
    1e6 * cpu_secs / sample.lines as f64
}

fn steady(out: &mut String, results: &Results) {
    let Some(s) = &results.steady else { return };
    let _ = writeln!(
        out,
        "**Agent CPU at a steady rate**: a task writing {} lines at `--rate {}`; CPU time \
         (utime + stime) over the window from its first line readable to its last ({:.1} s), as \
         % of one core.\n",
        count(s.lines as f64),
        count(s.rate as f64),
        s.window_secs
    );
    out.push_str("| process | CPU (s) | % of one core |\n|---|---:|---:|\n");
    let rows = [
        ("**flotilla agent**", Some(s.cpu.agent)),
        ("flotilla server (incl. answering the reads)", Some(s.cpu.server)),
        ("dockerd", s.cpu.dockerd),
        ("log-bench (reading back)", Some(s.cpu.bench)),
    ];
    for (name, cpu) in rows {
        let _ = writeln!(
            out,
            "| {name} | {} | {} |",
            opt(cpu, 2),
            opt(cpu.map(|c| percent(c, s.window_secs)), 1)
        );
    }
    let pace = s.lines as f64 / (s.timing.last_line_at - s.timing.first_line_at);
    let _ = writeln!(
        out,
        "\nThe writer's pace (Docker's timestamps): {} lines/s; last line written → readable: \
         {:.0} ms; {}.\n",
        count(pace),
        1000.0 * (s.timing.readable_at - s.timing.last_line_at),
        s.tally.describe()
    );
}

fn goals(out: &mut String, results: &Results) {
    let verdict = |met: bool| if met { "met" } else { "**missed**" };
    out.push_str("**Against the goals**\n\n| goal | measured | verdict |\n|---|---|---|\n");
    if !results.flotilla.is_empty() {
        let rates: Vec<f64> = results.flotilla.iter().map(|s| s.rate(Side::Flotilla)).collect();
        let (low, high) = range(&rates);
        let m = median(&rates);
        let _ = writeln!(
            out,
            "| ≥ {} lines/s end to end | median {} ({}–{}) lines/s | {} |",
            count(RATE_GOAL),
            count(m),
            count(low),
            count(high),
            verdict(m >= RATE_GOAL)
        );
    }
    if let Some(s) = &results.steady {
        let p = percent(s.cpu.agent, s.window_secs);
        let _ = writeln!(
            out,
            "| agent ≤ {AGENT_CPU_GOAL_PERCENT:.0} % of one core at {} lines/s | {p:.1} % | {} |",
            count(s.rate as f64),
            verdict(p <= AGENT_CPU_GOAL_PERCENT)
        );
    }
    let flotilla_tallies: Vec<&Tally> = results
        .flotilla
        .iter()
        .map(|s| &s.tally)
        .chain(results.steady.as_ref().map(|s| &s.tally))
        .collect();
    let lost: u64 = flotilla_tallies.iter().map(|t| t.lost).sum();
    let lines: u64 = flotilla_tallies.iter().map(|t| t.count).sum();
    let exact = flotilla_tallies.iter().all(|t| t.is_exact());
    let _ = writeln!(
        out,
        "| no line lost | lost: {lost} of {} lines in {} Flotilla writers{} | {} |",
        count(lines as f64),
        flotilla_tallies.len(),
        if exact { ", none repeated or out of order" } else { " (see the tallies above)" },
        verdict(exact)
    );
}

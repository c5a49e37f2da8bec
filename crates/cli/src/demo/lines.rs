//! `flotilla demo lines`: writes numbered lines to stdout (or stderr), as fast as it can or at a
//! set rate, for log shipping tests and benchmarks. Line `n` is `<prefix> <n>`, n from 1.

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;

#[derive(Args, Debug, PartialEq)]
pub(crate) struct LinesArgs {
    /// How many lines.
    pub count: u64,
    /// Lines per second [default: as fast as possible].
    #[arg(long)]
    pub rate: Option<u64>,
    /// What each line starts with.
    #[arg(long, default_value = "line")]
    pub prefix: String,
    /// Pad each line with this many extra bytes (`.`), to test sizes.
    #[arg(long, default_value_t = 0)]
    pub pad: usize,
    /// Follow each line with this many indented `    at frame K` lines, like a stack trace
    /// (for multiline log patterns).
    #[arg(long, default_value_t = 0)]
    pub stack: u32,
    /// Write to stderr instead of stdout.
    #[arg(long)]
    pub stderr: bool,
    /// Keep running after the last line (until SIGTERM), so a service task stays up.
    #[arg(long)]
    pub then_sleep: bool,
}

pub(crate) fn write(args: &LinesArgs) -> anyhow::Result<()> {
    let padding = ".".repeat(args.pad);
    let mut out: Box<dyn Write> = if args.stderr {
        Box::new(std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr().lock()))
    } else {
        Box::new(std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock()))
    };
    let started = Instant::now();
    for n in 1..=args.count {
        writeln!(out, "{} {n}{padding}", args.prefix)?;
        for frame in 1..=args.stack {
            writeln!(out, "    at frame {frame}")?;
        }
        if let Some(rate) = args.rate.filter(|r| *r > 0) {
            // Paced in steps of a hundredth of the rate: steady without a syscall per line.
            let step = (rate / 100).max(1);
            if n % step == 0 {
                out.flush()?;
                let due = started + Duration::from_secs_f64(n as f64 / rate as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

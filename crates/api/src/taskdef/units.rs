//! Task-level `cpu` and `memory` strings and the sizes Fargate offers.
//!
//! ECS takes CPU as units ("1024") or vCPUs ("1 vCPU", "0.25 vcpu") and memory as MiB ("2048")
//! or GB ("2 GB", "2GB"), and stores and returns plain integers. Flotilla also takes "MiB"/"MB"
//! and "GiB" suffixes: rejecting a spelling ECS might accept is worse than accepting one it
//! might not.

/// CPU units in one vCPU.
pub const UNITS_PER_VCPU: u32 = 1024;
/// MiB in one GB, as ECS counts it ("1 GB = 1024 MiB").
pub const MIB_PER_GB: u32 = 1024;
/// Task-level CPU for the EC2 (and external) launch type, in units.
pub const EC2_TASK_CPU_MIN: u32 = 128;
pub const EC2_TASK_CPU_MAX: u32 = 196_608;

/// Parses a task-level `cpu` string into CPU units.
pub fn parse_task_cpu(text: &str) -> Result<u32, String> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let units = match lower.strip_suffix("vcpu") {
        Some(number) => scaled(number.trim_end(), UNITS_PER_VCPU),
        None => scaled(&lower, 1),
    };
    match units {
        Ok(u) => Ok(u),
        Err(Problem::Fraction) => Err(format!("'{text}' is not a whole number of CPU units")),
        Err(Problem::TooLarge) => Err(format!("'{text}' is too many CPU units")),
        Err(Problem::Syntax) => Err(format!(
            "'{text}' is neither CPU units nor vCPUs (expected e.g. \"1024\" or \"1 vCPU\")"
        )),
    }
}

/// Parses a task-level `memory` string into MiB.
pub fn parse_task_memory(text: &str) -> Result<u32, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (number, scale) = if let Some(n) = lower.strip_suffix("gib").or(lower.strip_suffix("gb")) {
        (n.trim_end(), MIB_PER_GB)
    } else if let Some(n) = lower.strip_suffix("mib").or(lower.strip_suffix("mb")) {
        (n.trim_end(), 1)
    } else {
        (lower.as_str(), 1)
    };
    match scaled(number, scale) {
        Ok(m) => Ok(m),
        Err(Problem::Fraction) => Err(format!("'{text}' is not a whole number of MiB")),
        Err(Problem::TooLarge) => Err(format!("'{text}' is too much memory")),
        Err(Problem::Syntax) => {
            Err(format!("'{text}' is neither MiB nor GB (expected e.g. \"2048\" or \"2 GB\")"))
        }
    }
}

enum Problem {
    Syntax,
    Fraction,
    TooLarge,
}

/// `number × scale` for a plain decimal `number` ("2", "0.25", ".5"), if that is a whole number
/// that fits a u32. Exact arithmetic: "0.1 vCPU" is 102.4 units, not 102.
fn scaled(number: &str, scale: u32) -> Result<u32, Problem> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits_ok(whole) || !digits_ok(fraction) {
        return Err(Problem::Syntax);
    }
    let fraction = fraction.trim_end_matches('0');
    let whole = whole.trim_start_matches('0');
    // Beyond these lengths the value cannot fit a u32 anyway; bailing out keeps the u64 exact.
    if whole.len() > 10 {
        return Err(Problem::TooLarge);
    }
    if fraction.len() > 12 {
        return Err(Problem::Fraction);
    }
    let parse = |s: &str| if s.is_empty() { 0 } else { s.parse::<u64>().unwrap_or(u64::MAX) };
    let denominator = 10u64.pow(fraction.len() as u32);
    let numerator = parse(whole)
        .checked_mul(denominator)
        .and_then(|w| w.checked_add(parse(fraction)))
        .and_then(|n| n.checked_mul(u64::from(scale)))
        .ok_or(Problem::TooLarge)?;
    if numerator % denominator != 0 {
        return Err(Problem::Fraction);
    }
    u32::try_from(numerator / denominator).map_err(|_| Problem::TooLarge)
}

/// Memory sizes (MiB) Fargate offers for a CPU size (units), as (first, last, step).
fn fargate_memory_range(cpu: u32) -> Option<(u32, u32, u32)> {
    const GB: u32 = MIB_PER_GB;
    match cpu {
        // 256 also allows 512 MiB, handled in `fargate_pair_is_valid`.
        256 => Some((GB, 2 * GB, GB)),
        512 => Some((GB, 4 * GB, GB)),
        1024 => Some((2 * GB, 8 * GB, GB)),
        2048 => Some((4 * GB, 16 * GB, GB)),
        4096 => Some((8 * GB, 30 * GB, GB)),
        8192 => Some((16 * GB, 60 * GB, 4 * GB)),
        16384 => Some((32 * GB, 120 * GB, 8 * GB)),
        _ => None,
    }
}

/// Whether Fargate offers this task size (CPU units, MiB).
pub fn fargate_pair_is_valid(cpu: u32, memory: u32) -> bool {
    if cpu == 256 && memory == 512 {
        return true;
    }
    fargate_memory_range(cpu).is_some_and(|(first, last, step)| {
        (first..=last).step_by(step as usize).any(|offered| offered == memory)
    })
}

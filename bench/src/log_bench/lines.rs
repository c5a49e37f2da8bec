//! Checks a stream of log lines against what `flotilla demo lines COUNT --prefix P --pad B`
//! writes: `P 1` … `P COUNT`, each followed by B dots, every one exactly once and in order.

/// What the writer prints after its last line when run with `--then-sleep`.
const SLEEPING: &str = "sleeping";

/// Tallies the lines seen so far.
pub struct LineCheck {
    prefix: String,
    padding: String,
    count: u64,
    seen: Vec<bool>,
    highest: u64,
    /// Distinct expected lines seen.
    pub distinct: u64,
    /// Lines seen again.
    pub duplicates: u64,
    /// Lines that came after a higher-numbered one.
    pub out_of_order: u64,
    /// Lines that are none of the expected ones (changed, cut, or foreign).
    pub corrupt: u64,
}

/// The verdict once reading stopped.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    pub count: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub corrupt: u64,
}

impl Tally {
    pub fn is_exact(&self) -> bool {
        self.lost == 0 && self.duplicates == 0 && self.out_of_order == 0 && self.corrupt == 0
    }

    pub fn describe(&self) -> String {
        format!(
            "lost: {}, repeated: {}, out of order: {}, corrupt: {} (of {})",
            self.lost, self.duplicates, self.out_of_order, self.corrupt, self.count
        )
    }
}

impl LineCheck {
    pub fn new(prefix: &str, pad: usize, count: u64) -> LineCheck {
        LineCheck {
            prefix: format!("{prefix} "),
            padding: ".".repeat(pad),
            count,
            seen: vec![false; usize::try_from(count).unwrap_or(usize::MAX).saturating_add(1)],
            highest: 0,
            distinct: 0,
            duplicates: 0,
            out_of_order: 0,
            corrupt: 0,
        }
    }

    /// Records one message; returns its line number when it is one of the expected lines.
    pub fn push(&mut self, message: &str) -> Option<u64> {
        let Some(n) = self.number(message) else {
            if message != SLEEPING {
                self.corrupt += 1;
            }
            return None;
        };
        let slot = &mut self.seen[n as usize];
        if *slot {
            self.duplicates += 1;
        } else {
            *slot = true;
            self.distinct += 1;
        }
        if n < self.highest {
            self.out_of_order += 1;
        }
        self.highest = self.highest.max(n);
        Some(n)
    }

    /// `n` when `message` is exactly line `n` of 1..=count.
    fn number(&self, message: &str) -> Option<u64> {
        let rest = message.strip_prefix(&self.prefix)?;
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if rest[digits..] != self.padding {
            return None;
        }
        rest[..digits].parse().ok().filter(|n| (1..=self.count).contains(n))
    }

    /// Whether the last line has arrived: every line is there, or the missing ones are lost
    /// (the writer writes in order and shipping keeps order).
    pub fn reached_last(&self) -> bool {
        self.highest == self.count
    }

    pub fn tally(&self) -> Tally {
        Tally {
            count: self.count,
            lost: self.count - self.distinct,
            duplicates: self.duplicates,
            out_of_order: self.out_of_order,
            corrupt: self.corrupt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_lines_pass_and_every_fault_is_counted() {
        let mut check = LineCheck::new("p", 2, 3);
        for line in ["p 1..", "p 2..", "p 3..", "sleeping"] {
            check.push(line);
        }
        assert!(check.reached_last());
        assert!(check.tally().is_exact());

        let mut faulty = LineCheck::new("p", 2, 4);
        for line in ["p 1..", "p 3..", "p 1..", "p 2.", "p 4..", "q 2.."] {
            faulty.push(line);
        }
        let tally = faulty.tally();
        assert!(faulty.reached_last());
        assert_eq!((tally.lost, tally.duplicates, tally.out_of_order, tally.corrupt), (1, 1, 1, 2));
    }
}

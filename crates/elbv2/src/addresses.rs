//! Where load balancers listen: each gets its own address from the server's `--lb-addresses`
//! range (default 127.0.1.1–127.0.1.254, loopback: every 127/8 address is the host's own), so
//! two load balancers can both listen on port 80. One pool for the whole server, since every
//! region's listeners share the host.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

/// The default range of load balancer addresses.
pub const DEFAULT_RANGE: &str = "127.0.1.1-127.0.1.254";

/// An inclusive range of IPv4 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRange {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
}

impl std::str::FromStr for AddressRange {
    type Err = String;

    /// `a.b.c.d-e.f.g.h`, or one address.
    fn from_str(text: &str) -> Result<AddressRange, String> {
        let (first, last) = text.split_once('-').unwrap_or((text, text));
        let parse = |s: &str| {
            s.trim().parse::<Ipv4Addr>().map_err(|_| format!("'{s}' is not an IPv4 address"))
        };
        let (first, last) = (parse(first)?, parse(last)?);
        if u32::from(first) > u32::from(last) {
            return Err(format!("{first} comes after {last}"));
        }
        Ok(AddressRange { first, last })
    }
}

/// The addresses handed out.
#[derive(Debug)]
pub struct AddressPool {
    range: AddressRange,
    taken: Mutex<BTreeSet<Ipv4Addr>>,
}

impl AddressPool {
    pub fn new(range: AddressRange) -> AddressPool {
        AddressPool { range, taken: Mutex::new(BTreeSet::new()) }
    }

    /// Marks an address a stored load balancer holds.
    pub fn claim(&self, address: Ipv4Addr) {
        self.lock().insert(address);
    }

    /// The lowest free address of the range, now taken; `None` when all are.
    pub fn take(&self) -> Option<Ipv4Addr> {
        let mut taken = self.lock();
        let free = (u32::from(self.range.first)..=u32::from(self.range.last))
            .map(Ipv4Addr::from)
            .find(|a| !taken.contains(a))?;
        taken.insert(free);
        Some(free)
    }

    /// Gives an address back (its load balancer is deleted).
    pub fn release(&self, address: Ipv4Addr) {
        self.lock().remove(&address);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<Ipv4Addr>> {
        self.taken.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_handed_out_lowest_first_and_reused() {
        let range: AddressRange = "127.0.1.1-127.0.1.3".parse().expect("range");
        let pool = AddressPool::new(range);
        pool.claim(Ipv4Addr::new(127, 0, 1, 2));
        assert_eq!(pool.take(), Some(Ipv4Addr::new(127, 0, 1, 1)));
        assert_eq!(pool.take(), Some(Ipv4Addr::new(127, 0, 1, 3)));
        assert_eq!(pool.take(), None);
        pool.release(Ipv4Addr::new(127, 0, 1, 1));
        assert_eq!(pool.take(), Some(Ipv4Addr::new(127, 0, 1, 1)));
        assert!("127.0.1.9-127.0.1.1".parse::<AddressRange>().is_err());
        assert_eq!("10.1.1.1".parse::<AddressRange>().map(|r| r.first == r.last), Ok(true));
    }
}

//! IPv4 CIDR blocks, as EC2 names subnets and VPCs and as the agent wires a host's slice of a
//! subnet: parsed, sliced, compared.

use std::net::Ipv4Addr;

/// A block of IPv4 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: u32,
    pub prefix: u8,
}

impl Cidr {
    /// `a.b.c.d/n`, the base aligned to its prefix.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (address, prefix) =
            text.split_once('/').ok_or_else(|| format!("'{text}' is not a CIDR block"))?;
        let address: Ipv4Addr =
            address.parse().map_err(|_| format!("'{text}' is not a CIDR block"))?;
        let prefix: u8 = prefix.parse().map_err(|_| format!("'{text}' is not a CIDR block"))?;
        if prefix > 32 {
            return Err(format!("'{text}' is not a CIDR block"));
        }
        let base = u32::from(address);
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        if base & !mask != 0 {
            return Err(format!("'{text}' has host bits set"));
        }
        Ok(Cidr { base, prefix })
    }

    /// Slice `index` of this block, `bits` longer.
    pub fn slice(self, bits: u8, index: u32) -> Option<Cidr> {
        let prefix = self.prefix.checked_add(bits).filter(|p| *p <= 28)?;
        (index < (1 << bits)).then(|| Cidr { base: self.base + (index << (32 - prefix)), prefix })
    }

    /// Addresses EC2 leaves free in a subnet of this size (five are reserved).
    pub fn usable(self) -> i32 {
        (1i64 << (32 - u32::from(self.prefix))).saturating_sub(5).clamp(0, i64::from(i32::MAX))
            as i32
    }
}

impl Cidr {
    /// Whether two blocks share an address.
    pub fn overlaps(self, other: Cidr) -> bool {
        let end = |c: Cidr| u64::from(c.base) + (1u64 << (32 - u32::from(c.prefix))) - 1;
        u64::from(self.base) <= end(other) && u64::from(other.base) <= end(self)
    }

    /// Whether `inner` lies wholly within this block.
    pub fn contains(self, inner: Cidr) -> bool {
        inner.prefix >= self.prefix && self.overlaps(inner)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

impl Cidr {
    /// The block's first address.
    pub fn first(self) -> Ipv4Addr {
        Ipv4Addr::from(self.base)
    }

    /// The `n`th address of the block (no check that it lies inside).
    pub fn nth(self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.base.wrapping_add(n))
    }

    /// How many addresses the block holds.
    pub fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }
}

//! Which regions the door serves: every region of the `aws` partition (botocore's endpoint data,
//! `partition.rs`), the server's own `--region` and any region it has served before, which may be
//! private names such as `local-1`.

use crate::partition::AWS_REGIONS;

/// The regions a credential scope may name.
#[derive(Debug, Clone)]
pub struct ServedRegions {
    server_region: String,
    /// Served besides the partition and the server's region.
    others: Vec<String>,
}

impl ServedRegions {
    pub fn new(server_region: impl Into<String>) -> ServedRegions {
        ServedRegions { server_region: server_region.into(), others: Vec::new() }
    }

    /// These regions and `region` too.
    pub fn and(mut self, region: impl Into<String>) -> ServedRegions {
        self.others.push(region.into());
        self
    }

    /// Whether a request signed for `region` is served.
    pub fn serves(&self, region: &str) -> bool {
        region == self.server_region
            || AWS_REGIONS.binary_search(&region).is_ok()
            || self.others.iter().any(|other| other == region)
    }

    /// The server's own region: the default of agents and human commands.
    pub fn server_region(&self) -> &str {
        &self.server_region
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_and_the_server_region_are_served() {
        let regions = ServedRegions::new("local-1").and("lab-2");
        for region in ["us-east-1", "eu-west-1", "us-east-2", "ap-southeast-2", "local-1", "lab-2"]
        {
            assert!(regions.serves(region), "{region}");
        }
        // Other partitions, made-up names and near misses are not.
        for region in ["cn-north-1", "us-gov-west-1", "xx-fake-1", "US-EAST-1", "us-east-1 ", ""] {
            assert!(!regions.serves(region), "{region:?}");
        }
        assert!(AWS_REGIONS.windows(2).all(|w| w[0] < w[1]), "sorted, for the binary search");
    }
}

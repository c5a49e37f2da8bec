//! Placement quality after the services phase: how many instances hold tasks against the
//! fewest that could (binpack), and how evenly the zones share them (spread).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::api;
use crate::ecs::Ecs;

/// Instances holding tasks, listed with this filter.
pub const USED_FILTER: &str = "runningTasksCount > 0";

#[derive(Debug, Default)]
pub struct Quality {
    /// Tasks the lower bound is computed for.
    pub tasks: u64,
    /// Instances with `runningTasksCount > 0`.
    pub used: usize,
    /// ceil(tasks / floor(instance memory / task memory)).
    pub lower_bound: u64,
    /// The same per zone, summed: the fewest instances once the tasks are spread over zones
    /// as they are.
    pub zone_lower_bound: u64,
    /// Zone → (instances holding tasks, tasks on them).
    pub zones: BTreeMap<String, (usize, u64)>,
    /// The filtered, paginated ListContainerInstances, and the DescribeContainerInstances of
    /// its result (100 a call).
    pub list_time: Duration,
    pub describe_time: Duration,
}

impl Quality {
    pub fn ratio(&self) -> f64 {
        self.used as f64 / self.lower_bound.max(1) as f64
    }

    /// Most tasks in a zone over fewest (1.0 is perfectly even).
    pub fn zone_skew(&self) -> f64 {
        let tasks = self.zones.values().map(|(_, t)| *t);
        let (max, min) = (tasks.clone().max().unwrap_or(0), tasks.min().unwrap_or(0));
        max as f64 / min.max(1) as f64
    }
}

/// The fewest instances of `instance_memory` MiB that hold `tasks` tasks of `task_memory` MiB.
pub fn lower_bound(tasks: u64, task_memory: u32, instance_memory: u32) -> u64 {
    let per_instance = u64::from(instance_memory / task_memory.max(1)).max(1);
    tasks.div_ceil(per_instance)
}

pub async fn measure(
    ecs: &mut Ecs,
    cluster: &str,
    tasks: u64,
    task_memory: u32,
    instance_memory: u32,
) -> Result<Quality> {
    let start = Instant::now();
    let used = api::list_instances(ecs, cluster, Some(USED_FILTER)).await?;
    let list_time = start.elapsed();
    let start = Instant::now();
    let described = api::describe_instances(ecs, cluster, &used).await?;
    let describe_time = start.elapsed();
    let mut zones: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    for instance in described {
        let zone = zones.entry(instance.zone).or_default();
        zone.0 += 1;
        zone.1 += instance.running_tasks;
    }
    let zone_lower_bound =
        zones.values().map(|(_, t)| lower_bound(*t, task_memory, instance_memory)).sum();
    Ok(Quality {
        tasks,
        zone_lower_bound,
        used: used.len(),
        lower_bound: lower_bound(tasks, task_memory, instance_memory),
        zones,
        list_time,
        describe_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_bound_packs_whole_tasks() {
        assert_eq!(lower_bound(50_000, 512, 8192), 3125);
        assert_eq!(lower_bound(1, 512, 8192), 1);
        // 3 tasks of 3000 MiB fit 2 to an 8192 MiB instance, not 2.73.
        assert_eq!(lower_bound(3, 3000, 8192), 2);
        assert_eq!(lower_bound(4, 3000, 8192), 2);
        assert_eq!(lower_bound(5, 3000, 8192), 3);
    }
}

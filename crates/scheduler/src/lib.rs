//! Pure placement logic: a snapshot of a cluster's instances and a task's demand go in, a
//! placement (or ECS's failure reason) comes out. No IO, no clock, no async.
//!
//! This is the first cut (resource fit, then least-loaded); strategies, constraints and the
//! cluster query language arrive with the placement-engine issue.

pub mod service;

use std::collections::BTreeSet;

/// One instance as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    pub id: String,
    /// ACTIVE (not DRAINING, not deregistered).
    pub active: bool,
    pub agent_connected: bool,
    pub remaining_cpu: i64,
    pub remaining_memory: i64,
    pub used_tcp_ports: BTreeSet<u16>,
    pub used_udp_ports: BTreeSet<u16>,
    /// Tasks on the instance that are not stopped.
    pub task_count: usize,
}

/// What one task needs from an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Demand {
    pub cpu: i64,
    pub memory: i64,
    /// Static host ports (dynamic ones are chosen on the instance).
    pub tcp_ports: Vec<u16>,
    pub udp_ports: Vec<u16>,
}

/// Why a task could not be placed, as ECS words it in `failures[].reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    Agent,
    Cpu,
    Memory,
    Ports,
    PortsUdp,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Agent => "AGENT",
            Reason::Cpu => "RESOURCE:CPU",
            Reason::Memory => "RESOURCE:MEMORY",
            Reason::Ports => "RESOURCE:PORTS",
            Reason::PortsUdp => "RESOURCE:PORTS_UDP",
        }
    }
}

/// Whether `demand` fits on `instance`, and if not, the first reason it does not.
pub fn fits(instance: &InstanceView, demand: &Demand) -> Result<(), Reason> {
    if !instance.agent_connected {
        return Err(Reason::Agent);
    }
    if demand.cpu > instance.remaining_cpu {
        return Err(Reason::Cpu);
    }
    if demand.memory > instance.remaining_memory {
        return Err(Reason::Memory);
    }
    if demand.tcp_ports.iter().any(|p| instance.used_tcp_ports.contains(p)) {
        return Err(Reason::Ports);
    }
    if demand.udp_ports.iter().any(|p| instance.used_udp_ports.contains(p)) {
        return Err(Reason::PortsUdp);
    }
    Ok(())
}

/// Books `demand` on `instance` (after `fits` said yes).
pub fn reserve(instance: &mut InstanceView, demand: &Demand) {
    instance.remaining_cpu -= demand.cpu;
    instance.remaining_memory -= demand.memory;
    instance.used_tcp_ports.extend(demand.tcp_ports.iter().copied());
    instance.used_udp_ports.extend(demand.udp_ports.iter().copied());
    instance.task_count += 1;
}

/// Places `count` copies of `demand` on the ACTIVE instances, each on the instance with the
/// fewest tasks that fits (ties by id), updating `instances` as it books. Each entry is the
/// index of the chosen instance, or the reason no instance fit.
pub fn place(
    instances: &mut [InstanceView],
    demand: &Demand,
    count: usize,
) -> Vec<Result<usize, Reason>> {
    (0..count)
        .map(|_| {
            let mut best: Option<usize> = None;
            let mut reasons = Vec::new();
            for (i, instance) in instances.iter().enumerate() {
                if !instance.active {
                    continue;
                }
                match fits(instance, demand) {
                    Ok(()) => {
                        let better = best.is_none_or(|b| {
                            let current = &instances[b];
                            (instance.task_count, &instance.id) < (current.task_count, &current.id)
                        });
                        if better {
                            best = Some(i);
                        }
                    }
                    Err(reason) => reasons.push(reason),
                }
            }
            match best {
                Some(i) => {
                    reserve(&mut instances[i], demand);
                    Ok(i)
                }
                None => Err(most_common(&reasons).unwrap_or(Reason::Agent)),
            }
        })
        .collect()
}

/// The reason most instances gave (ties: the earliest in ECS's check order).
fn most_common(reasons: &[Reason]) -> Option<Reason> {
    let mut best: Option<(usize, Reason)> = None;
    for reason in reasons.iter().copied().collect::<BTreeSet<_>>() {
        let n = reasons.iter().filter(|r| **r == reason).count();
        if best.is_none_or(|(m, _)| n > m) {
            best = Some((n, reason));
        }
    }
    best.map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn instance(id: &str, cpu: i64, memory: i64) -> InstanceView {
        InstanceView {
            id: id.into(),
            active: true,
            agent_connected: true,
            remaining_cpu: cpu,
            remaining_memory: memory,
            used_tcp_ports: BTreeSet::new(),
            used_udp_ports: BTreeSet::new(),
            task_count: 0,
        }
    }

    #[test]
    fn spreads_over_least_loaded_and_reports_ecs_reasons() {
        let mut instances = vec![instance("a", 1024, 512), instance("b", 1024, 512)];
        let demand = Demand { cpu: 0, memory: 200, tcp_ports: vec![80], udp_ports: vec![] };
        let placed = place(&mut instances, &demand, 3);
        assert_eq!(placed[0], Ok(0));
        assert_eq!(placed[1], Ok(1));
        // Both now hold port 80.
        assert_eq!(placed[2], Err(Reason::Ports));
        let big = Demand { memory: 4096, ..Demand::default() };
        assert_eq!(place(&mut instances, &big, 1), vec![Err(Reason::Memory)]);
        instances[0].agent_connected = false;
        instances[1].active = false;
        assert_eq!(place(&mut instances, &Demand::default(), 1), vec![Err(Reason::Agent)]);
    }

    proptest! {
        /// Safety: placement never books more CPU, memory or ports than an instance has.
        #[test]
        fn never_over_commits(
            sizes in proptest::collection::vec((0i64..4096, 0i64..4096), 1..6),
            demands in proptest::collection::vec((0i64..1024, 0i64..1024, proptest::option::of(1u16..20)), 1..30),
        ) {
            let mut instances: Vec<InstanceView> = sizes
                .iter()
                .enumerate()
                .map(|(i, (cpu, mem))| instance(&format!("i{i}"), *cpu, *mem))
                .collect();
            let original = instances.clone();
            let mut booked: Vec<Vec<Demand>> = vec![Vec::new(); instances.len()];
            for (cpu, memory, port) in demands {
                let demand = Demand { cpu, memory, tcp_ports: port.into_iter().collect(), udp_ports: vec![] };
                if let Ok(i) = place(&mut instances, &demand, 1)[0] {
                    booked[i].push(demand);
                }
            }
            for (i, tasks) in booked.iter().enumerate() {
                let cpu: i64 = tasks.iter().map(|d| d.cpu).sum();
                let mem: i64 = tasks.iter().map(|d| d.memory).sum();
                prop_assert!(cpu <= original[i].remaining_cpu);
                prop_assert!(mem <= original[i].remaining_memory);
                let mut ports = BTreeSet::new();
                for port in tasks.iter().flat_map(|d| d.tcp_ports.iter()) {
                    prop_assert!(ports.insert(*port), "port {} booked twice", port);
                }
            }
        }
    }
}

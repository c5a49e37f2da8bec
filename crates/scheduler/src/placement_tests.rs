//! Examples and properties of the placement engine.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::strategy::Strategy as _;

use super::*;
use super::{Constraint, Strategy};

/// Places on a copy of `instances` as a `Cluster`, then writes the booked views back.
fn place_mode(
    instances: &mut [InstanceView],
    request: &Request<'_>,
    mode: Mode,
) -> Vec<Result<usize, Reason>> {
    let base = instances.to_vec();
    let mut cluster = Cluster::new(&base);
    let placed = place_in(&mut cluster, request, mode);
    for (i, slot) in instances.iter_mut().enumerate() {
        *slot = cluster.view(i).clone();
    }
    placed
}

fn place(instances: &mut [InstanceView], request: &Request<'_>) -> Vec<Result<usize, Reason>> {
    place_mode(instances, request, Mode::Auto)
}

fn check_one(instance: &InstanceView, request: &Request<'_>) -> Result<(), Reason> {
    check(&Cluster::new(std::slice::from_ref(instance)), 0, request)
}

fn instance(id: &str, zone: &str, cpu: i64, memory: i64) -> InstanceView {
    InstanceView {
        id: id.into(),
        ec2_instance_id: id.into(),
        active: true,
        agent_connected: true,
        remaining_cpu: cpu,
        remaining_memory: memory,
        attributes: BTreeMap::from([(ZONE_ATTRIBUTE.to_string(), zone.to_string())]),
        ..InstanceView::default()
    }
}

fn request<'a>(
    demand: &'a Demand,
    constraints: &'a [Constraint],
    strategies: &'a [Strategy],
    count: usize,
) -> Request<'a> {
    Request { demand, group: "service:web", constraints, strategies, count, seed: 7 }
}

fn member_of(expression: &str) -> Constraint {
    match Constraint::parse("memberOf", Some(expression)) {
        Ok(c) => c,
        Err(e) => panic!("{expression}: {e}"),
    }
}

fn zone_spread() -> Strategy {
    Strategy::Spread(SpreadField::Attribute(ZONE_ATTRIBUTE.into()))
}

fn ids(placed: &[Result<usize, Reason>], instances: &[InstanceView]) -> Vec<String> {
    placed
        .iter()
        .map(|p| match p {
            Ok(i) => instances[*i].id.clone(),
            Err(r) => r.as_str().to_string(),
        })
        .collect()
}

#[test]
fn reports_ecs_reasons() {
    let mut instances = vec![instance("a", "z1", 1024, 512), instance("b", "z2", 1024, 512)];
    let demand = Demand { memory: 200, tcp_ports: vec![80], ..Demand::default() };
    let placed = place(&mut instances, &request(&demand, &[], &[], 3));
    assert_eq!(ids(&placed, &instances), ["a", "b", "RESOURCE:PORTS"]);
    let big = Demand { memory: 4096, ..Demand::default() };
    assert_eq!(place(&mut instances, &request(&big, &[], &[], 1)), [Err(Reason::Memory)]);
    let cpu = Demand { cpu: 2048, ..Demand::default() };
    assert_eq!(place(&mut instances, &request(&cpu, &[], &[], 1)), [Err(Reason::Cpu)]);
    let udp = Demand { udp_ports: vec![53], ..Demand::default() };
    instances[0].used_udp_ports.insert(53);
    instances[1].used_udp_ports.insert(53);
    assert_eq!(place(&mut instances, &request(&udp, &[], &[], 1)), [Err(Reason::PortsUdp)]);
    let only_z9 = [member_of("attribute:ecs.availability-zone == z9")];
    let small = Demand::default();
    assert_eq!(place(&mut instances, &request(&small, &only_z9, &[], 1)), [Err(Reason::MemberOf)]);
    instances[0].agent_connected = false;
    instances[1].active = false;
    assert_eq!(place(&mut instances, &request(&small, &[], &[], 1)), [Err(Reason::Agent)]);
    // No instance at all.
    assert_eq!(place(&mut [], &request(&small, &[], &[], 1)), [Err(Reason::Agent)]);
}

#[test]
fn distinct_instance_and_member_of() {
    let mut instances = vec![
        instance("a", "z1", 4096, 4096),
        instance("b", "z2", 4096, 4096),
        instance("c", "z3", 4096, 4096),
    ];
    let demand = Demand { memory: 10, ..Demand::default() };
    let distinct = [Constraint::DistinctInstance];
    let placed = place(&mut instances, &request(&demand, &distinct, &[], 4));
    assert_eq!(placed.iter().filter(|p| p.is_ok()).count(), 3);
    assert_eq!(placed[3], Err(Reason::DistinctInstance));
    // Tasks count: runningTasksCount is re-read as tasks land.
    let mut fresh = vec![instance("a", "z1", 4096, 4096), instance("b", "z2", 4096, 4096)];
    let at_most_two =
        [member_of("runningTasksCount < 2 and attribute:ecs.availability-zone in [z1, z2]")];
    let placed = place(&mut fresh, &request(&demand, &at_most_two, &[], 5));
    assert_eq!(placed.iter().filter(|p| p.is_ok()).count(), 4);
    assert_eq!(placed[4], Err(Reason::MemberOf));
}

#[test]
fn binpack_fills_the_fullest_instance_first() {
    let mut instances = vec![
        instance("a", "z1", 4096, 2048),
        instance("b", "z1", 4096, 1024),
        instance("c", "z1", 4096, 4096),
    ];
    let demand = Demand { memory: 512, ..Demand::default() };
    let binpack = [Strategy::Binpack(Resource::Memory)];
    let placed = place(&mut instances, &request(&demand, &[], &binpack, 4));
    assert_eq!(ids(&placed, &instances), ["b", "b", "a", "a"]);
}

#[test]
fn spread_over_zones_then_binpack_within() {
    let mut instances = vec![
        instance("a1", "z1", 4096, 2048),
        instance("a2", "z1", 4096, 1024),
        instance("b1", "z2", 4096, 4096),
        instance("c1", "z3", 4096, 4096),
    ];
    let demand = Demand { memory: 256, ..Demand::default() };
    let strategies = [zone_spread(), Strategy::Binpack(Resource::Memory)];
    let placed = place(&mut instances, &request(&demand, &[], &strategies, 6));
    let zones: Vec<String> = placed
        .iter()
        .filter_map(|p| p.ok())
        .map(|i| instances[i].attributes[ZONE_ATTRIBUTE].clone())
        .collect();
    for zone in ["z1", "z2", "z3"] {
        assert_eq!(zones.iter().filter(|z| *z == zone).count(), 2, "{zones:?}");
    }
    // Within z1 the fuller instance takes both.
    assert_eq!(instances[1].groups.get("service:web"), Some(&2));
    assert_eq!(instances[0].groups.get("service:web"), None);
}

#[test]
fn spread_counts_the_groups_tasks_already_there() {
    let mut instances = vec![instance("a", "z1", 4096, 4096), instance("b", "z2", 4096, 4096)];
    instances[0].groups.insert("service:web".into(), 3);
    instances[0].task_count = 3;
    let demand = Demand::default();
    let strategies = [zone_spread()];
    let placed = place(&mut instances, &request(&demand, &[], &strategies, 4));
    // z2 catches up first, then they alternate.
    assert_eq!(ids(&placed, &instances), ["b", "b", "b", "a"]);
}

#[test]
fn parses_api_shapes_with_clear_errors() {
    assert_eq!(Strategy::parse("binpack", Some("MEMORY")), Ok(Strategy::Binpack(Resource::Memory)));
    assert_eq!(
        Strategy::parse("spread", Some("host")),
        Ok(Strategy::Spread(SpreadField::Instance))
    );
    assert_eq!(Strategy::parse("random", None), Ok(Strategy::Random));
    assert!(Strategy::parse("binpack", Some("disk")).is_err_and(|e| e.contains("cpu or memory")));
    assert!(Strategy::parse("spread", Some("zone")).is_err_and(|e| e.contains("attribute:")));
    assert!(Strategy::parse("pack", None).is_err_and(|e| e.contains("unknown")));
    assert!(Constraint::parse("memberOf", None).is_err());
    assert!(Constraint::parse("distinctInstance", Some("x == y")).is_err());
    assert!(Constraint::parse("memberOf", Some("zone == a"))
        .is_err_and(|e| e.contains("position 0") && e.contains("unknown subject")));
}

/// A random cluster: instances with sizes, zones, some load and flags; plus a demand.
fn cluster() -> impl proptest::strategy::Strategy<Value = Vec<InstanceView>> {
    proptest::collection::vec(
        (
            0i64..4096,
            0i64..4096,
            0usize..3,
            0usize..3,
            any::<bool>(),
            proptest::option::of(1u16..6),
        ),
        1..12,
    )
    .prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(n, (cpu, memory, zone, load, connected, port))| {
                let mut i = instance(&format!("i{n}"), &format!("z{zone}"), cpu, memory);
                i.agent_connected = connected || n == 0;
                if load > 0 {
                    i.groups.insert("service:web".into(), load);
                    i.task_count = load;
                }
                i.used_tcp_ports.extend(port);
                i
            })
            .collect()
    })
}

fn strategies() -> impl proptest::strategy::Strategy<Value = Vec<Strategy>> {
    proptest::collection::vec(
        prop_oneof![
            Just(Strategy::Random),
            Just(Strategy::Binpack(Resource::Cpu)),
            Just(Strategy::Binpack(Resource::Memory)),
            Just(Strategy::Spread(SpreadField::Instance)),
            Just(zone_spread()),
        ],
        0..=MAX_STRATEGIES,
    )
}

fn constraints() -> impl proptest::strategy::Strategy<Value = Vec<Constraint>> {
    proptest::collection::vec(
        prop_oneof![
            Just(Constraint::DistinctInstance),
            Just(member_of("attribute:ecs.availability-zone != z1")),
            Just(member_of("runningTasksCount <= 2")),
            Just(member_of("not task:group == service:web or ec2InstanceId =~ i[0-5]")),
        ],
        0..3,
    )
}

proptest! {
    /// Safety: never more CPU, memory or ports than an instance has; every placement met every
    /// constraint at the moment it was made; nothing lands on inactive or unreachable instances.
    #[test]
    fn never_over_commits_and_constraints_hold(
        mut instances in cluster(),
        inactive in proptest::collection::vec(any::<bool>(), 12),
        (cpu, memory, port) in (0i64..1024, 0i64..1024, proptest::option::of(1u16..6)),
        constraints in constraints(),
        strategies in strategies(),
        count in 1usize..20,
        seed in any::<u64>(),
    ) {
        for (i, off) in instances.iter_mut().zip(&inactive) {
            i.active = !off;
        }
        let demand = Demand { cpu, memory, tcp_ports: port.into_iter().collect(), udp_ports: vec![] };
        let req = Request { demand: &demand, group: "service:web", constraints: &constraints, strategies: &strategies, count, seed };
        // Replays one placement at a time against a copy to check each decision in its moment.
        let mut replay = instances.clone();
        let original = instances.clone();
        let placed = place(&mut instances, &req);
        prop_assert_eq!(placed.len(), count);
        for p in placed.iter().flatten() {
            let chosen = &replay[*p];
            prop_assert!(chosen.active && chosen.agent_connected);
            prop_assert_eq!(check_one(chosen, &req), Ok(()));
            reserve(&mut replay[*p], &demand, "service:web");
        }
        prop_assert_eq!(&replay, &instances);
        for (after, before) in instances.iter().zip(&original) {
            prop_assert!(after.remaining_cpu >= 0.min(before.remaining_cpu));
            prop_assert!(after.remaining_memory >= 0.min(before.remaining_memory));
        }
        let mut ports: BTreeMap<usize, BTreeSet<u16>> = BTreeMap::new();
        for p in placed.iter().flatten() {
            for port in &demand.tcp_ports {
                prop_assert!(!original[*p].used_tcp_ports.contains(port));
                prop_assert!(ports.entry(*p).or_default().insert(*port), "port booked twice");
            }
        }
    }

    /// Keeping candidates ordered is an optimisation only: it places exactly as scoring every
    /// candidate for every task does.
    #[test]
    fn ordered_candidates_place_as_a_full_scan(
        mut instances in cluster(),
        (cpu, memory, port) in (0i64..512, 0i64..512, proptest::option::of(1u16..6)),
        constraints in constraints(),
        strategies in strategies(),
        count in 1usize..25,
    ) {
        let strategies: Vec<Strategy> =
            strategies.into_iter().filter(|s| *s != Strategy::Random).collect();
        for (n, i) in instances.iter_mut().enumerate() {
            i.task_count += n % 3; // other groups' tasks, for the tie-break
        }
        let demand = Demand { cpu, memory, tcp_ports: port.into_iter().collect(), udp_ports: vec![] };
        let req = Request { demand: &demand, group: "service:web", constraints: &constraints, strategies: &strategies, count, seed: 3 };
        let mut ordered = instances.clone();
        let mut scanned = instances;
        prop_assert_eq!(
            place_mode(&mut ordered, &req, Mode::Ordered),
            place_mode(&mut scanned, &req, Mode::Scan)
        );
        prop_assert_eq!(ordered, scanned);
    }

    /// Determinism: the same snapshot, request and seed place the same way.
    #[test]
    fn deterministic_for_a_seed(
        instances in cluster(),
        strategies in strategies(),
        count in 1usize..20,
        seed in any::<u64>(),
    ) {
        let demand = Demand { cpu: 10, memory: 10, ..Demand::default() };
        let req = Request { demand: &demand, group: "service:web", constraints: &[], strategies: &strategies, count, seed };
        let mut first = instances.clone();
        let mut second = instances;
        prop_assert_eq!(place(&mut first, &req), place(&mut second, &req));
    }

    /// Spread: when every instance has room, the group's tasks per zone differ by at most one.
    #[test]
    fn spread_is_even_when_capacity_allows(
        zones in proptest::collection::vec(0usize..4, 1..15),
        count in 1usize..40,
        then_binpack in any::<bool>(),
    ) {
        let mut instances: Vec<InstanceView> = zones
            .iter()
            .enumerate()
            .map(|(n, z)| instance(&format!("i{n}"), &format!("z{z}"), 100_000, 100_000))
            .collect();
        let demand = Demand { cpu: 10, memory: 10, ..Demand::default() };
        let mut strategies = vec![zone_spread()];
        if then_binpack {
            strategies.push(Strategy::Binpack(Resource::Memory));
        }
        let req = Request { demand: &demand, group: "service:web", constraints: &[], strategies: &strategies, count, seed: 1 };
        let placed = place(&mut instances, &req);
        let mut per_zone: BTreeMap<&str, usize> =
            zones.iter().map(|z| (["z0", "z1", "z2", "z3"][*z], 0)).collect();
        for p in placed.iter() {
            let i = p.map_err(|r| TestCaseError::fail(r.as_str()))?;
            *per_zone.entry(instances[i].attributes[ZONE_ATTRIBUTE].as_str()).or_default() += 1;
        }
        let most = per_zone.values().max().copied().unwrap_or(0);
        let least = per_zone.values().min().copied().unwrap_or(0);
        prop_assert!(most - least <= 1, "{:?}", per_zone);
    }

    /// Binpack (alone or after a spread over instances' zones... on identical empty instances)
    /// uses the fewest instances possible, so no other strategy uses fewer.
    #[test]
    fn binpack_uses_no_more_instances_than_others(
        n in 1usize..10,
        size in 1i64..8,
        count in 1usize..30,
        resource in prop_oneof![Just(Resource::Cpu), Just(Resource::Memory)],
        other in strategies(),
        seed in any::<u64>(),
    ) {
        let fresh = || -> Vec<InstanceView> {
            (0..n).map(|k| instance(&format!("i{k}"), "z1", 1024, 1024)).collect()
        };
        let demand = Demand { cpu: 1024 / size, memory: 1024 / size, ..Demand::default() };
        let used = |strategies: &[Strategy]| {
            let mut instances = fresh();
            let req = Request { demand: &demand, group: "g", constraints: &[], strategies, count, seed };
            let placed = place(&mut instances, &req);
            let ok = placed.iter().filter(|p| p.is_ok()).count();
            (placed.iter().flatten().collect::<BTreeSet<_>>().len(), ok)
        };
        let (binpack_used, binpack_placed) = used(&[Strategy::Binpack(resource)]);
        let (other_used, other_placed) = used(&other);
        prop_assert_eq!(binpack_placed, other_placed);
        prop_assert!(binpack_used <= other_used, "binpack {} > {:?} {}", binpack_used, other, other_used);
        let per_instance = size as usize;
        prop_assert_eq!(binpack_used, binpack_placed.div_ceil(per_instance));
    }
}

#[test]
fn scale_in_follows_the_strategies() {
    let mut instances = vec![
        instance("a", "z1", 4096, 100),
        instance("b", "z1", 4096, 500),
        instance("c", "z2", 4096, 300),
    ];
    instances[0].groups.insert("service:web".into(), 2);
    instances[1].groups.insert("service:web".into(), 1);
    instances[2].groups.insert("service:web".into(), 1);
    let cluster = Cluster::new(&instances);
    let d = Demand { memory: 50, ..Demand::default() };
    // Tasks: 0 on a, 1 on b, 2 on a, 3 on c.
    let tasks = [(0, &d), (1, &d), (0, &d), (2, &d)];
    let binpack = [Strategy::Binpack(Resource::Memory)];
    // b has the most memory left (its only task goes first), then c.
    let ranks = scale_in_order(&cluster, &tasks, "service:web", &binpack, 4, 1);
    assert_eq!(ranks[1], 0, "{ranks:?}");
    assert_eq!(ranks[3], 1, "{ranks:?}");
    // Spread over zones: z1 holds 3 tasks, z2 one: the first two stops come from z1.
    let spread = [zone_spread()];
    let ranks = scale_in_order(&cluster, &tasks, "service:web", &spread, 2, 1);
    let first_two: Vec<usize> = (0..4).filter(|t| ranks[*t] < 2).collect();
    assert!(first_two.iter().all(|t| tasks[*t].0 != 2), "{ranks:?}");
    // Only `needed` are ranked.
    assert_eq!(ranks.iter().filter(|r| **r == u32::MAX).count(), 2);
}

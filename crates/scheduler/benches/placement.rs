//! Placements per second of the pure engine on 1k, 10k and 100k-instance snapshots:
//! `cargo bench -p flotilla-scheduler --features bench`.

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flotilla_scheduler::placement::{Resource, SpreadField, ZONE_ATTRIBUTE};
use flotilla_scheduler::{place, Cluster, Constraint, Demand, InstanceView, Request, Strategy};

/// Tasks placed per measured batch: RunTask places at most 10, a service pass up to 1,000.
const BATCHES: [usize; 2] = [10, 1000];

/// `n` instances over three zones, 8 GiB each, a quarter of them already holding some tasks.
fn cluster(n: usize) -> Vec<InstanceView> {
    (0..n)
        .map(|i| {
            let load = if i % 4 == 0 { (i % 7) as i64 } else { 0 };
            InstanceView {
                id: format!("{i:08x}"),
                active: true,
                agent_connected: true,
                remaining_cpu: 8192 - load * 256,
                remaining_memory: 8192 - load * 512,
                task_count: load as usize,
                groups: BTreeMap::from([("service:web".to_string(), load as usize)]),
                attributes: BTreeMap::from([
                    (ZONE_ATTRIBUTE.to_string(), format!("zone-{}", i % 3)),
                    ("tier".to_string(), if i % 2 == 0 { "a" } else { "b" }.to_string()),
                ]),
                ..InstanceView::default()
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let demand = Demand { cpu: 256, memory: 512, ..Demand::default() };
    let zone_then_pack = [
        Strategy::Spread(SpreadField::Attribute(ZONE_ATTRIBUTE.into())),
        Strategy::Binpack(Resource::Memory),
    ];
    let member_of = match Constraint::parse("memberOf", Some("attribute:tier == a")) {
        Ok(c) => vec![c],
        Err(e) => panic!("{e}"),
    };
    let cases: [(&str, &[Constraint], &[Strategy]); 3] = [
        ("spread(zone)+binpack(memory)", &[], &zone_then_pack),
        ("memberOf+spread(instance)", &member_of, &[Strategy::Spread(SpreadField::Instance)]),
        ("random", &[], &[Strategy::Random]),
    ];
    for (name, constraints, strategies) in cases {
        for batch in BATCHES {
            let mut group = c.benchmark_group(format!("{name}, {batch} tasks"));
            group.throughput(Throughput::Elements(batch as u64));
            group.sample_size(10);
            for n in [1_000, 10_000, 100_000] {
                let snapshot = cluster(n);
                group.bench_with_input(BenchmarkId::from_parameter(n), &snapshot, |b, snapshot| {
                    // The snapshot is shared, as the server shares its views: only the
                    // instances a batch books on are copied.
                    b.iter(|| {
                        let mut cluster = Cluster::new(snapshot);
                        let request = Request {
                            demand: &demand,
                            group: "service:web",
                            constraints,
                            strategies,
                            count: batch,
                            seed: 42,
                        };
                        let placed = place(&mut cluster, &request);
                        assert!(placed.iter().all(|p| p.is_ok()));
                        placed
                    });
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

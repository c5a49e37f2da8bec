//! The ECS math on hand-built states.

use flotilla_api::cluster::Cluster;
use flotilla_api::instance::{ContainerInstance, Resource};
use flotilla_api::service::Service;
use flotilla_api::task::Task;

use super::*;
use crate::state::{InstanceRecord, Record, Reservation, ServiceRecord};
use flotilla_api::task::TaskStatus;

const MIB_U64: u64 = 1024 * 1024;

fn cluster(state: &mut State, name: &str) {
    state.insert_for_test(Record::Cluster(Cluster {
        cluster_name: name.into(),
        ..Cluster::default()
    }));
}

fn instance(state: &mut State, cluster: &str, id: &str, status: &str, cpu: i32, memory: i32) {
    state.insert_for_test(Record::Instance(Box::new(InstanceRecord {
        cluster: cluster.into(),
        id: id.into(),
        instance: ContainerInstance {
            status: flotilla_api::status::InstanceStatus::parse(status).expect("a status"),
            registered_resources: vec![
                Resource::integer("CPU", cpu),
                Resource::integer("MEMORY", memory),
            ],
            ..ContainerInstance::default()
        },
        custom_attributes: Vec::new(),
        announced_attributes: Vec::new(),
        credential_hash: None,
    })));
}

fn service(state: &mut State, cluster: &str, name: &str) {
    state.insert_for_test(Record::Service(Box::new(ServiceRecord {
        cluster: cluster.into(),
        name: name.into(),
        service: Service { service_name: name.into(), ..Service::default() },
        last_completed_task_definition: None,
        throttled_until: None,
        steady_since: None,
        client_token: None,
        task_set_tokens: Default::default(),
        deployment_targets: Default::default(),
    })));
}

#[allow(clippy::too_many_arguments)]
fn task(
    state: &mut State,
    cluster: &str,
    id: &str,
    on: &str,
    group: &str,
    status: &str,
    cpu: i64,
    memory: i64,
) {
    state.insert_for_test(Record::Task(Box::new(TaskRecord {
        cluster: cluster.into(),
        id: id.into(),
        instance_id: Some(on.into()),
        reservation: Reservation { cpu, memory, tcp_ports: Vec::new(), udp_ports: Vec::new() },
        protected_until: None,
        client_token: None,
        deregistering_until: None,
        task: Task {
            last_status: TaskStatus::parse(status).expect("a task status"),
            group: Some(group.into()),
            ..Task::default()
        },
    })));
}

fn sample(cluster: &str, id: &str, cpu_units: f64, memory_mib: u64) -> TaskSample {
    TaskSample {
        cluster: cluster.into(),
        task_id: id.into(),
        group: String::new(),
        received_at: 1000.0,
        cpu_units,
        memory_bytes: memory_mib * MIB_U64,
        network_rx_bytes: 0,
        network_tx_bytes: 0,
        block_read_bytes: 0,
        block_write_bytes: 0,
    }
}

/// Cluster `c`: two instances of 2048 CPU / 4096 MiB (one DRAINING), one INACTIVE of 1024 CPU;
/// service `web` with three running tasks of 512 CPU / 1024 MiB plus one PENDING, a batch task
/// reserving no CPU, and a stopped task.
fn fixture() -> State {
    let mut state = State::default();
    cluster(&mut state, "c");
    cluster(&mut state, "empty");
    instance(&mut state, "c", "i1", "ACTIVE", 2048, 4096);
    instance(&mut state, "c", "i2", "DRAINING", 2048, 4096);
    instance(&mut state, "c", "i3", "INACTIVE", 1024, 1024);
    service(&mut state, "c", "web");
    service(&mut state, "c", "idle");
    for (id, on) in [("w1", "i1"), ("w2", "i1"), ("w3", "i2")] {
        task(&mut state, "c", id, on, "service:web", "RUNNING", 512, 1024);
    }
    task(&mut state, "c", "w4", "i2", "service:web", "PENDING", 512, 1024);
    task(&mut state, "c", "b1", "i2", "family:batch", "RUNNING", 0, 256);
    task(&mut state, "c", "s1", "i1", "service:web", "STOPPED", 512, 1024);
    state
}

fn service_figures<'f>(figures: &'f Figures, name: &str) -> &'f ServiceFigures {
    figures.services.iter().find(|s| s.service == name).expect("service figures")
}

#[test]
fn service_utilization_is_used_over_reserved_of_running_tasks() {
    let state = fixture();
    let fresh = vec![
        sample("c", "w1", 256.0, 512),  // 50 % CPU, 50 % memory
        sample("c", "w2", 1024.0, 256), // 200 % CPU, 25 % memory
        sample("c", "w4", 512.0, 1024), // PENDING: not counted
        sample("c", "s1", 512.0, 1024), // STOPPED: not counted
    ];
    let figures = compute(&state, &fresh);
    let web = service_figures(&figures, "web");
    assert_eq!(web.running_tasks, 3);
    // w3 has no sample: only w1 and w2 count. (256 + 1024) / (512 + 512) = 125 %.
    assert_eq!(web.cpu.percent(), Some(125.0));
    assert_eq!(web.memory.percent(), Some(100.0 * 768.0 / 2048.0));
    let set = web.cpu.stat_set().expect("a set");
    assert_eq!(set.count, 2.0);
    assert_eq!(set.min, 50.0);
    assert_eq!(set.max, 200.0);
    assert_eq!(set.sum / set.count, 125.0);
    let idle = service_figures(&figures, "idle");
    assert_eq!(idle.cpu.percent(), None);
}

#[test]
fn tasks_reserving_no_cpu_are_left_out_of_cpu_utilization() {
    let mut state = fixture();
    service(&mut state, "c", "free");
    task(&mut state, "c", "f1", "i1", "service:free", "RUNNING", 0, 512);
    let figures = compute(&state, &[sample("c", "f1", 300.0, 128)]);
    let free = service_figures(&figures, "free");
    assert_eq!(free.cpu.percent(), None, "0 reserved CPU: no CPU utilization");
    assert_eq!(free.memory.percent(), Some(25.0));
    let keys: Vec<String> = datapoints(&figures)
        .into_iter()
        .filter(|(k, _)| k.dimensions.iter().any(|(_, v)| v == "free"))
        .map(|(k, _)| k.metric_name)
        .collect();
    assert_eq!(keys, vec![MEMORY_UTILIZATION.to_string()]);
}

#[test]
fn cluster_reservation_counts_active_and_draining_instances() {
    let state = fixture();
    let figures = compute(&state, &[]);
    let c = figures.clusters.iter().find(|c| c.cluster == "c").expect("cluster c");
    // Registered: i1 + i2 (i3 is INACTIVE). Reserved: w1, w2, w3, w4 (PENDING holds its
    // reservation), b1; not the stopped s1.
    assert_eq!(c.registered_cpu, 4096.0);
    assert_eq!(c.reserved_cpu, 4.0 * 512.0);
    assert_eq!(c.cpu_reservation(), Some(50.0));
    assert_eq!(c.registered_memory_mib, 8192.0);
    assert_eq!(c.reserved_memory_mib, 4.0 * 1024.0 + 256.0);
    assert_eq!(c.memory_reservation(), Some(100.0 * 4352.0 / 8192.0));
    assert_eq!(c.running_tasks, 4);
    assert_eq!(c.cpu_utilization(), None, "nothing measured yet");
}

#[test]
fn cluster_utilization_is_used_over_registered() {
    let state = fixture();
    let fresh = vec![sample("c", "w1", 1024.0, 1024), sample("c", "b1", 1024.0, 1024)];
    let figures = compute(&state, &fresh);
    let c = figures.clusters.iter().find(|c| c.cluster == "c").expect("cluster c");
    assert_eq!(c.cpu_utilization(), Some(50.0));
    assert_eq!(c.memory_utilization(), Some(25.0));
}

#[test]
fn only_resources_with_running_tasks_get_datapoints() {
    let state = fixture();
    let figures = compute(&state, &[sample("c", "w1", 256.0, 512)]);
    let mut names: Vec<(String, usize)> = datapoints(&figures)
        .into_iter()
        .map(|(k, _)| (k.metric_name, k.dimensions.len()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            (CPU_RESERVATION.to_string(), 1),
            (CPU_UTILIZATION.to_string(), 1),
            (CPU_UTILIZATION.to_string(), 2),
            (MEMORY_RESERVATION.to_string(), 1),
            (MEMORY_UTILIZATION.to_string(), 1),
            (MEMORY_UTILIZATION.to_string(), 2),
        ],
        "cluster 'empty' and service 'idle' have no running task"
    );
}

//! The views kept up to date commit by commit equal views rebuilt from the records.

use std::collections::BTreeMap;

use flotilla_api::instance::{ContainerInstance, Resource};
use flotilla_api::status::InstanceStatus;
use flotilla_api::task::Task;
use proptest::prelude::*;

use super::super::{
    instance_key, task_key, InstanceRecord, Record, Reservation, State, TaskRecord,
};
use super::*;

#[derive(Debug, Clone)]
enum Step {
    Instance { n: usize, status: &'static str },
    Task { n: usize, on: usize, status: &'static str, group: usize, memory: i64, port: Option<u16> },
    DeleteTask(usize),
    DeleteInstance(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0usize..4, prop_oneof![Just("ACTIVE"), Just("DRAINING"), Just("INACTIVE")])
            .prop_map(|(n, status)| Step::Instance { n, status }),
        (
            0usize..10,
            0usize..4,
            prop_oneof![Just("PENDING"), Just("RUNNING"), Just("STOPPED")],
            0usize..3,
            0i64..512,
            any::<bool>(),
        )
            // Placement never books one port twice on an instance: each task its own port.
            .prop_map(|(n, on, status, group, memory, with_port)| Step::Task {
                n,
                on,
                status,
                group,
                memory,
                port: with_port.then_some(8000 + n as u16),
            }),
        (0usize..10).prop_map(Step::DeleteTask),
        (0usize..4).prop_map(Step::DeleteInstance),
    ]
}

fn apply(state: &mut State, step: &Step) {
    match step {
        Step::Instance { n, status } => state.apply(
            "",
            Some(Record::Instance(Box::new(InstanceRecord {
                cluster: "c".into(),
                id: format!("i{n}"),
                instance: ContainerInstance {
                    status: flotilla_api::status::InstanceStatus::parse(status).expect("a status"),
                    registered_resources: vec![
                        Resource::integer("CPU", 1024),
                        Resource::integer("MEMORY", 2048),
                        Resource::string_set("PORTS", vec!["22".into()]),
                    ],
                    ..ContainerInstance::default()
                },
                custom_attributes: Vec::new(),
                announced_attributes: Vec::new(),
                credential_hash: None,
            }))),
        ),
        Step::Task { n, on, status, group, memory, port } => state.apply(
            "",
            Some(Record::Task(Box::new(TaskRecord {
                cluster: "c".into(),
                id: format!("t{n}"),
                instance_id: Some(format!("i{on}")),
                protected_until: None,
                client_token: None,
                deregistering_until: None,
                reservation: Reservation {
                    cpu: 10,
                    memory: *memory,
                    tcp_ports: port.iter().copied().collect(),
                    udp_ports: Vec::new(),
                },
                task: Task {
                    last_status: flotilla_api::task::TaskStatus::parse(status).expect("a status"),
                    group: Some(format!("g{group}")),
                    ..Task::default()
                },
            }))),
        ),
        Step::DeleteTask(n) => state.apply(&task_key("c", &format!("t{n}")), None),
        Step::DeleteInstance(n) => state.apply(&instance_key("c", &format!("i{n}")), None),
    }
}

proptest! {
    #[test]
    fn incremental_views_equal_rebuilt_ones(steps in proptest::collection::vec(step(), 1..60)) {
        let mut state = State::default();
        for step in &steps {
            apply(&mut state, step);
        }
        let kept: BTreeMap<String, InstanceView> = state
            .placement
            .get("c")
            .map(|c| c.views.iter().map(|v| (v.id.clone(), v.clone())).collect())
            .unwrap_or_default();
        let rebuilt: BTreeMap<String, InstanceView> = state
            .instances
            .values()
            .filter(|i| i.instance.status != InstanceStatus::Inactive)
            .map(|i| (i.id.clone(), instance_view(i, &HashSet::new(), state.tasks_on(&i.id))))
            .collect();
        prop_assert_eq!(kept, rebuilt);
    }
}

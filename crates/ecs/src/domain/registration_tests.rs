//! The shortcut that skips unchanged tasks in agent reports agrees with the merge itself.

use flotilla_api::agent::{ContainerReport, TaskReport};
use flotilla_api::status::HealthStatus;
use flotilla_api::task::TaskStatus;
use flotilla_api::task::{Container, NetworkBinding, Task};
use proptest::prelude::*;

use super::{merge_report, report_changes_nothing};

fn status() -> impl Strategy<Value = TaskStatus> {
    prop_oneof![Just(TaskStatus::Pending), Just(TaskStatus::Running), Just(TaskStatus::Stopped)]
}

fn word() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![Just("a"), Just("b")].prop_map(String::from))
}

fn time() -> impl Strategy<Value = Option<f64>> {
    proptest::option::of(prop_oneof![Just(1.0), Just(2.0)])
}

fn bindings() -> impl Strategy<Value = Vec<NetworkBinding>> {
    proptest::collection::vec(
        (8000i32..8002).prop_map(|p| NetworkBinding { host_port: Some(p), ..Default::default() }),
        0..2,
    )
}

fn health() -> impl Strategy<Value = Option<HealthStatus>> {
    proptest::option::of(prop_oneof![
        Just(HealthStatus::Unknown),
        Just(HealthStatus::Healthy),
        Just(HealthStatus::Unhealthy)
    ])
}

fn task() -> impl Strategy<Value = Task> {
    (
        status(),
        health(),
        (time(), time(), time()),
        word(),
        proptest::collection::vec((status(), word(), proptest::option::of(0..2), bindings()), 1..3),
    )
        .prop_map(
            |(last_status, health, (started, stopping, stopped), stop_code, containers)| Task {
                last_status,
                desired_status: TaskStatus::Running,
                health_status: health,
                started_at: started,
                stopping_at: stopping,
                stopped_at: stopped,
                stop_code,
                containers: containers
                    .into_iter()
                    .enumerate()
                    .map(|(n, (last_status, runtime_id, exit_code, network_bindings))| Container {
                        name: format!("c{n}"),
                        last_status,
                        runtime_id,
                        exit_code,
                        network_bindings,
                        ..Container::default()
                    })
                    .collect(),
                ..Task::default()
            },
        )
}

fn report() -> impl Strategy<Value = TaskReport> {
    (
        status(),
        health(),
        (time(), time(), time()),
        word(),
        proptest::collection::vec(
            (status(), word(), proptest::option::of(0..2), bindings(), health()),
            0..3,
        ),
    )
        .prop_map(
            |(last_status, health, (started, stopping, stopped), stop_code, containers)| {
                TaskReport {
                    last_status,
                    health_status: health,
                    started_at: started,
                    stopping_at: stopping,
                    stopped_at: stopped,
                    stop_code,
                    containers: containers
                        .into_iter()
                        .enumerate()
                        .map(
                            |(
                                n,
                                (last_status, runtime_id, exit_code, network_bindings, health),
                            )| {
                                ContainerReport {
                                    name: format!("c{n}"),
                                    last_status,
                                    runtime_id,
                                    exit_code,
                                    network_bindings,
                                    health_status: health,
                                    ..ContainerReport::default()
                                }
                            },
                        )
                        .collect(),
                    ..TaskReport::default()
                }
            },
        )
}

proptest! {
    /// Skipping is safe: when the shortcut says nothing changes, merging changes nothing.
    #[test]
    fn skipped_reports_change_nothing(task in task(), report in report()) {
        let mut merged = task.clone();
        merge_report(&mut merged, report.clone());
        if report_changes_nothing(&task, &report) {
            prop_assert_eq!(merged, task);
        }
    }

    /// And it does skip: a report already applied is recognised as changing nothing.
    #[test]
    fn a_repeated_report_is_skipped(task in task(), report in report()) {
        let mut merged = task;
        merge_report(&mut merged, report.clone());
        prop_assert!(report_changes_nothing(&merged, &report));
    }
}

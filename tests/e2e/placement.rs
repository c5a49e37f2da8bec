//! Placement with three real agents in three zones: strategies, constraints, the cluster
//! query language, attributes, draining and resource failures, through the AWS SDK.

use std::collections::BTreeMap;

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::operation::run_task::RunTaskOutput;
use aws_sdk_ecs::types::{
    Attribute, ContainerInstanceStatus, PlacementConstraint, PlacementConstraintType,
    PlacementStrategy, PlacementStrategyType, TargetType, TaskDefinitionPlacementConstraint,
    TaskDefinitionPlacementConstraintType,
};

use crate::fleet::{demo, Fleet};

const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];

/// Three agents, one per zone, 1 GiB each.
async fn three_zones() -> Fleet {
    let flags: Vec<[String; 4]> = ZONES
        .iter()
        .map(|z| {
            [
                "--memory".to_string(),
                "1024".to_string(),
                "--attribute".to_string(),
                format!("ecs.availability-zone={z}"),
            ]
        })
        .collect();
    let refs: Vec<Vec<&str>> =
        flags.iter().map(|f| f.iter().map(String::as_str).collect()).collect();
    let slices: Vec<&[&str]> = refs.iter().map(Vec::as_slice).collect();
    Fleet::with_agents(&slices).await
}

/// Instance ARN by zone.
async fn instances_by_zone(fleet: &Fleet) -> BTreeMap<String, String> {
    let arns = fleet.wait_for_instances(3).await;
    let described = fleet
        .ecs
        .describe_container_instances()
        .cluster(&fleet.cluster)
        .set_container_instances(Some(arns))
        .send()
        .await
        .expect("describe instances");
    described
        .container_instances()
        .iter()
        .map(|i| {
            let zone = i
                .attributes()
                .iter()
                .find(|a| a.name() == "ecs.availability-zone")
                .and_then(|a| a.value())
                .expect("zone attribute");
            (zone.to_string(), i.container_instance_arn().expect("arn").to_string())
        })
        .collect()
}

fn spread(field: &str) -> PlacementStrategy {
    PlacementStrategy::builder().r#type(PlacementStrategyType::Spread).field(field).build()
}

fn binpack(field: &str) -> PlacementStrategy {
    PlacementStrategy::builder().r#type(PlacementStrategyType::Binpack).field(field).build()
}

fn member_of(expression: &str) -> PlacementConstraint {
    PlacementConstraint::builder()
        .r#type(PlacementConstraintType::MemberOf)
        .expression(expression)
        .build()
}

fn zones(out: &RunTaskOutput) -> Vec<String> {
    let mut zones: Vec<String> =
        out.tasks().iter().map(|t| t.availability_zone().unwrap_or("?").to_string()).collect();
    zones.sort();
    zones
}

fn reasons(out: &RunTaskOutput) -> Vec<&str> {
    out.failures().iter().filter_map(|f| f.reason()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategies_constraints_and_attributes_over_three_zones() {
    let fleet = three_zones().await;
    let by_zone = instances_by_zone(&fleet).await;
    let td = fleet.register("place", vec![demo("main", &["sleep"]).memory(32).build()]).await;
    let run = |group: &str| {
        fleet.ecs.run_task().cluster(&fleet.cluster).task_definition(&td).group(group)
    };

    // spread over zones: two per zone.
    let out = run("spread")
        .count(6)
        .placement_strategy(spread("attribute:ecs.availability-zone"))
        .send()
        .await
        .expect("spread");
    assert_eq!(zones(&out), ["zone-a", "zone-a", "zone-b", "zone-b", "zone-c", "zone-c"]);

    // binpack on memory: all on one instance, the fullest.
    let out =
        run("packed").count(3).placement_strategy(binpack("memory")).send().await.expect("binpack");
    let instances: Vec<&str> =
        out.tasks().iter().filter_map(|t| t.container_instance_arn()).collect();
    assert_eq!(instances.len(), 3);
    assert!(instances.iter().all(|i| *i == instances[0]), "{instances:?}");

    // memberOf with the query language.
    let out = run("member")
        .count(3)
        .placement_constraints(member_of("attribute:ecs.availability-zone == zone-b"))
        .send()
        .await
        .expect("memberOf");
    assert_eq!(zones(&out), ["zone-b", "zone-b", "zone-b"]);
    let out = run("member-in")
        .count(4)
        .placement_constraints(member_of(
            "attribute:ecs.availability-zone in [zone-a, zone-c] and agentConnected == true",
        ))
        .placement_strategy(spread("instanceId"))
        .send()
        .await
        .expect("memberOf in");
    assert_eq!(zones(&out), ["zone-a", "zone-a", "zone-c", "zone-c"]);

    // distinctInstance: one per instance, the fourth fails.
    let out = run("distinct")
        .count(4)
        .placement_constraints(
            PlacementConstraint::builder()
                .r#type(PlacementConstraintType::DistinctInstance)
                .build(),
        )
        .send()
        .await
        .expect("distinct");
    assert_eq!(zones(&out), ZONES);
    assert_eq!(reasons(&out), ["DistinctInstance placement constraint unsatisfied."]);

    // Custom attributes: put, place by them, list, delete.
    let gpu_instance = &by_zone["zone-c"];
    let put = fleet
        .ecs
        .put_attributes()
        .cluster(&fleet.cluster)
        .attributes(
            Attribute::builder()
                .name("tier")
                .value("gpu")
                .target_id(gpu_instance)
                .build()
                .expect("attr"),
        )
        .send()
        .await
        .expect("put attributes");
    assert_eq!(put.attributes()[0].target_id(), Some(gpu_instance.as_str()));
    let out = run("gpu")
        .count(2)
        .placement_constraints(member_of("attribute:tier == gpu"))
        .send()
        .await
        .expect("gpu");
    assert_eq!(zones(&out), ["zone-c", "zone-c"]);
    let listed = fleet
        .ecs
        .list_attributes()
        .cluster(&fleet.cluster)
        .target_type(TargetType::ContainerInstance)
        .attribute_name("tier")
        .send()
        .await
        .expect("list attributes");
    assert_eq!(listed.attributes().len(), 1);
    assert_eq!(listed.attributes()[0].value(), Some("gpu"));
    let zone_values = fleet
        .ecs
        .list_attributes()
        .cluster(&fleet.cluster)
        .target_type(TargetType::ContainerInstance)
        .attribute_name("ecs.availability-zone")
        .attribute_value("zone-a")
        .send()
        .await
        .expect("list by value");
    assert_eq!(zone_values.attributes().len(), 1);
    assert_eq!(zone_values.attributes()[0].target_id(), Some(by_zone["zone-a"].as_str()));
    fleet
        .ecs
        .delete_attributes()
        .cluster(&fleet.cluster)
        .attributes(
            Attribute::builder().name("tier").target_id(gpu_instance).build().expect("attr"),
        )
        .send()
        .await
        .expect("delete attributes");
    let out = run("gpu")
        .placement_constraints(member_of("attribute:tier == gpu"))
        .send()
        .await
        .expect("gpu after delete");
    assert!(out.tasks().is_empty());
    assert_eq!(reasons(&out), ["MemberOf placement constraint unsatisfied."]);
    // A custom value overrides an agent's attribute; deleting it brings the agent's back.
    let zone_a_is = |value: &'static str| {
        let fleet = &fleet;
        let target = by_zone["zone-a"].clone();
        async move {
            let listed = fleet
                .ecs
                .list_attributes()
                .cluster(&fleet.cluster)
                .target_type(TargetType::ContainerInstance)
                .attribute_name("ecs.availability-zone")
                .attribute_value(value)
                .send()
                .await
                .expect("list zone");
            listed.attributes().iter().any(|a| a.target_id() == Some(target.as_str()))
        }
    };
    let zone = |value: Option<&str>| {
        Attribute::builder()
            .name("ecs.availability-zone")
            .set_value(value.map(str::to_string))
            .target_id(&by_zone["zone-a"])
            .build()
            .expect("attr")
    };
    let put = fleet.ecs.put_attributes().cluster(&fleet.cluster).attributes(zone(Some("zone-x")));
    put.send().await.expect("override");
    assert!(zone_a_is("zone-x").await && !zone_a_is("zone-a").await);
    let delete = fleet.ecs.delete_attributes().cluster(&fleet.cluster).attributes(zone(None));
    delete.send().await.expect("unset");
    assert!(zone_a_is("zone-a").await && !zone_a_is("zone-x").await);
    let err = fleet
        .ecs
        .put_attributes()
        .cluster(&fleet.cluster)
        .attributes(
            Attribute::builder().name("tier").value("x").target_id("nope").build().expect("attr"),
        )
        .send()
        .await
        .expect_err("unknown target");
    assert_eq!(err.code(), Some("TargetNotFoundException"));

    // ListContainerInstances filters with the query language; errors name the position.
    let filtered = fleet
        .ecs
        .list_container_instances()
        .cluster(&fleet.cluster)
        .filter("attribute:ecs.availability-zone in [zone-a, zone-b]")
        .send()
        .await
        .expect("filter");
    let mut arns = filtered.container_instance_arns().to_vec();
    arns.sort();
    let mut expected = vec![by_zone["zone-a"].clone(), by_zone["zone-b"].clone()];
    expected.sort();
    assert_eq!(arns, expected);
    let busy = fleet
        .ecs
        .list_container_instances()
        .cluster(&fleet.cluster)
        .filter("task:group == gpu")
        .send()
        .await
        .expect("filter by group");
    assert_eq!(busy.container_instance_arns(), std::slice::from_ref(gpu_instance));
    let err = fleet
        .ecs
        .list_container_instances()
        .cluster(&fleet.cluster)
        .filter("attribute:ecs.availability-zone === zone-a")
        .send()
        .await
        .expect_err("bad filter");
    assert_eq!(err.code(), Some("InvalidParameterException"));
    assert!(err.message().unwrap_or_default().contains("position"), "{err:?}");

    // The task definition's own constraints apply to every launch.
    let pinned = fleet
        .register_with("pinned", vec![demo("main", &["sleep"]).memory(32).build()], |b| {
            b.placement_constraints(
                TaskDefinitionPlacementConstraint::builder()
                    .r#type(TaskDefinitionPlacementConstraintType::MemberOf)
                    .expression("attribute:ecs.availability-zone == zone-a")
                    .build(),
            )
        })
        .await;
    let out = fleet
        .ecs
        .run_task()
        .cluster(&fleet.cluster)
        .task_definition(&pinned)
        .count(2)
        .send()
        .await
        .expect("pinned");
    assert_eq!(zones(&out), ["zone-a", "zone-a"]);

    // Resources: too much memory for any instance.
    let huge = fleet.register("huge", vec![demo("main", &["sleep"]).memory(2000).build()]).await;
    let out = fleet
        .ecs
        .run_task()
        .cluster(&fleet.cluster)
        .task_definition(&huge)
        .send()
        .await
        .expect("huge");
    assert_eq!(reasons(&out), ["RESOURCE:MEMORY"]);

    // Draining: zone-a takes nothing new.
    fleet
        .ecs
        .update_container_instances_state()
        .cluster(&fleet.cluster)
        .container_instances(&by_zone["zone-a"])
        .status(ContainerInstanceStatus::Draining)
        .send()
        .await
        .expect("drain");
    let out = run("after-drain")
        .count(4)
        .placement_strategy(spread("attribute:ecs.availability-zone"))
        .send()
        .await
        .expect("after drain");
    assert_eq!(zones(&out), ["zone-b", "zone-b", "zone-c", "zone-c"]);

    // Bad input: clear errors, nothing placed.
    for (strategy, words) in [(binpack("disk"), "cpu or memory"), (spread("zone"), "attribute:")] {
        let err = run("bad").placement_strategy(strategy).send().await.expect_err("bad strategy");
        assert_eq!(err.code(), Some("InvalidParameterException"));
        assert!(err.message().unwrap_or_default().contains(words), "{err:?}");
    }
    let err = run("bad")
        .placement_constraints(member_of("registeredAt > yesterday"))
        .send()
        .await
        .expect_err("bad expression");
    assert!(err.message().unwrap_or_default().contains("position 15"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_spread_over_zones_by_default_and_keep_constraints() {
    let fleet = three_zones().await;
    instances_by_zone(&fleet).await;
    let td = fleet.register("svc", vec![demo("main", &["sleep"]).memory(32).build()]).await;
    fleet
        .ecs
        .create_service()
        .cluster(&fleet.cluster)
        .service_name("spread")
        .task_definition(&td)
        .desired_count(6)
        .send()
        .await
        .expect("create");
    fleet
        .ecs
        .create_service()
        .cluster(&fleet.cluster)
        .service_name("not-a")
        .task_definition(&td)
        .desired_count(4)
        .placement_constraints(member_of("attribute:ecs.availability-zone != zone-a"))
        .placement_strategy(binpack("memory"))
        .send()
        .await
        .expect("create constrained");
    let per_zone = |service: &'static str| {
        let fleet = &fleet;
        async move {
            let tasks =
                fleet.service_tasks(service, &[aws_sdk_ecs::types::DesiredStatus::Running]).await;
            let mut zones: Vec<String> =
                tasks.iter().map(|t| t.availability_zone().unwrap_or("?").to_string()).collect();
            zones.sort();
            zones
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let spread = per_zone("spread").await;
        let constrained = per_zone("not-a").await;
        if spread.len() == 6 && constrained.len() == 4 {
            assert_eq!(spread, ["zone-a", "zone-a", "zone-b", "zone-b", "zone-c", "zone-c"]);
            assert!(constrained.iter().all(|z| z != "zone-a"), "{constrained:?}");
            // binpack: all four on one instance (4 x 32 MiB fit in 1 GiB).
            let distinct: std::collections::BTreeSet<&String> = constrained.iter().collect();
            assert_eq!(distinct.len(), 1, "{constrained:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "spread {spread:?}, not-a {constrained:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Scale-in keeps the spread: 6 → 3 leaves one task per zone.
    fleet
        .ecs
        .update_service()
        .cluster(&fleet.cluster)
        .service("spread")
        .desired_count(3)
        .send()
        .await
        .expect("scale in");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let zones = per_zone("spread").await;
        if zones.len() == 3 {
            assert_eq!(zones, ZONES, "scale-in kept the zones balanced");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {zones:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let err = fleet
        .ecs
        .create_service()
        .cluster(&fleet.cluster)
        .service_name("bad")
        .task_definition(&td)
        .desired_count(1)
        .placement_constraints(member_of("attribute:zone =="))
        .send()
        .await
        .expect_err("bad constraint");
    assert_eq!(err.code(), Some("InvalidParameterException"));
    let err = fleet
        .ecs
        .update_service()
        .cluster(&fleet.cluster)
        .service("spread")
        .set_placement_strategy(Some(vec![spread("host"); 6]))
        .send()
        .await
        .expect_err("six strategies");
    assert!(err.message().unwrap_or_default().contains("at most 5"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_membership_ignores_its_own_task() {
    let fleet = three_zones().await;
    instances_by_zone(&fleet).await;
    let td = fleet.register("daemon", vec![demo("main", &["sleep"]).memory(32).build()]).await;
    // Only instances without other tasks; the daemon's own task must not make it leave.
    fleet
        .ecs
        .create_service()
        .cluster(&fleet.cluster)
        .service_name("d")
        .task_definition(&td)
        .scheduling_strategy(aws_sdk_ecs::types::SchedulingStrategy::Daemon)
        .placement_constraints(member_of("runningTasksCount == 0"))
        .send()
        .await
        .expect("create daemon");
    let count = |status: aws_sdk_ecs::types::DesiredStatus| {
        let fleet = &fleet;
        async move {
            let listed = fleet
                .ecs
                .list_tasks()
                .cluster(&fleet.cluster)
                .service_name("d")
                .desired_status(status)
                .send()
                .await
                .expect("list");
            listed.task_arns().len()
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while count(aws_sdk_ecs::types::DesiredStatus::Running).await < 3 {
        assert!(std::time::Instant::now() < deadline, "no task per instance");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Several controller passes later nothing was stopped and nothing more started.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(count(aws_sdk_ecs::types::DesiredStatus::Running).await, 3);
    assert_eq!(count(aws_sdk_ecs::types::DesiredStatus::Stopped).await, 0);
    let described = fleet
        .ecs
        .describe_services()
        .cluster(&fleet.cluster)
        .services("d")
        .send()
        .await
        .expect("describe");
    assert_eq!(described.services()[0].desired_count(), 3);
}

/// UpdateService's settings (placement, grace period, tags, deployment configuration) take
/// effect: the new deployment places by the new constraint and strategy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_service_changes_placement_and_settings() {
    use aws_sdk_ecs::types::{
        AvailabilityZoneRebalancing, DeploymentCircuitBreaker, DeploymentConfiguration,
        DeploymentController, DeploymentControllerType, PropagateTags,
    };
    let f = crate::support::Flotilla::start();
    let ecs = f.ecs();
    let _agents = crate::support::HollowAgents::start_with(&f, "default", 6, &["--zones", "3"]);
    crate::support::registered_instances(&ecs, "default", 6).await;
    crate::support::register_hollow(&ecs, "web").await;
    ecs.create_service()
        .service_name("web")
        .task_definition("web")
        .desired_count(4)
        .send()
        .await
        .expect("create");
    let updated = ecs
        .update_service()
        .service("web")
        .placement_constraints(member_of("attribute:ecs.availability-zone == zone-b"))
        .placement_strategy(binpack("memory"))
        .health_check_grace_period_seconds(30)
        .enable_ecs_managed_tags(true)
        .propagate_tags(PropagateTags::None)
        .availability_zone_rebalancing(AvailabilityZoneRebalancing::Disabled)
        .deployment_controller(
            DeploymentController::builder()
                .r#type(DeploymentControllerType::Ecs)
                .build()
                .expect("controller"),
        )
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .minimum_healthy_percent(50)
                .maximum_percent(150)
                .deployment_circuit_breaker(
                    DeploymentCircuitBreaker::builder().enable(true).rollback(false).build(),
                )
                .build(),
        )
        .force_new_deployment(true)
        .send()
        .await
        .expect("update");
    let service = updated.service().expect("service");
    assert_eq!(service.health_check_grace_period_seconds(), Some(30));
    assert_eq!(service.placement_strategy()[0].field(), Some("memory"));
    let config = service.deployment_configuration().expect("configuration");
    assert_eq!((config.minimum_healthy_percent(), config.maximum_percent()), (Some(50), Some(150)));
    // The new deployment's tasks all land in zone-b, as the new constraint says, and carry
    // the managed tags.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let listed = ecs.list_tasks().service_name("web").send().await.expect("list");
        if listed.task_arns().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            continue;
        }
        let described = ecs
            .describe_tasks()
            .set_tasks(Some(listed.task_arns().to_vec()))
            .include(aws_sdk_ecs::types::TaskField::Tags)
            .send()
            .await
            .expect("describe");
        let live: Vec<_> =
            described.tasks().iter().filter(|t| t.desired_status() == Some("RUNNING")).collect();
        let in_b = live.iter().filter(|t| t.availability_zone() == Some("zone-b")).count();
        if live.len() == 4 && in_b == 4 {
            assert!(live
                .iter()
                .all(|t| t.tags().iter().any(|g| g.key() == Some("aws:ecs:serviceName"))));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "tasks never all in zone-b: {live:?}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

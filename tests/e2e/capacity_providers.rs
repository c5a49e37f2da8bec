//! Capacity providers: created, described, updated, tagged and deleted as on ECS; a cluster
//! takes providers and a default strategy; a launch's strategy shares tasks by base and weight,
//! each on its provider's agents (`--capacity-provider GROUP`); FARGATE exists by name and is
//! refused at launch.

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    AutoScalingGroupProvider, CapacityProviderField, CapacityProviderStrategyItem, LaunchType,
    ManagedDraining, ManagedScaling, ManagedScalingStatus, ManagedTerminationProtection, Tag,
};

use crate::support::{register_hollow, registered_instances, Flotilla, HollowAgents};

fn group_arn(group: &str) -> String {
    format!(
        "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:0f1e2d3c:autoScalingGroupName/{group}"
    )
}

fn asg(group: &str) -> AutoScalingGroupProvider {
    AutoScalingGroupProvider::builder()
        .auto_scaling_group_arn(group_arn(group))
        .managed_scaling(
            ManagedScaling::builder()
                .status(ManagedScalingStatus::Disabled)
                .target_capacity(100)
                .build(),
        )
        .managed_termination_protection(ManagedTerminationProtection::Disabled)
        .managed_draining(ManagedDraining::Disabled)
        .build()
        .expect("auto scaling group provider")
}

fn item(provider: &str, base: i32, weight: i32) -> CapacityProviderStrategyItem {
    CapacityProviderStrategyItem::builder()
        .capacity_provider(provider)
        .base(base)
        .weight(weight)
        .build()
        .expect("strategy item")
}

async fn create(ecs: &aws_sdk_ecs::Client, name: &str, group: &str) {
    ecs.create_capacity_provider()
        .name(name)
        .auto_scaling_group_provider(asg(group))
        .send()
        .await
        .expect("create capacity provider");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_providers_are_created_described_updated_and_deleted() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    let created = ecs
        .create_capacity_provider()
        .name("spot")
        .auto_scaling_group_provider(asg("spot-asg"))
        .tags(Tag::builder().key("team").value("web").build())
        .send()
        .await
        .expect("create");
    let provider = created.capacity_provider().expect("provider");
    assert_eq!(
        provider.capacity_provider_arn(),
        Some("arn:aws:ecs:us-east-1:000000000000:capacity-provider/spot")
    );
    assert_eq!(provider.status().map(|s| s.as_str()), Some("ACTIVE"));
    let group = provider.auto_scaling_group_provider().expect("group");
    assert_eq!(group.auto_scaling_group_arn(), group_arn("spot-asg"));
    assert_eq!(group.managed_scaling().and_then(|m| m.target_capacity()), Some(100));

    // Twice is refused, and so is another provider over the same group, and reserved names.
    let again = ecs
        .create_capacity_provider()
        .name("spot")
        .auto_scaling_group_provider(asg("other"))
        .send()
        .await
        .expect_err("exists");
    assert_eq!(again.code(), Some("ClientException"), "{again:?}");
    let same_group = ecs
        .create_capacity_provider()
        .name("spot2")
        .auto_scaling_group_provider(asg("spot-asg"))
        .send()
        .await
        .expect_err("group taken");
    assert!(same_group.message().unwrap_or("").contains("already being used"), "{same_group:?}");
    // A provider named after another's group would share its agents: refused.
    let shadow = ecs
        .create_capacity_provider()
        .name("spot-asg")
        .auto_scaling_group_provider(asg("elsewhere"))
        .send()
        .await
        .expect_err("named after another provider's group");
    assert!(shadow.message().unwrap_or("").contains("would belong to both"), "{shadow:?}");
    let reserved = ecs
        .create_capacity_provider()
        .name("fargate-x")
        .auto_scaling_group_provider(asg("x"))
        .send()
        .await
        .expect_err("reserved prefix");
    assert_eq!(reserved.code(), Some("InvalidParameterException"));
    // Managed scaling is refused until cluster auto scaling exists: not accepted and ignored.
    let managed = ecs
        .create_capacity_provider()
        .name("managed")
        .auto_scaling_group_provider(
            AutoScalingGroupProvider::builder()
                .auto_scaling_group_arn(group_arn("m"))
                .managed_scaling(
                    ManagedScaling::builder().status(ManagedScalingStatus::Enabled).build(),
                )
                .build()
                .expect("provider"),
        )
        .send()
        .await
        .expect_err("managed scaling");
    assert!(managed.message().unwrap_or("").contains("not supported yet"), "{managed:?}");

    // Described by name or ARN, with FARGATE's built in; tags only when asked for.
    let all = ecs.describe_capacity_providers().send().await.expect("describe all");
    let names: Vec<&str> = all.capacity_providers().iter().filter_map(|p| p.name()).collect();
    assert_eq!(names, ["FARGATE", "FARGATE_SPOT", "spot"]);
    let some = ecs
        .describe_capacity_providers()
        .capacity_providers("arn:aws:ecs:us-east-1:000000000000:capacity-provider/spot")
        .capacity_providers("nope")
        .include(CapacityProviderField::Tags)
        .send()
        .await
        .expect("describe some");
    assert_eq!(some.capacity_providers()[0].tags().len(), 1);
    assert_eq!(some.failures()[0].reason(), Some("MISSING"));
    let paged = ecs.describe_capacity_providers().max_results(2).send().await.expect("page");
    assert_eq!(paged.capacity_providers().len(), 2);
    let rest = ecs
        .describe_capacity_providers()
        .set_next_token(paged.next_token().map(str::to_string))
        .send()
        .await
        .expect("next page");
    assert_eq!(rest.capacity_providers().len(), 1);

    // Tags through the tagging API.
    let arn = "arn:aws:ecs:us-east-1:000000000000:capacity-provider/spot";
    ecs.tag_resource()
        .resource_arn(arn)
        .tags(Tag::builder().key("tier").value("spot").build())
        .send()
        .await
        .expect("tag");
    let listed = ecs.list_tags_for_resource().resource_arn(arn).send().await.expect("list tags");
    assert_eq!(listed.tags().len(), 2);

    // Updated: what may change, changes.
    let updated = ecs
        .update_capacity_provider()
        .name("spot")
        .auto_scaling_group_provider(
            aws_sdk_ecs::types::AutoScalingGroupProviderUpdate::builder()
                .managed_scaling(
                    ManagedScaling::builder()
                        .status(ManagedScalingStatus::Disabled)
                        .target_capacity(80)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("update");
    let provider = updated.capacity_provider().expect("provider");
    assert_eq!(provider.update_status().map(|s| s.as_str()), Some("UPDATE_COMPLETE"));
    let scaling = provider.auto_scaling_group_provider().and_then(|g| g.managed_scaling());
    assert_eq!(scaling.and_then(|m| m.target_capacity()), Some(80));

    // Deleted: refused while a cluster has it, then INACTIVE; FARGATE cannot be.
    ecs.put_cluster_capacity_providers()
        .cluster("default")
        .capacity_providers("spot")
        .set_default_capacity_provider_strategy(Some(Vec::new()))
        .send()
        .await
        .expect("associate");
    let busy =
        ecs.delete_capacity_provider().capacity_provider("spot").send().await.expect_err("in use");
    assert!(busy.message().unwrap_or("").contains("associated with cluster: default"), "{busy:?}");
    ecs.put_cluster_capacity_providers()
        .cluster("default")
        .set_capacity_providers(Some(Vec::new()))
        .set_default_capacity_provider_strategy(Some(Vec::new()))
        .send()
        .await
        .expect("dissociate");
    let deleted =
        ecs.delete_capacity_provider().capacity_provider("spot").send().await.expect("delete");
    let provider = deleted.capacity_provider().expect("provider");
    assert_eq!(provider.status().map(|s| s.as_str()), Some("INACTIVE"));
    assert_eq!(provider.update_status().map(|s| s.as_str()), Some("DELETE_COMPLETE"));
    let fargate = ecs.delete_capacity_provider().capacity_provider("FARGATE").send().await;
    assert!(fargate.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_takes_capacity_providers_and_a_default_strategy() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    create(&ecs, "blue", "blue-asg").await;
    create(&ecs, "green", "green-asg").await;
    let cluster = ecs
        .create_cluster()
        .cluster_name("web")
        .capacity_providers("blue")
        .default_capacity_provider_strategy(item("blue", 0, 1))
        .send()
        .await
        .expect("create cluster");
    let cluster = cluster.cluster().expect("cluster");
    assert_eq!(cluster.capacity_providers(), ["blue"]);
    assert_eq!(cluster.default_capacity_provider_strategy()[0].capacity_provider(), "blue");

    let put = ecs
        .put_cluster_capacity_providers()
        .cluster("web")
        .capacity_providers("blue")
        .capacity_providers("green")
        .capacity_providers("FARGATE")
        .default_capacity_provider_strategy(item("green", 1, 2))
        .default_capacity_provider_strategy(item("blue", 0, 1))
        .send()
        .await
        .expect("put");
    let cluster = put.cluster().expect("cluster");
    assert_eq!(cluster.capacity_providers(), ["blue", "green", "FARGATE"]);
    assert_eq!(cluster.default_capacity_provider_strategy().len(), 2);

    // A strategy naming a provider the cluster lacks, a missing provider, one of another cluster.
    let stray = ecs
        .put_cluster_capacity_providers()
        .cluster("web")
        .capacity_providers("blue")
        .default_capacity_provider_strategy(item("green", 0, 1))
        .send()
        .await
        .expect_err("not associated");
    assert_eq!(stray.code(), Some("InvalidParameterException"), "{stray:?}");
    let missing = ecs
        .put_cluster_capacity_providers()
        .cluster("web")
        .capacity_providers("nope")
        .set_default_capacity_provider_strategy(Some(Vec::new()))
        .send()
        .await
        .expect_err("missing");
    assert!(missing.message().unwrap_or("").contains("does not exist"), "{missing:?}");
    let elsewhere = ecs
        .put_cluster_capacity_providers()
        .cluster("default")
        .capacity_providers("blue")
        .set_default_capacity_provider_strategy(Some(Vec::new()))
        .send()
        .await
        .expect_err("another cluster's");
    assert!(elsewhere.message().unwrap_or("").contains("already associated"), "{elsewhere:?}");
    let nowhere = ecs
        .put_cluster_capacity_providers()
        .cluster("nope")
        .capacity_providers("blue")
        .set_default_capacity_provider_strategy(Some(Vec::new()))
        .send()
        .await
        .expect_err("no cluster");
    assert_eq!(nowhere.code(), Some("ClusterNotFoundException"));
    let described = ecs.describe_clusters().clusters("web").send().await.expect("describe");
    assert_eq!(described.clusters()[0].capacity_providers(), ["blue", "green", "FARGATE"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_go_to_providers_by_base_and_weight() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    create(&ecs, "steady", "steady-asg").await;
    // A provider whose group is its own name: agents may join by either.
    create(&ecs, "spot", "spot-group").await;
    ecs.create_cluster().cluster_name("mix").send().await.expect("create cluster");
    let _steady = HollowAgents::start_with(&f, "mix", 2, &["--capacity-provider", "steady-asg"]);
    let _spot = HollowAgents::start_with(&f, "mix", 2, &["--capacity-provider", "spot"]);
    let _none = HollowAgents::start(&f, "mix", 1);
    let instances = registered_instances(&ecs, "mix", 5).await;
    let described = ecs
        .describe_container_instances()
        .cluster("mix")
        .set_container_instances(Some(instances))
        .send()
        .await
        .expect("describe instances");
    let mut providers: Vec<Option<&str>> =
        described.container_instances().iter().map(|i| i.capacity_provider_name()).collect();
    providers.sort();
    assert_eq!(providers, [None, Some("spot"), Some("spot"), Some("steady"), Some("steady")]);
    let provider_of = |instance: &str| {
        described
            .container_instances()
            .iter()
            .find(|i| i.container_instance_arn() == Some(instance))
            .and_then(|i| i.capacity_provider_name())
            .map(str::to_string)
    };

    ecs.put_cluster_capacity_providers()
        .cluster("mix")
        .capacity_providers("steady")
        .capacity_providers("spot")
        .capacity_providers("FARGATE")
        .default_capacity_provider_strategy(item("steady", 2, 1))
        .default_capacity_provider_strategy(item("spot", 0, 3))
        .send()
        .await
        .expect("put providers");
    register_hollow(&ecs, "job").await;

    // The cluster's default strategy: base 2 on steady, then 1:3 → 10 tasks = 4 steady, 6 spot.
    let run =
        ecs.run_task().cluster("mix").task_definition("job").count(10).send().await.expect("run");
    assert!(run.failures().is_empty(), "{:?}", run.failures());
    let count = |name: &str, tasks: &[aws_sdk_ecs::types::Task]| {
        tasks.iter().filter(|t| t.capacity_provider_name() == Some(name)).count()
    };
    assert_eq!((count("steady", run.tasks()), count("spot", run.tasks())), (4, 6));
    for task in run.tasks() {
        // Each on an agent of its own provider.
        let instance = task.container_instance_arn().expect("placed");
        assert_eq!(provider_of(instance).as_deref(), task.capacity_provider_name());
        assert_eq!(task.launch_type().map(|l| l.as_str()), Some("EC2"));
    }

    // The request's own strategy wins; with a launch type, there is none.
    let run = ecs
        .run_task()
        .cluster("mix")
        .task_definition("job")
        .count(3)
        .capacity_provider_strategy(item("spot", 0, 1))
        .send()
        .await
        .expect("run on spot");
    assert_eq!(count("spot", run.tasks()), 3);
    let ec2 = ecs
        .run_task()
        .cluster("mix")
        .task_definition("job")
        .launch_type(LaunchType::Ec2)
        .send()
        .await
        .expect("run with a launch type");
    assert_eq!(ec2.tasks()[0].capacity_provider_name(), None);
    let both = ecs
        .run_task()
        .cluster("mix")
        .task_definition("job")
        .launch_type(LaunchType::Ec2)
        .capacity_provider_strategy(item("spot", 0, 1))
        .send()
        .await
        .expect_err("both");
    assert!(both.message().unwrap_or("").contains("Specifying both a launch type"), "{both:?}");
    let fargate = ecs
        .run_task()
        .cluster("mix")
        .task_definition("job")
        .capacity_provider_strategy(item("FARGATE", 0, 1))
        .send()
        .await
        .expect_err("fargate");
    // FARGATE runs on the Fargate capacity: a bridge definition cannot go there.
    assert!(
        fargate.message().unwrap_or("").contains("does not support launch_type FARGATE"),
        "{fargate:?}"
    );
    // A provider in use cannot be taken away from the cluster.
    let busy = ecs
        .put_cluster_capacity_providers()
        .cluster("mix")
        .capacity_providers("steady")
        .set_default_capacity_provider_strategy(Some(Vec::new()))
        .send()
        .await
        .expect_err("spot is in use");
    assert_eq!(busy.code(), Some("ResourceInUseException"), "{busy:?}");
}

/// The provider of each of a service's live tasks, counted.
async fn service_shares(ecs: &aws_sdk_ecs::Client, service: &str) -> (usize, usize, usize) {
    let listed = ecs
        .list_tasks()
        .cluster("mix")
        .service_name(service)
        .max_results(100)
        .send()
        .await
        .expect("list tasks");
    if listed.task_arns().is_empty() {
        return (0, 0, 0);
    }
    let described = ecs
        .describe_tasks()
        .cluster("mix")
        .set_tasks(Some(listed.task_arns().to_vec()))
        .send()
        .await
        .expect("describe tasks");
    let live: Vec<_> =
        described.tasks().iter().filter(|t| t.last_status() != Some("STOPPED")).collect();
    let of = |name: &str| live.iter().filter(|t| t.capacity_provider_name() == Some(name)).count();
    (of("steady"), of("spot"), live.len())
}

/// Waits until the service's live tasks are shared as `expected` (steady, spot, all).
async fn wait_shares(ecs: &aws_sdk_ecs::Client, service: &str, expected: (usize, usize, usize)) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let shares = service_shares(ecs, service).await;
        if shares == expected {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "shares {shares:?}, wanted {expected:?}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_keep_their_tasks_shared_by_their_strategy() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    create(&ecs, "steady", "steady-asg").await;
    create(&ecs, "spot", "spot-asg").await;
    ecs.create_cluster()
        .cluster_name("mix")
        .capacity_providers("steady")
        .capacity_providers("spot")
        .default_capacity_provider_strategy(item("spot", 0, 1))
        .send()
        .await
        .expect("create cluster");
    let _steady = HollowAgents::start_with(&f, "mix", 2, &["--capacity-provider", "steady-asg"]);
    let _spot = HollowAgents::start_with(&f, "mix", 2, &["--capacity-provider", "spot-asg"]);
    registered_instances(&ecs, "mix", 4).await;
    register_hollow(&ecs, "web").await;

    // Base 2 on steady, the rest 1:1: 8 tasks → 5 steady, 3 spot.
    let created = ecs
        .create_service()
        .cluster("mix")
        .service_name("web")
        .task_definition("web")
        .desired_count(8)
        .capacity_provider_strategy(item("steady", 2, 1))
        .capacity_provider_strategy(item("spot", 0, 1))
        .send()
        .await
        .expect("create service");
    let service = created.service().expect("service");
    assert_eq!(service.launch_type(), None, "a strategy, not a launch type");
    assert_eq!(service.capacity_provider_strategy().len(), 2);
    wait_shares(&ecs, "web", (5, 3, 8)).await;

    // Growing keeps the shares: 12 → 2 + 5 + 5.
    ecs.update_service()
        .cluster("mix")
        .service("web")
        .desired_count(12)
        .send()
        .await
        .expect("scale");
    wait_shares(&ecs, "web", (7, 5, 12)).await;

    // An empty strategy is the cluster's default (all on spot): a deployment moves the tasks.
    let updated = ecs
        .update_service()
        .cluster("mix")
        .service("web")
        .set_capacity_provider_strategy(Some(Vec::new()))
        .send()
        .await
        .expect("use the cluster's default");
    let strategy = updated.service().expect("service").capacity_provider_strategy();
    assert_eq!(strategy[0].capacity_provider(), "spot");
    wait_shares(&ecs, "web", (0, 12, 12)).await;

    // A service on the cluster's default strategy, and DAEMON refusing one.
    let default = ecs
        .create_service()
        .cluster("mix")
        .service_name("api")
        .task_definition("web")
        .desired_count(1)
        .send()
        .await
        .expect("create on the default strategy");
    let strategy = default.service().expect("service").capacity_provider_strategy();
    assert_eq!(strategy[0].capacity_provider(), "spot");
    let daemon = ecs
        .create_service()
        .cluster("mix")
        .service_name("agentd")
        .task_definition("web")
        .scheduling_strategy(aws_sdk_ecs::types::SchedulingStrategy::Daemon)
        .capacity_provider_strategy(item("spot", 0, 1))
        .send()
        .await
        .expect_err("daemon with a strategy");
    assert_eq!(daemon.code(), Some("InvalidParameterException"), "{daemon:?}");
}

/// Concurrent creations of one name, however the writer batches them: exactly one succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creations_of_one_provider_make_one() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    let mut calls = Vec::new();
    for n in 0..16 {
        let ecs = ecs.clone();
        calls.push(tokio::spawn(async move {
            ecs.create_capacity_provider()
                .name("race")
                .auto_scaling_group_provider(asg(&format!("race-{n}")))
                .send()
                .await
                .is_ok()
        }));
    }
    let mut made = 0;
    for call in calls {
        made += usize::from(call.await.expect("join"));
    }
    assert_eq!(made, 1, "one name, one provider");
}

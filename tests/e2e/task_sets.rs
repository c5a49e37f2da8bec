//! The EXTERNAL deployment controller: an outside tool deploys a service through task sets
//! (CreateTaskSet, UpdateTaskSet, UpdateServicePrimaryTaskSet, DeleteTaskSet,
//! DescribeTaskSets), each running `scale` percent of the service's desired count from its own
//! task definition, as a blue/green tool drives them on ECS.

use std::time::{Duration, Instant};

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    AutoScalingGroupProvider, CapacityProviderStrategyItem, ContainerDefinition,
    DeploymentController, DeploymentControllerType, LaunchType, Scale, ScaleUnit, Tag, TaskSet,
};

use crate::support::{registered_instances, Flotilla, HollowAgents};

async fn register(ecs: &aws_sdk_ecs::Client, image: &str) -> String {
    let out = ecs
        .register_task_definition()
        .family("web")
        .container_definitions(
            ContainerDefinition::builder().name("web").image(image).memory(32).build(),
        )
        .send()
        .await
        .expect("register");
    out.task_definition().and_then(|t| t.task_definition_arn()).expect("arn").to_string()
}

fn percent(value: f64) -> Scale {
    Scale::builder().value(value).unit(ScaleUnit::Percent).build()
}

async fn sets(ecs: &aws_sdk_ecs::Client) -> Vec<TaskSet> {
    let out = ecs
        .describe_task_sets()
        .cluster("default")
        .service("web")
        .send()
        .await
        .expect("describe task sets");
    out.task_sets().to_vec()
}

/// Waits until the task sets satisfy `check`.
async fn wait_sets(ecs: &aws_sdk_ecs::Client, what: &str, check: impl Fn(&[TaskSet]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let sets = sets(ecs).await;
        if check(&sets) {
            return;
        }
        assert!(Instant::now() < deadline, "never {what}: {sets:#?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn by_id<'s>(sets: &'s [TaskSet], id: &str) -> Option<&'s TaskSet> {
    sets.iter().find(|s| s.id() == Some(id))
}

/// The providers of the live tasks started by task set `id`.
async fn providers_of(ecs: &aws_sdk_ecs::Client, id: &str) -> Vec<Option<String>> {
    let listed = ecs.list_tasks().started_by(id).send().await.expect("list tasks");
    if listed.task_arns().is_empty() {
        return Vec::new();
    }
    let described = ecs
        .describe_tasks()
        .set_tasks(Some(listed.task_arns().to_vec()))
        .send()
        .await
        .expect("describe tasks");
    described.tasks().iter().map(|t| t.capacity_provider_name().map(str::to_string)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_service_runs_its_task_sets() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    ecs.create_capacity_provider()
        .name("blue")
        .auto_scaling_group_provider(
            AutoScalingGroupProvider::builder()
                .auto_scaling_group_arn("arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1:autoScalingGroupName/blue-asg")
                .build()
                .expect("provider"),
        )
        .send()
        .await
        .expect("create capacity provider");
    ecs.put_cluster_capacity_providers()
        .cluster("default")
        .capacity_providers("blue")
        .set_default_capacity_provider_strategy(Some(Vec::new()))
        .send()
        .await
        .expect("associate");
    let _plain = HollowAgents::start(&f, "default", 2);
    let _blue = HollowAgents::start_with(&f, "default", 2, &["--capacity-provider", "blue-asg"]);
    registered_instances(&ecs, "default", 4).await;
    let v1 = register(&ecs, "flotilla/demo:v1").await;
    let v2 = register(&ecs, "flotilla/demo:v2").await;

    let external = DeploymentController::builder()
        .r#type(DeploymentControllerType::External)
        .build()
        .expect("controller");
    let refused = ecs
        .create_service()
        .service_name("web")
        .task_definition(&v1)
        .desired_count(4)
        .deployment_controller(external.clone())
        .send()
        .await
        .expect_err("task definitions come from task sets");
    assert_eq!(refused.code(), Some("InvalidParameterException"));
    let created = ecs
        .create_service()
        .service_name("web")
        .desired_count(4)
        .deployment_controller(external)
        .send()
        .await
        .expect("create an EXTERNAL service");
    let service = created.service().expect("service");
    assert_eq!(service.deployment_controller().map(|c| c.r#type().as_str()), Some("EXTERNAL"));
    assert!(service.deployments().is_empty() && service.task_sets().is_empty());

    // Blue: all of the desired count, on the EC2 launch type.
    let blue = ecs
        .create_task_set()
        .cluster("default")
        .service("web")
        .task_definition(&v1)
        .external_id("deploy-1")
        .launch_type(LaunchType::Ec2)
        .scale(percent(100.0))
        .client_token("token-1")
        .tags(Tag::builder().key("color").value("blue").build())
        .send()
        .await
        .expect("create the blue task set");
    let blue = blue.task_set().expect("task set").clone();
    let blue_id = blue.id().expect("id").to_string();
    assert!(blue_id.starts_with("ecs-svc/"), "{blue_id}");
    assert!(blue
        .task_set_arn()
        .unwrap_or("")
        .ends_with(&format!("task-set/default/web/{blue_id}")));
    assert_eq!((blue.status(), blue.computed_desired_count()), (Some("ACTIVE"), 4));
    // A task set is taggable by its ARN, like every ECS resource.
    let arn = blue.task_set_arn().expect("arn").to_string();
    ecs.tag_resource()
        .resource_arn(&arn)
        .tags(Tag::builder().key("stage").value("live").build())
        .send()
        .await
        .expect("tag the task set");
    let listed = ecs.list_tags_for_resource().resource_arn(&arn).send().await.expect("tags");
    let mut keys: Vec<&str> = listed.tags().iter().filter_map(|t| t.key()).collect();
    keys.sort();
    assert_eq!(keys, ["color", "stage"]);
    let again = ecs
        .create_task_set()
        .cluster("default")
        .service("web")
        .task_definition(&v1)
        .client_token("token-1")
        .send()
        .await
        .expect("a retry");
    assert_eq!(
        again.task_set().and_then(|s| s.id()),
        Some(blue_id.as_str()),
        "same token, same set"
    );
    wait_sets(&ecs, "blue running", |s| {
        by_id(s, &blue_id).is_some_and(|b| {
            b.running_count() == 4
                && b.stability_status().map(|x| x.as_str()) == Some("STEADY_STATE")
        })
    })
    .await;
    ecs.update_service_primary_task_set()
        .cluster("default")
        .service("web")
        .primary_task_set(&blue_id)
        .send()
        .await
        .expect("blue is primary");
    let described = ecs.describe_services().services("web").send().await.expect("describe");
    assert_eq!(described.services()[0].task_definition(), Some(v1.as_str()));

    // Green: half, then all, on the blue provider's agents; then it becomes primary.
    let green = ecs
        .create_task_set()
        .cluster("default")
        .service("web")
        .task_definition(&v2)
        .scale(percent(50.0))
        .capacity_provider_strategy(
            CapacityProviderStrategyItem::builder()
                .capacity_provider("blue")
                .weight(1)
                .build()
                .expect("item"),
        )
        .send()
        .await
        .expect("create the green task set");
    let green_id = green.task_set().and_then(|s| s.id()).expect("id").to_string();
    wait_sets(&ecs, "green at half", |s| {
        by_id(s, &green_id).is_some_and(|g| g.running_count() == 2)
    })
    .await;
    assert!(providers_of(&ecs, &green_id).await.iter().all(|p| p.as_deref() == Some("blue")));
    ecs.update_task_set()
        .cluster("default")
        .service("web")
        .task_set(&green_id)
        .scale(percent(100.0))
        .send()
        .await
        .expect("scale green up");
    wait_sets(&ecs, "green at full", |s| {
        by_id(s, &green_id).is_some_and(|g| g.running_count() == 4)
    })
    .await;
    ecs.update_service_primary_task_set()
        .cluster("default")
        .service("web")
        .primary_task_set(&green_id)
        .send()
        .await
        .expect("green is primary");
    let now = sets(&ecs).await;
    assert_eq!(by_id(&now, &green_id).and_then(|s| s.status()), Some("PRIMARY"));
    assert_eq!(by_id(&now, &blue_id).and_then(|s| s.status()), Some("ACTIVE"));

    // Blue goes: not while it runs tasks (unless forced); once scaled to zero, it drains away.
    let busy = ecs
        .delete_task_set()
        .cluster("default")
        .service("web")
        .task_set(&blue_id)
        .send()
        .await
        .expect_err("still running");
    assert_eq!(busy.code(), Some("InvalidParameterException"));
    ecs.update_task_set()
        .cluster("default")
        .service("web")
        .task_set(&blue_id)
        .scale(percent(0.0))
        .send()
        .await
        .expect("scale blue down");
    wait_sets(&ecs, "blue empty", |s| by_id(s, &blue_id).is_some_and(|b| b.running_count() == 0))
        .await;
    let deleted = ecs
        .delete_task_set()
        .cluster("default")
        .service("web")
        .task_set(&blue_id)
        .send()
        .await
        .expect("delete blue");
    assert_eq!(deleted.task_set().and_then(|s| s.status()), Some("DRAINING"));
    wait_sets(&ecs, "only green left", |s| s.len() == 1 && s[0].id() == Some(&green_id)).await;

    // Describing names, a missing one, tags; updating what task sets own is refused.
    let named = ecs
        .describe_task_sets()
        .cluster("default")
        .service("web")
        .task_sets(&green_id)
        .task_sets("ecs-svc/0")
        .include(aws_sdk_ecs::types::TaskSetField::Tags)
        .send()
        .await
        .expect("describe named");
    assert_eq!(named.task_sets().len(), 1);
    assert_eq!(named.failures()[0].reason(), Some("MISSING"));
    let update = ecs
        .update_service()
        .service("web")
        .task_definition(&v1)
        .send()
        .await
        .expect_err("task sets own the task definition");
    assert_eq!(update.code(), Some("InvalidParameterException"));
    ecs.update_service().service("web").desired_count(2).send().await.expect("scale the service");
    wait_sets(&ecs, "green follows the desired count", |s| {
        s[0].computed_desired_count() == 2 && s[0].running_count() == 2
    })
    .await;

    // Task sets belong to EXTERNAL services only.
    ecs.create_service()
        .service_name("plain")
        .task_definition(&v1)
        .desired_count(0)
        .send()
        .await
        .expect("plain");
    let plain = ecs
        .create_task_set()
        .cluster("default")
        .service("plain")
        .task_definition(&v1)
        .send()
        .await
        .expect_err("not EXTERNAL");
    assert_eq!(plain.code(), Some("InvalidParameterException"));
    let missing = ecs
        .update_task_set()
        .cluster("default")
        .service("web")
        .task_set("ecs-svc/0")
        .scale(percent(10.0))
        .send()
        .await
        .expect_err("no such task set");
    assert_eq!(missing.code(), Some("TaskSetNotFoundException"));

    // Deleting the service drains its task sets.
    ecs.delete_service().service("web").force(true).send().await.expect("delete service");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = ecs.describe_services().services("web").send().await.expect("describe");
        if out.services()[0].status() == Some("INACTIVE") {
            break;
        }
        assert!(Instant::now() < deadline, "the service never became INACTIVE");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

//! ECS's errors in ECS's order and words: a missing cluster is reported before anything else
//! about the request, and the messages ECS documents are ECS's own; members ECS omits when
//! empty (tags) are omitted.

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::ContainerDefinition;

use serde_json::json;

use crate::support::Flotilla;

/// With the cluster omitted and no `default` cluster, ECS answers ClusterNotFoundException
/// before it judges anything else in the request.
#[tokio::test]
async fn a_missing_default_cluster_is_reported_first() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    ecs.delete_cluster().cluster("default").send().await.expect("delete the default cluster");

    let empty = ecs
        .describe_container_instances()
        .set_container_instances(Some(Vec::new()))
        .send()
        .await
        .expect_err("no cluster");
    assert_eq!(empty.code(), Some("ClusterNotFoundException"), "{empty:?}");
    let delete = ecs.delete_service().service("web").send().await.expect_err("no cluster");
    assert_eq!(delete.code(), Some("ClusterNotFoundException"), "{delete:?}");
    let describe = ecs.describe_services().services("web").send().await.expect_err("no cluster");
    assert_eq!(describe.code(), Some("ClusterNotFoundException"), "{describe:?}");
    let stop = ecs.stop_task().task("0123456789abcdef").send().await.expect_err("no cluster");
    assert_eq!(stop.code(), Some("ClusterNotFoundException"), "{stop:?}");
}

/// The messages ECS documents for these mistakes are ECS's own.
#[tokio::test]
async fn messages_are_ecs_own() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    let empty = ecs
        .describe_container_instances()
        .set_container_instances(Some(Vec::new()))
        .send()
        .await
        .expect_err("empty list");
    assert_eq!(empty.code(), Some("InvalidParameterException"), "{empty:?}");
    assert_eq!(empty.message(), Some("Container Instances cannot be empty."));

    let unnamed = ecs
        .register_task_definition()
        .family("web")
        .container_definitions(
            ContainerDefinition::builder().image("flotilla/demo").memory(32).build(),
        )
        .send()
        .await
        .expect_err("a container without a name");
    assert_eq!(unnamed.code(), Some("ClientException"), "{unnamed:?}");
    assert!(
        unnamed
            .message()
            .is_some_and(|m| m.contains("Container.name should not be null or empty.")),
        "{unnamed:?}"
    );

    let bare = ecs.deregister_task_definition().task_definition("web").send().await;
    let bare = bare.expect_err("a family without a revision");
    assert_eq!(bare.code(), Some("ClientException"), "{bare:?}");
    assert_eq!(bare.message(), Some("Revision is missing."));
}

/// A resource without tags comes back without a `tags` member, as ECS answers it.
#[tokio::test]
async fn empty_tags_are_omitted() {
    let f = Flotilla::start();
    let created = f.ecs().create_cluster().cluster_name("bare").send().await.expect("create");
    let request = serde_json::json!({"clusters": ["bare"], "include": ["TAGS"]});
    let (status, body) = f.signed_call("DescribeClusters", request.to_string().as_bytes());
    assert_eq!(status, 200, "{body}");
    let cluster = &body["clusters"][0];
    assert_eq!(cluster["clusterName"], "bare");
    assert!(cluster.get("tags").is_none(), "an empty tags member: {cluster}");
    assert!(created.cluster().is_some_and(|c| c.tags().is_empty()));
}

/// A Fargate definition is checked as ECS checks it, with ECS's messages; a valid one registers
/// with FARGATE among its compatibilities.
#[tokio::test]
async fn fargate_definitions_get_ecs_validation() {
    use aws_sdk_ecs::types::{Compatibility, NetworkMode};
    let f = Flotilla::start();
    let ecs = f.ecs();
    let register = |mode: Option<NetworkMode>, cpu: &str, memory: &str| {
        ecs.register_task_definition()
            .family("fargate")
            .requires_compatibilities(Compatibility::Fargate)
            .set_network_mode(mode)
            .cpu(cpu)
            .memory(memory)
            .container_definitions(ContainerDefinition::builder().name("app").image("x").build())
            .send()
    };
    let bridge = register(None, "256", "512").await.expect_err("bridge mode");
    assert_eq!(bridge.code(), Some("ClientException"), "{bridge:?}");
    assert_eq!(
        bridge.message(),
        Some("Fargate only supports network mode \u{2018}awsvpc\u{2019}.")
    );

    let size = register(Some(NetworkMode::Awsvpc), "256", "4096").await.expect_err("no such size");
    assert_eq!(size.code(), Some("ClientException"), "{size:?}");
    assert_eq!(
        size.message(),
        Some(
            "No Fargate configuration exists for given values: 256 CPU, 4096 memory. See the \
             Amazon ECS documentation for the valid values."
        )
    );

    let valid = register(Some(NetworkMode::Awsvpc), "1024", "2GB").await.expect("registered");
    let definition = valid.task_definition().expect("the definition");
    assert!(
        definition.compatibilities().contains(&Compatibility::Fargate),
        "{:?}",
        definition.compatibilities()
    );
    let families = ecs.list_task_definition_families().send().await.expect("families");
    assert_eq!(families.families(), ["fargate"], "only the valid one was stored");
}

/// The error table's first row: every operation that names a cluster answers
/// ClusterNotFoundException ("Cluster not found.") for one that does not exist or was deleted,
/// before judging the rest of the request (DescribeClusters lists it as a MISSING failure).
#[tokio::test]
async fn every_operation_naming_a_missing_or_deleted_cluster_answers_cluster_not_found() {
    let f = Flotilla::start();
    f.ecs().create_cluster().cluster_name("gone").send().await.expect("create");
    f.ecs().delete_cluster().cluster("gone").send().await.expect("delete");
    let arn = "arn:aws:ecs:us-east-1:000000000000";
    let requests: [(&str, serde_json::Value); 20] = [
        ("CreateService", json!({"serviceName": "s", "taskDefinition": "td", "desiredCount": 1})),
        ("UpdateService", json!({"service": "s"})),
        ("DeleteService", json!({"service": "s"})),
        ("DescribeServices", json!({"services": ["s"]})),
        ("ListServices", json!({})),
        ("RunTask", json!({"taskDefinition": "td"})),
        ("StartTask", json!({"taskDefinition": "td", "containerInstances": ["i"]})),
        ("StopTask", json!({"task": "t"})),
        ("DescribeTasks", json!({"tasks": ["t"]})),
        ("ListTasks", json!({})),
        ("DescribeContainerInstances", json!({"containerInstances": ["i"]})),
        ("ListContainerInstances", json!({})),
        ("DeregisterContainerInstance", json!({"containerInstance": "i"})),
        (
            "UpdateContainerInstancesState",
            json!({"containerInstances": ["i"], "status": "DRAINING"}),
        ),
        (
            "PutAttributes",
            json!({"attributes": [{"name": "a", "targetId": format!("{arn}:container-instance/x/i")}]}),
        ),
        (
            "DeleteAttributes",
            json!({"attributes": [{"name": "a", "targetId": format!("{arn}:container-instance/x/i")}]}),
        ),
        ("ListAttributes", json!({"targetType": "container-instance"})),
        ("UpdateCluster", json!({"settings": [{"name": "containerInsights", "value": "enabled"}]})),
        (
            "UpdateClusterSettings",
            json!({"settings": [{"name": "containerInsights", "value": "enabled"}]}),
        ),
        ("DeleteCluster", json!({})),
    ];
    for cluster in ["nope", "gone", &format!("{arn}:cluster/nope")] {
        for (operation, request) in &requests {
            let mut request = request.clone();
            request["cluster"] = json!(cluster);
            let (status, body) = f.signed_call(operation, request.to_string().as_bytes());
            assert_eq!(
                (status, body["__type"].as_str(), body["message"].as_str()),
                (400, Some("ClusterNotFoundException"), Some("Cluster not found.")),
                "{operation} on cluster {cluster}: {body}"
            );
        }
        let body = json!({"clusters": [cluster]}).to_string();
        let (status, described) = f.signed_call("DescribeClusters", body.as_bytes());
        assert_eq!(status, 200);
        let inactive = described["clusters"][0]["status"] == "INACTIVE";
        let missing = described["failures"][0]["reason"] == "MISSING";
        assert!(inactive || missing, "{described}");
    }
}

/// The error table's other rows: a missing or deleted service, a missing task definition, a
/// missing container instance, each answered with ECS's type and words.
#[tokio::test]
async fn missing_services_definitions_and_instances_get_ecs_errors() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    ecs.register_task_definition()
        .family("td")
        .container_definitions(
            ContainerDefinition::builder().name("app").image("flotilla/demo").memory(32).build(),
        )
        .send()
        .await
        .expect("register");
    ecs.create_service()
        .service_name("old")
        .task_definition("td")
        .desired_count(0)
        .send()
        .await
        .expect("create");
    ecs.delete_service().service("old").send().await.expect("delete");
    let cases: [(&str, serde_json::Value, &str, &str); 9] = [
        (
            "UpdateService",
            json!({"service": "nope"}),
            "ServiceNotFoundException",
            "Service not found.",
        ),
        (
            "DeleteService",
            json!({"service": "nope"}),
            "ServiceNotFoundException",
            "Service not found.",
        ),
        (
            "UpdateService",
            json!({"service": "old"}),
            "ServiceNotActiveException",
            "Service was not ACTIVE.",
        ),
        (
            "ListTasks",
            json!({"serviceName": "nope"}),
            "ServiceNotFoundException",
            "Service not found.",
        ),
        (
            "CreateService",
            json!({"serviceName": "s", "taskDefinition": "nope", "desiredCount": 1}),
            "ClientException",
            "TaskDefinition not found.",
        ),
        (
            "UpdateService",
            json!({"service": "missing-def", "taskDefinition": "nope"}),
            "ServiceNotFoundException",
            "Service not found.",
        ),
        (
            "DescribeTaskDefinition",
            json!({"taskDefinition": "nope"}),
            "ClientException",
            "Unable to describe task definition.",
        ),
        (
            "DescribeTaskDefinition",
            json!({"taskDefinition": "td:9"}),
            "ClientException",
            "Unable to describe task definition.",
        ),
        (
            "RunTask",
            json!({"taskDefinition": "nope"}),
            "ClientException",
            "Unable to describe task definition.",
        ),
    ];
    for (operation, request, code, message) in cases {
        let (status, body) = f.signed_call(operation, request.to_string().as_bytes());
        assert_eq!(
            (status, body["__type"].as_str(), body["message"].as_str()),
            (400, Some(code), Some(message)),
            "{operation} {request}: {body}"
        );
    }
    // StartTask reports an instance that is not there as a failure, as ECS does.
    let request = json!({"taskDefinition": "td", "containerInstances": ["0123456789abcdef"]});
    let (status, body) = f.signed_call("StartTask", request.to_string().as_bytes());
    assert_eq!((status, &body["failures"][0]["reason"]), (200, &json!("MISSING")), "{body}");
}

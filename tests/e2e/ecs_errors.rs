//! ECS's errors in ECS's order and words: a missing cluster is reported before anything else
//! about the request, and the messages ECS documents are ECS's own; members ECS omits when
//! empty (tags) are omitted.

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::ContainerDefinition;

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

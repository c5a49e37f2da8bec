//! Clusters through the SDK: create (idempotent), describe, list with pages, update, delete.

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{ClusterField, ClusterSetting, ClusterSettingName, Tag};

use crate::support::Flotilla;

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

#[tokio::test]
async fn default_cluster_exists_from_the_start() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    let out = ecs.describe_clusters().send().await.expect("describe");
    let clusters = out.clusters();
    assert_eq!(clusters.len(), 1);
    assert_eq!(clusters[0].cluster_name(), Some("default"));
    assert_eq!(clusters[0].status(), Some("ACTIVE"));
    assert_eq!(
        clusters[0].cluster_arn(),
        Some("arn:aws:ecs:us-east-1:000000000000:cluster/default")
    );
}

#[tokio::test]
async fn create_is_idempotent_and_keeps_tags_and_settings() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    let created = ecs
        .create_cluster()
        .cluster_name("prod")
        .tags(tag("team", "web"))
        .settings(
            ClusterSetting::builder()
                .name(ClusterSettingName::ContainerInsights)
                .value("enabled")
                .build(),
        )
        .send()
        .await
        .expect("create");
    let cluster = created.cluster().expect("cluster");
    assert_eq!(cluster.cluster_name(), Some("prod"));
    assert_eq!(cluster.tags().len(), 1);

    let again = ecs.create_cluster().cluster_name("prod").send().await.expect("create again");
    assert_eq!(again.cluster().and_then(|c| c.cluster_arn()), cluster.cluster_arn());
    // The second call does not replace what the first one set.
    assert_eq!(again.cluster().map(|c| c.tags().len()), Some(1));

    let described = ecs
        .describe_clusters()
        .clusters("prod")
        .include(ClusterField::Tags)
        .include(ClusterField::Settings)
        .include(ClusterField::Statistics)
        .send()
        .await
        .expect("describe");
    let c = &described.clusters()[0];
    assert_eq!(c.tags()[0].key(), Some("team"));
    assert_eq!(c.settings()[0].value(), Some("enabled"));
    assert!(c.statistics().iter().any(|s| s.name() == Some("runningEC2TasksCount")));
    assert_eq!(c.registered_container_instances_count(), 0);

    let plain = ecs.describe_clusters().clusters("prod").send().await.expect("describe");
    assert!(plain.clusters()[0].tags().is_empty(), "tags only with include TAGS");
}

#[tokio::test]
async fn describe_reports_missing_clusters_as_failures() {
    let f = Flotilla::start();
    let out = f
        .ecs()
        .describe_clusters()
        .clusters("default")
        .clusters("nope")
        .send()
        .await
        .expect("describe");
    assert_eq!(out.clusters().len(), 1);
    let failure = &out.failures()[0];
    assert_eq!(failure.reason(), Some("MISSING"));
    assert_eq!(failure.arn(), Some("arn:aws:ecs:us-east-1:000000000000:cluster/nope"));
}

#[tokio::test]
async fn invalid_names_are_refused_with_invalid_parameter() {
    let f = Flotilla::start();
    let err = f.ecs().create_cluster().cluster_name("bad name!").send().await.expect_err("invalid");
    assert_eq!(err.code(), Some("InvalidParameterException"));
    let err = f
        .ecs()
        .describe_clusters()
        .include(ClusterField::from("NOPE"))
        .send()
        .await
        .expect_err("bad include");
    assert_eq!(err.code(), Some("InvalidParameterException"));
}

#[tokio::test]
async fn list_pages_through_every_cluster_once_in_a_stable_order() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    for i in 0..23 {
        ecs.create_cluster().cluster_name(format!("c{i:02}")).send().await.expect("create");
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page =
            ecs.list_clusters().max_results(5).set_next_token(token).send().await.expect("list");
        assert!(page.cluster_arns().len() <= 5);
        seen.extend(page.cluster_arns().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 24, "23 created plus default");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen);

    // The SDK's paginator agrees.
    let all: Vec<String> = ecs
        .list_clusters()
        .max_results(7)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("paginate");
    assert_eq!(all, seen);

    let err = ecs.list_clusters().max_results(101).send().await.expect_err("too many");
    assert_eq!(err.code(), Some("InvalidParameterException"));
    let err = ecs.list_clusters().next_token("garbage").send().await.expect_err("bad token");
    assert_eq!(err.code(), Some("InvalidParameterException"));
}

#[tokio::test]
async fn update_merges_settings_and_unknown_clusters_are_not_found() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    ecs.create_cluster().cluster_name("u").send().await.expect("create");
    let out = ecs
        .update_cluster_settings()
        .cluster("u")
        .settings(
            ClusterSetting::builder()
                .name(ClusterSettingName::ContainerInsights)
                .value("enhanced")
                .build(),
        )
        .send()
        .await
        .expect("update settings");
    assert_eq!(out.cluster().expect("cluster").settings()[0].value(), Some("enhanced"));
    let out = ecs
        .update_cluster()
        .cluster("arn:aws:ecs:us-east-1:000000000000:cluster/u")
        .settings(
            ClusterSetting::builder()
                .name(ClusterSettingName::ContainerInsights)
                .value("disabled")
                .build(),
        )
        .send()
        .await
        .expect("update by arn");
    assert_eq!(out.cluster().expect("cluster").settings().len(), 1);
    assert_eq!(out.cluster().expect("cluster").settings()[0].value(), Some("disabled"));

    let err = ecs.update_cluster().cluster("ghost").send().await.expect_err("missing");
    assert_eq!(err.code(), Some("ClusterNotFoundException"));
    let err = ecs
        .update_cluster_settings()
        .cluster("u")
        .settings(
            ClusterSetting::builder()
                .name(ClusterSettingName::ContainerInsights)
                .value("maybe")
                .build(),
        )
        .send()
        .await
        .expect_err("bad value");
    assert_eq!(err.code(), Some("InvalidParameterException"));
}

#[tokio::test]
async fn delete_leaves_an_inactive_cluster_that_is_no_longer_listed() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    ecs.create_cluster().cluster_name("gone").send().await.expect("create");
    let out = ecs.delete_cluster().cluster("gone").send().await.expect("delete");
    assert_eq!(out.cluster().and_then(|c| c.status()), Some("INACTIVE"));
    let described = ecs.describe_clusters().clusters("gone").send().await.expect("describe");
    assert_eq!(described.clusters()[0].status(), Some("INACTIVE"));
    let listed = ecs.list_clusters().send().await.expect("list");
    assert!(!listed.cluster_arns().iter().any(|a| a.ends_with("/gone")));
    let err = ecs.delete_cluster().cluster("gone").send().await.expect_err("twice");
    assert_eq!(err.code(), Some("ClusterNotFoundException"));
    // Re-creating brings it back ACTIVE.
    let again = ecs.create_cluster().cluster_name("gone").send().await.expect("recreate");
    assert_eq!(again.cluster().and_then(|c| c.status()), Some("ACTIVE"));
}

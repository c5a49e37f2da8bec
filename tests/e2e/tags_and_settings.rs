//! TagResource / UntagResource / ListTagsForResource and the account settings operations.

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{ContainerDefinition, SettingName, Tag};

use crate::support::Flotilla;

#[tokio::test]
async fn tags_on_clusters_and_task_definitions() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    let cluster = ecs.create_cluster().cluster_name("t").send().await.expect("create");
    let cluster_arn = cluster.cluster().and_then(|c| c.cluster_arn()).expect("arn").to_string();
    ecs.tag_resource()
        .resource_arn(&cluster_arn)
        .tags(Tag::builder().key("a").value("1").build())
        .tags(Tag::builder().key("b").value("2").build())
        .send()
        .await
        .expect("tag");
    ecs.tag_resource()
        .resource_arn(&cluster_arn)
        .tags(Tag::builder().key("a").value("3").build())
        .send()
        .await
        .expect("retag");
    ecs.untag_resource().resource_arn(&cluster_arn).tag_keys("b").send().await.expect("untag");
    let tags = ecs.list_tags_for_resource().resource_arn(&cluster_arn).send().await.expect("list");
    let pairs: Vec<(&str, &str)> =
        tags.tags().iter().map(|t| (t.key().unwrap_or(""), t.value().unwrap_or(""))).collect();
    assert_eq!(pairs, [("a", "3")]);

    let td = ecs
        .register_task_definition()
        .family("tagged")
        .container_definitions(
            ContainerDefinition::builder().name("c").image("x").memory(16).build(),
        )
        .send()
        .await
        .expect("register");
    let td_arn =
        td.task_definition().and_then(|t| t.task_definition_arn()).expect("arn").to_string();
    ecs.tag_resource()
        .resource_arn(&td_arn)
        .tags(Tag::builder().key("k").value("v").build())
        .send()
        .await
        .expect("tag td");
    let tags = ecs.list_tags_for_resource().resource_arn(&td_arn).send().await.expect("list td");
    assert_eq!(tags.tags().len(), 1);

    let err = ecs
        .list_tags_for_resource()
        .resource_arn("arn:aws:ecs:us-east-1:000000000000:cluster/none")
        .send()
        .await
        .expect_err("missing");
    assert_eq!(err.code(), Some("ClusterNotFoundException"));
    let err =
        ecs.list_tags_for_resource().resource_arn("not-an-arn").send().await.expect_err("bad arn");
    assert_eq!(err.code(), Some("InvalidParameterException"));
    let err = ecs
        .tag_resource()
        .resource_arn(&cluster_arn)
        .tags(Tag::builder().key("aws:reserved").value("x").build())
        .send()
        .await
        .expect_err("reserved prefix");
    assert_eq!(err.code(), Some("InvalidParameterException"));
    let fifty_one: Vec<Tag> =
        (0..51).map(|i| Tag::builder().key(format!("k{i}")).value("v").build()).collect();
    let err = ecs
        .tag_resource()
        .resource_arn(&cluster_arn)
        .set_tags(Some(fifty_one))
        .send()
        .await
        .expect_err("too many");
    assert_eq!(err.code(), Some("InvalidParameterException"));
}

#[tokio::test]
async fn account_settings_put_list_delete() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    let effective = ecs
        .list_account_settings()
        .effective_settings(true)
        .max_results(10)
        .send()
        .await
        .expect("list");
    assert_eq!(effective.settings().len(), 10, "first page of the effective settings");
    assert!(effective.next_token().is_some());

    let put = ecs
        .put_account_setting_default()
        .name(SettingName::ContainerInsights)
        .value("enabled")
        .send()
        .await
        .expect("put default");
    assert_eq!(put.setting().and_then(|s| s.value()), Some("enabled"));
    // New clusters inherit the account default.
    let cluster = ecs.create_cluster().cluster_name("insights").send().await.expect("create");
    assert_eq!(cluster.cluster().map(|c| c.settings()[0].value()), Some(Some("enabled")));

    ecs.put_account_setting()
        .name(SettingName::TaskLongArnFormat)
        .value("enabled")
        .send()
        .await
        .expect("put");
    let mine = ecs
        .list_account_settings()
        .name(SettingName::TaskLongArnFormat)
        .send()
        .await
        .expect("list one");
    assert_eq!(mine.settings().len(), 1);
    let deleted = ecs
        .delete_account_setting()
        .name(SettingName::TaskLongArnFormat)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.setting().and_then(|s| s.value()), Some("enabled"));
    let err = ecs
        .put_account_setting()
        .name(SettingName::TaskLongArnFormat)
        .value("sideways")
        .send()
        .await
        .expect_err("bad value");
    assert_eq!(err.code(), Some("InvalidParameterException"));
}

/// Services, tasks and container instances are taggable by ARN, as on ECS, and `include=TAGS`
/// shows their tags (an untagged one has no `tags` member).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_on_services_tasks_and_container_instances() {
    use aws_sdk_ecs::types::{ContainerInstanceField, ServiceField, TaskField};

    let f = Flotilla::start();
    let ecs = f.ecs();
    let _agents = crate::support::HollowAgents::start(&f, "default", 1);
    let instance = crate::support::registered_instances(&ecs, "default", 1).await.remove(0);
    ecs.register_task_definition()
        .family("tagged")
        .container_definitions(
            ContainerDefinition::builder().name("c").image("x").memory(16).build(),
        )
        .send()
        .await
        .expect("register");
    let service = ecs
        .create_service()
        .service_name("svc")
        .task_definition("tagged")
        .desired_count(0)
        .send()
        .await
        .expect("create service");
    let service = service.service().and_then(|s| s.service_arn()).expect("service arn").to_string();
    let run = ecs.run_task().task_definition("tagged").send().await.expect("run task");
    let task = run.tasks().first().and_then(|t| t.task_arn()).expect("task arn").to_string();

    for arn in [&service, &task, &instance] {
        let listed = ecs.list_tags_for_resource().resource_arn(arn).send().await.expect("list");
        assert!(listed.tags().is_empty(), "{arn} starts untagged");
        ecs.tag_resource()
            .resource_arn(arn)
            .tags(tag("team", "web"))
            .tags(tag("env", "test"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("tag {arn}: {e:?}"));
        ecs.untag_resource().resource_arn(arn).tag_keys("env").send().await.expect("untag");
        let listed = ecs.list_tags_for_resource().resource_arn(arn).send().await.expect("list");
        let tags: Vec<(&str, &str)> = listed
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or("")))
            .collect();
        assert_eq!(tags, [("team", "web")], "{arn}");
    }
    let services = ecs.describe_services().services("svc").include(ServiceField::Tags).send().await;
    assert_eq!(services.expect("describe").services()[0].tags().len(), 1);
    let tasks = ecs.describe_tasks().tasks(&task).include(TaskField::Tags).send().await;
    assert_eq!(tasks.expect("describe").tasks()[0].tags().len(), 1);
    let instances = ecs
        .describe_container_instances()
        .container_instances(&instance)
        .include(ContainerInstanceField::Tags)
        .send()
        .await;
    assert_eq!(instances.expect("describe").container_instances()[0].tags().len(), 1);

    let missing = service.replace("/svc", "/nothing");
    let error = ecs.tag_resource().resource_arn(&missing).tags(tag("a", "b")).send().await;
    assert_eq!(error.expect_err("no such service").code(), Some("ServiceNotFoundException"));
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// `propagateTags` and `enableECSManagedTags` reach the tasks of services and of RunTask and
/// StartTask, as on ECS: a service's or task definition's tags, then `aws:ecs:clusterName` and
/// `aws:ecs:serviceName`; UpdateService changes them for the tasks it starts next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propagated_and_managed_tags_reach_tasks() {
    use aws_sdk_ecs::types::{PropagateTags, TaskField};
    use std::time::{Duration, Instant};

    let f = Flotilla::start();
    let ecs = f.ecs();
    let _agents = crate::support::HollowAgents::start(&f, "default", 1);
    let instance = crate::support::registered_instances(&ecs, "default", 1).await.remove(0);
    ecs.register_task_definition()
        .family("tagged")
        .container_definitions(
            ContainerDefinition::builder().name("c").image("x").memory(16).build(),
        )
        .tags(tag("team", "definition"))
        .send()
        .await
        .expect("register");
    let tags_of = |task: aws_sdk_ecs::types::Task| {
        let mut tags: Vec<(String, String)> = task
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or("").to_string(), t.value().unwrap_or("").to_string()))
            .collect();
        tags.sort();
        tags
    };
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> =
            list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        v.sort();
        v
    };
    let described = |arns: Vec<String>| {
        let ecs = ecs.clone();
        async move {
            let out = ecs
                .describe_tasks()
                .set_tasks(Some(arns))
                .include(TaskField::Tags)
                .send()
                .await
                .expect("describe tasks");
            out.tasks().to_vec()
        }
    };

    // RunTask and StartTask.
    let run = ecs
        .run_task()
        .task_definition("tagged")
        .tags(tag("own", "yes"))
        .propagate_tags(PropagateTags::TaskDefinition)
        .enable_ecs_managed_tags(true)
        .send()
        .await
        .expect("run");
    let task = run.tasks()[0].clone();
    assert_eq!(
        tags_of(task),
        pairs(&[("own", "yes"), ("team", "definition"), ("aws:ecs:clusterName", "default")])
    );
    let started = ecs
        .start_task()
        .task_definition("tagged")
        .container_instances(&instance)
        .propagate_tags(PropagateTags::TaskDefinition)
        .enable_ecs_managed_tags(true)
        .send()
        .await
        .expect("start");
    assert_eq!(
        tags_of(started.tasks()[0].clone()),
        pairs(&[("team", "definition"), ("aws:ecs:clusterName", "default")])
    );

    // A service's tasks.
    ecs.create_service()
        .service_name("prop")
        .task_definition("tagged")
        .desired_count(1)
        .tags(tag("owner", "service"))
        .propagate_tags(PropagateTags::Service)
        .enable_ecs_managed_tags(true)
        .send()
        .await
        .expect("create service");
    let service_tasks = |count: usize| {
        let ecs = ecs.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let listed =
                    ecs.list_tasks().service_name("prop").send().await.expect("list tasks");
                if listed.task_arns().len() >= count {
                    return listed.task_arns().to_vec();
                }
                assert!(Instant::now() < deadline, "the service did not start {count} tasks");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let first = service_tasks(1).await;
    let tasks = described(first.clone()).await;
    assert_eq!(
        tags_of(tasks[0].clone()),
        pairs(&[
            ("owner", "service"),
            ("aws:ecs:clusterName", "default"),
            ("aws:ecs:serviceName", "prop")
        ])
    );
    let updated = ecs
        .update_service()
        .service("prop")
        .desired_count(2)
        .propagate_tags(PropagateTags::TaskDefinition)
        .enable_ecs_managed_tags(false)
        .send()
        .await
        .expect("update service");
    let service = updated.service().expect("service");
    assert_eq!(service.propagate_tags(), Some(&PropagateTags::TaskDefinition));
    assert!(!service.enable_ecs_managed_tags());
    let both = service_tasks(2).await;
    let newer: Vec<String> = both.into_iter().filter(|arn| !first.contains(arn)).collect();
    let tasks = described(newer).await;
    assert_eq!(tags_of(tasks[0].clone()), pairs(&[("team", "definition")]));
}

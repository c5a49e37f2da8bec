//! Task definitions through the SDK: revisions, every field back as given, lookups, listings,
//! deregistration, deletion, and validation that reports every problem.

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    ContainerDefinition, PortMapping, SortOrder, TaskDefinitionFamilyStatus, TaskDefinitionField,
    TaskDefinitionStatus,
};

use crate::support::Flotilla;

fn container(name: &str) -> ContainerDefinition {
    ContainerDefinition::builder().name(name).image("flotilla/demo:latest").memory(64).build()
}

async fn register(ecs: &aws_sdk_ecs::Client, family: &str) -> i32 {
    ecs.register_task_definition()
        .family(family)
        .container_definitions(container("web"))
        .send()
        .await
        .expect("register")
        .task_definition()
        .expect("td")
        .revision()
}

#[tokio::test]
async fn revisions_count_up_per_family_and_lookups_work_every_way() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    assert_eq!(register(&ecs, "web").await, 1);
    assert_eq!(register(&ecs, "web").await, 2);
    assert_eq!(register(&ecs, "api").await, 1);

    let latest =
        ecs.describe_task_definition().task_definition("web").send().await.expect("family");
    assert_eq!(latest.task_definition().map(|t| t.revision()), Some(2));
    let first =
        ecs.describe_task_definition().task_definition("web:1").send().await.expect("family:rev");
    assert_eq!(first.task_definition().map(|t| t.revision()), Some(1));
    let arn = "arn:aws:ecs:us-east-1:000000000000:task-definition/api:1";
    let by_arn = ecs.describe_task_definition().task_definition(arn).send().await.expect("arn");
    assert_eq!(by_arn.task_definition().and_then(|t| t.task_definition_arn()), Some(arn));

    let err =
        ecs.describe_task_definition().task_definition("web:9").send().await.expect_err("missing");
    assert_eq!(err.code(), Some("ClientException"));
}

#[tokio::test]
async fn every_field_given_comes_back_as_given() {
    let f = Flotilla::start();
    let definition = serde_json::json!({
        "family": "full",
        "networkMode": "bridge",
        "cpu": "1 vCPU",
        "memory": "512",
        "containerDefinitions": [{
            "name": "web",
            "image": "flotilla/demo:latest",
            "cpu": 128,
            "memory": 256,
            "memoryReservation": 128,
            "essential": true,
            "entryPoint": ["/flotilla", "demo"],
            "command": ["serve"],
            "environment": [{"name": "PORT", "value": "8080"}],
            "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}],
            "healthCheck": {"command": ["CMD", "/flotilla", "demo", "check", "http://localhost:8080/healthz"], "interval": 5, "timeout": 2, "retries": 3, "startPeriod": 0},
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-stream-prefix": "p"}},
            "linuxParameters": {"initProcessEnabled": true, "capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]}},
            "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
            "dockerLabels": {"b": "2", "a": "1"},
            "workingDirectory": "/",
            "user": "1000",
            "hostname": "web",
            "extraHosts": [{"hostname": "db", "ipAddress": "127.0.0.1"}],
            "dnsServers": ["127.0.0.53"],
            "readonlyRootFilesystem": true,
            "stopTimeout": 10,
            "mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": false}],
            "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}]
        }, {
            "name": "init",
            "image": "flotilla/demo:latest",
            "memory": 32,
            "essential": false,
            "command": ["exit", "0"]
        }],
        "volumes": [{"name": "data", "host": {"sourcePath": "/tmp"}}],
        "tags": [{"key": "team", "value": "web"}]
    });
    let (status, body) = f.signed_call("RegisterTaskDefinition", definition.to_string().as_bytes());
    assert_eq!(status, 200, "{body}");
    let td = &body["taskDefinition"];
    assert_eq!(td["status"], "ACTIVE");
    assert_eq!(td["revision"], 1);
    assert_eq!(td["cpu"], "1024", "task cpu is returned in units");
    assert!(td["registeredAt"].is_number());
    assert_eq!(body["tags"][0]["key"], "team");
    let given = &definition["containerDefinitions"][0];
    let stored = &td["containerDefinitions"][0];
    for (field, value) in given.as_object().expect("object") {
        assert_eq!(&stored[field], value, "field {field}");
    }

    // And the same again through DescribeTaskDefinition, with tags when asked.
    let (_, described) = f.signed_call(
        "DescribeTaskDefinition",
        br#"{"taskDefinition": "full", "include": ["TAGS"]}"#,
    );
    assert_eq!(described["taskDefinition"]["containerDefinitions"], td["containerDefinitions"]);
    assert_eq!(described["tags"][0]["value"], "web");
    let (_, untagged) = f.signed_call("DescribeTaskDefinition", br#"{"taskDefinition": "full"}"#);
    assert!(untagged.get("tags").is_none_or(|t| t.as_array().is_some_and(|a| a.is_empty())));
}

#[tokio::test]
async fn invalid_definitions_report_every_problem_and_store_nothing() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    let err = ecs
        .register_task_definition()
        .family("bad")
        .container_definitions(ContainerDefinition::builder().name("a").image("x").build())
        .container_definitions(container("a"))
        .container_definitions(
            ContainerDefinition::builder()
                .name("c")
                .image("x")
                .memory(64)
                .port_mappings(PortMapping::builder().container_port(70000).build())
                .build(),
        )
        .send()
        .await
        .expect_err("invalid");
    let message = err.message().unwrap_or_default().to_string();
    assert_eq!(err.code(), Some("ClientException"), "{message}");
    for expected in ["memory", "'a'", "70000"] {
        assert!(message.contains(expected), "'{expected}' missing from: {message}");
    }
    let families = ecs.list_task_definition_families().send().await.expect("families");
    assert!(families.families().is_empty(), "nothing stored");

    let too_many: Vec<_> = (0..11).map(|i| container(&format!("c{i}"))).collect();
    let err = ecs
        .register_task_definition()
        .family("many")
        .set_container_definitions(Some(too_many))
        .send()
        .await
        .expect_err("11 containers");
    assert!(err.message().unwrap_or_default().contains("10"), "{err:?}");
}

#[tokio::test]
async fn definitions_over_64_kib_are_refused() {
    let f = Flotilla::start();
    let big = "x".repeat(70 * 1024);
    let body = serde_json::json!({
        "family": "big",
        "containerDefinitions": [{"name": "a", "image": "x", "memory": 64,
            "environment": [{"name": "BIG", "value": big}]}]
    });
    let (status, answer) = f.signed_call("RegisterTaskDefinition", body.to_string().as_bytes());
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["__type"], "ClientException", "{answer}");
}

#[tokio::test]
async fn listing_filters_sorts_and_pages() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    for _ in 0..4 {
        register(&ecs, "alpha").await;
    }
    for _ in 0..3 {
        register(&ecs, "beta").await;
    }
    let all: Vec<String> = ecs
        .list_task_definitions()
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("paginate");
    let short: Vec<&str> = all.iter().map(|a| a.rsplit('/').next().unwrap_or("")).collect();
    assert_eq!(short, ["alpha:1", "alpha:2", "alpha:3", "alpha:4", "beta:1", "beta:2", "beta:3"]);

    let desc: Vec<String> = ecs
        .list_task_definitions()
        .sort(SortOrder::Desc)
        .max_results(3)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("paginate desc");
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(desc, reversed);

    let beta = ecs.list_task_definitions().family_prefix("beta").send().await.expect("family");
    assert_eq!(beta.task_definition_arns().len(), 3);

    ecs.deregister_task_definition().task_definition("beta:2").send().await.expect("deregister");
    let inactive = ecs
        .list_task_definitions()
        .status(TaskDefinitionStatus::Inactive)
        .send()
        .await
        .expect("inactive");
    assert_eq!(inactive.task_definition_arns().len(), 1);
    assert!(inactive.task_definition_arns()[0].ends_with("beta:2"));

    let families =
        ecs.list_task_definition_families().family_prefix("al").send().await.expect("families");
    assert_eq!(families.families(), ["alpha"]);
    for rev in 1..=4 {
        ecs.deregister_task_definition()
            .task_definition(format!("alpha:{rev}"))
            .send()
            .await
            .expect("dereg");
    }
    let active = ecs.list_task_definition_families().send().await.expect("active families");
    assert_eq!(active.families(), ["beta"]);
    let inactive = ecs
        .list_task_definition_families()
        .status(TaskDefinitionFamilyStatus::Inactive)
        .send()
        .await
        .expect("inactive families");
    assert_eq!(inactive.families(), ["alpha"]);
}

#[tokio::test]
async fn deregister_then_delete() {
    let f = Flotilla::start();
    let ecs = f.ecs();
    register(&ecs, "d").await;
    register(&ecs, "d").await;

    let out =
        ecs.delete_task_definitions().task_definitions("d:1").send().await.expect("delete active");
    assert!(out.task_definitions().is_empty());
    assert_eq!(out.failures().len(), 1, "an ACTIVE revision cannot be deleted");

    let out =
        ecs.deregister_task_definition().task_definition("d:1").send().await.expect("deregister");
    let td = out.task_definition().expect("td");
    assert_eq!(td.status(), Some(&TaskDefinitionStatus::Inactive));
    assert!(td.deregistered_at().is_some());
    // A bare family now resolves to the newest ACTIVE revision.
    let latest = ecs.describe_task_definition().task_definition("d").send().await.expect("latest");
    assert_eq!(latest.task_definition().map(|t| t.revision()), Some(2));

    let out = ecs.delete_task_definitions().task_definitions("d:1").send().await.expect("delete");
    assert_eq!(out.task_definitions()[0].status(), Some(&TaskDefinitionStatus::DeleteInProgress));
    let err = ecs
        .deregister_task_definition()
        .task_definition("d")
        .send()
        .await
        .expect_err("no revision");
    assert_eq!(err.code(), Some("ClientException"));
    // Revision numbers keep counting after deletions.
    assert_eq!(register(&ecs, "d").await, 3);
    let described = ecs
        .describe_task_definition()
        .task_definition("d:3")
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .expect("describe");
    assert!(described.tags().is_empty());
}

//! The ECS calls scale-bench makes in the cluster under test (CreateCluster,
//! RegisterTaskDefinition, paginated ListContainerInstances, DescribeContainerInstances,
//! CreateService, DescribeServices) over task-bench's `Ecs` connection.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::ecs::Ecs;

/// ListContainerInstances page size and DescribeContainerInstances/DescribeServices batch
/// sizes (ECS's limits).
const PAGE: usize = 100;
const DESCRIBE_INSTANCES_BATCH: usize = 100;
pub const DESCRIBE_SERVICES_BATCH: usize = 10;
/// A listing longer than this many pages is a server bug (pagination loop).
const MAX_PAGES: usize = 10_000;

/// The availability-zone attribute the hollow agents announce.
pub const ZONE_ATTRIBUTE: &str = "ecs.availability-zone";

pub async fn create_cluster(ecs: &mut Ecs, cluster: &str) -> Result<()> {
    ecs.call("CreateCluster", &json!({ "clusterName": cluster })).await?;
    Ok(())
}

/// A task definition of one container with `memory` MiB and no CPU reservation.
pub async fn register(ecs: &mut Ecs, family: &str, image: &str, memory: u32) -> Result<String> {
    let answer = ecs
        .call(
            "RegisterTaskDefinition",
            &json!({
                "family": family,
                "containerDefinitions": [{
                    "name": "main",
                    "image": image,
                    "memory": memory,
                    "cpu": 0,
                    "essential": true
                }]
            }),
        )
        .await?;
    answer["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .map(str::to_string)
        .context("RegisterTaskDefinition answered without a taskDefinitionArn")
}

/// Every container instance ARN of `cluster` matching `filter` (cluster query language),
/// `maxResults` 100 a page.
pub async fn list_instances(
    ecs: &mut Ecs,
    cluster: &str,
    filter: Option<&str>,
) -> Result<Vec<String>> {
    let mut body = json!({ "cluster": cluster, "maxResults": PAGE });
    if let Some(filter) = filter {
        body["filter"] = json!(filter);
    }
    ecs.list_all("ListContainerInstances", body, "containerInstanceArns", MAX_PAGES).await
}

/// What the placement-quality check reads of a described instance.
pub struct InstanceInfo {
    pub zone: String,
    pub running_tasks: u64,
}

pub async fn describe_instances(
    ecs: &mut Ecs,
    cluster: &str,
    arns: &[String],
) -> Result<Vec<InstanceInfo>> {
    let mut out = Vec::with_capacity(arns.len());
    for chunk in arns.chunks(DESCRIBE_INSTANCES_BATCH) {
        let answer = ecs
            .call(
                "DescribeContainerInstances",
                &json!({ "cluster": cluster, "containerInstances": chunk }),
            )
            .await?;
        for instance in answer["containerInstances"].as_array().into_iter().flatten() {
            let zone = instance["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["name"].as_str() == Some(ZONE_ATTRIBUTE))
                .and_then(|a| a["value"].as_str())
                .unwrap_or("(none)")
                .to_string();
            out.push(InstanceInfo {
                zone,
                running_tasks: instance["runningTasksCount"].as_u64().unwrap_or(0),
            });
        }
    }
    Ok(out)
}

/// The placement strategy of the benchmark's services: zones evenly, then the fullest
/// instance by memory.
pub fn service_strategy() -> Value {
    json!([
        { "type": "spread", "field": format!("attribute:{ZONE_ATTRIBUTE}") },
        { "type": "binpack", "field": "memory" }
    ])
}

pub async fn create_service(
    ecs: &mut Ecs,
    cluster: &str,
    name: &str,
    task_definition: &str,
    desired: u32,
) -> Result<()> {
    ecs.call(
        "CreateService",
        &json!({
            "cluster": cluster,
            "serviceName": name,
            "taskDefinition": task_definition,
            "desiredCount": desired,
            "placementStrategy": service_strategy()
        }),
    )
    .await?;
    Ok(())
}

/// A service's counts as DescribeServices gives them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub desired: u64,
    pub running: u64,
    pub pending: u64,
}

/// DescribeServices of `names` (10 a call), summed.
pub async fn service_counts(ecs: &mut Ecs, cluster: &str, names: &[String]) -> Result<Vec<Counts>> {
    let mut out = Vec::with_capacity(names.len());
    for chunk in names.chunks(DESCRIBE_SERVICES_BATCH) {
        let answer =
            ecs.call("DescribeServices", &json!({ "cluster": cluster, "services": chunk })).await?;
        let services = answer["services"].as_array().map(Vec::as_slice).unwrap_or_default();
        if services.len() != chunk.len() {
            bail!(
                "DescribeServices found {} of {} services: {answer}",
                services.len(),
                chunk.len()
            );
        }
        out.extend(services.iter().map(|s| Counts {
            desired: s["desiredCount"].as_u64().unwrap_or(0),
            running: s["runningCount"].as_u64().unwrap_or(0),
            pending: s["pendingCount"].as_u64().unwrap_or(0),
        }));
    }
    Ok(out)
}

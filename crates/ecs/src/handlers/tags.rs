//! TagResource, UntagResource, ListTagsForResource for clusters, task definitions, services,
//! tasks, container instances, capacity providers and task sets.

use flotilla_api::common::{decode, validate_tags, MAX_TAGS};
use flotilla_api::taskdef::{parse_task_definition_ref, TaskDefinitionRef};
use flotilla_api::{ApiError, ErrorCode, Tag};

use super::{respond, Ctx};
use crate::convert::{tags_from_wire, tags_to_wire};
use crate::state::{
    capacity_provider_key, cluster_key, instance_key, service_key, task_definition_key, task_key,
    Record, Staged, State,
};
use crate::wire::{
    ListTagsForResourceRequest, ListTagsForResourceResponse, TagResourceRequest,
    TagResourceResponse, UntagResourceRequest, UntagResourceResponse,
};

/// A taggable resource, named by its store key.
enum Resource {
    Cluster(String),
    TaskDefinition(String, u32),
    /// (cluster, service name)
    Service(String, String),
    /// (cluster, task id)
    Task(String, String),
    /// (cluster, container instance id)
    ContainerInstance(String, String),
    CapacityProvider(String),
    /// (cluster, service name, task set id): kept in its service's record.
    TaskSet(String, String, String),
}

impl Resource {
    fn key(&self) -> String {
        match self {
            Resource::Cluster(name) => cluster_key(name),
            Resource::TaskDefinition(family, revision) => task_definition_key(family, *revision),
            Resource::Service(cluster, name) => service_key(cluster, name),
            Resource::Task(cluster, id) => task_key(cluster, id),
            Resource::ContainerInstance(cluster, id) => instance_key(cluster, id),
            Resource::CapacityProvider(name) => capacity_provider_key(name),
            Resource::TaskSet(cluster, service, _) => service_key(cluster, service),
        }
    }

    fn not_found(&self) -> ApiError {
        match self {
            Resource::Cluster(_) => ApiError::cluster_not_found(),
            Resource::TaskDefinition(..) => ApiError::new(
                ErrorCode::ResourceNotFoundException,
                "The specified task definition does not exist.",
            ),
            Resource::Service(..) => {
                ApiError::new(ErrorCode::ServiceNotFoundException, "Service not found.")
            }
            Resource::TaskSet(..) => ApiError::new(
                ErrorCode::TaskSetNotFoundException,
                "The specified task set does not exist.",
            ),
            Resource::Task(..)
            | Resource::ContainerInstance(..)
            | Resource::CapacityProvider(_) => ApiError::new(
                ErrorCode::InvalidParameterException,
                "The specified resource was not found.",
            ),
        }
    }
}

fn parse_arn(ctx: &Ctx<'_>, arn: &str) -> Result<Resource, ApiError> {
    let invalid = || {
        ApiError::invalid(format!(
            "'{arn}' is not the ARN of a taggable resource of this account and region"
        ))
    };
    let resource = ctx.app.scope.resource(arn).ok_or_else(invalid)?;
    if let Some(name) = resource.strip_prefix("cluster/") {
        return Ok(Resource::Cluster(name.to_string()));
    }
    if let Some(name) = resource.strip_prefix("capacity-provider/") {
        return Ok(Resource::CapacityProvider(name.to_string()));
    }
    // `task-set/<cluster>/<service>/<id>`, where the id itself has a `/` (`ecs-svc/...`).
    if let Some(rest) = resource.strip_prefix("task-set/") {
        let mut parts = rest.splitn(3, '/');
        if let (Some(cluster), Some(service), Some(id)) = (parts.next(), parts.next(), parts.next())
        {
            if !cluster.is_empty() && !service.is_empty() && !id.is_empty() {
                return Ok(Resource::TaskSet(cluster.into(), service.into(), id.into()));
            }
        }
    }
    // `service/<cluster>/<name>`, `task/<cluster>/<id>`, `container-instance/<cluster>/<id>`.
    for (kind, make) in [
        ("service/", Resource::Service as fn(String, String) -> Resource),
        ("task/", Resource::Task),
        ("container-instance/", Resource::ContainerInstance),
    ] {
        if let Some((cluster, id)) = resource.strip_prefix(kind).and_then(|r| r.split_once('/')) {
            if !cluster.is_empty() && !id.is_empty() && !id.contains('/') {
                return Ok(make(cluster.to_string(), id.to_string()));
            }
        }
    }
    if resource.starts_with("task-definition/") {
        if let TaskDefinitionRef::Revision { family, revision } = parse_task_definition_ref(arn)? {
            return Ok(Resource::TaskDefinition(family, revision));
        }
    }
    Err(invalid())
}

fn tags_of(resource: &Resource, record: &Record) -> Option<Vec<Tag>> {
    if let (Resource::TaskSet(_, _, id), Record::Service(s)) = (resource, record) {
        let set = s.service.task_sets.iter().find(|set| set.id == *id)?;
        return Some(set.tags.clone().unwrap_or_default());
    }
    match record {
        Record::Cluster(c) if c.status == flotilla_api::status::ClusterStatus::Active => {
            Some(c.tags.clone().unwrap_or_default())
        }
        Record::TaskDefinition(td) => Some(td.tags.clone()),
        Record::Service(s) if s.service.status != flotilla_api::status::ServiceStatus::Inactive => {
            Some(s.service.tags.clone().unwrap_or_default())
        }
        Record::Task(t) => Some(t.task.tags.clone().unwrap_or_default()),
        Record::Instance(i)
            if i.instance.status != flotilla_api::status::InstanceStatus::Inactive =>
        {
            Some(i.instance.tags.clone().unwrap_or_default())
        }
        Record::CapacityProvider(p)
            if p.status == flotilla_api::status::CapacityProviderStatus::Active =>
        {
            Some(p.tags.clone().unwrap_or_default())
        }
        _ => None,
    }
}

fn with_tags(resource: &Resource, record: Record, tags: Vec<Tag>) -> Record {
    match (resource, record) {
        // A task set's tags live on its set, inside the service's record.
        (Resource::TaskSet(_, _, id), Record::Service(mut s)) => {
            if let Some(set) = s.service.task_sets.iter_mut().find(|set| set.id == *id) {
                set.tags = Some(tags);
            }
            Record::Service(s)
        }
        (_, Record::Cluster(mut c)) => {
            c.tags = Some(tags);
            Record::Cluster(c)
        }
        (_, Record::TaskDefinition(mut td)) => {
            td.tags = tags;
            Record::TaskDefinition(td)
        }
        (_, Record::Service(mut s)) => {
            s.service.tags = Some(tags);
            Record::Service(s)
        }
        (_, Record::Task(mut t)) => {
            t.task.tags = Some(tags);
            Record::Task(t)
        }
        (_, Record::Instance(mut i)) => {
            i.instance.tags = Some(tags);
            Record::Instance(i)
        }
        (_, Record::CapacityProvider(mut p)) => {
            p.tags = Some(tags);
            Record::CapacityProvider(p)
        }
        (_, other) => other,
    }
}

fn change_tags(
    staged: &mut Staged<'_>,
    resource: &Resource,
    change: impl FnOnce(&mut Vec<Tag>),
) -> Result<(), ApiError> {
    let record = staged.get(&resource.key()).ok_or_else(|| resource.not_found())?;
    let mut tags = tags_of(resource, &record).ok_or_else(|| resource.not_found())?;
    change(&mut tags);
    if tags.len() > MAX_TAGS {
        return Err(ApiError::invalid(format!(
            "a resource can have at most {MAX_TAGS} tags; this change would leave {}",
            tags.len()
        )));
    }
    staged.put(with_tags(resource, record, tags));
    Ok(())
}

pub async fn tag(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: TagResourceRequest = decode(body)?;
    let new_tags = tags_from_wire(Some(req.tags));
    validate_tags(&new_tags)?;
    let resource = parse_arn(ctx, &req.resource_arn)?;
    ctx.app
        .state
        .write(move |staged| {
            change_tags(staged, &resource, |tags| {
                for new in new_tags {
                    match tags.iter_mut().find(|t| t.key == new.key) {
                        Some(existing) => existing.value = new.value,
                        None => tags.push(new),
                    }
                }
            })
        })
        .await?;
    respond(&TagResourceResponse {})
}

pub async fn untag(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: UntagResourceRequest = decode(body)?;
    let resource = parse_arn(ctx, &req.resource_arn)?;
    ctx.app
        .state
        .write(move |staged| {
            change_tags(staged, &resource, |tags| {
                tags.retain(|t| !req.tag_keys.iter().any(|k| t.key.as_deref() == Some(k)));
            })
        })
        .await?;
    respond(&UntagResourceResponse {})
}

fn read_tags(state: &State, resource: &Resource) -> Option<Vec<Tag>> {
    let record = match resource {
        Resource::Cluster(name) => Record::Cluster(state.clusters.get(name)?.clone()),
        Resource::TaskDefinition(family, revision) => Record::TaskDefinition(Box::new(
            state.task_definitions.get(family)?.get(revision)?.clone(),
        )),
        Resource::Service(cluster, name) => {
            Record::Service(Box::new(state.services.get(&(cluster.clone(), name.clone()))?.clone()))
        }
        Resource::Task(cluster, id) => {
            Record::Task(Box::new(state.tasks.get(&(cluster.clone(), id.clone()))?.clone()))
        }
        Resource::ContainerInstance(cluster, id) => {
            Record::Instance(Box::new(state.instances.get(&(cluster.clone(), id.clone()))?.clone()))
        }
        Resource::CapacityProvider(name) => {
            Record::CapacityProvider(Box::new(state.capacity_providers.get(name)?.clone()))
        }
        Resource::TaskSet(cluster, service, _) => Record::Service(Box::new(
            state.services.get(&(cluster.clone(), service.clone()))?.clone(),
        )),
    };
    tags_of(resource, &record)
}

pub fn list(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let req: ListTagsForResourceRequest = decode(body)?;
    let resource = parse_arn(ctx, &req.resource_arn)?;
    let tags = read_tags(&ctx.app.state.read(), &resource).ok_or_else(|| resource.not_found())?;
    respond(&ListTagsForResourceResponse { tags: Some(tags_to_wire(&tags)) })
}

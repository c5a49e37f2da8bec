//! RegisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions,
//! ListTaskDefinitionFamilies, DeregisterTaskDefinition, DeleteTaskDefinitions.

use flotilla_api::common::{decode, Tag};
use flotilla_api::pagination::paginate;
use flotilla_api::taskdef::{
    build_task_definition, parse_task_definition_ref, validate_delete_task_definitions,
    validate_describe_task_definition, validate_list_task_definition_families,
    validate_list_task_definitions, validate_register, validate_size, TaskDefinition,
    TaskDefinitionRef, TaskDefinitionRegistration, TaskDefinitionStatus,
};
use flotilla_api::{ApiError, Failure};
use serde::Serialize;

use super::{respond, Ctx};
use crate::convert::{failures_to_wire, into_domain, into_wire};
use crate::state::{family_key, task_definition_key, Family, Record, State, StoredTaskDefinition};
use crate::wire;

/// The answer of RegisterTaskDefinition, DescribeTaskDefinition and DeregisterTaskDefinition
/// (`wire::DescribeTaskDefinitionResponse`'s shape), written straight from the stored record:
/// DescribeTaskDefinition is the hottest read, and a copy into the generated types would cost
/// it a tenth of its throughput. `convert_tests` prove the stored record serializes as the
/// model's `TaskDefinition`, member for member.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Answer<'a> {
    task_definition: &'a TaskDefinition,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<&'a [Tag]>,
}

/// Tags as ECS answers them: no member when there are none.
fn non_empty(tags: &[Tag]) -> Option<&[Tag]> {
    (!tags.is_empty()).then_some(tags)
}

/// `awslogs-region` is honoured when it names the region the definition is registered in: a
/// task's lines go to its own region's CloudWatch Logs. Another region and `awslogs-endpoint`
/// are refused, not ignored.
fn check_log_destinations(req: &TaskDefinitionRegistration, region: &str) -> Result<(), ApiError> {
    for container in &req.container_definitions {
        let Some(log) = container.log_configuration.as_ref().filter(|l| l.log_driver == "awslogs")
        else {
            continue;
        };
        let options = log.options.iter().flatten();
        for (name, value) in options {
            let refused = match name.as_str() {
                "awslogs-region" => value != region,
                "awslogs-endpoint" => true,
                _ => false,
            };
            if refused {
                return Err(ApiError::invalid(format!(
                    "The value {value} of log option {name} is not supported yet by this server: \
                     a task's lines go to the CloudWatch Logs of its own region, {region}."
                )));
            }
        }
    }
    Ok(())
}

pub async fn register(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    validate_size(body.len())?;
    let req: wire::RegisterTaskDefinitionRequest = decode(body)?;
    // Every member of the model has its place in the registration (proven by `convert_tests`);
    // `validate_register` refuses the values that cannot be honoured.
    let req: TaskDefinitionRegistration = into_domain("request", &req)?;
    // Also checks the tags.
    validate_register(&req)?;
    for (n, constraint) in req.placement_constraints.iter().flatten().enumerate() {
        if let Some(expression) = &constraint.expression {
            flotilla_scheduler::query::parse(expression).map_err(|e| {
                ApiError::client(format!("placementConstraints[{n}]: invalid expression: {e}"))
            })?;
        }
    }
    check_log_destinations(&req, &ctx.app.scope.region)?;
    let scope = ctx.app.scope.clone();
    let registered_by = ctx.app.root_principal();
    let now = ctx.now;
    let stored = ctx
        .app
        .state
        .write(move |staged| {
            let last = match staged.get(&family_key(&req.family)) {
                Some(Record::Family(f)) => f.last_revision,
                _ => 0,
            };
            let revision = last + 1;
            let family = req.family.clone();
            let tags = req.tags.clone().unwrap_or_default();
            let arn = scope.task_definition(&family, revision);
            let definition = build_task_definition(req, arn, revision, now, Some(registered_by));
            let stored = StoredTaskDefinition { definition, tags };
            staged.put(Record::Family(Family { name: family, last_revision: revision }));
            staged.put(Record::TaskDefinition(Box::new(stored.clone())));
            Ok(stored)
        })
        .await?;
    respond(&Answer { task_definition: &stored.definition, tags: non_empty(&stored.tags) })
}

/// Finds a stored definition: a bare family means its latest ACTIVE revision.
fn lookup<'s>(state: &'s State, reference: &TaskDefinitionRef) -> Option<&'s StoredTaskDefinition> {
    let revisions = state.task_definitions.get(reference.family())?;
    match reference.revision() {
        Some(revision) => revisions.get(&revision),
        None => revisions.values().rev().find(|td| td.definition.is_active()),
    }
}

fn not_found() -> ApiError {
    ApiError::client("Unable to describe task definition.")
}

pub fn describe(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::DescribeTaskDefinitionRequest { task_definition, include } = decode(body)?;
    let include = include.unwrap_or_default();
    validate_describe_task_definition(&include)?;
    let reference = parse_task_definition_ref(&task_definition)?;
    let state = ctx.app.state.read();
    let stored = lookup(&state, &reference).ok_or_else(not_found)?;
    let with_tags = include.iter().any(|i| i == "TAGS");
    respond(&Answer {
        task_definition: &stored.definition,
        tags: if with_tags { non_empty(&stored.tags) } else { None },
    })
}

pub fn list(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::ListTaskDefinitionsRequest { family_prefix, status, sort, next_token, max_results } =
        decode(body)?;
    validate_list_task_definitions(status.as_deref(), sort.as_deref(), max_results)?;
    // Checked by validate_list_task_definitions.
    let status = status
        .as_deref()
        .and_then(TaskDefinitionStatus::parse)
        .unwrap_or(TaskDefinitionStatus::Active);
    let descending = sort.as_deref() == Some("DESC");
    let state = ctx.app.state.read();
    // `familyPrefix` is, despite its name, a whole family name in ECS.
    let mut matching: Vec<&StoredTaskDefinition> = match family_prefix.as_deref() {
        Some(family) => {
            state.task_definitions.get(family).into_iter().flat_map(|r| r.values()).collect()
        }
        None => state.task_definitions.values().flat_map(|r| r.values()).collect(),
    };
    matching.retain(|td| td.definition.status == status);
    // The page key sorts like (family, revision), so tokens work in both directions: NUL sorts
    // before every character a family name may hold.
    let key = |td: &StoredTaskDefinition| {
        let key = format!("{}\0{:010}", td.definition.family, td.definition.revision);
        if descending {
            invert(&key)
        } else {
            key
        }
    };
    if descending {
        matching.reverse();
    }
    let items = matching.into_iter().map(|td| (key(td), td.definition.task_definition_arn.clone()));
    let (arns, next) = paginate(items, next_token.as_deref(), max_results, 100)?;
    respond(&wire::ListTaskDefinitionsResponse {
        task_definition_arns: Some(arns),
        next_token: next,
    })
}

/// Maps a key to one that sorts in the opposite order (for descending pages).
fn invert(key: &str) -> String {
    key.bytes().map(|b| format!("{:02x}", 255 - b)).collect()
}

pub fn list_families(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::ListTaskDefinitionFamiliesRequest { family_prefix, status, next_token, max_results } =
        decode(body)?;
    validate_list_task_definition_families(status.as_deref(), max_results)?;
    // Checked above: ACTIVE (the default), INACTIVE or ALL.
    let wanted = match status.as_deref() {
        Some("ALL") => None,
        Some("INACTIVE") => Some(false),
        _ => Some(true),
    };
    let prefix = family_prefix.unwrap_or_default();
    let state = ctx.app.state.read();
    let families = state
        .task_definitions
        .range(prefix.clone()..)
        .take_while(|(name, _)| name.starts_with(&prefix))
        .filter(|(_, revisions)| {
            // A family is ACTIVE while any of its revisions is.
            let any_active = revisions.values().any(|td| td.definition.is_active());
            wanted.is_none_or(|active| active == any_active)
        })
        .map(|(name, _)| (name.clone(), name.clone()));
    let (names, next) = paginate(families, next_token.as_deref(), max_results, 100)?;
    respond(&wire::ListTaskDefinitionFamiliesResponse { families: Some(names), next_token: next })
}

/// `family:revision` or an ARN: deregistration and deletion always name a revision.
fn exact_revision(reference: &str) -> Result<(String, u32), ApiError> {
    match parse_task_definition_ref(reference)? {
        TaskDefinitionRef::Revision { family, revision } => Ok((family, revision)),
        // ECS's own words.
        TaskDefinitionRef::Family(_) => Err(ApiError::client("Revision is missing.")),
    }
}

fn stored_at(
    staged: &crate::state::Staged<'_>,
    family: &str,
    revision: u32,
) -> Option<StoredTaskDefinition> {
    match staged.get(&task_definition_key(family, revision)) {
        Some(Record::TaskDefinition(td)) => Some(*td),
        _ => None,
    }
}

pub async fn deregister(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::DeregisterTaskDefinitionRequest { task_definition } = decode(body)?;
    let (family, revision) = exact_revision(&task_definition)?;
    let now = ctx.now;
    let stored = ctx
        .app
        .state
        .write(move |staged| {
            let mut stored = stored_at(staged, &family, revision)
                .ok_or_else(|| ApiError::client("The specified task definition does not exist."))?;
            stored.definition.deregister(now);
            staged.put(Record::TaskDefinition(Box::new(stored.clone())));
            Ok(stored)
        })
        .await?;
    respond(&Answer { task_definition: &stored.definition, tags: None })
}

pub async fn delete(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let wire::DeleteTaskDefinitionsRequest { task_definitions } = decode(body)?;
    validate_delete_task_definitions(task_definitions.len())?;
    let mut targets = Vec::new();
    for reference in &task_definitions {
        targets.push((reference.clone(), exact_revision(reference)?));
    }
    let now = ctx.now;
    let scope = ctx.app.scope.clone();
    let (deleted, failures) = ctx
        .app
        .state
        .write(move |staged| {
            let mut deleted = Vec::new();
            let mut failures = Vec::new();
            for (reference, (family, revision)) in targets {
                let arn = scope.task_definition(&family, revision);
                let Some(mut stored) = stored_at(staged, &family, revision) else {
                    failures.push(Failure {
                        arn: Some(arn),
                        reason: Some("The specified task definition does not exist.".into()),
                        detail: Some(reference),
                    });
                    continue;
                };
                match stored.definition.request_delete(now) {
                    Ok(()) => {
                        staged.put(Record::TaskDefinition(Box::new(stored.clone())));
                        deleted.push(stored.definition);
                    }
                    Err(e) => failures.push(Failure {
                        arn: Some(arn),
                        reason: Some(e.message),
                        detail: None,
                    }),
                }
            }
            Ok((deleted, failures))
        })
        .await?;
    respond(&wire::DeleteTaskDefinitionsResponse {
        task_definitions: Some(deleted.iter().map(into_wire).collect::<Result<_, _>>()?),
        failures: Some(failures_to_wire(failures)),
    })
}

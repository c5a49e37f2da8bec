//! Namespaces, services, operations and tags.

use std::collections::BTreeMap;

use flotilla_api::{ApiError, ErrorCode};

use crate::model::{new_id, Discovery, Dns, Namespace, NamespaceType, Operation, Service};
use crate::{invalid, page, wire, App};

/// Cloud Map's limit of tags per resource.
const MAX_TAGS: usize = 50;

pub(crate) fn namespace_not_found() -> ApiError {
    ApiError::new(
        ErrorCode::CloudMapNamespaceNotFound,
        "No namespace exists with the specified ID.",
    )
}

pub(crate) fn service_not_found() -> ApiError {
    ApiError::new(ErrorCode::CloudMapServiceNotFound, "No service exists with the specified ID.")
}

/// Records a finished operation; its id.
pub(crate) fn operation(
    state: &mut Discovery,
    kind: &str,
    at: f64,
    targets: &[(&str, &str)],
) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let targets = targets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    state
        .operations
        .insert(id.clone(), Operation { id: id.clone(), kind: kind.into(), at, targets });
    id
}

/// A private DNS namespace's name: a DNS name.
fn check_dns_name(name: &str) -> Result<(), ApiError> {
    let name = name.trim_end_matches('.');
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("The namespace name '{name}' is not a valid DNS name")))
    }
}

fn checked_tags(tags: Vec<wire::Tag>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for tag in tags {
        if tag.key.is_empty() || tag.key.chars().count() > 128 || tag.key.starts_with("aws:") {
            return Err(invalid(format!("The tag key '{}' is not valid", tag.key)));
        }
        out.insert(tag.key, tag.value);
    }
    Ok(out)
}

fn put_tags(
    state: &mut Discovery,
    arn: &str,
    tags: BTreeMap<String, String>,
) -> Result<(), ApiError> {
    if tags.is_empty() {
        return Ok(());
    }
    let held = state.tags.entry(arn.to_string()).or_default();
    held.extend(tags);
    if held.len() > MAX_TAGS {
        return Err(ApiError::new(
            ErrorCode::TooManyTagsException,
            format!("A resource can have at most {MAX_TAGS} tags"),
        ));
    }
    Ok(())
}

/// What a namespace is created from.
struct NewNamespace {
    name: String,
    kind: NamespaceType,
    vpc: Option<String>,
    description: Option<String>,
    creator_request_id: Option<String>,
    tags: Vec<wire::Tag>,
}

/// Creates a namespace, or answers the operation of the same request made before.
async fn create_namespace(app: &App, new: NewNamespace, now: f64) -> Result<String, ApiError> {
    let NewNamespace { name, kind, vpc, description, creator_request_id, tags } = new;
    let tags = checked_tags(tags)?;
    app.change(|state| {
        if let Some(existing) = state.namespaces.values().find(|n| n.name == name && n.kind == kind)
        {
            if creator_request_id.is_some() && existing.creator_request_id == creator_request_id {
                return Ok(existing.operation_id.clone());
            }
            return Err(ApiError::new(
                ErrorCode::NamespaceAlreadyExists,
                format!("A namespace named '{name}' already exists ({})", existing.id),
            ));
        }
        let id = new_id("ns-");
        let arn = app.arn(&format!("namespace/{id}"));
        let operation_id = operation(state, "CREATE_NAMESPACE", now, &[("NAMESPACE", &id)]);
        state.namespaces.insert(
            id.clone(),
            Namespace {
                id,
                arn: arn.clone(),
                name,
                kind,
                description,
                vpc,
                created: now,
                creator_request_id,
                operation_id: operation_id.clone(),
            },
        );
        put_tags(state, &arn, tags)?;
        Ok(operation_id)
    })
    .await
}

pub async fn create_dns_namespace(
    app: &App,
    input: wire::CreatePrivateDnsNamespaceRequest,
    now: f64,
) -> Result<wire::CreatePrivateDnsNamespaceResponse, ApiError> {
    check_dns_name(&input.name)?;
    let vpcs = app.vpcs.vpc_ids().await.map_err(|e| {
        ApiError::new(ErrorCode::InternalServiceFault, format!("the region's VPCs: {e}"))
    })?;
    if !vpcs.contains(&input.vpc) {
        return Err(invalid(format!("The VPC '{}' does not exist in this region", input.vpc)));
    }
    let name = input.name.trim_end_matches('.').to_ascii_lowercase();
    let new = NewNamespace {
        name,
        kind: NamespaceType::DnsPrivate,
        vpc: Some(input.vpc),
        description: input.description,
        creator_request_id: input.creator_request_id,
        tags: input.tags.unwrap_or_default(),
    };
    let operation_id = create_namespace(app, new, now).await?;
    Ok(wire::CreatePrivateDnsNamespaceResponse { operation_id: Some(operation_id) })
}

pub async fn create_http_namespace(
    app: &App,
    input: wire::CreateHttpNamespaceRequest,
    now: f64,
) -> Result<wire::CreateHttpNamespaceResponse, ApiError> {
    if input.name.is_empty() || input.name.len() > 1024 {
        return Err(invalid("The namespace name must be 1 to 1024 characters"));
    }
    let new = NewNamespace {
        name: input.name,
        kind: NamespaceType::Http,
        vpc: None,
        description: input.description,
        creator_request_id: input.creator_request_id,
        tags: input.tags.unwrap_or_default(),
    };
    let operation_id = create_namespace(app, new, now).await?;
    Ok(wire::CreateHttpNamespaceResponse { operation_id: Some(operation_id) })
}

fn namespace_view(state: &Discovery, namespace: &Namespace, account: &str) -> wire::Namespace {
    let properties = match namespace.kind {
        NamespaceType::Http => wire::NamespaceProperties {
            http_properties: Some(wire::HttpProperties { http_name: Some(namespace.name.clone()) }),
            ..Default::default()
        },
        NamespaceType::DnsPrivate => wire::NamespaceProperties {
            http_properties: Some(wire::HttpProperties { http_name: Some(namespace.name.clone()) }),
            dns_properties: Some(wire::DnsProperties::default()),
        },
    };
    wire::Namespace {
        id: Some(namespace.id.clone()),
        arn: Some(namespace.arn.clone()),
        resource_owner: Some(account.to_string()),
        name: Some(namespace.name.clone()),
        r#type: Some(namespace.kind.as_str().into()),
        description: namespace.description.clone(),
        service_count: Some(
            state.services.values().filter(|s| s.namespace_id == namespace.id).count() as i32,
        ),
        properties: Some(properties),
        create_date: Some(namespace.created),
        creator_request_id: namespace.creator_request_id.clone(),
    }
}

pub fn get_namespace(
    app: &App,
    input: wire::GetNamespaceRequest,
) -> Result<wire::GetNamespaceResponse, ApiError> {
    let state = app.records.snapshot();
    let namespace = state.namespaces.get(&input.id).ok_or_else(namespace_not_found)?;
    Ok(wire::GetNamespaceResponse {
        namespace: Some(namespace_view(&state, namespace, &app.scope.account_id)),
    })
}

/// Whether `value` meets a filter's condition on `values` (EQ by default; IN; BEGINS_WITH).
fn meets(condition: Option<&str>, values: &[String], value: &str) -> Result<bool, ApiError> {
    match condition.unwrap_or("EQ") {
        "EQ" => {
            if values.len() != 1 {
                return Err(invalid("An EQ filter takes exactly one value"));
            }
            Ok(values[0] == value)
        }
        "IN" => Ok(values.iter().any(|v| v == value)),
        "BEGINS_WITH" => Ok(values.iter().any(|v| value.starts_with(v.as_str()))),
        other => Err(invalid(format!("The condition {other} is not valid"))),
    }
}

pub fn list_namespaces(
    app: &App,
    input: wire::ListNamespacesRequest,
) -> Result<wire::ListNamespacesResponse, ApiError> {
    let state = app.records.snapshot();
    let mut found = Vec::new();
    for namespace in state.namespaces.values() {
        let mut keep = true;
        for filter in input.filters.iter().flatten() {
            let value = match filter.name.as_str() {
                "TYPE" => namespace.kind.as_str(),
                "NAME" | "HTTP_NAME" => namespace.name.as_str(),
                other => return Err(invalid(format!("The filter {other} is not valid"))),
            };
            keep &= meets(filter.condition.as_deref(), &filter.values, value)?;
        }
        if keep {
            found.push(namespace);
        }
    }
    found.sort_by(|a, b| a.created.total_cmp(&b.created).then(a.id.cmp(&b.id)));
    let (items, next) = page(&found, input.next_token.as_deref(), input.max_results, 100)?;
    Ok(wire::ListNamespacesResponse {
        namespaces: Some(
            items
                .iter()
                .map(|n| {
                    let v = namespace_view(&state, n, &app.scope.account_id);
                    wire::NamespaceSummary {
                        id: v.id,
                        arn: v.arn,
                        resource_owner: v.resource_owner,
                        name: v.name,
                        r#type: v.r#type,
                        description: v.description,
                        service_count: v.service_count,
                        properties: v.properties,
                        create_date: v.create_date,
                    }
                })
                .collect(),
        ),
        next_token: next,
    })
}

pub async fn delete_namespace(
    app: &App,
    input: wire::DeleteNamespaceRequest,
    now: f64,
) -> Result<wire::DeleteNamespaceResponse, ApiError> {
    let operation_id = app
        .change(|state| {
            let namespace = state.namespaces.get(&input.id).ok_or_else(namespace_not_found)?;
            if state.services.values().any(|s| s.namespace_id == input.id) {
                return Err(ApiError::new(
                    ErrorCode::ResourceInUse,
                    format!("The namespace {} has services: delete them first", input.id),
                ));
            }
            let arn = namespace.arn.clone();
            state.namespaces.remove(&input.id);
            state.tags.remove(&arn);
            Ok(operation(state, "DELETE_NAMESPACE", now, &[("NAMESPACE", &input.id)]))
        })
        .await?;
    Ok(wire::DeleteNamespaceResponse { operation_id: Some(operation_id) })
}

pub async fn create_service(
    app: &App,
    input: wire::CreateServiceRequest,
    now: f64,
) -> Result<wire::CreateServiceResponse, ApiError> {
    let tags = checked_tags(input.tags.unwrap_or_default())?;
    let namespace_id = input
        .namespace_id
        .clone()
        .or_else(|| input.dns_config.as_ref().and_then(|d| d.namespace_id.clone()))
        .ok_or_else(|| invalid("NamespaceId is required"))?;
    if input.name.is_empty() || input.name.len() > 127 {
        return Err(invalid("The service name must be 1 to 127 characters"));
    }
    let http_only = input.r#type.as_deref() == Some("HTTP");
    let dns = match input.dns_config {
        None => None,
        Some(config) => {
            if config.dns_records.is_empty() {
                return Err(invalid("DnsConfig must have at least one DNS record"));
            }
            let mut records = Vec::new();
            for record in config.dns_records {
                if record.ttl < 0 || record.ttl > 2_147_483_647 {
                    return Err(invalid(format!("TTL {} is out of range", record.ttl)));
                }
                if records.iter().any(|(t, _): &(String, i64)| *t == record.r#type) {
                    return Err(invalid(format!("The {} record is listed twice", record.r#type)));
                }
                records.push((record.r#type, record.ttl));
            }
            Some(Dns {
                routing_policy: config.routing_policy.unwrap_or_else(|| "MULTIVALUE".into()),
                records,
            })
        }
    };
    let described = app
        .change(|state| {
            let namespace =
                state.namespaces.get(&namespace_id).ok_or_else(namespace_not_found)?.clone();
            match (namespace.kind, &dns, http_only) {
                (NamespaceType::Http, Some(_), _) => {
                    return Err(invalid(
                        "DnsConfig is not allowed for services of an HTTP namespace",
                    ))
                }
                (_, Some(_), true) => {
                    return Err(invalid("A service of type HTTP has no DnsConfig"))
                }
                (NamespaceType::DnsPrivate, None, false) => {
                    return Err(invalid(
                        "A service of a DNS namespace needs a DnsConfig (or Type HTTP)",
                    ))
                }
                _ => {}
            }
            if let Some(existing) = state
                .services
                .values()
                .find(|s| s.namespace_id == namespace_id && s.name == input.name)
            {
                if input.creator_request_id.is_some()
                    && existing.creator_request_id == input.creator_request_id
                {
                    return Ok(service_view(existing, &app.scope.account_id));
                }
                return Err(ApiError::new(
                    ErrorCode::ServiceAlreadyExists,
                    format!(
                        "A service named '{}' already exists in {namespace_id} ({})",
                        input.name, existing.id
                    ),
                ));
            }
            let id = new_id("srv-");
            let arn = app.arn(&format!("service/{id}"));
            let service = Service {
                id: id.clone(),
                arn: arn.clone(),
                name: input.name.clone(),
                namespace_id: namespace_id.clone(),
                description: input.description.clone(),
                dns: dns.clone(),
                custom_health: input.health_check_custom_config.is_some(),
                http_only: http_only || namespace.kind == NamespaceType::Http,
                created: now,
                creator_request_id: input.creator_request_id.clone(),
                instances: BTreeMap::new(),
                revision: 1,
            };
            let view = service_view(&service, &app.scope.account_id);
            state.services.insert(id, service);
            put_tags(state, &arn, tags)?;
            Ok(view)
        })
        .await?;
    Ok(wire::CreateServiceResponse { service: Some(described) })
}

pub(crate) fn service_view(service: &Service, account: &str) -> wire::Service {
    wire::Service {
        id: Some(service.id.clone()),
        arn: Some(service.arn.clone()),
        resource_owner: Some(account.to_string()),
        name: Some(service.name.clone()),
        namespace_id: Some(service.namespace_id.clone()),
        description: service.description.clone(),
        instance_count: Some(service.instances.len() as i32),
        dns_config: service.dns.as_ref().map(|d| wire::DnsConfig {
            namespace_id: Some(service.namespace_id.clone()),
            routing_policy: Some(d.routing_policy.clone()),
            dns_records: d
                .records
                .iter()
                .map(|(t, ttl)| wire::DnsRecord { r#type: t.clone(), ttl: *ttl })
                .collect(),
        }),
        r#type: Some(
            if service.http_only {
                "HTTP"
            } else if service.dns.is_some() {
                "DNS_HTTP"
            } else {
                "HTTP"
            }
            .into(),
        ),
        health_check_custom_config: service
            .custom_health
            .then_some(wire::HealthCheckCustomConfig { failure_threshold: Some(1) }),
        create_date: Some(service.created),
        creator_request_id: service.creator_request_id.clone(),
        created_by_account: Some(account.to_string()),
        ..Default::default()
    }
}

pub fn get_service(
    app: &App,
    input: wire::GetServiceRequest,
) -> Result<wire::GetServiceResponse, ApiError> {
    let state = app.records.snapshot();
    let service = state.services.get(&input.id).ok_or_else(service_not_found)?;
    Ok(wire::GetServiceResponse { service: Some(service_view(service, &app.scope.account_id)) })
}

pub fn list_services(
    app: &App,
    input: wire::ListServicesRequest,
) -> Result<wire::ListServicesResponse, ApiError> {
    let state = app.records.snapshot();
    let mut found = Vec::new();
    for service in state.services.values() {
        let mut keep = true;
        for filter in input.filters.iter().flatten() {
            if filter.name != "NAMESPACE_ID" {
                return Err(invalid(format!("The filter {} is not valid", filter.name)));
            }
            if filter.condition.as_deref() == Some("BEGINS_WITH") {
                return Err(invalid("The NAMESPACE_ID filter takes EQ or IN"));
            }
            keep &= meets(filter.condition.as_deref(), &filter.values, &service.namespace_id)?;
        }
        if keep {
            found.push(service);
        }
    }
    found.sort_by(|a, b| a.created.total_cmp(&b.created).then(a.id.cmp(&b.id)));
    let (items, next) = page(&found, input.next_token.as_deref(), input.max_results, 100)?;
    Ok(wire::ListServicesResponse {
        services: Some(
            items
                .iter()
                .map(|s| {
                    let v = service_view(s, &app.scope.account_id);
                    wire::ServiceSummary {
                        id: v.id,
                        arn: v.arn,
                        resource_owner: v.resource_owner,
                        name: v.name,
                        r#type: v.r#type,
                        description: v.description,
                        instance_count: v.instance_count,
                        dns_config: v.dns_config,
                        health_check_custom_config: v.health_check_custom_config,
                        create_date: v.create_date,
                        created_by_account: v.created_by_account,
                        ..Default::default()
                    }
                })
                .collect(),
        ),
        next_token: next,
    })
}

pub async fn delete_service(
    app: &App,
    input: wire::DeleteServiceRequest,
) -> Result<serde_json::Value, ApiError> {
    app.change(|state| {
        let service = state.services.get(&input.id).ok_or_else(service_not_found)?;
        if !service.instances.is_empty() {
            return Err(ApiError::new(
                ErrorCode::ResourceInUse,
                format!("The service {} has registered instances: deregister them first", input.id),
            ));
        }
        let arn = service.arn.clone();
        state.services.remove(&input.id);
        state.tags.remove(&arn);
        Ok(())
    })
    .await?;
    Ok(serde_json::json!({}))
}

pub fn get_operation(
    app: &App,
    input: wire::GetOperationRequest,
) -> Result<wire::GetOperationResponse, ApiError> {
    let not_found = || {
        ApiError::new(ErrorCode::OperationNotFound, "No operation exists with the specified ID.")
    };
    if input.owner_account.as_ref().is_some_and(|a| *a != app.scope.account_id) {
        return Err(not_found());
    }
    let state = app.records.snapshot();
    let op = state.operations.get(&input.operation_id).ok_or_else(not_found)?;
    Ok(wire::GetOperationResponse {
        operation: Some(wire::Operation {
            id: Some(op.id.clone()),
            owner_account: Some(app.scope.account_id.clone()),
            r#type: Some(op.kind.clone()),
            status: Some("SUCCESS".into()),
            create_date: Some(op.at),
            update_date: Some(op.at),
            targets: Some(op.targets.clone()),
            ..Default::default()
        }),
    })
}

/// Checks `arn` names a namespace or service.
fn check_resource(state: &Discovery, arn: &str) -> Result<(), ApiError> {
    let exists = state.namespaces.values().any(|n| n.arn == arn)
        || state.services.values().any(|s| s.arn == arn);
    if exists {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::ResourceNotFoundException,
            format!("The resource {arn} does not exist."),
        ))
    }
}

pub async fn tag(
    app: &App,
    input: wire::TagResourceRequest,
) -> Result<serde_json::Value, ApiError> {
    let tags = checked_tags(input.tags)?;
    app.change(|state| {
        check_resource(state, &input.resource_arn)?;
        put_tags(state, &input.resource_arn, tags)
    })
    .await?;
    Ok(serde_json::json!({}))
}

pub async fn untag(
    app: &App,
    input: wire::UntagResourceRequest,
) -> Result<serde_json::Value, ApiError> {
    app.change(|state| {
        check_resource(state, &input.resource_arn)?;
        if let Some(held) = state.tags.get_mut(&input.resource_arn) {
            held.retain(|k, _| !input.tag_keys.contains(k));
        }
        Ok(())
    })
    .await?;
    Ok(serde_json::json!({}))
}

pub fn list_tags(
    app: &App,
    input: wire::ListTagsForResourceRequest,
) -> Result<wire::ListTagsForResourceResponse, ApiError> {
    let state = app.records.snapshot();
    check_resource(&state, &input.resource_arn)?;
    let tags = state.tags.get(&input.resource_arn).cloned().unwrap_or_default();
    Ok(wire::ListTagsForResourceResponse {
        tags: Some(tags.into_iter().map(|(key, value)| wire::Tag { key, value }).collect()),
    })
}

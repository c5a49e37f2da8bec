//! Elastic Load Balancing v2 (SigV4 service `elasticloadbalancing`, the query protocol,
//! version 2015-12-01): application load balancers over HTTP and HTTPS and network load
//! balancers over TCP, their target groups (instance and ip targets, HTTP or TCP health checks,
//! deregistration delay, stickiness), listeners, rules (conditions and forward, fixed-response
//! and redirect actions) and tags. The records live in `records.rs`; the proxy
//! (`flotilla-proxy`) serves them and reports what it sees on the [`health::HealthBoard`].
//! What ELBv2 needs of EC2 (subnets, security groups) and of ECS (where an instance is) comes
//! through the [`Vpcs`] and [`Instances`] traits the server wires in.

pub mod addresses;
pub mod attributes;
mod balancers;
pub mod health;
mod listeners;
pub mod model;
pub mod records;
pub mod remote;
mod rules;
pub mod service;
mod tags;
mod target_groups;
pub mod targets;
pub mod wire;

pub use balancers::{dns_record_sets, dns_zone};

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use flotilla_api::arn::ArnScope;
use flotilla_api::{ApiError, ErrorCode};
use flotilla_front::schema::{self, Kind, ParamNames};
use flotilla_front::Document;
use serde::Serialize;

/// SigV4 service name of ELBv2.
pub const SIGNING_NAME: &str = "elasticloadbalancing";
/// The ELBv2 API's `Version`.
pub const API_VERSION: &str = "2015-12-01";
/// The XML namespace of ELBv2's answers.
pub const XML_NAMESPACE: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

/// A future a wiring trait returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The region's network as ELBv2 checks names against it (EC2 owns it; the server wires it in).
#[derive(Debug, Clone, Default)]
pub struct VpcView {
    pub vpc_id: String,
    pub default_group: String,
    /// (subnet id, zone) of every subnet.
    pub subnets: Vec<(String, String)>,
    /// Every security group id.
    pub groups: Vec<String>,
}

/// Where ELBv2 learns the region's subnets and security groups.
pub trait Vpcs: Send + Sync {
    fn view(&self) -> BoxFuture<'_, Result<VpcView, String>>;
}

/// A container instance as an instance target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    /// The address its agent announces (`flotilla agent --advertise-address`).
    pub address: Option<IpAddr>,
}

/// Where ELBv2 learns the region's instances (ECS's container instances, by `ec2InstanceId`).
pub trait Instances: Send + Sync {
    fn instance(&self, instance_id: &str) -> Option<InstanceInfo>;
}

/// A certificate as an HTTPS listener presents it (ACM's, wired in by the server).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsCertificate {
    /// The certificate and its chain, PEM.
    pub chain: String,
    pub private_key: String,
    /// Changes when the certificate is re-imported (the listener then presents the new one).
    pub version: f64,
}

/// Where ELBv2 finds the certificates its HTTPS listeners name.
pub trait Certificates: Send + Sync {
    fn certificate(&self, arn: &str) -> Option<TlsCertificate>;
}

/// One region's ELBv2.
pub struct App {
    pub scope: ArnScope,
    pub records: records::Records,
    pub health: Arc<health::HealthBoard>,
    pub addresses: Arc<addresses::AddressPool>,
    pub vpcs: Arc<dyn Vpcs>,
    pub instances: Arc<dyn Instances>,
    pub certificates: Arc<dyn Certificates>,
}

impl App {
    /// Opens a region's ELBv2 over its store; its load balancers keep their addresses.
    pub async fn open(
        scope: ArnScope,
        store: Arc<dyn flotilla_store::Store>,
        addresses: Arc<addresses::AddressPool>,
        vpcs: Arc<dyn Vpcs>,
        instances: Arc<dyn Instances>,
        certificates: Arc<dyn Certificates>,
    ) -> Result<App, records::RecordsError> {
        let records = records::Records::open(store).await?;
        for lb in records.snapshot().load_balancers.values() {
            addresses.claim(lb.address);
        }
        Ok(App {
            scope,
            records,
            health: Arc::new(health::HealthBoard::default()),
            addresses,
            vpcs,
            instances,
            certificates,
        })
    }

    /// An ARN of this region's ELBv2: `arn:aws:elasticloadbalancing:<region>:<account>:<resource>`.
    fn arn(&self, resource: &str) -> String {
        format!(
            "arn:aws:elasticloadbalancing:{}:{}:{resource}",
            self.scope.region, self.scope.account_id
        )
    }

    async fn vpc(&self) -> Result<VpcView, ApiError> {
        self.vpcs.view().await.map_err(|e| {
            ApiError::new(ErrorCode::InternalServiceFault, format!("the region's network: {e}"))
        })
    }
}

/// Checks that `operation` is served (before its parameters are judged).
pub fn check_operation(operation: &str) -> Result<(), ApiError> {
    if wire::operation_schema(operation).is_some() {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::UnknownOperationException,
        format!("The action {operation} is not valid for this web service (ELBv2 here serves application load balancers, target groups, listeners, rules, targets and tags)."),
    ))
}

/// Runs `operation` on query parameters: typed to the model's shape, the field ledger's
/// refusals, then the handler; the answer is a document of the operation's output schema.
pub async fn serve(
    app: &App,
    operation: &str,
    input: flotilla_front::Input,
    now: SystemTime,
) -> Result<Document, ApiError> {
    check_operation(operation)?;
    let (kind, output) = wire::operation_schema(operation).ok_or_else(|| {
        ApiError::new(ErrorCode::UnknownOperationException, operation.to_string())
    })?;
    let flotilla_front::Input::Params(params) = input else {
        return Err(ApiError::new(
            ErrorCode::SerializationException,
            "ELBv2 takes query parameters (Action, Version, ...)",
        ));
    };
    let input = schema::typed_params(params, kind, ParamNames::Query)
        .map_err(|e| ApiError::new(ErrorCode::ValidationException, e.message))?;
    if let Some(path) =
        flotilla_front::refusal::refused_member(&input, wire::refused_paths(operation))
    {
        return Err(ApiError::new(
            ErrorCode::ValidationException,
            flotilla_front::refusal::not_supported_message(path),
        ));
    }
    let now = now.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let out = output.unwrap_or(&wire::EMPTY);
    match operation {
        "CreateLoadBalancer" => answer(balancers::create(app, decode(input)?, now).await?, out),
        "DescribeLoadBalancers" => answer(balancers::describe(app, decode(input)?)?, out),
        "DeleteLoadBalancer" => answer(balancers::delete(app, decode(input)?).await?, out),
        "DescribeLoadBalancerAttributes" => {
            answer(balancers::describe_attributes(app, decode(input)?)?, out)
        }
        "ModifyLoadBalancerAttributes" => {
            answer(balancers::modify_attributes(app, decode(input)?).await?, out)
        }
        "CreateTargetGroup" => answer(target_groups::create(app, decode(input)?).await?, out),
        "DescribeTargetGroups" => answer(target_groups::describe(app, decode(input)?)?, out),
        "ModifyTargetGroup" => answer(target_groups::modify(app, decode(input)?).await?, out),
        "DeleteTargetGroup" => answer(target_groups::delete(app, decode(input)?).await?, out),
        "DescribeTargetGroupAttributes" => {
            answer(target_groups::describe_attributes(app, decode(input)?)?, out)
        }
        "ModifyTargetGroupAttributes" => {
            answer(target_groups::modify_attributes(app, decode(input)?).await?, out)
        }
        "CreateListener" => answer(listeners::create(app, decode(input)?).await?, out),
        "DescribeListeners" => answer(listeners::describe(app, decode(input)?)?, out),
        "ModifyListener" => answer(listeners::modify(app, decode(input)?).await?, out),
        "DeleteListener" => answer(listeners::delete(app, decode(input)?).await?, out),
        "DescribeListenerAttributes" => {
            answer(listeners::describe_attributes(app, decode(input)?)?, out)
        }
        "ModifyListenerAttributes" => {
            answer(listeners::modify_attributes(app, decode(input)?).await?, out)
        }
        "CreateRule" => answer(rules::create(app, decode(input)?).await?, out),
        "DescribeRules" => answer(rules::describe(app, decode(input)?)?, out),
        "ModifyRule" => answer(rules::modify(app, decode(input)?).await?, out),
        "DeleteRule" => answer(rules::delete(app, decode(input)?).await?, out),
        "SetRulePriorities" => answer(rules::set_priorities(app, decode(input)?).await?, out),
        "RegisterTargets" => answer(targets::register(app, decode(input)?, now).await?, out),
        "DeregisterTargets" => answer(targets::deregister(app, decode(input)?, now).await?, out),
        "DescribeTargetHealth" => answer(targets::describe_health(app, decode(input)?, now)?, out),
        "AddTags" => answer(tags::add(app, decode(input)?).await?, out),
        "RemoveTags" => answer(tags::remove(app, decode(input)?).await?, out),
        _ => answer(tags::describe(app, decode(input)?)?, out),
    }
}

/// A request in the model's JSON shape as its generated type.
fn decode<T: serde::de::DeserializeOwned>(input: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(input).map_err(|e| match flotilla_api::missing_member(&e) {
        Some(member) => validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(&member)
        )),
        None => validation(e.to_string()),
    })
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// An output as the protocol-neutral document the door writes.
fn answer(output: impl Serialize, kind: &Kind) -> Result<Document, ApiError> {
    let value = serde_json::to_value(output).map_err(|e| {
        ApiError::new(ErrorCode::InternalServiceFault, format!("cannot encode the answer: {e}"))
    })?;
    Ok(schema::document(&value, kind))
}

fn lb_not_found() -> ApiError {
    ApiError::new(ErrorCode::LoadBalancerNotFound, "One or more load balancers not found")
}

fn tg_not_found() -> ApiError {
    ApiError::new(ErrorCode::TargetGroupNotFound, "One or more target groups not found")
}

fn listener_not_found() -> ApiError {
    ApiError::new(ErrorCode::ListenerNotFound, "One or more listeners not found")
}

fn rule_not_found() -> ApiError {
    ApiError::new(ErrorCode::RuleNotFound, "One or more rules not found")
}

/// ELB's `ValidationError`.
fn validation(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::ValidationException, message)
}

/// A fresh ELB id: 16 hex digits.
fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_string()
}

/// A name of a load balancer or target group as ELB allows it: 1–32 letters, digits and
/// hyphens, not starting or ending with a hyphen.
fn check_name(name: &str, what: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(validation(format!(
            "{what} name '{name}' cannot be longer than '32' characters, and can only contain alphanumeric characters and hyphens, not beginning or ending with a hyphen"
        )))
    }
}

/// A page of `items` after `marker` (the index this server handed out), at most `page_size`.
fn page<T: Clone>(
    items: &[T],
    marker: Option<&str>,
    page_size: Option<i32>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let size = match page_size {
        None => 400,
        Some(n) if (1..=400).contains(&n) => n as usize,
        Some(n) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{n}' at 'pageSize' failed to satisfy constraint: Member must have value between 1 and 400"
            )))
        }
    };
    let start = match marker {
        None => 0,
        Some(m) => m
            .strip_prefix("flotilla-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| validation("The marker is not valid"))?,
    };
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| format!("flotilla-{end}"));
    Ok((items[start..end].to_vec(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_pages_follow_elb() {
        assert!(check_name("web-1", "Load balancer").is_ok());
        for bad in ["", "-web", "web-", "web_1", &"a".repeat(33)] {
            assert!(check_name(bad, "Load balancer").is_err(), "{bad}");
        }
        let items: Vec<u32> = (0..5).collect();
        let (first, next) = page(&items, None, Some(2)).expect("page");
        assert_eq!((first, next.as_deref()), (vec![0, 1], Some("flotilla-2")));
        let (last, next) = page(&items, Some("flotilla-4"), Some(2)).expect("page");
        assert_eq!((last, next), (vec![4], None));
        assert!(page(&items, Some("flotilla-9"), None).is_err());
        assert!(page(&items, None, Some(0)).is_err());
    }
}

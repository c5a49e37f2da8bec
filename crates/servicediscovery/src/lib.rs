//! AWS Cloud Map (AWS JSON 1.1, `X-Amz-Target: Route53AutoNaming_v20170314.<Operation>`,
//! SigV4 `servicediscovery`): private DNS and HTTP namespaces, services, instances, discovery
//! (DiscoverInstances, which botocore sends to a `data-` host), custom health, operations and
//! tags. Kept as one document of the region's store (`servicediscovery/state`). Operations
//! complete as they are asked (GetOperation answers SUCCESS). `dns.rs` says what the private DNS
//! namespaces answer; the agents' DNS servers answer it (docs/service-discovery.md).

pub mod dns;
mod handlers;
mod instances;
pub mod model;
pub mod registrations;
pub mod service;
pub mod wire;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use flotilla_api::arn::ArnScope;
use flotilla_api::{ApiError, ErrorCode};
use flotilla_store::{Document, Store, StoreError};
use serde::Serialize;

/// SigV4 service name of Cloud Map.
pub const SIGNING_NAME: &str = "servicediscovery";
/// The `X-Amz-Target` prefix of Cloud Map's operations.
pub const TARGET_PREFIX: &str = "Route53AutoNaming_v20170314.";

const KEY: &str = "servicediscovery/state";

/// A future a wiring trait returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where Cloud Map learns the region's VPCs (EC2's, wired in by the server).
pub trait Vpcs: Send + Sync {
    fn vpc_ids(&self) -> BoxFuture<'_, Result<Vec<String>, String>>;
}

/// One region's Cloud Map.
pub struct App {
    pub scope: ArnScope,
    pub records: Document<model::Discovery>,
    pub vpcs: Arc<dyn Vpcs>,
}

impl App {
    pub async fn open(
        scope: ArnScope,
        store: Arc<dyn Store>,
        vpcs: Arc<dyn Vpcs>,
    ) -> Result<App, StoreError> {
        Ok(App { scope, records: Document::open(store, KEY).await?, vpcs })
    }

    fn arn(&self, resource: &str) -> String {
        format!(
            "arn:aws:servicediscovery:{}:{}:{resource}",
            self.scope.region, self.scope.account_id
        )
    }

    /// Applies a change to the records (stored before the answer; nothing when refused).
    async fn change<T>(
        &self,
        change: impl FnOnce(&mut model::Discovery) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.records.change(change).await.map_err(|e| {
            ApiError::new(ErrorCode::InternalServiceFault, format!("the store: {e}"))
        })?
    }
}

/// Runs Cloud Map operation `operation` on JSON `body`.
pub async fn dispatch(
    app: &App,
    operation: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<Vec<u8>, ApiError> {
    if let Some(message) =
        flotilla_front::refusal::refusal_in_json(body, wire::refused_paths(operation))
    {
        return Err(invalid(message));
    }
    let now = flotilla_api::epoch_seconds(now);
    match operation {
        "CreatePrivateDnsNamespace" => respond(handlers::create_dns_namespace(app, decode(body)?, now).await?),
        "CreateHttpNamespace" => respond(handlers::create_http_namespace(app, decode(body)?, now).await?),
        "GetNamespace" => respond(handlers::get_namespace(app, decode(body)?)?),
        "ListNamespaces" => respond(handlers::list_namespaces(app, decode(body)?)?),
        "DeleteNamespace" => respond(handlers::delete_namespace(app, decode(body)?, now).await?),
        "CreateService" => respond(handlers::create_service(app, decode(body)?, now).await?),
        "GetService" => respond(handlers::get_service(app, decode(body)?)?),
        "ListServices" => respond(handlers::list_services(app, decode(body)?)?),
        "DeleteService" => respond(handlers::delete_service(app, decode(body)?).await?),
        "GetOperation" => respond(handlers::get_operation(app, decode(body)?)?),
        "TagResource" => respond(handlers::tag(app, decode(body)?).await?),
        "UntagResource" => respond(handlers::untag(app, decode(body)?).await?),
        "ListTagsForResource" => respond(handlers::list_tags(app, decode(body)?)?),
        "RegisterInstance" => respond(instances::register(app, decode(body)?, now).await?),
        "DeregisterInstance" => respond(instances::deregister(app, decode(body)?, now).await?),
        "ListInstances" => respond(instances::list(app, decode(body)?)?),
        "GetInstance" => respond(instances::get(app, decode(body)?)?),
        "DiscoverInstances" => respond(instances::discover(app, decode(body)?)?),
        "GetInstancesHealthStatus" => respond(instances::health_status(app, decode(body)?)?),
        "UpdateInstanceCustomHealthStatus" => {
            instances::update_health(app, decode(body)?).await?;
            Ok(b"{}".to_vec())
        }
        other => Err(ApiError::new(
            ErrorCode::UnknownOperationException,
            format!("The operation {other} is not served here (Cloud Map here serves private DNS and HTTP namespaces, services and instances)"),
        )),
    }
}

/// Cloud Map's `InvalidInput`.
fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidInput, message)
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| match flotilla_api::missing_member(&e) {
        Some(member) => invalid(format!("{member} is required")),
        None => ApiError::new(ErrorCode::SerializationException, e.to_string()),
    })
}

fn respond(value: impl Serialize) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(&value).map_err(|e| {
        ApiError::new(ErrorCode::InternalServiceFault, format!("cannot encode the answer: {e}"))
    })
}

/// A page of `items` after `token` (an offset this server handed out), at most `max`.
fn page<T: Clone>(
    items: &[T],
    token: Option<&str>,
    max: Option<i32>,
    limit: i32,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let size = match max {
        None => limit as usize,
        Some(n) if (1..=limit).contains(&n) => n as usize,
        Some(n) => {
            return Err(invalid(format!("MaxResults must be between 1 and {limit}, not {n}")))
        }
    };
    let start = match token {
        None => 0,
        Some(t) => t
            .strip_prefix("flotilla-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| invalid("The NextToken is not one this server gave."))?,
    };
    let end = (start + size).min(items.len());
    Ok((items[start..end].to_vec(), (end < items.len()).then(|| format!("flotilla-{end}"))))
}

//! The edge between the generated wire types (`wire`) and the domain records of `flotilla_api`.
//!
//! Small shapes (tags, failures, key/value pairs) are converted member by member. The large
//! records that mirror the model's shapes member for member (container definitions, tasks,
//! services, deployments) cross through serde: both sides carry the wire's member names, and
//! `convert_tests` proves, for each such pair, that a value with every member of the model
//! crosses both ways without losing one. A domain type that drops or renames a member fails
//! there, not in front of a user.

use flotilla_api::common::{Failure, KeyValuePair, Tag};
use flotilla_api::taskdef::Attribute;
use flotilla_api::{ApiError, ErrorCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::wire;

/// A request's member (generated type) as the domain type that mirrors it. A value the domain
/// type cannot hold (a negative number where it keeps an unsigned one) is the client's error.
pub fn into_domain<W: Serialize, D: DeserializeOwned>(
    member: &str,
    wire: &W,
) -> Result<D, ApiError> {
    let value = serde_json::to_value(wire)
        .map_err(|e| ApiError::server(format!("cannot read member {member}: {e}")))?;
    serde_json::from_value(value).map_err(|e| {
        ApiError::new(ErrorCode::InvalidParameterException, format!("invalid {member}: {e}"))
    })
}

/// A domain record as the generated type of an answer. Failing is a defect of this server (a
/// stored value the model cannot carry), never the client's.
pub fn into_wire<D: Serialize, W: DeserializeOwned>(domain: &D) -> Result<W, ApiError> {
    let value = serde_json::to_value(domain)
        .map_err(|e| ApiError::server(format!("cannot encode answer: {e}")))?;
    serde_json::from_value(value)
        .map_err(|e| ApiError::server(format!("stored record does not fit the model: {e}")))
}

/// A capacity provider strategy as ECS answers it.
pub fn strategy_to_wire(
    items: &[flotilla_api::cluster::CapacityProviderStrategyItem],
) -> Vec<wire::CapacityProviderStrategyItem> {
    items
        .iter()
        .map(|i| wire::CapacityProviderStrategyItem {
            capacity_provider: i.capacity_provider.clone(),
            weight: i.weight,
            base: i.base,
        })
        .collect()
}

pub fn tags_from_wire(tags: Option<Vec<wire::Tag>>) -> Vec<Tag> {
    tags.unwrap_or_default().into_iter().map(|t| Tag { key: t.key, value: t.value }).collect()
}

/// A resource's tags as ECS answers them in a description: no member at all when there are
/// none (ListTagsForResource alone answers an empty list).
pub fn tags_if_any(tags: Option<&[Tag]>) -> Option<Vec<wire::Tag>> {
    tags.filter(|t| !t.is_empty()).map(tags_to_wire)
}

pub fn tags_to_wire(tags: &[Tag]) -> Vec<wire::Tag> {
    tags.iter().map(|t| wire::Tag { key: t.key.clone(), value: t.value.clone() }).collect()
}

/// A requested attribute as the domain keeps it.
pub fn attribute_from_wire(attribute: wire::Attribute) -> Attribute {
    Attribute {
        name: attribute.name,
        value: attribute.value,
        target_type: attribute.target_type,
        target_id: attribute.target_id,
    }
}

/// An attribute as the API answers it.
pub fn attribute_to_wire(attribute: Attribute) -> wire::Attribute {
    wire::Attribute {
        name: attribute.name,
        value: attribute.value,
        target_type: attribute.target_type,
        target_id: attribute.target_id,
    }
}

pub fn failures_to_wire(failures: Vec<Failure>) -> Vec<wire::Failure> {
    failures
        .into_iter()
        .map(|f| wire::Failure { arn: f.arn, reason: f.reason, detail: f.detail })
        .collect()
}

pub fn pairs_to_wire(pairs: &[KeyValuePair]) -> Vec<wire::KeyValuePair> {
    pairs
        .iter()
        .map(|p| wire::KeyValuePair { name: p.name.clone(), value: p.value.clone() })
        .collect()
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;

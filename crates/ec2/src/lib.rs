//! EC2 (SigV4 service `ec2`, botocore's `ec2` protocol: `Action` and `Version=2016-11-15`
//! parameters named `Name.N`, XML answers with `<item>` lists): the networking records ELBv2,
//! Cloud Map and task networking name. So far it describes: the availability zones (those the
//! region's agents announce, which the server's wiring supplies through [`ZoneSource`]) and the
//! default network (`network.rs`: a default VPC, a default subnet per zone, the default
//! security group). Requests and answers are the wire types generated from botocore's model
//! (`wire.rs`).

mod create;
mod describe;
pub mod enforced;
pub mod interfaces;
pub mod network;
mod rules;
pub mod service;
pub mod slices;
mod tags;
pub mod wire;
mod zones;

use std::sync::Arc;
use std::time::SystemTime;

use flotilla_api::arn::ArnScope;
use flotilla_api::{ApiError, ErrorCode};
use flotilla_front::schema::{self, Kind, ParamNames};
use flotilla_front::Document;
use serde::Serialize;

/// SigV4 service name of EC2.
pub const SIGNING_NAME: &str = "ec2";
/// The EC2 API's `Version`.
pub const API_VERSION: &str = "2016-11-15";
/// The XML namespace of EC2's answers.
pub const XML_NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// Where a region's availability zones come from: the zones its container instances' agents
/// announce (ECS owns them; the server wires them in).
pub trait ZoneSource: Send + Sync {
    /// The zone names, sorted, without repeats.
    fn zones(&self) -> Vec<String>;
}

/// One region's EC2.
pub struct App {
    pub scope: ArnScope,
    pub zones: Arc<dyn ZoneSource>,
    pub networks: network::Networks,
    /// The awsvpc tasks' interfaces (ECS's).
    pub interfaces: Arc<dyn interfaces::InterfaceSource>,
}

impl App {
    /// Opens a region's EC2 over its store: the default network loaded, or made with a VPC of
    /// `vpc_cidr` on the first start.
    pub async fn open(
        scope: ArnScope,
        zones: Arc<dyn ZoneSource>,
        interfaces: Arc<dyn interfaces::InterfaceSource>,
        store: Arc<dyn flotilla_store::Store>,
        vpc_cidr: &str,
    ) -> Result<App, network::NetworkError> {
        let networks = network::Networks::open(store, vpc_cidr).await?;
        Ok(App { scope, zones, networks, interfaces })
    }
}

impl App {
    /// The region's network with a default subnet for every zone of its agents (what other
    /// services check the subnets and security groups they are given against).
    pub async fn network(&self) -> Result<network::Network, network::NetworkError> {
        self.networks.with_zones(&self.zones.zones()).await
    }
}

/// What a handler gets besides its request.
pub struct Ctx<'a> {
    pub app: &'a App,
}

impl Ctx<'_> {
    /// The default network, with a default subnet for every zone the region's agents are in.
    async fn network(&self) -> Result<network::Network, ApiError> {
        self.app.networks.with_zones(&self.app.zones.zones()).await.map_err(|e| {
            ApiError::new(ErrorCode::InternalServiceFault, format!("the default network: {e}"))
        })
    }
}

/// Checks that `operation` is served (before its parameters are judged, as AWS does).
pub fn check_operation(operation: &str) -> Result<(), ApiError> {
    if wire::operation_schema(operation).is_some() {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::UnknownOperationException,
        format!("The action {operation} is not valid for this web service (EC2 here serves the availability zones, the VPC, its subnets and security groups)."),
    ))
}

/// Runs `operation` on EC2 parameters: the operation checked first, the parameters typed to
/// the model's shape, the field ledger's refusals, then the handler; the answer is a document
/// of the operation's output schema.
pub async fn serve(
    app: &App,
    operation: &str,
    input: flotilla_front::Input,
    _now: SystemTime,
) -> Result<Document, ApiError> {
    check_operation(operation)?;
    let (kind, output) = wire::operation_schema(operation).ok_or_else(|| {
        ApiError::new(ErrorCode::UnknownOperationException, operation.to_string())
    })?;
    let params = match input {
        flotilla_front::Input::Params(params) => params,
        _ => {
            return Err(ApiError::new(
                ErrorCode::SerializationException,
                "EC2 takes query parameters (Action, Version, ...)",
            ))
        }
    };
    // EC2 refuses a parameter it does not know (a misspelt or miscased one) instead of
    // ignoring it.
    if let Some(path) = schema::unknown_param(&params, kind, ParamNames::Ec2) {
        return Err(ApiError::new(
            ErrorCode::UnknownParameter,
            format!("The parameter {path} is not recognized"),
        ));
    }
    let input = schema::typed_params(params, kind, ParamNames::Ec2)
        .map_err(|e| ApiError::new(ErrorCode::InvalidParameterValueException, e.message))?;
    if let Some(path) =
        flotilla_front::refusal::refused_member(&input, wire::refused_paths(operation))
    {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValueException,
            flotilla_front::refusal::not_supported_message(path),
        ));
    }
    let ctx = Ctx { app };
    let output_kind = output.unwrap_or(&wire::EMPTY);
    match operation {
        "DescribeVpcs" => answer(describe::vpcs(&ctx, decode(input)?).await?, output_kind),
        "DescribeSubnets" => answer(describe::subnets(&ctx, decode(input)?).await?, output_kind),
        "DescribeSecurityGroups" => {
            answer(describe::security_groups(&ctx, decode(input)?).await?, output_kind)
        }
        "CreateSubnet" => answer(create::create_subnet(&ctx, decode(input)?).await?, output_kind),
        "DeleteSubnet" => {
            create::delete_subnet(&ctx, decode(input)?).await?;
            answer(serde_json::json!({}), output_kind)
        }
        "CreateSecurityGroup" => {
            answer(create::create_security_group(&ctx, decode(input)?).await?, output_kind)
        }
        "DeleteSecurityGroup" => {
            answer(create::delete_security_group(&ctx, decode(input)?).await?, output_kind)
        }
        "AuthorizeSecurityGroupIngress" => {
            answer(rules::authorize_ingress(&ctx, decode(input)?).await?, output_kind)
        }
        "AuthorizeSecurityGroupEgress" => {
            answer(rules::authorize_egress(&ctx, decode(input)?).await?, output_kind)
        }
        "RevokeSecurityGroupIngress" => {
            answer(rules::revoke_ingress(&ctx, decode(input)?).await?, output_kind)
        }
        "RevokeSecurityGroupEgress" => {
            answer(rules::revoke_egress(&ctx, decode(input)?).await?, output_kind)
        }
        "CreateTags" => {
            tags::create(&ctx, decode(input)?).await?;
            answer(serde_json::json!({}), output_kind)
        }
        "DeleteTags" => {
            tags::delete(&ctx, decode(input)?).await?;
            answer(serde_json::json!({}), output_kind)
        }
        "DescribeTags" => answer(tags::describe(&ctx, decode(input)?).await?, output_kind),
        "DescribeNetworkInterfaces" => {
            answer(interfaces::describe(&ctx, decode(input)?).await?, output_kind)
        }
        _ => answer(zones::describe(&ctx, decode(input)?)?, output_kind),
    }
}

/// A request in the model's JSON shape as its generated type.
fn decode<T: serde::de::DeserializeOwned>(input: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(input).map_err(|e| match flotilla_api::missing_member(&e) {
        Some(member) => missing(&member),
        None => ApiError::new(ErrorCode::InvalidParameterValueException, e.to_string()),
    })
}

/// An output as the protocol-neutral document the door writes.
fn answer(output: impl Serialize, kind: &Kind) -> Result<Document, ApiError> {
    let value = serde_json::to_value(output).map_err(|e| {
        ApiError::new(ErrorCode::InternalServiceFault, format!("cannot encode the answer: {e}"))
    })?;
    Ok(schema::document(&value, kind))
}

/// EC2's answer to a request without a parameter the operation needs.
fn missing(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::MissingRequiredParameterException,
        format!("The request must contain the parameter {name}"),
    )
}

/// EC2's answer to a request with `DryRun` set that would have succeeded.
fn dry_run() -> ApiError {
    ApiError::new(
        ErrorCode::DryRunOperation,
        "Request would have succeeded, but DryRun flag is set.",
    )
}

/// One `Filters` entry checked against the names an operation takes: EC2 refuses others.
fn check_filter(name: &str, known: &[&str]) -> Result<(), ApiError> {
    if known.contains(&name) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidParameterValueException,
            format!("The filter '{name}' is invalid"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_parameter_is_named_in_ec2s_words() {
        let err = decode::<wire::DeleteSubnetRequest>(serde_json::json!({"DryRun": false}))
            .expect_err("SubnetId is required");
        assert_eq!(err.code, ErrorCode::MissingRequiredParameterException);
        assert_eq!(err.code.query_code(), "MissingParameter");
        assert_eq!(err.message, "The request must contain the parameter SubnetId");
        let err = decode::<wire::DeleteSubnetRequest>(serde_json::json!({"SubnetId": 7}))
            .expect_err("a number is no subnet ID");
        assert_eq!(err.code.query_code(), "InvalidParameterValue");
    }
}

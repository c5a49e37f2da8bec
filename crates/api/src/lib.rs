//! ECS and CloudWatch Logs wire types, AWS-shaped errors, ARNs and request validation. No IO, no
//! clock.
//!
//! This is the only crate that derives serde for ECS shapes: names and casing follow botocore's
//! `ecs/2014-11-13/service-2.json` (and `logs/2014-03-28/service-2.json` for `logs`,
//! `cloudwatch/2010-08-01/service-2.json` for `cloudwatch`) member for member.

pub mod account;
pub mod agent;
pub mod arn;
pub mod capacity;
pub mod cidr;
pub mod clock;
pub mod cluster;
pub mod common;
pub mod datapoint;
pub mod dns;
pub mod error;
pub mod firewall;
pub mod instance;
pub mod logs;
pub mod pagination;
pub mod routes;
pub mod service;
pub mod status;
pub mod task;
pub mod taskdef;

pub use common::{epoch_seconds, missing_member, Failure, KeyValuePair, Tag};
pub use error::{ApiError, ErrorCode};

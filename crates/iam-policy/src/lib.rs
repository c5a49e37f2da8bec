//! IAM policy documents and their evaluation, as AWS evaluates the policies of one principal:
//! an explicit `Deny` wins, an `Allow` is needed, anything else is an implicit deny. A pure crate
//! (no I/O, no clock): the caller gives the request — action, resource, the context's keys —
//! and gets a [`Decision`].
//!
//! - [`Policy::parse`] reads a policy document (Version, Statement as one object or a list;
//!   Effect, Action/NotAction, Resource/NotResource, Principal/NotPrincipal, Condition) and
//!   refuses what AWS would refuse, naming it.
//! - Actions match case-insensitively with `*` and `?`; resources match ARN by ARN segment.
//! - Conditions: the String, Arn, Numeric, Date, Bool, Binary, IpAddress and Null operators,
//!   their `...IfExists` forms, `ForAnyValue:`/`ForAllValues:`, and policy variables
//!   (`${aws:username}`, `${aws:PrincipalTag/team}`, `${key, 'default'}`, `${*}`, `${?}`,
//!   `${$}`) in resources and in String/Arn condition values.
//!
//! No maintained evaluator crate fitted (see docs/security.md): `iam-rs` leaves policy variables
//! out of condition values and treats a missing one as an empty string, `scratchstack-aspen`
//! has no set operators and no release since 2023, and the others evaluate a subset.

mod condition;
mod context;
mod document;
mod error;
mod evaluate;
mod matching;

pub use context::Context;
pub use document::{Effect, Policy, Principal, Statement};
pub use error::PolicyError;
pub use evaluate::{evaluate, keys_read, Decision, Request};

#[cfg(test)]
mod tests;

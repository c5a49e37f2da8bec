//! The one authorization hook every request passes between authentication and its service.
//! Handlers never check permissions themselves.

use crate::caller::Caller;
use crate::error::WireError;

/// The request being authorized: the service (its signing name), the operation and its
/// input (the authorizer reads the resources it names from it).
#[derive(Debug, Clone, Copy)]
pub struct Action<'a> {
    pub service: &'static str,
    pub operation: &'a str,
    pub input: &'a crate::service::Input,
    /// Where the request came from (`aws:SourceIp`), when the listener knows.
    pub source_ip: Option<std::net::IpAddr>,
    pub now: std::time::SystemTime,
}

/// Decides whether `caller` may perform `action`. Runs after the signature is verified and
/// before the service sees the request.
pub trait Authorizer: Send + Sync {
    fn authorize(&self, caller: &Caller, action: &Action<'_>) -> Result<(), WireError>;
}

/// Every authenticated caller may do everything (until IAM policies are evaluated here).
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, _caller: &Caller, _action: &Action<'_>) -> Result<(), WireError> {
        Ok(())
    }
}

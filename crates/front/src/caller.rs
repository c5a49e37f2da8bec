//! Who is calling, and the one authorization hook every request passes between authentication
//! and its service. Handlers never check permissions themselves.

use crate::error::WireError;

/// The verified identity behind a request, handed to the authorizer and the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub access_key_id: String,
    /// The account the key belongs to.
    pub account_id: String,
    /// `arn:aws:iam::<account>:root`, a user's or an assumed role's ARN.
    pub principal_arn: String,
    /// The region the request was signed for (its credential scope).
    pub region: String,
    /// Signed with temporary credentials (an STS session and its token).
    pub temporary: bool,
}

/// What the door knows about an access key. `Debug` never shows the secret.
#[derive(Clone)]
pub struct KeyInfo {
    pub secret_access_key: String,
    pub account_id: String,
    pub principal_arn: String,
    /// Temporary keys are only valid with their session token; long-term keys have none and
    /// refuse any token presented with them.
    pub session_token: Option<String>,
    /// When temporary keys stop being accepted (`ExpiredToken` from then on).
    pub expires_at: Option<std::time::SystemTime>,
}

impl std::fmt::Debug for KeyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyInfo")
            .field("account_id", &self.account_id)
            .field("principal_arn", &self.principal_arn)
            .finish_non_exhaustive()
    }
}

/// Where the door looks access keys up (the root key today; IAM users and STS sessions later).
pub trait KeyStore: Send + Sync {
    fn key(&self, access_key_id: &str) -> Option<KeyInfo>;
}

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

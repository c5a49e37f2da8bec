//! Who is calling: the verified identity behind a request and where the door looks keys up.

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

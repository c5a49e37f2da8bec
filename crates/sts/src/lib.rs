//! STS (the query protocol, version 2011-06-15, SigV4 `sts`): GetCallerIdentity, AssumeRole
//! and GetSessionToken. Temporary keys (`ASIA...` with a session token) are kept as one
//! document of the store (`sts/sessions`) until they expire, and the door accepts them on every
//! service ([`Sessions::key`]). Roles are IAM's: STS asks them through [`Roles`], which the
//! server wires to IAM.

pub mod service;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use flotilla_front::document::Document as Answer;
use flotilla_front::schema::{self, Kind, ParamNames};
use flotilla_front::{Caller, KeyInfo, WireError};
use flotilla_store::{Document, Store, StoreError};
use serde::{Deserialize, Serialize};

/// SigV4 service name of STS.
pub const SIGNING_NAME: &str = "sts";
/// The `Version` parameter of STS's query API.
pub const API_VERSION: &str = "2011-06-15";
/// The XML namespace of STS's answers.
pub const XML_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

const KEY: &str = "sts/sessions";

/// Why STS refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StsError {
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StsError> for WireError {
    fn from(error: StsError) -> WireError {
        match &error {
            StsError::AccessDenied(_) => WireError::access_denied(error.to_string()),
            StsError::Validation(_) => WireError::new("ValidationError", 400, error.to_string()),
            StsError::Internal(_) => WireError::internal(error.to_string()),
        }
    }
}

impl From<StoreError> for StsError {
    fn from(error: StoreError) -> StsError {
        tracing::error!(%error, "sts store");
        StsError::Internal("the session store cannot be written".into())
    }
}

/// A role that may be assumed.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The role's ARN with its path.
    pub role_arn: String,
    pub role_name: String,
    /// `AROA...`.
    pub role_id: String,
    /// The longest session the role allows, in seconds.
    pub max_session_duration: i32,
}

/// IAM's roles, as STS needs them (wired by the server).
pub trait Roles: Send + Sync {
    /// The role `role_arn`, if it exists and its trust policy lets `caller` assume it, with
    /// `external_id` as `sts:ExternalId`.
    fn assumable(
        &self,
        role_arn: &str,
        caller: &Caller,
        external_id: Option<&str>,
    ) -> Result<Grant, StsError>;
    /// The role `role_arn`, if it exists and its trust policy lets AWS service `service`
    /// (`ecs-tasks.amazonaws.com`) assume it.
    fn assumable_by_service(&self, role_arn: &str, service: &str) -> Result<Grant, StsError>;
    /// The `UserId` GetCallerIdentity answers for a long-term principal (user id, account id
    /// for the root).
    fn user_id(&self, principal_arn: &str) -> Option<String>;
}

/// Temporary credentials. `Debug` never shows the secret or the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub secret: String,
    pub token: String,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`, or a user's ARN
    /// (GetSessionToken).
    pub principal_arn: String,
    /// What GetCallerIdentity answers as `UserId`.
    pub user_id: String,
    pub account_id: String,
    /// Seconds since the epoch.
    pub expires: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("principal_arn", &self.principal_arn)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// Every session not yet expired, by access key id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sessions {
    pub by_key: BTreeMap<String, Session>,
}

/// The account's STS.
pub struct App {
    pub account_id: String,
    sessions: Document<Sessions>,
    /// The sessions as the door reads them, on every request.
    current: RwLock<Arc<Sessions>>,
    roles: Arc<dyn Roles>,
}

/// How long an expired session is still recognised as expired (answering `ExpiredToken`
/// rather than an unknown key) before it is swept.
const EXPIRED_KEPT: u64 = 3600;

fn epoch(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl App {
    pub async fn open(
        account_id: String,
        store: Arc<dyn Store>,
        roles: Arc<dyn Roles>,
    ) -> Result<App, StoreError> {
        let sessions: Document<Sessions> = Document::open(store, KEY).await?;
        let current = RwLock::new(sessions.snapshot());
        Ok(App { account_id, sessions, current, roles })
    }

    /// The temporary key `access_key_id`, as the door checks signatures with it.
    pub fn key(&self, access_key_id: &str) -> Option<KeyInfo> {
        let sessions = Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()));
        let session = sessions.by_key.get(access_key_id)?;
        Some(KeyInfo {
            secret_access_key: session.secret.clone(),
            account_id: session.account_id.clone(),
            principal_arn: session.principal_arn.clone(),
            session_token: Some(session.token.clone()),
            expires_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(session.expires)),
        })
    }

    /// A new session for `principal_arn`, stored (with the long-expired ones swept) and
    /// published before it is answered, so its keys sign at once.
    async fn issue(
        &self,
        principal_arn: String,
        user_id: String,
        expires: u64,
        now: u64,
    ) -> Result<wire::Credentials, StsError> {
        let id = format!("ASIA{}", random(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)?);
        let secret =
            random(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40)?;
        let token = format!(
            "FQoGZXIvYXdzE{}",
            random(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 300)?
        );
        let session = Session {
            secret: secret.clone(),
            token: token.clone(),
            principal_arn,
            user_id,
            account_id: self.account_id.clone(),
            expires,
        };
        self.sessions
            .change(|all| {
                all.by_key.retain(|_, s| s.expires + EXPIRED_KEPT > now);
                all.by_key.insert(id.clone(), session);
                Ok::<_, StsError>(())
            })
            .await??;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = self.sessions.snapshot();
        Ok(wire::Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: token,
            expiration: expires as f64,
        })
    }

    /// A session of role `role_arn` for AWS service `service` (a task role's credentials for
    /// ECS), named `session`, for the role's longest session: the trust policy must name the
    /// service.
    pub async fn assume_for_service(
        &self,
        role_arn: &str,
        service: &str,
        session: &str,
        now: SystemTime,
    ) -> Result<(Grant, wire::Credentials), StsError> {
        let grant = self.roles.assumable_by_service(role_arn, service)?;
        let now = epoch(now);
        let arn =
            format!("arn:aws:sts::{}:assumed-role/{}/{session}", self.account_id, grant.role_name);
        let user_id = format!("{}:{session}", grant.role_id);
        let expires = now + grant.max_session_duration.max(900) as u64;
        let credentials = self.issue(arn, user_id, expires, now).await?;
        Ok((grant, credentials))
    }

    fn session_of(&self, access_key_id: &str) -> Option<Session> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).by_key.get(access_key_id).cloned()
    }
}

fn random(alphabet: &[u8], len: usize) -> Result<String, StsError> {
    let mut bytes = vec![0u8; len];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| StsError::Internal(format!("no randomness available: {e}")))?;
    Ok(bytes.iter().map(|b| alphabet[*b as usize % alphabet.len()] as char).collect())
}

/// Runs `operation` on query parameters.
pub async fn serve(
    app: &App,
    caller: &Caller,
    operation: &str,
    input: flotilla_front::Input,
    now: SystemTime,
) -> Result<Answer, WireError> {
    let (kind, output) = wire::operation_schema(operation).ok_or_else(|| {
        WireError::unknown_operation(format!(
            "The action {operation} is not valid for this web service (STS here serves GetCallerIdentity, AssumeRole and GetSessionToken)."
        ))
    })?;
    let flotilla_front::Input::Params(params) = input else {
        return Err(WireError::serialization("STS takes query parameters (Action, Version, ...)"));
    };
    let input = schema::typed_params(params, kind, ParamNames::Query)?;
    if let Some(path) =
        flotilla_front::refusal::refused_member(&input, wire::refused_paths(operation))
    {
        return Err(
            StsError::Validation(flotilla_front::refusal::not_supported_message(path)).into()
        );
    }
    let out = output.unwrap_or(&wire::EMPTY);
    let now = epoch(now);
    match operation {
        "GetCallerIdentity" => answer(caller_identity(app, caller), out),
        "AssumeRole" => answer(assume_role(app, caller, decode(input)?, now).await?, out),
        "GetSessionToken" => answer(session_token(app, caller, decode(input)?, now).await?, out),
        other => Err(WireError::unknown_operation(other.to_string())),
    }
}

fn caller_identity(app: &App, caller: &Caller) -> wire::GetCallerIdentityResponse {
    let user_id = match app.session_of(&caller.access_key_id) {
        Some(session) if caller.temporary => session.user_id,
        _ => app.roles.user_id(&caller.principal_arn).unwrap_or_else(|| caller.account_id.clone()),
    };
    wire::GetCallerIdentityResponse {
        user_id: Some(user_id),
        account: Some(caller.account_id.clone()),
        arn: Some(caller.principal_arn.clone()),
    }
}

fn check_session_name(name: &str) -> Result<(), StsError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    if !(2..=64).contains(&name.len()) || !name.chars().all(allowed) {
        return Err(StsError::Validation(format!(
            "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64"
        )));
    }
    Ok(())
}

async fn assume_role(
    app: &App,
    caller: &Caller,
    input: wire::AssumeRoleRequest,
    now: u64,
) -> Result<wire::AssumeRoleResponse, StsError> {
    check_session_name(&input.role_session_name)?;
    let grant = app.roles.assumable(&input.role_arn, caller, input.external_id.as_deref())?;
    let chained = caller.principal_arn.contains(":assumed-role/");
    let duration = input.duration_seconds.unwrap_or(3600);
    if duration < 900 {
        return Err(StsError::Validation(format!(
            "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
        )));
    }
    if chained && duration > 3600 {
        return Err(StsError::Validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.".into(),
        ));
    }
    if duration > grant.max_session_duration {
        return Err(StsError::Validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                .into(),
        ));
    }
    let arn = format!(
        "arn:aws:sts::{}:assumed-role/{}/{}",
        app.account_id, grant.role_name, input.role_session_name
    );
    let assumed_id = format!("{}:{}", grant.role_id, input.role_session_name);
    let credentials =
        app.issue(arn.clone(), assumed_id.clone(), now + duration as u64, now).await?;
    Ok(wire::AssumeRoleResponse {
        credentials: Some(credentials),
        assumed_role_user: Some(wire::AssumedRoleUser { assumed_role_id: assumed_id, arn }),
        packed_policy_size: None,
        source_identity: None,
    })
}

async fn session_token(
    app: &App,
    caller: &Caller,
    input: wire::GetSessionTokenRequest,
    now: u64,
) -> Result<wire::GetSessionTokenResponse, StsError> {
    if caller.temporary {
        return Err(StsError::AccessDenied(
            "Cannot call GetSessionToken with session credentials".into(),
        ));
    }
    let root = caller.principal_arn.ends_with(":root");
    let duration = input.duration_seconds.unwrap_or(if root { 3600 } else { 43200 });
    let max = if root { 3600 } else { 129_600 };
    if !(900..=max).contains(&duration) {
        return Err(StsError::Validation(format!(
            "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and {max}"
        )));
    }
    let user_id =
        app.roles.user_id(&caller.principal_arn).unwrap_or_else(|| caller.account_id.clone());
    let credentials =
        app.issue(caller.principal_arn.clone(), user_id, now + duration as u64, now).await?;
    Ok(wire::GetSessionTokenResponse { credentials: Some(credentials) })
}

fn decode<T: serde::de::DeserializeOwned>(input: serde_json::Value) -> Result<T, StsError> {
    serde_json::from_value(input).map_err(|e| match flotilla_api::missing_member(&e) {
        Some(member) => StsError::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        )),
        None => StsError::Validation(e.to_string()),
    })
}

fn answer(output: impl Serialize, kind: &Kind) -> Result<Answer, WireError> {
    let value = serde_json::to_value(output)
        .map_err(|e| WireError::internal(format!("cannot encode the answer: {e}")))?;
    Ok(schema::document(&value, kind))
}

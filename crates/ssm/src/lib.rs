//! AWS Systems Manager Parameter Store (AWS JSON 1.1, `X-Amz-Target: AmazonSSM.<Operation>`,
//! SigV4 `ssm`): String, StringList and SecureString parameters in hierarchies, their versions
//! (at most 100) and labels, selectors (`name:3`, `name:label`), paths, DescribeParameters'
//! filters, and tags. Kept as one document of the region's store (`ssm/parameters`);
//! SecureString values are sealed at rest (`flotilla_store::sealed`) and opened only for
//! `WithDecryption` and for ECS tasks' secrets ([`App::value_for_task`]).

pub mod error;
mod labels;
pub mod model;
mod names;
mod pages;
mod parameters;
mod paths;
mod put;
pub mod service;
mod tags;
pub mod wire;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::SystemTime;

use flotilla_api::arn::ArnScope;
use flotilla_store::sealed::Sealer;
use flotilla_store::{Document, Store, StoreError};
use serde::Serialize;

pub use error::SsmError;
use model::{ParameterStore, ParameterType, StoredValue, Version};

/// SigV4 service name of Systems Manager.
pub const SIGNING_NAME: &str = "ssm";
/// The `X-Amz-Target` prefix of Systems Manager's operations.
pub const TARGET_PREFIX: &str = "AmazonSSM.";

const KEY: &str = "ssm/parameters";

/// Operations whose only refused members are resource types other than `Parameter`: AWS
/// answers a resource type it cannot tag with `InvalidResourceType`.
const TAGGING: [&str; 3] = ["AddTagsToResource", "RemoveTagsFromResource", "ListTagsForResource"];

/// One region's Parameter Store.
pub struct App {
    pub scope: ArnScope,
    records: Document<ParameterStore>,
    sealer: Arc<Sealer>,
}

impl App {
    pub async fn open(
        scope: ArnScope,
        store: Arc<dyn Store>,
        sealer: Arc<Sealer>,
    ) -> Result<App, StoreError> {
        Ok(App { scope, records: Document::open(store, KEY).await?, sealer })
    }

    /// For ECS task secrets: the clear value of a parameter named by name or ARN (`valueFrom`),
    /// decrypted; `Err` with AWS's message when it does not exist. (`:version`/`:label` suffix
    /// allowed as in GetParameter.)
    pub fn value_for_task(&self, reference: &str) -> Result<String, SsmError> {
        let state = self.records.snapshot();
        let found = parameters::resolve(self, &state, reference)?;
        self.clear_value(&found.parameter.name, found.version)
    }

    /// The parameter ARN a `valueFrom` names (for the authorization check), or None when it is
    /// not a name/ARN of this region.
    pub fn arn_of(&self, reference: &str) -> Option<String> {
        names::reference(&self.scope, reference).map(|r| names::arn(&self.scope, &r.key))
    }

    /// Applies a change to the records (stored before the answer; nothing when refused).
    async fn change<T>(
        &self,
        change: impl FnOnce(&mut ParameterStore) -> Result<T, SsmError>,
    ) -> Result<T, SsmError> {
        self.records.change(change).await?
    }

    /// A version's value in clear (a SecureString's opened).
    fn clear_value(&self, name: &str, version: &Version) -> Result<String, SsmError> {
        match &version.value {
            StoredValue::Plain(value) => Ok(value.clone()),
            StoredValue::Sealed(sealed) => {
                let arn = names::arn(&self.scope, &names::key(name));
                let bytes =
                    self.sealer.open(sealed, &names::seal_context(&arn, version.version))?;
                String::from_utf8(bytes)
                    .map_err(|_| SsmError::Internal("a SecureString value is not text".into()))
            }
        }
    }

    /// A version's value as an answer shows it: a SecureString's in clear only when the
    /// request asked `WithDecryption`, its ciphertext otherwise (as AWS shows KMS's).
    fn shown_value(
        &self,
        name: &str,
        version: &Version,
        with_decryption: bool,
    ) -> Result<String, SsmError> {
        match (&version.value, with_decryption) {
            (StoredValue::Sealed(sealed), false) => Ok(sealed.data.clone()),
            _ => self.clear_value(name, version),
        }
    }
}

/// The KMS key AWS names for a SecureString under the account's default key.
fn key_id(kind: ParameterType) -> Option<String> {
    (kind == ParameterType::SecureString).then(|| "alias/aws/ssm".to_string())
}

/// Runs Parameter Store operation `operation` on JSON `body` for the principal `caller` (an
/// ARN: the `LastModifiedUser` of what it puts).
pub async fn dispatch(
    app: &App,
    operation: &str,
    body: &[u8],
    now: SystemTime,
    caller: &str,
) -> Result<Vec<u8>, SsmError> {
    if let Some(message) =
        flotilla_front::refusal::refusal_in_json(body, wire::refused_paths(operation))
    {
        return Err(if TAGGING.contains(&operation) {
            SsmError::InvalidResourceType(message)
        } else {
            SsmError::Validation(message)
        });
    }
    let now = flotilla_api::epoch_seconds(now);
    match operation {
        "PutParameter" => respond(put::put(app, decode(body)?, now, caller).await?),
        "GetParameter" => respond(parameters::get(app, decode(body)?)?),
        "GetParameters" => respond(parameters::get_many(app, decode(body)?)?),
        "DeleteParameter" => respond(parameters::delete(app, decode(body)?).await?),
        "DeleteParameters" => respond(parameters::delete_many(app, decode(body)?).await?),
        "GetParameterHistory" => respond(parameters::history(app, decode(body)?)?),
        "GetParametersByPath" => respond(paths::by_path(app, decode(body)?)?),
        "DescribeParameters" => respond(paths::describe(app, decode(body)?)?),
        "LabelParameterVersion" => respond(labels::label(app, decode(body)?).await?),
        "UnlabelParameterVersion" => respond(labels::unlabel(app, decode(body)?).await?),
        "AddTagsToResource" => respond(tags::add(app, decode(body)?).await?),
        "RemoveTagsFromResource" => respond(tags::remove(app, decode(body)?).await?),
        "ListTagsForResource" => respond(tags::list(app, decode(body)?)?),
        other => Err(SsmError::UnknownOperation(format!(
            "The operation {other} is not served here (Systems Manager here serves Parameter Store)"
        ))),
    }
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, SsmError> {
    // An empty body is an empty request (botocore sends `{}`, other clients nothing).
    let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    serde_json::from_slice(body).map_err(|e| match flotilla_api::missing_member(&e) {
        Some(member) => SsmError::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        )),
        None => SsmError::Serialization(e.to_string()),
    })
}

fn respond(value: impl Serialize) -> Result<Vec<u8>, SsmError> {
    serde_json::to_vec(&value)
        .map_err(|e| SsmError::Internal(format!("cannot encode the answer: {e}")))
}

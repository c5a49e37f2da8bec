//! The root access key (for users and SDKs) and the agent token (for node agents): created on
//! first start, kept in the store, written to `<data-dir>/credentials` and `<data-dir>/agent-token`.

use std::fmt;
use std::io::Write;
use std::path::Path;

use flotilla_store::{Compare, Op, Store, StoreError, Txn, TxnOutcome};
use serde::{Deserialize, Serialize};

const ROOT_KEY: &str = "auth/root-key";
const AGENT_TOKEN: &str = "auth/agent-token";

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("no randomness available: {0}")]
    Random(String),
    #[error("stored credentials are unreadable")]
    Corrupt,
    #[error("{0}")]
    Invalid(String),
}

/// An access key pair. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Everything the server authenticates with.
#[derive(Clone)]
pub struct Credentials {
    pub root: AccessKey,
    pub agent_token: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("root", &self.root).finish_non_exhaustive()
    }
}

impl Credentials {
    /// The secret for an access key id, if the key is known.
    pub fn secret_for(&self, access_key_id: &str) -> Option<String> {
        (access_key_id == self.root.access_key_id).then(|| self.root.secret_access_key.clone())
    }

    /// Whether a request carries `Authorization: Bearer <agent token>`: every agent route
    /// (the WebSocket, log shipping) asks this one question. Compared in constant time.
    pub fn authorizes_agent(&self, headers: &axum::http::HeaderMap) -> bool {
        use subtle::ConstantTimeEq;
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        !presented.is_empty() && bool::from(presented.as_bytes().ct_eq(self.agent_token.as_bytes()))
    }
}

fn random_string(alphabet: &[u8], len: usize) -> Result<String, CredentialsError> {
    let mut bytes = vec![0u8; len];
    getrandom::getrandom(&mut bytes).map_err(|e| CredentialsError::Random(e.to_string()))?;
    // 256 is a multiple of neither alphabet size; the slight bias is irrelevant for 32+ symbols
    // of a 160-bit secret.
    Ok(bytes.iter().map(|b| alphabet[*b as usize % alphabet.len()] as char).collect())
}

fn new_root_key() -> Result<AccessKey, CredentialsError> {
    const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SECRET_ALPHABET: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    Ok(AccessKey {
        access_key_id: format!("AKIA{}", random_string(ID_ALPHABET, 16)?),
        secret_access_key: random_string(SECRET_ALPHABET, 40)?,
    })
}

/// Loads the credentials from the store, creating what is missing (a preset root key replaces
/// the stored one), and (re)writes the files in `data_dir`.
pub async fn init(
    store: &dyn Store,
    data_dir: &Path,
    region: &str,
    preset_root: Option<AccessKey>,
) -> Result<Credentials, CredentialsError> {
    if let Some(key) = &preset_root {
        if key.access_key_id.is_empty() || key.secret_access_key.is_empty() {
            return Err(CredentialsError::Invalid(
                "FLOTILLA_ROOT_ACCESS_KEY_ID and FLOTILLA_ROOT_SECRET_ACCESS_KEY must both be set and non-empty".into(),
            ));
        }
    }
    let (stored, _) = store.range("auth/").await?;
    let find = |key: &str| stored.iter().find(|kv| kv.key == key);
    let stored_root: Option<AccessKey> = match find(ROOT_KEY) {
        Some(kv) => Some(serde_json::from_slice(&kv.value).map_err(|_| CredentialsError::Corrupt)?),
        None => None,
    };
    let stored_token = match find(AGENT_TOKEN) {
        Some(kv) => {
            Some(String::from_utf8(kv.value.clone()).map_err(|_| CredentialsError::Corrupt)?)
        }
        None => None,
    };

    let root = match (preset_root, stored_root.clone()) {
        (Some(preset), _) => preset,
        (None, Some(stored)) => stored,
        (None, None) => new_root_key()?,
    };
    let agent_token = match stored_token.clone() {
        Some(token) => token,
        None => random_string(b"0123456789abcdef", 64)?,
    };

    let mut txn = Txn::default();
    if stored_root.as_ref() != Some(&root) {
        let value = serde_json::to_vec(&root).map_err(|_| CredentialsError::Corrupt)?;
        txn.ops.push(Op::Put { key: ROOT_KEY.into(), value });
    }
    if stored_token.is_none() {
        // Guarded so two servers starting at once on one store agree on a single token.
        txn.compares.push(Compare::ModRevision { key: AGENT_TOKEN.into(), revision: 0 });
        txn.ops.push(Op::Put { key: AGENT_TOKEN.into(), value: agent_token.clone().into_bytes() });
    }
    if !txn.ops.is_empty() {
        if let TxnOutcome::Conflict = store.commit(txn).await? {
            return Err(CredentialsError::Invalid(
                "another server initialised the credentials at the same time; start again".into(),
            ));
        }
    }

    write_private_file(
        &data_dir.join("credentials"),
        &format!(
            "# Flotilla root access key. Use it with AWS_SHARED_CREDENTIALS_FILE=<this file>.\n[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            root.access_key_id, root.secret_access_key
        ),
    )?;
    write_private_file(
        &data_dir.join("config"),
        &format!("# AWS CLI config for Flotilla. Use it with AWS_CONFIG_FILE=<this file>.\n[default]\nregion = {region}\n"),
    )?;
    write_private_file(&data_dir.join("agent-token"), &format!("{agent_token}\n"))?;
    Ok(Credentials { root, agent_token })
}

/// Writes a file readable only by its owner, atomically (temporary file, fsync, rename).
fn write_private_file(path: &Path, contents: &str) -> Result<(), CredentialsError> {
    let file_err = |source| CredentialsError::File { path: path.display().to_string(), source };
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(file_err)?;
    file.write_all(contents.as_bytes()).map_err(file_err)?;
    file.sync_all().map_err(file_err)?;
    std::fs::rename(&tmp, path).map_err(file_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let key = AccessKey { access_key_id: "AKIAX".into(), secret_access_key: "s3cr3t".into() };
        let creds = Credentials { root: key.clone(), agent_token: "t0k3n".into() };
        let shown = format!("{key:?} {creds:?}");
        assert!(!shown.contains("s3cr3t") && !shown.contains("t0k3n"), "{shown}");
    }

    #[tokio::test]
    async fn first_start_creates_then_keeps_credentials() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = flotilla_store::EmbeddedStore::open(&dir.path().join("db")).expect("store");
        let first = init(&store, dir.path(), "us-east-1", None).await.expect("init");
        assert!(
            first.root.access_key_id.starts_with("AKIA") && first.root.access_key_id.len() == 20
        );
        assert_eq!(first.root.secret_access_key.len(), 40);
        let again = init(&store, dir.path(), "us-east-1", None).await.expect("init again");
        assert_eq!(again.root, first.root);
        assert_eq!(again.agent_token, first.agent_token);
        let file = std::fs::read_to_string(dir.path().join("credentials")).expect("file");
        assert!(file.contains(&first.root.secret_access_key));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("credentials"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

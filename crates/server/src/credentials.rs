//! The root access key (for users and SDKs) and the agents' join token: created on first start,
//! kept in the store, written to `<data-dir>/credentials` and `<data-dir>/agent-token`. The join
//! token only admits new container instances (each then gets a credential of its own, see
//! `agent_auth.rs`); it can be rotated or revoked at start without disturbing joined agents.

use std::fmt;
use std::io::Write;
use std::path::Path;

use flotilla_store::{Compare, Op, Store, StoreError, Txn, TxnOutcome};
use serde::{Deserialize, Serialize};

const ROOT_KEY: &str = "auth/root-key";
const AGENT_TOKEN: &str = "auth/agent-token";
/// The credential of remote data planes (`flotilla lb`).
const LB_TOKEN: &str = "auth/lb-token";
/// The key that makes task credentials ids (`flotilla_ecs::task_roles`): never leaves the store.
const TASK_KEY: &str = "auth/task-credentials-key";

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
    /// Admits new agents; `None` once revoked (no agent can join until one is issued again).
    pub join_token: Option<String>,
    /// Admits remote data planes (`flotilla lb --token-file <data-dir>/lb-token`).
    pub lb_token: String,
    /// Makes and checks the ids of tasks' role credentials (hex, 32 bytes).
    pub task_credentials_key: String,
}

/// What a start does to the join token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JoinTokenChange {
    /// Keep the stored token (create one on the first start).
    #[default]
    Keep,
    /// Replace it with a new one: the old one no longer admits agents.
    Rotate,
    /// Remove it: no new agent can join until a start rotates one in.
    Revoke,
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

    /// Whether `presented` is the join token (compared in constant time).
    pub fn admits_join(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.join_token.as_deref().is_some_and(|token| {
            !presented.is_empty() && bool::from(presented.as_bytes().ct_eq(token.as_bytes()))
        })
    }
}

/// `len` random symbols of `alphabet`.
pub fn random_string(alphabet: &[u8], len: usize) -> Result<String, CredentialsError> {
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
    join: JoinTokenChange,
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

    let stored_lb = match find(LB_TOKEN) {
        Some(kv) => {
            Some(String::from_utf8(kv.value.clone()).map_err(|_| CredentialsError::Corrupt)?)
        }
        None => None,
    };
    let stored_task_key = match find(TASK_KEY) {
        Some(kv) => {
            Some(String::from_utf8(kv.value.clone()).map_err(|_| CredentialsError::Corrupt)?)
        }
        None => None,
    };
    let task_credentials_key = match &stored_task_key {
        Some(key) => key.clone(),
        None => random_string(b"0123456789abcdef", 64)?,
    };
    let lb_token = match &stored_lb {
        Some(token) => token.clone(),
        None => random_string(b"0123456789abcdef", 64)?,
    };
    let root = match (preset_root, stored_root.clone()) {
        (Some(preset), _) => preset,
        (None, Some(stored)) => stored,
        (None, None) => new_root_key()?,
    };
    // A revoked token is stored as an empty value, so the revocation outlives restarts; only a
    // first start (nothing stored) or a rotation issues a token.
    let stored_join = stored_token.clone().map(|t| Some(t).filter(|t| !t.is_empty()));
    let join_token = match (join, stored_join.clone()) {
        (JoinTokenChange::Revoke, _) => None,
        (JoinTokenChange::Keep, Some(token)) => token,
        (JoinTokenChange::Keep, None) | (JoinTokenChange::Rotate, _) => {
            Some(random_string(b"0123456789abcdef", 64)?)
        }
    };

    let mut txn = Txn::default();
    if stored_root.as_ref() != Some(&root) {
        let value = serde_json::to_vec(&root).map_err(|_| CredentialsError::Corrupt)?;
        txn.ops.push(Op::Put { key: ROOT_KEY.into(), value });
    }
    if stored_join.as_ref() != Some(&join_token) {
        // Guarded so two servers starting at once on one store agree on a single token.
        let revision =
            stored.iter().find(|kv| kv.key == AGENT_TOKEN).map_or(0, |kv| kv.mod_revision);
        txn.compares.push(Compare::ModRevision { key: AGENT_TOKEN.into(), revision });
        let value = join_token.clone().unwrap_or_default().into_bytes();
        txn.ops.push(Op::Put { key: AGENT_TOKEN.into(), value });
    }
    if stored_lb.is_none() {
        txn.compares.push(Compare::ModRevision { key: LB_TOKEN.into(), revision: 0 });
        txn.ops.push(Op::Put { key: LB_TOKEN.into(), value: lb_token.clone().into_bytes() });
    }
    if stored_task_key.is_none() {
        txn.compares.push(Compare::ModRevision { key: TASK_KEY.into(), revision: 0 });
        let value = task_credentials_key.clone().into_bytes();
        txn.ops.push(Op::Put { key: TASK_KEY.into(), value });
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
    let token_file = data_dir.join("agent-token");
    match &join_token {
        Some(token) => write_private_file(&token_file, &format!("{token}\n"))?,
        None => match std::fs::remove_file(&token_file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(CredentialsError::File {
                    path: token_file.display().to_string(),
                    source: e,
                })
            }
            _ => {}
        },
    }
    write_private_file(&data_dir.join("lb-token"), &format!("{lb_token}\n"))?;
    Ok(Credentials { root, join_token, lb_token, task_credentials_key })
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
    // The mode above applies only to a new file: one left by a crash keeps its own.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(file_err)?;
    }
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
        let creds = Credentials {
            root: key.clone(),
            join_token: Some("t0k3n".into()),
            lb_token: "lb".into(),
            task_credentials_key: "k3y".into(),
        };
        let shown = format!("{key:?} {creds:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("t0k3n") && !shown.contains("k3y"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn first_start_creates_then_keeps_credentials() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = flotilla_store::EmbeddedStore::open(&dir.path().join("db")).expect("store");
        let first =
            init(&store, dir.path(), "us-east-1", None, JoinTokenChange::Keep).await.expect("init");
        assert!(
            first.root.access_key_id.starts_with("AKIA") && first.root.access_key_id.len() == 20
        );
        assert_eq!(first.root.secret_access_key.len(), 40);
        let again = init(&store, dir.path(), "us-east-1", None, JoinTokenChange::Keep)
            .await
            .expect("init again");
        assert_eq!(again.root, first.root);
        assert_eq!(again.join_token, first.join_token);
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

    #[tokio::test]
    async fn join_tokens_rotate_and_revoke() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = flotilla_store::EmbeddedStore::open(&dir.path().join("db")).expect("store");
        let token_file = dir.path().join("agent-token");
        let first =
            init(&store, dir.path(), "us-east-1", None, JoinTokenChange::Keep).await.expect("init");
        let old = first.join_token.clone().expect("a token");
        let rotated = init(&store, dir.path(), "us-east-1", None, JoinTokenChange::Rotate)
            .await
            .expect("rotate");
        let new = rotated.join_token.clone().expect("a token");
        assert_ne!(old, new);
        assert!(
            rotated.admits_join(&new) && !rotated.admits_join(&old) && !rotated.admits_join("")
        );
        assert_eq!(std::fs::read_to_string(&token_file).expect("file").trim(), new);
        let revoked = init(&store, dir.path(), "us-east-1", None, JoinTokenChange::Revoke)
            .await
            .expect("revoke");
        assert!(revoked.join_token.is_none() && !revoked.admits_join(&new));
        assert!(!token_file.exists());
        let kept =
            init(&store, dir.path(), "us-east-1", None, JoinTokenChange::Keep).await.expect("keep");
        assert!(kept.join_token.is_none(), "a revocation outlives restarts");
        let again = init(&store, dir.path(), "us-east-1", None, JoinTokenChange::Rotate)
            .await
            .expect("rotate");
        assert!(again.join_token.is_some_and(|t| t != new && t != old));
        assert_eq!(again.root, first.root, "the root key never changes with the join token");
    }
}

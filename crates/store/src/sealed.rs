//! Values sealed at rest by envelope encryption: each value under a fresh data key
//! (AES-256-GCM), the data key under the server's key-encryption key, kept in a file of mode
//! 0600 beside the store and never in it. A stolen store alone reveals no secret.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// Bytes of a key (AES-256).
const KEY_LEN: usize = 32;

/// Why a value cannot be sealed or opened, or the key file read.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the key file {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
    #[error("the key file {path} can be read by others (mode {mode:o}); make it 0600")]
    KeyFileMode { path: String, mode: u32 },
    #[error("the key file {path} does not hold a key of {KEY_LEN} bytes")]
    KeyFileContent { path: String },
    #[error("the value was sealed with key {sealed_with}, and this server holds key {held}")]
    WrongKey { sealed_with: String, held: String },
    #[error("the sealed value is damaged or belongs to another record")]
    Damaged,
    #[error("no randomness from the system")]
    Random,
}

/// A value as it is stored: its data key wrapped by the key-encryption key, and the value
/// under the data key. Both bound to the record they belong to (`context`), so a sealed value
/// moved to another record does not open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Which key-encryption key wrapped the data key (a fingerprint, not the key).
    pub key_id: String,
    /// Nonce and data key, encrypted under the key-encryption key (hex).
    pub wrapped_key: String,
    /// Nonce and value, encrypted under the data key (hex).
    pub data: String,
}

/// The key-encryption key, and the only way to seal or open a value.
pub struct Sealer {
    key: LessSafeKey,
    key_id: String,
    random: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl Sealer {
    /// The key in `path` (raw bytes, mode 0600), made on a first start. A key file others can
    /// read is refused rather than used.
    pub fn open_or_create(path: &Path) -> Result<Sealer, SealError> {
        let shown = path.display().to_string();
        let file_error = |source| SealError::KeyFile { path: shown.clone(), source };
        let random = SystemRandom::new();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => {
                let mode = std::fs::metadata(path).map_err(file_error)?.permissions().mode();
                if mode & 0o077 != 0 {
                    return Err(SealError::KeyFileMode { path: shown, mode: mode & 0o777 });
                }
                bytes
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = vec![0u8; KEY_LEN];
                random.fill(&mut key).map_err(|_| SealError::Random)?;
                // create_new: two servers starting on one directory never both write a key.
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(file_error)?;
                file.write_all(&key).and_then(|_| file.sync_all()).map_err(file_error)?;
                key
            }
            Err(e) => return Err(file_error(e)),
        };
        Sealer::from_key(&bytes).ok_or(SealError::KeyFileContent { path: shown })
    }

    /// A sealer over `key` (32 bytes), for tests and for keys kept elsewhere.
    pub fn from_key(key: &[u8]) -> Option<Sealer> {
        if key.len() != KEY_LEN {
            return None;
        }
        let unbound = UnboundKey::new(&AES_256_GCM, key).ok()?;
        let digest = ring::digest::digest(&ring::digest::SHA256, key);
        Some(Sealer {
            key: LessSafeKey::new(unbound),
            key_id: hex::encode(&digest.as_ref()[..8]),
            random: SystemRandom::new(),
        })
    }

    /// Seals `value` for the record named by `context`.
    pub fn seal(&self, value: &[u8], context: &str) -> Result<Sealed, SealError> {
        let mut data_key = [0u8; KEY_LEN];
        self.random.fill(&mut data_key).map_err(|_| SealError::Random)?;
        let unbound = UnboundKey::new(&AES_256_GCM, &data_key).map_err(|_| SealError::Random)?;
        let data = self.encrypt(&LessSafeKey::new(unbound), value, context)?;
        let wrapped_key = self.encrypt(&self.key, &data_key, context)?;
        Ok(Sealed { key_id: self.key_id.clone(), wrapped_key, data })
    }

    /// The value of `sealed`, which must have been sealed for `context`.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<Vec<u8>, SealError> {
        if sealed.key_id != self.key_id {
            return Err(SealError::WrongKey {
                sealed_with: sealed.key_id.clone(),
                held: self.key_id.clone(),
            });
        }
        let data_key = decrypt(&self.key, &sealed.wrapped_key, context)?;
        let unbound = UnboundKey::new(&AES_256_GCM, &data_key).map_err(|_| SealError::Damaged)?;
        decrypt(&LessSafeKey::new(unbound), &sealed.data, context)
    }

    fn encrypt(&self, key: &LessSafeKey, plain: &[u8], context: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut buffer = plain.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context.as_bytes()),
            &mut buffer,
        )
        .map_err(|_| SealError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        Ok(hex::encode(out))
    }
}

fn decrypt(key: &LessSafeKey, sealed: &str, context: &str) -> Result<Vec<u8>, SealError> {
    let bytes = hex::decode(sealed).map_err(|_| SealError::Damaged)?;
    if bytes.len() < NONCE_LEN {
        return Err(SealError::Damaged);
    }
    let (nonce, cipher) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Damaged)?;
    let mut buffer = cipher.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
        .map_err(|_| SealError::Damaged)?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::from_key(&[7u8; KEY_LEN]).expect("a 32-byte key")
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_record_and_key() {
        let sealer = sealer();
        let sealed = sealer.seal(b"hunter2", "secret/a").expect("seal");
        assert!(!sealed.data.contains(&hex::encode(b"hunter2")), "the value is not in clear");
        assert_eq!(sealer.open(&sealed, "secret/a").expect("open"), b"hunter2");
        assert!(matches!(sealer.open(&sealed, "secret/b"), Err(SealError::Damaged)));
        let other = Sealer::from_key(&[8u8; KEY_LEN]).expect("key");
        assert!(matches!(other.open(&sealed, "secret/a"), Err(SealError::WrongKey { .. })));
        let mut tampered = sealed.clone();
        tampered.data.replace_range(30..32, "00");
        if tampered != sealed {
            assert!(matches!(sealer.open(&tampered, "secret/a"), Err(SealError::Damaged)));
        }
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let sealer = sealer();
        let a = sealer.seal(b"same", "r").expect("seal");
        let b = sealer.seal(b"same", "r").expect("seal");
        assert_ne!(a.data, b.data, "a fresh data key and nonce each time");
    }

    #[test]
    fn the_key_file_is_made_0600_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secrets.key");
        let first = Sealer::open_or_create(&path).expect("create");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let sealed = first.seal(b"v", "r").expect("seal");
        let again = Sealer::open_or_create(&path).expect("reopen");
        assert_eq!(again.open(&sealed, "r").expect("open"), b"v");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(Sealer::open_or_create(&path), Err(SealError::KeyFileMode { .. })));
    }
}

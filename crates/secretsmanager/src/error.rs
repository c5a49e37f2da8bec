//! Secrets Manager's errors as its clients read them (`__type` is the modelled name).

use flotilla_front::WireError;

/// Why a Secrets Manager request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidParameter(String),
    /// The request is valid but the secret's state forbids it (marked for deletion, ...).
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    Exists(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    InvalidNextToken(String),
    /// A sealed value that does not open (a wrong key file, a damaged record).
    #[error("{0}")]
    Decryption(String),
    #[error("{0}")]
    Encryption(String),
    #[error("{0}")]
    Serialization(String),
    /// An operation of Secrets Manager this server does not serve.
    #[error("{0}")]
    UnknownOperation(String),
    #[error("{0}")]
    Internal(String),
}

impl SecretsError {
    /// AWS's answer for a secret that does not exist (or is past its recovery window).
    pub fn not_found() -> SecretsError {
        SecretsError::NotFound("Secrets Manager can't find the specified secret.".into())
    }

    /// AWS's answer for an operation on a secret marked for deletion.
    pub fn marked_for_deletion() -> SecretsError {
        SecretsError::InvalidRequest(
            "You can't perform this operation on the secret because it was marked for deletion."
                .into(),
        )
    }

    fn parts(&self) -> (&'static str, u16) {
        match self {
            SecretsError::NotFound(_) => ("ResourceNotFoundException", 400),
            SecretsError::InvalidParameter(_) => ("InvalidParameterException", 400),
            SecretsError::InvalidRequest(_) => ("InvalidRequestException", 400),
            SecretsError::Exists(_) => ("ResourceExistsException", 400),
            SecretsError::LimitExceeded(_) => ("LimitExceededException", 400),
            SecretsError::InvalidNextToken(_) => ("InvalidNextTokenException", 400),
            SecretsError::Decryption(_) => ("DecryptionFailure", 400),
            SecretsError::Encryption(_) => ("EncryptionFailure", 400),
            SecretsError::Serialization(_) => ("SerializationException", 400),
            SecretsError::UnknownOperation(_) => ("UnknownOperationException", 400),
            SecretsError::Internal(_) => ("InternalServiceError", 500),
        }
    }
}

impl From<SecretsError> for WireError {
    fn from(error: SecretsError) -> WireError {
        let (code, status) = error.parts();
        WireError::new(code, status, error.to_string())
    }
}

impl From<flotilla_store::StoreError> for SecretsError {
    fn from(error: flotilla_store::StoreError) -> SecretsError {
        tracing::error!(%error, "secrets store");
        SecretsError::Internal("the secrets store cannot be written".into())
    }
}

impl From<flotilla_store::sealed::SealError> for SecretsError {
    fn from(error: flotilla_store::sealed::SealError) -> SecretsError {
        use flotilla_store::sealed::SealError;
        match error {
            SealError::Random => {
                SecretsError::Encryption(format!("cannot seal the value: {error}"))
            }
            other => SecretsError::Decryption(format!("cannot open the value: {other}")),
        }
    }
}

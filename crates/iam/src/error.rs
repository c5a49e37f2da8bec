//! IAM's errors as its clients read them (query protocol: `<Code>` is the modelled name).

use flotilla_front::WireError;

/// Why an IAM request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IamError {
    #[error("{0}")]
    NoSuchEntity(String),
    #[error("{0}")]
    EntityAlreadyExists(String),
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("{0}")]
    InvalidInput(String),
    /// A member that breaks its model's constraint (length, pattern, range).
    #[error("{0}")]
    Validation(String),
    /// A request member this server does not honour yet.
    #[error("{0}")]
    NotSupported(String),
    #[error("{0}")]
    Internal(String),
}

impl IamError {
    /// `NoSuchEntity` as AWS words it: "The user with name bob cannot be found.".
    pub fn no_such(kind: &str, name: &str) -> IamError {
        IamError::NoSuchEntity(format!("The {kind} with name {name} cannot be found."))
    }

    fn parts(&self) -> (&'static str, u16) {
        match self {
            IamError::NoSuchEntity(_) => ("NoSuchEntity", 404),
            IamError::EntityAlreadyExists(_) => ("EntityAlreadyExists", 409),
            IamError::DeleteConflict(_) => ("DeleteConflict", 409),
            IamError::LimitExceeded(_) => ("LimitExceeded", 409),
            IamError::MalformedPolicyDocument(_) => ("MalformedPolicyDocument", 400),
            IamError::InvalidInput(_) => ("InvalidInput", 400),
            IamError::Validation(_) | IamError::NotSupported(_) => ("ValidationError", 400),
            IamError::Internal(_) => ("ServiceFailure", 500),
        }
    }
}

impl From<IamError> for WireError {
    fn from(error: IamError) -> WireError {
        let (code, status) = error.parts();
        WireError::new(code, status, error.to_string())
    }
}

impl From<flotilla_store::StoreError> for IamError {
    fn from(error: flotilla_store::StoreError) -> IamError {
        tracing::error!(%error, "iam store");
        IamError::Internal("the identity store cannot be written".into())
    }
}

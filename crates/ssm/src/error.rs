//! Parameter Store's errors as its clients read them (AWS JSON: `__type` is the modelled name).

use flotilla_front::WireError;
use flotilla_store::sealed::SealError;

/// Why a Parameter Store request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsmError {
    #[error("{0}")]
    ParameterNotFound(String),
    /// A `name:version` or `name:label` selector that names no version of an existing parameter.
    #[error("{0}")]
    ParameterVersionNotFound(String),
    #[error("The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")]
    ParameterAlreadyExists,
    /// A member that breaks its model's constraint, or a request member (or value) this server
    /// does not honour yet: the message names it.
    #[error("{0}")]
    Validation(String),
    /// A body that is not the operation's JSON.
    #[error("{0}")]
    Serialization(String),
    /// A SecureString sealed under a key this server no longer holds: as AWS answers a value
    /// whose KMS key cannot be used.
    #[error("{0}")]
    InvalidKeyId(String),
    /// An `AllowedPattern` that is not a regular expression this server can apply.
    #[error("{0}")]
    InvalidAllowedPattern(String),
    /// A value that does not match its parameter's `AllowedPattern`.
    #[error("Parameter value, cannot be validated against allowedPattern: {0}")]
    ParameterPatternMismatch(String),
    /// A new version would drop the oldest of 100, and the oldest has a label.
    #[error("{0}")]
    ParameterMaxVersionLimitExceeded(String),
    #[error("A parameter version can have maximum 10 labels. Move one or more labels to another version and try again.")]
    ParameterVersionLabelLimitExceeded,
    #[error("A hierarchy can have a maximum of 15 levels: {0} has {1}")]
    HierarchyLevelLimitExceeded(String, usize),
    #[error("{0}")]
    InvalidFilterKey(String),
    #[error("{0}")]
    InvalidFilterOption(String),
    #[error("{0}")]
    InvalidFilterValue(String),
    #[error("The NextToken is not one this server gave for this request")]
    InvalidNextToken,
    #[error("{0}")]
    InvalidResourceId(String),
    /// A resource type other than `Parameter` (refused by the field ledger).
    #[error("{0}")]
    InvalidResourceType(String),
    #[error("A parameter can have at most 50 tags: this request would leave {0}")]
    TooManyTags(usize),
    /// An operation Parameter Store here does not serve.
    #[error("{0}")]
    UnknownOperation(String),
    #[error("{0}")]
    Internal(String),
}

impl SsmError {
    /// `ParameterNotFound` as AWS words it: "Parameter /a/b not found.".
    pub fn not_found(name: &str) -> SsmError {
        SsmError::ParameterNotFound(format!("Parameter {name} not found."))
    }

    /// `ParameterVersionNotFound` as AWS words it.
    pub fn version_not_found(version: i64, name: &str) -> SsmError {
        SsmError::ParameterVersionNotFound(format!(
            "Systems Manager could not find version {version} of {name}. Verify the version and try again."
        ))
    }

    /// The modelled error name (`__type`) and HTTP status.
    fn parts(&self) -> (&'static str, u16) {
        match self {
            SsmError::ParameterNotFound(_) => ("ParameterNotFound", 400),
            SsmError::ParameterVersionNotFound(_) => ("ParameterVersionNotFound", 400),
            SsmError::ParameterAlreadyExists => ("ParameterAlreadyExists", 400),
            SsmError::Validation(_) => ("ValidationException", 400),
            SsmError::Serialization(_) => ("SerializationException", 400),
            SsmError::InvalidKeyId(_) => ("InvalidKeyId", 400),
            SsmError::InvalidAllowedPattern(_) => ("InvalidAllowedPatternException", 400),
            SsmError::ParameterPatternMismatch(_) => ("ParameterPatternMismatchException", 400),
            SsmError::ParameterMaxVersionLimitExceeded(_) => {
                ("ParameterMaxVersionLimitExceeded", 400)
            }
            SsmError::ParameterVersionLabelLimitExceeded => {
                ("ParameterVersionLabelLimitExceeded", 400)
            }
            SsmError::HierarchyLevelLimitExceeded(..) => {
                ("HierarchyLevelLimitExceededException", 400)
            }
            SsmError::InvalidFilterKey(_) => ("InvalidFilterKey", 400),
            SsmError::InvalidFilterOption(_) => ("InvalidFilterOption", 400),
            SsmError::InvalidFilterValue(_) => ("InvalidFilterValue", 400),
            SsmError::InvalidNextToken => ("InvalidNextToken", 400),
            SsmError::InvalidResourceId(_) => ("InvalidResourceId", 400),
            SsmError::InvalidResourceType(_) => ("InvalidResourceType", 400),
            SsmError::TooManyTags(_) => ("TooManyTagsError", 400),
            SsmError::UnknownOperation(_) => ("UnknownOperationException", 400),
            SsmError::Internal(_) => ("InternalServerError", 500),
        }
    }
}

impl From<SsmError> for WireError {
    fn from(error: SsmError) -> WireError {
        let (code, status) = error.parts();
        WireError::new(code, status, error.to_string())
    }
}

impl From<flotilla_store::StoreError> for SsmError {
    fn from(error: flotilla_store::StoreError) -> SsmError {
        tracing::error!(%error, "ssm store");
        SsmError::Internal("the parameter store cannot be written".into())
    }
}

impl From<SealError> for SsmError {
    fn from(error: SealError) -> SsmError {
        // The error names keys and records, never a value.
        tracing::error!(%error, "ssm sealed value");
        match error {
            SealError::WrongKey { .. } => SsmError::InvalidKeyId(
                "The SecureString was encrypted with a key this server does not hold".into(),
            ),
            _ => SsmError::Internal("a SecureString value cannot be sealed or opened".into()),
        }
    }
}

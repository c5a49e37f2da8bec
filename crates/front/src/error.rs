//! Errors as AWS clients read them, whatever the protocol: a code, a fault side, an HTTP status
//! and a message. Services turn their own error enums into this at their edge.

use std::borrow::Cow;

/// Whose fault an error is, as the query protocol's `<Type>` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Sender,
    Receiver,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Sender => "Sender",
            Fault::Receiver => "Receiver",
        }
    }
}

/// An error answer, before a protocol renders it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct WireError {
    /// The error shape's name, as AWS JSON and CBOR answers carry it (`__type`).
    pub code: Cow<'static, str>,
    /// The code query-protocol clients read (`<Code>`, and `x-amzn-query-error` for
    /// `awsQueryCompatible` models) when it differs from `code`.
    pub query_code: Option<Cow<'static, str>>,
    pub status: u16,
    pub fault: Fault,
    pub message: String,
}

/// A service's error given as its code, HTTP status, query-protocol code and message.
impl From<(&'static str, u16, &'static str, String)> for WireError {
    fn from(
        (code, status, query_code, message): (&'static str, u16, &'static str, String),
    ) -> Self {
        WireError::new(code, status, message).with_query_code(query_code)
    }
}

impl WireError {
    /// An error with `code` and `status`; 5xx statuses are the receiver's fault.
    pub fn new(
        code: impl Into<Cow<'static, str>>,
        status: u16,
        message: impl Into<String>,
    ) -> Self {
        let fault = if status >= 500 { Fault::Receiver } else { Fault::Sender };
        WireError { code: code.into(), query_code: None, status, fault, message: message.into() }
    }

    /// The same error with its query-protocol code.
    pub fn with_query_code(mut self, code: impl Into<Cow<'static, str>>) -> Self {
        self.query_code = Some(code.into());
        self
    }

    /// The code a query-protocol answer carries.
    pub fn query_code(&self) -> &str {
        self.query_code.as_deref().unwrap_or(&self.code)
    }

    /// No credentials at all (no `Authorization` header, no presigned query).
    pub fn missing_token() -> Self {
        Self::new("MissingAuthenticationTokenException", 403, "Missing Authentication Token")
            .with_query_code("MissingAuthenticationToken")
    }

    /// A signature that is malformed or lacks a part AWS requires.
    pub fn incomplete_signature(message: impl Into<String>) -> Self {
        Self::new("IncompleteSignatureException", 403, message)
            .with_query_code("IncompleteSignature")
    }

    /// A signature that does not verify, or is expired.
    pub fn invalid_signature(message: impl Into<String>) -> Self {
        Self::new("InvalidSignatureException", 403, message)
            .with_query_code("SignatureDoesNotMatch")
    }

    /// An access key (or session token) this server does not know.
    pub fn unrecognized_client() -> Self {
        Self::new(
            "UnrecognizedClientException",
            400,
            "The security token included in the request is invalid.",
        )
        .with_query_code("InvalidClientTokenId")
    }

    /// Temporary credentials past their expiry.
    pub fn expired_token() -> Self {
        Self::new(
            "ExpiredTokenException",
            400,
            "The security token included in the request is expired",
        )
        .with_query_code("ExpiredToken")
    }

    /// Refused by the authorization hook.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new("AccessDeniedException", 403, message).with_query_code("AccessDenied")
    }

    /// No service or operation answers this request.
    pub fn unknown_operation(message: impl Into<String>) -> Self {
        Self::new("UnknownOperationException", 400, message).with_query_code("InvalidAction")
    }

    /// A body that cannot be decoded in the request's protocol.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", 400, message).with_query_code("MalformedInput")
    }

    /// A query-protocol parameter that cannot be read.
    pub fn invalid_parameter_value(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterValueException", 400, message)
            .with_query_code("InvalidParameterValue")
    }

    /// A query-protocol request without a parameter every request needs (`Action`).
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            "MissingRequiredParameterException",
            400,
            format!("The request must contain the parameter {name}."),
        )
        .with_query_code("MissingParameter")
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            "RequestEntityTooLargeException",
            413,
            format!("request body is larger than the {limit}-byte limit"),
        )
        .with_query_code("RequestEntityTooLarge")
    }

    /// A failure of this server, not of the request.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new("InternalFailure", 500, message)
    }

    /// Whether this is the answer to an operation no service knows (kept out of metrics labels).
    pub fn is_unknown_operation(&self) -> bool {
        self.code == "UnknownOperationException"
    }
}

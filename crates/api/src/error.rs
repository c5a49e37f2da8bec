//! AWS-shaped errors: a code from ECS's model (or the protocol's), a message, an HTTP status.

use std::fmt;

/// Error codes a client can see. The names are the `__type` values on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    // Protocol and authentication (shared by every AWS JSON service).
    SerializationException,
    UnknownOperationException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
    InvalidSignatureException,
    IncompleteSignatureException,
    AccessDeniedException,
    RequestEntityTooLargeException,
    ThrottlingException,
    // ECS's modeled errors.
    ClientException,
    ServerException,
    InvalidParameterException,
    ClusterNotFoundException,
    ClusterContainsContainerInstancesException,
    ClusterContainsServicesException,
    ClusterContainsTasksException,
    ResourceNotFoundException,
    LimitExceededException,
    ResourceInUseException,
    NamespaceNotFoundException,
    TaskSetNotFoundException,
    PlatformUnknownException,
    /// EC2: a request with `DryRun` that would have succeeded.
    DryRunOperation,
    InvalidVpcIdNotFound,
    InvalidSubnetIdNotFound,
    InvalidGroupNotFound,
    InvalidGroupDuplicate,
    InvalidSubnetRange,
    InvalidSubnetConflict,
    CannotDelete,
    InvalidPermissionDuplicate,
    InvalidSecurityGroupRuleIdNotFound,
    DependencyViolation,
    InvalidNetworkInterfaceIdNotFound,
    /// EC2: a parameter the operation does not have.
    UnknownParameter,
    ServiceNotFoundException,
    ServiceNotActiveException,
    TargetNotFoundException,
    AttributeLimitExceededException,
    // ELBv2's modeled errors (query protocol: the code is the wire name).
    LoadBalancerNotFound,
    TargetGroupNotFound,
    ListenerNotFound,
    RuleNotFound,
    DuplicateLoadBalancerName,
    DuplicateTargetGroupName,
    DuplicateListener,
    DuplicateTagKeys,
    PriorityInUse,
    InvalidTarget,
    InvalidConfigurationRequest,
    InvalidLoadBalancerAction,
    InvalidSecurityGroup,
    InvalidSubnet,
    SubnetNotFound,
    IncompatibleProtocols,
    UnsupportedProtocol,
    OperationNotPermitted,
    TargetGroupAssociationLimit,
    TooManyTags,
    TooManyTargets,
    TooManyActions,
    TooManyRules,
    TooManyListeners,
    TooManyLoadBalancers,
    TooManyTargetGroups,
    TooManyRegistrationsForTargetId,
    CertificateNotFound,
    /// ELBv2's and Cloud Map's `ResourceInUse` (ECS's is `ResourceInUseException`).
    ResourceInUse,
    // ACM's modeled errors (the rest are shared).
    InvalidArnException,
    TooManyTagsException,
    InvalidTagException,
    // Cloud Map's modeled errors (named without `Exception`).
    CloudMapNamespaceNotFound,
    CloudMapServiceNotFound,
    InstanceNotFound,
    OperationNotFound,
    NamespaceAlreadyExists,
    ServiceAlreadyExists,
    InvalidInput,
    CustomHealthNotFound,
    DuplicateRequest,
    // CloudWatch Logs' modeled errors (the rest are shared with ECS).
    ResourceAlreadyExistsException,
    ServiceUnavailableException,
    // CloudWatch metrics' modeled errors (query-compatible: see `query_code`).
    InvalidParameterValueException,
    MissingRequiredParameterException,
    InvalidParameterCombinationException,
    InvalidNextToken,
    InternalServiceFault,
    /// Invalid input to an operation that models no validation error (GetMetricData).
    ValidationException,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            SerializationException => "SerializationException",
            UnknownOperationException => "UnknownOperationException",
            MissingAuthenticationTokenException => "MissingAuthenticationTokenException",
            UnrecognizedClientException => "UnrecognizedClientException",
            InvalidSignatureException => "InvalidSignatureException",
            IncompleteSignatureException => "IncompleteSignatureException",
            AccessDeniedException => "AccessDeniedException",
            RequestEntityTooLargeException => "RequestEntityTooLargeException",
            ThrottlingException => "ThrottlingException",
            ClientException => "ClientException",
            ServerException => "ServerException",
            InvalidParameterException => "InvalidParameterException",
            ClusterNotFoundException => "ClusterNotFoundException",
            ClusterContainsContainerInstancesException => {
                "ClusterContainsContainerInstancesException"
            }
            ClusterContainsServicesException => "ClusterContainsServicesException",
            ClusterContainsTasksException => "ClusterContainsTasksException",
            ResourceNotFoundException => "ResourceNotFoundException",
            LimitExceededException => "LimitExceededException",
            ResourceInUseException => "ResourceInUseException",
            NamespaceNotFoundException => "NamespaceNotFoundException",
            TaskSetNotFoundException => "TaskSetNotFoundException",
            PlatformUnknownException => "PlatformUnknownException",
            DryRunOperation => "DryRunOperation",
            InvalidVpcIdNotFound => "InvalidVpcID.NotFound",
            InvalidSubnetIdNotFound => "InvalidSubnetID.NotFound",
            InvalidGroupNotFound => "InvalidGroup.NotFound",
            InvalidGroupDuplicate => "InvalidGroup.Duplicate",
            InvalidSubnetRange => "InvalidSubnet.Range",
            InvalidSubnetConflict => "InvalidSubnet.Conflict",
            CannotDelete => "CannotDelete",
            InvalidPermissionDuplicate => "InvalidPermission.Duplicate",
            InvalidSecurityGroupRuleIdNotFound => "InvalidSecurityGroupRuleId.NotFound",
            DependencyViolation => "DependencyViolation",
            InvalidNetworkInterfaceIdNotFound => "InvalidNetworkInterfaceID.NotFound",
            UnknownParameter => "UnknownParameter",
            ServiceNotFoundException => "ServiceNotFoundException",
            ServiceNotActiveException => "ServiceNotActiveException",
            TargetNotFoundException => "TargetNotFoundException",
            AttributeLimitExceededException => "AttributeLimitExceededException",
            LoadBalancerNotFound => "LoadBalancerNotFound",
            TargetGroupNotFound => "TargetGroupNotFound",
            ListenerNotFound => "ListenerNotFound",
            RuleNotFound => "RuleNotFound",
            DuplicateLoadBalancerName => "DuplicateLoadBalancerName",
            DuplicateTargetGroupName => "DuplicateTargetGroupName",
            DuplicateListener => "DuplicateListener",
            DuplicateTagKeys => "DuplicateTagKeys",
            PriorityInUse => "PriorityInUse",
            InvalidTarget => "InvalidTarget",
            InvalidConfigurationRequest => "InvalidConfigurationRequest",
            InvalidLoadBalancerAction => "InvalidLoadBalancerAction",
            InvalidSecurityGroup => "InvalidSecurityGroup",
            InvalidSubnet => "InvalidSubnet",
            SubnetNotFound => "SubnetNotFound",
            IncompatibleProtocols => "IncompatibleProtocols",
            UnsupportedProtocol => "UnsupportedProtocol",
            OperationNotPermitted => "OperationNotPermitted",
            TargetGroupAssociationLimit => "TargetGroupAssociationLimit",
            TooManyTags => "TooManyTags",
            TooManyTargets => "TooManyTargets",
            TooManyActions => "TooManyActions",
            TooManyRules => "TooManyRules",
            TooManyListeners => "TooManyListeners",
            TooManyLoadBalancers => "TooManyLoadBalancers",
            TooManyTargetGroups => "TooManyTargetGroups",
            TooManyRegistrationsForTargetId => "TooManyRegistrationsForTargetId",
            CertificateNotFound => "CertificateNotFound",
            ResourceInUse => "ResourceInUse",
            InvalidArnException => "InvalidArnException",
            TooManyTagsException => "TooManyTagsException",
            InvalidTagException => "InvalidTagException",
            CloudMapNamespaceNotFound => "NamespaceNotFound",
            CloudMapServiceNotFound => "ServiceNotFound",
            InstanceNotFound => "InstanceNotFound",
            OperationNotFound => "OperationNotFound",
            NamespaceAlreadyExists => "NamespaceAlreadyExists",
            ServiceAlreadyExists => "ServiceAlreadyExists",
            InvalidInput => "InvalidInput",
            CustomHealthNotFound => "CustomHealthNotFound",
            DuplicateRequest => "DuplicateRequest",
            ResourceAlreadyExistsException => "ResourceAlreadyExistsException",
            ServiceUnavailableException => "ServiceUnavailableException",
            InvalidParameterValueException => "InvalidParameterValueException",
            MissingRequiredParameterException => "MissingRequiredParameterException",
            InvalidParameterCombinationException => "InvalidParameterCombinationException",
            InvalidNextToken => "InvalidNextToken",
            InternalServiceFault => "InternalServiceFault",
            ValidationException => "ValidationException",
        }
    }

    /// The code query-protocol clients read for this error (and `x-amzn-query-error` carries
    /// for `awsQueryCompatible` models), as CloudWatch names them.
    pub fn query_code(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidParameterValueException => "InvalidParameterValue",
            MissingRequiredParameterException => "MissingParameter",
            InvalidParameterCombinationException => "InvalidParameterCombination",
            ValidationException => "ValidationError",
            UnknownOperationException => "InvalidAction",
            SerializationException => "MalformedInput",
            MissingAuthenticationTokenException => "MissingAuthenticationToken",
            InvalidSignatureException => "SignatureDoesNotMatch",
            IncompleteSignatureException => "IncompleteSignature",
            UnrecognizedClientException => "InvalidClientTokenId",
            AccessDeniedException => "AccessDenied",
            RequestEntityTooLargeException => "RequestEntityTooLarge",
            ThrottlingException => "Throttling",
            InternalServiceFault => "InternalServiceError",
            ServiceUnavailableException => "ServiceUnavailable",
            ServerException => "InternalFailure",
            other => other.as_str(),
        }
    }

    /// The HTTP status AWS answers with for this code.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            ServerException | InternalServiceFault => 500,
            ServiceUnavailableException => 503,
            MissingAuthenticationTokenException
            | InvalidSignatureException
            | AccessDeniedException
            | IncompleteSignatureException => 403,
            RequestEntityTooLargeException => 413,
            DryRunOperation => 412,
            _ => 400,
        }
    }
}

/// An error as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameterException, message)
    }

    pub fn client(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ClientException, message)
    }

    pub fn cluster_not_found() -> Self {
        Self::new(ErrorCode::ClusterNotFoundException, "Cluster not found.")
    }

    pub fn server(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServerException, message)
    }

    /// The error as the front door takes it: code, HTTP status, query-protocol code, message.
    pub fn into_parts(self) -> (&'static str, u16, &'static str, String) {
        (self.code.as_str(), self.code.http_status(), self.code.query_code(), self.message)
    }

    /// The JSON body: `{"__type": "<Code>", "message": "..."}`.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "__type": self.code.as_str(),
            "message": self.message,
        }))
        .unwrap_or_default()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

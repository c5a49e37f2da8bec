//! Policy documents checked as IAM checks them when they are stored: what a put, a new version
//! or a role's trust policy refuses with `MalformedPolicyDocument`.

use crate::error::IamError;

/// Checks an identity policy as IAM does when it is put or made a version.
pub(crate) fn check_identity_document(document: &str) -> Result<(), IamError> {
    let policy = flotilla_iam_policy::Policy::parse(document)
        .map_err(|e| IamError::MalformedPolicyDocument(e.to_string()))?;
    policy.check_identity().map_err(|e| IamError::MalformedPolicyDocument(e.to_string()))
}

/// Checks a trust policy as CreateRole and UpdateAssumeRolePolicy do.
pub(crate) fn check_trust_document(document: &str) -> Result<(), IamError> {
    let policy = flotilla_iam_policy::Policy::parse(document)
        .map_err(|e| IamError::MalformedPolicyDocument(e.to_string()))?;
    policy.check_trust().map_err(|e| IamError::MalformedPolicyDocument(e.to_string()))
}

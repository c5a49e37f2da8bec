//! Tasks' secrets (ECS's [`SecretSource`]): each `valueFrom` read from the region's Secrets
//! Manager or Parameter Store as the task's execution role may, that is when the role trusts
//! `ecs-tasks.amazonaws.com` and its policies allow `secretsmanager:GetSecretValue` on the
//! secret or `ssm:GetParameters` on the parameter. Refusals carry the reasons ECS stops a task
//! with (`ResourceInitializationError: ...`).

use std::sync::{Arc, OnceLock};

use flotilla_ecs::task_secrets::SecretSource;
use flotilla_ecs::BoxFuture;
use flotilla_iam_policy::{evaluate, Context, Decision, Request};
use flotilla_sts::Roles;

/// The start of every reason ECS gives for secrets it could not read.
const RETRIEVAL_FAILED: &str =
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed";

/// Reads one region's secrets and parameters as tasks' execution roles may.
pub struct ExecutionRoleSecrets {
    pub iam: Arc<flotilla_iam::App>,
    /// Set once the region's Secrets Manager and Parameter Store exist (they are made after
    /// its ECS).
    pub stores: OnceLock<(Arc<flotilla_secretsmanager::App>, Arc<flotilla_ssm::App>)>,
}

/// Whether `role`'s policies allow `action` on `resource`; else AWS's denial, naming the
/// session the role acts as.
fn allowed(
    role: &flotilla_iam::directory::RoleEntry,
    session: &str,
    action: &'static str,
    resource: &str,
    region: &str,
) -> Result<(), String> {
    let policies = role.principal.policies_for(action);
    let policies: Vec<&flotilla_iam_policy::Policy> = policies.iter().collect();
    let context = Context::new()
        .with("aws:PrincipalArn", role.principal.arn.clone())
        .with("aws:PrincipalType", "AssumedRole")
        .with("aws:RequestedRegion", region.to_string());
    let request = Request { action, resource, principal: None, context: &context };
    let why = match evaluate(&policies, &request) {
        Decision::Allow => return Ok(()),
        Decision::ExplicitDeny => "with an explicit deny in an identity-based policy",
        Decision::ImplicitDeny => {
            &format!("because no identity-based policy allows the {action} action")
        }
    };
    Err(format!(
        "AccessDeniedException: User: {session} is not authorized to perform: {action} on resource: {resource} {why}"
    ))
}

impl ExecutionRoleSecrets {
    fn read(
        &self,
        region: &str,
        execution_role: &str,
        task_id: &str,
        value_from: &[String],
    ) -> Result<Vec<String>, String> {
        let Some((secrets, parameters)) = self.stores.get() else {
            return Err(format!("{RETRIEVAL_FAILED}: the region's secrets are not open yet"));
        };
        let directory = self.iam.directory();
        let roles = crate::identity::IamRoles { iam: Arc::clone(&self.iam) };
        roles
            .assumable_by_service(execution_role, flotilla_ecs::task_roles::TASKS_PRINCIPAL)
            .map_err(|e| {
                format!(
                    "{RETRIEVAL_FAILED}: unable to assume the execution role {execution_role}: {e}"
                )
            })?;
        let Some(role) = directory.role(execution_role) else {
            return Err(format!(
                "{RETRIEVAL_FAILED}: the execution role {execution_role} does not exist"
            ));
        };
        let session = format!(
            "arn:aws:sts::{}:assumed-role/{}/{task_id}",
            self.iam.account_id, role.principal.name
        );
        let now = std::time::SystemTime::now();
        value_from
            .iter()
            .map(|reference| match flotilla_secretsmanager::references::parse(reference) {
                Some(secret) => {
                    let failed = |why: String| {
                        format!(
                            "{RETRIEVAL_FAILED}: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret {reference} from secrets manager: {why}"
                        )
                    };
                    if secret.region != region {
                        return Err(failed(format!(
                            "secrets of region {} are not supported yet for tasks of {region}",
                            secret.region
                        )));
                    }
                    let arn = secrets
                        .secret_arn(&secret.secret_arn, now)
                        .unwrap_or_else(|| secret.secret_arn.clone());
                    allowed(role, &session, "secretsmanager:GetSecretValue", &arn, region)
                        .map_err(failed)?;
                    secrets.value_for_task(&secret, now).map_err(|e| {
                        let code = match &e {
                            flotilla_secretsmanager::SecretsError::NotFound(_) => "ResourceNotFoundException",
                            _ => "InvalidRequestException",
                        };
                        failed(format!("{code}: {e}"))
                    })
                }
                None => {
                    let failed = |why: String| {
                        format!(
                            "{RETRIEVAL_FAILED}: unable to retrieve secrets from ssm: service call has been retried 1 time(s): {why}"
                        )
                    };
                    let Some(arn) = parameters.arn_of(reference) else {
                        return Err(failed(format!(
                            "the parameter {reference} is not one of region {region} (other regions are not supported yet)"
                        )));
                    };
                    allowed(role, &session, "ssm:GetParameters", &arn, region).map_err(failed)?;
                    parameters
                        .value_for_task(reference)
                        .map_err(|_| failed(format!("invalid parameters: {reference}")))
                }
            })
            .collect()
    }
}

impl SecretSource for ExecutionRoleSecrets {
    fn fetch<'a>(
        &'a self,
        region: &'a str,
        execution_role: &'a str,
        task_id: &'a str,
        value_from: Vec<String>,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move { self.read(region, execution_role, task_id, &value_from) })
    }
}

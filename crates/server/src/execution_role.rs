//! Tasks' execution roles (ECS's [`ExecutionRole`]): a role acts for a task when it trusts
//! `ecs-tasks.amazonaws.com`, and then as its policies allow. Each `valueFrom` is read from the
//! region's Secrets Manager or Parameter Store when they allow `secretsmanager:GetSecretValue`
//! on the secret or `ssm:GetParameters` on the parameter; refusals carry the reasons ECS stops
//! a task with (`ResourceInitializationError: ...`).

use std::sync::{Arc, OnceLock};

use flotilla_ecs::execution_role::ExecutionRole;
use flotilla_ecs::BoxFuture;
use flotilla_iam::directory::RoleEntry;
use flotilla_iam_policy::{evaluate, Context, Decision, Request};
use flotilla_sts::Roles;

/// The start of every reason ECS gives for secrets it could not read.
const RETRIEVAL_FAILED: &str =
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed";

/// What one region's tasks' execution roles may do, and the secrets and parameters they read.
pub struct ExecutionRoles {
    pub iam: Arc<flotilla_iam::App>,
    /// Whom a role trusts (IAM's trust policies, as STS reads them).
    pub roles: Arc<dyn Roles>,
    /// Set once the region's Secrets Manager and Parameter Store exist (they are made after
    /// its ECS).
    pub stores: OnceLock<(Arc<flotilla_secretsmanager::App>, Arc<flotilla_ssm::App>)>,
}

/// Whether `role`'s policies allow `action` on `resource`; else AWS's denial, naming the
/// session the role acts as.
fn allowed(
    role: &RoleEntry,
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

impl ExecutionRoles {
    /// The role, once it is known to trust ECS's tasks; else why not.
    fn assumable(&self, execution_role: &str) -> Result<Arc<RoleEntry>, String> {
        self.roles
            .assumable_by_service(execution_role, flotilla_ecs::task_roles::TASKS_PRINCIPAL)
            .map_err(|e| format!("unable to assume the execution role {execution_role}: {e}"))?;
        self.iam
            .directory()
            .role(execution_role)
            .cloned()
            .ok_or_else(|| format!("the execution role {execution_role} does not exist"))
    }

    /// The ARN of the session `role` acts as for task `task_id`.
    fn session(&self, role: &RoleEntry, task_id: &str) -> String {
        format!(
            "arn:aws:sts::{}:assumed-role/{}/{task_id}",
            self.iam.account_id, role.principal.name
        )
    }

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
        let role =
            self.assumable(execution_role).map_err(|e| format!("{RETRIEVAL_FAILED}: {e}"))?;
        let role = role.as_ref();
        let session = self.session(role, task_id);
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

impl ExecutionRole for ExecutionRoles {
    fn may_all(
        &self,
        execution_role: &str,
        task_id: &str,
        wanted: &[(&'static str, String)],
    ) -> Result<(), (&'static str, String)> {
        let Some((first, _)) = wanted.first() else { return Ok(()) };
        let role = self.assumable(execution_role).map_err(|e| (*first, e))?;
        let session = self.session(&role, task_id);
        for (action, resource) in wanted {
            let region = resource.split(':').nth(3).unwrap_or_default();
            allowed(&role, &session, action, resource, region).map_err(|e| (*action, e))?;
        }
        Ok(())
    }

    fn fetch_secrets<'a>(
        &'a self,
        region: &'a str,
        execution_role: &'a str,
        task_id: &'a str,
        value_from: Vec<String>,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move { self.read(region, execution_role, task_id, &value_from) })
    }
}

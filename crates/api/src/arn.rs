//! ECS ARNs in the long format: `arn:aws:ecs:{region}:{account}:{kind}/{...}`.

/// Region and account that every ARN this server mints carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnScope {
    pub region: String,
    pub account_id: String,
}

impl ArnScope {
    pub fn new(region: impl Into<String>, account_id: impl Into<String>) -> Self {
        ArnScope { region: region.into(), account_id: account_id.into() }
    }

    fn prefix(&self) -> String {
        format!("arn:aws:ecs:{}:{}:", self.region, self.account_id)
    }

    pub fn cluster(&self, name: &str) -> String {
        format!("{}cluster/{name}", self.prefix())
    }

    pub fn capacity_provider(&self, name: &str) -> String {
        format!("{}capacity-provider/{name}", self.prefix())
    }

    pub fn task_definition(&self, family: &str, revision: u32) -> String {
        format!("{}task-definition/{family}:{revision}", self.prefix())
    }

    pub fn task(&self, cluster: &str, id: &str) -> String {
        format!("{}task/{cluster}/{id}", self.prefix())
    }

    pub fn container(&self, cluster: &str, task_id: &str, id: &str) -> String {
        format!("{}container/{cluster}/{task_id}/{id}", self.prefix())
    }

    pub fn service(&self, cluster: &str, name: &str) -> String {
        format!("{}service/{cluster}/{name}", self.prefix())
    }

    pub fn task_set(&self, cluster: &str, service: &str, id: &str) -> String {
        format!("{}task-set/{cluster}/{service}/{id}", self.prefix())
    }

    pub fn container_instance(&self, cluster: &str, id: &str) -> String {
        format!("{}container-instance/{cluster}/{id}", self.prefix())
    }

    /// The resource part (`cluster/x`, `task-definition/f:1`) of an ARN of this scope, if it is one.
    pub fn resource<'a>(&self, arn: &'a str) -> Option<&'a str> {
        arn.strip_prefix(self.prefix().as_str())
    }
}

/// What a `cluster` parameter names: ECS takes a short name or a full ARN.
pub fn cluster_name_from(reference: &str) -> &str {
    match reference.strip_prefix("arn:") {
        Some(_) => reference.rsplit_once(":cluster/").map_or(reference, |(_, name)| name),
        None => reference,
    }
}

/// The id in a task or container-instance reference: the last path segment of an ARN
/// (`.../task/<cluster>/<id>`), or the reference itself when it is a bare id.
pub fn id_from(reference: &str) -> &str {
    if reference.starts_with("arn:") {
        reference.rsplit('/').next().unwrap_or(reference)
    } else {
        reference
    }
}

/// Cluster names: up to 255 letters, digits, hyphens and underscores.
pub fn valid_cluster_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_references_resolve_to_names() {
        assert_eq!(cluster_name_from("web"), "web");
        assert_eq!(cluster_name_from("arn:aws:ecs:us-east-1:123456789012:cluster/web"), "web");
    }

    #[test]
    fn cluster_name_rules() {
        assert!(valid_cluster_name("a-b_C9"));
        assert!(!valid_cluster_name(""));
        assert!(!valid_cluster_name("a b"));
        assert!(!valid_cluster_name(&"x".repeat(256)));
    }
}

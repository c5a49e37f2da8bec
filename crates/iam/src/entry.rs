//! The shape of a row of the Service Authorization Reference, as the generated table
//! (`actions_table.rs`) holds it.

/// One operation's row of the Service Authorization Reference.
#[derive(Debug)]
pub struct ActionEntry {
    pub operation: &'static str,
    /// `ecs:RunTask`.
    pub action: &'static str,
    pub resources: &'static [ResourceEntry],
    /// The condition keys the action supports.
    pub condition_keys: &'static [&'static str],
    /// The request may name a role the service will act as: `iam:PassRole` is checked too.
    pub passes_role: bool,
}

/// A resource type an action is checked on.
#[derive(Debug)]
pub struct ResourceEntry {
    pub name: &'static str,
    /// `arn:${Partition}:ecs:${Region}:${Account}:cluster/${ClusterName}`.
    pub arn: &'static str,
    /// The request always names one (otherwise only when it names one).
    pub required: bool,
    pub condition_keys: &'static [&'static str],
}

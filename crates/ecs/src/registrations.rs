//! What the registration loops of services share (target groups in `load_balancing.rs`,
//! service registries in `discovery.rs`; `crate::spawn` runs both every 250 ms): a service's
//! tasks, and keeping the items a `registered` question flagged one way.

use crate::state::{ServiceRecord, State, TaskRecord};

/// The tasks of a service (its group, `service:<name>`, in its cluster).
pub(crate) fn service_tasks<'s>(
    state: &'s State,
    service: &ServiceRecord,
) -> impl Iterator<Item = &'s TaskRecord> + 's {
    let group = format!("service:{}", service.name);
    state
        .tasks
        .range((service.cluster.clone(), String::new())..)
        .take_while({
            let cluster = service.cluster.clone();
            move |((c, _), _)| *c == cluster
        })
        .map(|(_, t)| t)
        .filter(move |t| t.task.group.as_deref() == Some(group.as_str()))
}

/// Keeps `items` whose flag is `keep` (flags from a `registered` question, in order).
pub(crate) fn where_flag<T>(items: Vec<T>, flags: Vec<bool>, keep: bool) -> Vec<T> {
    items.into_iter().zip(flags).filter(|(_, f)| *f == keep).map(|(t, _)| t).collect()
}

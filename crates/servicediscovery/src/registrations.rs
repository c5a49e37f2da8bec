//! What ECS's services ask of Cloud Map (through the server's wiring): the service a
//! `serviceRegistries` entry names, whether a namespace exists, and their tasks registered and
//! deregistered as instances.

use std::collections::BTreeMap;

use flotilla_api::ApiError;

use crate::handlers::operation;
use crate::instances::check_attributes;
use crate::model::{Health, Instance};
use crate::App;

/// A Cloud Map service by ARN: (namespace id, has an A record, has an SRV record).
pub fn registry(app: &App, arn: &str) -> Option<(String, bool, bool)> {
    let state = app.records.snapshot();
    let service = state.services.values().find(|s| s.arn == arn)?;
    let (a, srv) = service.dns.as_ref().map_or((false, false), |d| (d.has("A"), d.has("SRV")));
    Some((service.namespace_id.clone(), a, srv))
}

/// Whether a namespace exists, named by id, ARN or name.
pub fn namespace_exists(app: &App, reference: &str) -> bool {
    let state = app.records.snapshot();
    state
        .namespaces
        .values()
        .any(|n| n.id == reference || n.arn == reference || n.name == reference)
}

/// Whether an instance is registered in the service `arn`.
pub fn registered(app: &App, arn: &str, instance_id: &str) -> bool {
    let state = app.records.snapshot();
    state.services.values().any(|s| s.arn == arn && s.instances.contains_key(instance_id))
}

/// Registers and deregisters, in one change, ECS's tasks as instances. An instance whose
/// attributes the service's records refuse, or of a service deleted meanwhile, is skipped
/// (logged): the rest still go in.
pub async fn sync_for_services(
    app: &App,
    register: &[(String, String, BTreeMap<String, String>)],
    deregister: &[(String, String)],
    now: f64,
) -> Result<(), ApiError> {
    app.change(|state| {
        let mut done: Vec<(String, String, &str)> = Vec::new();
        for (arn, id) in deregister {
            if let Some(service) = state.services.values_mut().find(|s| &s.arn == arn) {
                if service.instances.remove(id).is_some() {
                    service.revision += 1;
                    done.push((service.id.clone(), id.clone(), "DEREGISTER_INSTANCE"));
                }
            }
        }
        for (arn, id, attributes) in register {
            let Some(service) = state.services.values_mut().find(|s| &s.arn == arn) else {
                continue;
            };
            if let Err(error) = check_attributes(service, attributes) {
                tracing::warn!(service = %arn, instance = %id, error = %error.message, "cannot register a task");
                continue;
            }
            let health = if service.custom_health { Health::Healthy } else { Health::Unknown };
            service.instances.insert(
                id.clone(),
                Instance { id: id.clone(), attributes: attributes.clone(), creator_request_id: None, health },
            );
            service.revision += 1;
            done.push((service.id.clone(), id.clone(), "REGISTER_INSTANCE"));
        }
        for (service, instance, kind) in done {
            operation(state, kind, now, &[("SERVICE", &service), ("INSTANCE", &instance)]);
        }
        Ok(())
    })
    .await
}

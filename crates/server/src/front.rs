//! The front door's table: every service of this server registered with its spec, the root key
//! as the key store, the request metrics as the observer, and the authorization hook (allow-all
//! until IAM policies are evaluated there).

use std::sync::Arc;

use flotilla_front::{AllowAll, FrontDoor, KeyInfo, KeyStore, Registry, Service, ServiceSpec};

use crate::App;

/// The door with every service of this server registered.
pub fn door(app: &App) -> FrontDoor {
    let services: [(ServiceSpec, Arc<dyn Service>); 3] = [
        (
            flotilla_ecs::service::spec(),
            Arc::new(flotilla_ecs::service::EcsService(Arc::clone(&app.ecs))),
        ),
        (
            flotilla_logs::service::spec(),
            Arc::new(flotilla_logs::service::LogsService(Arc::clone(&app.logs))),
        ),
        (
            flotilla_cloudwatch::service::spec(),
            Arc::new(flotilla_cloudwatch::service::CloudWatchService(Arc::clone(&app.cloudwatch))),
        ),
    ];
    let mut registry = Registry::default();
    for (spec, service) in services {
        if let Err(error) = registry.register(spec, service) {
            // The table above is static: a clash is a programming error every test catches.
            unreachable!("{error}");
        }
    }
    FrontDoor::new(
        app.ecs.scope.region.clone(),
        registry,
        Arc::new(RootKey {
            key: app.credentials.root.clone(),
            account_id: app.ecs.scope.account_id.clone(),
        }),
        Arc::new(AllowAll),
        Arc::clone(&app.requests) as Arc<dyn flotilla_front::Observer>,
    )
}

/// The root key: the only key until IAM users and STS sessions come.
struct RootKey {
    key: crate::AccessKey,
    account_id: String,
}

impl KeyStore for RootKey {
    fn key(&self, access_key_id: &str) -> Option<KeyInfo> {
        (access_key_id == self.key.access_key_id).then(|| KeyInfo {
            secret_access_key: self.key.secret_access_key.clone(),
            account_id: self.account_id.clone(),
            principal_arn: format!("arn:aws:iam::{}:root", self.account_id),
            session_token: None,
        })
    }
}

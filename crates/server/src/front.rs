//! The front door's table: every service of this server registered with its spec, each sending
//! a request to its region's instance (the credential scope names the region), the root key as
//! IAM and STS (global: one for every region), the root key, IAM users' keys and STS sessions as
//! the key store, the request metrics as the observer, and IAM's policies as the authorization
//! hook.

use std::sync::Arc;

use flotilla_front::{FrontDoor, Registry, Service, ServiceFuture, ServiceRequest, WireError};

use crate::regions::{Regions, ServiceKind};
use crate::App;

/// The door with every service of this server registered.
pub fn door(app: &App) -> FrontDoor {
    let services = [
        (flotilla_ecs::service::spec(), ServiceKind::Ecs),
        (flotilla_logs::service::spec(), ServiceKind::Logs),
        (flotilla_cloudwatch::service::spec(), ServiceKind::CloudWatch),
        (flotilla_ec2::service::spec(), ServiceKind::Ec2),
        (flotilla_elbv2::service::spec(), ServiceKind::Elbv2),
        (flotilla_acm::service::spec(), ServiceKind::Acm),
        (flotilla_servicediscovery::service::spec(), ServiceKind::CloudMap),
        (flotilla_secretsmanager::service::spec(), ServiceKind::SecretsManager),
        (flotilla_ssm::service::spec(), ServiceKind::ParameterStore),
    ];
    let mut registry = Registry::default();
    for (spec, kind) in services {
        let service: Arc<dyn Service> =
            Arc::new(Regional { regions: Arc::clone(&app.regions), kind });
        if let Err(error) = registry.register(spec, service) {
            // The table above is static: a clash is a programming error every test catches.
            unreachable!("{error}");
        }
    }
    let global: [(flotilla_front::ServiceSpec, Arc<dyn Service>); 2] = [
        (
            flotilla_iam::service::spec(),
            Arc::new(flotilla_iam::service::IamService(Arc::clone(&app.iam))),
        ),
        (
            flotilla_sts::service::spec(),
            Arc::new(flotilla_sts::service::StsService(Arc::clone(&app.sts))),
        ),
    ];
    for (spec, service) in global {
        if let Err(error) = registry.register(spec, service) {
            unreachable!("{error}");
        }
    }
    let keys = crate::identity::Keys {
        root: app.credentials.root.clone(),
        account_id: app.account_id.clone(),
        iam: Arc::clone(&app.iam),
        sts: Arc::clone(&app.sts),
    };
    FrontDoor::new(
        app.regions.served().clone(),
        registry,
        Arc::new(keys),
        Arc::new(flotilla_iam::authorizer::PolicyAuthorizer {
            iam: Arc::clone(&app.iam),
            facts: Arc::new(crate::identity::EcsFacts { regions: Arc::clone(&app.regions) }),
        }),
        Arc::clone(&app.requests) as Arc<dyn flotilla_front::Observer>,
    )
}

/// One service of every region: a request goes to the instance of the region it was signed for
/// (the door has checked that the region is served), opening that region on first use.
struct Regional {
    regions: Arc<Regions>,
    kind: ServiceKind,
}

impl Service for Regional {
    fn call<'a>(&'a self, request: ServiceRequest<'a>) -> ServiceFuture<'a> {
        Box::pin(async move {
            let region = self.regions.get(&request.caller.region).await.map_err(|error| {
                tracing::error!(%error, region = %request.caller.region, "cannot open region");
                WireError::internal(format!("cannot open region {}", request.caller.region))
            })?;
            let service = Arc::clone(region.service(self.kind));
            service.call(request).await
        })
    }
}

//! The links between services, each a trait its consumer owns: ECS hands agents' container
//! output to CloudWatch Logs ([`flotilla_ecs::LogSink`]) and its figures to CloudWatch metrics
//! ([`flotilla_ecs::FigureSink`]); EC2 learns the region's zones from ECS's agents
//! ([`flotilla_ec2::ZoneSource`]).

use std::sync::Arc;

use flotilla_api::agent::{LogBatch, LogBatchReply};
use flotilla_api::datapoint::{SeriesKey, StatSet};
use flotilla_ecs::load_balancing::{LoadBalancing, Target, TargetGroupInfo, TargetHealth};
use flotilla_ecs::{BoxFuture, FigureSink, LogSink};
use flotilla_elbv2::health::Verdict;

pub struct LogsSink(pub Arc<flotilla_logs::App>);

impl LogSink for LogsSink {
    fn store(&self, batch: LogBatch, now_ms: i64) -> BoxFuture<'_, Result<LogBatchReply, String>> {
        Box::pin(async move {
            flotilla_logs::agent_batches::store(&self.0.logs, batch, now_ms)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn missing_groups(&self, groups: Vec<String>) -> BoxFuture<'_, Result<Vec<String>, String>> {
        Box::pin(async move {
            flotilla_logs::agent_batches::missing_groups(&self.0.logs, groups)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// EC2's availability zones are where ECS's agents are.
pub struct EcsZones(pub Arc<flotilla_ecs::App>);

impl flotilla_ec2::ZoneSource for EcsZones {
    fn zones(&self) -> Vec<String> {
        flotilla_ecs::availability_zones(&self.0)
    }
}

impl flotilla_ec2::interfaces::InterfaceSource for EcsZones {
    fn interfaces(&self) -> Vec<flotilla_ec2::interfaces::TaskInterface> {
        let state = self.0.state.read();
        flotilla_ecs::vpc::task_interfaces(&state)
            .into_iter()
            .map(|(task_arn, i)| flotilla_ec2::interfaces::TaskInterface {
                private_dns_name: i
                    .ipv4_address
                    .as_deref()
                    .map(|ip| flotilla_api::task::private_dns_name(ip, &task_arn)),
                attachment_arn: attachment_arn(&task_arn, &i.attachment_id),
                id: i.interface_id,
                subnet_id: i.subnet_id,
                private_ip: i.ipv4_address,
                mac_address: i.mac_address,
                security_groups: i.security_groups,
                attachment_id: i.attachment_id,
            })
            .collect()
    }
}

/// ECS's attachment ARN for a task's attachment: the task's region and account.
fn attachment_arn(task_arn: &str, attachment_id: &str) -> String {
    let prefix: Vec<&str> = task_arn.splitn(6, ':').take(5).collect();
    format!("{}:attachment/{attachment_id}", prefix.join(":"))
}

/// ELBv2 checks subnets and security groups against EC2's records.
pub struct Ec2Vpcs(pub Arc<flotilla_ec2::App>);

impl flotilla_elbv2::Vpcs for Ec2Vpcs {
    fn view(&self) -> flotilla_elbv2::BoxFuture<'_, Result<flotilla_elbv2::VpcView, String>> {
        Box::pin(async move {
            let network = self.0.network().await.map_err(|e| e.to_string())?;
            Ok(flotilla_elbv2::VpcView {
                vpc_id: network.vpc_id.clone(),
                default_group: network.group_id.clone(),
                subnets: network
                    .all_subnets()
                    .map(|s| (s.id.to_string(), s.zone.to_string()))
                    .collect(),
                groups: network.group_ids(),
            })
        })
    }
}

/// ELBv2's instance targets are ECS's container instances, reached at their agents' address.
pub struct EcsInstances(pub Arc<flotilla_ecs::App>);

impl flotilla_elbv2::Instances for EcsInstances {
    fn instance(&self, instance_id: &str) -> Option<flotilla_elbv2::InstanceInfo> {
        let address = flotilla_ecs::instance_by_host_id(&self.0, instance_id)?;
        Some(flotilla_elbv2::InstanceInfo { address: address.and_then(|a| a.parse().ok()) })
    }
}

/// ECS's services register their tasks in ELBv2's target groups. ECS opens before ELBv2 (which
/// asks ECS for its instances), so ELBv2 is set here once it is open; until then there is no
/// load balancer to find.
#[derive(Default)]
pub struct Elbv2Targets(pub std::sync::OnceLock<Arc<flotilla_elbv2::App>>);

fn epoch_now() -> f64 {
    flotilla_api::epoch_seconds(std::time::SystemTime::now())
}

impl LoadBalancing for Elbv2Targets {
    fn target_group(&self, arn: &str) -> Option<TargetGroupInfo> {
        let elbv2 = self.0.get()?;
        let state = elbv2.records.snapshot();
        let group = state.target_groups.get(arn)?;
        Some(TargetGroupInfo {
            target_type: group.target_type.as_str().to_string(),
            has_load_balancer: !state.load_balancers_of(arn).is_empty(),
            deregistration_delay: group.deregistration_delay(),
        })
    }

    fn sync(
        &self,
        register: Vec<Target>,
        deregister: Vec<Target>,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let Some(elbv2) = self.0.get() else { return Ok(()) };
            flotilla_elbv2::targets::sync_for_services(elbv2, &register, &deregister, epoch_now())
                .await
                .map_err(|e| e.message)
        })
    }

    fn registered(&self, targets: &[Target]) -> Vec<bool> {
        let now = epoch_now();
        match self.0.get() {
            Some(elbv2) => {
                targets.iter().map(|t| flotilla_elbv2::targets::serving(elbv2, t, now)).collect()
            }
            None => vec![false; targets.len()],
        }
    }

    fn health(&self, (arn, id, port): &Target) -> TargetHealth {
        let Some(elbv2) = self.0.get() else { return TargetHealth::Pending };
        let checked =
            elbv2.records.snapshot().target_groups.get(arn).map(|g| g.health_check.enabled);
        if checked == Some(false) {
            // ELB sends traffic to targets of a group without health checks.
            return TargetHealth::Healthy;
        }
        match elbv2.health.verdict(&(arn.clone(), id.clone(), *port)) {
            Some(Verdict::Healthy) => TargetHealth::Healthy,
            Some(Verdict::Unhealthy(_)) => TargetHealth::Unhealthy,
            _ => TargetHealth::Pending,
        }
    }
}

/// ELBv2's HTTPS listeners present ACM's certificates.
pub struct AcmCertificates(pub Arc<flotilla_acm::App>);

impl flotilla_elbv2::Certificates for AcmCertificates {
    fn certificate(&self, arn: &str) -> Option<flotilla_elbv2::TlsCertificate> {
        let served = self.0.served(arn)?;
        Some(flotilla_elbv2::TlsCertificate {
            chain: served.chain,
            private_key: served.private_key,
            version: served.imported_at,
        })
    }
}

/// ACM keeps a certificate ELBv2's listeners use. ACM opens before ELBv2 (which presents its
/// certificates), so ELBv2 is set here once it is open.
#[derive(Default)]
pub struct Elbv2CertificateUsers(pub std::sync::OnceLock<Arc<flotilla_elbv2::App>>);

impl flotilla_acm::CertificateUsers for Elbv2CertificateUsers {
    fn users(&self, certificate_arn: &str) -> Vec<String> {
        let Some(elbv2) = self.0.get() else { return Vec::new() };
        let state = elbv2.records.snapshot();
        let mut users: Vec<String> = state
            .listeners
            .values()
            .filter(|l| l.tls.as_ref().is_some_and(|t| t.certificate_arn == certificate_arn))
            .map(|l| l.load_balancer_arn.clone())
            .collect();
        users.sort();
        users.dedup();
        users
    }
}

/// Cloud Map's private DNS namespaces name EC2's VPCs.
pub struct Ec2VpcIds(pub Arc<flotilla_ec2::App>);

impl flotilla_servicediscovery::Vpcs for Ec2VpcIds {
    fn vpc_ids(&self) -> flotilla_servicediscovery::BoxFuture<'_, Result<Vec<String>, String>> {
        Box::pin(async move {
            let network = self.0.network().await.map_err(|e| e.to_string())?;
            Ok(vec![network.vpc_id])
        })
    }
}

/// ECS's services register their tasks in Cloud Map. ECS opens before Cloud Map, so Cloud Map
/// is set here once it is open.
#[derive(Default)]
pub struct CloudMapRegistry(pub std::sync::OnceLock<Arc<flotilla_servicediscovery::App>>);

impl flotilla_ecs::discovery::ServiceRegistry for CloudMapRegistry {
    fn registry(&self, arn: &str) -> Option<flotilla_ecs::discovery::RegistryInfo> {
        let (namespace_id, a_record, srv_record) =
            flotilla_servicediscovery::registrations::registry(self.0.get()?, arn)?;
        Some(flotilla_ecs::discovery::RegistryInfo { namespace_id, a_record, srv_record })
    }

    fn namespace_exists(&self, reference: &str) -> bool {
        self.0.get().is_some_and(|app| {
            flotilla_servicediscovery::registrations::namespace_exists(app, reference)
        })
    }

    fn registered(&self, instances: &[(String, String)]) -> Vec<bool> {
        match self.0.get() {
            Some(app) => instances
                .iter()
                .map(|(arn, id)| flotilla_servicediscovery::registrations::registered(app, arn, id))
                .collect(),
            None => vec![false; instances.len()],
        }
    }

    fn sync(
        &self,
        register: Vec<flotilla_ecs::discovery::Registration>,
        deregister: Vec<(String, String)>,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let Some(app) = self.0.get() else { return Ok(()) };
            flotilla_servicediscovery::registrations::sync_for_services(
                app,
                &register,
                &deregister,
                epoch_now(),
            )
            .await
            .map_err(|e| e.message)
        })
    }
}

pub struct CloudWatchSink(pub Arc<flotilla_cloudwatch::App>);

impl FigureSink for CloudWatchSink {
    fn record(&self, at: f64, points: Vec<(SeriesKey, StatSet)>) {
        self.0.metrics.record(at, points);
    }
}

/// awsvpc tasks' subnets and security groups are EC2's; so are hosts' slices of subnets.
#[derive(Default)]
pub struct Ec2Subnets(pub std::sync::OnceLock<Arc<flotilla_ec2::App>>);

impl flotilla_ecs::vpc::Vpc for Ec2Subnets {
    fn view(&self) -> BoxFuture<'_, Result<flotilla_ecs::vpc::VpcView, String>> {
        Box::pin(async move {
            let ec2 = self.0.get().ok_or("EC2 is not ready")?;
            let network = ec2.network().await.map_err(|e| e.to_string())?;
            Ok(flotilla_ecs::vpc::VpcView {
                vpc_id: network.vpc_id.clone(),
                cidr: network.cidr.clone(),
                default_group: network.group_id.clone(),
                subnets: network
                    .all_subnets()
                    .map(|s| flotilla_ecs::vpc::SubnetInfo {
                        id: s.id.to_string(),
                        zone: s.zone.to_string(),
                        cidr: s.cidr.to_string(),
                    })
                    .collect(),
                groups: network.group_ids(),
            })
        })
    }

    fn host_slices(
        &self,
        pairs: Vec<(String, String)>,
    ) -> BoxFuture<'_, Result<flotilla_ecs::vpc::HostSlices, String>> {
        Box::pin(async move {
            let ec2 = self.0.get().ok_or("EC2 is not ready")?;
            flotilla_ec2::slices::host_slices(ec2, pairs).await.map_err(|e| e.message)
        })
    }
}

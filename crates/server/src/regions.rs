//! Every region is served with its own state: a region is ECS (its records in the one store,
//! under `regions/<region>/` — the home region's at the top, where they always were), CloudWatch
//! Logs (its own `logs.redb`), CloudWatch metrics (its own series) and EC2, wired to each other and
//! opened on the first request or agent that names it, then on every start.
//!
//! The home region is the `--region` of the server's first start, recorded in the store: data
//! written before regions existed is its data, and a later `--region` changes only the default.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use flotilla_api::arn::ArnScope;
use flotilla_front::{ServedRegions, Service};
use flotilla_store::{Op, Prefixed, Store, Txn};
use tokio::task::JoinHandle;

use crate::{wiring, ServerError};

/// The key naming the home region.
const HOME_KEY: &str = "server/home-region";
/// Each region other than the home one that has been opened has a key under this prefix.
const KNOWN_PREFIX: &str = "server/regions/";

/// What every region's ECS shares.
#[derive(Debug, Clone)]
pub struct RegionSettings {
    pub data_dir: PathBuf,
    pub account_id: String,
    pub agent_timeout: Duration,
    /// CIDR of a region's default VPC, on its first start.
    pub vpc_cidr: String,
    /// Every region's load balancers take their addresses from this one pool (they share
    /// the host).
    pub lb_addresses: Arc<flotilla_elbv2::addresses::AddressPool>,
    /// Listeners run by `flotilla lb` processes, not by this server.
    pub remote_load_balancers: bool,
    pub quotas: flotilla_ecs::Quotas,
    pub join_token: Option<String>,
    /// Tasks' role credentials (`None` in tests without them).
    pub task_roles: Option<TaskRoleSettings>,
    /// What secrets and secure parameters are sealed with at rest.
    pub sealer: Arc<flotilla_store::sealed::Sealer>,
}

/// The key tasks' credentials ids are made with, and STS. `Debug` never shows the key.
#[derive(Clone)]
pub struct TaskRoleSettings {
    pub key: String,
    pub issuer: Arc<dyn flotilla_ecs::task_roles::RoleCredentials>,
    /// Whose policies decide what execution roles may read for tasks' secrets.
    pub iam: Arc<flotilla_iam::App>,
    /// Whom roles trust.
    pub roles: Arc<dyn flotilla_sts::Roles>,
}

impl std::fmt::Debug for TaskRoleSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRoleSettings").finish_non_exhaustive()
    }
}

/// One region's services.
pub struct Region {
    pub name: String,
    pub ecs: Arc<flotilla_ecs::App>,
    pub logs: Arc<flotilla_logs::App>,
    pub cloudwatch: Arc<flotilla_cloudwatch::App>,
    pub ec2: Arc<flotilla_ec2::App>,
    pub elbv2: Arc<flotilla_elbv2::App>,
    pub acm: Arc<flotilla_acm::App>,
    pub cloud_map: Arc<flotilla_servicediscovery::App>,
    pub secrets: Arc<flotilla_secretsmanager::App>,
    pub parameters: Arc<flotilla_ssm::App>,
    /// Each service at the front door, in the order of [`ServiceKind`].
    services: [Arc<dyn Service>; 9],
    /// The agents' routes of this region's ECS.
    pub agent_routes: Router,
    /// Whether `flotilla lb` processes run its listeners (`remote_lb.rs`) instead of this
    /// server.
    remote_load_balancers: bool,
    /// The region's DNS table, read by ECS's agent gateway.
    dns: Arc<tokio::sync::watch::Sender<Arc<flotilla_api::dns::DnsTable>>>,
    /// The region's security groups and their members, likewise.
    firewall: Arc<tokio::sync::watch::Sender<Arc<flotilla_api::firewall::FirewallTable>>>,
    /// The routes to every host's slices, likewise (the server routes them too, and so do
    /// remote data planes).
    pub routes: Arc<tokio::sync::watch::Sender<Arc<flotilla_api::routes::RouteTable>>>,
    /// Where the server records the routes to tasks it adds (`flotilla_hostnet::follow`), so that a restart
    /// removes what a crash left.
    routes_ledger: PathBuf,
    /// The addresses of the remote data planes connected now, by connection: their traffic
    /// counts as the load balancers' security groups' (`remote_lb.rs`, `firewall_feed.rs`).
    pub data_plane_addresses:
        Arc<tokio::sync::watch::Sender<crate::firewall_feed::RemoteAddresses>>,
    /// The controller, upkeep, figures and retention, once the server serves.
    background: Mutex<Vec<JoinHandle<()>>>,
    /// `flotilla lb` processes connected now (`remote_lb.rs`): the health board holds only
    /// while one is.
    pub data_planes: std::sync::atomic::AtomicUsize,
}

/// Which of a region's services a request is for.
#[derive(Debug, Clone, Copy)]
pub enum ServiceKind {
    Ecs = 0,
    Logs = 1,
    CloudWatch = 2,
    Ec2 = 3,
    Elbv2 = 4,
    Acm = 5,
    CloudMap = 6,
    SecretsManager = 7,
    ParameterStore = 8,
}

impl Region {
    pub fn service(&self, kind: ServiceKind) -> &Arc<dyn Service> {
        &self.services[kind as usize]
    }

    fn start_background(&self) {
        let mut background = self.background.lock().unwrap_or_else(|e| e.into_inner());
        if background.is_empty() {
            *background = flotilla_ecs::spawn(&self.ecs);
            background.push(flotilla_logs::retention::spawn(Arc::clone(&self.logs)));
            if !self.remote_load_balancers {
                background.push(flotilla_proxy::spawn(Arc::clone(&self.elbv2)));
            }
            background.push(crate::dns_feed::spawn(
                Arc::clone(&self.cloud_map),
                Arc::clone(&self.elbv2),
                Arc::clone(&self.dns),
            ));
            background.push(crate::firewall_feed::spawn(
                crate::firewall_feed::Sources {
                    ec2: Arc::clone(&self.ec2),
                    ecs: Arc::clone(&self.ecs),
                    elbv2: Arc::clone(&self.elbv2),
                    remote_data_planes: self.data_plane_addresses.subscribe(),
                    own_data_plane: !self.remote_load_balancers,
                },
                Arc::clone(&self.firewall),
                Arc::clone(&self.routes),
            ));
            // The server reaches awsvpc tasks on every host: its load balancers and health
            // checks connect to task addresses.
            background.push(flotilla_hostnet::follow::follow(
                self.routes.subscribe(),
                self.routes_ledger.clone(),
            ));
        }
    }

    /// Aborts the region's background work; the handles, to await its end.
    fn stop_background(&self) -> Vec<JoinHandle<()>> {
        let tasks: Vec<JoinHandle<()>> =
            self.background.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect();
        for task in &tasks {
            task.abort();
        }
        tasks
    }
}

/// The regions open in this server.
pub struct Regions {
    settings: RegionSettings,
    store: Arc<dyn Store>,
    served: ServedRegions,
    home: String,
    open: RwLock<HashMap<String, Arc<Region>>>,
    /// Held while a region opens, so two first requests open it once.
    opening: tokio::sync::Mutex<()>,
    /// Whether opened regions start their background work (set by `serve`).
    running: Mutex<bool>,
}

impl Regions {
    /// Records the home region on a first start, then opens the home region, the server's
    /// region and every region opened before.
    pub async fn open(
        settings: RegionSettings,
        store: Arc<dyn Store>,
        server_region: &str,
    ) -> Result<Regions, ServerError> {
        let home = home_region(store.as_ref(), server_region).await?;
        let (known, _) = store.range(KNOWN_PREFIX).await?;
        let known: Vec<String> = known
            .iter()
            .filter_map(|kv| kv.key.strip_prefix(KNOWN_PREFIX).map(str::to_string))
            .collect();
        // A region served once stays served, even a private name no longer the server's.
        let served = known
            .iter()
            .fold(ServedRegions::new(server_region).and(home.clone()), |served, name| {
                served.and(name.clone())
            });
        let regions = Regions {
            settings,
            store,
            served,
            home,
            open: RwLock::default(),
            opening: tokio::sync::Mutex::new(()),
            running: Mutex::new(false),
        };
        for name in [regions.home.clone(), server_region.to_string()] {
            regions.get(&name).await?;
        }
        // A region opened before that cannot open now (its data unreadable) is left closed and
        // said so: the others still serve.
        for name in known {
            if let Err(error) = regions.get(&name).await {
                tracing::error!(%error, region = %name, "cannot open region; it stays closed");
            }
        }
        Ok(regions)
    }

    /// The server's `--region`: where agents and human commands go unless they name another.
    pub fn default_region(&self) -> &str {
        self.served.server_region()
    }

    pub fn served(&self) -> &ServedRegions {
        &self.served
    }

    /// The region `name`, opened if this is its first use. `name` must be a served region.
    pub async fn get(&self, name: &str) -> Result<Arc<Region>, ServerError> {
        if let Some(region) = self.read().get(name) {
            return Ok(Arc::clone(region));
        }
        if !self.served.serves(name) {
            return Err(ServerError::RegionNotServed(name.to_string()));
        }
        let _opening = self.opening.lock().await;
        if let Some(region) = self.read().get(name) {
            return Ok(Arc::clone(region));
        }
        let region = Arc::new(self.open_region(name).await?);
        if *self.running.lock().unwrap_or_else(|e| e.into_inner()) {
            region.start_background();
        }
        self.open
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), Arc::clone(&region));
        tracing::info!(region = name, "region open");
        Ok(region)
    }

    /// The region `name` if it is open already (nothing is opened).
    pub fn get_open(&self, name: &str) -> Option<Arc<Region>> {
        self.read().get(name).cloned()
    }

    /// Every open region, the default one first.
    pub fn all(&self) -> Vec<Arc<Region>> {
        let mut all: Vec<Arc<Region>> = self.read().values().cloned().collect();
        all.sort_by_key(|r| (r.name != self.default_region(), r.name.clone()));
        all
    }

    /// Starts every open region's background work, and that of regions opened from now on.
    pub fn start_background(&self) {
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = true;
        for region in self.all() {
            region.start_background();
        }
    }

    /// Stops every region's background work and waits until none of it runs (so no route
    /// follower is still adding a route), then removes the routes to tasks the regions added.
    pub async fn stop_background(&self) {
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = false;
        let stopped: Vec<JoinHandle<()>> =
            self.all().iter().flat_map(|region| region.stop_background()).collect();
        for task in stopped {
            let _ = task.await;
        }
        self.release_routes().await;
    }

    /// Removes the routes to tasks the regions added.
    async fn release_routes(&self) {
        for region in self.all() {
            flotilla_hostnet::follow::remove_recorded(&region.routes_ledger).await;
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Region>>> {
        self.open.read().unwrap_or_else(|e| e.into_inner())
    }

    async fn open_region(&self, name: &str) -> Result<Region, ServerError> {
        let settings = &self.settings;
        let (store, logs_dir): (Arc<dyn Store>, PathBuf) = if name == self.home {
            (Arc::clone(&self.store), settings.data_dir.clone())
        } else {
            // Known before anything of it is written, so a start after a crash opens it again.
            let known = Op::Put { key: format!("{KNOWN_PREFIX}{name}"), value: Vec::new() };
            self.store.commit(Txn { compares: Vec::new(), ops: vec![known] }).await?;
            let prefixed = Prefixed::new(Arc::clone(&self.store), format!("regions/{name}/"));
            (Arc::new(prefixed), settings.data_dir.join("regions").join(name))
        };
        std::fs::create_dir_all(&logs_dir).map_err(|source| ServerError::DataDir {
            path: logs_dir.display().to_string(),
            source,
        })?;
        let scope = ArnScope::new(name.to_string(), settings.account_id.clone());
        // One clock for the region's services (time is their input; tests may give another).
        let clock: Arc<dyn flotilla_api::clock::Clock> = Arc::new(flotilla_api::clock::SystemClock);
        let logs = Arc::new(flotilla_logs::App::open(
            &logs_dir.join("logs.redb"),
            scope.clone(),
            Arc::clone(&clock),
        )?);
        let cloudwatch = Arc::new(flotilla_cloudwatch::App::default());
        let load_balancing = Arc::new(wiring::Elbv2Targets::default());
        let service_registry = Arc::new(wiring::CloudMapRegistry::default());
        let vpc = Arc::new(wiring::Ec2Subnets::default());
        let (dns, dns_table) = tokio::sync::watch::channel(Arc::default());
        let (firewall, firewall_table) = tokio::sync::watch::channel(Arc::default());
        let (routes, route_table) = tokio::sync::watch::channel(Arc::default());
        let execution_roles = settings.task_roles.as_ref().map(|t| {
            Arc::new(crate::execution_role::ExecutionRoles {
                iam: Arc::clone(&t.iam),
                roles: Arc::clone(&t.roles),
                stores: std::sync::OnceLock::new(),
            })
        });
        let ecs = flotilla_ecs::open(
            flotilla_ecs::EcsConfig {
                scope,
                agent_timeout: settings.agent_timeout,
                quotas: settings.quotas,
                join_token: settings.join_token.clone(),
                clock,
            },
            Arc::clone(&store),
            flotilla_ecs::Links {
                logs: Arc::new(wiring::LogsSink(Arc::clone(&logs))),
                figures: Arc::new(wiring::CloudWatchSink(Arc::clone(&cloudwatch))),
                load_balancing: Arc::clone(&load_balancing) as _,
                service_registry: Arc::clone(&service_registry) as _,
                vpc: Arc::clone(&vpc) as _,
                dns: dns_table,
                firewall: firewall_table,
                routes: route_table,
                task_roles: settings.task_roles.as_ref().map(|t| {
                    flotilla_ecs::task_roles::TaskRoles::new(&t.key, Arc::clone(&t.issuer))
                }),
                execution_role: execution_roles.clone().map(|s| s as _),
            },
        )
        .await?;
        let zones = Arc::new(wiring::EcsZones(Arc::clone(&ecs)));
        let ec2 = Arc::new(
            flotilla_ec2::App::open(
                ecs.scope.clone(),
                Arc::clone(&zones) as _,
                zones,
                Arc::clone(&store),
                &settings.vpc_cidr,
            )
            .await?,
        );
        // Set once: this region's EC2 was just made.
        let _ = vpc.0.set(Arc::clone(&ec2));
        let certificate_users = Arc::new(wiring::Elbv2CertificateUsers::default());
        let acm = Arc::new(
            flotilla_acm::App::open(
                ecs.scope.clone(),
                Arc::clone(&store),
                Arc::clone(&certificate_users) as Arc<dyn flotilla_acm::CertificateUsers>,
            )
            .await?,
        );
        let elbv2 = Arc::new(
            flotilla_elbv2::App::open(
                ecs.scope.clone(),
                Arc::clone(&store),
                Arc::clone(&settings.lb_addresses),
                Arc::new(wiring::Ec2Vpcs(Arc::clone(&ec2))),
                Arc::new(wiring::EcsInstances(Arc::clone(&ecs))),
                Arc::new(wiring::AcmCertificates(Arc::clone(&acm))),
            )
            .await?,
        );
        // Set once: this region's ELBv2 was just made.
        let _ = load_balancing.0.set(Arc::clone(&elbv2));
        let _ = certificate_users.0.set(Arc::clone(&elbv2));
        let cloud_map = Arc::new(
            flotilla_servicediscovery::App::open(
                ecs.scope.clone(),
                Arc::clone(&store),
                Arc::new(wiring::Ec2VpcIds(Arc::clone(&ec2))),
            )
            .await?,
        );
        // Set once: this region's Cloud Map was just made.
        let _ = service_registry.0.set(Arc::clone(&cloud_map));
        let secrets = Arc::new(
            flotilla_secretsmanager::App::open(
                ecs.scope.clone(),
                Arc::clone(&store),
                Arc::clone(&settings.sealer),
            )
            .await?,
        );
        let parameters = Arc::new(
            flotilla_ssm::App::open(
                ecs.scope.clone(),
                Arc::clone(&store),
                Arc::clone(&settings.sealer),
            )
            .await?,
        );
        if let Some(execution_roles) = &execution_roles {
            // Set once: this region's stores were just made.
            let _ = execution_roles.stores.set((Arc::clone(&secrets), Arc::clone(&parameters)));
        }
        let services: [Arc<dyn Service>; 9] = [
            Arc::new(flotilla_ecs::service::EcsService(Arc::clone(&ecs))),
            Arc::new(flotilla_logs::service::LogsService(Arc::clone(&logs))),
            Arc::new(flotilla_cloudwatch::service::CloudWatchService(Arc::clone(&cloudwatch))),
            Arc::new(flotilla_ec2::service::Ec2Service(Arc::clone(&ec2))),
            Arc::new(flotilla_elbv2::service::Elbv2Service(Arc::clone(&elbv2))),
            Arc::new(flotilla_acm::service::AcmService(Arc::clone(&acm))),
            Arc::new(flotilla_servicediscovery::service::CloudMapService(Arc::clone(&cloud_map))),
            Arc::new(flotilla_secretsmanager::service::SecretsManagerService(Arc::clone(&secrets))),
            Arc::new(flotilla_ssm::service::SsmService(Arc::clone(&parameters))),
        ];
        Ok(Region {
            name: name.to_string(),
            agent_routes: flotilla_ecs::agent_routes(Arc::clone(&ecs)),
            dns: Arc::new(dns),
            firewall: Arc::new(firewall),
            routes: Arc::new(routes),
            routes_ledger: logs_dir.join("task-routes.json"),
            data_plane_addresses: Arc::new(
                tokio::sync::watch::channel(crate::firewall_feed::RemoteAddresses::new()).0,
            ),
            remote_load_balancers: settings.remote_load_balancers,
            ecs,
            logs,
            cloudwatch,
            ec2,
            elbv2,
            acm,
            cloud_map,
            secrets,
            parameters,
            services,
            background: Mutex::new(Vec::new()),
            data_planes: std::sync::atomic::AtomicUsize::new(0),
        })
    }
}

/// The home region: the one recorded; else, for a store written before regions existed, the
/// region its clusters' ARNs name (so a first start after the upgrade with another `--region`
/// cannot mislabel them); else `server_region`. Recorded now.
async fn home_region(store: &dyn Store, server_region: &str) -> Result<String, ServerError> {
    let (stored, _) = store.range(HOME_KEY).await?;
    if let Some(kv) = stored.into_iter().find(|kv| kv.key == HOME_KEY) {
        return String::from_utf8(kv.value)
            .map_err(|_| ServerError::Store(flotilla_store::StoreError::Corrupt(HOME_KEY.into())));
    }
    let (clusters, _) = store.range("ecs/clusters/").await?;
    let from_arns = clusters.iter().find_map(|kv| {
        let record: serde_json::Value = serde_json::from_slice(&kv.value).ok()?;
        let arn = record["record"]["clusterArn"].as_str()?;
        arn.split(':').nth(3).filter(|r| !r.is_empty()).map(str::to_string)
    });
    let home = from_arns.unwrap_or_else(|| server_region.to_string());
    let record = Op::Put { key: HOME_KEY.to_string(), value: home.as_bytes().to_vec() };
    store.commit(Txn { compares: Vec::new(), ops: vec![record] }).await?;
    Ok(home)
}

/// The `region` query parameter (region names need no percent-decoding).
pub(crate) fn region_parameter(query: Option<&str>) -> Option<&str> {
    query?.split('&').find_map(|pair| pair.strip_prefix("region="))
}

#[cfg(test)]
mod tests {
    use flotilla_store::EmbeddedStore;

    use super::*;

    fn settings(dir: &std::path::Path) -> RegionSettings {
        RegionSettings {
            data_dir: dir.to_path_buf(),
            account_id: "123456789012".into(),
            agent_timeout: Duration::from_secs(8),
            vpc_cidr: flotilla_ec2::network::DEFAULT_VPC_CIDR.into(),
            lb_addresses: Arc::new(flotilla_elbv2::addresses::AddressPool::new(
                flotilla_elbv2::addresses::DEFAULT_RANGE.parse().expect("the default range"),
            )),
            remote_load_balancers: false,
            quotas: flotilla_ecs::Quotas::default(),
            join_token: None,
            task_roles: None,
            sealer: Arc::new(
                flotilla_store::sealed::Sealer::from_key(&[1u8; 32]).expect("a 32-byte key"),
            ),
        }
    }

    #[tokio::test]
    async fn the_home_region_keeps_its_data_when_the_server_region_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> =
            Arc::new(EmbeddedStore::open(&dir.path().join("flotilla.redb")).expect("open"));
        let first = dir.path().join("first");
        let regions = Regions::open(settings(&first), Arc::clone(&store), "us-east-1")
            .await
            .expect("open regions");
        assert_eq!(regions.get("eu-west-2").await.expect("open").name, "eu-west-2");
        assert!(matches!(regions.get("xx-no-1").await, Err(ServerError::RegionNotServed(_))));
        assert!(first.join("regions/eu-west-2/logs.redb").exists());
        assert!(first.join("logs.redb").exists(), "the home region's logs stay where they were");
        let (keys, _) = store.range("").await.expect("range");
        let keys: Vec<&str> = keys.iter().map(|kv| kv.key.as_str()).collect();
        assert!(keys.contains(&"ecs/clusters/default"), "{keys:?}");
        assert!(keys.contains(&"regions/eu-west-2/ecs/clusters/default"), "{keys:?}");
        assert!(keys.contains(&"server/home-region"), "{keys:?}");
        drop(regions);

        // A restart with another --region: the home region is still us-east-1, with its data
        // and ARNs; the new region is the default; every region opened before is open again.
        let second = dir.path().join("second");
        let regions =
            Regions::open(settings(&second), store, "local-1").await.expect("open regions");
        assert_eq!(regions.default_region(), "local-1");
        let names: Vec<String> = regions.all().iter().map(|r| r.name.clone()).collect();
        assert_eq!(names, ["local-1", "eu-west-2", "us-east-1"]);
        let home = regions.get("us-east-1").await.expect("home");
        assert_eq!(home.ecs.scope.region, "us-east-1");
        let state = home.ecs.state.read();
        let default = state.clusters.get("default").expect("the home region's default cluster");
        assert_eq!(default.cluster_arn, "arn:aws:ecs:us-east-1:123456789012:cluster/default");
        assert!(regions.served().serves("local-1") && regions.served().serves("us-east-1"));
    }

    #[tokio::test]
    async fn a_store_from_before_regions_keeps_the_region_its_arns_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(&dir.path().join("flotilla.redb")).expect("open");
        let old = br#"{"kind":"Cluster","record":{"clusterArn":"arn:aws:ecs:eu-central-1:123456789012:cluster/default"}}"#;
        let put = Op::Put { key: "ecs/clusters/default".into(), value: old.to_vec() };
        store.commit(Txn { compares: Vec::new(), ops: vec![put] }).await.expect("commit");
        // The first start after the upgrade names another region: the data stays eu-central-1's.
        assert_eq!(home_region(&store, "us-east-1").await.expect("home"), "eu-central-1");
        assert_eq!(
            home_region(&store, "us-west-2").await.expect("home"),
            "eu-central-1",
            "recorded"
        );
        let empty = EmbeddedStore::open(&dir.path().join("new.redb")).expect("open");
        assert_eq!(home_region(&empty, "us-west-2").await.expect("home"), "us-west-2");
    }

    #[test]
    fn the_region_parameter_is_found_among_others() {
        assert_eq!(region_parameter(Some("region=eu-west-1")), Some("eu-west-1"));
        assert_eq!(region_parameter(Some("a=1&region=us-east-2&b=2")), Some("us-east-2"));
        assert_eq!(region_parameter(Some("regions=x")), None);
        assert_eq!(region_parameter(None), None);
    }
}

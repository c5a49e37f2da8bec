//! The subcommands: build configuration from flags and environment, start things, wait.

use std::path::PathBuf;

use anyhow::Context;
use flotilla_server::credentials::JoinTokenChange;
use flotilla_server::{AccessKey, Config};
use tokio::net::TcpListener;

use std::sync::Arc;
use std::time::Duration;

use flotilla_agent::registration::Announce;
use flotilla_agent::runtime::{DockerRuntime, Runtime};
use flotilla_agent::sim::SimConfig;
use flotilla_agent::{AgentConfig, DnsMode, ServerAddress};

use crate::{
    AgentArgs, DevArgs, DnsFlag, DrainArgs, LbArgs, LoadBalancersFlag, ServerArgs, SimAgentsArgs,
};

fn default_data_dir(kind: &str) -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".flotilla").join(kind)
}

/// A root key preset through the environment, if both halves are given.
fn preset_root_key() -> anyhow::Result<Option<AccessKey>> {
    let id = std::env::var("FLOTILLA_ROOT_ACCESS_KEY_ID").ok();
    let secret = std::env::var("FLOTILLA_ROOT_SECRET_ACCESS_KEY").ok();
    match (id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => {
            Ok(Some(AccessKey { access_key_id, secret_access_key }))
        }
        (None, None) => Ok(None),
        _ => anyhow::bail!(
            "set both FLOTILLA_ROOT_ACCESS_KEY_ID and FLOTILLA_ROOT_SECRET_ACCESS_KEY, or neither"
        ),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn parse_attributes(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => anyhow::bail!("--attribute takes NAME=VALUE, not '{a}'"),
        })
        .collect()
}

/// `--attribute`s, with `--capacity-provider GROUP` as the group attribute.
fn announced_attributes(
    raw: &[String],
    capacity_provider: Option<&str>,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut attributes = parse_attributes(raw)?;
    if let Some(group) = capacity_provider {
        let name = flotilla_agent::registration::GROUP_ATTRIBUTE;
        attributes.retain(|(k, _)| k != name);
        attributes.push((name.to_string(), group.to_string()));
    }
    Ok(attributes)
}

/// `--cni-plugin-dir`: `off`, or a directory holding the plugins awsvpc needs (without them
/// the agent runs no awsvpc tasks, and says so once).
fn cni_plugin_dir(flag: &str) -> Option<std::path::PathBuf> {
    if flag == "off" {
        return None;
    }
    let dir = std::path::PathBuf::from(flag);
    let missing: Vec<&str> = ["bridge", "host-local", "firewall"]
        .into_iter()
        .filter(|plugin| !dir.join(plugin).exists())
        .collect();
    if missing.is_empty() {
        Some(dir)
    } else {
        tracing::warn!(
            dir = %dir.display(),
            missing = %missing.join(", "),
            "no CNI plugins for awsvpc tasks (apt-get install containernetworking-plugins); \
             this agent runs none"
        );
        None
    }
}

/// `flotilla agent`.
pub fn agent(args: AgentArgs) -> anyhow::Result<()> {
    let join_token = args.token_file.as_deref().map(read_token).transpose()?;
    let advertise_address = args
        .advertise_address
        .or_else(|| flotilla_agent::registration::route_address(&args.server));
    let cni_plugin_dir = cni_plugin_dir(&args.cni_plugin_dir);
    if args.fargate && cni_plugin_dir.is_none() {
        anyhow::bail!(
            "--fargate runs awsvpc tasks: it needs the CNI plugins (--cni-plugin-dir; \
             apt-get install containernetworking-plugins)"
        );
    }
    let config = AgentConfig {
        server: ServerAddress::new(args.server, args.region),
        join_token,
        data_dir: args.data_dir.unwrap_or_else(|| default_data_dir("agent")),
        announce: Announce {
            cluster: if args.fargate {
                flotilla_api::agent::FARGATE_POOL.to_string()
            } else {
                args.cluster
            },
            cpu_units: args.cpu,
            memory_mib: args.memory,
            reserved_memory_mib: args.reserved_memory,
            attributes: announced_attributes(&args.attributes, args.capacity_provider.as_deref())?,
            allow_privileged: args.allow_privileged,
            advertise_address,
            task_networking: false, // set by the agent once it knows its plugins
        },
        cleanup_wait: Duration::from_secs(args.task_cleanup_wait),
        log_buffer_bytes: args.log_buffer_mib.saturating_mul(1024 * 1024),
        metadata_port: args.metadata_port,
        dns: dns_mode(args.dns, &args.dns_upstreams)?,
        cni_plugin_dir,
    };
    runtime()?.block_on(async move {
        let docker: Arc<dyn Runtime> = Arc::new(
            DockerRuntime::connect(args.docker_host.as_deref())?
                .with_bridge_network(&args.bridge_network),
        );
        flotilla_agent::run(config, docker, shutdown_signal()).await?;
        Ok(())
    })
}

/// `flotilla sim agents`: hollow agents for scale rehearsals.
pub fn sim_agents(args: SimAgentsArgs) -> anyhow::Result<()> {
    let token = read_token(&args.token_file)?;
    let zones = match args.zones.parse::<usize>() {
        Ok(n) => (0..n.min(26)).map(|i| format!("zone-{}", (b'a' + i as u8) as char)).collect(),
        Err(_) => {
            args.zones.split(',').map(|z| z.trim().to_string()).filter(|z| !z.is_empty()).collect()
        }
    };
    let config = SimConfig {
        name_prefix: args.name_prefix.unwrap_or_else(|| format!("sim-{}", args.cluster)),
        server: ServerAddress::new(args.server, args.region),
        cluster: args.cluster,
        token,
        count: args.count,
        cpu: args.cpu,
        memory: args.memory,
        zones,
        attributes: announced_attributes(&args.attributes, args.capacity_provider.as_deref())?,
        start_delay: Duration::from_millis(args.start_delay_ms),
    };
    runtime()?.block_on(async move {
        tokio::select! {
            result = flotilla_agent::sim::run(config) => result?,
            () = shutdown_signal() => {}
        }
        Ok(())
    })
}

fn read_token(path: &std::path::Path) -> anyhow::Result<String> {
    let token = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the agent token from {}", path.display()))?
        .trim()
        .to_string();
    anyhow::ensure!(!token.is_empty(), "the token file {} is empty", path.display());
    Ok(token)
}

/// `flotilla dev`: server, embedded store, the demo image and one local agent in `default`.
pub fn dev(args: DevArgs) -> anyhow::Result<()> {
    let attributes = parse_attributes(&args.attributes)?;
    let data_dir = args.server.data_dir.clone().unwrap_or_else(|| default_data_dir("dev"));
    let config = server_config(&args.server, &data_dir)?;
    runtime()?.block_on(async move {
        let listener = TcpListener::bind(args.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.server.listen))?;
        let app = flotilla_server::prepare(&config).await?;
        let addr = listener.local_addr().context("listener address")?;
        let join_token = app.credentials.join_token.clone();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(flotilla_server::serve(app, listener, async move {
            let mut stopped = stopped;
            let _ = stopped.wait_for(|s| *s).await;
        }));

        let docker = DockerRuntime::connect(args.docker_host.as_deref())?;
        let agent_ready = match docker.client().await {
            Ok(client) => {
                let binary = std::env::current_exe().context("cannot find the flotilla binary")?;
                if flotilla_agent::demo_image::static_busybox().is_none() {
                    eprintln!(
                        "flotilla dev: no static busybox on this machine, so the demo image has no \
                         shell and CMD-SHELL health checks fail in it; \
                         `apt-get install busybox-static` adds one"
                    );
                }
                match flotilla_agent::demo_image::ensure_demo_image(
                    client,
                    &binary,
                    flotilla_agent::demo_image::DEMO_IMAGE,
                )
                .await
                {
                    Ok(true) => tracing::info!("built {}", flotilla_agent::demo_image::DEMO_IMAGE),
                    Ok(false) => {}
                    Err(error) => tracing::warn!(%error, "cannot build the demo image"),
                }
                true
            }
            Err(error) => {
                eprintln!(
                    "flotilla dev: Docker is not reachable ({error}); running without an agent"
                );
                false
            }
        };
        let clusters = if args.clusters.is_empty() {
            vec!["default".to_string()]
        } else {
            args.clusters.clone()
        };
        if agent_ready {
            create_clusters(addr, &config.region, &data_dir, &clusters).await?;
        }
        // Fargate capacity beside the clusters' agents, when awsvpc tasks can run here.
        let fargate = agent_ready && cni_plugin_dir(&args.cni_plugin_dir).is_some();
        print_dev_guide(addr, &data_dir, agent_ready.then_some(clusters.as_slice()), fargate);
        let hosts: Vec<String> = clusters
            .iter()
            .cloned()
            .chain(fargate.then(|| flotilla_api::agent::FARGATE_POOL.to_string()))
            .collect();
        let shares = if agent_ready { split_host(&docker, hosts.len()).await? } else { None };
        let docker: Arc<dyn Runtime> = Arc::new(docker);
        // Tasks are reached at the host's address on Docker's bridge: the server and its load
        // balancers (on this machine) and other tasks (Cloud Map's records) all reach it there.
        let advertise_address = match docker.bridge_gateway().await {
            Ok(Some(gateway)) => gateway,
            _ => std::net::Ipv4Addr::LOCALHOST.into(),
        };
        let mut agents = Vec::new();
        // The agents stop with `flotilla dev` (their tasks keep running for the next start).
        let (stop_agents, agents_stop) = tokio::sync::watch::channel(false);
        for (i, cluster) in hosts.iter().enumerate().filter(|_| agent_ready) {
            let agent_config = AgentConfig {
                server: ServerAddress::new(format!("http://{addr}"), None),
                join_token: join_token.clone(),
                // The first keeps the directory one agent always had; the others get their own.
                data_dir: match i {
                    0 => data_dir.join("agent"),
                    _ if cluster == flotilla_api::agent::FARGATE_POOL => {
                        data_dir.join("agent-fargate")
                    }
                    _ => data_dir.join(format!("agent-{cluster}")),
                },
                announce: Announce {
                    cluster: cluster.clone(),
                    cpu_units: shares.map(|(cpu, _)| cpu),
                    memory_mib: shares.map(|(_, memory)| memory),
                    reserved_memory_mib: flotilla_agent::registration::DEFAULT_RESERVED_MEMORY_MIB,
                    attributes: attributes.clone(),
                    advertise_address: Some(advertise_address),
                    ..Announce::default()
                },
                cleanup_wait: Duration::from_secs(600),
                log_buffer_bytes: flotilla_agent::logs::DEFAULT_BUFFER_BYTES,
                // One metadata endpoint per agent: the first on the usual port, the others on
                // any free one.
                metadata_port: if i == 0 { flotilla_agent::DEFAULT_METADATA_PORT } else { 0 },
                // One DNS server on the bridge's gateway: the first agent's; the others' tasks
                // ask it too (one region, one table).
                dns: match (args.dns, i) {
                    (DnsFlag::Off, _) => DnsMode::Off,
                    (_, 0) => DnsMode::Serve { upstreams: Vec::new() },
                    _ => DnsMode::Share,
                },
                cni_plugin_dir: cni_plugin_dir(&args.cni_plugin_dir),
            };
            let docker = Arc::clone(&docker);
            let cluster = cluster.clone();
            let mut stopping = agents_stop.clone();
            let shutdown = async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            };
            agents.push(tokio::spawn(async move {
                if let Err(error) = flotilla_agent::run(agent_config, docker, shutdown).await {
                    eprintln!(
                        "flotilla dev: the local agent of cluster {cluster} stopped: {error}"
                    );
                }
            }));
        }
        let stoppers: Vec<_> = agents.iter().map(|a| a.abort_handle()).collect();
        let (agents_done, mut agents_ended) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            for agent in agents {
                let _ = agent.await;
            }
            let _ = agents_done.send(true);
        });
        shutdown_signal().await;
        // Each agent removes what is its own alone (its spare pause container), then stops.
        let _ = stop_agents.send(true);
        let _ =
            tokio::time::timeout(Duration::from_secs(10), agents_ended.wait_for(|ended| *ended))
                .await;
        for agent in stoppers {
            agent.abort();
        }
        let _ = stop.send(true);
        server.await.context("server task")??;
        Ok(())
    })
}

/// The server's configuration from its flags.
fn server_config(args: &ServerArgs, data_dir: &std::path::Path) -> anyhow::Result<Config> {
    let seconds = |flag: &str, value: f64| {
        Duration::try_from_secs_f64(value)
            .ok()
            .filter(|d| !d.is_zero())
            .with_context(|| format!("--{flag} must be a positive number of seconds, not {value}"))
    };
    Ok(Config {
        data_dir: data_dir.to_path_buf(),
        region: args.region.clone(),
        account_id: args.account_id.clone(),
        vpc_cidr: args.vpc_cidr.clone(),
        lb_addresses: args.lb_addresses,
        remote_load_balancers: args.load_balancers == LoadBalancersFlag::Remote,
        preset_root_key: preset_root_key()?,
        agent_timeout: seconds("agent-timeout", args.agent_timeout)?,
        quotas: flotilla_server::Quotas {
            services_per_cluster: args.max_services_per_cluster,
            tasks_per_service: args.max_tasks_per_service,
        },
        listener: flotilla_front::ListenerConfig {
            max_connections: args.max_connections,
            header_timeout: seconds("header-timeout", args.header_timeout)?,
            idle_timeout: seconds("idle-timeout", args.idle_timeout)?,
        },
        join_token: match (args.rotate_agent_token, args.revoke_agent_token) {
            (true, _) => JoinTokenChange::Rotate,
            (_, true) => JoinTokenChange::Revoke,
            _ => JoinTokenChange::Keep,
        },
    })
}

/// `flotilla server`.
pub fn server(args: ServerArgs) -> anyhow::Result<()> {
    let data_dir = args.data_dir.clone().unwrap_or_else(|| default_data_dir("server"));
    let config = server_config(&args, &data_dir)?;
    runtime()?.block_on(async move {
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let app = flotilla_server::prepare(&config).await?;
        let addr = listener.local_addr().context("listener address")?;
        tracing::info!(%addr, data_dir = %data_dir.display(), "flotilla server ready");
        flotilla_server::serve(app, listener, shutdown_signal()).await?;
        Ok(())
    })
}

/// Creates `clusters` (but `default`, which exists from the start) through the API, signed
/// with the server's root key, as a user would.
async fn create_clusters(
    addr: std::net::SocketAddr,
    region: &str,
    data_dir: &std::path::Path,
    clusters: &[String],
) -> anyhow::Result<()> {
    let keys = crate::aws_env::server_keys(data_dir)
        .with_context(|| format!("no root key in {}/credentials", data_dir.display()))?;
    let client = crate::client::AwsClient::new(&format!("http://{addr}"), region, keys);
    for cluster in clusters.iter().filter(|c| *c != "default") {
        client
            .call(
                crate::client::ECS,
                "CreateCluster",
                &serde_json::json!({ "clusterName": cluster }),
            )
            .await
            .with_context(|| format!("cannot create cluster {cluster}"))?;
    }
    Ok(())
}

/// Each of `agents`' share of this machine: (CPU units, MiB), or None for one agent (it
/// announces the whole machine itself).
async fn split_host(docker: &DockerRuntime, agents: usize) -> anyhow::Result<Option<(u32, u64)>> {
    if agents <= 1 {
        return Ok(None);
    }
    let host =
        docker.info().await.context("cannot read the machine's CPUs and memory from Docker")?;
    let n = agents as u64;
    let memory = (host.memory_bytes / (1024 * 1024))
        .saturating_sub(flotilla_agent::registration::DEFAULT_RESERVED_MEMORY_MIB);
    let cpu = u64::from(host.cpus) * 1024 / n;
    Ok(Some((u32::try_from(cpu).unwrap_or(u32::MAX), memory / n)))
}

fn print_dev_guide(
    addr: std::net::SocketAddr,
    data_dir: &std::path::Path,
    clusters: Option<&[String]>,
    fargate: bool,
) {
    let dir = data_dir.display();
    let fargate = if fargate {
        format!(
            "Fargate capacity runs here too (awsvpc tasks, each with an address of its own):\n  \
             SUBNET=$(aws --endpoint-url http://{addr} ec2 describe-subnets --query 'Subnets[0].SubnetId' --output text)\n  \
             aws --endpoint-url http://{addr} ecs run-task --launch-type FARGATE --task-definition FAMILY \\\n      \
             --network-configuration \"awsvpcConfiguration={{subnets=[$SUBNET],assignPublicIp=ENABLED}}\"\n  \
             (FAMILY registered with --requires-compatibilities FARGATE --network-mode awsvpc --cpu 256 --memory 512)\n\n"
        )
    } else {
        String::new()
    };
    let agent = match clusters {
        Some([one]) => format!("one local agent in cluster {one}, "),
        Some(many) => format!("one local agent in each of the clusters {}, ", many.join(", ")),
        None => String::new(),
    };
    println!(
        "\nFlotilla is ready: ECS API at http://{addr} ({agent}credentials in {dir}/credentials)\n\n\
         Point the AWS CLI at it:\n\n  \
         export AWS_SHARED_CREDENTIALS_FILE={dir}/credentials AWS_CONFIG_FILE={dir}/config\n  \
         aws --endpoint-url http://{addr} ecs create-cluster --cluster-name demo\n  \
         aws --endpoint-url http://{addr} ecs register-task-definition --family web \\\n      \
         --container-definitions '[{{\"name\":\"web\",\"image\":\"flotilla/demo:latest\",\"memory\":64}}]'\n  \
         aws --endpoint-url http://{addr} ecs list-task-definitions\n  \
         aws --endpoint-url http://{addr} ecs run-task --task-definition web\n  \
         aws --endpoint-url http://{addr} ecs list-tasks\n\n\
         A new cluster starts without capacity; give it an agent (a share of this machine):\n  \
         flotilla agent --server http://{addr} --cluster demo --token-file {dir}/agent-token \\\n      \
         --data-dir {dir}/agent-demo --metadata-port 0 --memory 2048 --cpu 1024\n\n\
         {fargate}\
         Logs of awslogs containers: aws --endpoint-url http://{addr} logs ... or flotilla logs --task ID -f\n\
         Metrics: http://{addr}/metrics (Prometheus), aws cloudwatch get-metric-statistics --namespace AWS/ECS\n"
    );
}

/// `--dns` and `--dns-upstream` as the agent takes them.
fn dns_mode(flag: DnsFlag, upstreams: &[String]) -> anyhow::Result<DnsMode> {
    if flag != DnsFlag::Serve && !upstreams.is_empty() {
        anyhow::bail!("--dns-upstream needs --dns serve: only a serving agent forwards names");
    }
    Ok(match flag {
        DnsFlag::Serve => DnsMode::Serve {
            upstreams: upstreams.iter().map(|u| parse_upstream(u)).collect::<Result<_, _>>()?,
        },
        DnsFlag::Share => DnsMode::Share,
        DnsFlag::Off => DnsMode::Off,
    })
}

/// `10.0.0.2` (port 53) or `127.0.0.1:5353`.
fn parse_upstream(text: &str) -> anyhow::Result<std::net::SocketAddr> {
    if let Ok(address) = text.parse::<std::net::SocketAddr>() {
        return Ok(address);
    }
    let ip: std::net::IpAddr = text
        .parse()
        .map_err(|_| anyhow::anyhow!("--dns-upstream {text}: expected IP or IP:PORT"))?;
    Ok((ip, 53).into())
}

/// `flotilla drain`: the machine of the agent whose state is in `--data-dir` drained (or taken
/// back), with that agent's credential.
pub fn drain(args: DrainArgs) -> anyhow::Result<()> {
    use flotilla_api::status::InstanceStatus;
    let server = ServerAddress::new(args.server, args.region);
    let data_dir = args.data_dir.unwrap_or_else(|| default_data_dir("agent"));
    let status = if args.activate { InstanceStatus::Active } else { InstanceStatus::Draining };
    let reply = runtime()?
        .block_on(flotilla_agent::drain::request(&server, &data_dir, status))
        .context("cannot change the machine's status")?;
    println!("{} is {}", reply.container_instance_arn, reply.status);
    println!("tasks not yet stopped: {}", reply.running_tasks);
    if reply.spot_tasks_interrupted > 0 {
        println!("FARGATE_SPOT tasks interrupted: {}", reply.spot_tasks_interrupted);
    }
    Ok(())
}

/// `flotilla lb`: one region's listeners on this machine, fed by the server.
pub fn lb(args: LbArgs) -> anyhow::Result<()> {
    let token = read_token(&args.token_file)?;
    let config = flotilla_proxy::remote::RemoteConfig {
        server: args.server,
        region: args.region,
        token,
        data_dir: args.data_dir.unwrap_or_else(|| default_data_dir("lb")),
    };
    runtime()?.block_on(async move {
        flotilla_proxy::remote::run(config, shutdown_signal()).await?;
        Ok(())
    })
}

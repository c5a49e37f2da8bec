//! The `flotilla` binary: argument parsing and glue; the work happens in the library crates.

mod aws_env;
mod client;
mod commands;
mod demo;
mod logs;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "flotilla",
    version,
    about = "A self-hosted container orchestrator that speaks the Amazon ECS API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane (ECS API on --listen, state in --data-dir).
    Server(ServerArgs),
    /// Run everything for one machine: server, embedded store and a local agent, ready for
    /// `aws ecs ...`.
    Dev(DevArgs),
    /// Run a node agent: join a cluster and run its tasks as Docker containers.
    Agent(AgentArgs),
    /// Run one region's load balancer listeners on this machine, for a server started with
    /// `--load-balancers remote` (records from the server, health reported back).
    Lb(LbArgs),
    /// Drain the machine an agent runs on (or take it back with --activate): no new tasks go
    /// there, its service tasks are replaced elsewhere, and on Fargate capacity its
    /// FARGATE_SPOT tasks are interrupted (stopCode SpotInterruption).
    Drain(DrainArgs),
    /// Show a task's or a service's container logs (awslogs driver); -f follows.
    Logs(logs::LogsArgs),
    /// The demo workload (`serve`, `exit`, `sleep`, `check`, `lines`, `metadata`) and
    /// `build-image` for it.
    Demo(demo::DemoArgs),
    /// Simulations for rehearsing scale (no containers run).
    #[command(subcommand)]
    Sim(SimCommand),
}

#[derive(Args)]
pub struct DrainArgs {
    /// The server's URL, e.g. http://127.0.0.1:8720.
    #[arg(long)]
    server: String,
    /// The region the agent joined [default: the server's --region].
    #[arg(long)]
    region: Option<String>,
    /// The agent's --data-dir, whose state file holds its instance credential [default:
    /// ~/.flotilla/agent].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Take the machine back (ACTIVE) instead of draining it.
    #[arg(long)]
    activate: bool,
}

#[derive(Subcommand)]
enum SimCommand {
    /// Run --count hollow agents in this process: each registers a container instance and
    /// speaks the real agent protocol; tasks "run" without containers (like kubemark).
    Agents(SimAgentsArgs),
}

#[derive(Args, Clone)]
pub struct SimAgentsArgs {
    /// The server's URL, e.g. http://127.0.0.1:8720.
    #[arg(long)]
    server: String,
    /// The region whose cluster to join [default: the server's --region].
    #[arg(long)]
    region: Option<String>,
    /// The cluster to join.
    #[arg(long, default_value = "default")]
    cluster: String,
    /// File holding the agent token (the server's <data-dir>/agent-token).
    #[arg(long)]
    token_file: PathBuf,
    /// How many hollow agents (container instances).
    #[arg(long)]
    count: usize,
    /// CPU units each instance announces.
    #[arg(long, default_value_t = 4096)]
    cpu: i32,
    /// Memory (MiB) each instance announces.
    #[arg(long, default_value_t = 16384)]
    memory: i32,
    /// Availability zones, dealt round-robin: a number (zone-a, zone-b, ...) or a
    /// comma-separated list of names.
    #[arg(long, default_value = "3")]
    zones: String,
    /// An attribute every instance announces (NAME=VALUE, repeatable).
    #[arg(long = "attribute", value_name = "NAME=VALUE")]
    attributes: Vec<String>,
    /// The capacity provider group the instances join: the name part of the provider's
    /// autoScalingGroupArn (or the provider's name).
    #[arg(long, value_name = "GROUP")]
    capacity_provider: Option<String>,
    /// Milliseconds a task stays PENDING before it "runs".
    #[arg(long, default_value_t = 0)]
    start_delay_ms: u64,
    /// Host ids are <PREFIX>-<n> [default: sim-<cluster>].
    #[arg(long)]
    name_prefix: Option<String>,
}

#[derive(Args, Clone)]
pub struct ServerArgs {
    /// Address the API listens on.
    #[arg(long, default_value_t = SocketAddr::from(([127, 0, 0, 1], flotilla_server::DEFAULT_PORT)))]
    listen: SocketAddr,
    /// Directory for the store, the credentials file and the agent token
    /// [default: ~/.flotilla/server, or ~/.flotilla/dev for `dev`].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The default region (of agents and commands); every region of the aws partition is
    /// served besides.
    #[arg(long, default_value = flotilla_server::DEFAULT_REGION)]
    region: String,
    /// CIDR of each region's default VPC, fixed on the region's first start (clear of Docker's
    /// address pools, 172.17.0.0/16 and up, by default).
    #[arg(long, default_value = flotilla_server::DEFAULT_VPC_CIDR)]
    vpc_cidr: String,
    /// Addresses load balancers listen on, one each (FIRST-LAST): loopback by default, so
    /// they are reached from this machine; give addresses of this machine's interfaces to
    /// reach them from others.
    #[arg(long, default_value = flotilla_server::DEFAULT_LB_ADDRESSES)]
    lb_addresses: flotilla_server::AddressRange,
    /// Who runs the load balancers' listeners: `local` (this server) or `remote` (`flotilla lb
    /// --server URL` on the machine whose addresses --lb-addresses names, with the token in
    /// <data-dir>/lb-token).
    #[arg(long, value_enum, default_value_t = LoadBalancersFlag::Local)]
    load_balancers: LoadBalancersFlag,
    /// 12-digit account id used in ARNs.
    #[arg(long, default_value = flotilla_server::DEFAULT_ACCOUNT_ID)]
    account_id: String,
    /// Seconds an agent may be silent before its instance is lost and its service tasks are
    /// replaced elsewhere.
    #[arg(long, default_value_t = flotilla_server::DEFAULT_AGENT_TIMEOUT.as_secs_f64())]
    agent_timeout: f64,
    /// Services per cluster (ECS's default quota).
    #[arg(long, default_value_t = flotilla_server::Quotas::default().services_per_cluster)]
    max_services_per_cluster: usize,
    /// Tasks per service (ECS's default quota).
    #[arg(long, default_value_t = flotilla_server::Quotas::default().tasks_per_service)]
    max_tasks_per_service: i32,
    /// HTTP connections served at once; past it new connections get a 503 (agents' WebSockets
    /// do not count once connected). Lowered to fit the open-file limit.
    #[arg(long, default_value_t = flotilla_front::listener::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Seconds a request's head may take to arrive, from its first byte.
    #[arg(long, default_value_t = flotilla_front::listener::DEFAULT_HEADER_TIMEOUT.as_secs_f64())]
    header_timeout: f64,
    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, default_value_t = flotilla_front::listener::DEFAULT_IDLE_TIMEOUT.as_secs_f64())]
    idle_timeout: f64,
    /// Replace the agents' join token (<data-dir>/agent-token) at start: the old one no longer
    /// admits new agents; joined agents keep working with their own credentials.
    #[arg(long, conflicts_with = "revoke_agent_token")]
    rotate_agent_token: bool,
    /// Revoke the join token at start: no new agent can join until a start with
    /// --rotate-agent-token; joined agents keep working.
    #[arg(long)]
    revoke_agent_token: bool,
}

#[derive(Args, Clone)]
pub struct DevArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// A cluster to create and serve with a local agent (repeatable) [default: default]. With
    /// several, the machine's CPU and memory are split evenly between their agents, so nothing
    /// is promised twice.
    #[arg(long = "cluster", value_name = "NAME")]
    clusters: Vec<String>,
    /// Attributes of the local agent (NAME=VALUE, repeatable).
    #[arg(long = "attribute", value_name = "NAME=VALUE")]
    attributes: Vec<String>,
    /// Docker Engine address for the local agent (default: the local socket).
    #[arg(long)]
    docker_host: Option<String>,
    /// Whether the local agent serves DNS to its tasks (`serve`: on the Docker bridge's
    /// gateway, port 53; `off`: tasks use the host's resolvers and Cloud Map names do not
    /// resolve in them).
    #[arg(long, value_enum, default_value_t = DnsFlag::Serve)]
    dns: DnsFlag,
    /// Where Debian's CNI plugins are (containernetworking-plugins): awsvpc tasks get their
    /// own network namespace and address through them. `off`: no awsvpc tasks here.
    #[arg(long, value_name = "DIR|off", default_value = flotilla_agent::network::DEFAULT_PLUGIN_DIR)]
    cni_plugin_dir: String,
}

/// `--load-balancers`: where the listeners run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadBalancersFlag {
    /// In this server.
    Local,
    /// In `flotilla lb` processes.
    Remote,
}

#[derive(Args, Clone)]
pub struct LbArgs {
    /// The server's URL, e.g. http://10.0.0.5:8720.
    #[arg(long)]
    server: String,
    /// The region whose load balancers to run [default: the server's --region].
    #[arg(long)]
    region: Option<String>,
    /// File holding the server's <data-dir>/lb-token.
    #[arg(long)]
    token_file: std::path::PathBuf,
    /// Directory for the last records (kept across restarts) [default: ~/.flotilla/lb].
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// `--dns`: who answers the DNS queries of the host's bridge-mode tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DnsFlag {
    /// This agent, on the bridge network's gateway, port 53.
    Serve,
    /// Another agent of the same region on this machine serves it.
    Share,
    /// Nobody: tasks use the host's resolvers.
    Off,
}

#[derive(Args, Clone)]
pub struct AgentArgs {
    /// The server's URL, e.g. http://127.0.0.1:8720.
    #[arg(long)]
    server: String,
    /// The region whose cluster to join [default: the server's --region].
    #[arg(long)]
    region: Option<String>,
    /// The cluster to join.
    #[arg(long, default_value = "default")]
    cluster: String,
    /// Be Fargate capacity instead of joining a cluster: run the FARGATE tasks of every
    /// cluster of the region (this machine is never listed as a container instance). Needs
    /// the CNI plugins (Fargate tasks are awsvpc tasks).
    #[arg(long, conflicts_with = "cluster")]
    fargate: bool,
    /// File holding the join token (the server's <data-dir>/agent-token); not needed once the
    /// agent's state file holds the credential its registration was issued.
    #[arg(long)]
    token_file: Option<std::path::PathBuf>,
    /// Directory for the agent's state file [default: ~/.flotilla/agent].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// An attribute to announce (NAME=VALUE, repeatable), e.g. ecs.availability-zone=zone-b.
    #[arg(long = "attribute", value_name = "NAME=VALUE")]
    attributes: Vec<String>,
    /// The capacity provider group to join: the name part of the provider's
    /// autoScalingGroupArn (or the provider's name); announced as the attribute
    /// flotilla.auto-scaling-group.
    #[arg(long, value_name = "GROUP")]
    capacity_provider: Option<String>,
    /// CPU units to announce instead of cores x 1024.
    #[arg(long)]
    cpu: Option<u32>,
    /// Memory (MiB) to announce instead of the machine's memory less --reserved-memory.
    #[arg(long)]
    memory: Option<u64>,
    /// Memory (MiB) kept back for the OS, Docker and the agent.
    #[arg(long, default_value_t = flotilla_agent::registration::DEFAULT_RESERVED_MEMORY_MIB)]
    reserved_memory: u64,
    /// Docker Engine address (unix:///path or tcp://host:port); default: the local socket.
    #[arg(long)]
    docker_host: Option<String>,
    /// Honour `privileged: true` in container definitions.
    #[arg(long)]
    allow_privileged: bool,
    /// Seconds a stopped task's containers are kept after the server forgot the task.
    #[arg(long, default_value_t = 600)]
    task_cleanup_wait: u64,
    /// MiB of container logs (awslogs driver) kept on disk while the server cannot take them.
    #[arg(long, default_value_t = flotilla_agent::logs::DEFAULT_BUFFER_BYTES / (1024 * 1024))]
    log_buffer_mib: u64,
    /// Port of the task metadata endpoint on the Docker bridge gateway (0: any free port).
    #[arg(long, default_value_t = flotilla_agent::DEFAULT_METADATA_PORT)]
    metadata_port: u16,
    /// The address load balancers reach this machine's tasks at (their host ports) [default:
    /// the address this machine uses to reach the server].
    #[arg(long)]
    advertise_address: Option<std::net::IpAddr>,
    /// Who answers the DNS queries of this machine's bridge-mode tasks: `serve` (this agent,
    /// on the bridge network's gateway, port 53: the region's Cloud Map names and load
    /// balancers, other names forwarded), `share` (another agent of the region on this machine
    /// serves it), `off` (the host's resolvers; the region's names do not resolve in tasks).
    #[arg(long, value_enum, default_value_t = DnsFlag::Serve)]
    dns: DnsFlag,
    /// Where the agent's DNS server forwards names that are not the region's (IP or IP:PORT,
    /// repeatable) [default: the host's resolvers, from /etc/resolv.conf].
    #[arg(long = "dns-upstream", value_name = "IP[:PORT]")]
    dns_upstreams: Vec<String>,
    /// The Docker network of bridge-mode tasks (a bridge network); the agent's DNS server and
    /// task metadata endpoint listen on its gateway.
    #[arg(long, default_value = flotilla_agent::runtime::DEFAULT_BRIDGE_NETWORK)]
    bridge_network: String,
    /// Where Debian's CNI plugins are (containernetworking-plugins): awsvpc tasks get their
    /// own network namespace and address through them. `off`: no awsvpc tasks here.
    #[arg(long, value_name = "DIR|off", default_value = flotilla_agent::network::DEFAULT_PLUGIN_DIR)]
    cni_plugin_dir: String,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLOTILLA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Server(args) => commands::server(args),
        Command::Dev(args) => commands::dev(args),
        Command::Agent(args) => commands::agent(args),
        Command::Lb(args) => commands::lb(args),
        Command::Drain(args) => commands::drain(args),
        Command::Logs(args) => logs::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Sim(SimCommand::Agents(args)) => commands::sim_agents(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("flotilla: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

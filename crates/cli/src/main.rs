//! The `flotilla` binary: argument parsing and glue; the work happens in the library crates.

mod commands;
mod demo;

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
    /// Run everything for one machine: server and embedded store, ready for `aws ecs ...`.
    Dev(ServerArgs),
    /// The demo workload (`serve`, `exit`, `sleep`, `check`) and `build-image` for it.
    Demo(demo::DemoArgs),
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
    /// Region this endpoint answers for (ARNs, SigV4 scope).
    #[arg(long, default_value = flotilla_server::DEFAULT_REGION)]
    region: String,
    /// 12-digit account id used in ARNs.
    #[arg(long, default_value = flotilla_server::DEFAULT_ACCOUNT_ID)]
    account_id: String,
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
        Command::Server(args) => commands::server(args, "server", false),
        Command::Dev(args) => commands::server(args, "dev", true),
        Command::Demo(args) => demo::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("flotilla: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

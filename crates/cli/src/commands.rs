//! The subcommands: build configuration from flags and environment, start things, wait.

use std::path::PathBuf;

use anyhow::Context;
use flotilla_server::{AccessKey, Config};
use tokio::net::TcpListener;

use crate::ServerArgs;

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

/// `flotilla server` and `flotilla dev`.
pub fn server(args: ServerArgs, kind: &str, print_guide: bool) -> anyhow::Result<()> {
    let data_dir = args.data_dir.unwrap_or_else(|| default_data_dir(kind));
    let config = Config {
        data_dir: data_dir.clone(),
        region: args.region.clone(),
        account_id: args.account_id,
        preset_root_key: preset_root_key()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let app = flotilla_server::prepare(&config).await?;
        let addr = listener.local_addr().context("listener address")?;
        tracing::info!(%addr, data_dir = %data_dir.display(), "flotilla {kind} ready");
        if print_guide {
            print_dev_guide(addr, &data_dir);
        }
        flotilla_server::serve(app, listener, shutdown_signal()).await?;
        Ok(())
    })
}

fn print_dev_guide(addr: std::net::SocketAddr, data_dir: &std::path::Path) {
    let dir = data_dir.display();
    println!(
        "\nFlotilla is ready: ECS API at http://{addr}\n\n\
         Point the AWS CLI at it:\n\n  \
         export AWS_SHARED_CREDENTIALS_FILE={dir}/credentials AWS_CONFIG_FILE={dir}/config\n  \
         aws --endpoint-url http://{addr} ecs create-cluster --cluster-name demo\n  \
         aws --endpoint-url http://{addr} ecs register-task-definition --family web \\\n      \
         --container-definitions '[{{\"name\":\"web\",\"image\":\"flotilla/demo:latest\",\"memory\":64}}]'\n  \
         aws --endpoint-url http://{addr} ecs list-task-definitions\n"
    );
}

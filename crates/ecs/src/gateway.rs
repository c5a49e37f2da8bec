//! The agent gateway: one WebSocket per agent (`GET /v1/agent/connect`), authenticated with the
//! join token (a new instance) or the instance's own credential (`agent_auth.rs`). The server
//! pushes the instance's whole desired state whenever it changes; the
//! agent pushes its whole actual state. Both are idempotent, so reconnects simply converge.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use flotilla_api::agent::{AgentMessage, DesiredState, ServerMessage};
use flotilla_api::task::TaskStatus;

use crate::agent_auth::{self, AgentIdentity};
use crate::domain::{launch, registration};
use crate::App;

/// Read buffer of an agent's WebSocket.
pub const WS_BUFFER_BYTES: usize = 8 * 1024;

/// An agent must say who it is this soon after connecting.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn connect(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(identity) = agent_auth::identify(&app, &headers) else {
        tracing::warn!("agent connection refused: wrong or missing agent credential");
        return agent_auth::unauthorized();
    };
    // Small buffers: tungstenite's 128 KiB defaults cost 256 KiB per idle agent; messages
    // larger than a buffer still pass, the buffer just grows for them.
    upgrade.read_buffer_size(WS_BUFFER_BYTES).write_buffer_size(0).on_upgrade(
        move |socket| async move {
            if let Err(error) = serve_agent(app, socket, identity).await {
                tracing::info!(%error, "agent connection ended");
            }
        },
    )
}

async fn send(socket: &mut WebSocket, message: &ServerMessage) -> Result<(), String> {
    let text = serde_json::to_string(message).map_err(|e| e.to_string())?;
    socket.send(Message::Text(text.into())).await.map_err(|e| e.to_string())
}

async fn serve_agent(
    app: Arc<App>,
    mut socket: WebSocket,
    identity: AgentIdentity,
) -> Result<(), String> {
    let first = tokio::time::timeout(REGISTER_TIMEOUT, socket.recv())
        .await
        .map_err(|_| "agent did not register in time".to_string())?
        .ok_or("agent closed before registering")?
        .map_err(|e| e.to_string())?;
    let register = match parse(&first) {
        Some(AgentMessage::Register(register)) => register,
        _ => {
            send(
                &mut socket,
                &ServerMessage::Refused { message: "the first message must be Register".into() },
            )
            .await?;
            return Err("agent did not start with Register".into());
        }
    };
    let cluster = flotilla_api::arn::cluster_name_from(&register.cluster).to_string();
    let new_id = uuid::Uuid::new_v4().simple().to_string();
    let now = app.clock.epoch_seconds();
    // The secret is drawn here, outside the deterministic write; only its hash is stored, and
    // only if the registration issues a credential.
    let secret = agent_auth::new_secret().map_err(|e| e.to_string())?;
    let admission = match identity {
        AgentIdentity::Joining => {
            registration::Admission::Join { credential_hash: agent_auth::credential_hash(&secret) }
        }
        AgentIdentity::Instance { cluster, id } => {
            registration::Admission::Instance { cluster, id }
        }
    };
    let registered = match registration::register(&app, register, new_id, now, admission).await {
        Ok(registered) => registered,
        Err(error) => {
            send(&mut socket, &ServerMessage::Refused { message: error.message.clone() }).await?;
            return Err(format!("registration refused: {}", error.message));
        }
    };
    let (instance_id, arn) = (registered.id, registered.arn);
    let instance_credential = registered
        .issued_credential
        .then(|| flotilla_api::agent::instance_credential(&cluster, &instance_id, &secret));
    let connection = app.agents.connect(&instance_id);
    tracing::info!(%arn, "agent connected");
    send(
        &mut socket,
        &ServerMessage::Registered {
            container_instance_arn: arn.clone(),
            container_instance_id: instance_id.clone(),
            instance_credential,
        },
    )
    .await?;
    let result = converse(&app, &mut socket, &instance_id, connection).await;
    app.agents.disconnect(&instance_id, connection);
    tracing::info!(%arn, "agent disconnected");
    result
}

async fn converse(
    app: &App,
    socket: &mut WebSocket,
    instance_id: &str,
    connection: u64,
) -> Result<(), String> {
    // Woken only by commits that touch this instance's tasks (registered before the first
    // look, so nothing committed in between is missed).
    let waker = app.state.wakers.register(instance_id);
    let changes = app.state.subscribe();
    // The region's DNS table: the whole of it now, again whenever it changes.
    let mut dns = app.dns.clone();
    let table = dns.borrow_and_update().as_ref().clone();
    send(socket, &ServerMessage::Dns(table)).await?;
    // The region's security groups: likewise.
    let mut firewall = app.firewall.clone();
    let table = firewall.borrow_and_update().as_ref().clone();
    send(socket, &ServerMessage::Firewall(table)).await?;
    // The routes to every host's slices: likewise.
    let mut routes = app.routes.clone();
    let table = routes.borrow_and_update().as_ref().clone();
    send(socket, &ServerMessage::Routes(table)).await?;
    let mut last_sent: Option<Vec<(String, TaskStatus)>> = None;
    let mut last_change: Option<u64> = None;
    loop {
        // Send the desired state when it differs from what the agent last got. Most commits
        // touch no task of this instance (one lookup); most that do only record what the
        // agent reported, which leaves the desired state as it was (one cheap fingerprint).
        let change = app.state.read().task_change_of(instance_id);
        if last_change != Some(change) {
            last_change = Some(change);
            let wanted = desired_fingerprint(app, instance_id);
            if last_sent.as_ref() != Some(&wanted) {
                last_sent = Some(wanted);
                send(socket, &ServerMessage::Desired(desired_state(app, instance_id))).await?;
            }
        }
        tokio::select! {
            () = waker.notified() => {}
            Ok(()) = dns.changed() => {
                let table = dns.borrow_and_update().as_ref().clone();
                send(socket, &ServerMessage::Dns(table)).await?;
            }
            Ok(()) = firewall.changed() => {
                let table = firewall.borrow_and_update().as_ref().clone();
                send(socket, &ServerMessage::Firewall(table)).await?;
            }
            Ok(()) = routes.changed() => {
                let table = routes.borrow_and_update().as_ref().clone();
                send(socket, &ServerMessage::Routes(table)).await?;
            }
            message = socket.recv() => {
                if changes.has_changed().is_err() {
                    return Ok(()); // the writer is gone: the server is shutting down
                }
                let Some(message) = message else { return Ok(()) };
                let message = message.map_err(|e| e.to_string())?;
                if let Message::Close(_) = message {
                    return Ok(());
                }
                app.agents.seen(instance_id, connection);
                match parse(&message) {
                    Some(AgentMessage::Report(report)) if !reports_news(app, &report) => {}
                    Some(AgentMessage::Report(report)) => {
                        if let Err(error) = registration::apply_report(app, instance_id.to_string(), report).await {
                            tracing::warn!(%error, "could not apply an agent report");
                        }
                    }
                    Some(AgentMessage::Heartbeat) | None => {}
                    Some(AgentMessage::Stats(report)) => {
                        let now = app.clock.epoch_seconds();
                        app.metrics.record(&app.state, instance_id, &report, now);
                    }
                    Some(AgentMessage::Register(_)) => tracing::warn!("agent registered twice on one connection"),
                }
            }
        }
    }
}

/// Whether a report tells anything new (most repeat what is known: no write for those).
fn reports_news(app: &App, report: &flotilla_api::agent::Report) -> bool {
    let state = app.state.read();
    report.tasks.iter().any(|r| {
        let id = flotilla_api::arn::id_from(&r.task_arn);
        let cluster = registration::cluster_name_from_task_arn(&r.task_arn);
        state
            .tasks
            .get(&(cluster.to_string(), id.to_string()))
            .is_some_and(|t| !registration::report_changes_nothing(&t.task, r))
    })
}

fn parse(message: &Message) -> Option<AgentMessage> {
    match message {
        Message::Text(text) => serde_json::from_str(text.as_str()).ok(),
        Message::Binary(bytes) => serde_json::from_slice(bytes).ok(),
        _ => None,
    }
}

/// What decides the instance's desired state: its tasks and what each should be (a task's
/// spec never changes otherwise: the definition is immutable, the stop reason comes with
/// desired STOPPED).
fn desired_fingerprint(app: &App, instance_id: &str) -> Vec<(String, TaskStatus)> {
    app.state
        .read()
        .tasks_on(instance_id)
        .filter(|t| t.task.last_status != TaskStatus::Stopped)
        .map(|t| (t.task.task_arn.clone(), t.agent_desired_status()))
        .collect()
}

/// Every task placed on the instance that its agent still has to run or finish stopping.
pub fn desired_state(app: &App, instance_id: &str) -> DesiredState {
    let state = app.state.read();
    let tasks = state
        .tasks_on(instance_id)
        .filter(|t| t.task.last_status != TaskStatus::Stopped)
        .filter_map(|t| {
            let stored = state.task_definition_by_arn(&t.task.task_definition_arn)?;
            let mut spec = launch::task_spec(t, &stored.definition);
            if let Some(roles) = &app.task_roles {
                if crate::task_roles::role_of(t, &stored.definition).is_some() {
                    spec.credentials_id = Some(roles.credentials_id(&t.cluster, &t.id));
                }
            }
            Some(spec)
        })
        .collect();
    DesiredState { version: state.revision, tasks }
}

//! The server's routes: `GET /healthz`; `GET /metrics` (Prometheus text, no auth); the agent
//! routes, authenticated with the agent token — `GET /v1/agent/connect` (the agent's
//! WebSocket, `gateway.rs`), `POST /v1/agent/logs` and `POST /v1/agent/logs/groups` (container
//! output, `logs/ingest.rs`); everything else is an AWS API request for the front door
//! (`front.rs`, `flotilla-front`).

use std::sync::Arc;

use axum::extract::Request;
use axum::routing::{get, post};
use axum::Router;

use crate::{logs, App};

pub fn router(app: Arc<App>) -> Router {
    let door = Arc::new(crate::front::door(&app));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(crate::metrics::scrape))
        .route(flotilla_api::agent::CONNECT_PATH, get(crate::gateway::connect))
        .route(flotilla_api::agent::LOGS_PATH, post(logs::ingest::receive))
        .route(flotilla_api::agent::LOG_GROUPS_PATH, post(logs::ingest::missing_groups))
        .fallback(move |request: Request| async move { door.handle(request).await })
        .with_state(app)
}

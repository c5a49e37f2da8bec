//! The server's routes: `GET /healthz`; `GET /metrics` (Prometheus text, no auth: ECS's figures
//! and counts, then the door's request metrics); the agents' routes (`flotilla-ecs`); everything
//! else is an AWS API request for the front door (`front.rs`).

use std::sync::Arc;

use axum::extract::Request;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use flotilla_front::exposition::{Exposition, CONTENT_TYPE};

use crate::App;

pub fn router(app: Arc<App>) -> Router {
    let door = Arc::new(crate::front::door(&app));
    let agents = flotilla_ecs::agent_routes(Arc::clone(&app.ecs));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/metrics",
            get(move || async move {
                let app = Arc::clone(&app);
                let mut text = Exposition::default();
                flotilla_ecs::metrics::write_prometheus(&app.ecs, &mut text);
                app.requests.write_prometheus(&mut text);
                ([(header::CONTENT_TYPE, CONTENT_TYPE)], text.into_string()).into_response()
            }),
        )
        .merge(agents)
        .fallback(move |request: Request| async move { door.handle(request).await })
}

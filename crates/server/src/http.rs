//! The server's routes: `GET /healthz`; `GET /metrics` (Prometheus text, no auth: every
//! region's ECS figures and counts, then the door's request metrics); the agents' routes
//! (`flotilla-ecs`) of the region an agent names (`?region=`, else the server's); everything
//! else is an AWS API request for the front door (`front.rs`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use flotilla_front::exposition::{Exposition, CONTENT_TYPE};
use tower_service::Service;

use crate::App;

pub fn router(app: Arc<App>) -> Router {
    let door = Arc::new(crate::front::door(&app));
    let agents = Router::new().route("/v1/agent/{*rest}", any(agents)).with_state(Arc::clone(&app));
    let data_planes = Router::new()
        .route(flotilla_elbv2::remote::CONNECT_PATH, get(crate::remote_lb::connect))
        .with_state(Arc::clone(&app));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/metrics",
            get(move || async move {
                let app = Arc::clone(&app);
                let mut text = Exposition::default();
                let regions = app.regions.all();
                let ecs: Vec<&flotilla_ecs::App> = regions.iter().map(|r| r.ecs.as_ref()).collect();
                flotilla_ecs::metrics::write_prometheus(&ecs, &mut text);
                app.requests.write_prometheus(&mut text);
                ([(header::CONTENT_TYPE, CONTENT_TYPE)], text.into_string()).into_response()
            }),
        )
        .merge(agents)
        .merge(data_planes)
        .fallback(move |request: Request| async move { door.handle(request).await })
}

/// An agent's request, handed to the agents' routes of its region. A region not open yet is
/// opened only for the join token: an unauthenticated caller must not make the server create
/// regions (each is records, a database and background work, kept for good).
async fn agents(State(app): State<Arc<App>>, request: Request) -> Response {
    let named = crate::regions::region_parameter(request.uri().query());
    let name = named.unwrap_or(app.regions.default_region()).to_string();
    if !app.regions.served().serves(&name) {
        let message = format!("region '{name}' is not served by this server\n");
        return (StatusCode::BAD_REQUEST, message).into_response();
    }
    if app.regions.get_open(&name).is_none() && !presents_join_token(&app, &request) {
        let message = format!(
            "region '{name}' is not open here yet: a new agent opens it with the join token\n"
        );
        return (StatusCode::UNAUTHORIZED, message).into_response();
    }
    match app.regions.get(&name).await {
        Ok(region) => match region.agent_routes.clone().call(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        Err(error) => {
            tracing::error!(%error, region = %name, "cannot open region for an agent");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot open region {name}\n"))
                .into_response()
        }
    }
}

/// Whether the request's bearer token is the agents' join token (compared in constant time).
fn presents_join_token(app: &App, request: &Request) -> bool {
    use subtle::ConstantTimeEq;
    let Some(token) = app.credentials.join_token.as_deref() else { return false };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(token.as_bytes())))
}

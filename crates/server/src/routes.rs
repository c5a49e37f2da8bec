//! The server reaches awsvpc tasks on every host (its load balancers and health checks connect
//! to task addresses): it follows the region's route table like the agents
//! (`flotilla_proxy::task_routes`).

use std::sync::Arc;

use flotilla_api::routes::RouteTable;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub fn spawn(table: watch::Receiver<Arc<RouteTable>>) -> JoinHandle<()> {
    flotilla_proxy::task_routes::follow(table)
}

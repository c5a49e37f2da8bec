//! The DNS data plane: a hickory server that answers the region's names (Cloud Map's private
//! DNS namespaces, load balancers) from the table the control plane pushes, and forwards every
//! other name to the host's resolvers. Each agent runs one for the containers of its host.

mod forward;
mod handler;
pub mod table;
pub mod upstreams;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use flotilla_api::dns::DnsTable;
use hickory_server::Server;

pub use forward::ForwardError;

/// A TCP client that sends nothing for this long is disconnected.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// hickory's buffer of answers queued on one TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("cannot serve DNS at {address}: {source}")]
    Bind { address: SocketAddr, source: std::io::Error },
}

/// A running DNS server; it stops when dropped.
pub struct DnsServer {
    table: Arc<RwLock<Arc<table::Table>>>,
    address: SocketAddr,
    _server: Server<handler::Handler>,
}

impl DnsServer {
    /// Serves DNS over UDP and TCP at `address` (port 0: any free port, the same for both),
    /// forwarding names outside the table to `upstreams`. The table starts empty.
    pub async fn bind(
        address: SocketAddr,
        upstreams: Vec<SocketAddr>,
    ) -> Result<DnsServer, DnsError> {
        let bind_error = |source| DnsError::Bind { address, source };
        let udp = tokio::net::UdpSocket::bind(address).await.map_err(bind_error)?;
        let address = udp.local_addr().map_err(bind_error)?;
        let tcp = tokio::net::TcpListener::bind(address).await.map_err(bind_error)?;
        let table = Arc::new(RwLock::new(Arc::new(table::Table::default())));
        let mut server = Server::new(handler::Handler {
            table: Arc::clone(&table),
            upstreams: Arc::new(upstreams),
        });
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE, TCP_RESPONSE_BUFFER);
        Ok(DnsServer { table, address, _server: server })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Answers from `table` from now on.
    pub fn set_table(&self, table: &DnsTable) {
        let compiled = Arc::new(table::Table::new(table));
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = compiled;
    }
}

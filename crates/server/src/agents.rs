//! Which agents are connected right now (in memory: a restart of the server forgets, and the
//! agents' reconnections tell it again).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Default)]
pub struct AgentRegistry {
    next_connection: AtomicU64,
    /// container instance id -> (connection id, last message time).
    connected: Mutex<HashMap<String, (u64, Instant)>>,
}

impl AgentRegistry {
    /// Records a new connection for `instance_id` (replacing an older one) and returns its id.
    pub fn connect(&self, instance_id: &str) -> u64 {
        let connection = self.next_connection.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(instance_id.to_string(), (connection, Instant::now()));
        connection
    }

    pub fn seen(&self, instance_id: &str, connection: u64) {
        if let Some(entry) = self.lock().get_mut(instance_id) {
            if entry.0 == connection {
                entry.1 = Instant::now();
            }
        }
    }

    /// Forgets the connection, unless a newer one already replaced it.
    pub fn disconnect(&self, instance_id: &str, connection: u64) {
        let mut connected = self.lock();
        if connected.get(instance_id).is_some_and(|(c, _)| *c == connection) {
            connected.remove(instance_id);
        }
    }

    pub fn is_connected(&self, instance_id: &str) -> bool {
        self.lock().contains_key(instance_id)
    }

    pub fn connected_ids(&self) -> HashSet<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Instant)>> {
        // The map stays consistent even if a holder panicked: every update is one insert/remove.
        self.connected.lock().unwrap_or_else(|e| e.into_inner())
    }
}

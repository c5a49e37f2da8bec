//! Which agents are connected right now (in memory: a restart of the server forgets, and the
//! agents' reconnections tell it again).

use flotilla_api::status::InstanceStatus;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

// tokio's Instant: monotonic as std's, and under a test's paused clock it moves only when the
// test advances it (the controller's tests lose an agent without waiting for it).
use tokio::time::Instant;

pub struct AgentRegistry {
    next_connection: AtomicU64,
    /// container instance id -> (connection id, last message time).
    connected: Mutex<HashMap<String, (u64, Instant)>>,
    /// container instance id -> when its agent disconnected.
    disconnected: Mutex<HashMap<String, Instant>>,
    /// Agents that never connected since this server started count as disconnected from then.
    started: Instant,
    /// The connected ids as a set, shared by readers (every placement reads it), rebuilt only
    /// after a connection came or went.
    ids: Mutex<Arc<HashSet<String>>>,
    ids_stale: AtomicBool,
}

impl Default for AgentRegistry {
    fn default() -> Self {
        AgentRegistry {
            next_connection: AtomicU64::new(0),
            connected: Mutex::new(HashMap::new()),
            disconnected: Mutex::new(HashMap::new()),
            started: Instant::now(),
            ids: Mutex::new(Arc::new(HashSet::new())),
            ids_stale: AtomicBool::new(false),
        }
    }
}

impl AgentRegistry {
    /// Records a new connection for `instance_id` (replacing an older one) and returns its id.
    pub fn connect(&self, instance_id: &str) -> u64 {
        let connection = self.next_connection.fetch_add(1, Ordering::Relaxed);
        self.disconnected.lock().unwrap_or_else(|e| e.into_inner()).remove(instance_id);
        self.lock().insert(instance_id.to_string(), (connection, Instant::now()));
        self.ids_stale.store(true, Ordering::Release);
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
            self.ids_stale.store(true, Ordering::Release);
            self.disconnected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(instance_id.to_string(), Instant::now());
        }
    }

    /// Registered, not deregistered instances whose agent has been silent for longer than
    /// `timeout`: disconnected that long, or connected but quiet (a half-open connection) for
    /// `timeout` and at least a few missed heartbeats.
    pub fn lost(
        &self,
        state: &crate::state::State,
        timeout: std::time::Duration,
    ) -> HashSet<String> {
        use flotilla_api::agent::{HEARTBEAT_INTERVAL, MISSED_HEARTBEATS};
        let quiet_limit = timeout.max(HEARTBEAT_INTERVAL * MISSED_HEARTBEATS);
        let connected = self.lock();
        let disconnected = self.disconnected.lock().unwrap_or_else(|e| e.into_inner());
        state
            .instances
            .values()
            .filter(|i| i.instance.status != InstanceStatus::Inactive)
            .filter(|i| match connected.get(&i.id) {
                Some((_, seen)) => seen.elapsed() > quiet_limit,
                None => {
                    disconnected.get(&i.id).copied().unwrap_or(self.started).elapsed() > timeout
                }
            })
            .map(|i| i.id.clone())
            .collect()
    }

    pub fn is_connected(&self, instance_id: &str) -> bool {
        self.lock().contains_key(instance_id)
    }

    pub fn connected_ids(&self) -> Arc<HashSet<String>> {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        if self.ids_stale.swap(false, Ordering::AcqRel) {
            *ids = Arc::new(self.lock().keys().cloned().collect());
        }
        Arc::clone(&ids)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Instant)>> {
        // The map stays consistent even if a holder panicked: every update is one insert/remove.
        self.connected.lock().unwrap_or_else(|e| e.into_inner())
    }
}

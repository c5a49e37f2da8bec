//! Container logs, the `awslogs` driver: every container whose `logConfiguration.logDriver` is
//! `awslogs` logs to Docker's json-file driver; the agent follows that output (`follow.rs`),
//! batches it per log stream into a bounded on-disk buffer (`buffer.rs`), and ships the buffer
//! to the server's CloudWatch Logs store (`ship.rs`). Where each container got to is kept in
//! `cursors.json`, so a restarted agent resumes without losing or repeating lines.

pub mod buffer;
mod follow;
pub mod groups;
mod multiline;
pub(crate) mod ship;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flotilla_api::agent::{LogBatch, LogStreamBatch, ServerAddress, TaskSpec};
use flotilla_api::taskdef::ContainerDefinition;
use tokio::sync::mpsc;

use crate::credential::AgentCredential;
use crate::engine::Engine;
use crate::runtime::{RunState, Runtime};
use buffer::Buffer;
use follow::{Chunk, Cursor};

/// Default bound of the on-disk buffer (`--log-buffer-mib`).
pub const DEFAULT_BUFFER_BYTES: u64 = 256 * 1024 * 1024;
/// A batch closes at this many lines, bytes of messages, or this long after its first line.
const BATCH_LINES: usize = 5000;
const BATCH_BYTES: usize = 2 * 1024 * 1024;
const BATCH_LINGER: Duration = Duration::from_millis(200);
/// Chunks in flight between the followers and the batcher.
const CHUNKS_QUEUED: usize = 16;
/// How often containers are looked for besides on every engine change.
const SCAN_EVERY: Duration = Duration::from_secs(1);
/// A follower whose container still exists is started again after this pause.
const FOLLOW_AGAIN_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error(transparent)]
    Buffer(#[from] buffer::BufferError),
}

#[derive(Debug, Clone)]
pub struct LogsConfig {
    /// `<agent data dir>/log-buffer`.
    pub dir: PathBuf,
    pub server: ServerAddress,
    pub credential: Arc<AgentCredential>,
    pub buffer_bytes: u64,
}

/// Where a container's lines go: its `awslogs` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub group: String,
    pub stream: String,
    pub create_group: bool,
    /// The task of the container (the server checks streams against its tasks).
    pub task_arn: String,
}

/// The destination of a container's lines, when it uses the `awslogs` driver with a group.
/// Streams are named as ECS names them: `<prefix>/<container name>/<task id>`, or the Docker
/// container id without a prefix.
pub fn destination(
    spec: &TaskSpec,
    container: &ContainerDefinition,
    docker_id: &str,
) -> Option<Destination> {
    let log = container.log_configuration.as_ref()?;
    if log.log_driver != "awslogs" {
        return None;
    }
    let options = log.options.as_ref()?;
    let group = options.get("awslogs-group").filter(|g| !g.is_empty())?.clone();
    let name = container.name.as_deref().unwrap_or_default();
    let stream = match options.get("awslogs-stream-prefix").filter(|p| !p.is_empty()) {
        Some(prefix) => format!("{prefix}/{name}/{}", spec.task_id()),
        None => docker_id.to_string(),
    };
    let create_group = options.get("awslogs-create-group").is_some_and(|v| v == "true");
    Some(Destination { group, stream, create_group, task_arn: spec.task_arn.clone() })
}

/// Where each container's capture got to, persisted.
#[derive(Clone)]
struct Cursors {
    path: PathBuf,
    map: Arc<Mutex<BTreeMap<String, Cursor>>>,
}

impl Cursors {
    fn load(dir: &Path) -> Cursors {
        let path = dir.join("cursors.json");
        let map = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                tracing::warn!(%error, "unreadable log cursors; containers' logs are read again from their start");
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        Cursors { path, map: Arc::new(Mutex::new(map)) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Cursor>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, docker_id: &str) -> Cursor {
        self.lock().get(docker_id).copied().unwrap_or_default()
    }

    /// Written after the batch holding the lines is durable: a crash in between repeats lines
    /// rather than losing them.
    fn advance(&self, reached: &HashMap<String, Cursor>) {
        let snapshot = {
            let mut map = self.lock();
            for (id, cursor) in reached {
                map.insert(id.clone(), *cursor);
            }
            map.clone()
        };
        self.save(&snapshot);
    }

    fn retain(&self, live: &HashSet<String>) {
        let snapshot = {
            let mut map = self.lock();
            let before = map.len();
            map.retain(|id, _| live.contains(id));
            if map.len() == before {
                return;
            }
            map.clone()
        };
        self.save(&snapshot);
    }

    fn save(&self, map: &BTreeMap<String, Cursor>) {
        let temporary = self.path.with_extension("tmp");
        let written = serde_json::to_vec(map)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                let mut file = crate::credential::create_private(&temporary)?;
                file.write_all(&bytes)?;
                file.sync_data()
            })
            .and_then(|()| std::fs::rename(&temporary, &self.path));
        if let Err(error) = written {
            tracing::warn!(%error, "cannot save the log cursors");
        }
    }
}

/// Starts capture, batching and shipping; they run until the runtime shuts down.
pub fn spawn(
    runtime: Arc<dyn Runtime>,
    engine: Engine,
    config: LogsConfig,
) -> Result<Arc<Buffer>, LogsError> {
    let buffer = Arc::new(Buffer::open(&config.dir.join("batches"), config.buffer_bytes)?);
    let cursors = Cursors::load(&config.dir);
    let (chunks, chunk_rx) = mpsc::channel(CHUNKS_QUEUED);
    tokio::spawn(batch(chunk_rx, Arc::clone(&buffer), cursors.clone()));
    tokio::spawn(ship::run(Arc::clone(&buffer), config.server, config.credential));
    tokio::spawn(collect(runtime, engine, cursors, chunks));
    Ok(buffer)
}

/// Starts a follower for every started `awslogs` container that has none, and follows a
/// container again when its follower ended while the container was not done (Docker does not
/// follow a created-but-not-started container; a read failed; Docker restarted).
async fn collect(
    runtime: Arc<dyn Runtime>,
    engine: Engine,
    cursors: Cursors,
    chunks: mpsc::Sender<Chunk>,
) {
    let mut reports = engine.report_channel();
    let (done, mut done_rx) = mpsc::channel::<(String, follow::Ended)>(64);
    let mut following: HashSet<String> = HashSet::new();
    let mut finished: HashSet<String> = HashSet::new();
    // Where ended followers got to: ahead of the persisted cursor by what is still in flight.
    let mut handed: HashMap<String, Cursor> = HashMap::new();
    let mut not_before: HashMap<String, tokio::time::Instant> = HashMap::new();
    loop {
        let now = tokio::time::Instant::now();
        let runs = engine.runs();
        let mut live = HashSet::new();
        for run in runs.values() {
            for (name, container) in &run.containers {
                let Some(id) = container.docker_id.as_deref() else { continue };
                live.insert(id.to_string());
                if !container.started
                    || following.contains(id)
                    || finished.contains(id)
                    || not_before.get(id).is_some_and(|at| *at > now)
                {
                    continue;
                }
                let Some(definition) =
                    run.spec.containers.iter().find(|c| c.name.as_deref() == Some(name.as_str()))
                else {
                    continue;
                };
                let Some(destination) = destination(&run.spec, definition, id) else { continue };
                let options = definition.log_configuration.as_ref().and_then(|l| l.options.clone());
                let start = match multiline::start_pattern(&options.unwrap_or_default()) {
                    Ok(start) => start,
                    Err(error) => {
                        tracing::warn!(container = %id, %error, "invalid multiline option; logging line by line");
                        None
                    }
                };
                let resume = cursors.get(id).max(handed.get(id).copied().unwrap_or_default());
                following.insert(id.to_string());
                let (runtime, id, chunks, done) =
                    (Arc::clone(&runtime), id.to_string(), chunks.clone(), done.clone());
                tokio::spawn(async move {
                    let ended =
                        follow::follow(runtime, id.clone(), destination, resume, start, chunks)
                            .await;
                    let _ = done.send((id, ended)).await;
                });
            }
        }
        finished.retain(|id| live.contains(id));
        handed.retain(|id, _| live.contains(id));
        not_before.retain(|id, _| live.contains(id));
        let pruner = cursors.clone();
        let _ = tokio::task::spawn_blocking(move || pruner.retain(&live)).await;

        tokio::select! {
            changed = reports.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(SCAN_EVERY) => {}
            Some((id, (cursor, result))) = done_rx.recv() => {
                following.remove(&id);
                handed.insert(id.clone(), cursor);
                if let Err(error) = &result {
                    tracing::warn!(container = %id, %error, "following a container's logs failed; retrying");
                }
                match runtime.inspect(&id).await {
                    // Its output is complete: the container exited (or is gone).
                    Ok(Some(status)) if status.state == RunState::Exited && result.is_ok() => {
                        finished.insert(id);
                    }
                    Ok(None) => {
                        finished.insert(id);
                    }
                    _ => {
                        not_before.insert(id, tokio::time::Instant::now() + FOLLOW_AGAIN_AFTER);
                    }
                }
            }
        }
    }
}

/// Gathers chunks into batches and writes them to the buffer, waiting while it is full. A
/// chunk that would take a batch over `BATCH_BYTES` starts the next batch.
async fn batch(mut chunks: mpsc::Receiver<Chunk>, buffer: Arc<Buffer>, cursors: Cursors) {
    let mut carried: Option<Chunk> = None;
    loop {
        let first = match carried.take() {
            Some(chunk) => chunk,
            None => match chunks.recv().await {
                Some(chunk) => chunk,
                None => return,
            },
        };
        let deadline = tokio::time::Instant::now() + BATCH_LINGER;
        let mut pending = Pending::default();
        pending.add(first);
        while pending.lines < BATCH_LINES && pending.bytes < BATCH_BYTES {
            tokio::select! {
                chunk = chunks.recv() => match chunk {
                    Some(chunk) if pending.bytes + chunk.bytes() > BATCH_BYTES => {
                        carried = Some(chunk);
                        break;
                    }
                    Some(chunk) => pending.add(chunk),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        buffer.room().await;
        write(pending, &buffer, &cursors).await;
    }
}

/// Buffers one batch, then records how far its containers got.
async fn write(pending: Pending, buffer: &Arc<Buffer>, cursors: &Cursors) {
    let Pending { batch, reached, .. } = pending;
    let body = match serde_json::to_vec(&batch) {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "cannot encode a log batch");
            return;
        }
    };
    let writer = Arc::clone(buffer);
    match tokio::task::spawn_blocking(move || writer.push(&body)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            // A full or broken disk: the lines are lost; say so loudly.
            tracing::error!(%error, lines = batch.streams.iter().map(|s| s.events.len()).sum::<usize>(),
                "cannot buffer log lines; they are dropped");
            return;
        }
        Err(error) => {
            tracing::error!(%error, "the log buffer writer failed");
            return;
        }
    }
    let saver = cursors.clone();
    let _ = tokio::task::spawn_blocking(move || saver.advance(&reached)).await;
}

/// A batch being gathered.
#[derive(Default)]
struct Pending {
    batch: LogBatch,
    /// Index of each destination's stream in `batch.streams`.
    index: HashMap<(String, String), usize>,
    reached: HashMap<String, Cursor>,
    lines: usize,
    bytes: usize,
}

impl Pending {
    fn add(&mut self, chunk: Chunk) {
        self.lines += chunk.lines.len();
        self.bytes += chunk.bytes();
        let Chunk { docker_id, destination, lines, cursor } = chunk;
        let key = (destination.group.clone(), destination.stream.clone());
        let at = *self.index.entry(key).or_insert_with(|| {
            self.batch.streams.push(LogStreamBatch {
                group: destination.group,
                stream: destination.stream,
                create_group: destination.create_group,
                task_arn: Some(destination.task_arn),
                events: Vec::new(),
            });
            self.batch.streams.len() - 1
        });
        self.batch.streams[at].events.extend(lines);
        self.reached.insert(docker_id, cursor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_api::agent::LogLine;
    use flotilla_api::taskdef::LogConfiguration;

    fn container(options: &[(&str, &str)]) -> ContainerDefinition {
        ContainerDefinition {
            name: Some("web".into()),
            log_configuration: Some(LogConfiguration {
                log_driver: "awslogs".into(),
                options: Some(
                    options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                ),
                ..LogConfiguration::default()
            }),
            ..ContainerDefinition::default()
        }
    }

    #[test]
    fn streams_are_named_as_ecs_names_them() {
        let spec = TaskSpec {
            task_arn: "arn:aws:ecs:us-east-1:000000000000:task/default/abc123".into(),
            ..TaskSpec::default()
        };
        let with_prefix =
            container(&[("awslogs-group", "/ecs/web"), ("awslogs-stream-prefix", "app")]);
        assert_eq!(
            destination(&spec, &with_prefix, "d0cker"),
            Some(Destination {
                group: "/ecs/web".into(),
                stream: "app/web/abc123".into(),
                create_group: false,
                task_arn: spec.task_arn.clone(),
            })
        );
        let bare = container(&[("awslogs-group", "g"), ("awslogs-create-group", "true")]);
        assert_eq!(
            destination(&spec, &bare, "d0cker"),
            Some(Destination {
                group: "g".into(),
                stream: "d0cker".into(),
                create_group: true,
                task_arn: spec.task_arn.clone(),
            })
        );
        assert_eq!(destination(&spec, &container(&[]), "d0cker"), None);
        let mut json_file = container(&[("awslogs-group", "g")]);
        if let Some(log) = json_file.log_configuration.as_mut() {
            log.log_driver = "json-file".into();
        }
        assert_eq!(destination(&spec, &json_file, "d0cker"), None);
    }

    #[test]
    fn a_batch_keeps_each_stream_in_order() {
        let destination = |stream: &str| Destination {
            group: "g".into(),
            stream: stream.into(),
            create_group: false,
            task_arn: "arn:aws:ecs:us-east-1:000000000000:task/default/abc".into(),
        };
        let line = |n: i64| LogLine { timestamp: n, message: format!("line {n}") };
        let mut pending = Pending::default();
        for (id, stream, lines, cursor) in [
            ("a", "s1", vec![line(1), line(2)], 20),
            ("b", "s2", vec![line(3)], 30),
            ("a", "s1", vec![line(4)], 40),
        ] {
            pending.add(Chunk {
                docker_id: id.into(),
                destination: destination(stream),
                lines,
                cursor: Cursor { ns: cursor, same: 1 },
            });
        }
        assert_eq!(pending.lines, 4);
        assert_eq!(pending.batch.streams.len(), 2);
        assert_eq!(pending.batch.streams[0].events, vec![line(1), line(2), line(4)]);
        assert_eq!(pending.batch.streams[1].events, vec![line(3)]);
        assert_eq!(pending.reached.get("a"), Some(&Cursor { ns: 40, same: 1 }));
    }
}

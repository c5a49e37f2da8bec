//! The on-disk buffer between capture and shipping: one file per batch, written atomically,
//! shipped oldest first, deleted once the server has them. Bounded: when it is full, capture
//! waits (Docker keeps the lines in the container's own log file meanwhile).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::sync::Notify;

/// Files are `<sequence>.json`, zero-padded so that names sort like sequences.
const SUFFIX: &str = ".json";

#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    #[error("log buffer {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

pub struct Buffer {
    dir: PathBuf,
    max_bytes: u64,
    inner: Mutex<Files>,
    /// Woken when a batch is added (the shipper waits on it).
    pub added: Notify,
    /// Woken when a batch is removed (capture waits on it when the buffer is full).
    pub removed: Notify,
}

#[derive(Default)]
struct Files {
    next: u64,
    bytes: u64,
    sizes: BTreeMap<u64, u64>,
}

impl Buffer {
    /// Opens `dir`, keeping what a previous run left unshipped.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Buffer, BufferError> {
        let io = |source| BufferError::Io { path: dir.display().to_string(), source };
        crate::credential::create_private_dir(dir).map_err(io)?;
        let mut files = Files::default();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            // A batch whose write a crash interrupted: never acknowledged to anyone.
            if name.to_str().is_some_and(|n| n.ends_with(".tmp")) {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let Some(seq) = name.to_str().and_then(|n| n.strip_suffix(SUFFIX)?.parse::<u64>().ok())
            else {
                continue;
            };
            let size = entry.metadata().map_err(io)?.len();
            files.sizes.insert(seq, size);
            files.bytes += size;
            files.next = files.next.max(seq + 1);
        }
        if !files.sizes.is_empty() {
            tracing::info!(
                batches = files.sizes.len(),
                bytes = files.bytes,
                "unshipped logs found"
            );
        }
        Ok(Buffer {
            dir: dir.to_path_buf(),
            max_bytes,
            inner: Mutex::new(files),
            added: Notify::new(),
            removed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Files> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}{SUFFIX}"))
    }

    /// Bytes buffered now.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Whether another batch may be added.
    pub fn has_room(&self) -> bool {
        self.lock().bytes < self.max_bytes
    }

    /// Waits until the buffer has room.
    pub async fn room(&self) {
        loop {
            let removed = self.removed.notified();
            if self.has_room() {
                return;
            }
            removed.await;
        }
    }

    /// Adds a batch durably (written to a temporary file, synced, renamed). Blocking IO: call
    /// from a blocking thread.
    pub fn push(&self, body: &[u8]) -> Result<(), BufferError> {
        let seq = {
            let mut files = self.lock();
            files.next += 1;
            files.next - 1
        };
        let path = self.path(seq);
        let temporary = path.with_extension("tmp");
        let io = |source| BufferError::Io { path: path.display().to_string(), source };
        let mut file = crate::credential::create_private(&temporary).map_err(io)?;
        file.write_all(body).map_err(io)?;
        file.sync_data().map_err(io)?;
        std::fs::rename(&temporary, &path).map_err(io)?;
        // The rename itself must survive a power loss before cursors move past these lines.
        std::fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io)?;
        {
            let mut files = self.lock();
            files.sizes.insert(seq, body.len() as u64);
            files.bytes += body.len() as u64;
        }
        self.added.notify_one();
        Ok(())
    }

    /// The oldest batch: its sequence and contents. A batch that cannot be read is set aside
    /// (renamed `<n>.unreadable`, for a human to look at) so that it cannot stop the rest.
    pub fn oldest(&self) -> Result<Option<(u64, Vec<u8>)>, BufferError> {
        let Some(seq) = self.lock().sizes.keys().next().copied() else { return Ok(None) };
        let path = self.path(seq);
        match std::fs::read(&path) {
            Ok(body) => Ok(Some((seq, body))),
            Err(source) => {
                let _ = std::fs::rename(&path, path.with_extension("unreadable"));
                self.forget(seq);
                Err(BufferError::Io { path: path.display().to_string(), source })
            }
        }
    }

    fn forget(&self, seq: u64) {
        {
            let mut files = self.lock();
            if let Some(size) = files.sizes.remove(&seq) {
                files.bytes -= size;
            }
        }
        self.removed.notify_waiters();
    }

    /// Forgets a shipped batch.
    pub fn remove(&self, seq: u64) -> Result<(), BufferError> {
        let path = self.path(seq);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(BufferError::Io { path: path.display().to_string(), source })
            }
        }
        self.forget(seq);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_come_out_in_order_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let buffer = Buffer::open(dir.path(), 1000).expect("open");
        buffer.push(b"one").expect("push");
        buffer.push(b"two").expect("push");
        assert_eq!(buffer.bytes(), 6);
        let (first, body) = buffer.oldest().expect("read").expect("a batch");
        assert_eq!(body, b"one");
        buffer.remove(first).expect("remove");

        let reopened = Buffer::open(dir.path(), 1000).expect("reopen");
        assert_eq!(reopened.bytes(), 3);
        let (second, body) = reopened.oldest().expect("read").expect("a batch");
        assert_eq!(body, b"two");
        assert!(second > first);
        reopened.push(b"three").expect("push");
        reopened.remove(second).expect("remove");
        assert_eq!(reopened.oldest().expect("read").expect("a batch").1, b"three");
    }

    #[test]
    fn an_unreadable_batch_is_set_aside_and_an_interrupted_write_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("00000000000000000007.tmp"), b"half").expect("tmp");
        let buffer = Buffer::open(dir.path(), 1000).expect("open");
        assert_eq!(buffer.bytes(), 0);
        assert!(!dir.path().join("00000000000000000007.tmp").exists());
        buffer.push(b"one").expect("push");
        buffer.push(b"two").expect("push");
        let (first, _) = buffer.oldest().expect("read").expect("a batch");
        std::fs::remove_file(buffer.path(first)).expect("lose the file");
        assert!(buffer.oldest().is_err());
        assert_eq!(buffer.oldest().expect("read").expect("the next").1, b"two");
    }

    #[test]
    fn a_full_buffer_has_no_room_until_a_batch_ships() {
        let dir = tempfile::tempdir().expect("tempdir");
        let buffer = Buffer::open(dir.path(), 5).expect("open");
        assert!(buffer.has_room());
        buffer.push(b"123456").expect("push");
        assert!(!buffer.has_room());
        let (seq, _) = buffer.oldest().expect("read").expect("a batch");
        buffer.remove(seq).expect("remove");
        assert!(buffer.has_room());
    }
}

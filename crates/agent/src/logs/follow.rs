//! One container's output: follows `docker logs` from where the buffer last got to, and hands
//! the lines on in chunks of whatever arrived together (so a fast writer makes big chunks and a
//! slow one is not held back).

use std::sync::Arc;

use flotilla_api::agent::LogLine;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc;

use super::Destination;
use crate::runtime::Runtime;

/// Lines per chunk at most.
const CHUNK_LINES: usize = 1000;
/// CloudWatch's largest event is 256 KiB (with 26 bytes of overhead); longer lines are split.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 - 26;

/// Lines of one container, in order.
pub struct Chunk {
    pub docker_id: String,
    pub destination: Destination,
    pub lines: Vec<LogLine>,
    /// Docker's timestamp of the last line, nanoseconds: where a restarted follower resumes.
    pub cursor_ns: i64,
}

/// Follows until the container's output ends (it stopped) or the runtime fails; returns the
/// cursor reached.
pub async fn follow(
    runtime: Arc<dyn Runtime>,
    docker_id: String,
    destination: Destination,
    mut cursor_ns: i64,
    chunks: mpsc::Sender<Chunk>,
) -> Result<i64, String> {
    let mut records = runtime.follow_logs(&docker_id, cursor_ns);
    loop {
        let Some(first) = records.next().await else { return Ok(cursor_ns) };
        let mut lines = Vec::new();
        let mut next = Some(first);
        while let Some(record) = next.take() {
            let record = record.map_err(|e| e.to_string())?;
            // Docker resumes at a whole second: skip what the buffer already has.
            if record.timestamp_ns > cursor_ns {
                cursor_ns = record.timestamp_ns;
                push_split(&mut lines, record.timestamp_ns / 1_000_000, record.line);
            }
            if lines.len() >= CHUNK_LINES {
                break;
            }
            next = records.next().now_or_never().flatten();
        }
        if lines.is_empty() {
            continue;
        }
        let chunk = Chunk {
            docker_id: docker_id.clone(),
            destination: destination.clone(),
            lines,
            cursor_ns,
        };
        // Waits while the buffer is full: back-pressure reaches Docker's log reader.
        if chunks.send(chunk).await.is_err() {
            return Ok(cursor_ns);
        }
    }
}

/// Adds `line`, split into pieces CloudWatch accepts (on character boundaries).
fn push_split(lines: &mut Vec<LogLine>, timestamp: i64, line: String) {
    if line.len() <= MAX_MESSAGE_BYTES {
        lines.push(LogLine { timestamp, message: line });
        return;
    }
    let mut rest = line.as_str();
    while !rest.is_empty() {
        let mut end = rest.len().min(MAX_MESSAGE_BYTES);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        lines.push(LogLine { timestamp, message: rest[..end].to_string() });
        rest = &rest[end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_split_on_character_boundaries() {
        let mut lines = Vec::new();
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        push_split(&mut lines, 7, long.clone());
        assert!(lines.len() >= 2);
        assert!(lines.iter().all(|l| l.message.len() <= MAX_MESSAGE_BYTES && l.timestamp == 7));
        assert_eq!(lines.iter().map(|l| l.message.as_str()).collect::<String>(), long);
        let mut short = Vec::new();
        push_split(&mut short, 1, "hello".into());
        assert_eq!(short, vec![LogLine { timestamp: 1, message: "hello".into() }]);
    }
}

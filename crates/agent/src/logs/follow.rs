//! One container's output: follows `docker logs` from where capture last got to, joins the
//! pieces Docker splits long lines into, and hands the lines on in chunks of whatever arrived
//! together (so a fast writer makes big chunks and a slow one is not held back).

use std::sync::Arc;

use flotilla_api::agent::LogLine;
use futures_util::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::Destination;
use crate::runtime::Runtime;

/// Lines per chunk at most.
const CHUNK_LINES: usize = 1000;
/// Message bytes per chunk at most (a batch must stay far below the server's 8 MiB limit).
const CHUNK_BYTES: usize = 512 * 1024;
/// CloudWatch's largest event is 256 KiB (with 26 bytes of overhead); longer lines are split.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 - 26;
/// What a line costs in a batch besides its message (CloudWatch's own accounting).
pub const EVENT_OVERHEAD: usize = 26;

/// Where capture of a container got to: Docker's timestamp of the last line handed on, and how
/// many lines handed on carry exactly that timestamp (lines can share one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cursor {
    pub ns: i64,
    pub same: u32,
}

impl Cursor {
    fn advance(&mut self, ns: i64) {
        if ns == self.ns {
            self.same = self.same.saturating_add(1);
        } else {
            *self = Cursor { ns, same: 1 };
        }
    }
}

/// Lines of one container, in order.
pub struct Chunk {
    pub docker_id: String,
    pub destination: Destination,
    pub lines: Vec<LogLine>,
    /// Where a restarted follower resumes once these lines are buffered.
    pub cursor: Cursor,
}

impl Chunk {
    /// Bytes the chunk adds to a batch, as CloudWatch counts them.
    pub fn bytes(&self) -> usize {
        self.lines.iter().map(|l| l.message.len() + EVENT_OVERHEAD).sum()
    }
}

/// How a follower ended: the cursor of the last line it handed on, and why it stopped (`Ok`:
/// the container's output ended).
pub type Ended = (Cursor, Result<(), String>);

/// Follows from `resume` until the container's output ends or the runtime fails.
pub async fn follow(
    runtime: Arc<dyn Runtime>,
    docker_id: String,
    destination: Destination,
    resume: Cursor,
    chunks: mpsc::Sender<Chunk>,
) -> Ended {
    let mut records = runtime.follow_logs(&docker_id, resume.ns);
    let mut reader = Reader::new(resume);
    loop {
        let Some(first) = records.next().await else {
            let lines = reader.finish();
            return (send(&chunks, &docker_id, &destination, lines, &mut reader).await, Ok(()));
        };
        let mut failure = None;
        let mut next = Some(first);
        while let Some(record) = next.take() {
            match record {
                Ok(record) => reader.take(record),
                Err(error) => {
                    failure = Some(error.to_string());
                    break;
                }
            }
            if reader.lines.len() >= CHUNK_LINES || reader.bytes >= CHUNK_BYTES {
                break;
            }
            next = records.next().now_or_never().flatten();
        }
        let lines = std::mem::take(&mut reader.lines);
        let handed = send(&chunks, &docker_id, &destination, lines, &mut reader).await;
        if let Some(error) = failure {
            return (handed, Err(error));
        }
        if chunks.is_closed() {
            return (handed, Ok(()));
        }
    }
}

/// Hands `lines` on (waiting while the buffer is full: back-pressure reaches Docker's log
/// reader); returns the cursor of what has been handed on.
async fn send(
    chunks: &mpsc::Sender<Chunk>,
    docker_id: &str,
    destination: &Destination,
    lines: Vec<LogLine>,
    reader: &mut Reader,
) -> Cursor {
    reader.bytes = 0;
    if lines.is_empty() {
        return reader.handed;
    }
    let chunk = Chunk {
        docker_id: docker_id.to_string(),
        destination: destination.clone(),
        lines,
        cursor: reader.cursor,
    };
    if chunks.send(chunk).await.is_ok() {
        reader.handed = reader.cursor;
    }
    reader.handed
}

/// Turns records into lines: skips what was captured before `resume`, joins long lines' pieces.
struct Reader {
    /// Lines at the resume timestamp still to skip; `None` once past the resume point.
    skipping: Option<(i64, u32)>,
    /// A long line being joined: its timestamp and text so far.
    partial: Option<(i64, String)>,
    lines: Vec<LogLine>,
    bytes: usize,
    /// After the last line taken.
    cursor: Cursor,
    /// After the last line handed on.
    handed: Cursor,
}

impl Reader {
    fn new(resume: Cursor) -> Reader {
        Reader {
            skipping: (resume != Cursor::default()).then_some((resume.ns, resume.same)),
            partial: None,
            lines: Vec::new(),
            bytes: 0,
            cursor: resume,
            handed: resume,
        }
    }

    fn take(&mut self, record: crate::runtime::LogRecord) {
        // Docker resumes at a whole second: lines up to the cursor come again. Only there are
        // lines skipped; later, every line counts, even one stamped out of order.
        if let Some((ns, left)) = self.skipping.as_mut() {
            if record.timestamp_ns < *ns {
                return;
            }
            if record.timestamp_ns == *ns && *left > 0 {
                if !record.partial {
                    *left -= 1;
                }
                return;
            }
            self.skipping = None;
        }
        let (stamp, text) = match self.partial.take() {
            Some((stamp, mut text)) => {
                text.push_str(&record.line);
                (stamp, text)
            }
            None => (record.timestamp_ns, record.line),
        };
        if record.partial && text.len() < MAX_MESSAGE_BYTES {
            self.partial = Some((stamp, text));
            return;
        }
        self.cursor.advance(stamp);
        self.bytes += text.len() + EVENT_OVERHEAD;
        push_split(&mut self.lines, stamp.div_euclid(1_000_000), text);
    }

    /// The output ended: a last unfinished line counts as a line.
    fn finish(&mut self) -> Vec<LogLine> {
        if let Some((stamp, text)) = self.partial.take() {
            self.cursor.advance(stamp);
            push_split(&mut self.lines, stamp.div_euclid(1_000_000), text);
        }
        std::mem::take(&mut self.lines)
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
    use crate::runtime::LogRecord;

    fn record(ns: i64, line: &str, partial: bool) -> LogRecord {
        LogRecord { timestamp_ns: ns, line: line.to_string(), partial }
    }

    fn messages(reader: &mut Reader) -> Vec<String> {
        reader.finish().into_iter().map(|l| l.message).collect()
    }

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

    #[test]
    fn pieces_of_a_long_line_are_joined_with_the_first_pieces_time() {
        let mut reader = Reader::new(Cursor::default());
        reader.take(record(5_000_000, "aaa", true));
        reader.take(record(5_000_000, "bbb", true));
        reader.take(record(5_000_000, "c", false));
        reader.take(record(6_000_000, "next", false));
        let lines = reader.finish();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], LogLine { timestamp: 5, message: "aaabbbc".into() });
        assert_eq!(reader.cursor, Cursor { ns: 6_000_000, same: 1 });
    }

    #[test]
    fn lines_sharing_a_timestamp_or_out_of_order_all_count() {
        let mut reader = Reader::new(Cursor::default());
        for (ns, line) in [(10, "a"), (10, "b"), (9, "c"), (10, "d")] {
            reader.take(record(ns, line, false));
        }
        assert_eq!(messages(&mut reader), ["a", "b", "c", "d"]);
    }

    #[test]
    fn a_resumed_follower_skips_exactly_what_it_handed_on() {
        // Handed on before: up to the second line stamped 20.
        let resume = Cursor { ns: 20, same: 2 };
        let mut reader = Reader::new(resume);
        for (ns, line) in [(10, "old"), (20, "x1"), (20, "x2"), (20, "x3"), (30, "new")] {
            reader.take(record(ns, line, false));
        }
        assert_eq!(messages(&mut reader), ["x3", "new"]);
        assert_eq!(reader.cursor, Cursor { ns: 30, same: 1 });
    }

    #[test]
    fn an_unfinished_last_line_counts_when_the_output_ends() {
        let mut reader = Reader::new(Cursor::default());
        reader.take(record(1_000_000, "no newline", true));
        assert_eq!(messages(&mut reader), ["no newline"]);
    }
}

//! One container's output: follows `docker logs` from where capture last got to, joins the
//! pieces Docker splits long lines into, and hands the lines on in chunks of whatever arrived
//! together (so a fast writer makes big chunks and a slow one is not held back).

use std::sync::Arc;

use flotilla_api::agent::LogLine;
use futures_util::{FutureExt, StreamExt};
use regex::Regex;
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
/// A multiline event with no line after it for this long is complete.
const MULTILINE_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

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

/// Follows from `resume` until the container's output ends or the runtime fails. With a
/// `start` pattern (multiline), lines are gathered into events that begin with a matching line.
pub async fn follow(
    runtime: Arc<dyn Runtime>,
    docker_id: String,
    destination: Destination,
    resume: Cursor,
    start: Option<Regex>,
    chunks: mpsc::Sender<Chunk>,
) -> Ended {
    let mut records = runtime.follow_logs(&docker_id, resume.ns);
    let mut reader = Reader::new(resume, start);
    loop {
        let next = if reader.event.is_some() {
            match tokio::time::timeout(MULTILINE_FLUSH, records.next()).await {
                Ok(next) => next,
                Err(_) => {
                    // Quiet for a while: the event being gathered is complete.
                    reader.flush_event();
                    let lines = std::mem::take(&mut reader.lines);
                    send(&chunks, &docker_id, &destination, lines, &mut reader).await;
                    continue;
                }
            }
        } else {
            records.next().await
        };
        let Some(first) = next else {
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
    let settled = reader.settled();
    let chunk = Chunk {
        docker_id: docker_id.to_string(),
        destination: destination.clone(),
        lines,
        cursor: settled,
    };
    if chunks.send(chunk).await.is_ok() {
        reader.handed = settled;
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
    /// The multiline start pattern, if any.
    start: Option<Regex>,
    /// The multiline event being gathered: its first line's timestamp and its text.
    event: Option<(i64, String)>,
    /// The cursor before the event's first line: where to resume while it is incomplete.
    event_cursor: Cursor,
}

impl Reader {
    fn new(resume: Cursor, start: Option<Regex>) -> Reader {
        Reader {
            skipping: (resume != Cursor::default()).then_some((resume.ns, resume.same)),
            partial: None,
            lines: Vec::new(),
            bytes: 0,
            cursor: resume,
            handed: resume,
            start,
            event: None,
            event_cursor: resume,
        }
    }

    /// Where a follower may resume once the lines taken so far are handed on: before a
    /// multiline event still being gathered.
    fn settled(&self) -> Cursor {
        if self.event.is_some() {
            self.event_cursor
        } else {
            self.cursor
        }
    }

    /// A complete line: an event of its own, or part of the multiline event.
    fn settle(&mut self, before: Cursor, stamp: i64, text: String) {
        let Some(start) = &self.start else {
            self.emit(stamp, text);
            return;
        };
        let begins = start.is_match(&text);
        match self.event.take() {
            Some((first, mut joined))
                if !begins && joined.len() + 1 + text.len() <= MAX_MESSAGE_BYTES =>
            {
                joined.push('\n');
                joined.push_str(&text);
                self.event = Some((first, joined));
            }
            previous => {
                if let Some((first, joined)) = previous {
                    self.emit(first, joined);
                }
                self.event_cursor = before;
                self.event = Some((stamp, text));
            }
        }
    }

    fn emit(&mut self, stamp: i64, text: String) {
        self.bytes += text.len() + EVENT_OVERHEAD;
        push_split(&mut self.lines, stamp.div_euclid(1_000_000), text);
    }

    /// The multiline event being gathered is complete.
    fn flush_event(&mut self) {
        if let Some((first, joined)) = self.event.take() {
            self.emit(first, joined);
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
        let before = self.cursor;
        self.cursor.advance(stamp);
        self.settle(before, stamp, text);
    }

    /// The output ended: a last unfinished line counts as a line, the event being gathered is
    /// complete.
    fn finish(&mut self) -> Vec<LogLine> {
        if let Some((stamp, text)) = self.partial.take() {
            let before = self.cursor;
            self.cursor.advance(stamp);
            self.settle(before, stamp, text);
        }
        self.flush_event();
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
        let mut reader = Reader::new(Cursor::default(), None);
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
        let mut reader = Reader::new(Cursor::default(), None);
        for (ns, line) in [(10, "a"), (10, "b"), (9, "c"), (10, "d")] {
            reader.take(record(ns, line, false));
        }
        assert_eq!(messages(&mut reader), ["a", "b", "c", "d"]);
    }

    #[test]
    fn a_resumed_follower_skips_exactly_what_it_handed_on() {
        // Handed on before: up to the second line stamped 20.
        let resume = Cursor { ns: 20, same: 2 };
        let mut reader = Reader::new(resume, None);
        for (ns, line) in [(10, "old"), (20, "x1"), (20, "x2"), (20, "x3"), (30, "new")] {
            reader.take(record(ns, line, false));
        }
        assert_eq!(messages(&mut reader), ["x3", "new"]);
        assert_eq!(reader.cursor, Cursor { ns: 30, same: 1 });
    }

    #[test]
    fn multiline_events_begin_at_a_matching_line_and_resume_before_an_open_one() {
        let start = Regex::new("^INFO").expect("regex");
        let mut reader = Reader::new(Cursor::default(), Some(start));
        for (ns, line) in [(1, "INFO one"), (2, "INFO two"), (3, "   at x"), (4, "   at y")] {
            reader.take(record(ns, line, false));
        }
        // "INFO two" is still gathering: only "INFO one" may be handed on, and a restart must
        // come back to just before "INFO two".
        assert_eq!(
            reader.lines.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
            ["INFO one"]
        );
        assert_eq!(reader.settled(), Cursor { ns: 1, same: 1 });
        reader.take(record(5, "INFO three", false));
        assert_eq!(reader.settled(), Cursor { ns: 4, same: 1 });
        assert_eq!(messages(&mut reader), ["INFO one", "INFO two\n   at x\n   at y", "INFO three"]);
        assert_eq!(reader.settled(), Cursor { ns: 5, same: 1 });
    }

    #[test]
    fn an_unfinished_last_line_counts_when_the_output_ends() {
        let mut reader = Reader::new(Cursor::default(), None);
        reader.take(record(1_000_000, "no newline", true));
        assert_eq!(messages(&mut reader), ["no newline"]);
    }
}

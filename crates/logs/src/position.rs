//! Where an event sits: its key in the events table, and the page tokens that encode a key.
//!
//! An event's key is (stream id, timestamp, sequence): a stream's events read in timestamp order
//! (ties in arrival order) and a time range is one key range. Sequences start at 1, so
//! (t, 0) sits just before every event at time t. Tokens are the hex of a position with the sign
//! bit of the timestamp flipped, so they also sort as the positions do; GetLogEvents tokens
//! name their stream's id first.

use flotilla_api::ApiError;

/// A place between or on events of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub timestamp: i64,
    pub sequence: u64,
}

impl Position {
    /// Before every event at `timestamp` or later.
    pub const fn before(timestamp: i64) -> Position {
        Position { timestamp, sequence: 0 }
    }

    pub const START: Position = Position::before(i64::MIN);
    pub const END: Position = Position { timestamp: i64::MAX, sequence: u64::MAX };

    pub fn key(self, stream: u64) -> (u64, i64, u64) {
        (stream, self.timestamp, self.sequence)
    }

    fn bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&sortable(self.timestamp).to_be_bytes());
        out[8..].copy_from_slice(&self.sequence.to_be_bytes());
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<Position> {
        let timestamp = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let sequence = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        Some(Position { timestamp: unsortable(timestamp), sequence })
    }
}

/// An i64 as a u64 that sorts the same way (the sign bit flipped).
pub fn sortable(value: i64) -> u64 {
    (value as u64) ^ (1 << 63)
}

fn unsortable(value: u64) -> i64 {
    (value ^ (1 << 63)) as i64
}

/// Which way a GetLogEvents token reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// A GetLogEvents token: the direction, the stream it belongs to and the position it continues
/// from (exclusive). The stream id makes a token of another stream — or of a stream since
/// deleted and created again under the same name (ids are never reused) — invalid rather than
/// a silent skip to some position of this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventsToken {
    pub direction: Direction,
    pub stream: u64,
    pub position: Position,
}

impl EventsToken {
    pub fn forward(stream: u64, position: Position) -> EventsToken {
        EventsToken { direction: Direction::Forward, stream, position }
    }

    pub fn backward(stream: u64, position: Position) -> EventsToken {
        EventsToken { direction: Direction::Backward, stream, position }
    }

    /// `f/<hex>` or `b/<hex>` of (stream id, position).
    pub fn encode(self) -> String {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&self.stream.to_be_bytes());
        bytes[8..].copy_from_slice(&self.position.bytes());
        let direction = match self.direction {
            Direction::Forward => "f",
            Direction::Backward => "b",
        };
        format!("{direction}/{}", hex::encode(bytes))
    }

    pub fn decode(token: &str) -> Result<EventsToken, ApiError> {
        let (direction, rest) = token.split_once('/').ok_or_else(invalid_token)?;
        let direction = match direction {
            "f" => Direction::Forward,
            "b" => Direction::Backward,
            _ => return Err(invalid_token()),
        };
        let bytes = hex::decode(rest).map_err(|_| invalid_token())?;
        if bytes.len() != 24 {
            return Err(invalid_token());
        }
        let stream = bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or_else(invalid_token)?;
        let position = bytes.get(8..).and_then(Position::from_bytes).ok_or_else(invalid_token)?;
        Ok(EventsToken { direction, stream, position })
    }

    /// The token, if it belongs to stream `stream`.
    pub fn of_stream(self, stream: u64) -> Result<EventsToken, ApiError> {
        if self.stream != stream {
            return Err(invalid_token());
        }
        Ok(self)
    }
}

/// CloudWatch's answer to a token it did not give (or gave for another stream).
pub fn invalid_token() -> ApiError {
    ApiError::invalid("The specified nextToken is invalid.")
}

/// A FilterLogEvents token: the last event looked at, in the merge order
/// (timestamp, stream id, sequence) across the group's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MergePosition {
    pub timestamp: i64,
    pub stream: u64,
    pub sequence: u64,
}

impl MergePosition {
    pub fn encode(self) -> String {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&sortable(self.timestamp).to_be_bytes());
        bytes[8..16].copy_from_slice(&self.stream.to_be_bytes());
        bytes[16..].copy_from_slice(&self.sequence.to_be_bytes());
        hex::encode(bytes)
    }

    pub fn decode(token: &str) -> Result<MergePosition, ApiError> {
        let invalid = invalid_token;
        let bytes = hex::decode(token).map_err(|_| invalid())?;
        let word = |range: std::ops::Range<usize>| -> Result<u64, ApiError> {
            let slice = bytes.get(range).ok_or_else(invalid)?;
            Ok(u64::from_be_bytes(slice.try_into().map_err(|_| invalid())?))
        };
        if bytes.len() != 24 {
            return Err(invalid());
        }
        Ok(MergePosition {
            timestamp: unsortable(word(0..8)?),
            stream: word(8..16)?,
            sequence: word(16..24)?,
        })
    }

    /// Where stream `stream` resumes after this position: its first event in merge order
    /// after (timestamp, stream, sequence).
    pub fn resume_in(self, stream: u64) -> Position {
        use std::cmp::Ordering;
        match stream.cmp(&self.stream) {
            // Streams ordered after the token's: their events at the same time still come.
            Ordering::Greater => Position::before(self.timestamp),
            Ordering::Equal => Position { timestamp: self.timestamp, sequence: self.sequence },
            // Streams ordered before it: their events at that time were already passed.
            Ordering::Less => Position { timestamp: self.timestamp, sequence: u64::MAX },
        }
    }

    /// An event id as CloudWatch shows them: a long decimal number, unique per event.
    pub fn event_id(self) -> String {
        format!("{:016}{:020}{:020}", self.stream, sortable(self.timestamp), self.sequence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_roundtrip() {
        for position in [
            Position::START,
            Position::END,
            Position { timestamp: 1_700_000_000_000, sequence: 42 },
            Position { timestamp: -5, sequence: 0 },
        ] {
            for token in
                [EventsToken::forward(7, position), EventsToken::backward(u64::MAX, position)]
            {
                assert_eq!(EventsToken::decode(&token.encode()).expect("decodes"), token);
            }
        }
        let merge = MergePosition { timestamp: -1, stream: 7, sequence: 9 };
        assert_eq!(MergePosition::decode(&merge.encode()).expect("decodes"), merge);
    }

    #[test]
    fn tokens_sort_as_positions() {
        let a = Position { timestamp: -1, sequence: 5 };
        let b = Position { timestamp: 0, sequence: 1 };
        assert!(a < b);
        assert!(a.bytes() < b.bytes());
    }

    #[test]
    fn foreign_tokens_are_invalid_parameters() {
        let ours = EventsToken::forward(3, Position { timestamp: 5, sequence: 1 }).encode();
        let x = ours.replacen("f/", "x/", 1);
        let short = &ours[..ours.len() - 2];
        // The 16-byte tokens of before, without a stream id, are no longer taken.
        let old = "f/80000000000000050000000000000001";
        for token in ["", "f/", "x/00", "f/zz", "f/0011", &x, short, old] {
            assert!(EventsToken::decode(token).is_err(), "{token}");
        }
        let token = EventsToken::decode(&ours).expect("decodes");
        assert!(token.of_stream(3).is_ok());
        let error = token.of_stream(4).expect_err("another stream's token");
        assert_eq!(error.code, flotilla_api::ErrorCode::InvalidParameterException);
        assert_eq!(error.message, "The specified nextToken is invalid.");
        assert!(MergePosition::decode("f/00").is_err());
        assert!(MergePosition::decode("00").is_err());
    }
}

//! Where an event sits: its key in the events table, and the page tokens that encode a key.
//!
//! An event's key is (stream id, timestamp, sequence): a stream's events read in timestamp order
//! (ties in arrival order) and a time range is one key range. Sequences start at 1, so
//! (t, 0) sits just before every event at time t. Tokens are the hex of a position with the sign
//! bit of the timestamp flipped, so they also sort as the positions do.

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

/// A GetLogEvents token: the direction and the position it continues from (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsToken {
    Forward(Position),
    Backward(Position),
}

impl EventsToken {
    pub fn encode(self) -> String {
        match self {
            EventsToken::Forward(p) => format!("f/{}", hex::encode(p.bytes())),
            EventsToken::Backward(p) => format!("b/{}", hex::encode(p.bytes())),
        }
    }

    pub fn decode(token: &str) -> Result<EventsToken, ApiError> {
        let invalid = || ApiError::invalid("The specified nextToken is invalid.");
        let (direction, rest) = token.split_once('/').ok_or_else(invalid)?;
        let bytes = hex::decode(rest).map_err(|_| invalid())?;
        if bytes.len() != 16 {
            return Err(invalid());
        }
        let position = Position::from_bytes(&bytes).ok_or_else(invalid)?;
        match direction {
            "f" => Ok(EventsToken::Forward(position)),
            "b" => Ok(EventsToken::Backward(position)),
            _ => Err(invalid()),
        }
    }
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
        let invalid = || ApiError::invalid("The specified nextToken is invalid.");
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
            for token in [EventsToken::Forward(position), EventsToken::Backward(position)] {
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
        for token in ["", "f/", "x/00", "f/zz", "f/0011", "b/00000000000000000000000000000000ff"] {
            assert!(EventsToken::decode(token).is_err(), "{token}");
        }
        assert!(MergePosition::decode("f/00").is_err());
        assert!(MergePosition::decode("00").is_err());
    }
}

//! Ticker polls waiting for PostgreSQL, bounded. Pure.
//!
//! Only tickers are buffered: each poll is a snapshot that cannot be fetched again later. Klines
//! need no buffer, since their cursor stays at the last stored candle until PostgreSQL is back,
//! and the backfill then fetches every candle missed, from Binance, which keeps them.

use std::collections::VecDeque;

use binance::Ticker24h;
use chrono::{DateTime, Utc};

/// One ticker poll as fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct TickerPoll {
    pub tickers: Vec<Ticker24h>,
    pub fetched_at: DateTime<Utc>,
}

/// At most `capacity` polls, oldest first. When full, the oldest poll makes room: recent
/// prices matter more than old ones, and memory stays bounded however long PostgreSQL is down.
#[derive(Debug)]
pub struct TickerBuffer {
    polls: VecDeque<TickerPoll>,
    capacity: usize,
}

impl TickerBuffer {
    pub fn new(capacity: usize) -> Self {
        TickerBuffer {
            polls: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Adds a poll; returns the poll dropped to make room, if one was.
    pub fn push(&mut self, poll: TickerPoll) -> Option<TickerPoll> {
        let dropped = if self.polls.len() >= self.capacity {
            self.polls.pop_front()
        } else {
            None
        };
        self.polls.push_back(poll);
        dropped
    }

    /// The oldest poll, the next to write.
    pub fn front(&self) -> Option<&TickerPoll> {
        self.polls.front()
    }

    /// Removes the oldest poll once it is written (or cannot ever be).
    pub fn pop_front(&mut self) -> Option<TickerPoll> {
        self.polls.pop_front()
    }

    pub fn len(&self) -> usize {
        self.polls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.polls.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(second: i64) -> TickerPoll {
        TickerPoll {
            tickers: Vec::new(),
            fetched_at: DateTime::from_timestamp(second, 0).unwrap(),
        }
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_poll() {
        let mut buffer = TickerBuffer::new(2);
        assert_eq!(buffer.push(poll(1)), None);
        assert_eq!(buffer.push(poll(2)), None);
        assert_eq!(buffer.push(poll(3)), Some(poll(1)));
        assert_eq!(buffer.len(), 2);
        assert_eq!(buffer.pop_front(), Some(poll(2)));
        assert_eq!(buffer.front(), Some(&poll(3)));
        assert_eq!(buffer.pop_front(), Some(poll(3)));
        assert!(buffer.is_empty());
    }

    #[test]
    fn capacity_is_at_least_one() {
        let mut buffer = TickerBuffer::new(0);
        assert_eq!(buffer.push(poll(1)), None);
        assert_eq!(buffer.push(poll(2)), Some(poll(1)));
    }
}

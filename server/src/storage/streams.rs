use async_trait::async_trait;

use super::Error;

/// The last committed position of each stream a sync token carries that lives in the
/// database (typing and presence live in memory).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamHeads {
    pub events: i64,
    pub receipts: i64,
    pub account_data: i64,
    pub device_lists: i64,
    /// The last to-device message still queued, for any device (0 when none is): a device
    /// whose token is at or past it has nothing waiting. Messages are numbered without
    /// reuse, so one queued later is always past it.
    pub to_device: i64,
}

#[async_trait]
pub trait StreamStore: Send + Sync {
    /// Every head in one statement: a sync needs all of them, and on PostgreSQL each
    /// statement is a round trip.
    async fn stream_heads(&self) -> Result<StreamHeads, Error>;
}

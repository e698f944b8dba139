use async_trait::async_trait;

use super::Error;

/// A read receipt: `thread_id` is `""` for an unthreaded receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub room_id: String,
    pub user_id: String,
    pub receipt_type: String,
    pub thread_id: String,
    pub event_id: String,
    pub ts: i64,
    pub stream_id: i64,
}

#[async_trait]
pub trait ReceiptStore: Send + Sync {
    /// Replaces the user's receipt of that type (and thread) in the room; returns its stream id.
    async fn put_receipt(&self, receipt: Receipt) -> Result<i64, Error>;
    /// The room's receipts whose stream id is above `after`.
    async fn receipts_after(&self, room_id: &str, after: i64) -> Result<Vec<Receipt>, Error>;
}

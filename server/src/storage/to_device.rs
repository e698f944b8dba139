use async_trait::async_trait;
use serde_json::Value;

use super::Error;

/// One message for one device.
#[derive(Debug, Clone, PartialEq)]
pub struct ToDeviceMessage {
    pub user_id: String,
    pub device_id: String,
    pub sender: String,
    pub event_type: String,
    pub content: Value,
}

/// A queued message as a device receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedToDevice {
    pub stream_id: i64,
    pub sender: String,
    pub event_type: String,
    pub content: Value,
}

#[async_trait]
pub trait ToDeviceStore: Send + Sync {
    /// Queues `messages` sent by (`sender`, `sender_device`) under `txn_id`, in one
    /// transaction; `false` (and nothing queued) when that transaction id was used before.
    async fn queue_to_device(
        &self,
        sender: &str,
        sender_device: &str,
        txn_id: &str,
        messages: Vec<ToDeviceMessage>,
    ) -> Result<bool, Error>;
    /// Messages for the device with a stream id above `after`, oldest first, at most `limit`.
    async fn to_device_after(
        &self,
        user_id: &str,
        device_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<QueuedToDevice>, Error>;
    /// Deletes the device's messages up to `up_to`: it has acknowledged them.
    async fn ack_to_device(&self, user_id: &str, device_id: &str, up_to: i64) -> Result<(), Error>;
}

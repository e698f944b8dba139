use async_trait::async_trait;
use serde_json::Value;

use super::Error;

/// One piece of a user's account data; `room_id` is `""` for global data.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountData {
    pub room_id: String,
    pub data_type: String,
    pub content: Value,
    pub stream_id: i64,
}

#[async_trait]
pub trait AccountDataStore: Send + Sync {
    /// Sets (replacing) one piece of account data; returns its new stream id. Callers
    /// serialise writes, as the id is the stream's maximum plus one.
    async fn put_account_data(
        &self,
        user_id: &str,
        room_id: &str,
        data_type: &str,
        content: &Value,
    ) -> Result<i64, Error>;
    async fn get_account_data(
        &self,
        user_id: &str,
        room_id: &str,
        data_type: &str,
    ) -> Result<Option<Value>, Error>;
    /// The user's account data changed after stream id `after`, global and per room.
    async fn account_data_after(
        &self,
        user_id: &str,
        after: i64,
    ) -> Result<Vec<AccountData>, Error>;
    /// Every user who has global account data of `data_type`.
    async fn users_with_account_data(&self, data_type: &str) -> Result<Vec<String>, Error>;
}

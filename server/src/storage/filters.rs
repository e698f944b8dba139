use async_trait::async_trait;
use serde_json::Value;

use super::Error;

/// Sync filters a client uploaded, by user and id.
#[async_trait]
pub trait FilterStore: Send + Sync {
    async fn save_filter(&self, user_id: &str, filter_id: &str, filter: Value)
    -> Result<(), Error>;
    async fn get_filter(&self, user_id: &str, filter_id: &str) -> Result<Option<Value>, Error>;
}

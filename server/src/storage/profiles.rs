use std::collections::BTreeMap;

use async_trait::async_trait;
use ruma::UserId;
use serde_json::Value;

use super::Error;

/// A user's profile: named fields with JSON values (`displayname`, `avatar_url`, `m.tz`, …).
#[async_trait]
pub trait ProfileStore: Send + Sync {
    async fn get_profile(&self, user_id: &UserId) -> Result<BTreeMap<String, Value>, Error>;
    async fn get_profile_field(
        &self,
        user_id: &UserId,
        field: &str,
    ) -> Result<Option<Value>, Error>;
    /// Sets a field, replacing any previous value.
    async fn set_profile_field(
        &self,
        user_id: &UserId,
        field: &str,
        value: Value,
    ) -> Result<(), Error>;
    /// Removes a field; false if it was not set.
    async fn delete_profile_field(&self, user_id: &UserId, field: &str) -> Result<bool, Error>;
}

use async_trait::async_trait;
use ruma::{OwnedDeviceId, OwnedUserId, UserId};
use serde_json::Value;

use super::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub display_name: Option<String>,
    pub created_ts: i64,
    pub last_seen_ts: Option<i64>,
    pub last_seen_ip: Option<String>,
}

/// Whose session an access token opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub expires_ts: Option<i64>,
    /// Read with the token, so authenticating a request is one query.
    pub is_guest: bool,
    /// The token came from a refresh and has not been used before: its first use retires the
    /// refresh token it was exchanged for ([`DeviceStore::retire_refreshed`]).
    pub retires_refresh: bool,
}

/// Devices and the access tokens that belong to them (a token never outlives its device).
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Creates the device if it does not exist (a login may reuse a device id), and issues a
    /// token for it, in one transaction.
    async fn create_device_with_token(
        &self,
        device: Device,
        token_hash: String,
        expires_ts: Option<i64>,
    ) -> Result<(), Error>;
    async fn get_device(&self, user_id: &UserId, device_id: &str) -> Result<Option<Device>, Error>;
    async fn list_devices(&self, user_id: &UserId) -> Result<Vec<Device>, Error>;
    /// Deletes a device and its tokens; false if there was no such device.
    async fn delete_device(&self, user_id: &UserId, device_id: &str) -> Result<bool, Error>;
    /// Deletes every device and token of the user; returns how many devices went.
    async fn delete_all_devices(&self, user_id: &UserId) -> Result<u64, Error>;
    async fn find_token(&self, token_hash: &str) -> Result<Option<TokenOwner>, Error>;
    /// Records a refresh token for the session that `access_token_hash` opens.
    async fn add_refresh_token(
        &self,
        refresh_token_hash: String,
        access_token_hash: String,
        created_ts: i64,
    ) -> Result<(), Error>;
    /// Exchanges a refresh token for a new pair for the same device, in one transaction, by
    /// the spec's rule: the old refresh token stays valid until the new access or refresh
    /// token is used. The first exchange retires the old access token and the refresh token
    /// before the old one; exchanging the old one again (a client that never saw the answer)
    /// replaces its unused successor pair. `None` when the token is unknown or retired.
    async fn rotate_refresh_token(
        &self,
        old_refresh_hash: &str,
        new_access_hash: String,
        new_access_expires_ts: Option<i64>,
        new_refresh_hash: String,
        now: i64,
    ) -> Result<Option<TokenOwner>, Error>;
    /// On the first use of an access token from a refresh: retires the refresh token it was
    /// exchanged for.
    async fn retire_refreshed(&self, access_token_hash: &str) -> Result<(), Error>;
    /// Renames a device; false if there is no such device.
    async fn set_display_name(
        &self,
        user_id: &UserId,
        device_id: &str,
        display_name: Option<String>,
    ) -> Result<bool, Error>;
    /// Replaces the user's dehydrated device in one transaction: the old one goes as a deleted
    /// device does, then `device` is created (without tokens) holding `device_data`. A
    /// `Conflict` when the user already has another device with that id.
    async fn put_dehydrated_device(&self, device: Device, device_data: Value) -> Result<(), Error>;
    /// The user's dehydrated device: its id and data.
    async fn dehydrated_device(&self, user_id: &UserId) -> Result<Option<(String, Value)>, Error>;
    /// Deletes the user's dehydrated device as a deleted device; its id, if there was one.
    async fn delete_dehydrated_device(&self, user_id: &UserId) -> Result<Option<String>, Error>;
}

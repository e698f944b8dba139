use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

use super::Error;

/// A one-time or fallback key: `algorithm:key_id` split, and the key object.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    pub algorithm: String,
    pub key_id: String,
    pub key: Value,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn put_device_keys(
        &self,
        user_id: &str,
        device_id: &str,
        keys: Value,
    ) -> Result<(), Error>;
    /// The device keys of the user's devices (all of them when `devices` is empty).
    async fn device_keys(
        &self,
        user_id: &str,
        devices: Vec<String>,
    ) -> Result<BTreeMap<String, Value>, Error>;
    /// Adds one-time keys; a key id the device already has is kept as it was.
    async fn add_one_time_keys(
        &self,
        user_id: &str,
        device_id: &str,
        keys: Vec<StoredKey>,
    ) -> Result<(), Error>;
    /// Replaces the device's fallback key of each given algorithm (as unused).
    async fn put_fallback_keys(
        &self,
        user_id: &str,
        device_id: &str,
        keys: Vec<StoredKey>,
    ) -> Result<(), Error>;
    /// Unclaimed one-time keys per algorithm.
    async fn one_time_key_counts(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<BTreeMap<String, u64>, Error>;
    /// Algorithms with a fallback key not handed out yet.
    async fn unused_fallback_algorithms(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<Vec<String>, Error>;
    /// Takes one one-time key of `algorithm` (deleting it), or else the fallback key (marking
    /// it used); `None` when the device has neither.
    async fn claim_key(
        &self,
        user_id: &str,
        device_id: &str,
        algorithm: &str,
    ) -> Result<Option<StoredKey>, Error>;
}

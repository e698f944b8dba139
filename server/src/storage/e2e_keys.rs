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

/// A signature uploaded for someone's device or cross-signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySignature {
    pub target_user_id: String,
    /// The device id, or the cross-signing key's public part.
    pub target_key_id: String,
    pub signer_user_id: String,
    /// `ed25519:<key>`.
    pub signer_key_id: String,
    pub signature: String,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores the device's identity keys; `true`, with the user's device list marked changed
    /// in the same transaction, when they differ from what was stored.
    async fn put_device_keys(
        &self,
        user_id: &str,
        device_id: &str,
        keys: Value,
    ) -> Result<bool, Error>;
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
    /// What every sync response tells the device about its keys, in one statement: unclaimed
    /// one-time keys per algorithm, and the algorithms (in order) with a fallback key not
    /// handed out yet.
    async fn key_counts_for_sync(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<(BTreeMap<String, u64>, Vec<String>), Error>;
    /// Takes one one-time key of `algorithm` (deleting it), or else the fallback key (marking
    /// it used); `None` when the device has neither.
    async fn claim_key(
        &self,
        user_id: &str,
        device_id: &str,
        algorithm: &str,
    ) -> Result<Option<StoredKey>, Error>;
    /// The users whose device lists changed in `(after, up_to]`, each once.
    async fn device_list_changes(&self, after: i64, up_to: i64) -> Result<Vec<String>, Error>;
    /// The user's cross-signing keys by usage (`master`, `self_signing`, `user_signing`).
    async fn cross_signing_keys(&self, user_id: &str) -> Result<BTreeMap<String, Value>, Error>;
    /// Replaces the given cross-signing keys, dropping the signatures made on the keys
    /// replaced, and marks the user's device list changed, in one transaction.
    async fn put_cross_signing_keys(
        &self,
        user_id: &str,
        keys: BTreeMap<String, Value>,
    ) -> Result<(), Error>;
    /// Adds (or replaces) signatures and marks each target's device list changed.
    async fn add_key_signatures(&self, signatures: Vec<KeySignature>) -> Result<(), Error>;
    /// Every uploaded signature on the user's devices and cross-signing keys.
    async fn key_signatures(&self, target_user_id: &str) -> Result<Vec<KeySignature>, Error>;
}

//! End-to-end encryption keys: devices upload their identity keys, one-time keys and fallback
//! keys; others query identity keys and claim one-time keys, each handed out once, with the
//! fallback key when none are left. Cross-signing keys and signatures are in
//! [`cross_signing`], MSC3814 dehydrated devices in [`dehydrated`]. Only local users are served until federation exists; remote ones are
//! reported as failures.

mod cross_signing;
mod dehydrated;
mod shape;

pub use cross_signing::CrossSigningUpload;
pub use dehydrated::DehydratedKeys;

use std::{collections::BTreeMap, sync::Arc};

use ruma::UserId;
use serde_json::{Map, Value, json};

use super::{Error, accounts::AuthedUser, notifier::Notifier};
use crate::storage::Stores;

pub struct KeyService {
    stores: Stores,
    server_name: ruma::OwnedServerName,
    notifier: Arc<Notifier>,
}

impl KeyService {
    pub fn new(
        server_name: ruma::OwnedServerName,
        stores: Stores,
        notifier: Arc<Notifier>,
    ) -> Self {
        Self {
            stores,
            server_name,
            notifier,
        }
    }

    /// `POST /keys/upload`; returns the device's unclaimed one-time key counts.
    pub async fn upload(
        &self,
        user: &AuthedUser,
        device_keys: Option<Value>,
        one_time_keys: Map<String, Value>,
        fallback_keys: Map<String, Value>,
    ) -> Result<Value, Error> {
        let (user_id, device_id) = (user.user_id.as_str(), user.device_id.as_str());
        // Everything is checked before anything is stored.
        if let Some(keys) = &device_keys {
            shape::check_device_keys(keys, user_id, device_id)?;
        }
        let one_time = shape::split_keys(one_time_keys, user_id, device_id, false)?;
        let fallback = shape::split_keys(fallback_keys, user_id, device_id, true)?;
        let keys = &self.stores.keys;
        if let Some(device_keys) = device_keys
            && keys
                .put_device_keys(user_id, device_id, device_keys)
                .await?
        {
            self.notifier.wake();
        }
        keys.add_one_time_keys(user_id, device_id, one_time).await?;
        keys.put_fallback_keys(user_id, device_id, fallback).await?;
        Ok(json!({ "one_time_key_counts": keys.one_time_key_counts(user_id, device_id).await? }))
    }

    /// `POST /keys/query`: device keys of the named users (all devices for an empty list),
    /// and their cross-signing keys, as `caller` may see them.
    pub async fn query(
        &self,
        caller: &AuthedUser,
        users: BTreeMap<String, Vec<String>>,
    ) -> Result<Value, Error> {
        let caller = caller.user_id.as_str();
        let mut device_keys = Map::new();
        let mut failures = Map::new();
        let mut cross_signing: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
        for (user_id, devices) in users {
            let Some(parsed) = self.local_user(&user_id, &mut failures) else {
                continue;
            };
            let signatures = self.stores.keys.key_signatures(&user_id).await?;
            let profiles = self.stores.devices.list_devices(parsed).await?;
            let mut found = Map::new();
            for (device_id, mut keys) in self.stores.keys.device_keys(&user_id, devices).await? {
                let name = profiles
                    .iter()
                    .find(|d| d.device_id.as_str() == device_id)
                    .and_then(|d| d.display_name.clone());
                if let Some(name) = name {
                    keys["unsigned"] = json!({ "device_display_name": name });
                }
                cross_signing::merge_signatures(
                    &mut keys,
                    &device_id,
                    caller,
                    &user_id,
                    &signatures,
                );
                found.insert(device_id, keys);
            }
            for (field, key) in self
                .cross_signing_for_query(caller, &user_id, &signatures)
                .await?
            {
                cross_signing
                    .entry(field)
                    .or_default()
                    .insert(user_id.clone(), key);
            }
            device_keys.insert(user_id, Value::Object(found));
        }
        let mut response = json!({ "device_keys": device_keys, "failures": failures });
        for (field, keys) in cross_signing {
            response[field] = Value::Object(keys);
        }
        Ok(response)
    }

    /// `POST /keys/claim`: one key per (user, device) asked for.
    pub async fn claim(
        &self,
        wanted: BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<Value, Error> {
        let mut claimed = Map::new();
        let mut failures = Map::new();
        for (user_id, devices) in wanted {
            if self.local_user(&user_id, &mut failures).is_none() {
                continue;
            }
            let mut per_device = Map::new();
            for (device_id, algorithm) in devices {
                if let Some(key) = self
                    .stores
                    .keys
                    .claim_key(&user_id, &device_id, &algorithm)
                    .await?
                {
                    per_device.insert(
                        device_id,
                        json!({ format!("{}:{}", key.algorithm, key.key_id): key.key }),
                    );
                }
            }
            if !per_device.is_empty() {
                claimed.insert(user_id, Value::Object(per_device));
            }
        }
        Ok(json!({ "one_time_keys": claimed, "failures": failures }))
    }

    /// `user_id` parsed, when it is a local user; a remote user's server goes into `failures`
    /// (until federation exists) and a malformed id is skipped.
    fn local_user<'a>(
        &self,
        user_id: &'a str,
        failures: &mut Map<String, Value>,
    ) -> Option<&'a UserId> {
        let parsed = <&UserId>::try_from(user_id).ok()?;
        if parsed.server_name() != self.server_name {
            failures.insert(
                parsed.server_name().to_string(),
                json!({"errcode": "M_UNKNOWN", "error": "This server does not federate yet"}),
            );
            return None;
        }
        Some(parsed)
    }

    /// What `/sync` reports about the syncing device's keys.
    pub async fn sync_counts(&self, user: &AuthedUser) -> Result<(Value, Value), Error> {
        let (user_id, device_id) = (user.user_id.as_str(), user.device_id.as_str());
        let (counts, fallback) = self
            .stores
            .keys
            .key_counts_for_sync(user_id, device_id)
            .await?;
        Ok((json!(counts), json!(fallback)))
    }
}

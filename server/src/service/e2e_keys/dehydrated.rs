//! Dehydrated devices (MSC3814, unstable): a device the client parks on the server, its private
//! keys encrypted in `device_data`, so messages encrypted while every real device is offline
//! can still be read later. To the rest of the server it is an ordinary device without tokens:
//! it has keys, others claim its one-time keys and send it to-device messages, which the owner
//! collects through the events endpoint when rehydrating.

use ruma::OwnedDeviceId;
use serde_json::{Map, Value, json};

use super::KeyService;
use crate::{
    service::{Error, ErrorKind, accounts::AuthedUser, clock::now_ms, to_device},
    storage::{self, Device},
};

/// Messages one events call returns at most.
const EVENTS_PER_CALL: i64 = 100;

fn none_yet() -> Error {
    Error::new(ErrorKind::NotFound, "No dehydrated device")
}

/// The keys a dehydrated device is uploaded with.
pub struct DehydratedKeys {
    pub device_keys: Value,
    pub one_time_keys: Map<String, Value>,
    pub fallback_keys: Map<String, Value>,
}

impl KeyService {
    /// `PUT /dehydrated_device`: replaces the caller's dehydrated device with a new one and
    /// its keys; the new device's id.
    pub async fn put_dehydrated_device(
        &self,
        user: &AuthedUser,
        device_id: &str,
        display_name: Option<String>,
        device_data: Value,
        keys: DehydratedKeys,
    ) -> Result<String, Error> {
        if !device_data.is_object() {
            return Err(Error::new(
                ErrorKind::BadJson,
                "`device_data` must be an object",
            ));
        }
        let devices = &self.stores.devices;
        let current = devices.dehydrated_device(&user.user_id).await?;
        let taken = devices
            .get_device(&user.user_id, device_id)
            .await?
            .is_some()
            && current.as_ref().is_none_or(|(id, _)| id != device_id);
        let in_use = || {
            Error::new(
                ErrorKind::InvalidParam,
                "You already have a device with this id",
            )
        };
        if taken {
            return Err(in_use());
        }
        let device = Device {
            user_id: user.user_id.clone(),
            device_id: OwnedDeviceId::from(device_id),
            display_name,
            created_ts: now_ms(),
            last_seen_ts: None,
            last_seen_ip: None,
        };
        match devices.put_dehydrated_device(device, device_data).await {
            Err(e) if e.kind == storage::ErrorKind::Conflict => return Err(in_use()),
            other => other?,
        }
        let parked = AuthedUser {
            user_id: user.user_id.clone(),
            device_id: OwnedDeviceId::from(device_id),
            is_guest: false,
            client_ip: user.client_ip,
        };
        self.upload(
            &parked,
            Some(keys.device_keys),
            keys.one_time_keys,
            keys.fallback_keys,
        )
        .await?;
        self.notifier.wake();
        Ok(device_id.to_owned())
    }

    /// `GET /dehydrated_device`: `{device_id, device_data}`.
    pub async fn dehydrated_device(&self, user: &AuthedUser) -> Result<Value, Error> {
        let (device_id, device_data) = self
            .stores
            .devices
            .dehydrated_device(&user.user_id)
            .await?
            .ok_or_else(none_yet)?;
        Ok(json!({ "device_id": device_id, "device_data": device_data }))
    }

    /// `DELETE /dehydrated_device`: the deleted device's id.
    pub async fn delete_dehydrated_device(&self, user: &AuthedUser) -> Result<String, Error> {
        let deleted = self
            .stores
            .devices
            .delete_dehydrated_device(&user.user_id)
            .await?
            .ok_or_else(none_yet)?;
        self.notifier.wake();
        Ok(deleted)
    }

    /// `POST /dehydrated_device/{deviceId}/events`: the to-device messages after `next_batch`
    /// (those up to it are acknowledged and deleted), and the token for the next call.
    pub async fn dehydrated_events(
        &self,
        user: &AuthedUser,
        device_id: &str,
        next_batch: Option<&str>,
    ) -> Result<Value, Error> {
        let parked = self.stores.devices.dehydrated_device(&user.user_id).await?;
        if parked.is_none_or(|(id, _)| id != device_id) {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "That is not your dehydrated device",
            ));
        }
        let since = match next_batch {
            None => 0,
            Some(token) => token
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| Error::new(ErrorKind::InvalidParam, "Unknown next_batch token"))?,
        };
        let user_id = user.user_id.as_str();
        let queue = &self.stores.to_device;
        if since > 0 {
            queue.ack_to_device(user_id, device_id, since).await?;
        }
        let messages = queue
            .to_device_after(user_id, device_id, since, EVENTS_PER_CALL)
            .await?;
        let next = messages.last().map_or(since, |m| m.stream_id);
        let events: Vec<Value> = messages.iter().map(to_device::event).collect();
        Ok(json!({ "events": events, "next_batch": next.to_string() }))
    }
}

//! To-device messages (`/sendToDevice`): queued per device, delivered by `/sync`, and deleted
//! once the device syncs past them. A transaction id is used once per sending device; a retry
//! is acknowledged without queuing anything again.
//!
//! Only local recipients are served: remote ones need federation, and their messages are
//! dropped (and logged) until it exists. Messages to devices that do not exist are dropped,
//! as the spec asks.

use std::{collections::BTreeMap, sync::Arc};

use ruma::UserId;
use serde_json::{Value, json};

use super::{Error, accounts::AuthedUser, notifier::Notifier};
use crate::storage::{QueuedToDevice, Stores, ToDeviceMessage};

/// Messages one sync delivers at most; the rest follow in the next.
pub const MAX_PER_SYNC: i64 = 100;

pub struct ToDeviceService {
    stores: Stores,
    notifier: Arc<Notifier>,
    server_name: ruma::OwnedServerName,
}

impl ToDeviceService {
    pub fn new(
        server_name: ruma::OwnedServerName,
        stores: Stores,
        notifier: Arc<Notifier>,
    ) -> Self {
        Self {
            stores,
            notifier,
            server_name,
        }
    }

    /// `PUT /sendToDevice/{eventType}/{txnId}`: `messages` maps user ids to device ids (or
    /// `*` for all of the user's devices) to contents.
    pub async fn send(
        &self,
        user: &AuthedUser,
        event_type: &str,
        txn_id: &str,
        messages: BTreeMap<String, BTreeMap<String, Value>>,
    ) -> Result<(), Error> {
        let mut queued = Vec::new();
        for (recipient, devices) in messages {
            let Ok(recipient_id) = <&UserId>::try_from(recipient.as_str()) else {
                continue;
            };
            if recipient_id.server_name() != self.server_name {
                tracing::info!(%recipient, "to-device message for a remote user dropped: no federation yet");
                continue;
            }
            let existing: Vec<String> = self
                .stores
                .devices
                .list_devices(recipient_id)
                .await?
                .into_iter()
                .map(|d| d.device_id.to_string())
                .collect();
            for (device, content) in devices {
                let targets: Vec<&String> = if device == "*" {
                    existing.iter().collect()
                } else {
                    existing.iter().filter(|d| **d == device).collect()
                };
                for target in targets {
                    queued.push(ToDeviceMessage {
                        user_id: recipient.clone(),
                        device_id: target.clone(),
                        sender: user.user_id.to_string(),
                        event_type: event_type.to_owned(),
                        content: content.clone(),
                    });
                }
            }
        }
        let fresh = self
            .stores
            .to_device
            .queue_to_device(
                user.user_id.as_str(),
                user.device_id.as_str(),
                txn_id,
                queued,
            )
            .await?;
        if fresh {
            self.notifier.wake();
        }
        Ok(())
    }

    /// For a sync of the device with position `since` (0 for none): acknowledges what the
    /// position covers, and returns the next messages and the position after them. `head` is
    /// the last message queued for any device: at or past it, nothing is read.
    pub async fn for_sync(
        &self,
        user: &AuthedUser,
        since: Option<i64>,
        head: i64,
    ) -> Result<(Vec<Value>, i64), Error> {
        let (user_id, device_id) = (user.user_id.as_str(), user.device_id.as_str());
        let store = &self.stores.to_device;
        if let Some(since) = since.filter(|s| *s > 0) {
            store.ack_to_device(user_id, device_id, since).await?;
        }
        let after = since.unwrap_or(0);
        if after >= head {
            return Ok((Vec::new(), after));
        }
        let messages = store
            .to_device_after(user_id, device_id, after, MAX_PER_SYNC)
            .await?;
        let position = messages.last().map_or(after, |m| m.stream_id);
        Ok((messages.iter().map(event).collect(), position))
    }
}

/// A queued message as the device receives it.
pub fn event(message: &QueuedToDevice) -> Value {
    json!({
        "sender": message.sender,
        "type": message.event_type,
        "content": message.content,
    })
}

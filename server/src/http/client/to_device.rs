//! `PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}`.

use std::collections::BTreeMap;

use ruma::api::client::to_device::send_event_to_device;
use serde_json::Value;

use super::raw_json;
use crate::{
    http::{AppState, router::Router},
    service::{Error, accounts::AuthedUser},
};

pub fn register(router: &mut Router) {
    router.endpoint_authed(send_to_device);
}

async fn send_to_device(
    state: AppState,
    user: AuthedUser,
    request: send_event_to_device::v3::Request,
) -> Result<send_event_to_device::v3::Response, Error> {
    let mut messages: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for (recipient, devices) in request.messages {
        let entry = messages.entry(recipient.to_string()).or_default();
        for (device, content) in devices {
            let content = raw_json(&content, "message content")?;
            entry.insert(device.to_string(), content);
        }
    }
    state
        .services
        .to_device
        .send(
            &user,
            &request.event_type.to_string(),
            request.txn_id.as_str(),
            messages,
        )
        .await?;
    Ok(send_event_to_device::v3::Response::new())
}

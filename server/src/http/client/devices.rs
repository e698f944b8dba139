//! The caller's devices: list, get, rename, delete (with password auth).

use ruma::api::client::device::{
    delete_device, delete_devices, get_device, get_devices, update_device,
};
use serde_json::{Value, json};

use crate::{
    http::{AppState, router::Router},
    service::{Error, accounts::AuthedUser},
    storage::Device,
};

pub fn register(router: &mut Router) {
    // ruma 0.17 serialises a device's missing display name and IP as `null`, which the
    // spec's schema forbids (they are optional strings): these two build their JSON directly.
    router.endpoint_authed_json(get_devices);
    router.endpoint_authed_json(get_device);
    router.endpoint_authed(update_device);
    router.endpoint_authed(delete_device);
    router.endpoint_authed(delete_devices);
}

fn device_json(device: Device) -> Value {
    let mut out = json!({"device_id": device.device_id});
    if let Some(name) = device.display_name {
        out["display_name"] = json!(name);
    }
    if let Some(ip) = device.last_seen_ip {
        out["last_seen_ip"] = json!(ip);
    }
    if let Some(ts) = device.last_seen_ts {
        out["last_seen_ts"] = json!(ts);
    }
    out
}

/// `GET /_matrix/client/v3/devices`
async fn get_devices(
    state: AppState,
    user: AuthedUser,
    _: get_devices::v3::Request,
) -> Result<Value, Error> {
    let devices = state.services.accounts.list_devices(&user).await?;
    Ok(json!({"devices": devices.into_iter().map(device_json).collect::<Vec<_>>()}))
}

/// `GET /_matrix/client/v3/devices/{deviceId}`
async fn get_device(
    state: AppState,
    user: AuthedUser,
    request: get_device::v3::Request,
) -> Result<Value, Error> {
    let device = state
        .services
        .accounts
        .get_device(&user, request.device_id.as_str())
        .await?;
    Ok(device_json(device))
}

/// `PUT /_matrix/client/v3/devices/{deviceId}`
async fn update_device(
    state: AppState,
    user: AuthedUser,
    request: update_device::v3::Request,
) -> Result<update_device::v3::Response, Error> {
    state
        .services
        .accounts
        .rename_device(&user, request.device_id.as_str(), request.display_name)
        .await?;
    Ok(update_device::v3::Response::new())
}

/// `DELETE /_matrix/client/v3/devices/{deviceId}`
async fn delete_device(
    state: AppState,
    user: AuthedUser,
    request: delete_device::v3::Request,
) -> Result<delete_device::v3::Response, Error> {
    // Deleting someone else's (or a missing) device is a 404 before any password is asked for.
    state
        .services
        .accounts
        .get_device(&user, request.device_id.as_str())
        .await?;
    let auth = request.auth.map(super::uia::stage);
    state
        .services
        .accounts
        .delete_devices(&user, &[request.device_id.to_string()], auth)
        .await?;
    Ok(delete_device::v3::Response::new())
}

/// `POST /_matrix/client/v3/delete_devices`
async fn delete_devices(
    state: AppState,
    user: AuthedUser,
    request: delete_devices::v3::Request,
) -> Result<delete_devices::v3::Response, Error> {
    let ids: Vec<String> = request.devices.iter().map(ToString::to_string).collect();
    let auth = request.auth.map(super::uia::stage);
    state
        .services
        .accounts
        .delete_devices(&user, &ids, auth)
        .await?;
    Ok(delete_devices::v3::Response::new())
}

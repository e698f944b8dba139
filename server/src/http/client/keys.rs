//! End-to-end encryption keys: `/keys/upload`, `/keys/query`, `/keys/claim`, `/keys/changes`,
//! cross-signing (`/keys/device_signing/upload`, `/keys/signatures/upload`) and MSC3814
//! dehydrated devices.

use std::collections::BTreeMap;

use ruma::api::client::{
    dehydrated_device::{
        delete_dehydrated_device, get_dehydrated_device, get_events, put_dehydrated_device,
    },
    keys::{
        claim_keys, get_key_changes, get_keys, upload_keys, upload_signatures, upload_signing_keys,
    },
};
use serde_json::{Map, Value, json};

use super::raw_json;
use crate::{
    http::{AppState, router::Router},
    service::{Error, ErrorKind, accounts::AuthedUser, e2e_keys::DehydratedKeys},
};

pub fn register(router: &mut Router) {
    // Keys are stored and served as the clients' own JSON (ruma's typed keys would re-shape
    // them, and signatures cover the exact fields).
    router.endpoint_authed_json(upload);
    router.endpoint_authed_json(query);
    router.endpoint_authed_json(claim);
    router.endpoint_authed(changes);
    router.endpoint_authed(upload_cross_signing);
    router.endpoint_authed_json(upload_signatures);
    router.endpoint_authed_json(put_dehydrated_device);
    router.endpoint_authed_json(get_dehydrated_device);
    router.endpoint_authed_json(delete_dehydrated_device);
    router.endpoint_authed_json(dehydrated_events);
}

/// One-time or fallback keys by `algorithm:id`, as uploaded.
fn key_map<T>(
    keys: &BTreeMap<ruma::OwnedOneTimeKeyId, ruma::serde::Raw<T>>,
) -> Result<Map<String, Value>, Error> {
    keys.iter()
        .map(|(id, key)| Ok((id.to_string(), raw_json(key, "key")?)))
        .collect()
}

/// `POST /_matrix/client/v3/keys/upload`
async fn upload(
    state: AppState,
    user: AuthedUser,
    request: upload_keys::v3::Request,
) -> Result<Value, Error> {
    let device_keys = request
        .device_keys
        .as_ref()
        .map(|keys| raw_json(keys, "device keys"))
        .transpose()?;
    let one_time = key_map(&request.one_time_keys)?;
    let fallback = key_map(&request.fallback_keys)?;
    state
        .services
        .keys
        .upload(&user, device_keys, one_time, fallback)
        .await
}

/// `POST /_matrix/client/v3/keys/query`
async fn query(
    state: AppState,
    user: AuthedUser,
    request: get_keys::v3::Request,
) -> Result<Value, Error> {
    let users = request
        .device_keys
        .into_iter()
        .map(|(user, devices)| {
            (
                user.to_string(),
                devices.into_iter().map(|d| d.to_string()).collect(),
            )
        })
        .collect();
    state.services.keys.query(&user, users).await
}

/// `POST /_matrix/client/v3/keys/claim`
async fn claim(
    state: AppState,
    _user: AuthedUser,
    request: claim_keys::v3::Request,
) -> Result<Value, Error> {
    let wanted = request
        .one_time_keys
        .into_iter()
        .map(|(user, devices)| {
            (
                user.to_string(),
                devices
                    .into_iter()
                    .map(|(device, algorithm)| (device.to_string(), algorithm.to_string()))
                    .collect(),
            )
        })
        .collect();
    state.services.keys.claim(wanted).await
}

/// `GET /_matrix/client/v3/keys/changes`
async fn changes(
    state: AppState,
    user: AuthedUser,
    request: get_key_changes::v3::Request,
) -> Result<get_key_changes::v3::Response, Error> {
    let changes = state
        .services
        .device_lists
        .changes_between_tokens(user.user_id.as_str(), &request.from, &request.to)
        .await?;
    let ids = |users: std::collections::BTreeSet<String>| {
        users
            .into_iter()
            .filter_map(|u| ruma::OwnedUserId::try_from(u).ok())
            .collect()
    };
    Ok(get_key_changes::v3::Response::new(
        ids(changes.changed),
        ids(changes.left),
    ))
}

/// `POST /_matrix/client/v3/keys/device_signing/upload`
async fn upload_cross_signing(
    state: AppState,
    user: AuthedUser,
    request: upload_signing_keys::v3::Request,
) -> Result<upload_signing_keys::v3::Response, Error> {
    let mut keys = crate::service::e2e_keys::CrossSigningUpload::new();
    for (usage, key) in [
        ("master", &request.master_key),
        ("self_signing", &request.self_signing_key),
        ("user_signing", &request.user_signing_key),
    ] {
        if let Some(key) = key {
            keys.insert(usage.to_owned(), raw_json(key, "key")?);
        }
    }
    let services = &state.services;
    if services.keys.cross_signing_needs_auth(&user, &keys).await? {
        let auth = request.auth.map(super::uia::stage);
        services.accounts.require_password(&user, auth).await?;
    }
    services.keys.upload_cross_signing_keys(&user, keys).await?;
    Ok(upload_signing_keys::v3::Response::new())
}

/// `POST /_matrix/client/v3/keys/signatures/upload`
async fn upload_signatures(
    state: AppState,
    user: AuthedUser,
    request: upload_signatures::v3::Request,
) -> Result<Value, Error> {
    let mut signed = BTreeMap::new();
    for (target, objects) in &request.signed_keys {
        let mut by_key = BTreeMap::new();
        for (key_id, object) in objects {
            let object: Value = serde_json::from_str(object.get())
                .map_err(|e| Error::new(ErrorKind::BadJson, format!("signed key: {e}")))?;
            by_key.insert(key_id.to_owned(), object);
        }
        signed.insert(target.to_string(), by_key);
    }
    state.services.keys.upload_signatures(&user, signed).await
}

/// `PUT /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device`
async fn put_dehydrated_device(
    state: AppState,
    user: AuthedUser,
    request: put_dehydrated_device::unstable::Request,
) -> Result<Value, Error> {
    let keys = DehydratedKeys {
        device_keys: raw_json(&request.device_keys, "device keys")?,
        one_time_keys: key_map(&request.one_time_keys)?,
        fallback_keys: key_map(&request.fallback_keys)?,
    };
    let device_id = state
        .services
        .keys
        .put_dehydrated_device(
            &user,
            request.device_id.as_str(),
            request.initial_device_display_name,
            raw_json(&request.device_data, "device data")?,
            keys,
        )
        .await?;
    Ok(json!({ "device_id": device_id }))
}

/// `GET /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device`
async fn get_dehydrated_device(
    state: AppState,
    user: AuthedUser,
    _request: get_dehydrated_device::unstable::Request,
) -> Result<Value, Error> {
    state.services.keys.dehydrated_device(&user).await
}

/// `DELETE /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device`
async fn delete_dehydrated_device(
    state: AppState,
    user: AuthedUser,
    _request: delete_dehydrated_device::unstable::Request,
) -> Result<Value, Error> {
    let device_id = state.services.keys.delete_dehydrated_device(&user).await?;
    Ok(json!({ "device_id": device_id }))
}

/// `POST /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/{deviceId}/events`
async fn dehydrated_events(
    state: AppState,
    user: AuthedUser,
    request: get_events::unstable::Request,
) -> Result<Value, Error> {
    state
        .services
        .keys
        .dehydrated_events(
            &user,
            request.device_id.as_str(),
            request.next_batch.as_deref(),
        )
        .await
}

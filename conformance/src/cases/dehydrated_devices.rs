//! MSC3814 dehydrated devices (unstable prefix): a device parked on the server, with keys others
//! can use and a to-device queue its owner drains when rehydrating. Skipped against servers
//! that do not advertise `org.matrix.msc3814`.

use http::Method;
use serde_json::{Value, json};

use super::keys::query_keys;
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, Response, UserSession},
    crypto::{Device, SIGNED_CURVE25519},
    ensure, ensure_eq,
};

const PREFIX: &str = "/_matrix/client/unstable/org.matrix.msc3814.v1";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            msc3814_dehydrated_device_is_parked_used_replaced_and_deleted,
            section = "client-server-api/#end-to-end-encryption"
        ),
        case!(
            msc3814_only_the_owner_drains_the_dehydrated_device,
            section = "client-server-api/#end-to-end-encryption"
        ),
    ]
}

async fn require_msc3814(ctx: &Ctx) -> Result<(), CaseError> {
    let versions = ctx
        .op(Method::GET, "/_matrix/client/versions")
        .send()
        .await?
        .expect_status(200)?;
    if versions.json()?["unstable_features"]["org.matrix.msc3814"] != json!(true) {
        return Err(CaseError::Skip(
            "the server does not advertise org.matrix.msc3814".to_owned(),
        ));
    }
    Ok(())
}

/// A vodozemac device for `owner` under a new device id, as a dehydrating client makes one.
fn parked_device(owner: &UserSession) -> Device {
    let session = UserSession {
        device_id: format!("PARKED{}", rand::random::<u32>()),
        ..owner.clone()
    };
    Device::new(&session)
}

async fn park(ctx: &Ctx, owner: &UserSession, device: &mut Device) -> Result<Response, CaseError> {
    ctx.raw(Method::PUT, &format!("{PREFIX}/dehydrated_device"))
        .token(&owner.access_token)
        .json(&json!({
            "device_id": device.device_id,
            "initial_device_display_name": "Backup device",
            "device_data": { "algorithm": "org.matrix.msc3814.v2", "device_pickle": "opaque", "nonce": "n" },
            "device_keys": device.device_keys(),
            "one_time_keys": device.one_time_keys(2),
            "fallback_keys": device.fallback_key(),
        }))
        .send()
        .await
}

async fn drain(
    ctx: &Ctx,
    who: &UserSession,
    device_id: &str,
    next_batch: Option<&str>,
) -> Result<Response, CaseError> {
    let body = match next_batch {
        Some(token) => json!({ "next_batch": token }),
        None => json!({}),
    };
    ctx.raw(
        Method::POST,
        &format!("{PREFIX}/dehydrated_device/{device_id}/events"),
    )
    .token(&who.access_token)
    .json(&body)
    .send()
    .await
}

async fn devices_of(ctx: &Ctx, by: &UserSession, of: &UserSession) -> Result<Value, CaseError> {
    Ok(query_keys(ctx, by, of).await?["device_keys"][of.user_id.as_str()].clone())
}

async fn msc3814_dehydrated_device_is_parked_used_replaced_and_deleted(ctx: Ctx) -> CaseResult {
    require_msc3814(&ctx).await?;
    let alice = ctx.register_user("dehydrator").await?;
    let bob = ctx.register_user("dehydrated_peer").await?;
    let url = format!("{PREFIX}/dehydrated_device");
    let none = ctx
        .raw(Method::GET, &url)
        .token(&alice.access_token)
        .send()
        .await?;
    ensure_eq!(none.status, 404, "no dehydrated device yet");

    let mut first = parked_device(&alice);
    let parked = park(&ctx, &alice, &mut first).await?.expect_status(200)?;
    ensure_eq!(
        parked.json()?["device_id"],
        json!(first.device_id),
        "the parked device's id"
    );
    let read = ctx
        .raw(Method::GET, &url)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        read.json()?["device_id"],
        json!(first.device_id),
        "GET names it"
    );
    ensure_eq!(
        read.json()?["device_data"]["device_pickle"],
        json!("opaque"),
        "GET returns the data as uploaded"
    );

    // Others see it as a device, claim its keys and send it messages.
    let devices = devices_of(&ctx, &bob, &alice).await?;
    ensure!(
        devices.get(first.device_id.as_str()).is_some(),
        "the dehydrated device's keys are public: {devices}"
    );
    let claimed = ctx
        .op(Method::POST, "/_matrix/client/v3/keys/claim")
        .token(&bob.access_token)
        .json(&json!({ "one_time_keys": { alice.user_id.clone(): { first.device_id.clone(): SIGNED_CURVE25519 } } }))
        .send()
        .await?
        .expect_status(200)?;
    ensure!(
        claimed.json()?["one_time_keys"][alice.user_id.as_str()]
            .get(first.device_id.as_str())
            .is_some(),
        "a one-time key of the dehydrated device: {}",
        claimed.json()?
    );
    ctx.op(Method::PUT, "/_matrix/client/v3/sendToDevice/{eventType}/{txnId}")
        .arg("m.dehydration.test")
        .arg(&format!("p{}", rand::random::<u32>()))
        .token(&bob.access_token)
        .json(&json!({ "messages": { alice.user_id.clone(): { first.device_id.clone(): {"while": "away"} } } }))
        .send()
        .await?
        .expect_status(200)?;

    let drained = drain(&ctx, &alice, &first.device_id, None)
        .await?
        .expect_status(200)?;
    let events = drained.json()?["events"].clone();
    ensure_eq!(
        events.as_array().map(Vec::len),
        Some(1),
        "one queued message: {events}"
    );
    ensure_eq!(
        events[0]["content"],
        json!({"while": "away"}),
        "its content"
    );
    ensure_eq!(events[0]["sender"], json!(bob.user_id), "its sender");
    let token = drained.json()?["next_batch"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let again = drain(&ctx, &alice, &first.device_id, Some(&token))
        .await?
        .expect_status(200)?;
    ensure!(
        again.json()?["events"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "acknowledged messages are not returned again: {}",
        again.json()?
    );

    // A new dehydrated device replaces the old one entirely.
    let mut second = parked_device(&alice);
    park(&ctx, &alice, &mut second).await?.expect_status(200)?;
    let devices = devices_of(&ctx, &bob, &alice).await?;
    ensure!(
        devices.get(first.device_id.as_str()).is_none()
            && devices.get(second.device_id.as_str()).is_some(),
        "the replaced device is gone, the new one is there: {devices}"
    );
    let deleted = ctx
        .raw(Method::DELETE, &url)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        deleted.json()?["device_id"],
        json!(second.device_id),
        "DELETE names the device"
    );
    let gone = ctx
        .raw(Method::GET, &url)
        .token(&alice.access_token)
        .send()
        .await?;
    ensure_eq!(gone.status, 404, "no dehydrated device after DELETE");
    let devices = devices_of(&ctx, &bob, &alice).await?;
    ensure!(
        devices.get(second.device_id.as_str()).is_none(),
        "a deleted dehydrated device's keys are gone: {devices}"
    );
    Ok(())
}

async fn msc3814_only_the_owner_drains_the_dehydrated_device(ctx: Ctx) -> CaseResult {
    require_msc3814(&ctx).await?;
    let alice = ctx.register_user("dehydrated_owner").await?;
    let mallory = ctx.register_user("dehydrated_thief").await?;
    let mut device = parked_device(&alice);
    park(&ctx, &alice, &mut device).await?.expect_status(200)?;
    let stolen = drain(&ctx, &mallory, &device.device_id, None).await?;
    ensure_eq!(
        stolen.status,
        403,
        "another user draining the dehydrated device"
    );
    let ordinary = drain(&ctx, &alice, &alice.device_id, None).await?;
    ensure_eq!(
        ordinary.status,
        403,
        "draining a device that is not dehydrated"
    );
    let garbled = drain(&ctx, &alice, &device.device_id, Some("not a token")).await?;
    ensure_eq!(
        garbled.status,
        400,
        "a next_batch the server never gave out"
    );
    // Parking a device under the id of one of the owner's real devices is refused.
    let clash = UserSession {
        device_id: alice.device_id.clone(),
        ..alice.clone()
    };
    let refused = park(&ctx, &alice, &mut Device::new(&clash)).await?;
    ensure_eq!(
        refused.status,
        400,
        "a dehydrated device under a real device's id"
    );
    Ok(())
}

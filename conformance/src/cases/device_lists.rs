//! Device-list tracking: `device_lists` in incremental syncs and `/keys/changes` name the users
//! whose devices a client should query again, and only users it shares a room with.

use http::Method;
use serde_json::{Value, json};

use super::{
    common::{create_room, join, leave, sync, with_password},
    keys::{device_keys, upload},
};
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, UserSession},
    ensure, ensure_eq,
};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            key_uploads_reach_roommates_only,
            section = "client-server-api/#get_matrixclientv3keyschanges",
            op = ("GET", "/_matrix/client/v3/keys/changes")
        ),
        case!(
            device_lists_follow_roommates_joining_and_leaving,
            section = "client-server-api/#e2e-extensions-to-sync",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            a_deleted_device_is_reported_and_its_id_reused_starts_clean,
            section = "client-server-api/#tracking-the-device-list-for-a-user",
            op = ("DELETE", "/_matrix/client/v3/devices/{deviceId}")
        ),
    ]
}

fn next_batch(body: &Value) -> String {
    body["next_batch"].as_str().unwrap_or_default().to_owned()
}

fn listed(body: &Value, list: &str, user: &UserSession) -> bool {
    body["device_lists"][list]
        .as_array()
        .is_some_and(|users| users.iter().any(|u| u == user.user_id.as_str()))
}

/// A room `owner` creates and everyone in `members` joins.
async fn shared_room(
    ctx: &Ctx,
    owner: &UserSession,
    members: &[&UserSession],
) -> Result<String, CaseError> {
    let room = create_room(ctx, owner, json!({"preset": "public_chat"})).await?;
    for member in members {
        join(ctx, member, &room).await?.expect_status(200)?;
    }
    Ok(room)
}

async fn key_uploads_reach_roommates_only(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("devlist_watcher").await?;
    let bob = ctx.register_user("devlist_roommate").await?;
    let eve = ctx.register_user("devlist_stranger").await?;
    shared_room(&ctx, &alice, &[&bob]).await?;
    let from = next_batch(&sync(&ctx, &alice, None, 0).await?);
    for user in [&bob, &eve] {
        upload(&ctx, user, json!({ "device_keys": device_keys(user) }))
            .await?
            .expect_status(200)?;
    }
    let synced = sync(&ctx, &alice, Some(&from), 0).await?;
    ensure!(
        listed(&synced, "changed", &bob),
        "bob's new keys are in alice's device_lists.changed: {}",
        synced["device_lists"]
    );
    ensure!(
        !listed(&synced, "changed", &eve),
        "eve shares no room with alice: {}",
        synced["device_lists"]
    );
    let changes = ctx
        .op(Method::GET, "/_matrix/client/v3/keys/changes")
        .token(&alice.access_token)
        .query("from", &from)
        .query("to", &next_batch(&synced))
        .send()
        .await?
        .expect_status(200)?;
    let bad_from = ctx
        .op(Method::GET, "/_matrix/client/v3/keys/changes")
        .token(&alice.access_token)
        .query("from", "not a token")
        .query("to", &next_batch(&synced))
        .send()
        .await?;
    ensure_eq!(
        bad_from.status,
        400,
        "/keys/changes from a token never given out"
    );
    let changed = &changes.json()?["changed"];
    ensure!(
        changed
            .as_array()
            .is_some_and(|c| c.contains(&json!(bob.user_id))),
        "/keys/changes names bob: {changed}"
    );
    ensure!(
        !changed
            .as_array()
            .is_some_and(|c| c.contains(&json!(eve.user_id))),
        "/keys/changes does not name eve: {changed}"
    );
    Ok(())
}

async fn device_lists_follow_roommates_joining_and_leaving(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("devlist_host").await?;
    let carol = ctx.register_user("devlist_visitor").await?;
    let room = shared_room(&ctx, &alice, &[]).await?;
    let before_join = next_batch(&sync(&ctx, &alice, None, 0).await?);
    join(&ctx, &carol, &room).await?.expect_status(200)?;
    let joined = sync(&ctx, &alice, Some(&before_join), 0).await?;
    ensure!(
        listed(&joined, "changed", &carol),
        "a new roommate is in changed: {}",
        joined["device_lists"]
    );
    leave(&ctx, &carol, &room).await?;
    let left = sync(&ctx, &alice, Some(&next_batch(&joined)), 0).await?;
    ensure!(
        listed(&left, "left", &carol),
        "a roommate who shares no room any more is in left: {}",
        left["device_lists"]
    );
    ensure!(
        !listed(&left, "changed", &carol),
        "and not in changed: {}",
        left["device_lists"]
    );
    Ok(())
}

async fn a_deleted_device_is_reported_and_its_id_reused_starts_clean(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("devlist_observer").await?;
    let bob = ctx.register_user("devlist_deleter").await?;
    let laptop = ctx.login_again(&bob).await?;
    upload(
        &ctx,
        &laptop,
        json!({ "device_keys": device_keys(&laptop) }),
    )
    .await?
    .expect_status(200)?;
    shared_room(&ctx, &alice, &[&bob]).await?;
    let from = next_batch(&sync(&ctx, &alice, None, 0).await?);
    // A message still queued for the laptop when it goes.
    ctx.op(
        Method::PUT,
        "/_matrix/client/v3/sendToDevice/{eventType}/{txnId}",
    )
    .arg("m.devlist.ping")
    .arg(&format!("d{}", rand::random::<u32>()))
    .token(&alice.access_token)
    .json(&json!({"messages": { bob.user_id.clone(): { laptop.device_id.clone(): {"n": 1} } }}))
    .send()
    .await?
    .expect_status(200)?;
    with_password(
        &ctx,
        Method::DELETE,
        "/_matrix/client/v3/devices/{deviceId}",
        Some(&laptop.device_id),
        json!({}),
        &bob,
        &bob.password,
    )
    .await?
    .expect_status(200)?;

    let synced = sync(&ctx, &alice, Some(&from), 0).await?;
    ensure!(
        listed(&synced, "changed", &bob),
        "a deleted device changes bob's device list: {}",
        synced["device_lists"]
    );
    let queried = ctx
        .op(Method::POST, "/_matrix/client/v3/keys/query")
        .token(&alice.access_token)
        .json(&json!({ "device_keys": { bob.user_id.clone(): [] } }))
        .send()
        .await?
        .expect_status(200)?;
    let devices = &queried.json()?["device_keys"][bob.user_id.as_str()];
    ensure!(
        devices.get(laptop.device_id.as_str()).is_none(),
        "the deleted device's keys are gone: {devices}"
    );

    // Logging in again under the same device id must not inherit the old device.
    let again = ctx
        .op(Method::POST, "/_matrix/client/v3/login")
        .json(&json!({"type": "m.login.password",
                      "identifier": {"type": "m.id.user", "user": bob.user_id},
                      "password": bob.password, "device_id": laptop.device_id}))
        .send()
        .await?
        .expect_status(200)?;
    let token = again.json()?["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let reborn = UserSession {
        access_token: token,
        ..laptop.clone()
    };
    let first = sync(&ctx, &reborn, None, 0).await?;
    ensure!(
        first["to_device"]["events"]
            .as_array()
            .is_none_or(|events| events.is_empty()),
        "messages for the deleted device are not delivered to its successor: {}",
        first["to_device"]
    );
    Ok(())
}

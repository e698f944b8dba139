//! Presence: setting and reading it, who may read it, and its delivery through `/sync`.

use http::Method;
use serde_json::{Value, json};

use super::common::{create_room, join, sync};
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, UserSession},
    ensure, ensure_eq,
};

const STATUS: &str = "/_matrix/client/v3/presence/{userId}/status";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            presence_is_set_and_read_by_room_members_only,
            section = "client-server-api/#presence",
            op = ("PUT", "/_matrix/client/v3/presence/{userId}/status")
        ),
        case!(
            presence_changes_arrive_in_sync,
            section = "client-server-api/#presence",
            op = ("GET", "/_matrix/client/v3/presence/{userId}/status")
        ),
        case!(
            syncing_with_set_presence_offline_does_not_mark_online,
            section = "client-server-api/#get_matrixclientv3sync",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
    ]
}

async fn set(ctx: &Ctx, user: &UserSession, body: Value) -> Result<(), CaseError> {
    ctx.op(Method::PUT, STATUS)
        .arg(&user.user_id)
        .token(&user.access_token)
        .json(&body)
        .send()
        .await?
        .expect_status(200)?;
    Ok(())
}

async fn get(
    ctx: &Ctx,
    reader: &UserSession,
    target: &UserSession,
) -> Result<crate::client::Response, CaseError> {
    ctx.op(Method::GET, STATUS)
        .arg(&target.user_id)
        .token(&reader.access_token)
        .send()
        .await
}

async fn presence_is_set_and_read_by_room_members_only(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("presence_a").await?;
    let bob = ctx.register_user("presence_b").await?;
    let carol = ctx.register_user("presence_c").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    set(
        &ctx,
        &alice,
        json!({"presence": "online", "status_msg": "writing specs"}),
    )
    .await?;
    let seen = get(&ctx, &bob, &alice).await?.expect_status(200)?;
    let body = seen.json()?;
    ensure_eq!(body["presence"], json!("online"), "presence");
    ensure_eq!(body["status_msg"], json!("writing specs"), "status message");
    let stranger = get(&ctx, &carol, &alice).await?;
    ensure!(
        matches!(stranger.status, 403 | 404),
        "someone sharing no room cannot read presence, got {}",
        stranger.status
    );
    let forged = ctx
        .op(Method::PUT, STATUS)
        .arg(&alice.user_id)
        .token(&bob.access_token)
        .json(&json!({"presence": "offline"}))
        .send()
        .await?
        .expect_status(403)?;
    ensure_eq!(
        forged.errcode(),
        Some("M_FORBIDDEN"),
        "setting another's presence"
    );
    let bad = ctx
        .op(Method::PUT, STATUS)
        .arg(&alice.user_id)
        .token(&alice.access_token)
        .json(&json!({"presence": "asleep"}))
        .send()
        .await?;
    ensure_eq!(bad.status, 400, "an unknown presence state");
    Ok(())
}

async fn presence_changes_arrive_in_sync(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("presence_sync_a").await?;
    let bob = ctx.register_user("presence_sync_b").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    let first = sync(&ctx, &bob, None, 0).await?;
    let token = first["next_batch"].as_str().unwrap_or_default().to_owned();
    set(
        &ctx,
        &alice,
        json!({"presence": "unavailable", "status_msg": "away"}),
    )
    .await?;
    let next = sync(&ctx, &bob, Some(&token), 2000).await?;
    let alices: Vec<&Value> = next["presence"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["sender"] == json!(alice.user_id))
        .collect();
    ensure_eq!(alices.len(), 1, "one presence event for alice: {next}");
    ensure_eq!(alices[0]["type"], json!("m.presence"), "event type");
    ensure_eq!(
        alices[0]["content"]["presence"],
        json!("unavailable"),
        "alice's new presence"
    );
    ensure_eq!(
        alices[0]["content"]["status_msg"],
        json!("away"),
        "status message"
    );
    Ok(())
}

async fn syncing_with_set_presence_offline_does_not_mark_online(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("presence_quiet_a").await?;
    let dave = ctx.register_user("presence_quiet_d").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    join(&ctx, &dave, &room).await?.expect_status(200)?;
    ctx.op(Method::GET, "/_matrix/client/v3/sync")
        .token(&dave.access_token)
        .query("set_presence", "offline")
        .query("timeout", "0")
        .send()
        .await?
        .expect_status(200)?;
    let seen = get(&ctx, &alice, &dave).await?.expect_status(200)?;
    ensure_eq!(
        seen.json()?["presence"],
        json!("offline"),
        "a client syncing with set_presence=offline stays offline"
    );
    sync(&ctx, &dave, None, 0).await?;
    let seen = get(&ctx, &alice, &dave).await?.expect_status(200)?;
    ensure_eq!(
        seen.json()?["presence"],
        json!("online"),
        "a plain sync marks the user online"
    );
    Ok(())
}

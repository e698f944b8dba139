//! Room upgrades: the replacement room, the tombstone, and what carries over.

use http::Method;
use serde_json::{Value, json};

use super::common::{create_room, join, send_message};
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, UserSession},
    ensure, ensure_eq,
};

const UPGRADE: &str = "/_matrix/client/v3/rooms/{roomId}/upgrade";
const STATE_KEY: &str = "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            an_upgrade_replaces_the_room_and_points_to_it,
            section = "client-server-api/#room-upgrades",
            op = ("POST", "/_matrix/client/v3/rooms/{roomId}/upgrade")
        ),
        case!(
            upgrades_need_power_and_a_known_version,
            section = "client-server-api/#post_matrixclientv3roomsroomidupgrade",
            op = ("POST", "/_matrix/client/v3/rooms/{roomId}/upgrade")
        ),
    ]
}

async fn state(ctx: &Ctx, user: &UserSession, room: &str, kind: &str) -> Result<Value, CaseError> {
    Ok(ctx
        .op(Method::GET, STATE_KEY)
        .arg(room)
        .arg(kind)
        .arg("")
        .token(&user.access_token)
        .send()
        .await?
        .expect_status(200)?
        .json()?
        .clone())
}

async fn an_upgrade_replaces_the_room_and_points_to_it(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("upgrade_a").await?;
    let bob = ctx.register_user("upgrade_b").await?;
    let alias_name = format!("upgraded{}", rand::random::<u32>());
    let old = create_room(
        &ctx,
        &alice,
        json!({
            "preset": "public_chat",
            "room_version": "10",
            "name": "Before the upgrade",
            "topic": "kept",
            "room_alias_name": alias_name,
        }),
    )
    .await?;
    join(&ctx, &bob, &old).await?.expect_status(200)?;
    let upgraded = ctx
        .op(Method::POST, UPGRADE)
        .arg(&old)
        .token(&alice.access_token)
        .json(&json!({"new_version": "12"}))
        .send()
        .await?
        .expect_status(200)?;
    let new = upgraded.json()?["replacement_room"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ensure!(!new.is_empty() && new != old, "a new room id: {new:?}");
    let tombstone = state(&ctx, &alice, &old, "m.room.tombstone").await?;
    ensure_eq!(
        tombstone["replacement_room"],
        json!(new),
        "the tombstone points to the new room"
    );
    let create = state(&ctx, &alice, &new, "m.room.create").await?;
    ensure_eq!(
        create["predecessor"]["room_id"],
        json!(old),
        "the new room names its predecessor"
    );
    ensure_eq!(create["room_version"], json!("12"), "the new version");
    ensure_eq!(
        state(&ctx, &alice, &new, "m.room.name").await?["name"],
        json!("Before the upgrade"),
        "the name carries over"
    );
    ensure_eq!(
        state(&ctx, &alice, &new, "m.room.topic").await?["topic"],
        json!("kept"),
        "the topic carries over"
    );
    let server = alice.user_id.split(':').nth(1).unwrap_or("localhost");
    let resolved = ctx
        .op(Method::GET, "/_matrix/client/v3/directory/room/{roomAlias}")
        .arg(&format!("#{alias_name}:{server}"))
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        resolved.json()?["room_id"],
        json!(new),
        "the alias moved to the new room"
    );
    // The old room is for reading now; the conversation continues in the new one.
    let muted = ctx
        .op(
            Method::PUT,
            "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}",
        )
        .arg(&old)
        .arg("m.room.message")
        .arg("after-upgrade")
        .token(&bob.access_token)
        .json(&json!({"msgtype": "m.text", "body": "still here?"}))
        .send()
        .await?
        .expect_status(403)?;
    ensure_eq!(
        muted.errcode(),
        Some("M_FORBIDDEN"),
        "talking in the old room"
    );
    join(&ctx, &bob, &new).await?.expect_status(200)?;
    send_message(&ctx, &bob, &new, "moved over").await?;
    Ok(())
}

async fn upgrades_need_power_and_a_known_version(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("upgrade_owner").await?;
    let bob = ctx.register_user("upgrade_member").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    let refused = ctx
        .op(Method::POST, UPGRADE)
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({"new_version": "12"}))
        .send()
        .await?
        .expect_status(403)?;
    ensure_eq!(
        refused.errcode(),
        Some("M_FORBIDDEN"),
        "a member without power upgrading"
    );
    let unknown = ctx
        .op(Method::POST, UPGRADE)
        .arg(&room)
        .token(&alice.access_token)
        .json(&json!({"new_version": "999"}))
        .send()
        .await?
        .expect_status(400)?;
    ensure_eq!(
        unknown.errcode(),
        Some("M_UNSUPPORTED_ROOM_VERSION"),
        "an unknown room version"
    );
    Ok(())
}

//! Profiles (client-server "Profiles" module, with v1.16's extended profile fields).

use http::Method;
use serde_json::json;

use crate::{
    case,
    case::{Case, CaseResult},
    client::Ctx,
    ensure, ensure_eq,
};

const FIELD: &str = "/_matrix/client/v3/profile/{userId}/{keyName}";
const PROFILE: &str = "/_matrix/client/v3/profile/{userId}";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            new_user_has_a_display_name,
            section = "client-server-api/#get_matrixclientv3profileuserid",
            op = ("GET", "/_matrix/client/v3/profile/{userId}")
        ),
        case!(
            display_name_change_is_visible_to_anyone,
            section = "client-server-api/#put_matrixclientv3profileuseridkeyname",
            op = ("PUT", "/_matrix/client/v3/profile/{userId}/{keyName}")
        ),
        case!(
            profile_changes_reach_the_member_events_of_joined_rooms,
            section = "client-server-api/#events-on-change-of-profile-information",
            op = ("PUT", "/_matrix/client/v3/profile/{userId}/{keyName}")
        ),
        case!(
            changing_another_users_profile_is_forbidden,
            section = "client-server-api/#put_matrixclientv3profileuseridkeyname",
            op = ("PUT", "/_matrix/client/v3/profile/{userId}/{keyName}")
        ),
        case!(
            custom_profile_field_round_trips_and_deletes,
            section = "client-server-api/#delete_matrixclientv3profileuseridkeyname",
            op = ("DELETE", "/_matrix/client/v3/profile/{userId}/{keyName}")
        ),
        case!(
            profile_of_unknown_user_is_not_found,
            section = "client-server-api/#get_matrixclientv3profileuserid",
            op = ("GET", "/_matrix/client/v3/profile/{userId}")
        ),
        case!(
            unset_profile_field_is_not_found,
            section = "client-server-api/#get_matrixclientv3profileuseridkeyname",
            op = ("GET", "/_matrix/client/v3/profile/{userId}/{keyName}")
        ),
    ]
}

async fn new_user_has_a_display_name(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("prof").await?;
    let response = ctx
        .op(Method::GET, PROFILE)
        .arg(&user.user_id)
        .send()
        .await?
        .expect_status(200)?;
    ensure!(
        response.json()?["displayname"].is_string(),
        "no displayname in {}",
        response.json()?
    );
    Ok(())
}

async fn display_name_change_is_visible_to_anyone(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("named").await?;
    ctx.op(Method::PUT, FIELD)
        .arg(&user.user_id)
        .arg("displayname")
        .token(&user.access_token)
        .json(&json!({"displayname": "Conformance Name"}))
        .send()
        .await?
        .expect_status(200)?;
    let field = ctx
        .op(Method::GET, FIELD)
        .arg(&user.user_id)
        .arg("displayname")
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        field.json()?["displayname"].as_str(),
        Some("Conformance Name"),
        "field"
    );
    let whole = ctx
        .op(Method::GET, PROFILE)
        .arg(&user.user_id)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        whole.json()?["displayname"].as_str(),
        Some("Conformance Name"),
        "profile"
    );
    Ok(())
}

async fn changing_another_users_profile_is_forbidden(ctx: Ctx) -> CaseResult {
    let victim = ctx.register_user("victim").await?;
    let mallory = ctx.register_user("mallory").await?;
    let response = ctx
        .op(Method::PUT, FIELD)
        .arg(&victim.user_id)
        .arg("displayname")
        .token(&mallory.access_token)
        .json(&json!({"displayname": "pwned"}))
        .send()
        .await?;
    ensure_eq!(response.status, 403, "status");
    let field = ctx
        .op(Method::GET, FIELD)
        .arg(&victim.user_id)
        .arg("displayname")
        .send()
        .await?
        .expect_status(200)?;
    ensure!(
        field.json()?["displayname"] != "pwned",
        "the profile was changed"
    );
    Ok(())
}

async fn custom_profile_field_round_trips_and_deletes(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("custom").await?;
    let key = "org.rechain.conformance";
    ctx.op(Method::PUT, FIELD)
        .arg(&user.user_id)
        .arg(key)
        .token(&user.access_token)
        .json(&json!({key: {"nested": [1, 2]}}))
        .send()
        .await?
        .expect_status(200)?;
    let field = ctx
        .op(Method::GET, FIELD)
        .arg(&user.user_id)
        .arg(key)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(field.json()?[key], json!({"nested": [1, 2]}), "value");
    ctx.op(Method::DELETE, FIELD)
        .arg(&user.user_id)
        .arg(key)
        .token(&user.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let gone = ctx
        .op(Method::GET, FIELD)
        .arg(&user.user_id)
        .arg(key)
        .send()
        .await?;
    ensure_eq!(gone.status, 404, "after delete");
    Ok(())
}

async fn profile_of_unknown_user_is_not_found(ctx: Ctx) -> CaseResult {
    let host = ctx.register_user("host").await?;
    let server = host
        .user_id
        .split_once(':')
        .map(|(_, s)| s)
        .unwrap_or_default();
    let missing = format!("@nobody{}:{server}", rand::random::<u64>());
    let response = ctx.op(Method::GET, PROFILE).arg(&missing).send().await?;
    ensure_eq!(response.status, 404, "status");
    Ok(())
}

async fn unset_profile_field_is_not_found(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("unset").await?;
    let response = ctx
        .op(Method::GET, FIELD)
        .arg(&user.user_id)
        .arg("m.tz")
        .send()
        .await?;
    ensure_eq!(response.status, 404, "status");
    Ok(())
}

async fn profile_changes_reach_the_member_events_of_joined_rooms(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("renamer").await?;
    let bob = ctx.register_user("rename_watcher").await?;
    let created = ctx
        .op(Method::POST, "/_matrix/client/v3/createRoom")
        .token(&alice.access_token)
        .json(&json!({"preset": "public_chat"}))
        .send()
        .await?
        .expect_status(200)?;
    let room = created.json()?["room_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ctx.op(Method::POST, "/_matrix/client/v3/rooms/{roomId}/join")
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let set = |field: &str, value: serde_json::Value| {
        ctx.op(Method::PUT, FIELD)
            .arg(&alice.user_id)
            .arg(field)
            .token(&alice.access_token)
            .json(&json!({ field: value }))
    };
    let member_as_bob_sees_it = || async {
        let response = ctx
            .op(
                Method::GET,
                "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}",
            )
            .arg(&room)
            .arg("m.room.member")
            .arg(&alice.user_id)
            .token(&bob.access_token)
            .send()
            .await?
            .expect_status(200)?;
        Ok::<_, crate::case::CaseError>(response.json()?.clone())
    };
    set("displayname", json!("Alice Renamed"))
        .send()
        .await?
        .expect_status(200)?;
    set("avatar_url", json!("mxc://example.org/avatar"))
        .send()
        .await?
        .expect_status(200)?;
    // The spec asks for the member events to be updated, not for it to happen before the
    // profile write returns (Synapse does it in the background): wait a bounded while.
    let mut member = member_as_bob_sees_it().await?;
    for _ in 0..50 {
        if member["avatar_url"] == json!("mxc://example.org/avatar") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        member = member_as_bob_sees_it().await?;
    }
    ensure_eq!(
        member["membership"],
        json!("join"),
        "membership after a rename"
    );
    ensure_eq!(
        member["displayname"],
        json!("Alice Renamed"),
        "display name in the room"
    );
    ensure_eq!(
        member["avatar_url"],
        json!("mxc://example.org/avatar"),
        "avatar in the room"
    );
    ctx.op(Method::DELETE, FIELD)
        .arg(&alice.user_id)
        .arg("avatar_url")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let mut member = member_as_bob_sees_it().await?;
    for _ in 0..50 {
        if member.get("avatar_url").is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        member = member_as_bob_sees_it().await?;
    }
    ensure!(
        member.get("avatar_url").is_none(),
        "avatar removed from the member event: {member}"
    );
    Ok(())
}

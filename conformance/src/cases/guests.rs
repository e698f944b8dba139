//! Guest access: guest accounts, the endpoints they may use, and rooms that admit them.

use http::Method;
use serde_json::{Value, json};

use super::common::{create_room, join, send_message, set_state};
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, UserSession},
    ensure, ensure_eq,
};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            guests_join_only_rooms_that_admit_them,
            section = "client-server-api/#guest-access",
            op = ("POST", "/_matrix/client/v3/register")
        ),
        case!(
            a_guest_upgrades_to_a_full_account,
            section = "client-server-api/#guest-access",
            op = ("POST", "/_matrix/client/v3/register")
        ),
        case!(
            guests_are_kept_to_their_endpoints,
            section = "client-server-api/#guest-access",
            op = ("POST", "/_matrix/client/v3/createRoom")
        ),
    ]
}

/// A guest session, or a skip when the server has guest access off.
async fn guest(ctx: &Ctx) -> Result<(String, String), CaseError> {
    let response = ctx
        .op(Method::POST, "/_matrix/client/v3/register")
        .query("kind", "guest")
        .json(&json!({}))
        .send()
        .await?;
    if response.status == 403 {
        return Err(CaseError::Skip(
            "the server does not allow guests".to_owned(),
        ));
    }
    let body = response.expect_status(200)?.json()?.clone();
    let field = |name: &str| {
        body[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| CaseError::Fail(format!("guest registration lacks {name}: {body}")))
    };
    Ok((field("user_id")?, field("access_token")?))
}

fn as_session(user_id: String, token: String) -> UserSession {
    UserSession {
        user_id,
        access_token: token,
        device_id: String::new(),
        password: String::new(),
    }
}

async fn guests_join_only_rooms_that_admit_them(ctx: Ctx) -> CaseResult {
    let (guest_id, token) = guest(&ctx).await?;
    let guest = as_session(guest_id.clone(), token.clone());
    let whoami = ctx
        .op(Method::GET, "/_matrix/client/v3/account/whoami")
        .token(&token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(whoami.json()?["is_guest"], json!(true), "whoami says guest");
    let alice = ctx.register_user("guest_host").await?;
    let closed = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    // The spec lists M_GUEST_ACCESS_FORBIDDEN for this, and M_FORBIDDEN for joining without
    // permission; it ties neither to the guest join.
    join(&ctx, &guest, &closed)
        .await?
        .expect_status(403)?
        .expect_errcode_in(
            &["M_GUEST_ACCESS_FORBIDDEN", "M_FORBIDDEN"],
            "joining a room without guest access",
        )?;
    let open = create_room(
        &ctx,
        &alice,
        json!({"preset": "public_chat", "initial_state": [
            {"type": "m.room.guest_access", "state_key": "", "content": {"guest_access": "can_join"}}
        ]}),
    )
    .await?;
    join(&ctx, &guest, &open).await?.expect_status(200)?;
    send_message(&ctx, &guest, &open, "a guest speaks").await?;
    // Closing the room to guests makes its guests leave.
    set_state(
        &ctx,
        &alice,
        &open,
        ("m.room.guest_access", ""),
        json!({"guest_access": "forbidden"}),
    )
    .await?;
    let members = ctx
        .op(Method::GET, "/_matrix/client/v3/rooms/{roomId}/members")
        .arg(&open)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let membership = members.json()?["chunk"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["state_key"] == json!(guest_id))
        .map(|e| e["content"]["membership"].clone());
    ensure_eq!(
        membership,
        Some(json!("leave")),
        "the guest left when the room closed to guests"
    );
    Ok(())
}

async fn guests_are_kept_to_their_endpoints(ctx: Ctx) -> CaseResult {
    let (_, token) = guest(&ctx).await?;
    let refused = ctx
        .op(Method::POST, "/_matrix/client/v3/createRoom")
        .token(&token)
        .json(&json!({}))
        .send()
        .await?;
    ensure_eq!(refused.status, 403, "a guest creating a room");
    refused.expect_errcode_in(
        &["M_GUEST_ACCESS_FORBIDDEN", "M_FORBIDDEN"],
        "a guest creating a room",
    )?;
    let synced = ctx
        .op(Method::GET, "/_matrix/client/v3/sync")
        .token(&token)
        .query("timeout", "0")
        .send()
        .await?;
    ensure_eq!(synced.status, 200, "a guest may sync");
    let avatar = ctx
        .op(Method::PUT, "/_matrix/client/v3/profile/{userId}/{keyName}")
        .arg(&whoami_user(&ctx, &token).await?)
        .arg("avatar_url")
        .token(&token)
        .json(&json!({"avatar_url": "mxc://example.org/abc"}))
        .send()
        .await?;
    ensure!(
        avatar.status == 403 && avatar.errcode() == Some("M_GUEST_ACCESS_FORBIDDEN"),
        "a guest may not set an avatar, got {} {:?}",
        avatar.status,
        avatar.errcode()
    );
    Ok(())
}

async fn whoami_user(ctx: &Ctx, token: &str) -> Result<String, CaseError> {
    let body: Value = ctx
        .op(Method::GET, "/_matrix/client/v3/account/whoami")
        .token(token)
        .send()
        .await?
        .expect_status(200)?
        .json()?
        .clone();
    body["user_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CaseError::Fail("whoami without user_id".to_owned()))
}

async fn a_guest_upgrades_to_a_full_account(ctx: Ctx) -> CaseResult {
    let (guest_id, guest_token) = guest(&ctx).await?;
    let localpart = guest_id
        .trim_start_matches('@')
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let upgrade = |username: &str| {
        json!({
            "username": username,
            "password": "a long upgraded password",
            "guest_access_token": guest_token,
        })
    };
    // Another name with the guest's token is refused: the token only upgrades its own guest.
    let renamed = register_with_dummy(&ctx, upgrade(&format!("{localpart}x"))).await?;
    // The spec names no error for either refusal below.
    renamed.expect_refusal("upgrading a guest under another name")?;
    let upgraded = register_with_dummy(&ctx, upgrade(&localpart))
        .await?
        .expect_status(200)?;
    let body = upgraded.json()?;
    ensure_eq!(
        body["user_id"],
        json!(guest_id),
        "the upgraded account keeps its user id"
    );
    let token = body["access_token"].as_str().unwrap_or_default().to_owned();
    let whoami: Value = ctx
        .op(Method::GET, "/_matrix/client/v3/account/whoami")
        .token(&token)
        .send()
        .await?
        .expect_status(200)?
        .json()?
        .clone();
    // `is_guest` defaults to false when absent.
    ensure!(
        whoami["is_guest"] != json!(true),
        "whoami after the upgrade: {whoami}"
    );
    let room = ctx
        .op(Method::POST, "/_matrix/client/v3/createRoom")
        .token(&token)
        .json(&json!({}))
        .send()
        .await?;
    ensure_eq!(room.status, 200, "a full account may create rooms");
    let login = ctx
        .op(Method::POST, "/_matrix/client/v3/login")
        .json(&json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart},
                      "password": "a long upgraded password"}))
        .send()
        .await?;
    ensure_eq!(
        login.status,
        200,
        "logging in with the password chosen at the upgrade"
    );
    // The token of a full account upgrades nothing.
    let again = register_with_dummy(&ctx, upgrade(&localpart)).await?;
    again.expect_refusal("upgrading an account that is no longer a guest")?;
    Ok(())
}

/// `POST /register` through the dummy stage: the first round opens the session.
async fn register_with_dummy(
    ctx: &Ctx,
    mut body: Value,
) -> Result<crate::client::Response, CaseError> {
    let path = "/_matrix/client/v3/register";
    let first = ctx.op(Method::POST, path).json(&body).send().await?;
    if first.status != 401 {
        return Ok(first);
    }
    let session = first.json()?["session"].clone();
    body["auth"] = json!({"type": "m.login.dummy", "session": session});
    ctx.op(Method::POST, path).json(&body).send().await
}

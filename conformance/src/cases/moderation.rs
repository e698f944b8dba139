//! Membership changes beyond join and leave: kicking, banning, unbanning, knocking, and
//! forgetting a room once left.

use http::Method;
use serde_json::{Value, json};

use super::common::join;
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, Response, UserSession},
    ensure, ensure_eq,
};

const KICK: &str = "/_matrix/client/v3/rooms/{roomId}/kick";
const BAN: &str = "/_matrix/client/v3/rooms/{roomId}/ban";
const UNBAN: &str = "/_matrix/client/v3/rooms/{roomId}/unban";
const FORGET: &str = "/_matrix/client/v3/rooms/{roomId}/forget";
const LEAVE: &str = "/_matrix/client/v3/rooms/{roomId}/leave";
const MEMBER: &str = "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            kick_needs_power_and_a_member_to_kick,
            section = "client-server-api/#post_matrixclientv3roomsroomidkick",
            op = ("POST", "/_matrix/client/v3/rooms/{roomId}/kick")
        ),
        case!(
            ban_keeps_a_user_out_until_unbanned,
            section = "client-server-api/#banning-users-in-a-room",
            op = ("POST", "/_matrix/client/v3/rooms/{roomId}/ban")
        ),
        case!(
            unban_needs_power_and_a_banned_user,
            section = "client-server-api/#post_matrixclientv3roomsroomidunban",
            op = ("POST", "/_matrix/client/v3/rooms/{roomId}/unban")
        ),
        case!(
            knocking_asks_to_join_a_knock_room,
            section = "client-server-api/#knocking-on-rooms",
            op = ("POST", "/_matrix/client/v3/knock/{roomIdOrAlias}")
        ),
        case!(
            forget_needs_the_room_left_first,
            section = "client-server-api/#post_matrixclientv3roomsroomidforget",
            op = ("POST", "/_matrix/client/v3/rooms/{roomId}/forget")
        ),
    ]
}

/// A public room created by a fresh user, with `others` fresh users joined.
async fn public_room(
    ctx: &Ctx,
    others: usize,
) -> Result<(String, UserSession, Vec<UserSession>), CaseError> {
    let owner = ctx.register_user("mod_owner").await?;
    let created = ctx
        .op(Method::POST, "/_matrix/client/v3/createRoom")
        .token(&owner.access_token)
        .json(&json!({"preset": "public_chat"}))
        .send()
        .await?
        .expect_status(200)?;
    let room = created.json()?["room_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut members = Vec::new();
    for _ in 0..others {
        let member = ctx.register_user("mod_member").await?;
        join(ctx, &member, &room).await?.expect_status(200)?;
        members.push(member);
    }
    Ok((room, owner, members))
}

async fn act(
    ctx: &Ctx,
    path: &'static str,
    actor: &UserSession,
    room: &str,
    target: &str,
) -> Result<Response, CaseError> {
    ctx.op(Method::POST, path)
        .arg(room)
        .token(&actor.access_token)
        .json(&json!({"user_id": target, "reason": "conformance"}))
        .send()
        .await
}

/// The target's membership as the room's current state has it, read by `reader`.
async fn membership(
    ctx: &Ctx,
    reader: &UserSession,
    room: &str,
    target: &str,
) -> Result<Value, CaseError> {
    let response = ctx
        .op(Method::GET, MEMBER)
        .arg(room)
        .arg("m.room.member")
        .arg(target)
        .token(&reader.access_token)
        .send()
        .await?
        .expect_status(200)?;
    Ok(response.json()?["membership"].clone())
}

/// A 403 refusal. The membership endpoints ask for "a meaningful errcode" without naming
/// one; the spec's error list gives M_FORBIDDEN for acting without permission and
/// M_BAD_STATE for a state change that cannot be made (its example: unbanning a user who is
/// not banned), so either is accepted.
fn expect_forbidden(response: Response, what: &str) -> CaseResult {
    response
        .expect_status(403)?
        .expect_errcode_in(&["M_FORBIDDEN", "M_BAD_STATE"], what)?;
    Ok(())
}

async fn kick_needs_power_and_a_member_to_kick(ctx: Ctx) -> CaseResult {
    let (room, owner, members) = public_room(&ctx, 2).await?;
    let (bob, carol) = (&members[0], &members[1]);
    expect_forbidden(
        act(&ctx, KICK, bob, &room, &carol.user_id).await?,
        "a member at power 0 kicking",
    )?;
    act(&ctx, KICK, &owner, &room, &carol.user_id)
        .await?
        .expect_status(200)?;
    ensure_eq!(
        membership(&ctx, &owner, &room, &carol.user_id).await?,
        json!("leave"),
        "kicked user's membership"
    );
    // A kick is not a ban: the room is public, so the kicked user may come back.
    join(&ctx, carol, &room).await?.expect_status(200)?;
    let stranger = ctx.register_user("mod_stranger").await?;
    expect_forbidden(
        act(&ctx, KICK, &owner, &room, &stranger.user_id).await?,
        "kicking a user who is not in the room",
    )?;
    Ok(())
}

async fn ban_keeps_a_user_out_until_unbanned(ctx: Ctx) -> CaseResult {
    let (room, owner, members) = public_room(&ctx, 1).await?;
    let bob = &members[0];
    act(&ctx, BAN, &owner, &room, &bob.user_id)
        .await?
        .expect_status(200)?;
    ensure_eq!(
        membership(&ctx, &owner, &room, &bob.user_id).await?,
        json!("ban"),
        "banned user's membership"
    );
    expect_forbidden(join(&ctx, bob, &room).await?, "a banned user joining")?;
    // Users who never joined can be banned pre-emptively.
    let stranger = ctx.register_user("mod_preban").await?;
    act(&ctx, BAN, &owner, &room, &stranger.user_id)
        .await?
        .expect_status(200)?;
    expect_forbidden(
        join(&ctx, &stranger, &room).await?,
        "a pre-emptively banned user joining",
    )?;
    act(&ctx, UNBAN, &owner, &room, &bob.user_id)
        .await?
        .expect_status(200)?;
    ensure_eq!(
        membership(&ctx, &owner, &room, &bob.user_id).await?,
        json!("leave"),
        "unbanned user's membership"
    );
    join(&ctx, bob, &room).await?.expect_status(200)?;
    Ok(())
}

async fn unban_needs_power_and_a_banned_user(ctx: Ctx) -> CaseResult {
    let (room, owner, members) = public_room(&ctx, 2).await?;
    let (bob, carol) = (&members[0], &members[1]);
    expect_forbidden(
        act(&ctx, UNBAN, &owner, &room, &bob.user_id).await?,
        "unbanning a user who is not banned",
    )?;
    expect_forbidden(
        act(&ctx, BAN, bob, &room, &carol.user_id).await?,
        "a member at power 0 banning",
    )?;
    act(&ctx, BAN, &owner, &room, &carol.user_id)
        .await?
        .expect_status(200)?;
    expect_forbidden(
        act(&ctx, UNBAN, bob, &room, &carol.user_id).await?,
        "a member at power 0 unbanning",
    )?;
    ensure_eq!(
        membership(&ctx, &owner, &room, &carol.user_id).await?,
        json!("ban"),
        "membership after a refused unban"
    );
    Ok(())
}

async fn forget_needs_the_room_left_first(ctx: Ctx) -> CaseResult {
    let (room, _owner, members) = public_room(&ctx, 1).await?;
    let bob = &members[0];
    let forget = |user: &UserSession| {
        ctx.op(Method::POST, FORGET)
            .arg(&room)
            .token(&user.access_token)
            .json(&json!({}))
    };
    // 400 is documented ("the user has not left the room"); the errcode is only an example.
    forget(bob).send().await?.expect_status(400)?;
    ctx.op(Method::POST, LEAVE)
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    forget(bob).send().await?.expect_status(200)?;
    // A room never joined is not covered by the spec: a no-op or a refusal both do, and
    // the validator has checked the answer's shape.
    let stranger = ctx.register_user("forget_stranger").await?;
    let answer = forget(&stranger).send().await?;
    ensure!(
        answer.status == 200 || (400..500).contains(&answer.status),
        "forgetting a room never joined answered {}",
        answer.status
    );
    Ok(())
}

async fn knocking_asks_to_join_a_knock_room(ctx: Ctx) -> CaseResult {
    let (public_room, owner, _) = public_room(&ctx, 0).await?;
    let created = ctx
        .op(Method::POST, "/_matrix/client/v3/createRoom")
        .token(&owner.access_token)
        .json(&json!({
            "preset": "private_chat",
            "initial_state": [{"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "knock"}}],
        }))
        .send()
        .await?
        .expect_status(200)?;
    let room = created.json()?["room_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let bob = ctx.register_user("knocker").await?;
    let knock = |room: &str| {
        ctx.op(Method::POST, "/_matrix/client/v3/knock/{roomIdOrAlias}")
            .arg(room)
            .token(&bob.access_token)
            .json(&json!({"reason": "let me in"}))
    };
    let knocked = knock(&room).send().await?.expect_status(200)?;
    ensure_eq!(knocked.json()?["room_id"], json!(room), "knock response");
    ensure_eq!(
        membership(&ctx, &owner, &room, &bob.user_id).await?,
        json!("knock"),
        "the knocker's membership"
    );
    let synced = ctx
        .op(Method::GET, "/_matrix/client/v3/sync")
        .token(&bob.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let section = &synced.json()?["rooms"]["knock"][room.as_str()];
    ensure!(
        section["knock_state"]["events"].is_array(),
        "the room in the knocker's sync: {section}"
    );
    act(
        &ctx,
        "/_matrix/client/v3/rooms/{roomId}/invite",
        &owner,
        &room,
        &bob.user_id,
    )
    .await?
    .expect_status(200)?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    expect_forbidden(
        knock(&public_room).send().await?,
        "knocking on a room whose join rule is public",
    )?;
    Ok(())
}

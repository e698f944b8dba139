//! Rooms: creation, membership, sending events, reading state and events, and who may do what.

use http::Method;
use serde_json::json;

use super::common::create_room;
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, UserSession},
    ensure, ensure_eq,
};

const CREATE: &str = "/_matrix/client/v3/createRoom";
const SEND: &str = "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}";
const STATE: &str = "/_matrix/client/v3/rooms/{roomId}/state";
const STATE_KEY: &str = "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}";
const EVENT: &str = "/_matrix/client/v3/rooms/{roomId}/event/{eventId}";
const JOIN: &str = "/_matrix/client/v3/rooms/{roomId}/join";
const LEAVE: &str = "/_matrix/client/v3/rooms/{roomId}/leave";
const INVITE: &str = "/_matrix/client/v3/rooms/{roomId}/invite";
const JOINED: &str = "/_matrix/client/v3/joined_rooms";
const REDACT: &str = "/_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            join_by_id_or_alias_accepts_an_empty_body,
            section = "client-server-api/#post_matrixclientv3joinroomidoralias",
            op = ("POST", "/_matrix/client/v3/join/{roomIdOrAlias}")
        ),
        case!(
            members_are_listed_by_membership,
            section = "client-server-api/#get_matrixclientv3roomsroomidmembers",
            op = ("GET", "/_matrix/client/v3/rooms/{roomId}/members")
        ),
        case!(
            transaction_ids_are_scoped_to_the_room,
            section = "client-server-api/#transaction-identifiers",
            op = (
                "PUT",
                "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"
            )
        ),
        case!(
            redacting_own_event_strips_its_content,
            section = "client-server-api/#put_matrixclientv3roomsroomidredacteventidtxnid",
            op = (
                "PUT",
                "/_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}"
            )
        ),
        case!(
            redacting_others_events_needs_the_redact_level,
            section = "client-server-api/#put_matrixclientv3roomsroomidredacteventidtxnid",
            op = (
                "PUT",
                "/_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}"
            )
        ),
        case!(
            created_room_has_its_creator_joined_and_initial_state,
            section = "client-server-api/#post_matrixclientv3createroom",
            op = ("POST", "/_matrix/client/v3/createRoom")
        ),
        case!(
            create_room_with_unknown_version_is_refused,
            section = "client-server-api/#post_matrixclientv3createroom",
            op = ("POST", "/_matrix/client/v3/createRoom")
        ),
        case!(
            send_is_idempotent_per_transaction_id,
            section = "client-server-api/#put_matrixclientv3roomsroomidsendeventtypetxnid",
            op = (
                "PUT",
                "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"
            )
        ),
        case!(
            sent_event_is_readable_by_members,
            section = "client-server-api/#get_matrixclientv3roomsroomideventeventid",
            op = ("GET", "/_matrix/client/v3/rooms/{roomId}/event/{eventId}")
        ),
        case!(
            non_member_can_neither_send_nor_read,
            section = "client-server-api/#put_matrixclientv3roomsroomidsendeventtypetxnid",
            op = (
                "PUT",
                "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"
            )
        ),
        case!(
            state_event_round_trips,
            section = "client-server-api/#put_matrixclientv3roomsroomidstateeventtypestatekey",
            op = (
                "PUT",
                "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}"
            )
        ),
        case!(
            state_needs_power,
            section = "client-server-api/#put_matrixclientv3roomsroomidstateeventtypestatekey",
            op = (
                "PUT",
                "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}"
            )
        ),
        case!(
            public_room_is_joinable,
            section = "client-server-api/#post_matrixclientv3roomsroomidjoin",
            op = ("POST", "/_matrix/client/v3/rooms/{roomId}/join")
        ),
        case!(
            private_room_needs_an_invite,
            section = "client-server-api/#post_matrixclientv3roomsroomidinvite",
            op = ("POST", "/_matrix/client/v3/rooms/{roomId}/invite")
        ),
        case!(
            leaving_ends_the_right_to_send,
            section = "client-server-api/#post_matrixclientv3roomsroomidleave",
            op = ("POST", "/_matrix/client/v3/rooms/{roomId}/leave")
        ),
    ]
}

async fn send_text(
    ctx: &Ctx,
    user: &UserSession,
    room: &str,
    txn: &str,
    body: &str,
) -> Result<crate::client::Response, CaseError> {
    ctx.op(Method::PUT, SEND)
        .arg(room)
        .arg("m.room.message")
        .arg(txn)
        .token(&user.access_token)
        .json(&json!({"msgtype": "m.text", "body": body}))
        .send()
        .await
}

async fn created_room_has_its_creator_joined_and_initial_state(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("creator").await?;
    let room = create_room(
        &ctx,
        &alice,
        json!({"name": "Conformance", "topic": "Testing"}),
    )
    .await?;
    let joined = ctx
        .op(Method::GET, JOINED)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure!(
        joined.json()?["joined_rooms"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r == room.as_str())),
        "room not in joined_rooms"
    );
    let state = ctx
        .op(Method::GET, STATE)
        .arg(&room)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let events = state.json()?.as_array().cloned().unwrap_or_default();
    for t in [
        "m.room.create",
        "m.room.power_levels",
        "m.room.join_rules",
        "m.room.name",
        "m.room.topic",
    ] {
        ensure!(
            events.iter().any(|e| e["type"] == t),
            "{t} missing from the initial state"
        );
    }
    let member = events
        .iter()
        .find(|e| e["type"] == "m.room.member" && e["state_key"] == alice.user_id.as_str())
        .ok_or_else(|| CaseError::Fail("no member event for the creator".to_owned()))?;
    ensure_eq!(
        member["content"]["membership"].as_str(),
        Some("join"),
        "creator membership"
    );
    let name = ctx
        .op(Method::GET, STATE_KEY)
        .arg(&room)
        .arg("m.room.name")
        .arg("")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(name.json()?["name"].as_str(), Some("Conformance"), "name");
    Ok(())
}

async fn create_room_with_unknown_version_is_refused(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("badver").await?;
    let response = ctx
        .op(Method::POST, CREATE)
        .token(&alice.access_token)
        .json(&json!({"room_version": "no-such-version"}))
        .send()
        .await?;
    ensure_eq!(response.status, 400, "status");
    ensure_eq!(
        response.errcode(),
        Some("M_UNSUPPORTED_ROOM_VERSION"),
        "errcode"
    );
    Ok(())
}

async fn send_is_idempotent_per_transaction_id(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("txn").await?;
    let room = create_room(&ctx, &alice, json!({})).await?;
    let first = send_text(&ctx, &alice, &room, "txn-1", "once")
        .await?
        .expect_status(200)?;
    let again = send_text(&ctx, &alice, &room, "txn-1", "once")
        .await?
        .expect_status(200)?;
    ensure_eq!(
        first.json()?["event_id"],
        again.json()?["event_id"],
        "retried send"
    );
    let other = send_text(&ctx, &alice, &room, "txn-2", "twice")
        .await?
        .expect_status(200)?;
    ensure!(
        other.json()?["event_id"] != first.json()?["event_id"],
        "a new transaction id made no new event"
    );
    Ok(())
}

async fn sent_event_is_readable_by_members(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("reader").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    let sent = send_text(&ctx, &alice, &room, "r1", "readable")
        .await?
        .expect_status(200)?;
    let id = sent.json()?["event_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let bob = ctx.register_user("member").await?;
    ctx.op(Method::POST, JOIN)
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let event = ctx
        .op(Method::GET, EVENT)
        .arg(&room)
        .arg(&id)
        .token(&bob.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let json = event.json()?;
    ensure_eq!(json["content"]["body"].as_str(), Some("readable"), "body");
    ensure_eq!(
        json["sender"].as_str(),
        Some(alice.user_id.as_str()),
        "sender"
    );
    ensure_eq!(json["event_id"].as_str(), Some(id.as_str()), "event_id");
    Ok(())
}

async fn non_member_can_neither_send_nor_read(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("owner").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "private_chat"})).await?;
    let sent = send_text(&ctx, &alice, &room, "p1", "private")
        .await?
        .expect_status(200)?;
    let id = sent.json()?["event_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mallory = ctx.register_user("outsider").await?;
    let send = send_text(&ctx, &mallory, &room, "m1", "let me in").await?;
    ensure_eq!(send.status, 403, "send by a non-member");
    let read = ctx
        .op(Method::GET, EVENT)
        .arg(&room)
        .arg(&id)
        .token(&mallory.access_token)
        .send()
        .await?;
    ensure!(
        read.status == 403 || read.status == 404,
        "read by a non-member answered {}",
        read.status
    );
    let state = ctx
        .op(Method::GET, STATE)
        .arg(&room)
        .token(&mallory.access_token)
        .send()
        .await?;
    ensure_eq!(state.status, 403, "state read by a non-member");
    Ok(())
}

async fn state_event_round_trips(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("stater").await?;
    let room = create_room(&ctx, &alice, json!({})).await?;
    ctx.op(Method::PUT, STATE_KEY)
        .arg(&room)
        .arg("org.rechain.conformance")
        .arg("key")
        .token(&alice.access_token)
        .json(&json!({"value": 42}))
        .send()
        .await?
        .expect_status(200)?;
    let read = ctx
        .op(Method::GET, STATE_KEY)
        .arg(&room)
        .arg("org.rechain.conformance")
        .arg("key")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(read.json()?["value"], json!(42), "content");
    let missing = ctx
        .op(Method::GET, STATE_KEY)
        .arg(&room)
        .arg("org.rechain.conformance")
        .arg("other")
        .token(&alice.access_token)
        .send()
        .await?;
    ensure_eq!(missing.status, 404, "unset state key");
    Ok(())
}

async fn state_needs_power(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("admin").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    let bob = ctx.register_user("pleb").await?;
    ctx.op(Method::POST, JOIN)
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let response = ctx
        .op(Method::PUT, STATE_KEY)
        .arg(&room)
        .arg("m.room.name")
        .arg("")
        .token(&bob.access_token)
        .json(&json!({"name": "taken over"}))
        .send()
        .await?;
    ensure_eq!(
        response.status,
        403,
        "name change by a member without power"
    );
    Ok(())
}

async fn public_room_is_joinable(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("host").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    let bob = ctx.register_user("guest").await?;
    let joined = ctx
        .op(Method::POST, JOIN)
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        joined.json()?["room_id"].as_str(),
        Some(room.as_str()),
        "room_id"
    );
    send_text(&ctx, &bob, &room, "b1", "hi all")
        .await?
        .expect_status(200)?;
    Ok(())
}

async fn private_room_needs_an_invite(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("inviter").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "private_chat"})).await?;
    let bob = ctx.register_user("invitee").await?;
    let refused = ctx
        .op(Method::POST, JOIN)
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?;
    ensure_eq!(refused.status, 403, "join without an invite");
    ctx.op(Method::POST, INVITE)
        .arg(&room)
        .token(&alice.access_token)
        .json(&json!({"user_id": bob.user_id}))
        .send()
        .await?
        .expect_status(200)?;
    ctx.op(Method::POST, JOIN)
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    Ok(())
}

async fn leaving_ends_the_right_to_send(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("leaver").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    let bob = ctx.register_user("stayer").await?;
    ctx.op(Method::POST, JOIN)
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    ctx.op(Method::POST, LEAVE)
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let send = send_text(&ctx, &bob, &room, "late", "still here?").await?;
    ensure_eq!(send.status, 403, "send after leaving");
    let joined = ctx
        .op(Method::GET, JOINED)
        .token(&bob.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure!(
        joined.json()?["joined_rooms"]
            .as_array()
            .is_some_and(|r| r.iter().all(|r| r != room.as_str())),
        "left room still listed"
    );
    Ok(())
}

async fn redact(
    ctx: &Ctx,
    user: &UserSession,
    room: &str,
    event: &str,
) -> Result<crate::client::Response, CaseError> {
    ctx.op(Method::PUT, REDACT)
        .arg(room)
        .arg(event)
        .arg(&format!("r{}", rand::random::<u64>()))
        .token(&user.access_token)
        .json(&json!({"reason": "conformance"}))
        .send()
        .await
}

/// In the default room version and in version 10, where a redaction names its target at the
/// top level of the event rather than in its content.
async fn redacting_own_event_strips_its_content(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("redactor").await?;
    for body in [json!({}), json!({"room_version": "10"})] {
        let room = create_room(&ctx, &alice, body).await?;
        let sent = send_text(&ctx, &alice, &room, "oops1", "regrettable")
            .await?
            .expect_status(200)?;
        let id = sent.json()?["event_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let redaction = redact(&ctx, &alice, &room, &id).await?.expect_status(200)?;
        ensure!(
            redaction.json()?["event_id"]
                .as_str()
                .is_some_and(|r| r != id),
            "no redaction event id"
        );
        let event = ctx
            .op(Method::GET, EVENT)
            .arg(&room)
            .arg(&id)
            .token(&alice.access_token)
            .send()
            .await?
            .expect_status(200)?;
        let json = event.json()?;
        ensure_eq!(json["content"], json!({}), "content after redaction");
        ensure_eq!(
            json["unsigned"]["redacted_because"]["type"],
            json!("m.room.redaction"),
            "unsigned.redacted_because holds the redaction event: {json}"
        );
        // Before v11 the target is only at the top level; from v11 it is in the content, and
        // servers keep serving it at the top level for clients that read it only there.
        ensure_eq!(
            json["unsigned"]["redacted_because"]["redacts"],
            json!(id),
            "the redaction names its target at the top level: {json}"
        );
    }
    Ok(())
}

async fn redacting_others_events_needs_the_redact_level(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("moderator").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    let bob = ctx.register_user("member").await?;
    ctx.op(Method::POST, JOIN)
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let alices = send_text(&ctx, &alice, &room, "a1", "by alice")
        .await?
        .expect_status(200)?;
    let alices = alices.json()?["event_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let bobs = send_text(&ctx, &bob, &room, "b1", "by bob")
        .await?
        .expect_status(200)?;
    let bobs = bobs.json()?["event_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let refused = redact(&ctx, &bob, &room, &alices).await?;
    ensure_eq!(
        refused.status,
        403,
        "a member redacting the creator's event"
    );
    redact(&ctx, &alice, &room, &bobs)
        .await?
        .expect_status(200)?;
    let intact = ctx
        .op(Method::GET, EVENT)
        .arg(&room)
        .arg(&alices)
        .token(&bob.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        intact.json()?["content"]["body"].as_str(),
        Some("by alice"),
        "the refused redaction changed nothing"
    );
    Ok(())
}

/// Transaction ids are scoped to the request path: the same id in another room is a new send.
async fn transaction_ids_are_scoped_to_the_room(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("scoped").await?;
    let first = create_room(&ctx, &alice, json!({})).await?;
    let second = create_room(&ctx, &alice, json!({})).await?;
    let a = send_text(&ctx, &alice, &first, "same-txn", "one")
        .await?
        .expect_status(200)?;
    let b = send_text(&ctx, &alice, &second, "same-txn", "two")
        .await?
        .expect_status(200)?;
    ensure!(
        a.json()?["event_id"] != b.json()?["event_id"],
        "one transaction id in two rooms gave one event"
    );
    let event = ctx
        .op(Method::GET, EVENT)
        .arg(&second)
        .arg(b.json()?["event_id"].as_str().unwrap_or_default())
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        event.json()?["content"]["body"].as_str(),
        Some("two"),
        "body in the second room"
    );
    Ok(())
}

async fn members_are_listed_by_membership(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("lister").await?;
    let bob = ctx.register_user("joiner").await?;
    let carol = ctx.register_user("pending").await?;
    let room = create_room(
        &ctx,
        &alice,
        json!({"preset": "public_chat", "invite": [carol.user_id]}),
    )
    .await?;
    ctx.op(Method::POST, JOIN)
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let joined = ctx
        .op(
            Method::GET,
            "/_matrix/client/v3/rooms/{roomId}/joined_members",
        )
        .arg(&room)
        .token(&bob.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let joined = joined.json()?["joined"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut names: Vec<&String> = joined.keys().collect();
    names.sort();
    let mut expected = vec![&alice.user_id, &bob.user_id];
    expected.sort();
    ensure_eq!(names, expected, "joined members");
    ensure!(
        joined[&alice.user_id]["display_name"].is_string(),
        "no display name for {}",
        alice.user_id
    );
    let invited = ctx
        .op(Method::GET, "/_matrix/client/v3/rooms/{roomId}/members")
        .arg(&room)
        .query("membership", "invite")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let chunk = invited.json()?["chunk"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure_eq!(chunk.len(), 1, "invited members");
    ensure_eq!(
        chunk[0]["state_key"].as_str(),
        Some(carol.user_id.as_str()),
        "the invitee"
    );
    let outsider = ctx.register_user("nosy").await?;
    let refused = ctx
        .op(Method::GET, "/_matrix/client/v3/rooms/{roomId}/members")
        .arg(&room)
        .token(&outsider.access_token)
        .send()
        .await?;
    ensure_eq!(refused.status, 403, "members for a non-member");
    Ok(())
}

/// Clients often send no body at all; `/join/{roomIdOrAlias}` must still work.
async fn join_by_id_or_alias_accepts_an_empty_body(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("opener").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    let bob = ctx.register_user("arriver").await?;
    let joined = ctx
        .op(Method::POST, "/_matrix/client/v3/join/{roomIdOrAlias}")
        .arg(&room)
        .token(&bob.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        joined.json()?["room_id"].as_str(),
        Some(room.as_str()),
        "room_id"
    );
    Ok(())
}

//! The filter language: rooms, event types and senders in `/sync` and `/messages`, and
//! lazy-loaded members.

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
            event_fields_keep_what_was_asked_for,
            section = "client-server-api/#filtering",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            federation_event_format_serves_the_signed_event,
            section = "client-server-api/#filtering",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            sync_filters_select_rooms_types_and_senders,
            section = "client-server-api/#filtering",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            state_filters_select_the_state_sections_events,
            section = "client-server-api/#filtering",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            federation_event_format_applies_to_state_events,
            section = "client-server-api/#filtering",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            lazy_loaded_sync_state_holds_only_the_senders,
            section = "client-server-api/#lazy-loading-room-members",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            messages_filter_by_type_and_lazy_load_members,
            section = "client-server-api/#get_matrixclientv3roomsroomidmessages",
            op = ("GET", "/_matrix/client/v3/rooms/{roomId}/messages")
        ),
    ]
}

async fn filtered_sync(ctx: &Ctx, user: &UserSession, filter: Value) -> Result<Value, CaseError> {
    Ok(ctx
        .op(Method::GET, "/_matrix/client/v3/sync")
        .token(&user.access_token)
        .query("filter", &filter.to_string())
        .query("timeout", "0")
        .send()
        .await?
        .expect_status(200)?
        .json()?
        .clone())
}

fn events(section: &Value) -> Vec<&Value> {
    section["events"].as_array().into_iter().flatten().collect()
}

async fn sync_filters_select_rooms_types_and_senders(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("filter_a").await?;
    let bob = ctx.register_user("filter_b").await?;
    let wanted = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    let other = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    join(&ctx, &bob, &wanted).await?.expect_status(200)?;
    let mine = send_message(&ctx, &alice, &wanted, "from alice").await?;
    let bobs = send_message(&ctx, &bob, &wanted, "from bob").await?;
    send_message(&ctx, &alice, &other, "elsewhere").await?;
    let body = filtered_sync(
        &ctx,
        &alice,
        json!({"room": {
            "rooms": [wanted],
            "timeline": {"types": ["m.room.message"], "not_senders": [bob.user_id], "limit": 20},
        }}),
    )
    .await?;
    let joined = &body["rooms"]["join"];
    ensure!(
        joined.get(other.as_str()).is_none(),
        "a room outside the filter's rooms is left out"
    );
    let timeline = events(&joined[wanted.as_str()]["timeline"]);
    let ids: Vec<&str> = timeline
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    ensure!(
        ids.contains(&mine.as_str()),
        "alice's message is kept: {ids:?}"
    );
    ensure!(
        !ids.contains(&bobs.as_str()),
        "bob's message is filtered out"
    );
    ensure!(
        timeline.iter().all(|e| e["type"] == "m.room.message"),
        "only messages in the timeline"
    );
    Ok(())
}

/// The `state` filter picks the state section's events by type and sender, as the
/// `timeline` filter does the timeline's, and a sync without it still sends them all.
async fn state_filters_select_the_state_sections_events(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("state_filter_a").await?;
    let bob = ctx.register_user("state_filter_b").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    set_state(
        &ctx,
        &alice,
        &room,
        ("m.room.topic", ""),
        json!({"topic": "filters"}),
    )
    .await?;
    send_message(&ctx, &alice, &room, "the timeline's one event").await?;
    let state_of = |body: &Value| -> Vec<(String, String, String)> {
        events(&body["rooms"]["join"][room.as_str()]["state"])
            .iter()
            .map(|e| {
                let field = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
                (field("type"), field("state_key"), field("sender"))
            })
            .collect()
    };
    // Unfiltered first: any response a server keeps from it must not answer the next one.
    let all =
        state_of(&filtered_sync(&ctx, &alice, json!({"room": {"timeline": {"limit": 1}}})).await?);
    for (kind, key) in [
        ("m.room.member", alice.user_id.as_str()),
        ("m.room.member", bob.user_id.as_str()),
        ("m.room.topic", ""),
    ] {
        ensure!(
            all.iter().any(|(t, k, _)| t == kind && k == key),
            "the unfiltered state holds {kind}/{key}: {all:?}"
        );
    }
    let filtered = state_of(
        &filtered_sync(
            &ctx,
            &alice,
            json!({"room": {
                "timeline": {"limit": 1},
                "state": {"types": ["m.room.member"], "not_senders": [bob.user_id]},
            }}),
        )
        .await?,
    );
    ensure!(
        filtered.iter().all(|(t, _, _)| t == "m.room.member"),
        "only member events pass `types`: {filtered:?}"
    );
    ensure!(
        filtered.iter().all(|(_, _, sender)| sender != &bob.user_id),
        "bob's own member event is left out by `not_senders`: {filtered:?}"
    );
    ensure!(
        filtered.iter().any(|(_, key, _)| key == &alice.user_id),
        "alice's member event passes: {filtered:?}"
    );
    Ok(())
}

/// `event_format: federation` holds for the state section as for the timeline.
async fn federation_event_format_applies_to_state_events(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("pdu_state_reader").await?;
    let room = create_room(&ctx, &alice, json!({})).await?;
    set_state(
        &ctx,
        &alice,
        &room,
        ("m.room.topic", ""),
        json!({"topic": "as a PDU"}),
    )
    .await?;
    send_message(&ctx, &alice, &room, "after the topic").await?;
    let synced = |filter: Value| {
        ctx.op(Method::GET, "/_matrix/client/v3/sync")
            .token(&alice.access_token)
            .query("filter", &filter.to_string())
            .query("timeout", "0")
            // Federation-format events are not client events; their schema does not apply.
            .without_schema()
            .send()
    };
    let topic_in = |body: &Value| -> Option<Value> {
        events(&body["rooms"]["join"][room.as_str()]["state"])
            .into_iter()
            .find(|e| e["type"] == "m.room.topic")
            .cloned()
    };
    let client = synced(json!({"room": {"timeline": {"limit": 1}}}))
        .await?
        .expect_status(200)?;
    let topic = topic_in(client.json()?)
        .ok_or_else(|| CaseError::Fail("the topic is not in the state section".into()))?;
    ensure!(
        topic.get("signatures").is_none() && topic.get("hashes").is_none(),
        "the client format keeps server fields out: {topic}"
    );
    let raw = synced(json!({"event_format": "federation", "room": {"timeline": {"limit": 1}}}))
        .await?
        .expect_status(200)?;
    let topic = topic_in(raw.json()?)
        .ok_or_else(|| CaseError::Fail("the topic is not in the state section".into()))?;
    for field in [
        "hashes",
        "signatures",
        "auth_events",
        "prev_events",
        "room_id",
    ] {
        ensure!(
            topic.get(field).is_some(),
            "federation format has {field}: {topic}"
        );
    }
    ensure_eq!(
        topic["content"]["topic"],
        json!("as a PDU"),
        "the topic's content"
    );
    Ok(())
}

async fn lazy_loaded_sync_state_holds_only_the_senders(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("lazy_a").await?;
    let bob = ctx.register_user("lazy_b").await?;
    let carol = ctx.register_user("lazy_c").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    join(&ctx, &carol, &room).await?.expect_status(200)?;
    send_message(&ctx, &carol, &room, "only carol speaks").await?;
    let body = filtered_sync(
        &ctx,
        &alice,
        json!({"room": {"timeline": {"limit": 1}, "state": {"lazy_load_members": true}}}),
    )
    .await?;
    let room_body = &body["rooms"]["join"][room.as_str()];
    let members: Vec<&str> = events(&room_body["state"])
        .into_iter()
        .chain(events(&room_body["timeline"]))
        .filter(|e| e["type"] == "m.room.member")
        .filter_map(|e| e["state_key"].as_str())
        .collect();
    ensure!(
        members.contains(&carol.user_id.as_str()),
        "the sender's membership is sent: {members:?}"
    );
    // Not asserted: that the silent member's membership is left out. "It is valid for the
    // server to send redundant membership events", so lazy loading is an optimisation the
    // spec permits, not one it requires.
    ensure!(
        events(&room_body["state"])
            .iter()
            .any(|e| e["type"] == "m.room.create"),
        "other state is still sent"
    );
    Ok(())
}

async fn messages_filter_by_type_and_lazy_load_members(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("msgfilter_a").await?;
    let bob = ctx.register_user("msgfilter_b").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    let said = send_message(&ctx, &bob, &room, "hello").await?;
    let page = ctx
        .op(Method::GET, "/_matrix/client/v3/rooms/{roomId}/messages")
        .arg(&room)
        .query("dir", "b")
        .query("limit", "50")
        .query(
            "filter",
            &json!({"types": ["m.room.message"], "lazy_load_members": true}).to_string(),
        )
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let body = page.json()?;
    let chunk: Vec<&Value> = body["chunk"].as_array().into_iter().flatten().collect();
    ensure!(
        chunk.iter().all(|e| e["type"] == "m.room.message"),
        "only messages: {chunk:?}"
    );
    ensure_eq!(
        chunk.first().and_then(|e| e["event_id"].as_str()),
        Some(said.as_str()),
        "bob's message"
    );
    let members: Vec<&str> = body["state"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["state_key"].as_str())
        .collect();
    ensure!(
        members.contains(&bob.user_id.as_str()),
        "the sender's membership comes with the page: {body}"
    );
    Ok(())
}

async fn event_fields_keep_what_was_asked_for(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("fields_reader").await?;
    let room = create_room(&ctx, &alice, json!({})).await?;
    let event_id = send_message(&ctx, &alice, &room, "only these fields").await?;
    let filter = json!({"event_fields": ["type", "content.body", "event_id"], "room": {"timeline": {"limit": 5}}});
    let synced = ctx
        .op(Method::GET, "/_matrix/client/v3/sync")
        .token(&alice.access_token)
        .query("filter", &filter.to_string())
        // The server may drop fields the event schemas mark required: that is the point.
        .without_schema()
        .send()
        .await?
        .expect_status(200)?;
    let timeline = &synced.json()?["rooms"]["join"][room.as_str()]["timeline"]["events"];
    let message = timeline
        .as_array()
        .and_then(|events| events.iter().find(|e| e["event_id"] == event_id.as_str()))
        .ok_or_else(|| {
            CaseError::Fail(format!("the message is not in the timeline: {timeline}"))
        })?;
    // Servers may keep more fields than asked for; the ones asked for must be intact.
    ensure_eq!(message["type"], json!("m.room.message"), "type");
    ensure_eq!(
        message["content"]["body"],
        json!("only these fields"),
        "content.body"
    );
    Ok(())
}

/// `event_format: federation` serves "the raw event as received over federation": the
/// signed PDU, with what the client format leaves out (hashes, signatures, the DAG links).
async fn federation_event_format_serves_the_signed_event(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("pdu_reader").await?;
    let room = create_room(&ctx, &alice, json!({})).await?;
    send_message(&ctx, &alice, &room, "as servers see it").await?;
    let synced = |filter: Value| {
        ctx.op(Method::GET, "/_matrix/client/v3/sync")
            .token(&alice.access_token)
            .query("filter", &filter.to_string())
            // Federation-format events are not client events; their schema does not apply.
            .without_schema()
            .send()
    };
    let raw = synced(json!({"event_format": "federation"}))
        .await?
        .expect_status(200)?;
    let events = raw.json()?["rooms"]["join"][room.as_str()]["timeline"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let message = events
        .iter()
        .find(|e| e["content"]["body"] == "as servers see it")
        .ok_or_else(|| {
            CaseError::Fail(format!("the message is not in the timeline: {events:?}"))
        })?;
    for field in [
        "hashes",
        "signatures",
        "auth_events",
        "prev_events",
        "depth",
        "room_id",
    ] {
        ensure!(
            message.get(field).is_some(),
            "federation format has {field}: {message}"
        );
    }
    ensure_eq!(message["room_id"], json!(room), "the PDU names its room");
    let client = synced(json!({})).await?.expect_status(200)?;
    let events = client.json()?["rooms"]["join"][room.as_str()]["timeline"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(
        events
            .iter()
            .all(|e| e.get("signatures").is_none() && e.get("hashes").is_none()),
        "the client format keeps server fields out: {events:?}"
    );
    Ok(())
}

//! History visibility on every read path (`/messages`, `/event`, `/context`, `/state`,
//! `/members`, `/sync`), what former members may still read, and `/context` itself.

use http::Method;
use serde_json::{Value, json};

use super::common::{create_room, join, leave, send_message, set_state, sync, timeline_ids};
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, UserSession},
    ensure, ensure_eq,
};

const MESSAGES: &str = "/_matrix/client/v3/rooms/{roomId}/messages";
const EVENT: &str = "/_matrix/client/v3/rooms/{roomId}/event/{eventId}";
const CONTEXT: &str = "/_matrix/client/v3/rooms/{roomId}/context/{eventId}";
const STATE: &str = "/_matrix/client/v3/rooms/{roomId}/state";
const STATE_KEY: &str = "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}";
const MEMBERS: &str = "/_matrix/client/v3/rooms/{roomId}/members";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            joined_history_hides_what_came_before_joining,
            section = "client-server-api/#room-history-visibility",
            op = ("GET", "/_matrix/client/v3/rooms/{roomId}/messages")
        ),
        case!(
            shared_history_opens_to_members_who_join_later,
            section = "client-server-api/#room-history-visibility",
            op = ("GET", "/_matrix/client/v3/rooms/{roomId}/event/{eventId}")
        ),
        case!(
            world_readable_rooms_are_read_without_joining,
            section = "client-server-api/#room-history-visibility",
            op = ("GET", "/_matrix/client/v3/rooms/{roomId}/state")
        ),
        case!(
            former_members_read_up_to_their_leave,
            section = "client-server-api/#get_matrixclientv3roomsroomidstateeventtypestatekey",
            op = (
                "GET",
                "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}"
            )
        ),
        case!(
            context_returns_the_events_around_one_and_tokens_to_page_on,
            section = "client-server-api/#get_matrixclientv3roomsroomidcontexteventid",
            op = ("GET", "/_matrix/client/v3/rooms/{roomId}/context/{eventId}")
        ),
        case!(
            members_at_a_past_token_and_by_membership,
            section = "client-server-api/#get_matrixclientv3roomsroomidmembers",
            op = ("GET", "/_matrix/client/v3/rooms/{roomId}/members")
        ),
        case!(
            timestamp_to_event_finds_the_nearest_visible_event,
            section = "client-server-api/#get_matrixclientv1roomsroomidtimestamp_to_event",
            op = (
                "GET",
                "/_matrix/client/v1/rooms/{roomId}/timestamp_to_event"
            )
        ),
        case!(
            state_event_in_event_format_is_the_whole_event,
            section = "client-server-api/#get_matrixclientv3roomsroomidstateeventtypestatekey",
            op = (
                "GET",
                "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}"
            )
        ),
    ]
}

/// A public room whose history visibility is `visibility`.
async fn room_with_history(
    ctx: &Ctx,
    owner: &UserSession,
    visibility: &str,
) -> Result<String, CaseError> {
    create_room(
        ctx,
        owner,
        json!({
            "preset": "public_chat",
            "initial_state": [{
                "type": "m.room.history_visibility",
                "state_key": "",
                "content": {"history_visibility": visibility},
            }],
        }),
    )
    .await
}

/// Event ids in a backwards `/messages` page from the room's end, as `user` sees it.
async fn messages_ids(ctx: &Ctx, user: &UserSession, room: &str) -> Result<Vec<String>, CaseError> {
    let page = ctx
        .op(Method::GET, MESSAGES)
        .arg(room)
        .query("dir", "b")
        .query("limit", "50")
        .token(&user.access_token)
        .send()
        .await?
        .expect_status(200)?;
    Ok(ids(&page.json()?["chunk"]))
}

fn ids(events: &Value) -> Vec<String> {
    events
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["event_id"].as_str().map(str::to_owned))
        .collect()
}

async fn event_status(
    ctx: &Ctx,
    user: &UserSession,
    room: &str,
    event: &str,
) -> Result<u16, CaseError> {
    Ok(ctx
        .op(Method::GET, EVENT)
        .arg(room)
        .arg(event)
        .token(&user.access_token)
        .send()
        .await?
        .status)
}

async fn joined_history_hides_what_came_before_joining(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("hv_joined_owner").await?;
    let bob = ctx.register_user("hv_joined_late").await?;
    let room = room_with_history(&ctx, &alice, "joined").await?;
    let before = send_message(&ctx, &alice, &room, "before bob").await?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    let after = send_message(&ctx, &alice, &room, "after bob").await?;

    let seen = messages_ids(&ctx, &bob, &room).await?;
    ensure!(seen.contains(&after), "bob sees what followed his join");
    ensure!(
        !seen.contains(&before),
        "bob does not see what preceded his join"
    );
    ensure_eq!(
        event_status(&ctx, &bob, &room, &before).await?,
        404,
        "/event for a message before the join"
    );
    let synced = sync(&ctx, &bob, None, 0).await?;
    let timeline = timeline_ids(&synced, &room);
    ensure!(
        timeline.contains(&after) && !timeline.contains(&before),
        "bob's sync timeline starts at his join: {timeline:?}"
    );
    let refused = ctx
        .op(Method::GET, CONTEXT)
        .arg(&room)
        .arg(&before)
        .token(&bob.access_token)
        .send()
        .await?;
    // /context documents only its 200: "not found" and "forbidden" both refuse honestly.
    ensure!(
        matches!(
            (refused.status, refused.errcode()),
            (404, Some("M_NOT_FOUND")) | (403, Some("M_FORBIDDEN"))
        ),
        "/context of a hidden event answered {} {:?}",
        refused.status,
        refused.errcode()
    );
    Ok(())
}

async fn shared_history_opens_to_members_who_join_later(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("hv_shared_owner").await?;
    let bob = ctx.register_user("hv_shared_late").await?;
    let carol = ctx.register_user("hv_shared_outsider").await?;
    let room = room_with_history(&ctx, &alice, "shared").await?;
    let before = send_message(&ctx, &alice, &room, "before bob").await?;
    // Not yet joined: nothing to read.
    let refused = ctx
        .op(Method::GET, MESSAGES)
        .arg(&room)
        .query("dir", "b")
        .token(&bob.access_token)
        .send()
        .await?
        .expect_status(403)?;
    ensure_eq!(
        refused.errcode(),
        Some("M_FORBIDDEN"),
        "/messages before joining"
    );
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    ensure_eq!(
        event_status(&ctx, &bob, &room, &before).await?,
        200,
        "/event for history shared with later members"
    );
    ensure!(
        messages_ids(&ctx, &bob, &room).await?.contains(&before),
        "/messages shows shared history"
    );
    // Someone who never joined still reads nothing.
    let status = event_status(&ctx, &carol, &room, &before).await?;
    ensure!(
        matches!(status, 403 | 404),
        "/event for an outsider is refused, got {status}"
    );
    Ok(())
}

async fn world_readable_rooms_are_read_without_joining(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("hv_world_owner").await?;
    let bob = ctx.register_user("hv_world_reader").await?;
    let room = room_with_history(&ctx, &alice, "world_readable").await?;
    let message = send_message(&ctx, &alice, &room, "for everyone").await?;
    ensure!(
        messages_ids(&ctx, &bob, &room).await?.contains(&message),
        "a non-member pages a world-readable room"
    );
    ensure_eq!(
        event_status(&ctx, &bob, &room, &message).await?,
        200,
        "/event in a world-readable room"
    );
    let state = ctx
        .op(Method::GET, STATE)
        .arg(&room)
        .token(&bob.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure!(
        state
            .json()?
            .as_array()
            .is_some_and(|s| s.iter().any(|e| e["type"] == "m.room.create")),
        "a non-member reads a world-readable room's state"
    );
    // Closing the room again hides what follows from non-members, not what came before.
    set_state(
        &ctx,
        &alice,
        &room,
        ("m.room.history_visibility", ""),
        json!({"history_visibility": "shared"}),
    )
    .await?;
    let later = send_message(&ctx, &alice, &room, "members only").await?;
    let refused = ctx
        .op(Method::GET, STATE)
        .arg(&room)
        .token(&bob.access_token)
        .send()
        .await?
        .expect_status(403)?;
    ensure_eq!(
        refused.errcode(),
        Some("M_FORBIDDEN"),
        "state of a room no longer world-readable"
    );
    let status = event_status(&ctx, &bob, &room, &later).await?;
    ensure!(
        matches!(status, 403 | 404),
        "a message after the room closed is hidden, got {status}"
    );
    Ok(())
}

async fn former_members_read_up_to_their_leave(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("hv_left_owner").await?;
    let bob = ctx.register_user("hv_left_member").await?;
    let room = room_with_history(&ctx, &alice, "shared").await?;
    set_state(
        &ctx,
        &alice,
        &room,
        ("m.room.topic", ""),
        json!({"topic": "while bob was here"}),
    )
    .await?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    let during = send_message(&ctx, &alice, &room, "bob is here").await?;
    leave(&ctx, &bob, &room).await?;
    let after = send_message(&ctx, &alice, &room, "bob has gone").await?;
    set_state(
        &ctx,
        &alice,
        &room,
        ("m.room.topic", ""),
        json!({"topic": "after bob left"}),
    )
    .await?;

    let seen = messages_ids(&ctx, &bob, &room).await?;
    ensure!(
        seen.contains(&during),
        "a former member reads what was sent while joined"
    );
    ensure!(
        !seen.contains(&after),
        "a former member does not read what was sent after leaving"
    );
    let topic = ctx
        .op(Method::GET, STATE_KEY)
        .arg(&room)
        .arg("m.room.topic")
        .arg("")
        .token(&bob.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        topic.json()?["topic"],
        json!("while bob was here"),
        "the topic a former member reads is the one when they left"
    );
    let members = ctx
        .op(Method::GET, MEMBERS)
        .arg(&room)
        .token(&bob.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let own = members.json()?["chunk"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["state_key"] == json!(bob.user_id))
        .map(|e| e["content"]["membership"].clone());
    ensure_eq!(own, Some(json!("leave")), "bob's membership as he left");
    Ok(())
}

async fn context_returns_the_events_around_one_and_tokens_to_page_on(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("context_owner").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "private_chat"})).await?;
    let mut sent = Vec::new();
    for i in 1..=5 {
        sent.push(send_message(&ctx, &alice, &room, &format!("m{i}")).await?);
    }
    let got = ctx
        .op(Method::GET, CONTEXT)
        .arg(&room)
        .arg(&sent[2])
        .query("limit", "2")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let body = got.json()?;
    ensure_eq!(
        body["event"]["event_id"],
        json!(sent[2]),
        "the event itself"
    );
    ensure_eq!(
        ids(&body["events_before"]),
        vec![sent[1].clone()],
        "events_before, newest first"
    );
    ensure_eq!(
        ids(&body["events_after"]),
        vec![sent[3].clone()],
        "events_after, oldest first"
    );
    ensure!(
        body["state"]
            .as_array()
            .is_some_and(|s| s.iter().any(|e| e["type"] == "m.room.create")),
        "the state at the last event returned: {}",
        body["state"]
    );
    let page = |from: &str, dir: &str| {
        ctx.op(Method::GET, MESSAGES)
            .arg(&room)
            .query("from", from)
            .query("dir", dir)
            .query("limit", "1")
            .token(&alice.access_token)
    };
    let start = body["start"].as_str().unwrap_or_default().to_owned();
    let end = body["end"].as_str().unwrap_or_default().to_owned();
    let older = page(&start, "b").send().await?.expect_status(200)?;
    ensure_eq!(
        ids(&older.json()?["chunk"]),
        vec![sent[0].clone()],
        "paging back from start"
    );
    let newer = page(&end, "f").send().await?.expect_status(200)?;
    ensure_eq!(
        ids(&newer.json()?["chunk"]),
        vec![sent[4].clone()],
        "paging forward from end"
    );
    let unknown = ctx
        .op(Method::GET, CONTEXT)
        .arg(&room)
        .arg("$unknown-event")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(404)?;
    ensure_eq!(unknown.errcode(), Some("M_NOT_FOUND"), "unknown event");
    Ok(())
}

async fn members_at_a_past_token_and_by_membership(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("members_at_owner").await?;
    let bob = ctx.register_user("members_at_joiner").await?;
    let carol = ctx.register_user("members_at_invitee").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    let token = sync(&ctx, &alice, None, 0).await?["next_batch"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    ctx.op(Method::POST, "/_matrix/client/v3/rooms/{roomId}/invite")
        .arg(&room)
        .token(&alice.access_token)
        .json(&json!({"user_id": carol.user_id}))
        .send()
        .await?
        .expect_status(200)?;
    let members = |query: &[(&str, &str)]| {
        let mut request = ctx
            .op(Method::GET, MEMBERS)
            .arg(&room)
            .token(&alice.access_token);
        for (k, v) in query {
            request = request.query(k, v);
        }
        request
    };
    let listed = |body: &Value| {
        let mut users: Vec<String> = body["chunk"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["state_key"].as_str().map(str::to_owned))
            .collect();
        users.sort();
        users
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let now = members(&[]).send().await?.expect_status(200)?;
    ensure_eq!(
        listed(now.json()?),
        sorted(vec![
            alice.user_id.clone(),
            bob.user_id.clone(),
            carol.user_id.clone()
        ]),
        "members now"
    );
    let then = members(&[("at", &token)])
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        listed(then.json()?),
        vec![alice.user_id.clone()],
        "members at the earlier token"
    );
    let joined = members(&[("membership", "join")])
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        listed(joined.json()?),
        sorted(vec![alice.user_id.clone(), bob.user_id.clone()]),
        "membership=join"
    );
    let not_joined = members(&[("not_membership", "join")])
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        listed(not_joined.json()?),
        vec![carol.user_id.clone()],
        "not_membership=join"
    );
    Ok(())
}

async fn state_event_in_event_format_is_the_whole_event(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("state_format").await?;
    let room = create_room(&ctx, &alice, json!({"name": "Formats"})).await?;
    // The spec's response schema is `oneOf` {any object, a client event}: a whole event
    // matches both, so schema validation would refuse every correct answer. This request is
    // checked by hand instead.
    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.name/",
        room.replace('!', "%21").replace(':', "%3A")
    );
    let got = ctx
        .raw(Method::GET, &path)
        .query("format", "event")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let event = got.json()?;
    ensure_eq!(event["type"], json!("m.room.name"), "type");
    ensure_eq!(event["content"]["name"], json!("Formats"), "content");
    ensure_eq!(event["sender"], json!(alice.user_id), "sender");
    ensure!(event["event_id"].is_string(), "event_id: {event}");
    let content = ctx
        .op(Method::GET, STATE_KEY)
        .arg(&room)
        .arg("m.room.name")
        .arg("")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        content.json()?,
        &json!({"name": "Formats"}),
        "the default format is the content"
    );
    Ok(())
}

async fn timestamp_to_event_finds_the_nearest_visible_event(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("ts_owner").await?;
    let bob = ctx.register_user("ts_outsider").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "private_chat"})).await?;
    let first = send_message(&ctx, &alice, &room, "first").await?;
    let first_ts = ctx
        .op(Method::GET, EVENT)
        .arg(&room)
        .arg(&first)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?
        .json()?["origin_server_ts"]
        .as_i64()
        .unwrap_or_default();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let second = send_message(&ctx, &alice, &room, "second").await?;
    let lookup = |ts: i64, dir: &str, user: &UserSession| {
        ctx.op(
            Method::GET,
            "/_matrix/client/v1/rooms/{roomId}/timestamp_to_event",
        )
        .arg(&room)
        .query("ts", &ts.to_string())
        .query("dir", dir)
        .token(&user.access_token)
    };
    let backwards = lookup(first_ts, "b", &alice)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        backwards.json()?["event_id"],
        json!(first),
        "at or before the first message's time"
    );
    let forwards = lookup(first_ts + 1, "f", &alice)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        forwards.json()?["event_id"],
        json!(second),
        "after the first message's time"
    );
    let none = lookup(first_ts + 3_600_000, "f", &alice)
        .send()
        .await?
        .expect_status(404)?;
    ensure_eq!(none.errcode(), Some("M_NOT_FOUND"), "nothing in the future");
    let outsider = lookup(first_ts, "b", &bob).send().await?;
    ensure!(
        matches!(outsider.status, 403 | 404),
        "someone who cannot read the room learns nothing, got {}",
        outsider.status
    );
    Ok(())
}

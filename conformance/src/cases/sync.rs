//! `/sync` and `/messages`: what a client sees of its rooms.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};

use super::common::{
    create_room, send_message as send, send_thread_reply, set_state, sync, timeline_ids,
};
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, UserSession},
    ensure, ensure_eq,
};

const SYNC: &str = "/_matrix/client/v3/sync";
const MESSAGES: &str = "/_matrix/client/v3/rooms/{roomId}/messages";
const REDACT: &str = "/_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            typing_reaches_the_other_members_sync,
            section = "client-server-api/#typing-notifications",
            op = ("PUT", "/_matrix/client/v3/rooms/{roomId}/typing/{userId}")
        ),
        case!(
            read_receipts_reach_members_and_private_ones_stay_private,
            section = "client-server-api/#receipts",
            op = (
                "POST",
                "/_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}"
            )
        ),
        case!(
            read_markers_move_the_fully_read_marker_and_receipts,
            section = "client-server-api/#fully-read-markers",
            op = ("POST", "/_matrix/client/v3/rooms/{roomId}/read_markers")
        ),
        case!(
            receipts_need_membership_and_a_known_event,
            section = "client-server-api/#receipts",
            op = (
                "POST",
                "/_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}"
            )
        ),
        case!(
            threaded_receipts_name_the_thread_of_their_event,
            section = "client-server-api/#threaded-read-receipts",
            op = (
                "POST",
                "/_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}"
            )
        ),
        case!(
            filters_round_trip_and_are_private,
            section = "client-server-api/#post_matrixclientv3useruseridfilter",
            op = ("POST", "/_matrix/client/v3/user/{userId}/filter")
        ),
        case!(
            sync_honours_the_timeline_limit_of_a_filter,
            section = "client-server-api/#filtering",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            initial_sync_shows_joined_rooms_with_state_and_timeline,
            section = "client-server-api/#get_matrixclientv3sync",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            a_redacted_state_event_is_synced_redacted,
            section = "client-server-api/#redactions",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            incremental_sync_returns_only_what_is_new,
            section = "client-server-api/#get_matrixclientv3sync",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            sync_long_poll_returns_when_an_event_arrives,
            section = "client-server-api/#get_matrixclientv3sync",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            invites_appear_in_sync_with_stripped_state,
            section = "client-server-api/#get_matrixclientv3sync",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            leaving_appears_in_the_leave_section,
            section = "client-server-api/#get_matrixclientv3sync",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            sync_with_a_bogus_token_is_refused,
            section = "client-server-api/#get_matrixclientv3sync",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            messages_paginate_backwards_through_history,
            section = "client-server-api/#get_matrixclientv3roomsroomidmessages",
            op = ("GET", "/_matrix/client/v3/rooms/{roomId}/messages")
        ),
        case!(
            messages_paginate_forwards,
            section = "client-server-api/#get_matrixclientv3roomsroomidmessages",
            op = ("GET", "/_matrix/client/v3/rooms/{roomId}/messages")
        ),
        case!(
            messages_of_a_room_you_are_not_in_are_forbidden,
            section = "client-server-api/#get_matrixclientv3roomsroomidmessages",
            op = ("GET", "/_matrix/client/v3/rooms/{roomId}/messages")
        ),
    ]
}

async fn initial_sync_shows_joined_rooms_with_state_and_timeline(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("syncer").await?;
    let room = create_room(&ctx, &alice, json!({"name": "Synced"})).await?;
    let message = send(&ctx, &alice, &room, "first words").await?;
    let body = sync(&ctx, &alice, None, 0).await?;
    ensure!(
        body["next_batch"].as_str().is_some_and(|t| !t.is_empty()),
        "no next_batch"
    );
    ensure!(
        timeline_ids(&body, &room).contains(&message),
        "the message is not in the timeline"
    );
    let section = &body["rooms"]["join"][room.as_str()];
    let mut types: Vec<&str> = Vec::new();
    for list in [&section["state"]["events"], &section["timeline"]["events"]] {
        types.extend(
            list.as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["type"].as_str()),
        );
    }
    for t in [
        "m.room.create",
        "m.room.power_levels",
        "m.room.member",
        "m.room.name",
    ] {
        ensure!(types.contains(&t), "{t} is neither in state nor timeline");
    }
    Ok(())
}

/// A state event redacted after clients have seen it is sent redacted from then on, in the
/// state section of a later first sync too: the stripped event "is thereafter returned anytime
/// a client or remote server requests it", with the redaction under `redacted_because`.
async fn a_redacted_state_event_is_synced_redacted(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("state_redactor").await?;
    let room = create_room(&ctx, &alice, json!({})).await?;
    let topic = set_state(
        &ctx,
        &alice,
        &room,
        ("m.room.topic", ""),
        json!({"topic": "regrettable"}),
    )
    .await?;
    send(&ctx, &alice, &room, "before the redaction").await?;
    let filter = json!({"room": {"timeline": {"limit": 1}}}).to_string();
    let first_sync = || {
        ctx.op(Method::GET, SYNC)
            .token(&alice.access_token)
            .query("filter", &filter)
            .query("timeout", "0")
            .send()
    };
    let topic_in = |body: &Value| -> Option<Value> {
        body["rooms"]["join"][room.as_str()]["state"]["events"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["event_id"] == topic.as_str())
            .cloned()
    };
    let before = first_sync().await?.expect_status(200)?;
    let shown = topic_in(before.json()?)
        .ok_or_else(|| CaseError::Fail("the topic is not in the state section".into()))?;
    ensure_eq!(
        shown["content"]["topic"],
        json!("regrettable"),
        "the topic before"
    );
    ctx.op(Method::PUT, REDACT)
        .arg(&room)
        .arg(&topic)
        .arg(&format!("r{}", rand::random::<u64>()))
        .token(&alice.access_token)
        .json(&json!({"reason": "conformance"}))
        .send()
        .await?
        .expect_status(200)?;
    send(&ctx, &alice, &room, "after the redaction").await?;
    let after = first_sync().await?.expect_status(200)?;
    let shown = topic_in(after.json()?).ok_or_else(|| {
        CaseError::Fail("the redacted topic is no longer in the state section".into())
    })?;
    ensure!(
        shown["content"].get("topic").is_none(),
        "the topic's content is gone: {shown}"
    );
    ensure_eq!(
        shown["unsigned"]["redacted_because"]["type"],
        json!("m.room.redaction"),
        "unsigned.redacted_because holds the redaction: {shown}"
    );
    Ok(())
}

async fn incremental_sync_returns_only_what_is_new(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("incr").await?;
    let room = create_room(&ctx, &alice, json!({})).await?;
    let first = sync(&ctx, &alice, None, 0).await?;
    let token = first["next_batch"].as_str().unwrap_or_default().to_owned();
    let quiet = sync(&ctx, &alice, Some(&token), 0).await?;
    ensure!(
        quiet["rooms"]["join"].get(room.as_str()).is_none(),
        "an unchanged room appeared: {quiet}"
    );
    let message = send(&ctx, &alice, &room, "news").await?;
    // Continue as a client does, from the last answer, long-polling: a request identical to
    // an earlier one may be answered from a response cache (Synapse keeps them two minutes).
    let since = quiet["next_batch"].as_str().unwrap_or(&token).to_owned();
    let next = sync(&ctx, &alice, Some(&since), 5_000).await?;
    ensure_eq!(
        timeline_ids(&next, &room),
        vec![message],
        "incremental timeline"
    );
    Ok(())
}

async fn sync_long_poll_returns_when_an_event_arrives(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("poller").await?;
    let room = create_room(&ctx, &alice, json!({})).await?;
    let token = sync(&ctx, &alice, None, 0).await?["next_batch"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let started = Instant::now();
    let poll = {
        let ctx = ctx.clone();
        let alice = alice.clone();
        tokio::spawn(async move { sync(&ctx, &alice, Some(&token), 20_000).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let message = send(&ctx, &alice, &room, "wake up").await?;
    let body = tokio::time::timeout(Duration::from_secs(15), poll)
        .await
        .map_err(|_| {
            CaseError::Fail("the long poll did not return within 15 s of the event".to_owned())
        })?
        .map_err(|e| CaseError::Fail(e.to_string()))??;
    ensure!(
        timeline_ids(&body, &room).contains(&message),
        "the woken sync lacks the event"
    );
    ensure!(started.elapsed() < Duration::from_secs(15), "woke too late");
    Ok(())
}

async fn invites_appear_in_sync_with_stripped_state(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("host").await?;
    let bob = ctx.register_user("invited").await?;
    let room = create_room(
        &ctx,
        &alice,
        json!({"name": "Come in", "invite": [bob.user_id]}),
    )
    .await?;
    let body = sync(&ctx, &bob, None, 0).await?;
    let state = body["rooms"]["invite"][room.as_str()]["invite_state"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(
        state.iter().any(|e| e["type"] == "m.room.name"),
        "no room name in the invite state: {state:?}"
    );
    // Clients learn that they are invited, and by whom, from these member events.
    ensure!(
        state.iter().any(|e| e["type"] == "m.room.member"
            && e["state_key"] == json!(bob.user_id)
            && e["content"]["membership"] == "invite"),
        "the invite state holds the invite itself: {state:?}"
    );
    ensure!(
        state
            .iter()
            .any(|e| e["type"] == "m.room.member" && e["state_key"] == json!(alice.user_id)),
        "the invite state holds the inviter's membership: {state:?}"
    );
    ensure!(
        body["rooms"]["join"].get(room.as_str()).is_none(),
        "an invited room is listed as joined"
    );
    Ok(())
}

async fn leaving_appears_in_the_leave_section(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("open").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    let bob = ctx.register_user("goer").await?;
    ctx.op(Method::POST, "/_matrix/client/v3/rooms/{roomId}/join")
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let token = sync(&ctx, &bob, None, 0).await?["next_batch"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ctx.op(Method::POST, "/_matrix/client/v3/rooms/{roomId}/leave")
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let body = sync(&ctx, &bob, Some(&token), 0).await?;
    ensure!(
        body["rooms"]["leave"].get(room.as_str()).is_some(),
        "the room is not in the leave section: {body}"
    );
    ensure!(
        body["rooms"]["join"].get(room.as_str()).is_none(),
        "the room is still joined"
    );
    Ok(())
}

async fn sync_with_a_bogus_token_is_refused(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("bogus").await?;
    let response = ctx
        .op(Method::GET, SYNC)
        .token(&alice.access_token)
        .query("since", "not-a-token")
        .send()
        .await?;
    // /sync documents no error; any refusal with a standard error body will do.
    response.expect_refusal("a bogus since token")?;
    Ok(())
}

async fn page(
    ctx: &Ctx,
    user: &UserSession,
    room: &str,
    dir: &str,
    from: Option<&str>,
    limit: u32,
) -> Result<Value, CaseError> {
    let mut request = ctx
        .op(Method::GET, MESSAGES)
        .arg(room)
        .token(&user.access_token)
        .query("dir", dir)
        .query("limit", &limit.to_string());
    if let Some(from) = from {
        request = request.query("from", from);
    }
    Ok(request.send().await?.expect_status(200)?.json()?.clone())
}

fn bodies(page: &Value) -> Vec<String> {
    page["chunk"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect()
}

async fn messages_paginate_backwards_through_history(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("history").await?;
    let room = create_room(&ctx, &alice, json!({})).await?;
    for n in 1..=5 {
        send(&ctx, &alice, &room, &format!("m{n}")).await?;
    }
    let mut seen = Vec::new();
    let mut from: Option<String> = None;
    for _ in 0..20 {
        let p = page(&ctx, &alice, &room, "b", from.as_deref(), 2).await?;
        seen.extend(bodies(&p));
        match p["end"].as_str() {
            Some(end) => from = Some(end.to_owned()),
            None => break,
        }
    }
    ensure_eq!(
        seen,
        vec!["m5", "m4", "m3", "m2", "m1"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>(),
        "messages newest first"
    );
    Ok(())
}

async fn messages_paginate_forwards(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("forward").await?;
    let room = create_room(&ctx, &alice, json!({})).await?;
    let token = sync(&ctx, &alice, None, 0).await?["next_batch"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for n in 1..=3 {
        send(&ctx, &alice, &room, &format!("f{n}")).await?;
    }
    let p = page(&ctx, &alice, &room, "f", Some(&token), 10).await?;
    ensure_eq!(
        bodies(&p),
        vec!["f1", "f2", "f3"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>(),
        "messages oldest first"
    );
    Ok(())
}

async fn messages_of_a_room_you_are_not_in_are_forbidden(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("secret").await?;
    let room = create_room(&ctx, &alice, json!({})).await?;
    send(&ctx, &alice, &room, "for members").await?;
    let eve = ctx.register_user("eve").await?;
    let response = ctx
        .op(Method::GET, MESSAGES)
        .arg(&room)
        .token(&eve.access_token)
        .query("dir", "b")
        .send()
        .await?;
    ensure_eq!(response.status, 403, "status");
    Ok(())
}

async fn filters_round_trip_and_are_private(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("filterer").await?;
    let filter = json!({"room": {"timeline": {"limit": 3}}});
    let created = ctx
        .op(Method::POST, "/_matrix/client/v3/user/{userId}/filter")
        .arg(&alice.user_id)
        .token(&alice.access_token)
        .json(&filter)
        .send()
        .await?
        .expect_status(200)?;
    let id = created.json()?["filter_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ensure!(
        !id.is_empty() && !id.starts_with('{'),
        "bad filter id {id:?}"
    );
    let got = ctx
        .op(
            Method::GET,
            "/_matrix/client/v3/user/{userId}/filter/{filterId}",
        )
        .arg(&alice.user_id)
        .arg(&id)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        got.json()?["room"]["timeline"]["limit"],
        json!(3),
        "stored limit"
    );
    let eve = ctx.register_user("peeker").await?;
    let other = ctx
        .op(
            Method::GET,
            "/_matrix/client/v3/user/{userId}/filter/{filterId}",
        )
        .arg(&alice.user_id)
        .arg(&id)
        .token(&eve.access_token)
        .send()
        .await?;
    ensure!(
        other.status == 403 || other.status == 404,
        "another user's filter answered {}",
        other.status
    );
    Ok(())
}

async fn sync_honours_the_timeline_limit_of_a_filter(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("limited").await?;
    let room = create_room(&ctx, &alice, json!({})).await?;
    for n in 0..3 {
        send(&ctx, &alice, &room, &format!("n{n}")).await?;
    }
    let body = ctx
        .op(Method::GET, SYNC)
        .token(&alice.access_token)
        .query("filter", r#"{"room":{"timeline":{"limit":1}}}"#)
        .send()
        .await?
        .expect_status(200)?;
    let timeline = &body.json()?["rooms"]["join"][room.as_str()]["timeline"];
    ensure_eq!(
        timeline["events"].as_array().map(Vec::len),
        Some(1),
        "timeline length"
    );
    ensure_eq!(timeline["limited"].as_bool(), Some(true), "limited");
    ensure_eq!(
        timeline["events"][0]["content"]["body"].as_str(),
        Some("n2"),
        "the newest event"
    );
    Ok(())
}

async fn typing_reaches_the_other_members_sync(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("typist").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    let bob = ctx.register_user("watcher").await?;
    ctx.op(Method::POST, "/_matrix/client/v3/rooms/{roomId}/join")
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let token = sync(&ctx, &bob, None, 0).await?["next_batch"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let typing = |user: &UserSession, on: bool| {
        ctx.op(
            Method::PUT,
            "/_matrix/client/v3/rooms/{roomId}/typing/{userId}",
        )
        .arg(&room)
        .arg(&user.user_id)
        .token(&user.access_token)
        .json(&json!({"typing": on, "timeout": 30000}))
    };
    typing(&alice, true).send().await?.expect_status(200)?;
    let body = sync(&ctx, &bob, Some(&token), 5000).await?;
    let typists = |body: &Value| -> Option<Vec<String>> {
        body["rooms"]["join"][room.as_str()]["ephemeral"]["events"]
            .as_array()?
            .iter()
            .find(|e| e["type"] == "m.typing")
            .map(|e| {
                e["content"]["user_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect()
            })
    };
    ensure_eq!(
        typists(&body),
        Some(vec![alice.user_id.clone()]),
        "typing users"
    );
    let token = body["next_batch"].as_str().unwrap_or_default().to_owned();
    typing(&alice, false).send().await?.expect_status(200)?;
    let body = sync(&ctx, &bob, Some(&token), 5000).await?;
    ensure_eq!(typists(&body), Some(vec![]), "typing users after stopping");
    let forged = ctx
        .op(
            Method::PUT,
            "/_matrix/client/v3/rooms/{roomId}/typing/{userId}",
        )
        .arg(&room)
        .arg(&alice.user_id)
        .token(&bob.access_token)
        .json(&json!({"typing": true, "timeout": 1000}))
        .send()
        .await?;
    // Undocumented: a refusal with M_FORBIDDEN, whatever the status.
    forged
        .expect_refusal("typing for someone else")?
        .expect_errcode_in(&["M_FORBIDDEN"], "typing for someone else")?;
    Ok(())
}

const RECEIPT: &str = "/_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}";

async fn post_receipt(
    ctx: &Ctx,
    user: &UserSession,
    room: &str,
    receipt_type: &str,
    event_id: &str,
) -> Result<crate::client::Response, CaseError> {
    ctx.op(Method::POST, RECEIPT)
        .arg(room)
        .arg(receipt_type)
        .arg(event_id)
        .token(&user.access_token)
        .json(&json!({}))
        .send()
        .await
}

/// The receipts in a room's `m.receipt` ephemeral event, as (event id, type, user) triples.
fn receipts_in(body: &Value, room: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let events = body["rooms"]["join"][room]["ephemeral"]["events"].as_array();
    for event in events
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "m.receipt")
    {
        for (event_id, by_type) in event["content"].as_object().into_iter().flatten() {
            for (receipt_type, by_user) in by_type.as_object().into_iter().flatten() {
                for user in by_user.as_object().into_iter().flatten().map(|(u, _)| u) {
                    out.push((event_id.clone(), receipt_type.clone(), user.clone()));
                }
            }
        }
    }
    out
}

async fn read_receipts_reach_members_and_private_ones_stay_private(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("reader").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    let bob = ctx.register_user("observer").await?;
    ctx.op(Method::POST, "/_matrix/client/v3/rooms/{roomId}/join")
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let first = send(&ctx, &bob, &room, "read me").await?;
    let token = sync(&ctx, &bob, None, 0).await?["next_batch"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    post_receipt(&ctx, &alice, &room, "m.read", &first)
        .await?
        .expect_status(200)?;
    let body = sync(&ctx, &bob, Some(&token), 5000).await?;
    ensure_eq!(
        receipts_in(&body, &room),
        vec![(first.clone(), "m.read".to_owned(), alice.user_id.clone())],
        "receipts bob sees after alice read"
    );
    let token = body["next_batch"].as_str().unwrap_or_default().to_owned();
    let second = send(&ctx, &bob, &room, "read me privately").await?;
    post_receipt(&ctx, &alice, &room, "m.read.private", &second)
        .await?
        .expect_status(200)?;
    let body = sync(&ctx, &bob, Some(&token), 0).await?;
    ensure!(
        receipts_in(&body, &room).is_empty(),
        "bob must not see alice's private receipt, got {:?}",
        receipts_in(&body, &room)
    );
    let own = sync(&ctx, &alice, None, 0).await?;
    let mine = receipts_in(&own, &room);
    ensure!(
        mine.contains(&(
            second.clone(),
            "m.read.private".to_owned(),
            alice.user_id.clone()
        )),
        "alice sees her own private receipt, got {mine:?}"
    );
    Ok(())
}

async fn receipts_need_membership_and_a_known_event(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("receipt_owner").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "private_chat"})).await?;
    let event = send(&ctx, &alice, &room, "secret").await?;
    let mallory = ctx.register_user("receipt_snoop").await?;
    let snooped = post_receipt(&ctx, &mallory, &room, "m.read", &event)
        .await?
        .expect_status(403)?;
    ensure_eq!(snooped.errcode(), Some("M_FORBIDDEN"), "non-member receipt");
    let missing = format!("$unknown{}", rand::random::<u32>());
    // The spec does not say a receipt's event must exist: storing it, or refusing it, both
    // conform (the validator has checked the answer's shape).
    let unknown = post_receipt(&ctx, &alice, &room, "m.read", &missing).await?;
    ensure!(
        unknown.status == 200 || matches!(unknown.status, 400 | 404),
        "receipt for an unknown event answered {}",
        unknown.status
    );
    Ok(())
}

async fn read_markers_move_the_fully_read_marker_and_receipts(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("marker_host").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    let bob = ctx.register_user("marker_reader").await?;
    ctx.op(Method::POST, "/_matrix/client/v3/rooms/{roomId}/join")
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let first = send(&ctx, &alice, &room, "one").await?;
    let second = send(&ctx, &alice, &room, "two").await?;
    let markers = |user: &UserSession, body: Value| {
        ctx.op(
            Method::POST,
            "/_matrix/client/v3/rooms/{roomId}/read_markers",
        )
        .arg(&room)
        .token(&user.access_token)
        .json(&body)
    };
    let fully_read = || {
        ctx.op(
            Method::GET,
            "/_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}",
        )
        .arg(&bob.user_id)
        .arg(&room)
        .arg("m.fully_read")
        .token(&bob.access_token)
    };
    markers(&bob, json!({"m.fully_read": first, "m.read": first}))
        .send()
        .await?
        .expect_status(200)?;
    let marker = fully_read().send().await?.expect_status(200)?;
    ensure_eq!(
        marker.json()?["event_id"],
        json!(first),
        "m.fully_read after read_markers"
    );
    let seen = sync(&ctx, &alice, None, 0).await?;
    ensure!(
        receipts_in(&seen, &room).contains(&(
            first.clone(),
            "m.read".to_owned(),
            bob.user_id.clone()
        )),
        "alice sees bob's m.read from read_markers: {:?}",
        receipts_in(&seen, &room)
    );
    // The receipt endpoint moves the fully-read marker too.
    post_receipt(&ctx, &bob, &room, "m.fully_read", &second)
        .await?
        .expect_status(200)?;
    let marker = fully_read().send().await?.expect_status(200)?;
    ensure_eq!(
        marker.json()?["event_id"],
        json!(second),
        "m.fully_read after a receipt"
    );
    // The errcodes of this 400 and the next appear only in the spec's examples.
    ctx.op(Method::POST, RECEIPT)
        .arg(&room)
        .arg("m.fully_read")
        .arg(&second)
        .token(&bob.access_token)
        .json(&json!({"thread_id": "main"}))
        .send()
        .await?
        .expect_status(400)?;
    post_receipt(&ctx, &bob, &room, "org.example.seen", &second)
        .await?
        .expect_status(400)?;
    let outsider = ctx.register_user("marker_outsider").await?;
    // The spec does not say whether a fully-read marker (private account data) may be set
    // for a room one is not in: refusing it and storing it both conform.
    let outsider_marker = markers(&outsider, json!({"m.fully_read": first}))
        .send()
        .await?;
    ensure!(
        outsider_marker.status == 200
            || (outsider_marker.status == 403 && outsider_marker.errcode() == Some("M_FORBIDDEN")),
        "read markers in a room not joined answered {}",
        outsider_marker.status
    );
    Ok(())
}

async fn threaded_receipts_name_the_thread_of_their_event(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("thread_receipts").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "private_chat"})).await?;
    let root = send(&ctx, &alice, &room, "root").await?;
    let reply = send_thread_reply(&ctx, &alice, &room, &root, "in the thread").await?;
    let receipt = |event: &str, thread: &str| {
        ctx.op(
            Method::POST,
            "/_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}",
        )
        .arg(&room)
        .arg("m.read")
        .arg(event)
        .token(&alice.access_token)
        .json(&json!({ "thread_id": thread }))
    };
    receipt(&reply, &root).send().await?.expect_status(200)?;
    receipt(&root, "main").send().await?.expect_status(200)?;
    receipt(&root, &root).send().await?.expect_status(200)?;
    for (event, thread, what) in [
        (&reply, "main", "a thread reply under main"),
        (&root, "$some-other-root", "an event under another thread"),
    ] {
        // 400 is documented for an invalid thread_id; its errcode only as an example.
        let refused = receipt(event, thread).send().await?;
        ensure_eq!(refused.status, 400, "{what}");
    }
    Ok(())
}

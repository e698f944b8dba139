//! Event relationships: edits, annotations, references and threads through `/relations`,
//! `/threads` and the aggregations bundled into served events.

use http::Method;
use serde_json::{Value, json};

use super::common::{create_room, join, send_event as send, send_message};
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, UserSession},
    ensure, ensure_eq,
};

const EVENT: &str = "/_matrix/client/v3/rooms/{roomId}/event/{eventId}";
const REDACT: &str = "/_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}";
const RELATIONS: &str = "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}";
const RELATIONS_TYPE: &str = "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}";
const RELATIONS_TYPE_EVENT: &str =
    "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}";
const THREADS: &str = "/_matrix/client/v1/rooms/{roomId}/threads";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            the_latest_edit_by_the_sender_is_bundled,
            section = "client-server-api/#server-side-aggregation-of-mreplace-relationships",
            op = ("GET", "/_matrix/client/v3/rooms/{roomId}/event/{eventId}")
        ),
        case!(
            relations_are_listed_by_type_and_paged,
            section = "client-server-api/#get_matrixclientv1roomsroomidrelationseventidreltype",
            op = (
                "GET",
                "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}"
            )
        ),
        case!(
            relations_are_filtered_by_event_type,
            section =
                "client-server-api/#get_matrixclientv1roomsroomidrelationseventidreltypeeventtype",
            op = (
                "GET",
                "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}"
            )
        ),
        case!(
            redacted_relations_no_longer_relate,
            section = "client-server-api/#redactions-of-relations",
            op = (
                "GET",
                "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}"
            )
        ),
        case!(
            threads_are_listed_with_their_summary,
            section = "client-server-api/#get_matrixclientv1roomsroomidthreads",
            op = ("GET", "/_matrix/client/v1/rooms/{roomId}/threads")
        ),
        case!(
            relations_of_an_unreadable_room_are_refused,
            section = "client-server-api/#get_matrixclientv1roomsroomidrelationseventid",
            op = (
                "GET",
                "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}"
            )
        ),
    ]
}

fn edit(of: &str, body: &str) -> Value {
    json!({
        "msgtype": "m.text",
        "body": format!("* {body}"),
        "m.new_content": {"msgtype": "m.text", "body": body},
        "m.relates_to": {"rel_type": "m.replace", "event_id": of},
    })
}

fn reaction(to: &str, key: &str) -> Value {
    json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": to, "key": key}})
}

fn thread_reply(root: &str, body: &str) -> Value {
    json!({
        "msgtype": "m.text",
        "body": body,
        "m.relates_to": {"rel_type": "m.thread", "event_id": root},
    })
}

fn ids(events: &Value) -> Vec<String> {
    events
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["event_id"].as_str().map(str::to_owned))
        .collect()
}

/// A room with alice and bob joined.
async fn shared_room(
    ctx: &Ctx,
    prefix: &str,
) -> Result<(UserSession, UserSession, String), CaseError> {
    let alice = ctx.register_user(&format!("{prefix}_a")).await?;
    let bob = ctx.register_user(&format!("{prefix}_b")).await?;
    let room = create_room(ctx, &alice, json!({"preset": "public_chat"})).await?;
    join(ctx, &bob, &room).await?.expect_status(200)?;
    Ok((alice, bob, room))
}

async fn the_latest_edit_by_the_sender_is_bundled(ctx: Ctx) -> CaseResult {
    let (alice, bob, room) = shared_room(&ctx, "rel_edit").await?;
    let original = send_message(&ctx, &alice, &room, "first").await?;
    send(
        &ctx,
        &alice,
        &room,
        "m.room.message",
        edit(&original, "second"),
    )
    .await?;
    let latest = send(
        &ctx,
        &alice,
        &room,
        "m.room.message",
        edit(&original, "third"),
    )
    .await?;
    // Someone else's "edit" is not an edit of alice's message.
    send(
        &ctx,
        &bob,
        &room,
        "m.room.message",
        edit(&original, "forged"),
    )
    .await?;
    let got = ctx
        .op(Method::GET, EVENT)
        .arg(&room)
        .arg(&original)
        .token(&bob.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let event = got.json()?;
    let replace = &event["unsigned"]["m.relations"]["m.replace"];
    ensure_eq!(
        replace["event_id"],
        json!(latest),
        "the bundled edit is the latest by the original's sender: {event}"
    );
    ensure_eq!(
        replace["content"]["m.new_content"]["body"],
        json!("third"),
        "the bundled edit is the whole replacement event"
    );
    ensure_eq!(
        event["content"]["body"],
        json!("first"),
        "the original's content is served unchanged"
    );
    Ok(())
}

async fn relations_are_listed_by_type_and_paged(ctx: Ctx) -> CaseResult {
    let (alice, bob, room) = shared_room(&ctx, "rel_page").await?;
    let target = send_message(&ctx, &alice, &room, "react to me").await?;
    let mut reactions = Vec::new();
    for key in ["👍", "🎉", "😀"] {
        reactions.push(send(&ctx, &bob, &room, "m.reaction", reaction(&target, key)).await?);
    }
    let reference = send(
        &ctx,
        &bob,
        &room,
        "m.room.message",
        json!({"msgtype": "m.text", "body": "see above", "m.relates_to": {"rel_type": "m.reference", "event_id": target}}),
    )
    .await?;
    let first = ctx
        .op(Method::GET, RELATIONS_TYPE)
        .arg(&room)
        .arg(&target)
        .arg("m.annotation")
        .query("limit", "2")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let first = first.json()?;
    ensure_eq!(
        ids(&first["chunk"]),
        vec![reactions[2].clone(), reactions[1].clone()],
        "the newest annotations first"
    );
    let next = first["next_batch"]
        .as_str()
        .ok_or_else(|| CaseError::Fail(format!("a full page has next_batch: {first}")))?;
    let second = ctx
        .op(Method::GET, RELATIONS_TYPE)
        .arg(&room)
        .arg(&target)
        .arg("m.annotation")
        .query("limit", "2")
        .query("from", next)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        ids(&second.json()?["chunk"]),
        vec![reactions[0].clone()],
        "the second page"
    );
    let all = ctx
        .op(Method::GET, RELATIONS)
        .arg(&room)
        .arg(&target)
        .query("dir", "f")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let mut expected = reactions.clone();
    expected.push(reference.clone());
    ensure_eq!(
        ids(&all.json()?["chunk"]),
        expected,
        "every relation, oldest first with dir=f"
    );
    let got = ctx
        .op(Method::GET, EVENT)
        .arg(&room)
        .arg(&target)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        got.json()?["unsigned"]["m.relations"]["m.reference"]["chunk"],
        json!([{"event_id": reference}]),
        "references are bundled"
    );
    Ok(())
}

async fn relations_are_filtered_by_event_type(ctx: Ctx) -> CaseResult {
    let (alice, bob, room) = shared_room(&ctx, "rel_type").await?;
    let target = send_message(&ctx, &alice, &room, "annotated").await?;
    let reacted = send(&ctx, &bob, &room, "m.reaction", reaction(&target, "👍")).await?;
    send(
        &ctx,
        &bob,
        &room,
        "m.room.message",
        json!({"msgtype": "m.text", "body": "odd", "m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "x"}}),
    )
    .await?;
    let got = ctx
        .op(Method::GET, RELATIONS_TYPE_EVENT)
        .arg(&room)
        .arg(&target)
        .arg("m.annotation")
        .arg("m.reaction")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        ids(&got.json()?["chunk"]),
        vec![reacted],
        "only m.reaction annotations"
    );
    Ok(())
}

async fn redacted_relations_no_longer_relate(ctx: Ctx) -> CaseResult {
    let (alice, bob, room) = shared_room(&ctx, "rel_redact").await?;
    let target = send_message(&ctx, &alice, &room, "hello").await?;
    let kept = send(&ctx, &bob, &room, "m.reaction", reaction(&target, "👍")).await?;
    let removed = send(&ctx, &bob, &room, "m.reaction", reaction(&target, "👎")).await?;
    ctx.op(Method::PUT, REDACT)
        .arg(&room)
        .arg(&removed)
        .arg(&format!("x{}", rand::random::<u64>()))
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let got = ctx
        .op(Method::GET, RELATIONS)
        .arg(&room)
        .arg(&target)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        ids(&got.json()?["chunk"]),
        vec![kept],
        "a redacted reaction is no longer a relation"
    );
    Ok(())
}

async fn threads_are_listed_with_their_summary(ctx: Ctx) -> CaseResult {
    let (alice, bob, room) = shared_room(&ctx, "rel_thread").await?;
    let carol = ctx.register_user("rel_thread_c").await?;
    join(&ctx, &carol, &room).await?.expect_status(200)?;
    let root = send_message(&ctx, &alice, &room, "thread root").await?;
    send(
        &ctx,
        &bob,
        &room,
        "m.room.message",
        thread_reply(&root, "one"),
    )
    .await?;
    let last = send(
        &ctx,
        &bob,
        &room,
        "m.room.message",
        thread_reply(&root, "two"),
    )
    .await?;
    let other_root = send_message(&ctx, &carol, &room, "quiet root").await?;
    let quiet = send(
        &ctx,
        &carol,
        &room,
        "m.room.message",
        thread_reply(&other_root, "alone"),
    )
    .await?;

    let listed = ctx
        .op(Method::GET, THREADS)
        .arg(&room)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let chunk = &listed.json()?["chunk"];
    ensure_eq!(
        ids(chunk),
        vec![other_root.clone(), root.clone()],
        "roots, most recently active first"
    );
    let summary = &chunk[1]["unsigned"]["m.relations"]["m.thread"];
    ensure_eq!(summary["count"], json!(2), "thread reply count: {summary}");
    ensure_eq!(
        summary["latest_event"]["event_id"],
        json!(last),
        "latest thread event"
    );
    ensure_eq!(
        summary["current_user_participated"],
        json!(true),
        "alice started the thread"
    );
    ensure_eq!(
        chunk[0]["unsigned"]["m.relations"]["m.thread"]["latest_event"]["event_id"],
        json!(quiet),
        "the other thread's latest event"
    );
    let participated = ctx
        .op(Method::GET, THREADS)
        .arg(&room)
        .query("include", "participated")
        .token(&bob.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        ids(&participated.json()?["chunk"]),
        vec![root.clone()],
        "bob replied only in alice's thread"
    );
    let paged = ctx
        .op(Method::GET, THREADS)
        .arg(&room)
        .query("limit", "1")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let paged = paged.json()?;
    let next = paged["next_batch"]
        .as_str()
        .ok_or_else(|| CaseError::Fail(format!("a full page has next_batch: {paged}")))?;
    let rest = ctx
        .op(Method::GET, THREADS)
        .arg(&room)
        .query("limit", "1")
        .query("from", next)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(ids(&rest.json()?["chunk"]), vec![root], "the second page");
    Ok(())
}

async fn relations_of_an_unreadable_room_are_refused(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("rel_private_a").await?;
    let mallory = ctx.register_user("rel_private_m").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "private_chat"})).await?;
    let target = send_message(&ctx, &alice, &room, "secret").await?;
    let refused = ctx
        .op(Method::GET, RELATIONS)
        .arg(&room)
        .arg(&target)
        .token(&mallory.access_token)
        .send()
        .await?;
    ensure!(
        matches!(refused.status, 403 | 404),
        "relations of a room mallory cannot read, got {}",
        refused.status
    );
    let refused = ctx
        .op(Method::GET, THREADS)
        .arg(&room)
        .token(&mallory.access_token)
        .send()
        .await?;
    ensure!(
        matches!(refused.status, 403 | 404),
        "threads of a room mallory cannot read, got {}",
        refused.status
    );
    Ok(())
}

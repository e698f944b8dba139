//! Account data (global and per room) and room tags: private to their user, delivered by sync.

use http::Method;
use serde_json::{Value, json};

use super::common::{create_room, send_message};
use crate::{
    case,
    case::{Case, CaseResult},
    client::{Ctx, UserSession},
    ensure, ensure_eq,
};

const GLOBAL: &str = "/_matrix/client/v3/user/{userId}/account_data/{type}";
const ROOM: &str = "/_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}";
const TAGS: &str = "/_matrix/client/v3/user/{userId}/rooms/{roomId}/tags";
const TAG: &str = "/_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            global_account_data_round_trips_and_stays_private,
            section = "client-server-api/#client-config",
            op = (
                "PUT",
                "/_matrix/client/v3/user/{userId}/account_data/{type}"
            )
        ),
        case!(
            server_managed_account_data_is_refused,
            section = "client-server-api/#put_matrixclientv3useruseridaccount_datatype",
            op = (
                "PUT",
                "/_matrix/client/v3/user/{userId}/account_data/{type}"
            )
        ),
        case!(
            room_account_data_round_trips,
            section = "client-server-api/#client-config",
            op = (
                "PUT",
                "/_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}"
            )
        ),
        case!(
            tags_are_added_listed_and_removed,
            section = "client-server-api/#room-tagging",
            op = (
                "PUT",
                "/_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}"
            )
        ),
        case!(
            ignored_users_messages_and_invites_are_hidden,
            section = "client-server-api/#ignoring-users",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
        case!(
            account_data_and_tags_arrive_in_sync,
            section = "client-server-api/#client-config",
            op = ("GET", "/_matrix/client/v3/sync")
        ),
    ]
}

fn data_type() -> String {
    format!("org.rechain.conformance.{}", rand::random::<u32>())
}

async fn global_account_data_round_trips_and_stays_private(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("data_owner").await?;
    let bob = ctx.register_user("data_snoop").await?;
    let kind = data_type();
    let content = json!({"theme": "dark", "nested": {"n": 1}});
    let put = |actor: &UserSession, body: &Value| {
        ctx.op(Method::PUT, GLOBAL)
            .arg(&alice.user_id)
            .arg(&kind)
            .token(&actor.access_token)
            .json(body)
    };
    let get = |actor: &UserSession, kind: &str| {
        ctx.op(Method::GET, GLOBAL)
            .arg(&alice.user_id)
            .arg(kind)
            .token(&actor.access_token)
    };
    let missing = get(&alice, &kind).send().await?.expect_status(404)?;
    ensure_eq!(missing.errcode(), Some("M_NOT_FOUND"), "unset account data");
    put(&alice, &content).send().await?.expect_status(200)?;
    let read = get(&alice, &kind).send().await?.expect_status(200)?;
    ensure_eq!(read.json()?, &content, "account data read back");
    let snooped = get(&bob, &kind).send().await?.expect_status(403)?;
    ensure_eq!(
        snooped.errcode(),
        Some("M_FORBIDDEN"),
        "reading another user's data"
    );
    let forged = put(&bob, &json!({"theme": "light"}))
        .send()
        .await?
        .expect_status(403)?;
    ensure_eq!(
        forged.errcode(),
        Some("M_FORBIDDEN"),
        "writing another user's data"
    );
    let read = get(&alice, &kind).send().await?.expect_status(200)?;
    ensure_eq!(read.json()?, &content, "account data after a refused write");
    let not_object = put(&alice, &json!(["a", "list"])).send().await?;
    ensure!(
        not_object.status == 400
            && matches!(not_object.errcode(), Some("M_BAD_JSON" | "M_NOT_JSON")),
        "a non-object body: {} {:?}",
        not_object.status,
        not_object.errcode()
    );
    Ok(())
}

async fn server_managed_account_data_is_refused(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("data_managed").await?;
    let refused = ctx
        .op(Method::PUT, GLOBAL)
        .arg(&alice.user_id)
        .arg("m.fully_read")
        .token(&alice.access_token)
        .json(&json!({"event_id": "$x:example.org"}))
        .send()
        .await?
        .expect_status(405)?;
    ensure_eq!(
        refused.errcode(),
        Some("M_BAD_JSON"),
        "setting m.fully_read"
    );
    Ok(())
}

async fn room_account_data_round_trips(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("room_data").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "private_chat"})).await?;
    let kind = data_type();
    let at = |method: Method, room: &str| {
        ctx.op(method, ROOM)
            .arg(&alice.user_id)
            .arg(room)
            .arg(&kind)
            .token(&alice.access_token)
    };
    at(Method::PUT, &room)
        .json(&json!({"pinned": true}))
        .send()
        .await?
        .expect_status(200)?;
    let read = at(Method::GET, &room).send().await?.expect_status(200)?;
    ensure_eq!(
        read.json()?,
        &json!({"pinned": true}),
        "room data read back"
    );
    let global = ctx
        .op(Method::GET, GLOBAL)
        .arg(&alice.user_id)
        .arg(&kind)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(404)?;
    ensure_eq!(
        global.errcode(),
        Some("M_NOT_FOUND"),
        "room data is not global"
    );
    let bad_room = at(Method::GET, "@not_a_room:example.org")
        .send()
        .await?
        .expect_status(400)?;
    ensure_eq!(
        bad_room.errcode(),
        Some("M_INVALID_PARAM"),
        "invalid room id"
    );
    Ok(())
}

async fn tags_are_added_listed_and_removed(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("tagger").await?;
    let bob = ctx.register_user("tag_snoop").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "private_chat"})).await?;
    let tags = |actor: &UserSession| {
        ctx.op(Method::GET, TAGS)
            .arg(&alice.user_id)
            .arg(&room)
            .token(&actor.access_token)
    };
    let tag = |method: Method, name: &str| {
        ctx.op(method, TAG)
            .arg(&alice.user_id)
            .arg(&room)
            .arg(name)
            .token(&alice.access_token)
    };
    let empty = tags(&alice).send().await?.expect_status(200)?;
    ensure_eq!(empty.json()?, &json!({"tags": {}}), "tags before any");
    tag(Method::PUT, "u.work")
        .json(&json!({"order": 0.25}))
        .send()
        .await?
        .expect_status(200)?;
    tag(Method::PUT, "m.favourite")
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let listed = tags(&alice).send().await?.expect_status(200)?;
    ensure_eq!(
        listed.json()?,
        &json!({"tags": {"u.work": {"order": 0.25}, "m.favourite": {}}}),
        "tags after adding two"
    );
    let snooped = tags(&bob).send().await?.expect_status(403)?;
    ensure_eq!(
        snooped.errcode(),
        Some("M_FORBIDDEN"),
        "another user's tags"
    );
    tag(Method::DELETE, "u.work")
        .send()
        .await?
        .expect_status(200)?;
    let listed = tags(&alice).send().await?.expect_status(200)?;
    ensure_eq!(
        listed.json()?,
        &json!({"tags": {"m.favourite": {}}}),
        "tags after removing one"
    );
    Ok(())
}

async fn account_data_and_tags_arrive_in_sync(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("data_syncer").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "private_chat"})).await?;
    let sync = |since: Option<String>| {
        let mut request = ctx
            .op(Method::GET, "/_matrix/client/v3/sync")
            .token(&alice.access_token)
            .query("timeout", "5000");
        if let Some(since) = since {
            request = request.query("since", &since);
        }
        request
    };
    let first = sync(None).send().await?.expect_status(200)?;
    let token = first.json()?["next_batch"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let kind = data_type();
    ctx.op(Method::PUT, GLOBAL)
        .arg(&alice.user_id)
        .arg(&kind)
        .token(&alice.access_token)
        .json(&json!({"v": 1}))
        .send()
        .await?
        .expect_status(200)?;
    ctx.op(Method::PUT, TAG)
        .arg(&alice.user_id)
        .arg(&room)
        .arg("m.lowpriority")
        .token(&alice.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let next = sync(Some(token)).send().await?.expect_status(200)?;
    let body = next.json()?;
    let find = |events: &Value, kind: &str| {
        events["events"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["type"] == kind)
            .map(|e| e["content"].clone())
    };
    ensure_eq!(
        find(&body["account_data"], &kind),
        Some(json!({"v": 1})),
        "global account data in sync: {body}"
    );
    ensure_eq!(
        find(
            &body["rooms"]["join"][room.as_str()]["account_data"],
            "m.tag"
        ),
        Some(json!({"tags": {"m.lowpriority": {}}})),
        "room tags in sync: {body}"
    );
    Ok(())
}

async fn ignored_users_messages_and_invites_are_hidden(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("ignorer").await?;
    let bob = ctx.register_user("friend").await?;
    let carol = ctx.register_user("ignored").await?;
    let room = ctx
        .op(Method::POST, "/_matrix/client/v3/createRoom")
        .token(&alice.access_token)
        .json(&json!({"preset": "public_chat"}))
        .send()
        .await?
        .expect_status(200)?
        .json()?["room_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for user in [&bob, &carol] {
        ctx.op(Method::POST, "/_matrix/client/v3/rooms/{roomId}/join")
            .arg(&room)
            .token(&user.access_token)
            .json(&json!({}))
            .send()
            .await?
            .expect_status(200)?;
    }
    ctx.op(Method::PUT, GLOBAL)
        .arg(&alice.user_id)
        .arg("m.ignored_user_list")
        .token(&alice.access_token)
        .json(&json!({"ignored_users": { carol.user_id.as_str(): {} }}))
        .send()
        .await?
        .expect_status(200)?;
    let hidden = send_message(&ctx, &carol, &room, "you cannot see me").await?;
    let shown = send_message(&ctx, &bob, &room, "you can see me").await?;
    let other_room = ctx
        .op(Method::POST, "/_matrix/client/v3/createRoom")
        .token(&carol.access_token)
        .json(&json!({"preset": "private_chat", "invite": [alice.user_id]}))
        .send()
        .await?
        .expect_status(200)?
        .json()?["room_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let synced = ctx
        .op(Method::GET, "/_matrix/client/v3/sync")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let body = synced.json()?;
    let timeline: Vec<&str> = body["rooms"]["join"][room.as_str()]["timeline"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    ensure!(
        timeline.contains(&shown.as_str()),
        "bob's message in the timeline: {timeline:?}"
    );
    ensure!(
        !timeline.contains(&hidden.as_str()),
        "carol's message hidden: {timeline:?}"
    );
    ensure!(
        body["rooms"]["invite"].get(other_room.as_str()).is_none(),
        "carol's invite hidden: {}",
        body["rooms"]["invite"]
    );
    let page = ctx
        .op(Method::GET, "/_matrix/client/v3/rooms/{roomId}/messages")
        .arg(&room)
        .query("dir", "b")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let ids: Vec<&str> = page.json()?["chunk"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    ensure!(
        ids.contains(&shown.as_str()) && !ids.contains(&hidden.as_str()),
        "/messages hides carol's message only: {ids:?}"
    );
    // Not asserted: that a malformed ignore list is refused. The account-data endpoint
    // refuses only bodies that are not JSON objects, and the ignoring module asks for no
    // validation, so storing it as given also conforms.
    Ok(())
}

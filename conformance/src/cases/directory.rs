//! Room aliases: the directory mapping, createRoom's alias, joining by alias, and the rule that a
//! canonical alias must point at its room.

use http::Method;
use serde_json::json;

use super::common::create_room;
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, UserSession},
    ensure, ensure_eq,
};

const ALIAS: &str = "/_matrix/client/v3/directory/room/{roomAlias}";
const ROOM_ALIASES: &str = "/_matrix/client/v3/rooms/{roomId}/aliases";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            alias_is_created_resolved_listed_and_deleted,
            section = "client-server-api/#room-aliases",
            op = ("PUT", "/_matrix/client/v3/directory/room/{roomAlias}")
        ),
        case!(
            create_room_with_an_alias_sets_the_canonical_alias,
            section = "client-server-api/#post_matrixclientv3createroom",
            op = ("POST", "/_matrix/client/v3/createRoom")
        ),
        case!(
            publishing_a_room_needs_power_in_it,
            section = "client-server-api/#put_matrixclientv3directorylistroomroomid",
            op = ("PUT", "/_matrix/client/v3/directory/list/room/{roomId}")
        ),
        case!(
            public_rooms_lists_published_rooms_by_search_and_pages,
            section = "client-server-api/#post_matrixclientv3publicrooms",
            op = ("POST", "/_matrix/client/v3/publicRooms")
        ),
        case!(
            canonical_alias_must_point_to_the_room,
            section = "client-server-api/#mroomcanonical_alias",
            op = (
                "PUT",
                "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}"
            )
        ),
    ]
}

/// A fresh alias on the user's server.
fn fresh_alias(user: &UserSession) -> String {
    let server = user
        .user_id
        .split_once(':')
        .map(|(_, s)| s)
        .unwrap_or_default();
    format!("#conformance{}:{server}", rand::random::<u32>())
}

async fn alias_is_created_resolved_listed_and_deleted(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("alias_owner").await?;
    let bob = ctx.register_user("alias_other").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "private_chat"})).await?;
    let alias = fresh_alias(&alice);
    let put = |user: &UserSession| {
        ctx.op(Method::PUT, ALIAS)
            .arg(&alias)
            .token(&user.access_token)
            .json(&json!({ "room_id": room }))
    };
    put(&alice).send().await?.expect_status(200)?;
    let resolved = ctx
        .op(Method::GET, ALIAS)
        .arg(&alias)
        .send()
        .await?
        .expect_status(200)?;
    let body = resolved.json()?;
    ensure_eq!(body["room_id"], json!(room), "resolved room");
    ensure!(
        body["servers"].as_array().is_some_and(|s| !s.is_empty()),
        "resolution names servers: {body}"
    );
    // 409 is documented; its errcode only appears in an example.
    put(&alice).send().await?.expect_status(409)?;
    let listed = ctx
        .op(Method::GET, ROOM_ALIASES)
        .arg(&room)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        listed.json()?["aliases"],
        json!([alias]),
        "the room's aliases"
    );
    let outsider = ctx
        .op(Method::GET, ROOM_ALIASES)
        .arg(&room)
        .token(&bob.access_token)
        .send()
        .await?
        .expect_status(403)?;
    ensure_eq!(
        outsider.errcode(),
        Some("M_FORBIDDEN"),
        "aliases of a room not joined"
    );
    let delete = |user: &UserSession| {
        ctx.op(Method::DELETE, ALIAS)
            .arg(&alias)
            .token(&user.access_token)
    };
    let refused = delete(&bob).send().await?.expect_status(403)?;
    ensure_eq!(
        refused.errcode(),
        Some("M_FORBIDDEN"),
        "deleting another's alias"
    );
    delete(&alice).send().await?.expect_status(200)?;
    let gone = ctx
        .op(Method::GET, ALIAS)
        .arg(&alias)
        .send()
        .await?
        .expect_status(404)?;
    ensure_eq!(gone.errcode(), Some("M_NOT_FOUND"), "a deleted alias");

    let refused = ctx
        .op(Method::PUT, ALIAS)
        .arg(&fresh_alias(&alice))
        .token(&bob.access_token)
        .json(&json!({ "room_id": room }))
        .send()
        .await?
        .expect_status(403)?;
    ensure_eq!(
        refused.errcode(),
        Some("M_FORBIDDEN"),
        "an alias for a room not joined"
    );
    for (alias, room, what) in [
        (
            format!("#elsewhere{}:other.example.org", rand::random::<u32>()),
            room.clone(),
            "an alias on another server",
        ),
        (
            fresh_alias(&alice),
            format!("!unknown{}:example.org", rand::random::<u32>()),
            "an alias for an unknown room",
        ),
    ] {
        // The spec expects servers to refuse both, without naming the error.
        ctx.op(Method::PUT, ALIAS)
            .arg(&alias)
            .token(&alice.access_token)
            .json(&json!({ "room_id": room }))
            .send()
            .await?
            .expect_refusal(what)?;
    }
    Ok(())
}

async fn create_room_with_an_alias_sets_the_canonical_alias(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("alias_creator").await?;
    let name = format!("named{}", rand::random::<u32>());
    let room = create_room(
        &ctx,
        &alice,
        json!({"preset": "public_chat", "room_alias_name": name}),
    )
    .await?;
    let alias = format!(
        "#{name}:{}",
        alice
            .user_id
            .split_once(':')
            .map(|(_, s)| s)
            .unwrap_or_default()
    );
    let canonical = ctx
        .op(
            Method::GET,
            "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}",
        )
        .arg(&room)
        .arg("m.room.canonical_alias")
        .arg("")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(canonical.json()?["alias"], json!(alias), "canonical alias");
    let bob = ctx.register_user("alias_joiner").await?;
    let joined = ctx
        .op(Method::POST, "/_matrix/client/v3/join/{roomIdOrAlias}")
        .arg(&alias)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(joined.json()?["room_id"], json!(room), "joined by alias");
    let again = ctx
        .op(Method::POST, "/_matrix/client/v3/createRoom")
        .token(&bob.access_token)
        .json(&json!({"room_alias_name": name}))
        .send()
        .await?
        .expect_status(400)?;
    ensure_eq!(
        again.errcode(),
        Some("M_ROOM_IN_USE"),
        "a taken room_alias_name"
    );
    Ok(())
}

async fn canonical_alias_must_point_to_the_room(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("alias_pointer").await?;
    let first = create_room(&ctx, &alice, json!({"preset": "private_chat"})).await?;
    let second = create_room(&ctx, &alice, json!({"preset": "private_chat"})).await?;
    let alias = fresh_alias(&alice);
    ctx.op(Method::PUT, ALIAS)
        .arg(&alias)
        .token(&alice.access_token)
        .json(&json!({ "room_id": first }))
        .send()
        .await?
        .expect_status(200)?;
    let set = |room: &str| {
        ctx.op(
            Method::PUT,
            "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}",
        )
        .arg(room)
        .arg("m.room.canonical_alias")
        .arg("")
        .token(&alice.access_token)
        .json(&json!({ "alias": alias }))
    };
    let refused = set(&second).send().await?.expect_status(400)?;
    ensure_eq!(
        refused.errcode(),
        Some("M_BAD_ALIAS"),
        "an alias of another room"
    );
    set(&first).send().await?.expect_status(200)?;
    let malformed = ctx
        .op(
            Method::PUT,
            "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}",
        )
        .arg(&first)
        .arg("m.room.canonical_alias")
        .arg("")
        .token(&alice.access_token)
        .json(&json!({ "alias": alias, "alt_aliases": alias }))
        .send()
        .await?
        .expect_status(400)?;
    // The state endpoint gives M_INVALID_PARAM as an example of a malformed request;
    // M_BAD_JSON is the common code for the same.
    malformed.expect_errcode_in(
        &["M_BAD_JSON", "M_INVALID_PARAM"],
        "alt_aliases that is not a list",
    )?;
    Ok(())
}

const VISIBILITY: &str = "/_matrix/client/v3/directory/list/room/{roomId}";

async fn publishing_a_room_needs_power_in_it(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("publisher").await?;
    let bob = ctx.register_user("would_be_publisher").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    ctx.op(Method::POST, "/_matrix/client/v3/rooms/{roomId}/join")
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let visibility = || async {
        let response = ctx
            .op(Method::GET, VISIBILITY)
            .arg(&room)
            .send()
            .await?
            .expect_status(200)?;
        Ok::<_, CaseError>(response.json()?["visibility"].clone())
    };
    let set = |user: &UserSession, visibility: &str| {
        ctx.op(Method::PUT, VISIBILITY)
            .arg(&room)
            .token(&user.access_token)
            .json(&json!({ "visibility": visibility }))
    };
    ensure_eq!(
        visibility().await?,
        json!("private"),
        "a new room's visibility"
    );
    let refused = set(&bob, "public").send().await?.expect_status(403)?;
    ensure_eq!(
        refused.errcode(),
        Some("M_FORBIDDEN"),
        "publishing at power 0"
    );
    ensure_eq!(
        visibility().await?,
        json!("private"),
        "after a refused publish"
    );
    let published = set(&alice, "public").send().await?;
    if published.status == 403 {
        // "Servers MAY implement additional access control checks" (Synapse by default lets
        // nobody publish).
        return Err(CaseError::Skip(
            "the server lets no one publish this room".to_owned(),
        ));
    }
    published.expect_status(200)?;
    ensure_eq!(visibility().await?, json!("public"), "after publishing");
    set(&alice, "private").send().await?.expect_status(200)?;
    let unknown = ctx
        .op(Method::GET, VISIBILITY)
        .arg(&format!("!unknown{}:example.org", rand::random::<u32>()))
        .send()
        .await?
        .expect_status(404)?;
    ensure_eq!(
        unknown.errcode(),
        Some("M_NOT_FOUND"),
        "visibility of an unknown room"
    );
    ensure_eq!(visibility().await?, json!("private"), "after unpublishing");
    Ok(())
}

async fn public_rooms_lists_published_rooms_by_search_and_pages(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("lobby_owner").await?;
    let token = format!("lobby{}", rand::random::<u32>());
    let mut published = Vec::new();
    for n in 0..2 {
        let body = json!({
            "visibility": "public",
            "preset": "public_chat",
            "name": format!("Conformance {token} {n}"),
            "topic": "a room to find",
        });
        published.push(create_room(&ctx, &alice, body).await?);
    }
    // Same words in the name, never published.
    create_room(
        &ctx,
        &alice,
        json!({"preset": "public_chat", "name": format!("Hidden {token}")}),
    )
    .await?;
    let search = |since: Option<&str>| {
        let mut body = json!({"limit": 1, "filter": {"generic_search_term": token}});
        if let Some(since) = since {
            body["since"] = json!(since);
        }
        ctx.op(Method::POST, "/_matrix/client/v3/publicRooms")
            .token(&alice.access_token)
            .json(&body)
    };
    let first = search(None).send().await?.expect_status(200)?;
    let first = first.json()?.clone();
    let next = first["next_batch"].as_str().map(str::to_owned);
    ensure!(
        next.is_some(),
        "two matches with limit 1 give a next_batch: {first}"
    );
    let second = search(next.as_deref()).send().await?.expect_status(200)?;
    let second = second.json()?.clone();
    ensure!(
        second.get("next_batch").is_none(),
        "the last page has no next_batch: {second}"
    );
    let mut found: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|page| page["chunk"].as_array().cloned().unwrap_or_default())
        .map(|entry| entry["room_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    found.sort();
    published.sort();
    ensure_eq!(found, published, "the published rooms, one per page");
    let entry = &first["chunk"][0];
    ensure_eq!(
        entry["num_joined_members"],
        json!(1),
        "joined members: {entry}"
    );
    // An absent join_rule means public.
    ensure!(
        entry.get("join_rule").is_none_or(|rule| rule == "public"),
        "join rule: {entry}"
    );
    ensure_eq!(entry["topic"], json!("a room to find"), "topic: {entry}");
    // The GET form lists the same directory, without a filter, a page at a time.
    let listed = ctx
        .op(Method::GET, "/_matrix/client/v3/publicRooms")
        .token(&alice.access_token)
        .query("limit", "1")
        .send()
        .await?
        .expect_status(200)?;
    let chunk = listed.json()?["chunk"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(
        chunk.len() == 1,
        "GET /publicRooms with limit 1 lists one of the published rooms: {chunk:?}"
    );
    // /publicRooms documents no error; a garbled token is still a bad request.
    search(Some("not-a-token"))
        .send()
        .await?
        .expect_status(400)?;
    Ok(())
}

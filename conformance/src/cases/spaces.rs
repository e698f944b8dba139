//! Spaces: `/hierarchy` and rooms whose restricted join rule admits the members of a space.

use http::Method;
use serde_json::{Value, json};

use super::common::{create_room, join, set_state};
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, UserSession},
    ensure_eq,
};

const HIERARCHY: &str = "/_matrix/client/v1/rooms/{roomId}/hierarchy";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            hierarchy_lists_the_space_and_its_children_in_order,
            section = "client-server-api/#get_matrixclientv1roomsroomidhierarchy",
            op = ("GET", "/_matrix/client/v1/rooms/{roomId}/hierarchy")
        ),
        case!(
            restricted_rooms_admit_members_of_the_allowed_space,
            section = "client-server-api/#restricted-rooms",
            op = ("POST", "/_matrix/client/v3/join/{roomIdOrAlias}")
        ),
    ]
}

fn server_of(user: &UserSession) -> String {
    user.user_id
        .split(':')
        .nth(1)
        .unwrap_or("localhost")
        .to_owned()
}

async fn add_child(
    ctx: &Ctx,
    user: &UserSession,
    space: &str,
    child: &str,
    order: &str,
) -> Result<(), CaseError> {
    set_state(
        ctx,
        user,
        space,
        ("m.space.child", child),
        json!({"via": [server_of(user)], "order": order}),
    )
    .await?;
    Ok(())
}

async fn hierarchy(
    ctx: &Ctx,
    user: &UserSession,
    space: &str,
    query: &[(&str, &str)],
) -> Result<crate::client::Response, CaseError> {
    let mut request = ctx
        .op(Method::GET, HIERARCHY)
        .arg(space)
        .token(&user.access_token);
    for (k, v) in query {
        request = request.query(k, v);
    }
    request.send().await
}

fn room_ids(body: &Value) -> Vec<String> {
    body["rooms"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["room_id"].as_str().map(str::to_owned))
        .collect()
}

async fn hierarchy_lists_the_space_and_its_children_in_order(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("space_a").await?;
    let bob = ctx.register_user("space_b").await?;
    let space = create_room(
        &ctx,
        &alice,
        json!({"preset": "public_chat", "name": "The space", "creation_content": {"type": "m.space"}}),
    )
    .await?;
    let second = create_room(
        &ctx,
        &alice,
        json!({"preset": "public_chat", "name": "Second"}),
    )
    .await?;
    let first = create_room(
        &ctx,
        &alice,
        json!({"preset": "public_chat", "name": "First"}),
    )
    .await?;
    let private = create_room(
        &ctx,
        &alice,
        json!({"preset": "private_chat", "name": "Hidden"}),
    )
    .await?;
    add_child(&ctx, &alice, &space, &second, "b").await?;
    add_child(&ctx, &alice, &space, &first, "a").await?;
    add_child(&ctx, &alice, &space, &private, "c").await?;

    let all = hierarchy(&ctx, &alice, &space, &[])
        .await?
        .expect_status(200)?;
    let body = all.json()?;
    ensure_eq!(
        room_ids(body),
        vec![
            space.clone(),
            first.clone(),
            second.clone(),
            private.clone()
        ],
        "the space first, then its children by order"
    );
    let top = &body["rooms"][0];
    ensure_eq!(top["room_type"], json!("m.space"), "the space's type");
    ensure_eq!(top["name"], json!("The space"), "the space's name");
    ensure_eq!(
        top["children_state"].as_array().map(Vec::len),
        Some(3),
        "the space's child events"
    );
    let outsider = hierarchy(&ctx, &bob, &space, &[])
        .await?
        .expect_status(200)?;
    ensure_eq!(
        room_ids(outsider.json()?),
        vec![space.clone(), first.clone(), second.clone()],
        "a private room is hidden from those outside it"
    );
    let paged = hierarchy(&ctx, &alice, &space, &[("limit", "2")])
        .await?
        .expect_status(200)?;
    let next = paged.json()?["next_batch"]
        .as_str()
        .ok_or_else(|| CaseError::Fail("a partial page has next_batch".to_owned()))?
        .to_owned();
    let rest = hierarchy(&ctx, &alice, &space, &[("limit", "2"), ("from", &next)])
        .await?
        .expect_status(200)?;
    ensure_eq!(
        room_ids(rest.json()?),
        vec![second, private.clone()],
        "the next page"
    );
    let shallow = hierarchy(&ctx, &alice, &space, &[("max_depth", "0")])
        .await?
        .expect_status(200)?;
    ensure_eq!(room_ids(shallow.json()?), vec![space], "max_depth 0");
    let hidden = hierarchy(&ctx, &bob, &private, &[]).await?;
    ensure_eq!(hidden.status, 403, "the hierarchy of a room bob cannot see");
    Ok(())
}

async fn restricted_rooms_admit_members_of_the_allowed_space(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("restricted_a").await?;
    let bob = ctx.register_user("restricted_b").await?;
    let space = create_room(
        &ctx,
        &alice,
        json!({"preset": "public_chat", "creation_content": {"type": "m.space"}}),
    )
    .await?;
    let room = create_room(
        &ctx,
        &alice,
        json!({
            "preset": "private_chat",
            "room_version": "10",
            "initial_state": [{
                "type": "m.room.join_rules",
                "state_key": "",
                "content": {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": space}]},
            }],
        }),
    )
    .await?;
    let refused = join(&ctx, &bob, &room).await?.expect_status(403)?;
    ensure_eq!(
        refused.errcode(),
        Some("M_FORBIDDEN"),
        "joining before being in the space"
    );
    join(&ctx, &bob, &space).await?.expect_status(200)?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    let member = ctx
        .op(
            Method::GET,
            "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}",
        )
        .arg(&room)
        .arg("m.room.member")
        .arg(&bob.user_id)
        .token(&bob.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let content = member.json()?;
    ensure_eq!(content["membership"], json!("join"), "bob is in");
    ensure_eq!(
        content["join_authorised_via_users_server"],
        json!(alice.user_id),
        "a member with invite power vouched for the join"
    );
    Ok(())
}

//! User directory search: who can be found, by what, and how many at once.

use http::Method;
use serde_json::{Value, json};

use super::common::{create_room, join};
use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, UserSession},
    ensure, ensure_eq,
};

const SEARCH: &str = "/_matrix/client/v3/user_directory/search";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            users_sharing_a_room_are_found_by_name_and_id,
            section = "client-server-api/#user-directory",
            op = ("POST", "/_matrix/client/v3/user_directory/search")
        ),
        case!(
            strangers_in_private_rooms_are_not_found,
            section = "client-server-api/#user-directory",
            op = ("POST", "/_matrix/client/v3/user_directory/search")
        ),
        case!(
            search_results_are_limited,
            section = "client-server-api/#post_matrixclientv3user_directorysearch",
            op = ("POST", "/_matrix/client/v3/user_directory/search")
        ),
    ]
}

async fn search(ctx: &Ctx, user: &UserSession, body: Value) -> Result<Value, CaseError> {
    Ok(ctx
        .op(Method::POST, SEARCH)
        .token(&user.access_token)
        .json(&body)
        .send()
        .await?
        .expect_status(200)?
        .json()?
        .clone())
}

fn found(results: &Value) -> Vec<String> {
    results["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["user_id"].as_str().map(str::to_owned))
        .collect()
}

async fn set_name(ctx: &Ctx, user: &UserSession, name: &str) -> Result<(), CaseError> {
    ctx.op(Method::PUT, "/_matrix/client/v3/profile/{userId}/{keyName}")
        .arg(&user.user_id)
        .arg("displayname")
        .token(&user.access_token)
        .json(&json!({ "displayname": name }))
        .send()
        .await?
        .expect_status(200)?;
    Ok(())
}

async fn users_sharing_a_room_are_found_by_name_and_id(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("dir_a").await?;
    let bob = ctx.register_user("dir_b").await?;
    let room = create_room(
        &ctx,
        &alice,
        json!({"preset": "private_chat", "invite": [bob.user_id]}),
    )
    .await?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    let tag = format!("Tables{}", rand::random::<u32>());
    set_name(&ctx, &bob, &format!("Bobby {tag}")).await?;
    let by_name = search(&ctx, &alice, json!({"search_term": tag.to_lowercase()})).await?;
    ensure_eq!(
        found(&by_name),
        vec![bob.user_id.clone()],
        "search by display name"
    );
    ensure_eq!(
        by_name["results"][0]["display_name"],
        json!(format!("Bobby {tag}")),
        "the result carries the display name"
    );
    ensure_eq!(by_name["limited"], json!(false), "limited");
    let by_id = search(&ctx, &alice, json!({"search_term": bob.localpart()})).await?;
    ensure!(
        found(&by_id).contains(&bob.user_id),
        "search by user id: {by_id}"
    );
    Ok(())
}

async fn strangers_in_private_rooms_are_not_found(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("dir_seeker").await?;
    let carol = ctx.register_user("dir_hidden").await?;
    create_room(&ctx, &carol, json!({"preset": "private_chat"})).await?;
    let tag = format!("Hermit{}", rand::random::<u32>());
    set_name(&ctx, &carol, &tag).await?;
    let results = search(&ctx, &alice, json!({"search_term": tag})).await?;
    ensure!(
        !found(&results).contains(&carol.user_id),
        "a user sharing no room and in no public room is not found: {results}"
    );
    Ok(())
}

async fn search_results_are_limited(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("dir_many_a").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    let tag = format!("Crowd{}", rand::random::<u32>());
    for i in 0..3 {
        let user = ctx.register_user("dir_many_m").await?;
        join(&ctx, &user, &room).await?.expect_status(200)?;
        set_name(&ctx, &user, &format!("{tag} member {i}")).await?;
    }
    let results = search(&ctx, &alice, json!({"search_term": tag, "limit": 2})).await?;
    ensure_eq!(found(&results).len(), 2, "two results: {results}");
    ensure_eq!(results["limited"], json!(true), "limited");
    Ok(())
}

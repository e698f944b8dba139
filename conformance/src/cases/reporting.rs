//! Reporting events, rooms and users to the server's administrators.

use http::Method;
use serde_json::json;

use super::common::{create_room, join, send_message};
use crate::{
    case,
    case::{Case, CaseResult},
    client::Ctx,
    ensure, ensure_eq,
};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            members_report_events_they_can_see,
            section = "client-server-api/#post_matrixclientv3roomsroomidreporteventid",
            op = ("POST", "/_matrix/client/v3/rooms/{roomId}/report/{eventId}")
        ),
        case!(
            rooms_and_users_are_reported_if_they_exist,
            section = "client-server-api/#reporting-content",
            op = ("POST", "/_matrix/client/v3/rooms/{roomId}/report")
        ),
    ]
}

async fn members_report_events_they_can_see(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("report_a").await?;
    let bob = ctx.register_user("report_b").await?;
    let mallory = ctx.register_user("report_m").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "public_chat"})).await?;
    join(&ctx, &bob, &room).await?.expect_status(200)?;
    let event = send_message(&ctx, &alice, &room, "something rude").await?;
    let report = |token: &str, event: &str| {
        ctx.op(
            Method::POST,
            "/_matrix/client/v3/rooms/{roomId}/report/{eventId}",
        )
        .arg(&room)
        .arg(event)
        .token(token)
        .json(&json!({"reason": "rude"}))
    };
    report(&bob.access_token, &event)
        .send()
        .await?
        .expect_status(200)?;
    let outsider = report(&mallory.access_token, &event).send().await?;
    ensure_eq!(
        outsider.status,
        404,
        "someone not joined to the room cannot report its events"
    );
    let unknown = report(&bob.access_token, "$no-such-event").send().await?;
    ensure!(
        unknown.status == 404 && unknown.errcode() == Some("M_NOT_FOUND"),
        "reporting an unknown event, got {} {:?}",
        unknown.status,
        unknown.errcode()
    );
    Ok(())
}

async fn rooms_and_users_are_reported_if_they_exist(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("report_room_a").await?;
    let bob = ctx.register_user("report_room_b").await?;
    let room = create_room(&ctx, &alice, json!({"preset": "private_chat"})).await?;
    // Not being in the room does not stop a room report.
    ctx.op(Method::POST, "/_matrix/client/v3/rooms/{roomId}/report")
        .arg(&room)
        .token(&bob.access_token)
        .json(&json!({"reason": "spam"}))
        .send()
        .await?
        .expect_status(200)?;
    let server = alice.user_id.split(':').nth(1).unwrap_or("localhost");
    let missing_room = ctx
        .op(Method::POST, "/_matrix/client/v3/rooms/{roomId}/report")
        .arg(&format!("!nosuchroom:{server}"))
        .token(&bob.access_token)
        .json(&json!({"reason": "spam"}))
        .send()
        .await?;
    // The spec lets a server answer 200 anyway, to hide which rooms exist.
    ensure!(
        matches!(missing_room.status, 200 | 404),
        "reporting an unknown room, got {}",
        missing_room.status
    );
    ctx.op(Method::POST, "/_matrix/client/v3/users/{userId}/report")
        .arg(&alice.user_id)
        .token(&bob.access_token)
        .json(&json!({"reason": "harassment"}))
        .send()
        .await?
        .expect_status(200)?;
    let missing_user = ctx
        .op(Method::POST, "/_matrix/client/v3/users/{userId}/report")
        .arg(&format!("@nobody-{}:{server}", rand::random::<u32>()))
        .token(&bob.access_token)
        .json(&json!({"reason": "harassment"}))
        .send()
        .await?;
    ensure!(
        matches!(missing_user.status, 200 | 404),
        "reporting an unknown user, got {}",
        missing_user.status
    );
    Ok(())
}

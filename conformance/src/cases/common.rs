//! Steps many cases share: creating a room, joining it, sending a message.

use http::Method;
use serde_json::{Value, json};

use crate::{
    case::CaseError,
    client::{Ctx, Response, UserSession},
};

/// Creates a room with `body` as the createRoom request; its room id.
pub async fn create_room(ctx: &Ctx, user: &UserSession, body: Value) -> Result<String, CaseError> {
    let response = ctx
        .op(Method::POST, "/_matrix/client/v3/createRoom")
        .token(&user.access_token)
        .json(&body)
        .send()
        .await?
        .expect_status(200)?;
    response.json()?["room_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CaseError::Fail("createRoom returned no room_id".to_owned()))
}

/// `POST /rooms/{roomId}/join`, the response unchecked.
pub async fn join(ctx: &Ctx, user: &UserSession, room: &str) -> Result<Response, CaseError> {
    ctx.op(Method::POST, "/_matrix/client/v3/rooms/{roomId}/join")
        .arg(room)
        .token(&user.access_token)
        .json(&json!({}))
        .send()
        .await
}

/// Sends an event of `event_type` with `content` (a fresh transaction id); its event id.
pub async fn send_event(
    ctx: &Ctx,
    user: &UserSession,
    room: &str,
    event_type: &str,
    content: Value,
) -> Result<String, CaseError> {
    let response = ctx
        .op(
            Method::PUT,
            "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}",
        )
        .arg(room)
        .arg(event_type)
        .arg(&format!("t{}", rand::random::<u64>()))
        .token(&user.access_token)
        .json(&content)
        .send()
        .await?
        .expect_status(200)?;
    response.json()?["event_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CaseError::Fail("send returned no event_id".to_owned()))
}

/// Sends a text message; its event id.
pub async fn send_message(
    ctx: &Ctx,
    user: &UserSession,
    room: &str,
    body: &str,
) -> Result<String, CaseError> {
    let content = json!({"msgtype": "m.text", "body": body});
    send_event(ctx, user, room, "m.room.message", content).await
}

/// Sends a reply in the thread under `root`; its event id.
pub async fn send_thread_reply(
    ctx: &Ctx,
    user: &UserSession,
    room: &str,
    root: &str,
    body: &str,
) -> Result<String, CaseError> {
    let content = json!({"msgtype": "m.text", "body": body,
                         "m.relates_to": {"rel_type": "m.thread", "event_id": root,
                                          "is_falling_back": true, "m.in_reply_to": {"event_id": root}}});
    send_event(ctx, user, room, "m.room.message", content).await
}

/// `GET /sync` with an optional `since` token; the response body.
pub async fn sync(
    ctx: &Ctx,
    user: &UserSession,
    since: Option<&str>,
    timeout_ms: u64,
) -> Result<Value, CaseError> {
    let mut request = ctx
        .op(Method::GET, "/_matrix/client/v3/sync")
        .token(&user.access_token)
        .query("timeout", &timeout_ms.to_string());
    if let Some(since) = since {
        request = request.query("since", since);
    }
    Ok(request.send().await?.expect_status(200)?.json()?.clone())
}

/// The event ids in a joined room's timeline of a sync response.
pub fn timeline_ids(sync: &Value, room: &str) -> Vec<String> {
    sync["rooms"]["join"][room]["timeline"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["event_id"].as_str().map(str::to_owned))
        .collect()
}

/// `PUT /rooms/{roomId}/state/{type}/{stateKey}`; the event id.
pub async fn set_state(
    ctx: &Ctx,
    user: &UserSession,
    room: &str,
    (event_type, state_key): (&str, &str),
    content: Value,
) -> Result<String, CaseError> {
    let response = ctx
        .op(
            Method::PUT,
            "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}",
        )
        .arg(room)
        .arg(event_type)
        .arg(state_key)
        .token(&user.access_token)
        .json(&content)
        .send()
        .await?
        .expect_status(200)?;
    response.json()?["event_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CaseError::Fail("state send returned no event_id".to_owned()))
}

/// `POST /rooms/{roomId}/leave`, expecting success.
pub async fn leave(ctx: &Ctx, user: &UserSession, room: &str) -> Result<(), CaseError> {
    ctx.op(Method::POST, "/_matrix/client/v3/rooms/{roomId}/leave")
        .arg(room)
        .token(&user.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    Ok(())
}

/// Sends `body` to an operation behind password auth: first without `auth` (which must be
/// answered 401 with a session), then with the password.
pub async fn with_password(
    ctx: &Ctx,
    method: Method,
    template: &'static str,
    arg: Option<&str>,
    body: Value,
    user: &UserSession,
    password: &str,
) -> Result<Response, CaseError> {
    let build = |body: &Value| {
        let mut request = ctx
            .op(method.clone(), template)
            .token(&user.access_token)
            .json(body);
        if let Some(arg) = arg {
            request = request.arg(arg);
        }
        request
    };
    let first = build(&body).send().await?;
    if first.status != 401 {
        return Err(CaseError::Fail(format!(
            "expected 401 asking for auth, got {}",
            first.status
        )));
    }
    let session = first.json()?["session"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut body = body;
    body["auth"] = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user.user_id},
                          "password": password, "session": session});
    build(&body).send().await
}

//! Session lifetimes: refresh tokens with rotation, and single-use login tokens that sign in
//! another device.

use http::Method;
use serde_json::{Value, json};

use crate::{
    case,
    case::{Case, CaseError, CaseResult},
    client::{Ctx, UserSession},
    ensure, ensure_eq,
};

const LOGIN: &str = "/_matrix/client/v3/login";
const REFRESH: &str = "/_matrix/client/v3/refresh";
const GET_TOKEN: &str = "/_matrix/client/v1/login/get_token";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            refresh_tokens_survive_a_lost_answer_then_retire,
            section = "client-server-api/#refreshing-access-tokens",
            op = ("POST", "/_matrix/client/v3/refresh")
        ),
        case!(
            sessions_without_refresh_tokens_do_not_expire,
            section = "client-server-api/#post_matrixclientv3login",
            op = ("POST", "/_matrix/client/v3/login")
        ),
        case!(
            a_login_token_signs_in_another_device_once,
            section = "client-server-api/#post_matrixclientv1loginget_token",
            op = ("POST", "/_matrix/client/v1/login/get_token")
        ),
    ]
}

async fn password_login(
    ctx: &Ctx,
    user: &UserSession,
    refresh_token: bool,
) -> Result<Value, CaseError> {
    Ok(ctx
        .op(Method::POST, LOGIN)
        .json(&json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user.user_id},
            "password": user.password,
            "refresh_token": refresh_token,
        }))
        .send()
        .await?
        .expect_status(200)?
        .json()?
        .clone())
}

fn field(body: &Value, name: &str) -> Result<String, CaseError> {
    body[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CaseError::Fail(format!("no {name} in {body}")))
}

async fn refresh_tokens_survive_a_lost_answer_then_retire(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("refresh_a").await?;
    let login = password_login(&ctx, &alice, true).await?;
    let (access, refresh) = (
        field(&login, "access_token")?,
        field(&login, "refresh_token")?,
    );
    ensure!(
        login["expires_in_ms"].as_u64().is_some_and(|ms| ms > 0),
        "a refreshable session says when its token expires: {login}"
    );
    ensure_eq!(
        ctx.whoami_errcode(&access).await?,
        None,
        "the first access token works"
    );
    let exchange = || async {
        ctx.op(Method::POST, REFRESH)
            .json(&json!({ "refresh_token": refresh }))
            .send()
            .await
    };
    exchange().await?.expect_status(200)?;
    // The client never saw that answer: the old refresh token still works until the new
    // tokens are used.
    let refreshed = exchange().await?.expect_status(200)?;
    let body = refreshed.json()?;
    let new_access = field(body, "access_token")?;
    let new_refresh = field(body, "refresh_token")?;
    ensure!(
        new_access != access && new_refresh != refresh,
        "both tokens are new"
    );
    ensure_eq!(
        ctx.whoami_errcode(&new_access).await?,
        None,
        "the new access token works"
    );
    // Whether the old access token still works is the server's choice (the spec allows both).
    let reused = exchange().await?.expect_status(401)?;
    ensure_eq!(
        reused.errcode(),
        Some("M_UNKNOWN_TOKEN"),
        "the old refresh token is revoked once the new access token is used"
    );
    // Logging out ends the refresh token too.
    ctx.op(Method::POST, "/_matrix/client/v3/logout")
        .token(&new_access)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(200)?;
    let after_logout = ctx
        .op(Method::POST, REFRESH)
        .json(&json!({ "refresh_token": new_refresh }))
        .send()
        .await?
        .expect_status(401)?;
    ensure_eq!(
        after_logout.errcode(),
        Some("M_UNKNOWN_TOKEN"),
        "refreshing a logged-out session"
    );
    Ok(())
}

async fn sessions_without_refresh_tokens_do_not_expire(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("norefresh_a").await?;
    let login = password_login(&ctx, &alice, false).await?;
    ensure!(
        login.get("refresh_token").is_none() && login.get("expires_in_ms").is_none(),
        "no refresh token and no expiry unless asked for: {login}"
    );
    Ok(())
}

async fn a_login_token_signs_in_another_device_once(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("logintoken_a").await?;
    let capabilities = ctx
        .op(Method::GET, "/_matrix/client/v3/capabilities")
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    if capabilities.json()?["capabilities"]["m.get_login_token"]["enabled"] != json!(true) {
        return Err(CaseError::Skip(
            "the server does not offer login tokens".to_owned(),
        ));
    }
    let challenge = ctx
        .op(Method::POST, GET_TOKEN)
        .token(&alice.access_token)
        .json(&json!({}))
        .send()
        .await?
        .expect_status(401)?;
    let session = field(challenge.json()?, "session")?;
    let minted = ctx
        .op(Method::POST, GET_TOKEN)
        .token(&alice.access_token)
        .json(&json!({"auth": {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": alice.user_id},
            "password": alice.password,
            "session": session,
        }}))
        .send()
        .await?
        .expect_status(200)?;
    let token = field(minted.json()?, "login_token")?;
    let login = |token: &str| {
        ctx.op(Method::POST, LOGIN)
            .json(&json!({"type": "m.login.token", "token": token}))
    };
    let session = login(&token).send().await?.expect_status(200)?;
    let body = session.json()?;
    ensure_eq!(
        body["user_id"],
        json!(alice.user_id),
        "the token logs in as alice"
    );
    ensure!(
        body["device_id"] != json!(alice.device_id),
        "on a device of its own"
    );
    let again = login(&token).send().await?.expect_status(403)?;
    ensure_eq!(
        again.errcode(),
        Some("M_FORBIDDEN"),
        "a login token works once"
    );
    let forged = login("rcl_not-a-real-token")
        .send()
        .await?
        .expect_status(403)?;
    ensure_eq!(
        forged.errcode(),
        Some("M_FORBIDDEN"),
        "an unknown login token"
    );
    Ok(())
}

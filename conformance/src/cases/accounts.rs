//! Accounts and sessions: registration, login, whoami, logout.

use http::Method;
use serde_json::json;

use crate::{
    case,
    case::{Case, CaseResult},
    client::Ctx,
    ensure, ensure_eq,
};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            register_with_dummy_auth_in_one_request,
            section = "client-server-api/#post_matrixclientv3register",
            op = ("POST", "/_matrix/client/v3/register")
        ),
        case!(
            register_starts_user_interactive_auth,
            section = "client-server-api/#post_matrixclientv3register",
            op = ("POST", "/_matrix/client/v3/register")
        ),
        case!(
            register_completes_and_returns_a_working_session,
            section = "client-server-api/#post_matrixclientv3register",
            op = ("POST", "/_matrix/client/v3/register")
        ),
        case!(
            register_refuses_a_taken_user_name,
            section = "client-server-api/#post_matrixclientv3register",
            op = ("POST", "/_matrix/client/v3/register")
        ),
        case!(
            register_refuses_an_invalid_user_name,
            section = "client-server-api/#post_matrixclientv3register",
            op = ("POST", "/_matrix/client/v3/register")
        ),
        case!(
            register_with_unknown_session_fails_the_stage,
            section = "client-server-api/#user-interactive-authentication-api",
            op = ("POST", "/_matrix/client/v3/register")
        ),
        case!(
            register_body_that_is_not_json_is_m_not_json,
            section = "client-server-api/#common-error-codes",
            op = ("POST", "/_matrix/client/v3/register")
        ),
        case!(
            register_body_of_the_wrong_shape_is_refused,
            section = "client-server-api/#common-error-codes",
            op = ("POST", "/_matrix/client/v3/register")
        ),
        case!(
            register_available_reports_free_and_taken_names,
            section = "client-server-api/#get_matrixclientv3registeravailable",
            op = ("GET", "/_matrix/client/v3/register/available")
        ),
        case!(
            registration_token_validity_is_reported,
            section = "client-server-api/#token-authenticated-registration",
            op = (
                "GET",
                "/_matrix/client/v1/register/m.login.registration_token/validity"
            )
        ),
        case!(
            login_flows_include_password,
            section = "client-server-api/#get_matrixclientv3login",
            op = ("GET", "/_matrix/client/v3/login")
        ),
        case!(
            login_with_password_opens_a_new_device,
            section = "client-server-api/#post_matrixclientv3login",
            op = ("POST", "/_matrix/client/v3/login")
        ),
        case!(
            login_on_the_legacy_r0_path_still_works,
            section = "client-server-api/#post_matrixclientv3login"
        ),
        case!(
            login_with_wrong_password_is_forbidden,
            section = "client-server-api/#post_matrixclientv3login",
            op = ("POST", "/_matrix/client/v3/login")
        ),
        case!(
            login_for_unknown_user_is_forbidden,
            section = "client-server-api/#post_matrixclientv3login",
            op = ("POST", "/_matrix/client/v3/login")
        ),
        case!(
            whoami_names_the_token_owner_and_device,
            section = "client-server-api/#get_matrixclientv3accountwhoami",
            op = ("GET", "/_matrix/client/v3/account/whoami")
        ),
        case!(
            whoami_without_token_is_m_missing_token,
            section = "client-server-api/#using-access-tokens",
            op = ("GET", "/_matrix/client/v3/account/whoami")
        ),
        case!(
            whoami_with_unknown_token_is_m_unknown_token,
            section = "client-server-api/#using-access-tokens",
            op = ("GET", "/_matrix/client/v3/account/whoami")
        ),
        case!(
            logout_invalidates_only_that_token,
            section = "client-server-api/#post_matrixclientv3logout",
            op = ("POST", "/_matrix/client/v3/logout")
        ),
        case!(
            logout_all_invalidates_every_token,
            section = "client-server-api/#post_matrixclientv3logoutall",
            op = ("POST", "/_matrix/client/v3/logout/all")
        ),
    ]
}

const REGISTER: &str = "/_matrix/client/v3/register";
const LOGIN: &str = "/_matrix/client/v3/login";
const WHOAMI: &str = "/_matrix/client/v3/account/whoami";

/// Without `auth`, the server answers 401 with flows and a session (or registers at once).
async fn register_starts_user_interactive_auth(ctx: Ctx) -> CaseResult {
    let body =
        json!({"username": format!("uia{}", rand::random::<u32>()), "password": "correct horse"});
    let response = ctx.op(Method::POST, REGISTER).json(&body).send().await?;
    if response.status == 403 {
        return Err(crate::case::CaseError::Skip(
            "registration is closed".to_owned(),
        ));
    }
    ensure_eq!(response.status, 401, "status");
    let json = response.json()?;
    ensure!(
        json["session"].as_str().is_some_and(|s| !s.is_empty()),
        "no session in {json}"
    );
    ensure!(
        json["flows"].as_array().is_some_and(|f| !f.is_empty()),
        "no flows in {json}"
    );
    Ok(())
}

async fn register_completes_and_returns_a_working_session(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("reg").await?;
    let me = ctx
        .op(Method::GET, WHOAMI)
        .token(&user.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        me.json()?["user_id"].as_str(),
        Some(user.user_id.as_str()),
        "whoami user"
    );
    Ok(())
}

async fn register_refuses_a_taken_user_name(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("taken").await?;
    let body = json!({"username": user.localpart(), "password": "another one"});
    let response = ctx.op(Method::POST, REGISTER).json(&body).send().await?;
    ensure_eq!(response.status, 400, "status");
    ensure_eq!(response.errcode(), Some("M_USER_IN_USE"), "errcode");
    Ok(())
}

async fn register_refuses_an_invalid_user_name(ctx: Ctx) -> CaseResult {
    let body = json!({"username": "not allowed!", "password": "pw"});
    let response = ctx.op(Method::POST, REGISTER).json(&body).send().await?;
    if response.status == 403 {
        return Err(crate::case::CaseError::Skip(
            "registration is closed".to_owned(),
        ));
    }
    ensure_eq!(response.status, 400, "status");
    ensure_eq!(response.errcode(), Some("M_INVALID_USERNAME"), "errcode");
    Ok(())
}

async fn register_with_unknown_session_fails_the_stage(ctx: Ctx) -> CaseResult {
    let body = json!({
        "username": format!("sess{}", rand::random::<u32>()),
        "password": "pw",
        "auth": {"type": "m.login.dummy", "session": "rechain-conformance-no-such-session"},
    });
    let response = ctx.op(Method::POST, REGISTER).json(&body).send().await?;
    if response.status == 403 {
        return Err(crate::case::CaseError::Skip(
            "registration is closed".to_owned(),
        ));
    }
    // The spec does not say what an unknown session is: a failed stage (401 with the flows)
    // or a bad request (400) are both readings.
    ensure!(
        response.status == 401 || response.status == 400,
        "an unknown session answered {}",
        response.status
    );
    Ok(())
}

async fn register_body_that_is_not_json_is_m_not_json(ctx: Ctx) -> CaseResult {
    let response = ctx
        .op(Method::POST, REGISTER)
        .body("{\"username\": ", "application/json")
        .send()
        .await?;
    ensure_eq!(response.status, 400, "status");
    ensure_eq!(response.errcode(), Some("M_NOT_JSON"), "errcode");
    Ok(())
}

/// `M_BAD_JSON` describes this exactly, but the spec also lets `M_UNKNOWN` with a 400 mean
/// "the request was invalid", and `M_INVALID_PARAM` covers a value of the wrong type.
async fn register_body_of_the_wrong_shape_is_refused(ctx: Ctx) -> CaseResult {
    let response = ctx
        .op(Method::POST, REGISTER)
        .json(&json!({"username": 12, "password": []}))
        .send()
        .await?;
    ensure_eq!(response.status, 400, "status");
    response.expect_errcode_in(
        &["M_BAD_JSON", "M_INVALID_PARAM", "M_UNKNOWN"],
        "a body of the wrong shape",
    )?;
    Ok(())
}

/// An unknown token is reported invalid (403 if the server does not register at all); the
/// token this run was given, if any, valid.
async fn registration_token_validity_is_reported(ctx: Ctx) -> CaseResult {
    const VALIDITY: &str = "/_matrix/client/v1/register/m.login.registration_token/validity";
    let guess = format!("not-a-token-{}", rand::random::<u64>());
    let unknown = ctx
        .op(Method::GET, VALIDITY)
        .query("token", &guess)
        .send()
        .await?;
    if unknown.status == 403 {
        return Err(crate::case::CaseError::Skip(
            "the server does not register users".to_owned(),
        ));
    }
    let unknown = unknown.expect_status(200)?;
    ensure_eq!(unknown.json()?["valid"], json!(false), "an unknown token");
    if let Some(token) = ctx.registration_token.clone() {
        let known = ctx
            .op(Method::GET, VALIDITY)
            .query("token", &token)
            .send()
            .await?
            .expect_status(200)?;
        ensure_eq!(known.json()?["valid"], json!(true), "the configured token");
    }
    Ok(())
}

async fn register_available_reports_free_and_taken_names(ctx: Ctx) -> CaseResult {
    let free = format!("free{}", rand::random::<u32>());
    let response = ctx
        .op(Method::GET, "/_matrix/client/v3/register/available")
        .query("username", &free)
        .send()
        .await?;
    if response.status == 403 {
        return Err(crate::case::CaseError::Skip(
            "registration is closed".to_owned(),
        ));
    }
    ensure_eq!(response.status, 200, "status for a free name");
    ensure_eq!(
        response.json()?["available"].as_bool(),
        Some(true),
        "available"
    );
    let user = ctx.register_user("avail").await?;
    let taken = ctx
        .op(Method::GET, "/_matrix/client/v3/register/available")
        .query("username", user.localpart())
        .send()
        .await?;
    ensure_eq!(taken.status, 400, "status for a taken name");
    ensure_eq!(taken.errcode(), Some("M_USER_IN_USE"), "errcode");
    Ok(())
}

async fn login_flows_include_password(ctx: Ctx) -> CaseResult {
    let response = ctx
        .op(Method::GET, LOGIN)
        .send()
        .await?
        .expect_status(200)?;
    let flows = response.json()?["flows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(
        flows.iter().any(|f| f["type"] == "m.login.password"),
        "no m.login.password in {flows:?}"
    );
    Ok(())
}

fn password_login(user: &str, password: &str) -> serde_json::Value {
    json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password})
}

async fn login_with_password_opens_a_new_device(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("login").await?;
    let response = ctx
        .op(Method::POST, LOGIN)
        .json(&password_login(user.localpart(), &user.password))
        .send()
        .await?
        .expect_status(200)?;
    let json = response.json()?;
    ensure_eq!(
        json["user_id"].as_str(),
        Some(user.user_id.as_str()),
        "user_id"
    );
    ensure!(
        json["device_id"].as_str() != Some(user.device_id.as_str()),
        "login reused the registration device"
    );
    let token = json["access_token"].as_str().unwrap_or_default();
    ensure!(
        token != user.access_token,
        "login returned the registration token"
    );
    let me = ctx
        .op(Method::GET, WHOAMI)
        .token(token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(me.json()?["device_id"], json["device_id"], "whoami device");
    // The full user id works as an identifier too.
    ctx.op(Method::POST, LOGIN)
        .json(&password_login(&user.user_id, &user.password))
        .send()
        .await?
        .expect_status(200)?;
    Ok(())
}

/// Older clients still call `/_matrix/client/r0/login`; servers keep it as an alias (it is
/// not an operation of v1.19, so only the standard error shape is checked on failure).
async fn login_on_the_legacy_r0_path_still_works(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("rzero").await?;
    let response = ctx
        .raw(Method::POST, "/_matrix/client/r0/login")
        .json(&password_login(user.localpart(), &user.password))
        .send()
        .await?;
    ensure_eq!(response.status, 200, "status");
    ensure_eq!(
        response.json()?["user_id"].as_str(),
        Some(user.user_id.as_str()),
        "user_id"
    );
    Ok(())
}

async fn login_with_wrong_password_is_forbidden(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("wrongpw").await?;
    let response = ctx
        .op(Method::POST, LOGIN)
        .json(&password_login(user.localpart(), "not the password"))
        .send()
        .await?;
    ensure_eq!(response.status, 403, "status");
    ensure_eq!(response.errcode(), Some("M_FORBIDDEN"), "errcode");
    Ok(())
}

async fn login_for_unknown_user_is_forbidden(ctx: Ctx) -> CaseResult {
    let name = format!("nobody{}", rand::random::<u64>());
    let response = ctx
        .op(Method::POST, LOGIN)
        .json(&password_login(&name, "whatever"))
        .send()
        .await?;
    ensure_eq!(response.status, 403, "status");
    ensure_eq!(response.errcode(), Some("M_FORBIDDEN"), "errcode");
    Ok(())
}

async fn whoami_names_the_token_owner_and_device(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("who").await?;
    let me = ctx
        .op(Method::GET, WHOAMI)
        .token(&user.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let json = me.json()?;
    ensure_eq!(
        json["user_id"].as_str(),
        Some(user.user_id.as_str()),
        "user_id"
    );
    ensure_eq!(
        json["device_id"].as_str(),
        Some(user.device_id.as_str()),
        "device_id"
    );
    Ok(())
}

async fn whoami_without_token_is_m_missing_token(ctx: Ctx) -> CaseResult {
    let response = ctx.op(Method::GET, WHOAMI).send().await?;
    ensure_eq!(response.status, 401, "status");
    ensure_eq!(response.errcode(), Some("M_MISSING_TOKEN"), "errcode");
    Ok(())
}

async fn whoami_with_unknown_token_is_m_unknown_token(ctx: Ctx) -> CaseResult {
    let response = ctx
        .op(Method::GET, WHOAMI)
        .token("rechain-conformance-not-a-token")
        .send()
        .await?;
    ensure_eq!(response.status, 401, "status");
    ensure_eq!(response.errcode(), Some("M_UNKNOWN_TOKEN"), "errcode");
    Ok(())
}

async fn logout_invalidates_only_that_token(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("logout").await?;
    let second = ctx.login_again(&user).await?;
    ctx.op(Method::POST, "/_matrix/client/v3/logout")
        .token(&user.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        ctx.whoami_errcode(&user.access_token).await?,
        Some("M_UNKNOWN_TOKEN".to_owned()),
        "logged-out token"
    );
    ensure_eq!(
        ctx.whoami_errcode(&second.access_token).await?,
        None,
        "the other session"
    );
    Ok(())
}

async fn logout_all_invalidates_every_token(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("logoutall").await?;
    let second = ctx.login_again(&user).await?;
    ctx.op(Method::POST, "/_matrix/client/v3/logout/all")
        .token(&second.access_token)
        .send()
        .await?
        .expect_status(200)?;
    for token in [&user.access_token, &second.access_token] {
        ensure_eq!(
            ctx.whoami_errcode(token).await?,
            Some("M_UNKNOWN_TOKEN".to_owned()),
            "token after logout/all"
        );
    }
    Ok(())
}

/// A one-stage flow may be completed in the first request, without a session (matrix-nio
/// registers this way).
async fn register_with_dummy_auth_in_one_request(ctx: Ctx) -> CaseResult {
    let name = format!("onego{}", rand::random::<u32>());
    let body = json!({"username": name, "password": "pw-onego", "auth": {"type": "m.login.dummy"}});
    let response = ctx.op(Method::POST, REGISTER).json(&body).send().await?;
    if response.status == 403 {
        return Err(crate::case::CaseError::Skip(
            "registration is closed".to_owned(),
        ));
    }
    if response.status == 401 {
        return Err(crate::case::CaseError::Skip(
            "the server needs another stage than m.login.dummy".to_owned(),
        ));
    }
    ensure_eq!(response.status, 200, "status");
    ensure!(
        response.json()?["access_token"].is_string(),
        "no access token"
    );
    Ok(())
}

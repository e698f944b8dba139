//! Device management, capabilities, password change and deactivation: the operations of a
//! logged-in user, several behind user-interactive auth with the account password.

use http::Method;
use serde_json::json;

use super::common::with_password;
use crate::{
    case,
    case::{Case, CaseResult},
    client::{Ctx, Response, UserSession},
    ensure, ensure_eq,
};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            capabilities_list_room_versions_and_password_change,
            section = "client-server-api/#get_matrixclientv3capabilities",
            op = ("GET", "/_matrix/client/v3/capabilities")
        ),
        case!(
            devices_list_includes_the_current_device,
            section = "client-server-api/#get_matrixclientv3devices",
            op = ("GET", "/_matrix/client/v3/devices")
        ),
        case!(
            device_of_another_user_is_not_found,
            section = "client-server-api/#get_matrixclientv3devicesdeviceid",
            op = ("GET", "/_matrix/client/v3/devices/{deviceId}")
        ),
        case!(
            device_rename_is_visible,
            section = "client-server-api/#put_matrixclientv3devicesdeviceid",
            op = ("PUT", "/_matrix/client/v3/devices/{deviceId}")
        ),
        case!(
            device_delete_needs_the_password_and_revokes_its_token,
            section = "client-server-api/#delete_matrixclientv3devicesdeviceid",
            op = ("DELETE", "/_matrix/client/v3/devices/{deviceId}")
        ),
        case!(
            device_delete_with_wrong_password_keeps_the_device,
            section = "client-server-api/#delete_matrixclientv3devicesdeviceid",
            op = ("DELETE", "/_matrix/client/v3/devices/{deviceId}")
        ),
        case!(
            delete_devices_removes_several,
            section = "client-server-api/#post_matrixclientv3delete_devices",
            op = ("POST", "/_matrix/client/v3/delete_devices")
        ),
        case!(
            password_change_logs_out_other_devices,
            section = "client-server-api/#post_matrixclientv3accountpassword",
            op = ("POST", "/_matrix/client/v3/account/password")
        ),
        case!(
            deactivated_account_cannot_log_in,
            section = "client-server-api/#post_matrixclientv3accountdeactivate",
            op = ("POST", "/_matrix/client/v3/account/deactivate")
        ),
    ]
}

async fn login(
    ctx: &Ctx,
    user: &UserSession,
    password: &str,
) -> Result<Response, crate::case::CaseError> {
    ctx.op(Method::POST, "/_matrix/client/v3/login")
        .json(&json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user.user_id}, "password": password}))
        .send()
        .await
}

async fn capabilities_list_room_versions_and_password_change(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("caps").await?;
    let response = ctx
        .op(Method::GET, "/_matrix/client/v3/capabilities")
        .token(&user.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let caps = &response.json()?["capabilities"];
    let versions = &caps["m.room_versions"];
    let default = versions["default"].as_str().unwrap_or_default();
    ensure!(
        versions["available"].get(default).is_some(),
        "default room version {default:?} is not among the available ones"
    );
    Ok(())
}

async fn devices_list_includes_the_current_device(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("devs").await?;
    let response = ctx
        .op(Method::GET, "/_matrix/client/v3/devices")
        .token(&user.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let devices = response.json()?["devices"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(
        devices
            .iter()
            .any(|d| d["device_id"] == user.device_id.as_str()),
        "{} missing from {devices:?}",
        user.device_id
    );
    Ok(())
}

async fn device_of_another_user_is_not_found(ctx: Ctx) -> CaseResult {
    let alice = ctx.register_user("owner").await?;
    let mallory = ctx.register_user("snoop").await?;
    let response = ctx
        .op(Method::GET, "/_matrix/client/v3/devices/{deviceId}")
        .arg(&alice.device_id)
        .token(&mallory.access_token)
        .send()
        .await?;
    ensure_eq!(response.status, 404, "another user's device");
    let own = ctx
        .op(Method::GET, "/_matrix/client/v3/devices/{deviceId}")
        .arg(&alice.device_id)
        .token(&alice.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        own.json()?["device_id"].as_str(),
        Some(alice.device_id.as_str()),
        "own device"
    );
    Ok(())
}

async fn device_rename_is_visible(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("rename").await?;
    ctx.op(Method::PUT, "/_matrix/client/v3/devices/{deviceId}")
        .arg(&user.device_id)
        .token(&user.access_token)
        .json(&json!({"display_name": "Conformance laptop"}))
        .send()
        .await?
        .expect_status(200)?;
    let device = ctx
        .op(Method::GET, "/_matrix/client/v3/devices/{deviceId}")
        .arg(&user.device_id)
        .token(&user.access_token)
        .send()
        .await?
        .expect_status(200)?;
    ensure_eq!(
        device.json()?["display_name"].as_str(),
        Some("Conformance laptop"),
        "display_name"
    );
    Ok(())
}

async fn device_delete_needs_the_password_and_revokes_its_token(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("deldev").await?;
    let other = login(&ctx, &user, &user.password)
        .await?
        .expect_status(200)?;
    let other_device = other.json()?["device_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let other_token = other.json()?["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    with_password(
        &ctx,
        Method::DELETE,
        "/_matrix/client/v3/devices/{deviceId}",
        Some(&other_device),
        json!({}),
        &user,
        &user.password,
    )
    .await?
    .expect_status(200)?;
    let gone = ctx
        .op(Method::GET, "/_matrix/client/v3/account/whoami")
        .token(&other_token)
        .send()
        .await?;
    ensure_eq!(
        gone.errcode(),
        Some("M_UNKNOWN_TOKEN"),
        "token of the deleted device"
    );
    ctx.op(Method::GET, "/_matrix/client/v3/account/whoami")
        .token(&user.access_token)
        .send()
        .await?
        .expect_status(200)?;
    Ok(())
}

async fn device_delete_with_wrong_password_keeps_the_device(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("wrongdel").await?;
    let response = with_password(
        &ctx,
        Method::DELETE,
        "/_matrix/client/v3/devices/{deviceId}",
        Some(&user.device_id),
        json!({}),
        &user,
        "not it",
    )
    .await?;
    ensure_eq!(response.status, 401, "status");
    ctx.op(Method::GET, "/_matrix/client/v3/account/whoami")
        .token(&user.access_token)
        .send()
        .await?
        .expect_status(200)?;
    Ok(())
}

async fn delete_devices_removes_several(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("bulk").await?;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let session = login(&ctx, &user, &user.password)
            .await?
            .expect_status(200)?;
        ids.push(
            session.json()?["device_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    with_password(
        &ctx,
        Method::POST,
        "/_matrix/client/v3/delete_devices",
        None,
        json!({"devices": ids}),
        &user,
        &user.password,
    )
    .await?
    .expect_status(200)?;
    let listed = ctx
        .op(Method::GET, "/_matrix/client/v3/devices")
        .token(&user.access_token)
        .send()
        .await?
        .expect_status(200)?;
    let remaining: Vec<String> = listed.json()?["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["device_id"].as_str().map(str::to_owned))
        .collect();
    ensure_eq!(remaining, vec![user.device_id.clone()], "devices left");
    Ok(())
}

async fn password_change_logs_out_other_devices(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("pwchange").await?;
    let other = login(&ctx, &user, &user.password)
        .await?
        .expect_status(200)?;
    let other_token = other.json()?["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    with_password(
        &ctx,
        Method::POST,
        "/_matrix/client/v3/account/password",
        None,
        json!({"new_password": "a brand new one"}),
        &user,
        &user.password,
    )
    .await?
    .expect_status(200)?;
    let old = login(&ctx, &user, &user.password).await?;
    ensure_eq!(old.status, 403, "login with the old password");
    login(&ctx, &user, "a brand new one")
        .await?
        .expect_status(200)?;
    let gone = ctx
        .op(Method::GET, "/_matrix/client/v3/account/whoami")
        .token(&other_token)
        .send()
        .await?;
    ensure_eq!(
        gone.errcode(),
        Some("M_UNKNOWN_TOKEN"),
        "other session after the change"
    );
    ctx.op(Method::GET, "/_matrix/client/v3/account/whoami")
        .token(&user.access_token)
        .send()
        .await?
        .expect_status(200)?;
    Ok(())
}

async fn deactivated_account_cannot_log_in(ctx: Ctx) -> CaseResult {
    let user = ctx.register_user("deact").await?;
    with_password(
        &ctx,
        Method::POST,
        "/_matrix/client/v3/account/deactivate",
        None,
        json!({}),
        &user,
        &user.password,
    )
    .await?
    .expect_status(200)?;
    let gone = ctx
        .op(Method::GET, "/_matrix/client/v3/account/whoami")
        .token(&user.access_token)
        .send()
        .await?;
    ensure_eq!(
        gone.errcode(),
        Some("M_UNKNOWN_TOKEN"),
        "token after deactivation"
    );
    let again = login(&ctx, &user, &user.password).await?;
    ensure_eq!(again.status, 403, "login after deactivation");
    Ok(())
}

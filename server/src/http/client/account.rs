//! Registration and account introspection: `/register`, `/register/available`, `/account/whoami`.

use ruma::api::client::account::{
    change_password, check_registration_token_validity, deactivate, get_username_availability,
    register, whoami,
};

use crate::{
    http::{
        AppState,
        router::{RequestCtx, Router},
    },
    service::{
        Error,
        accounts::{AuthedUser, RegisterOutcome, RegisterRequest},
        rate_limit::Action,
    },
};

pub fn register(router: &mut Router) {
    router.endpoint_ctx(register_user);
    router.endpoint(get_username_availability);
    router.endpoint_ctx(check_registration_token);
    router.endpoint_authed(whoami);
    router.endpoint_authed(change_password);
    router.endpoint_authed(deactivate);
}

/// `POST /_matrix/client/v3/register`
async fn register_user(
    state: AppState,
    ctx: RequestCtx,
    request: register::v3::Request,
) -> Result<register::v3::Response, Error> {
    // Only attempts that complete user-interactive auth count (the first, auth-less round is
    // part of every registration), and guest registrations, which need no auth at all.
    let guest = request.kind == register::RegistrationKind::Guest;
    if (request.auth.is_some() || guest)
        && let Some(ip) = ctx.client_ip
    {
        state
            .services
            .rate_limiter
            .check_ip(Action::Registration, ip)?;
    }
    let auth = request.auth.map(super::uia::stage);
    let outcome = state
        .services
        .accounts
        .register(RegisterRequest {
            username: request.username,
            password: request.password,
            device_id: request.device_id,
            initial_device_display_name: request.initial_device_display_name,
            inhibit_login: request.inhibit_login,
            refresh_token: request.refresh_token,
            guest,
            guest_access_token: request.guest_access_token,
            auth,
        })
        .await?;
    Ok(match outcome {
        RegisterOutcome::LoggedIn(session) => {
            let mut response = register::v3::Response::new(session.user_id);
            response.access_token = Some(session.access_token);
            response.device_id = Some(session.device_id);
            response.refresh_token = session.refresh_token;
            response.expires_in = session.expires_in;
            response
        }
        RegisterOutcome::Registered(user_id) => register::v3::Response::new(user_id),
    })
}

/// `GET /_matrix/client/v1/register/m.login.registration_token/validity`. Charged to the
/// client address's registration bucket, so tokens cannot be guessed at speed.
async fn check_registration_token(
    state: AppState,
    ctx: RequestCtx,
    request: check_registration_token_validity::v1::Request,
) -> Result<check_registration_token_validity::v1::Response, Error> {
    if let Some(ip) = ctx.client_ip {
        state
            .services
            .rate_limiter
            .check_ip(Action::Registration, ip)?;
    }
    let valid = state
        .services
        .accounts
        .registration_token_is_valid(&request.token)?;
    Ok(check_registration_token_validity::v1::Response::new(valid))
}

/// `GET /_matrix/client/v3/register/available`
async fn get_username_availability(
    state: AppState,
    request: get_username_availability::v3::Request,
) -> Result<get_username_availability::v3::Response, Error> {
    state
        .services
        .accounts
        .username_available(&request.username.to_lowercase())
        .await?;
    Ok(get_username_availability::v3::Response::new(true))
}

/// `GET /_matrix/client/v3/account/whoami`
async fn whoami(
    _: AppState,
    user: AuthedUser,
    _: whoami::v3::Request,
) -> Result<whoami::v3::Response, Error> {
    let mut response = whoami::v3::Response::new(user.user_id, user.is_guest);
    response.device_id = Some(user.device_id);
    Ok(response)
}

/// `POST /_matrix/client/v3/account/password`
async fn change_password(
    state: AppState,
    user: AuthedUser,
    request: change_password::v3::Request,
) -> Result<change_password::v3::Response, Error> {
    let auth = request.auth.map(super::uia::stage);
    state
        .services
        .accounts
        .change_password(&user, request.new_password, request.logout_devices, auth)
        .await?;
    Ok(change_password::v3::Response::new())
}

/// `POST /_matrix/client/v3/account/deactivate`
async fn deactivate(
    state: AppState,
    user: AuthedUser,
    request: deactivate::v3::Request,
) -> Result<deactivate::v3::Response, Error> {
    let auth = request.auth.map(super::uia::stage);
    state.services.accounts.deactivate(&user, auth).await?;
    // No identity server bindings are kept, so there is nothing to unbind.
    Ok(deactivate::v3::Response::new(
        ruma::api::client::account::ThirdPartyIdRemovalStatus::Success,
    ))
}

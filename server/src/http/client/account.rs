//! Registration and account introspection: `/register`, `/register/available`, `/account/whoami`.

use ruma::api::client::{
    account::{get_username_availability, register, whoami},
    uiaa::AuthData,
};

use crate::{
    http::{AppState, router::Router},
    service::{
        Error,
        accounts::{AuthedUser, RegisterOutcome, RegisterRequest, UiaStage},
    },
};

pub fn register(router: &mut Router) {
    router.endpoint(register_user);
    router.endpoint(get_username_availability);
    router.endpoint_authed(whoami);
}

/// `POST /_matrix/client/v3/register`
async fn register_user(
    state: AppState,
    request: register::v3::Request,
) -> Result<register::v3::Response, Error> {
    let auth = request.auth.map(|auth| match auth {
        AuthData::Dummy(d) => UiaStage::Dummy { session: d.session },
        AuthData::RegistrationToken(t) => UiaStage::RegistrationToken {
            token: t.token,
            session: t.session,
        },
        other => UiaStage::Other {
            kind: other.auth_type().map(|t| t.to_string()).unwrap_or_default(),
            session: other.session().map(str::to_owned),
        },
    });
    let outcome = state
        .services
        .accounts
        .register(RegisterRequest {
            username: request.username,
            password: request.password,
            device_id: request.device_id,
            initial_device_display_name: request.initial_device_display_name,
            inhibit_login: request.inhibit_login,
            guest: request.kind == register::RegistrationKind::Guest,
            auth,
        })
        .await?;
    Ok(match outcome {
        RegisterOutcome::LoggedIn(session) => {
            let mut response = register::v3::Response::new(session.user_id);
            response.access_token = Some(session.access_token);
            response.device_id = Some(session.device_id);
            response
        }
        RegisterOutcome::Registered(user_id) => register::v3::Response::new(user_id),
    })
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

//! Sessions: `/login` (GET and POST; password and token), `/refresh`, `/login/get_token`,
//! `/logout`, `/logout/all`.

use ruma::api::client::{
    session::{get_login_token, get_login_types, login, logout, logout_all, refresh_token},
    uiaa::UserIdentifier,
};

use crate::{
    http::{
        AppState,
        router::{RequestCtx, Router},
    },
    service::{
        Error, ErrorKind,
        accounts::{AuthedUser, DeviceRequest},
        rate_limit::Action,
    },
};

pub fn register(router: &mut Router) {
    router.endpoint(get_login_types);
    router.endpoint_ctx(login);
    router.endpoint_authed(logout);
    router.endpoint_authed(logout_all);
    router.endpoint(refresh);
    router.endpoint_authed(get_token);
}

/// `GET /_matrix/client/v3/login`
async fn get_login_types(
    state: AppState,
    _: get_login_types::v3::Request,
) -> Result<get_login_types::v3::Response, Error> {
    use get_login_types::v3::{LoginType, PasswordLoginType, TokenLoginType};
    let mut flows = vec![LoginType::Password(PasswordLoginType::new())];
    if state.services.accounts.login_tokens_enabled() {
        let mut token = TokenLoginType::new();
        token.get_login_token = true;
        flows.push(LoginType::Token(token));
    }
    Ok(get_login_types::v3::Response::new(flows))
}

/// `POST /_matrix/client/v3/login`
async fn login(
    state: AppState,
    ctx: RequestCtx,
    request: login::v3::Request,
) -> Result<login::v3::Response, Error> {
    let device = DeviceRequest {
        device_id: request.device_id,
        display_name: request.initial_device_display_name,
        refreshable: request.refresh_token,
    };
    let limiter = &state.services.rate_limiter;
    if let Some(ip) = ctx.client_ip {
        limiter.check_ip(Action::Login, ip)?;
    }
    let accounts = &state.services.accounts;
    let session = match request.login_info {
        login::v3::LoginInfo::Password(password) => {
            #[allow(deprecated)]
            let user = match (&password.identifier, &password.user) {
                (Some(UserIdentifier::Matrix(id)), _) => id.user.clone(),
                (None, Some(user)) => user.clone(),
                (Some(_), _) => {
                    return Err(Error::new(
                        ErrorKind::Forbidden,
                        "Only m.id.user identifiers are supported",
                    ));
                }
                (None, None) => {
                    return Err(Error::new(ErrorKind::BadJson, "identifier is required"));
                }
            };
            limiter.check(Action::Login, &user.to_lowercase())?;
            accounts
                .login_with_password(&user, password.password, device)
                .await?
        }
        login::v3::LoginInfo::Token(token) => {
            accounts.login_with_token(&token.token, device).await?
        }
        _ => {
            return Err(Error::new(
                ErrorKind::Unrecognized,
                "Only m.login.password and m.login.token are supported",
            ));
        }
    };
    let mut response =
        login::v3::Response::new(session.user_id, session.access_token, session.device_id);
    response.refresh_token = session.refresh_token;
    response.expires_in = session.expires_in;
    Ok(response)
}

/// `POST /_matrix/client/v3/refresh`
async fn refresh(
    state: AppState,
    request: refresh_token::v3::Request,
) -> Result<refresh_token::v3::Response, Error> {
    let session = state
        .services
        .accounts
        .refresh(&request.refresh_token)
        .await?;
    let mut response = refresh_token::v3::Response::new(session.access_token);
    response.refresh_token = session.refresh_token;
    response.expires_in_ms = session.expires_in;
    Ok(response)
}

/// `POST /_matrix/client/v1/login/get_token`
async fn get_token(
    state: AppState,
    user: AuthedUser,
    request: get_login_token::v1::Request,
) -> Result<get_login_token::v1::Response, Error> {
    let (token, expires_in) = state
        .services
        .accounts
        .mint_login_token(&user, request.auth.map(super::uia::stage))
        .await?;
    Ok(get_login_token::v1::Response::new(expires_in, token))
}

/// `POST /_matrix/client/v3/logout`
async fn logout(
    state: AppState,
    user: AuthedUser,
    _: logout::v3::Request,
) -> Result<logout::v3::Response, Error> {
    state.services.accounts.logout(&user).await?;
    Ok(logout::v3::Response::new())
}

/// `POST /_matrix/client/v3/logout/all`
async fn logout_all(
    state: AppState,
    user: AuthedUser,
    _: logout_all::v3::Request,
) -> Result<logout_all::v3::Response, Error> {
    state.services.accounts.logout_all(&user.user_id).await?;
    Ok(logout_all::v3::Response::new())
}

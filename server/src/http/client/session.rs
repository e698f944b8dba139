//! Login and logout: `/login` (GET and POST), `/logout`, `/logout/all`.

use ruma::api::client::{
    session::{get_login_types, login, logout, logout_all},
    uiaa::UserIdentifier,
};

use crate::{
    http::{
        AppState,
        router::{RequestCtx, Router},
    },
    service::{Error, ErrorKind, accounts::AuthedUser, rate_limit::Action},
};

pub fn register(router: &mut Router) {
    router.endpoint(get_login_types);
    router.endpoint_ctx(login);
    router.endpoint_authed(logout);
    router.endpoint_authed(logout_all);
}

/// `GET /_matrix/client/v3/login`
async fn get_login_types(
    _: AppState,
    _: get_login_types::v3::Request,
) -> Result<get_login_types::v3::Response, Error> {
    Ok(get_login_types::v3::Response::new(vec![
        get_login_types::v3::LoginType::Password(get_login_types::v3::PasswordLoginType::new()),
    ]))
}

/// `POST /_matrix/client/v3/login`
async fn login(
    state: AppState,
    ctx: RequestCtx,
    request: login::v3::Request,
) -> Result<login::v3::Response, Error> {
    let login::v3::LoginInfo::Password(password) = request.login_info else {
        return Err(Error::new(
            ErrorKind::Unrecognized,
            "Only m.login.password is supported",
        ));
    };
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
        (None, None) => return Err(Error::new(ErrorKind::BadJson, "identifier is required")),
    };
    let limiter = &state.services.rate_limiter;
    if let Some(ip) = ctx.client_ip {
        limiter.check(Action::Login, &ip.to_string())?;
    }
    limiter.check(Action::Login, &user.to_lowercase())?;
    let session = state
        .services
        .accounts
        .login_with_password(
            &user,
            password.password,
            request.device_id,
            request.initial_device_display_name,
        )
        .await?;
    Ok(login::v3::Response::new(
        session.user_id,
        session.access_token,
        session.device_id,
    ))
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

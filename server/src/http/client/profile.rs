//! Profiles: `GET /profile/{userId}`, and `GET`/`PUT`/`DELETE /profile/{userId}/{keyName}`.

use ruma::{
    api::client::profile::{
        delete_profile_field, get_profile, get_profile_field, set_profile_field,
    },
    profile::ProfileFieldValue,
};

use crate::{
    http::{AppState, router::Router},
    service::{Error, accounts::AuthedUser},
};

pub fn register(router: &mut Router) {
    router.endpoint(get_profile);
    router.endpoint(get_profile_field);
    router.endpoint_authed(set_profile_field);
    router.endpoint_authed(delete_profile_field);
}

/// `GET /_matrix/client/v3/profile/{userId}`
async fn get_profile(
    state: AppState,
    request: get_profile::v3::Request,
) -> Result<get_profile::v3::Response, Error> {
    let fields = state
        .services
        .profiles
        .get_profile(&request.user_id)
        .await?;
    let mut response = get_profile::v3::Response::new();
    for (field, value) in fields {
        response.data.set(field, value);
    }
    Ok(response)
}

/// `GET /_matrix/client/v3/profile/{userId}/{keyName}`
async fn get_profile_field(
    state: AppState,
    request: get_profile_field::v3::Request,
) -> Result<get_profile_field::v3::Response, Error> {
    let field = request.field.as_str().to_owned();
    let value = state
        .services
        .profiles
        .get_field(&request.user_id, &field)
        .await?;
    let value = ProfileFieldValue::new(&field, value)
        .map_err(|e| Error::internal(format!("stored profile field {field}: {e}")))?;
    Ok(get_profile_field::v3::Response::new(value))
}

/// `PUT /_matrix/client/v3/profile/{userId}/{keyName}`
async fn set_profile_field(
    state: AppState,
    user: AuthedUser,
    request: set_profile_field::v3::Request,
) -> Result<set_profile_field::v3::Response, Error> {
    let field = request.value.field_name().as_str().to_owned();
    let value = request.value.value().into_owned();
    state
        .services
        .profiles
        .set_field(&user, &request.user_id, &field, value)
        .await?;
    propagate(&state, &user, &field).await?;
    Ok(set_profile_field::v3::Response::new())
}

/// `DELETE /_matrix/client/v3/profile/{userId}/{keyName}`
async fn delete_profile_field(
    state: AppState,
    user: AuthedUser,
    request: delete_profile_field::v3::Request,
) -> Result<delete_profile_field::v3::Response, Error> {
    state
        .services
        .profiles
        .delete_field(&user, &request.user_id, request.field.as_str())
        .await?;
    propagate(&state, &user, request.field.as_str()).await?;
    Ok(delete_profile_field::v3::Response::new())
}

/// Member events carry the display name and avatar, so changing either updates the rooms.
async fn propagate(state: &AppState, user: &AuthedUser, field: &str) -> Result<(), Error> {
    if matches!(field, "displayname" | "avatar_url") {
        state.services.rooms.propagate_profile(user).await?;
    }
    Ok(())
}

//! Room aliases: `/directory/room/{roomAlias}` and `/rooms/{roomId}/aliases`.

use ruma::api::client::{
    alias::{create_alias, delete_alias, get_alias},
    room::aliases,
};

use crate::{
    http::{AppState, router::Router},
    service::{Error, accounts::AuthedUser},
};

pub fn register(router: &mut Router) {
    router.endpoint_authed(create_alias);
    router.endpoint(get_alias);
    router.endpoint_authed(delete_alias);
    router.endpoint_authed(aliases);
}

/// `PUT /_matrix/client/v3/directory/room/{roomAlias}`
async fn create_alias(
    state: AppState,
    user: AuthedUser,
    request: create_alias::v3::Request,
) -> Result<create_alias::v3::Response, Error> {
    state
        .services
        .aliases
        .create(&user, &request.room_alias, request.room_id.as_str())
        .await?;
    Ok(create_alias::v3::Response::new())
}

/// `GET /_matrix/client/v3/directory/room/{roomAlias}`
async fn get_alias(
    state: AppState,
    request: get_alias::v3::Request,
) -> Result<get_alias::v3::Response, Error> {
    let (room_id, servers) = state.services.aliases.resolve(&request.room_alias).await?;
    let room_id =
        ruma::OwnedRoomId::try_from(room_id).map_err(|e| Error::internal(e.to_string()))?;
    let servers = servers
        .into_iter()
        .map(|s| ruma::OwnedServerName::try_from(s).map_err(|e| Error::internal(e.to_string())))
        .collect::<Result<_, _>>()?;
    Ok(get_alias::v3::Response::new(room_id, servers))
}

/// `DELETE /_matrix/client/v3/directory/room/{roomAlias}`
async fn delete_alias(
    state: AppState,
    user: AuthedUser,
    request: delete_alias::v3::Request,
) -> Result<delete_alias::v3::Response, Error> {
    state
        .services
        .aliases
        .delete(&user, &request.room_alias)
        .await?;
    Ok(delete_alias::v3::Response::new())
}

/// `GET /_matrix/client/v3/rooms/{roomId}/aliases`
async fn aliases(
    state: AppState,
    user: AuthedUser,
    request: aliases::v3::Request,
) -> Result<aliases::v3::Response, Error> {
    let aliases = state
        .services
        .aliases
        .list(&user, request.room_id.as_str())
        .await?
        .into_iter()
        .map(|a| ruma::OwnedRoomAliasId::try_from(a).map_err(|e| Error::internal(e.to_string())))
        .collect::<Result<_, _>>()?;
    Ok(aliases::v3::Response::new(aliases))
}

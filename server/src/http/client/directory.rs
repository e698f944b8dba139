//! Room aliases (`/directory/room/{roomAlias}`, `/rooms/{roomId}/aliases`) and the public
//! room directory (`/directory/list/room/{roomId}`, `/publicRooms`).

use ruma::api::client::{
    alias::{create_alias, delete_alias, get_alias},
    directory::{
        get_public_rooms, get_public_rooms_filtered, get_room_visibility, set_room_visibility,
    },
    room::{Visibility, aliases},
};
use serde_json::Value;

use crate::{
    http::{AppState, router::Router},
    service::{Error, accounts::AuthedUser},
};

pub fn register(router: &mut Router) {
    router.endpoint_authed(create_alias);
    router.endpoint(get_alias);
    router.endpoint_authed(delete_alias);
    router.endpoint_authed(aliases);
    router.endpoint(get_room_visibility);
    router.endpoint_authed(set_room_visibility);
    // Room summaries are built as the spec's JSON; ruma's typed chunk would add nothing.
    router.endpoint_json(get_public_rooms);
    router.endpoint_authed_json(get_public_rooms_filtered);
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

/// `GET /_matrix/client/v3/directory/list/room/{roomId}`
async fn get_room_visibility(
    state: AppState,
    request: get_room_visibility::v3::Request,
) -> Result<get_room_visibility::v3::Response, Error> {
    let published = state
        .services
        .room_directory
        .is_published(request.room_id.as_str())
        .await?;
    let visibility = if published {
        Visibility::Public
    } else {
        Visibility::Private
    };
    Ok(get_room_visibility::v3::Response::new(visibility))
}

/// `PUT /_matrix/client/v3/directory/list/room/{roomId}`
async fn set_room_visibility(
    state: AppState,
    user: AuthedUser,
    request: set_room_visibility::v3::Request,
) -> Result<set_room_visibility::v3::Response, Error> {
    state
        .services
        .room_directory
        .set_published(
            &user,
            request.room_id.as_str(),
            request.visibility == Visibility::Public,
            &state.services.rooms,
        )
        .await?;
    Ok(set_room_visibility::v3::Response::new())
}

/// `GET /_matrix/client/v3/publicRooms`
async fn get_public_rooms(
    state: AppState,
    request: get_public_rooms::v3::Request,
) -> Result<Value, Error> {
    state
        .services
        .room_directory
        .public_rooms(request.limit.map(u64::from), request.since.as_deref(), None)
        .await
}

/// `POST /_matrix/client/v3/publicRooms`
async fn get_public_rooms_filtered(
    state: AppState,
    _user: AuthedUser,
    request: get_public_rooms_filtered::v3::Request,
) -> Result<Value, Error> {
    state
        .services
        .room_directory
        .public_rooms(
            request.limit.map(u64::from),
            request.since.as_deref(),
            request.filter.generic_search_term.as_deref(),
        )
        .await
}

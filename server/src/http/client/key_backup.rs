//! Server-side key backups: `/room_keys/version[/{version}]` and
//! `/room_keys/keys[/{roomId}[/{sessionId}]]`.

use ruma::api::client::backup::{
    add_backup_keys, add_backup_keys_for_room, add_backup_keys_for_session, create_backup_version,
    delete_backup_keys, delete_backup_keys_for_room, delete_backup_keys_for_session,
    delete_backup_version, get_backup_info, get_backup_keys, get_backup_keys_for_room,
    get_backup_keys_for_session, get_latest_backup_info, update_backup_version,
};
use serde_json::{Value, json};

use super::raw_json;
use crate::{
    http::{AppState, router::Router},
    service::{
        Error, ErrorKind,
        accounts::AuthedUser,
        key_backup::{backup_key, key_json, rooms_json},
    },
    storage::{BackupKey, BackupScope},
};

pub fn register(router: &mut Router) {
    // Backup data stays the client's own JSON: the server stores it without reading it.
    router.endpoint_authed_json(create_version);
    router.endpoint_authed_json(latest_version);
    router.endpoint_authed_json(get_version);
    router.endpoint_authed_json(update_version);
    router.endpoint_authed_json(delete_version);
    router.endpoint_authed_json(put_keys);
    router.endpoint_authed_json(put_room_keys);
    router.endpoint_authed_json(put_session_key);
    router.endpoint_authed_json(get_keys);
    router.endpoint_authed_json(get_room_keys);
    router.endpoint_authed_json(get_session_key);
    router.endpoint_authed_json(delete_keys);
    router.endpoint_authed_json(delete_room_keys);
    router.endpoint_authed_json(delete_session_key);
}

fn scope(room_id: Option<&ruma::RoomId>, session_id: Option<&str>) -> BackupScope {
    BackupScope {
        room_id: room_id.map(|r| r.to_string()),
        session_id: session_id.map(str::to_owned),
    }
}

/// `POST /_matrix/client/v3/room_keys/version`
async fn create_version(
    state: AppState,
    user: AuthedUser,
    request: create_backup_version::v3::Request,
) -> Result<Value, Error> {
    let body = raw_json(&request.algorithm, "body")?;
    let version = state.services.key_backups.create(&user, &body).await?;
    Ok(json!({ "version": version }))
}

/// `GET /_matrix/client/v3/room_keys/version`
async fn latest_version(
    state: AppState,
    user: AuthedUser,
    _request: get_latest_backup_info::v3::Request,
) -> Result<Value, Error> {
    state.services.key_backups.version(&user, None).await
}

/// `GET /_matrix/client/v3/room_keys/version/{version}`
async fn get_version(
    state: AppState,
    user: AuthedUser,
    request: get_backup_info::v3::Request,
) -> Result<Value, Error> {
    state
        .services
        .key_backups
        .version(&user, Some(&request.version))
        .await
}

/// `PUT /_matrix/client/v3/room_keys/version/{version}`
async fn update_version(
    state: AppState,
    user: AuthedUser,
    request: update_backup_version::v3::Request,
) -> Result<Value, Error> {
    let body = raw_json(&request.algorithm, "body")?;
    state
        .services
        .key_backups
        .update(&user, &request.version, &body)
        .await?;
    Ok(json!({}))
}

/// `DELETE /_matrix/client/v3/room_keys/version/{version}`
async fn delete_version(
    state: AppState,
    user: AuthedUser,
    request: delete_backup_version::v3::Request,
) -> Result<Value, Error> {
    state
        .services
        .key_backups
        .delete(&user, &request.version)
        .await?;
    Ok(json!({}))
}

/// `PUT /_matrix/client/v3/room_keys/keys`
async fn put_keys(
    state: AppState,
    user: AuthedUser,
    request: add_backup_keys::v3::Request,
) -> Result<Value, Error> {
    let mut keys = Vec::new();
    for (room_id, room) in &request.rooms {
        for (session_id, data) in &room.sessions {
            keys.push(backup_key(
                room_id.as_str(),
                session_id,
                &raw_json(data, "body")?,
            )?);
        }
    }
    put(&state, &user, &request.version, keys).await
}

/// `PUT /_matrix/client/v3/room_keys/keys/{roomId}`
async fn put_room_keys(
    state: AppState,
    user: AuthedUser,
    request: add_backup_keys_for_room::v3::Request,
) -> Result<Value, Error> {
    let keys = request
        .sessions
        .iter()
        .map(|(session_id, data)| {
            backup_key(
                request.room_id.as_str(),
                session_id,
                &raw_json(data, "body")?,
            )
        })
        .collect::<Result<Vec<_>, Error>>()?;
    put(&state, &user, &request.version, keys).await
}

/// `PUT /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
async fn put_session_key(
    state: AppState,
    user: AuthedUser,
    request: add_backup_keys_for_session::v3::Request,
) -> Result<Value, Error> {
    let data = raw_json(&request.session_data, "body")?;
    let key = backup_key(request.room_id.as_str(), &request.session_id, &data)?;
    put(&state, &user, &request.version, vec![key]).await
}

async fn put(
    state: &AppState,
    user: &AuthedUser,
    version: &str,
    keys: Vec<BackupKey>,
) -> Result<Value, Error> {
    state
        .services
        .key_backups
        .put_keys(user, version, keys)
        .await
}

/// `GET /_matrix/client/v3/room_keys/keys`
async fn get_keys(
    state: AppState,
    user: AuthedUser,
    request: get_backup_keys::v3::Request,
) -> Result<Value, Error> {
    let keys = state
        .services
        .key_backups
        .keys(&user, &request.version, scope(None, None))
        .await?;
    Ok(rooms_json(&keys))
}

/// `GET /_matrix/client/v3/room_keys/keys/{roomId}`
async fn get_room_keys(
    state: AppState,
    user: AuthedUser,
    request: get_backup_keys_for_room::v3::Request,
) -> Result<Value, Error> {
    let keys = state
        .services
        .key_backups
        .keys(&user, &request.version, scope(Some(&request.room_id), None))
        .await?;
    let room = &rooms_json(&keys)["rooms"][request.room_id.as_str()];
    Ok(if room.is_null() {
        json!({ "sessions": {} })
    } else {
        room.clone()
    })
}

/// `GET /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
async fn get_session_key(
    state: AppState,
    user: AuthedUser,
    request: get_backup_keys_for_session::v3::Request,
) -> Result<Value, Error> {
    let keys = state
        .services
        .key_backups
        .keys(
            &user,
            &request.version,
            scope(Some(&request.room_id), Some(&request.session_id)),
        )
        .await?;
    keys.first()
        .map(key_json)
        .ok_or_else(|| Error::new(ErrorKind::NotFound, "No key for this session in the backup"))
}

/// `DELETE /_matrix/client/v3/room_keys/keys`
async fn delete_keys(
    state: AppState,
    user: AuthedUser,
    request: delete_backup_keys::v3::Request,
) -> Result<Value, Error> {
    state
        .services
        .key_backups
        .delete_keys(&user, &request.version, scope(None, None))
        .await
}

/// `DELETE /_matrix/client/v3/room_keys/keys/{roomId}`
async fn delete_room_keys(
    state: AppState,
    user: AuthedUser,
    request: delete_backup_keys_for_room::v3::Request,
) -> Result<Value, Error> {
    state
        .services
        .key_backups
        .delete_keys(&user, &request.version, scope(Some(&request.room_id), None))
        .await
}

/// `DELETE /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
async fn delete_session_key(
    state: AppState,
    user: AuthedUser,
    request: delete_backup_keys_for_session::v3::Request,
) -> Result<Value, Error> {
    state
        .services
        .key_backups
        .delete_keys(
            &user,
            &request.version,
            scope(Some(&request.room_id), Some(&request.session_id)),
        )
        .await
}

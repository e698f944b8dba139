//! Server-side key backups (`/room_keys/*`): per-user versions, each holding room keys the
//! client encrypted for itself. The server never reads `auth_data` or `session_data`.
//!
//! Writes go only to the latest version (a client still writing to an older one is told the
//! current version); reads and deletes may name any version that exists. When a session's key
//! is uploaded again the better key stays, by the spec's order: verified over unverified, then
//! the lower first message index, then the lower forwarded count.

use serde_json::{Map, Value, json};

use super::{Error, ErrorKind, accounts::AuthedUser};
use crate::storage::{BackupKey, BackupScope, BackupVersion, BackupWrite, Stores};

pub struct KeyBackupService {
    stores: Stores,
}

/// Whether the stored key beats `new` (equal keys keep the stored one).
pub fn keep_stored(stored: &BackupKey, new: &BackupKey) -> bool {
    if stored.is_verified != new.is_verified {
        return stored.is_verified;
    }
    if stored.first_message_index != new.first_message_index {
        return stored.first_message_index < new.first_message_index;
    }
    stored.forwarded_count <= new.forwarded_count
}

/// A version number as clients send it; anything else names no backup.
fn parse_version(version: &str) -> Result<i64, Error> {
    version
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(no_such_version)
}

fn no_such_version() -> Error {
    Error::new(ErrorKind::NotFound, "Unknown backup version")
}

fn algorithm_and_auth_data(body: &Value) -> Result<(&str, &Value), Error> {
    let algorithm = body["algorithm"]
        .as_str()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| Error::new(ErrorKind::BadJson, "`algorithm` must be a string"))?;
    let auth_data = &body["auth_data"];
    if !auth_data.is_object() {
        return Err(Error::new(
            ErrorKind::BadJson,
            "`auth_data` must be an object",
        ));
    }
    Ok((algorithm, auth_data))
}

fn version_json(backup: BackupVersion) -> Value {
    json!({
        "version": backup.version.to_string(),
        "algorithm": backup.algorithm,
        "auth_data": backup.auth_data,
        "etag": backup.etag.to_string(),
        "count": backup.count,
    })
}

fn write_result(write: BackupWrite) -> Result<Value, Error> {
    match write {
        BackupWrite::Done { etag, count } => {
            Ok(json!({ "etag": etag.to_string(), "count": count }))
        }
        BackupWrite::NotCurrent { current } => Err(Error::new(
            ErrorKind::WrongRoomKeysVersion,
            "Keys can only be written to the latest backup version",
        )
        .with_body(json!({ "current_version": current.to_string() }))),
        BackupWrite::NoSuchVersion => Err(no_such_version()),
    }
}

/// One `KeyBackupData` as uploaded, for the given room and session.
pub fn backup_key(room_id: &str, session_id: &str, data: &Value) -> Result<BackupKey, Error> {
    let bad = |field: &str| {
        Error::new(
            ErrorKind::BadJson,
            format!("key backup data for session {session_id}: `{field}` is missing or invalid"),
        )
    };
    let count = |field: &str| {
        data[field]
            .as_u64()
            .and_then(|n| i64::try_from(n).ok())
            .ok_or_else(|| bad(field))
    };
    if !data["session_data"].is_object() {
        return Err(bad("session_data"));
    }
    Ok(BackupKey {
        room_id: room_id.to_owned(),
        session_id: session_id.to_owned(),
        first_message_index: count("first_message_index")?,
        forwarded_count: count("forwarded_count")?,
        is_verified: data["is_verified"]
            .as_bool()
            .ok_or_else(|| bad("is_verified"))?,
        session_data: data["session_data"].clone(),
    })
}

/// A stored key as `KeyBackupData`.
pub fn key_json(key: &BackupKey) -> Value {
    json!({
        "first_message_index": key.first_message_index,
        "forwarded_count": key.forwarded_count,
        "is_verified": key.is_verified,
        "session_data": key.session_data,
    })
}

impl KeyBackupService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    /// `POST /room_keys/version`: the new version's number.
    pub async fn create(&self, user: &AuthedUser, body: &Value) -> Result<String, Error> {
        let (algorithm, auth_data) = algorithm_and_auth_data(body)?;
        let version = self
            .stores
            .key_backups
            .create_backup(user.user_id.as_str(), algorithm, auth_data.clone())
            .await?;
        Ok(version.to_string())
    }

    /// `GET /room_keys/version[/{version}]`: the latest version when `version` is `None`.
    pub async fn version(&self, user: &AuthedUser, version: Option<&str>) -> Result<Value, Error> {
        let version = version.map(parse_version).transpose()?;
        let backup = self
            .stores
            .key_backups
            .backup_version(user.user_id.as_str(), version)
            .await?
            .ok_or_else(|| match version {
                None => Error::new(ErrorKind::NotFound, "No current backup version"),
                Some(_) => no_such_version(),
            })?;
        Ok(version_json(backup))
    }

    /// `PUT /room_keys/version/{version}`: only `auth_data` may change.
    pub async fn update(
        &self,
        user: &AuthedUser,
        version: &str,
        body: &Value,
    ) -> Result<(), Error> {
        let number = parse_version(version)?;
        let (algorithm, auth_data) = algorithm_and_auth_data(body)?;
        if body.get("version").is_some_and(|v| v != version) {
            return Err(Error::new(
                ErrorKind::InvalidParam,
                "The version in the body differs from the one in the path",
            ));
        }
        let store = &self.stores.key_backups;
        let current = store
            .backup_version(user.user_id.as_str(), Some(number))
            .await?
            .ok_or_else(no_such_version)?;
        if current.algorithm != algorithm {
            return Err(Error::new(
                ErrorKind::InvalidParam,
                "The algorithm of a backup cannot change",
            ));
        }
        if !store
            .update_backup(user.user_id.as_str(), number, auth_data.clone())
            .await?
        {
            return Err(no_such_version());
        }
        Ok(())
    }

    /// `DELETE /room_keys/version/{version}`: the version and every key in it.
    pub async fn delete(&self, user: &AuthedUser, version: &str) -> Result<(), Error> {
        let number = parse_version(version)?;
        if !self
            .stores
            .key_backups
            .delete_backup(user.user_id.as_str(), number)
            .await?
        {
            return Err(no_such_version());
        }
        Ok(())
    }

    /// `PUT /room_keys/keys[/{roomId}[/{sessionId}]]`: the backup's new etag and count.
    pub async fn put_keys(
        &self,
        user: &AuthedUser,
        version: &str,
        keys: Vec<BackupKey>,
    ) -> Result<Value, Error> {
        let number = parse_version(version)?;
        let write = self
            .stores
            .key_backups
            .put_backup_keys(user.user_id.as_str(), number, keys, keep_stored)
            .await?;
        write_result(write)
    }

    /// `GET /room_keys/keys[/{roomId}[/{sessionId}]]`: the keys in `scope`.
    pub async fn keys(
        &self,
        user: &AuthedUser,
        version: &str,
        scope: BackupScope,
    ) -> Result<Vec<BackupKey>, Error> {
        let number = parse_version(version)?;
        self.stores
            .key_backups
            .backup_keys(user.user_id.as_str(), number, scope)
            .await?
            .ok_or_else(no_such_version)
    }

    /// `DELETE /room_keys/keys[/{roomId}[/{sessionId}]]`: the backup's new etag and count.
    pub async fn delete_keys(
        &self,
        user: &AuthedUser,
        version: &str,
        scope: BackupScope,
    ) -> Result<Value, Error> {
        let number = parse_version(version)?;
        let write = self
            .stores
            .key_backups
            .delete_backup_keys(user.user_id.as_str(), number, scope)
            .await?;
        write_result(write)
    }
}

/// Keys grouped as `GET /room_keys/keys` returns them: rooms → sessions → key data.
pub fn rooms_json(keys: &[BackupKey]) -> Value {
    let mut rooms: Map<String, Value> = Map::new();
    for key in keys {
        let room = rooms
            .entry(key.room_id.clone())
            .or_insert_with(|| json!({ "sessions": {} }));
        room["sessions"][&key.session_id] = key_json(key);
    }
    json!({ "rooms": rooms })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(verified: bool, first: i64, forwarded: i64) -> BackupKey {
        BackupKey {
            room_id: "!r:x".into(),
            session_id: "s".into(),
            first_message_index: first,
            forwarded_count: forwarded,
            is_verified: verified,
            session_data: json!({}),
        }
    }

    #[test]
    fn the_better_key_stays_by_the_specs_order() {
        // (stored, new, stored stays)
        let cases = [
            (key(true, 9, 9), key(false, 0, 0), true),
            (key(false, 0, 0), key(true, 9, 9), false),
            (key(false, 1, 9), key(false, 2, 0), true),
            (key(false, 2, 0), key(false, 1, 9), false),
            (key(true, 1, 1), key(true, 1, 2), true),
            (key(true, 1, 2), key(true, 1, 1), false),
            (key(true, 1, 1), key(true, 1, 1), true),
        ];
        for (stored, new, stays) in cases {
            assert_eq!(keep_stored(&stored, &new), stays, "{stored:?} vs {new:?}");
        }
    }

    #[test]
    fn key_data_needs_every_field() {
        let good = json!({"first_message_index": 1, "forwarded_count": 0, "is_verified": true, "session_data": {"ciphertext": "c"}});
        assert!(backup_key("!r:x", "s", &good).is_ok());
        for field in [
            "first_message_index",
            "forwarded_count",
            "is_verified",
            "session_data",
        ] {
            let mut bad = good.clone();
            bad.as_object_mut().unwrap().remove(field);
            assert_eq!(
                backup_key("!r:x", "s", &bad).unwrap_err().kind,
                ErrorKind::BadJson,
                "{field}"
            );
        }
        let negative = json!({"first_message_index": -1, "forwarded_count": 0, "is_verified": true, "session_data": {}});
        assert!(backup_key("!r:x", "s", &negative).is_err());
    }
}

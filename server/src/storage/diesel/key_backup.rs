use ::diesel::prelude::*;
use async_trait::async_trait;
use serde_json::Value;

use super::{
    Database, DbConnection,
    schema::{backup_keys, backup_versions},
};
use crate::storage::{
    BackupKey, BackupScope, BackupVersion, BackupWrite, Error, ErrorKind, KeyBackupStore,
};

type KeyRow = (String, String, i64, i64, bool, String);

const KEY_COLUMNS: (
    backup_keys::room_id,
    backup_keys::session_id,
    backup_keys::first_message_index,
    backup_keys::forwarded_count,
    backup_keys::is_verified,
    backup_keys::session_data,
) = (
    backup_keys::room_id,
    backup_keys::session_id,
    backup_keys::first_message_index,
    backup_keys::forwarded_count,
    backup_keys::is_verified,
    backup_keys::session_data,
);

fn parse(text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))
}

fn key_from_row(row: KeyRow) -> Result<BackupKey, Error> {
    let (room_id, session_id, first_message_index, forwarded_count, is_verified, data) = row;
    Ok(BackupKey {
        room_id,
        session_id,
        first_message_index,
        forwarded_count,
        is_verified,
        session_data: parse(&data)?,
    })
}

/// The latest undeleted version of the user's backup.
fn latest_version(conn: &mut DbConnection, user: &str) -> QueryResult<Option<i64>> {
    backup_versions::table
        .filter(backup_versions::user_id.eq(user))
        .filter(backup_versions::deleted.eq(false))
        .select(diesel::dsl::max(backup_versions::version))
        .first(conn)
}

fn version_exists(conn: &mut DbConnection, user: &str, version: i64) -> QueryResult<bool> {
    let found: i64 = backup_versions::table
        .filter(backup_versions::user_id.eq(user))
        .filter(backup_versions::version.eq(version))
        .filter(backup_versions::deleted.eq(false))
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}

/// Moves the version's etag on and returns it with the key count.
fn bump_etag(conn: &mut DbConnection, user: &str, version: i64) -> QueryResult<BackupWrite> {
    let row = backup_versions::table
        .filter(backup_versions::user_id.eq(user))
        .filter(backup_versions::version.eq(version));
    diesel::update(row)
        .set(backup_versions::etag.eq(backup_versions::etag + 1))
        .execute(conn)?;
    let etag = row.select(backup_versions::etag).first(conn)?;
    let count = key_count(conn, user, version)?;
    Ok(BackupWrite::Done { etag, count })
}

fn key_count(conn: &mut DbConnection, user: &str, version: i64) -> QueryResult<i64> {
    backup_keys::table
        .filter(backup_keys::user_id.eq(user))
        .filter(backup_keys::version.eq(version))
        .count()
        .get_result(conn)
}

#[async_trait]
impl KeyBackupStore for Database {
    async fn create_backup(
        &self,
        user_id: &str,
        algorithm: &str,
        auth_data: Value,
    ) -> Result<i64, Error> {
        let (user, algorithm) = (user_id.to_owned(), algorithm.to_owned());
        self.write(move |conn| {
            let highest: Option<i64> = backup_versions::table
                .filter(backup_versions::user_id.eq(&user))
                .select(diesel::dsl::max(backup_versions::version))
                .first(conn)?;
            let version = highest.unwrap_or(0) + 1;
            diesel::insert_into(backup_versions::table)
                .values((
                    backup_versions::user_id.eq(&user),
                    backup_versions::version.eq(version),
                    backup_versions::algorithm.eq(&algorithm),
                    backup_versions::auth_data.eq(auth_data.to_string()),
                    backup_versions::etag.eq(0_i64),
                    backup_versions::deleted.eq(false),
                ))
                .execute(conn)?;
            Ok(version)
        })
        .await
    }

    async fn backup_version(
        &self,
        user_id: &str,
        version: Option<i64>,
    ) -> Result<Option<BackupVersion>, Error> {
        let user = user_id.to_owned();
        let row: Option<(i64, String, String, i64, i64)> = self
            .read(move |conn| {
                let Some(version) = (match version {
                    Some(v) => Some(v),
                    None => latest_version(conn, &user)?,
                }) else {
                    return Ok(None);
                };
                let found: Option<(i64, String, String, i64)> = backup_versions::table
                    .filter(backup_versions::user_id.eq(&user))
                    .filter(backup_versions::version.eq(version))
                    .filter(backup_versions::deleted.eq(false))
                    .select((
                        backup_versions::version,
                        backup_versions::algorithm,
                        backup_versions::auth_data,
                        backup_versions::etag,
                    ))
                    .first(conn)
                    .optional()?;
                let Some((version, algorithm, auth_data, etag)) = found else {
                    return Ok(None);
                };
                let count = key_count(conn, &user, version)?;
                Ok(Some((version, algorithm, auth_data, etag, count)))
            })
            .await?;
        row.map(|(version, algorithm, auth_data, etag, count)| {
            Ok(BackupVersion {
                version,
                algorithm,
                auth_data: parse(&auth_data)?,
                etag,
                count,
            })
        })
        .transpose()
    }

    async fn update_backup(
        &self,
        user_id: &str,
        version: i64,
        auth_data: Value,
    ) -> Result<bool, Error> {
        let user = user_id.to_owned();
        let updated = self
            .write(move |conn| {
                diesel::update(
                    backup_versions::table
                        .filter(backup_versions::user_id.eq(&user))
                        .filter(backup_versions::version.eq(version))
                        .filter(backup_versions::deleted.eq(false)),
                )
                .set(backup_versions::auth_data.eq(auth_data.to_string()))
                .execute(conn)
            })
            .await?;
        Ok(updated > 0)
    }

    async fn delete_backup(&self, user_id: &str, version: i64) -> Result<bool, Error> {
        let user = user_id.to_owned();
        let deleted = self
            .write(move |conn| {
                // A version deleted before matches too: deleting it again succeeds.
                let marked = diesel::update(
                    backup_versions::table
                        .filter(backup_versions::user_id.eq(&user))
                        .filter(backup_versions::version.eq(version)),
                )
                .set(backup_versions::deleted.eq(true))
                .execute(conn)?;
                diesel::delete(
                    backup_keys::table
                        .filter(backup_keys::user_id.eq(&user))
                        .filter(backup_keys::version.eq(version)),
                )
                .execute(conn)?;
                Ok(marked)
            })
            .await?;
        Ok(deleted > 0)
    }

    async fn put_backup_keys(
        &self,
        user_id: &str,
        version: i64,
        keys: Vec<BackupKey>,
        keep_stored: for<'a, 'b> fn(&'a BackupKey, &'b BackupKey) -> bool,
    ) -> Result<BackupWrite, Error> {
        let user = user_id.to_owned();
        let outcome = self
            .write(move |conn| {
                match latest_version(conn, &user)? {
                    Some(current) if current == version => {}
                    Some(current) if version_exists(conn, &user, version)? => {
                        return Ok(Err(BackupWrite::NotCurrent { current }));
                    }
                    _ => return Ok(Err(BackupWrite::NoSuchVersion)),
                }
                for key in &keys {
                    let slot = backup_keys::table
                        .filter(backup_keys::user_id.eq(&user))
                        .filter(backup_keys::version.eq(version))
                        .filter(backup_keys::room_id.eq(&key.room_id))
                        .filter(backup_keys::session_id.eq(&key.session_id));
                    let stored: Option<KeyRow> = slot.select(KEY_COLUMNS).first(conn).optional()?;
                    if let Some(stored) = stored {
                        let stored = key_from_row(stored).map_err(|e| {
                            diesel::result::Error::DeserializationError(e.message.into())
                        })?;
                        if keep_stored(&stored, key) {
                            continue;
                        }
                        diesel::delete(slot).execute(conn)?;
                    }
                    diesel::insert_into(backup_keys::table)
                        .values((
                            backup_keys::user_id.eq(&user),
                            backup_keys::version.eq(version),
                            backup_keys::room_id.eq(&key.room_id),
                            backup_keys::session_id.eq(&key.session_id),
                            backup_keys::first_message_index.eq(key.first_message_index),
                            backup_keys::forwarded_count.eq(key.forwarded_count),
                            backup_keys::is_verified.eq(key.is_verified),
                            backup_keys::session_data.eq(key.session_data.to_string()),
                        ))
                        .execute(conn)?;
                }
                bump_etag(conn, &user, version).map(Ok)
            })
            .await?;
        Ok(outcome.unwrap_or_else(|refused| refused))
    }

    async fn backup_keys(
        &self,
        user_id: &str,
        version: i64,
        scope: BackupScope,
    ) -> Result<Option<Vec<BackupKey>>, Error> {
        let user = user_id.to_owned();
        let rows: Option<Vec<KeyRow>> = self
            .read(move |conn| {
                if !version_exists(conn, &user, version)? {
                    return Ok(None);
                }
                let mut query = backup_keys::table
                    .filter(backup_keys::user_id.eq(&user))
                    .filter(backup_keys::version.eq(version))
                    .into_boxed();
                if let Some(room) = scope.room_id {
                    query = query.filter(backup_keys::room_id.eq(room));
                }
                if let Some(session) = scope.session_id {
                    query = query.filter(backup_keys::session_id.eq(session));
                }
                query
                    .order((backup_keys::room_id, backup_keys::session_id))
                    .select(KEY_COLUMNS)
                    .load(conn)
                    .map(Some)
            })
            .await?;
        rows.map(|rows| rows.into_iter().map(key_from_row).collect())
            .transpose()
    }

    async fn delete_backup_keys(
        &self,
        user_id: &str,
        version: i64,
        scope: BackupScope,
    ) -> Result<BackupWrite, Error> {
        let user = user_id.to_owned();
        self.write(move |conn| {
            if !version_exists(conn, &user, version)? {
                return Ok(BackupWrite::NoSuchVersion);
            }
            let mut doomed = diesel::delete(backup_keys::table)
                .filter(backup_keys::user_id.eq(&user))
                .filter(backup_keys::version.eq(version))
                .into_boxed();
            if let Some(room) = scope.room_id {
                doomed = doomed.filter(backup_keys::room_id.eq(room));
            }
            if let Some(session) = scope.session_id {
                doomed = doomed.filter(backup_keys::session_id.eq(session));
            }
            doomed.execute(conn)?;
            bump_etag(conn, &user, version)
        })
        .await
    }
}

use ::diesel::prelude::*;
use async_trait::async_trait;
use ruma::{OwnedDeviceId, OwnedUserId, UserId};
use serde_json::Value;

use super::{
    Database, DbConnection,
    e2e_keys::mark_device_list_changed,
    schema::{access_tokens, dehydrated_devices, devices, refresh_tokens, users},
};
use crate::storage::{Device, DeviceStore, Error, ErrorKind, TokenOwner};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = devices)]
struct DeviceRow {
    user_id: String,
    device_id: String,
    display_name: Option<String>,
    created_ts: i64,
    last_seen_ts: Option<i64>,
    last_seen_ip: Option<String>,
}

impl DeviceRow {
    fn into_device(self) -> Result<Device, Error> {
        Ok(Device {
            user_id: OwnedUserId::try_from(self.user_id)
                .map_err(|e| Error::new(ErrorKind::Internal, format!("stored user id: {e}")))?,
            device_id: OwnedDeviceId::from(self.device_id),
            display_name: self.display_name,
            created_ts: self.created_ts,
            last_seen_ts: self.last_seen_ts,
            last_seen_ip: self.last_seen_ip,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = access_tokens)]
struct TokenRow {
    token_hash: String,
    user_id: String,
    device_id: String,
    created_ts: i64,
    expires_ts: Option<i64>,
}

#[async_trait]
impl DeviceStore for Database {
    async fn create_device_with_token(
        &self,
        device: Device,
        token_hash: String,
        expires_ts: Option<i64>,
    ) -> Result<(), Error> {
        let token = TokenRow {
            token_hash,
            user_id: device.user_id.to_string(),
            device_id: device.device_id.to_string(),
            created_ts: device.created_ts,
            expires_ts,
        };
        let row = DeviceRow {
            user_id: device.user_id.to_string(),
            device_id: device.device_id.to_string(),
            display_name: device.display_name,
            created_ts: device.created_ts,
            last_seen_ts: device.last_seen_ts,
            last_seen_ip: device.last_seen_ip,
        };
        self.write(move |conn| {
            let exists: i64 = devices::table
                .filter(devices::user_id.eq(&row.user_id))
                .filter(devices::device_id.eq(&row.device_id))
                .count()
                .get_result(conn)?;
            if exists == 0 {
                diesel::insert_into(devices::table)
                    .values(&row)
                    .execute(conn)?;
            }
            diesel::insert_into(access_tokens::table)
                .values(&token)
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn get_device(&self, user_id: &UserId, device_id: &str) -> Result<Option<Device>, Error> {
        let (user, device) = (user_id.to_string(), device_id.to_owned());
        let row = self
            .read(move |conn| {
                devices::table
                    .filter(devices::user_id.eq(user))
                    .filter(devices::device_id.eq(device))
                    .select(DeviceRow::as_select())
                    .first(conn)
                    .optional()
            })
            .await?;
        row.map(DeviceRow::into_device).transpose()
    }

    async fn list_devices(&self, user_id: &UserId) -> Result<Vec<Device>, Error> {
        let user = user_id.to_string();
        let rows = self
            .read(move |conn| {
                devices::table
                    .filter(devices::user_id.eq(user))
                    .order(devices::device_id)
                    .select(DeviceRow::as_select())
                    .load(conn)
            })
            .await?;
        rows.into_iter().map(DeviceRow::into_device).collect()
    }

    async fn delete_device(&self, user_id: &UserId, device_id: &str) -> Result<bool, Error> {
        let (user, device) = (user_id.to_string(), device_id.to_owned());
        let deleted = self
            .write_tokens(move |conn| {
                diesel::delete(
                    access_tokens::table
                        .filter(access_tokens::user_id.eq(&user))
                        .filter(access_tokens::device_id.eq(&device)),
                )
                .execute(conn)?;
                diesel::delete(
                    refresh_tokens::table
                        .filter(refresh_tokens::user_id.eq(&user))
                        .filter(refresh_tokens::device_id.eq(&device)),
                )
                .execute(conn)?;
                let deleted = diesel::delete(
                    devices::table
                        .filter(devices::user_id.eq(&user))
                        .filter(devices::device_id.eq(&device)),
                )
                .execute(conn)?;
                if deleted > 0 {
                    forget_device(conn, &user, &device)?;
                    mark_device_list_changed(conn, &user)?;
                }
                Ok(deleted)
            })
            .await?;
        Ok(deleted > 0)
    }

    async fn delete_all_devices(&self, user_id: &UserId) -> Result<u64, Error> {
        let user = user_id.to_string();
        let deleted = self
            .write_tokens(move |conn| {
                diesel::delete(access_tokens::table.filter(access_tokens::user_id.eq(&user)))
                    .execute(conn)?;
                diesel::delete(refresh_tokens::table.filter(refresh_tokens::user_id.eq(&user)))
                    .execute(conn)?;
                let gone: Vec<String> = devices::table
                    .filter(devices::user_id.eq(&user))
                    .select(devices::device_id)
                    .load(conn)?;
                for device in &gone {
                    forget_device(conn, &user, device)?;
                }
                let deleted = diesel::delete(devices::table.filter(devices::user_id.eq(&user)))
                    .execute(conn)?;
                if deleted > 0 {
                    mark_device_list_changed(conn, &user)?;
                }
                Ok(deleted)
            })
            .await?;
        Ok(deleted as u64)
    }

    async fn find_token(&self, token_hash: &str) -> Result<Option<TokenOwner>, Error> {
        if let Some(owner) = self.tokens.get(token_hash) {
            return Ok(Some(owner));
        }
        let generation = self.tokens.generation();
        let hash = token_hash.to_owned();
        type Row = (String, String, Option<i64>, Option<bool>, Option<String>);
        let row: Option<Row> = self
            .read(move |conn| {
                access_tokens::table
                    .left_join(users::table.on(users::user_id.eq(access_tokens::user_id)))
                    .filter(access_tokens::token_hash.eq(hash))
                    .select((
                        access_tokens::user_id,
                        access_tokens::device_id,
                        access_tokens::expires_ts,
                        users::is_guest.nullable(),
                        access_tokens::retires_refresh_hash,
                    ))
                    .first(conn)
                    .optional()
            })
            .await?;
        let owner = row
            .map(|(user, device, expires_ts, is_guest, retires)| {
                Ok::<_, Error>(TokenOwner {
                    user_id: OwnedUserId::try_from(user).map_err(|e| {
                        Error::new(ErrorKind::Internal, format!("stored user id: {e}"))
                    })?,
                    device_id: OwnedDeviceId::from(device),
                    expires_ts,
                    is_guest: is_guest.unwrap_or(false),
                    retires_refresh: retires.is_some(),
                })
            })
            .transpose()?;
        if let Some(owner) = &owner {
            self.tokens
                .insert(generation, token_hash.to_owned(), owner.clone());
        }
        Ok(owner)
    }

    async fn add_refresh_token(
        &self,
        refresh_token_hash: String,
        access_token_hash: String,
        created_ts: i64,
    ) -> Result<(), Error> {
        self.write(move |conn| {
            let (user, device): (String, String) = access_tokens::table
                .find(&access_token_hash)
                .select((access_tokens::user_id, access_tokens::device_id))
                .first(conn)?;
            diesel::insert_into(refresh_tokens::table)
                .values((
                    refresh_tokens::token_hash.eq(&refresh_token_hash),
                    refresh_tokens::user_id.eq(&user),
                    refresh_tokens::device_id.eq(&device),
                    refresh_tokens::access_token_hash.eq(&access_token_hash),
                    refresh_tokens::created_ts.eq(created_ts),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn rotate_refresh_token(
        &self,
        old_refresh_hash: &str,
        new_access_hash: String,
        new_access_expires_ts: Option<i64>,
        new_refresh_hash: String,
        now: i64,
    ) -> Result<Option<TokenOwner>, Error> {
        let old = old_refresh_hash.to_owned();
        let owner: Option<(String, String, bool)> = self
            .write_tokens(move |conn| {
                type Row = (String, String, String, Option<String>);
                let find = |conn: &mut DbConnection, hash: &str| -> QueryResult<Option<Row>> {
                    refresh_tokens::table
                        .find(hash)
                        .select((
                            refresh_tokens::user_id,
                            refresh_tokens::device_id,
                            refresh_tokens::access_token_hash,
                            refresh_tokens::next_token_hash,
                        ))
                        .first(conn)
                        .optional()
                };
                let Some((user, device, old_access, next)) = find(conn, &old)? else {
                    return Ok(None);
                };
                match next {
                    Some(next) => {
                        // A repeat: the successor pair has not been used (using either would
                        // have deleted this row), so it is replaced.
                        if let Some((_, _, next_access, _)) = find(conn, &next)? {
                            diesel::delete(access_tokens::table.find(&next_access))
                                .execute(conn)?;
                        }
                        diesel::delete(refresh_tokens::table.find(&next)).execute(conn)?;
                    }
                    None => {
                        diesel::delete(access_tokens::table.find(&old_access)).execute(conn)?;
                        // Using this token retires the one it was exchanged for.
                        retire_predecessors(conn, &old)?;
                    }
                }
                diesel::update(refresh_tokens::table.find(&old))
                    .set(refresh_tokens::next_token_hash.eq(&new_refresh_hash))
                    .execute(conn)?;
                diesel::insert_into(access_tokens::table)
                    .values((
                        access_tokens::token_hash.eq(&new_access_hash),
                        access_tokens::user_id.eq(&user),
                        access_tokens::device_id.eq(&device),
                        access_tokens::created_ts.eq(now),
                        access_tokens::expires_ts.eq(new_access_expires_ts),
                        access_tokens::retires_refresh_hash.eq(&old),
                    ))
                    .execute(conn)?;
                diesel::insert_into(refresh_tokens::table)
                    .values((
                        refresh_tokens::token_hash.eq(&new_refresh_hash),
                        refresh_tokens::user_id.eq(&user),
                        refresh_tokens::device_id.eq(&device),
                        refresh_tokens::access_token_hash.eq(&new_access_hash),
                        refresh_tokens::created_ts.eq(now),
                    ))
                    .execute(conn)?;
                let is_guest: bool = users::table
                    .find(&user)
                    .select(users::is_guest)
                    .first(conn)
                    .optional()?
                    .unwrap_or(false);
                Ok(Some((user, device, is_guest)))
            })
            .await?;
        owner
            .map(|(user, device, is_guest)| {
                Ok(TokenOwner {
                    user_id: OwnedUserId::try_from(user)
                        .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?,
                    device_id: OwnedDeviceId::from(device),
                    expires_ts: new_access_expires_ts,
                    is_guest,
                    retires_refresh: true,
                })
            })
            .transpose()
    }

    async fn retire_refreshed(&self, access_token_hash: &str) -> Result<(), Error> {
        let access = access_token_hash.to_owned();
        self.write_tokens(move |conn| {
            let retires: Option<Option<String>> = access_tokens::table
                .find(&access)
                .select(access_tokens::retires_refresh_hash)
                .first(conn)
                .optional()?;
            if let Some(Some(old)) = retires {
                diesel::delete(refresh_tokens::table.find(&old)).execute(conn)?;
                diesel::update(access_tokens::table.find(&access))
                    .set(access_tokens::retires_refresh_hash.eq(None::<String>))
                    .execute(conn)?;
            }
            Ok(())
        })
        .await
    }

    async fn set_display_name(
        &self,
        user_id: &UserId,
        device_id: &str,
        display_name: Option<String>,
    ) -> Result<bool, Error> {
        let (user, device) = (user_id.to_string(), device_id.to_owned());
        let updated = self
            .write(move |conn| {
                diesel::update(
                    devices::table
                        .filter(devices::user_id.eq(user))
                        .filter(devices::device_id.eq(device)),
                )
                .set(devices::display_name.eq(display_name))
                .execute(conn)
            })
            .await?;
        Ok(updated > 0)
    }

    async fn put_dehydrated_device(&self, device: Device, device_data: Value) -> Result<(), Error> {
        let user = device.user_id.to_string();
        let row = DeviceRow {
            user_id: user.clone(),
            device_id: device.device_id.to_string(),
            display_name: device.display_name,
            created_ts: device.created_ts,
            last_seen_ts: None,
            last_seen_ip: None,
        };
        self.write_tokens(move |conn| {
            remove_dehydrated(conn, &user)?;
            diesel::insert_into(devices::table)
                .values(&row)
                .execute(conn)?;
            diesel::insert_into(dehydrated_devices::table)
                .values((
                    dehydrated_devices::user_id.eq(&user),
                    dehydrated_devices::device_id.eq(&row.device_id),
                    dehydrated_devices::device_data.eq(device_data.to_string()),
                ))
                .execute(conn)?;
            mark_device_list_changed(conn, &user)
        })
        .await
    }

    async fn dehydrated_device(&self, user_id: &UserId) -> Result<Option<(String, Value)>, Error> {
        let user = user_id.to_string();
        let row: Option<(String, String)> = self
            .read(move |conn| {
                dehydrated_devices::table
                    .filter(dehydrated_devices::user_id.eq(user))
                    .select((
                        dehydrated_devices::device_id,
                        dehydrated_devices::device_data,
                    ))
                    .first(conn)
                    .optional()
            })
            .await?;
        row.map(|(device_id, data)| {
            let data = serde_json::from_str(&data)
                .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
            Ok((device_id, data))
        })
        .transpose()
    }

    async fn delete_dehydrated_device(&self, user_id: &UserId) -> Result<Option<String>, Error> {
        let user = user_id.to_string();
        self.write_tokens(move |conn| {
            let removed = remove_dehydrated(conn, &user)?;
            if removed.is_some() {
                mark_device_list_changed(conn, &user)?;
            }
            Ok(removed)
        })
        .await
    }
}

/// What a deleted device leaves behind goes with it; a dehydrated device stops being one. The
/// caller marks the device list changed as its transaction's last step (the stream lock is
/// taken last, so nothing waits while holding it).
fn forget_device(conn: &mut DbConnection, user: &str, device: &str) -> QueryResult<()> {
    super::e2e_keys::forget_device(conn, user, device)?;
    diesel::delete(
        dehydrated_devices::table
            .filter(dehydrated_devices::user_id.eq(user))
            .filter(dehydrated_devices::device_id.eq(device)),
    )
    .execute(conn)?;
    Ok(())
}

/// Deletes the user's dehydrated device, if any, as a deleted device; its id.
fn remove_dehydrated(conn: &mut DbConnection, user: &str) -> QueryResult<Option<String>> {
    let old: Option<String> = dehydrated_devices::table
        .filter(dehydrated_devices::user_id.eq(user))
        .select(dehydrated_devices::device_id)
        .first(conn)
        .optional()?;
    if let Some(device) = &old {
        diesel::delete(
            devices::table
                .filter(devices::user_id.eq(user))
                .filter(devices::device_id.eq(device)),
        )
        .execute(conn)?;
        diesel::delete(
            access_tokens::table
                .filter(access_tokens::user_id.eq(user))
                .filter(access_tokens::device_id.eq(device)),
        )
        .execute(conn)?;
        diesel::delete(
            refresh_tokens::table
                .filter(refresh_tokens::user_id.eq(user))
                .filter(refresh_tokens::device_id.eq(device)),
        )
        .execute(conn)?;
        forget_device(conn, user, device)?;
    }
    Ok(old)
}

/// Deletes the refresh tokens that were exchanged for `refresh_hash`: its use settles them.
fn retire_predecessors(conn: &mut DbConnection, refresh_hash: &str) -> QueryResult<()> {
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::next_token_hash.eq(refresh_hash)))
        .execute(conn)?;
    Ok(())
}

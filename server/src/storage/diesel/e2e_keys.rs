use std::collections::BTreeMap;

use ::diesel::{
    dsl::count_star,
    prelude::*,
    sql_types::{BigInt, Bool},
};
use async_trait::async_trait;
use serde_json::Value;

use super::{
    Database, DbConnection, Stream, lock_stream,
    schema::{
        cross_signing_keys, device_keys, device_list_changes, fallback_keys, key_signatures,
        one_time_keys, to_device,
    },
};
use crate::storage::{Error, ErrorKind, KeySignature, KeyStore, StoredKey};

/// Records that the user's devices or keys changed, inside the caller's transaction.
pub(super) fn mark_device_list_changed(conn: &mut DbConnection, user_id: &str) -> QueryResult<()> {
    lock_stream(conn, Stream::DeviceLists)?;
    diesel::insert_into(device_list_changes::table)
        .values(device_list_changes::user_id.eq(user_id))
        .execute(conn)?;
    Ok(())
}

fn parse(text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))
}

/// Deletes what belongs to a device that is going (its keys, signatures on it and the
/// to-device messages queued for it) and marks the user's device list changed, inside the
/// caller's transaction. A device id reused later starts clean.
pub(super) fn forget_device(
    conn: &mut DbConnection,
    user_id: &str,
    device_id: &str,
) -> QueryResult<()> {
    diesel::delete(
        device_keys::table
            .filter(device_keys::user_id.eq(user_id))
            .filter(device_keys::device_id.eq(device_id)),
    )
    .execute(conn)?;
    diesel::delete(
        one_time_keys::table
            .filter(one_time_keys::user_id.eq(user_id))
            .filter(one_time_keys::device_id.eq(device_id)),
    )
    .execute(conn)?;
    diesel::delete(
        fallback_keys::table
            .filter(fallback_keys::user_id.eq(user_id))
            .filter(fallback_keys::device_id.eq(device_id)),
    )
    .execute(conn)?;
    diesel::delete(
        key_signatures::table
            .filter(key_signatures::target_user_id.eq(user_id))
            .filter(key_signatures::target_key_id.eq(device_id)),
    )
    .execute(conn)?;
    diesel::delete(
        to_device::table
            .filter(to_device::user_id.eq(user_id))
            .filter(to_device::device_id.eq(device_id)),
    )
    .execute(conn)?;
    Ok(())
}

#[async_trait]
impl KeyStore for Database {
    async fn put_device_keys(
        &self,
        user_id: &str,
        device_id: &str,
        keys: Value,
    ) -> Result<bool, Error> {
        let (user, device) = (user_id.to_owned(), device_id.to_owned());
        self.write(move |conn| {
            let stored: Option<String> = device_keys::table
                .filter(device_keys::user_id.eq(&user))
                .filter(device_keys::device_id.eq(&device))
                .select(device_keys::keys_json)
                .first(conn)
                .optional()?;
            let unchanged = stored
                .and_then(|json| serde_json::from_str::<Value>(&json).ok())
                .is_some_and(|stored| stored == keys);
            if unchanged {
                return Ok(false);
            }
            diesel::delete(
                device_keys::table
                    .filter(device_keys::user_id.eq(&user))
                    .filter(device_keys::device_id.eq(&device)),
            )
            .execute(conn)?;
            diesel::insert_into(device_keys::table)
                .values((
                    device_keys::user_id.eq(&user),
                    device_keys::device_id.eq(&device),
                    device_keys::keys_json.eq(keys.to_string()),
                ))
                .execute(conn)?;
            mark_device_list_changed(conn, &user)?;
            Ok(true)
        })
        .await
    }

    async fn device_keys(
        &self,
        user_id: &str,
        devices: Vec<String>,
    ) -> Result<BTreeMap<String, Value>, Error> {
        let user = user_id.to_owned();
        let rows: Vec<(String, String)> = self
            .read(move |conn| {
                let mut query = device_keys::table
                    .filter(device_keys::user_id.eq(user))
                    .select((device_keys::device_id, device_keys::keys_json))
                    .into_boxed();
                if !devices.is_empty() {
                    query = query.filter(device_keys::device_id.eq_any(devices));
                }
                query.load(conn)
            })
            .await?;
        rows.into_iter()
            .map(|(device, json)| Ok((device, parse(&json)?)))
            .collect()
    }

    async fn add_one_time_keys(
        &self,
        user_id: &str,
        device_id: &str,
        keys: Vec<StoredKey>,
    ) -> Result<(), Error> {
        let (user, device) = (user_id.to_owned(), device_id.to_owned());
        self.write(move |conn| {
            for key in &keys {
                let exists: i64 = one_time_keys::table
                    .filter(one_time_keys::user_id.eq(&user))
                    .filter(one_time_keys::device_id.eq(&device))
                    .filter(one_time_keys::key_id.eq(&key.key_id))
                    .count()
                    .get_result(conn)?;
                if exists > 0 {
                    continue;
                }
                diesel::insert_into(one_time_keys::table)
                    .values((
                        one_time_keys::user_id.eq(&user),
                        one_time_keys::device_id.eq(&device),
                        one_time_keys::key_id.eq(&key.key_id),
                        one_time_keys::algorithm.eq(&key.algorithm),
                        one_time_keys::key_json.eq(key.key.to_string()),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
        .await
    }

    async fn put_fallback_keys(
        &self,
        user_id: &str,
        device_id: &str,
        keys: Vec<StoredKey>,
    ) -> Result<(), Error> {
        let (user, device) = (user_id.to_owned(), device_id.to_owned());
        self.write(move |conn| {
            for key in &keys {
                diesel::delete(
                    fallback_keys::table
                        .filter(fallback_keys::user_id.eq(&user))
                        .filter(fallback_keys::device_id.eq(&device))
                        .filter(fallback_keys::algorithm.eq(&key.algorithm)),
                )
                .execute(conn)?;
                diesel::insert_into(fallback_keys::table)
                    .values((
                        fallback_keys::user_id.eq(&user),
                        fallback_keys::device_id.eq(&device),
                        fallback_keys::algorithm.eq(&key.algorithm),
                        fallback_keys::key_id.eq(&key.key_id),
                        fallback_keys::key_json.eq(key.key.to_string()),
                        fallback_keys::used.eq(false),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
        .await
    }

    async fn one_time_key_counts(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<BTreeMap<String, u64>, Error> {
        let (user, device) = (user_id.to_owned(), device_id.to_owned());
        let counts: Vec<(String, i64)> = self
            .read(move |conn| {
                one_time_keys::table
                    .filter(one_time_keys::user_id.eq(user))
                    .filter(one_time_keys::device_id.eq(device))
                    .group_by(one_time_keys::algorithm)
                    .select((one_time_keys::algorithm, count_star()))
                    .load(conn)
            })
            .await?;
        Ok(counts
            .into_iter()
            .map(|(algorithm, n)| (algorithm, u64::try_from(n).unwrap_or(0)))
            .collect())
    }

    async fn key_counts_for_sync(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<(BTreeMap<String, u64>, Vec<String>), Error> {
        let (user, device) = (user_id.to_owned(), device_id.to_owned());
        // (algorithm, one-time keys, whether the row is a fallback key)
        let rows: Vec<(String, i64, bool)> = self
            .read(move |conn| {
                let one_time = one_time_keys::table
                    .filter(one_time_keys::user_id.eq(&user))
                    .filter(one_time_keys::device_id.eq(&device))
                    .group_by(one_time_keys::algorithm)
                    .select((
                        one_time_keys::algorithm,
                        count_star(),
                        false.into_sql::<Bool>(),
                    ));
                let fallback = fallback_keys::table
                    .filter(fallback_keys::user_id.eq(&user))
                    .filter(fallback_keys::device_id.eq(&device))
                    .filter(fallback_keys::used.eq(false))
                    .select((
                        fallback_keys::algorithm,
                        0i64.into_sql::<BigInt>(),
                        true.into_sql::<Bool>(),
                    ));
                // The multi-backend connection has no UNION; each backend has its own.
                let both = one_time.union_all(fallback);
                match conn {
                    DbConnection::Sqlite(c) => both.load(c),
                    DbConnection::Postgres(c) => both.load(c),
                }
            })
            .await?;
        let mut counts = BTreeMap::new();
        let mut fallback = Vec::new();
        for (algorithm, n, is_fallback) in rows {
            if is_fallback {
                fallback.push(algorithm);
            } else {
                counts.insert(algorithm, u64::try_from(n).unwrap_or(0));
            }
        }
        fallback.sort();
        Ok((counts, fallback))
    }

    async fn claim_key(
        &self,
        user_id: &str,
        device_id: &str,
        algorithm: &str,
    ) -> Result<Option<StoredKey>, Error> {
        let (user, device, algorithm) = (
            user_id.to_owned(),
            device_id.to_owned(),
            algorithm.to_owned(),
        );
        let claimed: Option<(String, String, String)> = self
            .write(move |conn| {
                // On PostgreSQL a concurrent claim may delete the key between our read and
                // our delete; only the transaction whose delete removed the row hands it out.
                while let Some((key_id, json)) = one_time_keys::table
                    .filter(one_time_keys::user_id.eq(&user))
                    .filter(one_time_keys::device_id.eq(&device))
                    .filter(one_time_keys::algorithm.eq(&algorithm))
                    .order(one_time_keys::key_id)
                    .select((one_time_keys::key_id, one_time_keys::key_json))
                    .first::<(String, String)>(conn)
                    .optional()?
                {
                    let deleted = diesel::delete(
                        one_time_keys::table
                            .filter(one_time_keys::user_id.eq(&user))
                            .filter(one_time_keys::device_id.eq(&device))
                            .filter(one_time_keys::key_id.eq(&key_id)),
                    )
                    .execute(conn)?;
                    if deleted == 1 {
                        return Ok(Some((algorithm, key_id, json)));
                    }
                }
                let fallback: Option<(String, String)> = fallback_keys::table
                    .filter(fallback_keys::user_id.eq(&user))
                    .filter(fallback_keys::device_id.eq(&device))
                    .filter(fallback_keys::algorithm.eq(&algorithm))
                    .select((fallback_keys::key_id, fallback_keys::key_json))
                    .first(conn)
                    .optional()?;
                if let Some((key_id, json)) = fallback {
                    diesel::update(
                        fallback_keys::table
                            .filter(fallback_keys::user_id.eq(&user))
                            .filter(fallback_keys::device_id.eq(&device))
                            .filter(fallback_keys::algorithm.eq(&algorithm)),
                    )
                    .set(fallback_keys::used.eq(true))
                    .execute(conn)?;
                    return Ok(Some((algorithm, key_id, json)));
                }
                Ok(None)
            })
            .await?;
        claimed
            .map(|(algorithm, key_id, json)| {
                Ok(StoredKey {
                    algorithm,
                    key_id,
                    key: parse(&json)?,
                })
            })
            .transpose()
    }

    async fn device_list_changes(&self, after: i64, up_to: i64) -> Result<Vec<String>, Error> {
        self.read(move |conn| {
            device_list_changes::table
                .filter(device_list_changes::stream_id.gt(after))
                .filter(device_list_changes::stream_id.le(up_to))
                .select(device_list_changes::user_id)
                .distinct()
                .order(device_list_changes::user_id)
                .load(conn)
        })
        .await
    }

    async fn cross_signing_keys(&self, user_id: &str) -> Result<BTreeMap<String, Value>, Error> {
        let user = user_id.to_owned();
        let rows: Vec<(String, String)> = self
            .read(move |conn| {
                cross_signing_keys::table
                    .filter(cross_signing_keys::user_id.eq(user))
                    .select((cross_signing_keys::key_type, cross_signing_keys::key_json))
                    .load(conn)
            })
            .await?;
        rows.into_iter()
            .map(|(usage, json)| Ok((usage, parse(&json)?)))
            .collect()
    }

    async fn put_cross_signing_keys(
        &self,
        user_id: &str,
        keys: BTreeMap<String, Value>,
    ) -> Result<(), Error> {
        let user = user_id.to_owned();
        self.write(move |conn| {
            for (usage, key) in &keys {
                let old: Option<String> = cross_signing_keys::table
                    .filter(cross_signing_keys::user_id.eq(&user))
                    .filter(cross_signing_keys::key_type.eq(usage))
                    .select(cross_signing_keys::key_json)
                    .first(conn)
                    .optional()?;
                for public in old.iter().flat_map(|json| public_keys(json)) {
                    diesel::delete(
                        key_signatures::table
                            .filter(key_signatures::target_user_id.eq(&user))
                            .filter(key_signatures::target_key_id.eq(&public)),
                    )
                    .execute(conn)?;
                    diesel::delete(
                        key_signatures::table
                            .filter(key_signatures::signer_user_id.eq(&user))
                            .filter(key_signatures::signer_key_id.eq(format!("ed25519:{public}"))),
                    )
                    .execute(conn)?;
                }
                diesel::delete(
                    cross_signing_keys::table
                        .filter(cross_signing_keys::user_id.eq(&user))
                        .filter(cross_signing_keys::key_type.eq(usage)),
                )
                .execute(conn)?;
                diesel::insert_into(cross_signing_keys::table)
                    .values((
                        cross_signing_keys::user_id.eq(&user),
                        cross_signing_keys::key_type.eq(usage),
                        cross_signing_keys::key_json.eq(key.to_string()),
                    ))
                    .execute(conn)?;
            }
            mark_device_list_changed(conn, &user)
        })
        .await
    }

    async fn add_key_signatures(&self, signatures: Vec<KeySignature>) -> Result<(), Error> {
        self.write(move |conn| {
            let mut targets = std::collections::BTreeSet::new();
            for s in &signatures {
                let row = key_signatures::table
                    .filter(key_signatures::target_user_id.eq(&s.target_user_id))
                    .filter(key_signatures::target_key_id.eq(&s.target_key_id))
                    .filter(key_signatures::signer_user_id.eq(&s.signer_user_id))
                    .filter(key_signatures::signer_key_id.eq(&s.signer_key_id));
                diesel::delete(row).execute(conn)?;
                diesel::insert_into(key_signatures::table)
                    .values((
                        key_signatures::target_user_id.eq(&s.target_user_id),
                        key_signatures::target_key_id.eq(&s.target_key_id),
                        key_signatures::signer_user_id.eq(&s.signer_user_id),
                        key_signatures::signer_key_id.eq(&s.signer_key_id),
                        key_signatures::signature.eq(&s.signature),
                    ))
                    .execute(conn)?;
                targets.insert(s.target_user_id.as_str());
            }
            for user in targets {
                mark_device_list_changed(conn, user)?;
            }
            Ok(())
        })
        .await
    }

    async fn key_signatures(&self, target_user_id: &str) -> Result<Vec<KeySignature>, Error> {
        let user = target_user_id.to_owned();
        let rows: Vec<(String, String, String, String)> = self
            .read(move |conn| {
                key_signatures::table
                    .filter(key_signatures::target_user_id.eq(&user))
                    .order((
                        key_signatures::target_key_id,
                        key_signatures::signer_user_id,
                        key_signatures::signer_key_id,
                    ))
                    .select((
                        key_signatures::target_key_id,
                        key_signatures::signer_user_id,
                        key_signatures::signer_key_id,
                        key_signatures::signature,
                    ))
                    .load(conn)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(target_key_id, signer_user_id, signer_key_id, signature)| KeySignature {
                    target_user_id: target_user_id.to_owned(),
                    target_key_id,
                    signer_user_id,
                    signer_key_id,
                    signature,
                },
            )
            .collect())
    }
}

/// The public parts of a stored cross-signing key's `keys` (`ed25519:<public>` → public).
fn public_keys(json: &str) -> Vec<String> {
    serde_json::from_str::<Value>(json)
        .ok()
        .and_then(|key| key["keys"].as_object().cloned())
        .map(|keys| {
            keys.values()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

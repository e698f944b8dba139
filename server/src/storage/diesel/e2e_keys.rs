use std::collections::BTreeMap;

use ::diesel::prelude::*;
use async_trait::async_trait;
use serde_json::Value;

use super::{
    Database,
    schema::{device_keys, fallback_keys, one_time_keys},
};
use crate::storage::{Error, ErrorKind, KeyStore, StoredKey};

fn parse(text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))
}

#[async_trait]
impl KeyStore for Database {
    async fn put_device_keys(
        &self,
        user_id: &str,
        device_id: &str,
        keys: Value,
    ) -> Result<(), Error> {
        let (user, device, json) = (user_id.to_owned(), device_id.to_owned(), keys.to_string());
        self.write(move |conn| {
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
                    device_keys::keys_json.eq(&json),
                ))
                .execute(conn)?;
            Ok(())
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
        let algorithms: Vec<String> = self
            .read(move |conn| {
                one_time_keys::table
                    .filter(one_time_keys::user_id.eq(user))
                    .filter(one_time_keys::device_id.eq(device))
                    .select(one_time_keys::algorithm)
                    .load(conn)
            })
            .await?;
        let mut counts = BTreeMap::new();
        for algorithm in algorithms {
            *counts.entry(algorithm).or_insert(0) += 1;
        }
        Ok(counts)
    }

    async fn unused_fallback_algorithms(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<Vec<String>, Error> {
        let (user, device) = (user_id.to_owned(), device_id.to_owned());
        self.read(move |conn| {
            fallback_keys::table
                .filter(fallback_keys::user_id.eq(user))
                .filter(fallback_keys::device_id.eq(device))
                .filter(fallback_keys::used.eq(false))
                .order(fallback_keys::algorithm)
                .select(fallback_keys::algorithm)
                .load(conn)
        })
        .await
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
                let one: Option<(String, String)> = one_time_keys::table
                    .filter(one_time_keys::user_id.eq(&user))
                    .filter(one_time_keys::device_id.eq(&device))
                    .filter(one_time_keys::algorithm.eq(&algorithm))
                    .order(one_time_keys::key_id)
                    .select((one_time_keys::key_id, one_time_keys::key_json))
                    .first(conn)
                    .optional()?;
                if let Some((key_id, json)) = one {
                    diesel::delete(
                        one_time_keys::table
                            .filter(one_time_keys::user_id.eq(&user))
                            .filter(one_time_keys::device_id.eq(&device))
                            .filter(one_time_keys::key_id.eq(&key_id)),
                    )
                    .execute(conn)?;
                    return Ok(Some((algorithm, key_id, json)));
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
}

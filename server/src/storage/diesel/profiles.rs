use std::collections::BTreeMap;

use ::diesel::prelude::*;
use async_trait::async_trait;
use ruma::UserId;
use serde_json::Value;

use super::{Database, schema::profile_fields};
use crate::storage::{Error, ErrorKind, ProfileStore};

fn parse(text: &str) -> Result<Value, Error> {
    serde_json::from_str(text)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("stored profile value: {e}")))
}

#[async_trait]
impl ProfileStore for Database {
    async fn get_profile(&self, user_id: &UserId) -> Result<BTreeMap<String, Value>, Error> {
        let user = user_id.to_string();
        let rows: Vec<(String, String)> = self
            .read(move |conn| {
                profile_fields::table
                    .filter(profile_fields::user_id.eq(user))
                    .select((profile_fields::field, profile_fields::value))
                    .load(conn)
            })
            .await?;
        rows.into_iter()
            .map(|(field, value)| Ok((field, parse(&value)?)))
            .collect()
    }

    async fn get_profile_field(
        &self,
        user_id: &UserId,
        field: &str,
    ) -> Result<Option<Value>, Error> {
        let (user, field) = (user_id.to_string(), field.to_owned());
        let value: Option<String> = self
            .read(move |conn| {
                profile_fields::table
                    .find((user, field))
                    .select(profile_fields::value)
                    .first(conn)
                    .optional()
            })
            .await?;
        value.map(|v| parse(&v)).transpose()
    }

    async fn set_profile_field(
        &self,
        user_id: &UserId,
        field: &str,
        value: Value,
    ) -> Result<(), Error> {
        let (user, field, value) = (user_id.to_string(), field.to_owned(), value.to_string());
        // Delete then insert in one transaction: an upsert does not compile through the
        // two-backend connection type.
        self.write(move |conn| {
            diesel::delete(profile_fields::table.find((&user, &field))).execute(conn)?;
            diesel::insert_into(profile_fields::table)
                .values((
                    profile_fields::user_id.eq(&user),
                    profile_fields::field.eq(&field),
                    profile_fields::value.eq(&value),
                ))
                .execute(conn)
        })
        .await
        .map(|_| ())
    }

    async fn delete_profile_field(&self, user_id: &UserId, field: &str) -> Result<bool, Error> {
        let (user, field) = (user_id.to_string(), field.to_owned());
        let deleted = self
            .write(move |conn| {
                diesel::delete(profile_fields::table.find((user, field))).execute(conn)
            })
            .await?;
        Ok(deleted > 0)
    }
}

use ::diesel::prelude::*;
use async_trait::async_trait;
use serde_json::Value;

use super::{Database, Stream, lock_stream, schema::account_data};
use crate::storage::{AccountData, AccountDataStore, Error, ErrorKind};

#[async_trait]
impl AccountDataStore for Database {
    async fn put_account_data(
        &self,
        user_id: &str,
        room_id: &str,
        data_type: &str,
        content: &Value,
    ) -> Result<i64, Error> {
        let (user, room, kind) = (user_id.to_owned(), room_id.to_owned(), data_type.to_owned());
        let content = content.to_string();
        self.write(move |conn| {
            lock_stream(conn, Stream::AccountData)?;
            let last: Option<i64> = account_data::table
                .select(diesel::dsl::max(account_data::stream_id))
                .first(conn)?;
            let stream_id = last.unwrap_or(0) + 1;
            diesel::delete(
                account_data::table
                    .filter(account_data::user_id.eq(&user))
                    .filter(account_data::room_id.eq(&room))
                    .filter(account_data::data_type.eq(&kind)),
            )
            .execute(conn)?;
            diesel::insert_into(account_data::table)
                .values((
                    account_data::user_id.eq(&user),
                    account_data::room_id.eq(&room),
                    account_data::data_type.eq(&kind),
                    account_data::content.eq(&content),
                    account_data::stream_id.eq(stream_id),
                ))
                .execute(conn)?;
            Ok(stream_id)
        })
        .await
    }

    async fn get_account_data(
        &self,
        user_id: &str,
        room_id: &str,
        data_type: &str,
    ) -> Result<Option<Value>, Error> {
        let (user, room, kind) = (user_id.to_owned(), room_id.to_owned(), data_type.to_owned());
        let content: Option<String> = self
            .read(move |conn| {
                account_data::table
                    .filter(account_data::user_id.eq(user))
                    .filter(account_data::room_id.eq(room))
                    .filter(account_data::data_type.eq(kind))
                    .select(account_data::content)
                    .first(conn)
                    .optional()
            })
            .await?;
        content.map(|c| parse(&c)).transpose()
    }

    async fn users_with_account_data(&self, data_type: &str) -> Result<Vec<String>, Error> {
        let kind = data_type.to_owned();
        self.read(move |conn| {
            account_data::table
                .filter(account_data::room_id.eq(""))
                .filter(account_data::data_type.eq(kind))
                .select(account_data::user_id)
                .load(conn)
        })
        .await
    }

    async fn account_data_after(
        &self,
        user_id: &str,
        after: i64,
    ) -> Result<Vec<AccountData>, Error> {
        let user = user_id.to_owned();
        let rows: Vec<(String, String, String, i64)> = self
            .read(move |conn| {
                account_data::table
                    .filter(account_data::user_id.eq(user))
                    .filter(account_data::stream_id.gt(after))
                    .order(account_data::stream_id)
                    .select((
                        account_data::room_id,
                        account_data::data_type,
                        account_data::content,
                        account_data::stream_id,
                    ))
                    .load(conn)
            })
            .await?;
        rows.into_iter()
            .map(|(room_id, data_type, content, stream_id)| {
                Ok(AccountData {
                    room_id,
                    data_type,
                    content: parse(&content)?,
                    stream_id,
                })
            })
            .collect()
    }
}

fn parse(content: &str) -> Result<Value, Error> {
    serde_json::from_str(content)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("stored account data: {e}")))
}

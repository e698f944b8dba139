use ::diesel::prelude::*;
use async_trait::async_trait;
use serde_json::Value;

use super::{Database, schema::filters};
use crate::storage::{Error, ErrorKind, FilterStore};

#[async_trait]
impl FilterStore for Database {
    async fn save_filter(
        &self,
        user_id: &str,
        filter_id: &str,
        filter: Value,
    ) -> Result<(), Error> {
        let (user, id, text) = (user_id.to_owned(), filter_id.to_owned(), filter.to_string());
        self.write(move |conn| {
            diesel::insert_into(filters::table)
                .values((
                    filters::user_id.eq(user),
                    filters::filter_id.eq(id),
                    filters::filter.eq(text),
                ))
                .execute(conn)
        })
        .await
        .map(|_| ())
    }

    async fn get_filter(&self, user_id: &str, filter_id: &str) -> Result<Option<Value>, Error> {
        let (user, id) = (user_id.to_owned(), filter_id.to_owned());
        let text: Option<String> = self
            .read(move |conn| {
                filters::table
                    .find((user, id))
                    .select(filters::filter)
                    .first(conn)
                    .optional()
            })
            .await?;
        text.map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| Error::new(ErrorKind::Internal, format!("stored filter: {e}")))
        })
        .transpose()
    }
}

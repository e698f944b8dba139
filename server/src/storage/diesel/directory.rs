use ::diesel::prelude::*;
use async_trait::async_trait;

use super::{Database, schema::room_directory};
use crate::storage::{DirectoryStore, Error};

#[async_trait]
impl DirectoryStore for Database {
    async fn set_published(&self, room_id: &str, published: bool) -> Result<(), Error> {
        let room_id = room_id.to_owned();
        self.write(move |conn| {
            diesel::delete(room_directory::table.filter(room_directory::room_id.eq(&room_id)))
                .execute(conn)?;
            if published {
                diesel::insert_into(room_directory::table)
                    .values(room_directory::room_id.eq(&room_id))
                    .execute(conn)?;
            }
            Ok(())
        })
        .await
    }

    async fn is_published(&self, room_id: &str) -> Result<bool, Error> {
        let room_id = room_id.to_owned();
        let count: i64 = self
            .read(move |conn| {
                room_directory::table
                    .filter(room_directory::room_id.eq(room_id))
                    .count()
                    .get_result(conn)
            })
            .await?;
        Ok(count > 0)
    }

    async fn published_rooms(&self) -> Result<Vec<String>, Error> {
        self.read(|conn| {
            room_directory::table
                .order(room_directory::room_id)
                .select(room_directory::room_id)
                .load(conn)
        })
        .await
    }
}

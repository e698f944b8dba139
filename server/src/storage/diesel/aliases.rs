use ::diesel::prelude::*;
use async_trait::async_trait;

use super::{Database, schema::room_aliases};
use crate::storage::{AliasStore, Error, RoomAlias};

#[async_trait]
impl AliasStore for Database {
    async fn create_alias(&self, alias: RoomAlias) -> Result<(), Error> {
        self.write(move |conn| {
            diesel::insert_into(room_aliases::table)
                .values((
                    room_aliases::alias.eq(&alias.alias),
                    room_aliases::room_id.eq(&alias.room_id),
                    room_aliases::creator.eq(&alias.creator),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn get_alias(&self, alias: &str) -> Result<Option<RoomAlias>, Error> {
        let alias = alias.to_owned();
        let row: Option<(String, String, String)> = self
            .read(move |conn| {
                room_aliases::table
                    .filter(room_aliases::alias.eq(alias))
                    .select((
                        room_aliases::alias,
                        room_aliases::room_id,
                        room_aliases::creator,
                    ))
                    .first(conn)
                    .optional()
            })
            .await?;
        Ok(row.map(|(alias, room_id, creator)| RoomAlias {
            alias,
            room_id,
            creator,
        }))
    }

    async fn delete_alias(&self, alias: &str) -> Result<bool, Error> {
        let alias = alias.to_owned();
        let deleted = self
            .write(move |conn| {
                diesel::delete(room_aliases::table.filter(room_aliases::alias.eq(alias)))
                    .execute(conn)
            })
            .await?;
        Ok(deleted > 0)
    }

    async fn aliases_of_room(&self, room_id: &str) -> Result<Vec<String>, Error> {
        let room_id = room_id.to_owned();
        self.read(move |conn| {
            room_aliases::table
                .filter(room_aliases::room_id.eq(room_id))
                .order(room_aliases::alias)
                .select(room_aliases::alias)
                .load(conn)
        })
        .await
    }
}

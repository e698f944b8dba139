//! Local room aliases: creating, resolving, deleting and listing them.
//!
//! Only aliases on this server's name are kept. Creating one needs membership of the room, so
//! nobody can point a name at a room they are not in; deleting one is for its creator. A
//! remote alias cannot be resolved until federation exists, so it resolves to nothing.

use ruma::{OwnedServerName, RoomAliasId};

use super::{Error, ErrorKind, accounts::AuthedUser};
use crate::storage::{self, RoomAlias, Stores};

pub struct AliasService {
    server_name: OwnedServerName,
    stores: Stores,
}

impl AliasService {
    pub fn new(server_name: OwnedServerName, stores: Stores) -> Self {
        Self {
            server_name,
            stores,
        }
    }

    /// `#localpart:server` for createRoom's `room_alias_name`, checked as an alias.
    pub fn local_alias(&self, localpart: &str) -> Result<String, Error> {
        let alias = format!("#{localpart}:{}", self.server_name);
        RoomAliasId::parse(&alias).map_err(|e| {
            Error::new(
                ErrorKind::InvalidParam,
                format!("room_alias_name gives an invalid alias: {e}"),
            )
        })?;
        Ok(alias)
    }

    pub async fn create(
        &self,
        user: &AuthedUser,
        alias: &RoomAliasId,
        room_id: &str,
    ) -> Result<(), Error> {
        self.require_local(alias)?;
        if self.stores.rooms.get_room(room_id).await?.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidParam,
                format!("Unknown room {room_id}"),
            ));
        }
        super::rooms::require_joined(&self.stores, user, room_id).await?;
        let created = self
            .stores
            .aliases
            .create_alias(RoomAlias {
                alias: alias.to_string(),
                room_id: room_id.to_owned(),
                creator: user.user_id.to_string(),
            })
            .await;
        match created {
            Err(e) if e.kind == storage::ErrorKind::Conflict => Err(Error::new(
                ErrorKind::AliasInUse,
                format!("Room alias {alias} already exists"),
            )),
            other => Ok(other?),
        }
    }

    /// The room an alias names, and the servers that can help join it.
    pub async fn resolve(&self, alias: &RoomAliasId) -> Result<(String, Vec<String>), Error> {
        let found = if alias.server_name() == self.server_name {
            self.stores.aliases.get_alias(alias.as_str()).await?
        } else {
            None
        };
        let found = found.ok_or_else(|| {
            Error::new(ErrorKind::NotFound, format!("Room alias {alias} not found"))
        })?;
        Ok((found.room_id, vec![self.server_name.to_string()]))
    }

    pub async fn delete(&self, user: &AuthedUser, alias: &RoomAliasId) -> Result<(), Error> {
        let found = self
            .stores
            .aliases
            .get_alias(alias.as_str())
            .await?
            .filter(|_| alias.server_name() == self.server_name)
            .ok_or_else(|| {
                Error::new(ErrorKind::NotFound, format!("Room alias {alias} not found"))
            })?;
        if found.creator != user.user_id.as_str() {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "Only the alias's creator may delete it",
            ));
        }
        self.stores.aliases.delete_alias(alias.as_str()).await?;
        Ok(())
    }

    /// The room's local aliases, for its members.
    pub async fn list(&self, user: &AuthedUser, room_id: &str) -> Result<Vec<String>, Error> {
        super::rooms::require_joined(&self.stores, user, room_id).await?;
        Ok(self.stores.aliases.aliases_of_room(room_id).await?)
    }

    fn require_local(&self, alias: &RoomAliasId) -> Result<(), Error> {
        if alias.server_name() == self.server_name {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::InvalidParam,
                format!("Aliases on {} cannot be created here", alias.server_name()),
            ))
        }
    }
}

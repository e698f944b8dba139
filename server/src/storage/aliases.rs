use async_trait::async_trait;

use super::Error;

/// A local room alias and who created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomAlias {
    pub alias: String,
    pub room_id: String,
    pub creator: String,
}

#[async_trait]
pub trait AliasStore: Send + Sync {
    /// Adds an alias; a `Conflict` error when the alias is taken.
    async fn create_alias(&self, alias: RoomAlias) -> Result<(), Error>;
    async fn get_alias(&self, alias: &str) -> Result<Option<RoomAlias>, Error>;
    /// Removes an alias; whether it existed.
    async fn delete_alias(&self, alias: &str) -> Result<bool, Error>;
    async fn aliases_of_room(&self, room_id: &str) -> Result<Vec<String>, Error>;
}

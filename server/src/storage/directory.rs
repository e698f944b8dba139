use async_trait::async_trait;

use super::Error;

/// The public room directory: which rooms are published.
#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Publishes or unpublishes a room; idempotent.
    async fn set_published(&self, room_id: &str, published: bool) -> Result<(), Error>;
    async fn is_published(&self, room_id: &str) -> Result<bool, Error>;
    async fn published_rooms(&self) -> Result<Vec<String>, Error>;
}

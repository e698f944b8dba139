use async_trait::async_trait;

use super::Error;

/// A media item's metadata. `sha256` is `None` while an asynchronous upload waits for content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRecord {
    pub media_id: String,
    pub uploader: String,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub sha256: Option<String>,
    pub size: i64,
    pub created_ts: i64,
    /// Until when a reservation without content holds (milliseconds since the epoch).
    pub expires_ts: Option<i64>,
}

/// The content given to a reserved media id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaContentRef {
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub sha256: String,
    pub size: i64,
}

/// A generated thumbnail of one media item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbnailRecord {
    pub media_id: String,
    pub width: i64,
    pub height: i64,
    pub method: String,
    pub content_type: String,
    pub sha256: String,
    pub size: i64,
}

#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Adds a media item; a `Conflict` error if the id is taken.
    async fn create_media(&self, record: MediaRecord) -> Result<(), Error>;
    async fn get_media(&self, media_id: &str) -> Result<Option<MediaRecord>, Error>;
    /// Gives content to a reservation that has none yet; `false` if it already had content
    /// (nothing changes then).
    async fn fill_media(&self, media_id: &str, content: MediaContentRef) -> Result<bool, Error>;
    /// How many of the user's reservations still wait for content and expire after `now`.
    async fn count_pending_media(&self, uploader: &str, now: i64) -> Result<u64, Error>;
    async fn get_thumbnail(
        &self,
        media_id: &str,
        width: i64,
        height: i64,
        method: &str,
    ) -> Result<Option<ThumbnailRecord>, Error>;
    /// Records a thumbnail; an existing one for the same key is kept (two requests may race to
    /// generate it, and either result is fine).
    async fn put_thumbnail(&self, thumbnail: ThumbnailRecord) -> Result<(), Error>;
}

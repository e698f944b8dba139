//! The content repository: uploads (direct and reserved-then-uploaded), downloads and
//! thumbnails of local media.
//!
//! Invariants: a media id is only ever given content once; content is on disk (synced) before
//! the database row that names it; thumbnails are generated from the stored content, on the
//! blocking pool, at most [`THUMBNAIL_WORKERS`] at a time.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use ruma::{OwnedMxcUri, OwnedServerName, ServerName};
use tokio::sync::Semaphore;

use super::{
    Error, ErrorKind,
    accounts::AuthedUser,
    clock::now_ms,
    ids::random_letters,
    thumbnail::{self, Method, RenderError, Rendered},
};
use crate::{
    config::MediaConfig,
    storage::{MediaContentRef, MediaRecord, Stores, ThumbnailRecord, media_files::MediaFiles},
};

/// Thumbnails decoded at once; decoding is CPU- and memory-heavy.
const THUMBNAIL_WORKERS: usize = 2;
/// How often a download waiting for a reserved upload looks again.
const PENDING_POLL: Duration = Duration::from_millis(200);
/// The longest a download waits for a reserved upload, whatever the client asks.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Content to serve, with what the uploader said about it.
#[derive(Debug, Clone)]
pub struct MediaContent {
    pub bytes: Bytes,
    pub content_type: Option<String>,
    pub filename: Option<String>,
}

/// A fresh reservation from `POST /create`.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub content_uri: OwnedMxcUri,
    /// Milliseconds since the epoch.
    pub unused_expires_at: i64,
}

/// What a download needs besides the media's address.
#[derive(Debug, Clone, Copy)]
pub struct Fetch {
    /// How long to wait for a reserved upload's content.
    pub timeout: Duration,
    /// Whether the request came in on a deprecated unauthenticated path.
    pub unauthenticated: bool,
}

pub struct MediaService {
    server_name: OwnedServerName,
    stores: Stores,
    files: MediaFiles,
    config: MediaConfig,
    thumbnailers: Arc<Semaphore>,
}

impl MediaService {
    pub fn new(
        server_name: OwnedServerName,
        stores: Stores,
        files: MediaFiles,
        config: MediaConfig,
    ) -> Self {
        Self {
            server_name,
            stores,
            files,
            config,
            thumbnailers: Arc::new(Semaphore::new(THUMBNAIL_WORKERS)),
        }
    }

    /// The largest upload accepted, in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.config.max_upload_bytes
    }

    /// Stores an upload and returns its `mxc://` URI.
    pub async fn upload(
        &self,
        user: &AuthedUser,
        content: Bytes,
        content_type: Option<String>,
        filename: Option<String>,
    ) -> Result<OwnedMxcUri, Error> {
        self.check_size(&content)?;
        let (content_type, filename) = (clean(content_type), clean(filename));
        let size = content.len() as i64;
        let sha256 = self.files.put(content).await?;
        let media_id = random_letters(24);
        self.stores
            .media
            .create_media(MediaRecord {
                media_id: media_id.clone(),
                uploader: user.user_id.to_string(),
                content_type,
                filename,
                sha256: Some(sha256),
                size,
                created_ts: now_ms(),
                expires_ts: None,
            })
            .await?;
        Ok(self.mxc(&media_id))
    }

    /// Reserves a media id whose content the same user uploads later.
    pub async fn reserve(&self, user: &AuthedUser) -> Result<Reservation, Error> {
        let now = now_ms();
        let pending = self
            .stores
            .media
            .count_pending_media(user.user_id.as_str(), now)
            .await?;
        if pending >= u64::from(self.config.max_pending_uploads) {
            return Err(Error::new(
                ErrorKind::LimitExceeded {
                    retry_after_ms: 60_000,
                },
                "Too many reserved uploads without content",
            ));
        }
        let expires = now + (self.config.pending_expiry_seconds as i64).saturating_mul(1000);
        let media_id = random_letters(24);
        self.stores
            .media
            .create_media(MediaRecord {
                media_id: media_id.clone(),
                uploader: user.user_id.to_string(),
                content_type: None,
                filename: None,
                sha256: None,
                size: 0,
                created_ts: now,
                expires_ts: Some(expires),
            })
            .await?;
        Ok(Reservation {
            content_uri: self.mxc(&media_id),
            unused_expires_at: expires,
        })
    }

    /// Gives content to a reservation made by the same user.
    pub async fn upload_reserved(
        &self,
        user: &AuthedUser,
        server_name: &ServerName,
        media_id: &str,
        content: Bytes,
        content_type: Option<String>,
        filename: Option<String>,
    ) -> Result<(), Error> {
        let record = self.local_record(server_name, media_id).await?;
        if record.uploader != user.user_id.as_str() {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "This media id was reserved by another user",
            ));
        }
        if record.sha256.is_some() {
            return Err(Error::new(
                ErrorKind::CannotOverwriteMedia,
                "This media already has content",
            ));
        }
        if record.expires_ts.is_some_and(|t| t <= now_ms()) {
            return Err(not_found());
        }
        self.check_size(&content)?;
        let size = content.len() as i64;
        let sha256 = self.files.put(content).await?;
        let filled = self
            .stores
            .media
            .fill_media(
                media_id,
                MediaContentRef {
                    content_type: clean(content_type),
                    filename: clean(filename),
                    sha256,
                    size,
                },
            )
            .await?;
        if !filled {
            // Another request with the same reservation won the race.
            return Err(Error::new(
                ErrorKind::CannotOverwriteMedia,
                "This media already has content",
            ));
        }
        Ok(())
    }

    /// The media's content, waiting up to `fetch.timeout` for a reserved upload.
    pub async fn download(
        &self,
        server_name: &ServerName,
        media_id: &str,
        fetch: Fetch,
    ) -> Result<MediaContent, Error> {
        let (record, sha256) = self.uploaded(server_name, media_id, fetch).await?;
        Ok(MediaContent {
            bytes: self.files.get(&sha256).await?,
            content_type: record.content_type,
            filename: record.filename,
        })
    }

    /// A thumbnail of at least `width` × `height` (or the original when it is smaller).
    pub async fn thumbnail(
        &self,
        server_name: &ServerName,
        media_id: &str,
        (width, height, method): (u32, u32, Method),
        fetch: Fetch,
    ) -> Result<MediaContent, Error> {
        if width == 0 || height == 0 {
            return Err(Error::new(
                ErrorKind::InvalidParam,
                "Thumbnail width and height must be positive",
            ));
        }
        let (record, sha256) = self.uploaded(server_name, media_id, fetch).await?;
        let is_image = record
            .content_type
            .as_deref()
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("image/"));
        if !is_image {
            return Err(cannot_thumbnail());
        }
        let original = || async {
            Ok::<_, Error>(MediaContent {
                bytes: self.files.get(&sha256).await?,
                content_type: record.content_type.clone(),
                filename: None,
            })
        };
        let Some(size) = thumbnail::standard_size(width, height, method) else {
            return original().await;
        };
        let (w, h, m) = (
            i64::from(size.width),
            i64::from(size.height),
            size.method.as_str(),
        );
        if let Some(stored) = self.stores.media.get_thumbnail(media_id, w, h, m).await? {
            return Ok(MediaContent {
                bytes: self.files.get(&stored.sha256).await?,
                content_type: Some(stored.content_type),
                filename: None,
            });
        }
        let content = self.files.get(&sha256).await?;
        let max_pixels = self.config.max_thumbnail_pixels;
        let _permit = self
            .thumbnailers
            .acquire()
            .await
            .map_err(|_| Error::internal("thumbnail workers closed"))?;
        let rendered =
            tokio::task::spawn_blocking(move || thumbnail::render(&content, size, max_pixels))
                .await
                .map_err(|e| Error::internal(format!("thumbnail task failed: {e}")))?;
        match rendered {
            Ok(Rendered::Original) => original().await,
            Ok(Rendered::Thumbnail {
                bytes,
                content_type,
            }) => {
                let bytes = Bytes::from(bytes);
                let thumb_size = bytes.len() as i64;
                let thumb_hash = self.files.put(bytes.clone()).await?;
                self.stores
                    .media
                    .put_thumbnail(ThumbnailRecord {
                        media_id: media_id.to_owned(),
                        width: w,
                        height: h,
                        method: m.to_owned(),
                        content_type: content_type.to_owned(),
                        sha256: thumb_hash,
                        size: thumb_size,
                    })
                    .await?;
                Ok(MediaContent {
                    bytes,
                    content_type: Some(content_type.to_owned()),
                    filename: None,
                })
            }
            Err(RenderError::NotAnImage) => Err(cannot_thumbnail()),
            Err(RenderError::TooLarge { width, height }) => Err(Error::new(
                ErrorKind::TooLarge,
                format!("The image is too large to thumbnail ({width}×{height})"),
            )),
        }
    }

    /// The record of an uploaded local media item and its content hash, waiting for a
    /// reserved upload's content if need be.
    async fn uploaded(
        &self,
        server_name: &ServerName,
        media_id: &str,
        fetch: Fetch,
    ) -> Result<(MediaRecord, String), Error> {
        let deadline = tokio::time::Instant::now() + fetch.timeout.min(MAX_WAIT);
        loop {
            let record = self.local_record(server_name, media_id).await?;
            if fetch.unauthenticated && !self.config.unauthenticated_downloads {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    "This server serves media only on the authenticated /_matrix/client/v1/media paths",
                ));
            }
            if let Some(sha256) = record.sha256.clone() {
                return Ok((record, sha256));
            }
            if record.expires_ts.is_some_and(|t| t <= now_ms()) {
                return Err(not_found());
            }
            if tokio::time::Instant::now() + PENDING_POLL > deadline {
                return Err(Error::new(
                    ErrorKind::NotYetUploaded,
                    "The content of this media has not been uploaded yet",
                ));
            }
            tokio::time::sleep(PENDING_POLL).await;
        }
    }

    /// A local media record. Remote media would come over federation, which this server does
    /// not speak yet, so it is not found.
    async fn local_record(
        &self,
        server_name: &ServerName,
        media_id: &str,
    ) -> Result<MediaRecord, Error> {
        if !is_valid_media_id(media_id) {
            return Err(Error::new(
                ErrorKind::InvalidParam,
                "A media id consists of A-Z, a-z, 0-9, _ and -",
            ));
        }
        if server_name != self.server_name {
            return Err(Error::new(
                ErrorKind::NotFound,
                "Media from other servers is not available: this server does not federate yet",
            ));
        }
        self.stores
            .media
            .get_media(media_id)
            .await?
            .ok_or_else(not_found)
    }

    fn check_size(&self, content: &Bytes) -> Result<(), Error> {
        if content.len() as u64 > self.config.max_upload_bytes {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "Uploads are limited to {} bytes",
                    self.config.max_upload_bytes
                ),
            ));
        }
        Ok(())
    }

    fn mxc(&self, media_id: &str) -> OwnedMxcUri {
        OwnedMxcUri::from(format!("mxc://{}/{media_id}", self.server_name))
    }
}

/// Whether media of this type may be shown in the browser rather than downloaded: the spec's
/// list of types that cannot carry script when served with their own content type.
pub fn is_inline_safe(content_type: &str) -> bool {
    const SAFE: &[&str] = &[
        "text/css",
        "text/plain",
        "text/csv",
        "application/json",
        "application/ld+json",
        "image/jpeg",
        "image/gif",
        "image/png",
        "image/apng",
        "image/webp",
        "image/avif",
        "video/mp4",
        "video/webm",
        "video/ogg",
        "video/quicktime",
        "audio/mp4",
        "audio/webm",
        "audio/aac",
        "audio/mpeg",
        "audio/ogg",
        "audio/wave",
        "audio/wav",
        "audio/x-wav",
        "audio/x-pn-wav",
        "audio/flac",
        "audio/x-flac",
    ];
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    SAFE.contains(&essence.as_str())
}

/// The spec's media id alphabet; anything else could name a path outside the store.
fn is_valid_media_id(media_id: &str) -> bool {
    !media_id.is_empty()
        && media_id.len() <= 255
        && media_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Empty strings and control characters carry nothing worth storing.
fn clean(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|v| !v.trim().is_empty())
}

fn not_found() -> Error {
    Error::new(ErrorKind::NotFound, "Media not found")
}

fn cannot_thumbnail() -> Error {
    Error::new(
        ErrorKind::CannotThumbnail,
        "This media cannot be thumbnailed",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_spec_alphabet_makes_a_media_id() {
        assert!(is_valid_media_id("aZ09_-"));
        for bad in ["", "../etc", "a/b", "a.b", "a%2Fb", "é"] {
            assert!(!is_valid_media_id(bad), "{bad}");
        }
    }

    #[test]
    fn inline_is_reserved_for_types_that_cannot_script() {
        assert!(is_inline_safe("image/png"));
        assert!(is_inline_safe("Text/Plain; charset=utf-8"));
        assert!(!is_inline_safe("text/html"));
        assert!(!is_inline_safe("image/svg+xml"));
        assert!(!is_inline_safe("application/octet-stream"));
    }

    #[test]
    fn empty_metadata_is_dropped() {
        assert_eq!(clean(Some("  ".to_owned())), None);
        assert_eq!(
            clean(Some("a\nb.png".to_owned())),
            Some("ab.png".to_owned())
        );
    }
}

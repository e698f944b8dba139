use ::diesel::prelude::*;
use async_trait::async_trait;

use super::{
    Database,
    schema::{media, media_thumbnails},
};
use crate::storage::{Error, ErrorKind, MediaContentRef, MediaRecord, MediaStore, ThumbnailRecord};

type MediaRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
    Option<i64>,
);

#[async_trait]
impl MediaStore for Database {
    async fn create_media(&self, record: MediaRecord) -> Result<(), Error> {
        self.write(move |conn| {
            diesel::insert_into(media::table)
                .values((
                    media::media_id.eq(&record.media_id),
                    media::uploader.eq(&record.uploader),
                    media::content_type.eq(&record.content_type),
                    media::filename.eq(&record.filename),
                    media::sha256.eq(&record.sha256),
                    media::size.eq(record.size),
                    media::created_ts.eq(record.created_ts),
                    media::expires_ts.eq(record.expires_ts),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn get_media(&self, media_id: &str) -> Result<Option<MediaRecord>, Error> {
        let id = media_id.to_owned();
        let row: Option<MediaRow> = self
            .read(move |conn| {
                media::table
                    .filter(media::media_id.eq(id))
                    .select((
                        media::media_id,
                        media::uploader,
                        media::content_type,
                        media::filename,
                        media::sha256,
                        media::size,
                        media::created_ts,
                        media::expires_ts,
                    ))
                    .first(conn)
                    .optional()
            })
            .await?;
        Ok(row.map(
            |(media_id, uploader, content_type, filename, sha256, size, created_ts, expires_ts)| {
                MediaRecord {
                    media_id,
                    uploader,
                    content_type,
                    filename,
                    sha256,
                    size,
                    created_ts,
                    expires_ts,
                }
            },
        ))
    }

    async fn fill_media(&self, media_id: &str, content: MediaContentRef) -> Result<bool, Error> {
        let id = media_id.to_owned();
        let updated = self
            .write(move |conn| {
                diesel::update(
                    media::table
                        .filter(media::media_id.eq(id))
                        .filter(media::sha256.is_null()),
                )
                .set((
                    media::content_type.eq(content.content_type),
                    media::filename.eq(content.filename),
                    media::sha256.eq(Some(content.sha256)),
                    media::size.eq(content.size),
                    media::expires_ts.eq(None::<i64>),
                ))
                .execute(conn)
            })
            .await?;
        Ok(updated > 0)
    }

    async fn count_pending_media(&self, uploader: &str, now: i64) -> Result<u64, Error> {
        let uploader = uploader.to_owned();
        let count: i64 = self
            .read(move |conn| {
                media::table
                    .filter(media::uploader.eq(uploader))
                    .filter(media::sha256.is_null())
                    .filter(media::expires_ts.gt(now))
                    .count()
                    .get_result(conn)
            })
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn get_thumbnail(
        &self,
        media_id: &str,
        width: i64,
        height: i64,
        method: &str,
    ) -> Result<Option<ThumbnailRecord>, Error> {
        let (id, method) = (media_id.to_owned(), method.to_owned());
        let row: Option<(String, i64, i64, String, String, String, i64)> = self
            .read(move |conn| {
                media_thumbnails::table
                    .filter(media_thumbnails::media_id.eq(id))
                    .filter(media_thumbnails::width.eq(width))
                    .filter(media_thumbnails::height.eq(height))
                    .filter(media_thumbnails::method.eq(method))
                    .select((
                        media_thumbnails::media_id,
                        media_thumbnails::width,
                        media_thumbnails::height,
                        media_thumbnails::method,
                        media_thumbnails::content_type,
                        media_thumbnails::sha256,
                        media_thumbnails::size,
                    ))
                    .first(conn)
                    .optional()
            })
            .await?;
        Ok(row.map(
            |(media_id, width, height, method, content_type, sha256, size)| ThumbnailRecord {
                media_id,
                width,
                height,
                method,
                content_type,
                sha256,
                size,
            },
        ))
    }

    async fn put_thumbnail(&self, thumbnail: ThumbnailRecord) -> Result<(), Error> {
        let inserted = self
            .write(move |conn| {
                diesel::insert_into(media_thumbnails::table)
                    .values((
                        media_thumbnails::media_id.eq(&thumbnail.media_id),
                        media_thumbnails::width.eq(thumbnail.width),
                        media_thumbnails::height.eq(thumbnail.height),
                        media_thumbnails::method.eq(&thumbnail.method),
                        media_thumbnails::content_type.eq(&thumbnail.content_type),
                        media_thumbnails::sha256.eq(&thumbnail.sha256),
                        media_thumbnails::size.eq(thumbnail.size),
                    ))
                    .execute(conn)?;
                Ok(())
            })
            .await;
        match inserted {
            // diesel's MultiBackend has no ON CONFLICT; the loser of a race lands here.
            Err(e) if e.kind == ErrorKind::Conflict => Ok(()),
            other => other,
        }
    }
}

-- Media uploaded by local users. The content lives in a file named by its SHA-256 under the data
-- directory; `sha256` is NULL while an asynchronous upload (POST /create) still waits for it, and
-- `expires_ts` says until when that reservation holds.
CREATE TABLE media (
    media_id TEXT PRIMARY KEY NOT NULL,
    uploader TEXT NOT NULL,
    content_type TEXT,
    filename TEXT,
    sha256 TEXT,
    size BIGINT NOT NULL,
    created_ts BIGINT NOT NULL,
    expires_ts BIGINT
);
CREATE INDEX media_uploader ON media (uploader, created_ts);

-- Thumbnails generated on demand, one per media, size and method.
CREATE TABLE media_thumbnails (
    media_id TEXT NOT NULL,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL,
    method TEXT NOT NULL,
    content_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    PRIMARY KEY (media_id, width, height, method)
);

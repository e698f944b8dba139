-- Server-side key backups. Version numbers are never reused: a deleted version keeps its row
-- (marked deleted) so a client holding its number cannot write into a newer backup by mistake.
CREATE TABLE backup_versions (
    user_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    algorithm TEXT NOT NULL,
    auth_data TEXT NOT NULL,
    etag BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, version)
);

-- One encrypted room key per (backup, room, session); session_data is opaque to the server.
CREATE TABLE backup_keys (
    user_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    room_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    first_message_index BIGINT NOT NULL,
    forwarded_count BIGINT NOT NULL,
    is_verified BOOLEAN NOT NULL,
    session_data TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);

CREATE TABLE users (
    user_id TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT,
    is_guest BOOLEAN NOT NULL DEFAULT 0,
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    deactivated BOOLEAN NOT NULL DEFAULT 0,
    created_ts BIGINT NOT NULL
);

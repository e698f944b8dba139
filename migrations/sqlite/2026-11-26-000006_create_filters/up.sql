CREATE TABLE filters (
    user_id TEXT NOT NULL,
    filter_id TEXT NOT NULL,
    filter TEXT NOT NULL,
    PRIMARY KEY (user_id, filter_id)
);

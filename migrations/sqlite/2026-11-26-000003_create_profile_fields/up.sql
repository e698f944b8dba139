CREATE TABLE profile_fields (
    user_id TEXT NOT NULL,
    field TEXT NOT NULL,
    -- The field's JSON value, as text.
    value TEXT NOT NULL,
    PRIMARY KEY (user_id, field)
);

-- Which event redacts which: served events are redacted when a row names them.
CREATE TABLE redactions (
    event_id TEXT PRIMARY KEY NOT NULL,
    redacts TEXT NOT NULL
);
CREATE INDEX redactions_target ON redactions (redacts);

-- Counting instead of listing: an event's push outcome for the members who run the default
-- rules and whom it does not name is one row here, standing for every member joined when it
-- was appended but its sender. event_push_actions keeps only the members whose own rules
-- decided otherwise, so it gains rows that say "not notified" (notify = false).
CREATE TABLE event_push_broadcasts (
    room_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    sender TEXT NOT NULL,
    highlight BOOLEAN NOT NULL,
    thread_id TEXT,
    PRIMARY KEY (room_id, stream_ordering)
);
ALTER TABLE event_push_actions ADD COLUMN notify BOOLEAN NOT NULL DEFAULT TRUE;

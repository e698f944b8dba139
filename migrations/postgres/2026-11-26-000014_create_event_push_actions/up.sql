-- Which local members an event notifies (and highlights), decided by their push rules when
-- the event is appended, in the same transaction. Unread counts are the rows after the
-- member's read receipt.
CREATE TABLE event_push_actions (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    highlight BOOLEAN NOT NULL,
    PRIMARY KEY (room_id, user_id, stream_ordering)
);

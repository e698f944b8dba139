CREATE TABLE event_push_actions_wide (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    highlight BOOLEAN NOT NULL,
    PRIMARY KEY (room_id, user_id, stream_ordering)
);
INSERT INTO event_push_actions_wide (room_id, user_id, event_id, stream_ordering, highlight)
    SELECT a.room_id, a.user_id, e.event_id, a.stream_ordering, a.highlight
    FROM event_push_actions a JOIN events e ON e.stream_ordering = a.stream_ordering;
DROP TABLE event_push_actions;
ALTER TABLE event_push_actions_wide RENAME TO event_push_actions;

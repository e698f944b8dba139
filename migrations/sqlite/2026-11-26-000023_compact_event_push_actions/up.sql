-- A message notifies every member, so this table takes a row per member per message: the
-- largest share of a send's write. The row drops the event id (the stream ordering names the
-- event) and lives in its primary key's B-tree alone, instead of a rowid table plus an index.
CREATE TABLE event_push_actions_compact (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    highlight BOOLEAN NOT NULL,
    PRIMARY KEY (room_id, user_id, stream_ordering)
) WITHOUT ROWID;
INSERT INTO event_push_actions_compact (room_id, user_id, stream_ordering, highlight)
    SELECT room_id, user_id, stream_ordering, highlight FROM event_push_actions;
DROP TABLE event_push_actions;
ALTER TABLE event_push_actions_compact RENAME TO event_push_actions;

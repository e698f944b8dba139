ALTER TABLE event_push_actions ADD COLUMN event_id TEXT;
UPDATE event_push_actions a SET event_id = e.event_id
    FROM events e WHERE e.stream_ordering = a.stream_ordering;
ALTER TABLE event_push_actions ALTER COLUMN event_id SET NOT NULL;

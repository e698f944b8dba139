-- Notification counts per thread: a push action remembers the thread its event belongs to
-- (the root named by an m.thread relation), NULL for the main timeline. Earlier thread
-- replies are filled in from the relations table.
ALTER TABLE event_push_actions ADD COLUMN thread_id TEXT;
UPDATE event_push_actions SET thread_id = (
    SELECT r.relates_to
    FROM events e JOIN event_relations r ON r.event_id = e.event_id
    WHERE e.stream_ordering = event_push_actions.stream_ordering AND r.rel_type = 'm.thread'
);

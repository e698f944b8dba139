-- A message notifies every member, so this table takes a row per member per message: the
-- largest share of a send's write. The event id goes (the stream ordering names the event).
ALTER TABLE event_push_actions DROP COLUMN event_id;

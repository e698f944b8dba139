ALTER TABLE event_push_actions DROP COLUMN thread_id;

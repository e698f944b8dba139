DELETE FROM event_push_actions WHERE NOT notify;
ALTER TABLE event_push_actions DROP COLUMN notify;
DROP TABLE event_push_broadcasts;

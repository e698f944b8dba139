DROP INDEX events_state_history;
DROP INDEX events_room_state_history;

DROP INDEX events_room_ts;

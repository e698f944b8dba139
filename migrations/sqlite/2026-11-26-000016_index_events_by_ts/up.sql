-- /timestamp_to_event looks events up by their origin_server_ts within a room.
CREATE INDEX events_room_ts ON events (room_id, origin_server_ts);

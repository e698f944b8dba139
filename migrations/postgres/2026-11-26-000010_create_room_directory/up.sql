-- Rooms published in this server's public room directory.
CREATE TABLE room_directory (
    room_id TEXT PRIMARY KEY NOT NULL
);

DROP TABLE room_aliases;

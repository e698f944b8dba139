DROP TABLE room_directory;

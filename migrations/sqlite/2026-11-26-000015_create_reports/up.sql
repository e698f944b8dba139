-- Reports of events, rooms and users to this server's administrators. What is reported is
-- kept as it was named (the event or user may be gone by the time someone reads the report).
CREATE TABLE reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reporter TEXT NOT NULL,
    room_id TEXT,
    event_id TEXT,
    user_id TEXT,
    reason TEXT NOT NULL,
    ts BIGINT NOT NULL
);

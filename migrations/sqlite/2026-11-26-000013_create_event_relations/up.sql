-- Relations between events (`content."m.relates_to"`): edits, annotations, references, threads.
-- One row per relating event, written with the event; removed when that event is redacted.
CREATE TABLE event_relations (
    event_id TEXT PRIMARY KEY NOT NULL,
    room_id TEXT NOT NULL,
    relates_to TEXT NOT NULL,
    rel_type TEXT NOT NULL,
    event_type TEXT NOT NULL,
    sender TEXT NOT NULL,
    aggregation_key TEXT,
    origin_server_ts BIGINT NOT NULL,
    stream_ordering BIGINT NOT NULL
);
CREATE INDEX event_relations_target ON event_relations (relates_to, stream_ordering);
CREATE INDEX event_relations_room_type ON event_relations (room_id, rel_type, stream_ordering);

-- Events stored before this table existed.
INSERT INTO event_relations
SELECT event_id, room_id,
       json_extract(json, '$.content."m.relates_to".event_id'),
       json_extract(json, '$.content."m.relates_to".rel_type'),
       event_type, sender,
       CASE WHEN json_type(json, '$.content."m.relates_to".key') = 'text'
            THEN json_extract(json, '$.content."m.relates_to".key') END,
       origin_server_ts, stream_ordering
FROM events
WHERE json_type(json, '$.content."m.relates_to".event_id') = 'text'
  AND json_type(json, '$.content."m.relates_to".rel_type') = 'text'
  AND event_id NOT IN (SELECT redacts FROM redactions);

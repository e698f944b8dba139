-- History visibility asks, per room, how one piece of state (a user's membership, the room's
-- history_visibility) changed over time; sync asks how a user's memberships changed across
-- rooms. Both read state events by type and state key in stream order.
CREATE INDEX events_room_state_history ON events (room_id, event_type, state_key, stream_ordering)
    WHERE state_key IS NOT NULL;
CREATE INDEX events_state_history ON events (event_type, state_key, stream_ordering)
    WHERE state_key IS NOT NULL;

DROP TABLE event_txn_ids;
DROP TABLE forward_extremities;
DROP TABLE current_state;
DROP TABLE events;
DROP TABLE rooms;

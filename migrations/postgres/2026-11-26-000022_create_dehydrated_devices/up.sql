-- MSC3814 dehydrated devices: at most one per user. The device itself is an ordinary row in
-- `devices` (without tokens), so its keys and to-device messages work as for any device; this
-- table marks it and keeps the client's encrypted pickle.
CREATE TABLE dehydrated_devices (
    user_id TEXT NOT NULL PRIMARY KEY,
    device_id TEXT NOT NULL,
    device_data TEXT NOT NULL
);

-- To-device messages waiting for their device. A message goes once the device syncs with a
-- token past it (the acknowledgement the spec defines).
CREATE TABLE to_device (
    stream_id BIGSERIAL PRIMARY KEY,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    event_type TEXT NOT NULL,
    content TEXT NOT NULL
);
CREATE INDEX to_device_recipient ON to_device (user_id, device_id, stream_id);

-- Transaction ids of /sendToDevice, so a retried request is not delivered twice.
CREATE TABLE to_device_txns (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

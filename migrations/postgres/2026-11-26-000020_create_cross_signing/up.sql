-- Whose device list changed, in order: a device's keys uploaded or replaced, a device deleted,
-- cross-signing keys or signatures changed. Syncs and /keys/changes read the users that
-- changed between two positions.
CREATE TABLE device_list_changes (
    stream_id BIGSERIAL PRIMARY KEY,
    user_id TEXT NOT NULL
);

-- A user's cross-signing keys, one per usage (master, self_signing, user_signing).
CREATE TABLE cross_signing_keys (
    user_id TEXT NOT NULL,
    key_type TEXT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, key_type)
);

-- Signatures uploaded for a device or a cross-signing key (target_key_id is the device id or
-- the key's public part), kept apart from the signed JSON so re-uploads do not drop them.
CREATE TABLE key_signatures (
    target_user_id TEXT NOT NULL,
    target_key_id TEXT NOT NULL,
    signer_user_id TEXT NOT NULL,
    signer_key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id)
);

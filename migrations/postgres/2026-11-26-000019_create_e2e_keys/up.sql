-- End-to-end encryption keys as clients upload them; the server stores and hands them out,
-- never reads the secrets they protect.
CREATE TABLE device_keys (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    keys_json TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

-- One-time keys, each claimed (and deleted) once.
CREATE TABLE one_time_keys (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, key_id)
);

-- The fallback key per algorithm, handed out when one-time keys run out.
CREATE TABLE fallback_keys (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id TEXT NOT NULL,
    key_json TEXT NOT NULL,
    used BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, device_id, algorithm)
);

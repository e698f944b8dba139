DROP TABLE fallback_keys;
DROP TABLE one_time_keys;
DROP TABLE device_keys;

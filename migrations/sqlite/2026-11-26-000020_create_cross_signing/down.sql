DROP TABLE key_signatures;
DROP TABLE cross_signing_keys;
DROP TABLE device_list_changes;

DROP TABLE backup_keys;
DROP TABLE backup_versions;

DROP TABLE to_device_txns;
DROP TABLE to_device;

DROP TABLE dehydrated_devices;

DROP TABLE profile_fields;

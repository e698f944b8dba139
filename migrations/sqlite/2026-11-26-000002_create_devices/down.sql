DROP TABLE access_tokens;
DROP TABLE devices;

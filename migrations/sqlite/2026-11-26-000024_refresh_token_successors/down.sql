ALTER TABLE access_tokens DROP COLUMN retires_refresh_hash;
ALTER TABLE refresh_tokens DROP COLUMN next_token_hash;

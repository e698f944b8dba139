-- The spec's refresh rule: a used refresh token stays valid until the new access token or
-- refresh token is used, so a client whose /refresh response was lost can repeat it. A used
-- refresh token points at its successor; a new access token names the refresh token its
-- first use retires.
ALTER TABLE refresh_tokens ADD COLUMN next_token_hash TEXT;
ALTER TABLE access_tokens ADD COLUMN retires_refresh_hash TEXT;

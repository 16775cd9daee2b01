-- A user's token generation: changing the password raises it, and a token issued
-- under an older generation is no longer accepted.
ALTER TABLE users ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;

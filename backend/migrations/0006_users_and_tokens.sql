-- Each user's role; the users made before roles existed were admins.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';

-- API tokens for automation: the secret is kept only as its SHA-256 (it is random,
-- about 250 bits, so a slow hash would buy nothing).
CREATE TABLE api_tokens (
    name         TEXT PRIMARY KEY NOT NULL,
    role         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    last_used_at TEXT
);

-- The mail queue: every notification is stored before the first attempt to send it,
-- so a mail server that is down (or a restart) loses nothing.
CREATE TABLE mails (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- One mail per event (e.g. `job:12`): an event seen twice is mailed once.
    dedupe_key      TEXT UNIQUE,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    -- Kept from the first attempt on, so a mail sent twice is recognisably one mail.
    message_id      TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    -- Unix milliseconds: compared as numbers, not as formatted text.
    next_attempt_ms INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE INDEX mails_state ON mails (state, next_attempt_ms);

-- The notification address of a node outside a cluster; inside one, the cluster's
-- configuration holds it (and is kept in step by the same change).
CREATE TABLE notification_settings (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    email     TEXT NOT NULL
);

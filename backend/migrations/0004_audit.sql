-- The audit log: every change made through the API, every login, every failover.
CREATE TABLE audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Unix milliseconds: the retention purge compares numbers.
    at_ms    INTEGER NOT NULL,
    username TEXT,
    client   TEXT,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    outcome  TEXT NOT NULL,
    status   INTEGER,
    detail   TEXT
);
CREATE INDEX audit_at ON audit (at_ms);

-- Users of the API and the commander UI.
CREATE TABLE users (
    username      TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

-- The job log. Steps (with their log lines) are kept as one JSON document per job,
-- written whole on every change so a reader never sees half a step.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    title        TEXT NOT NULL,
    state        TEXT NOT NULL,
    progress     INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    started_at   TEXT,
    finished_at  TEXT,
    error        TEXT,
    acknowledged INTEGER NOT NULL DEFAULT 0,
    steps        TEXT NOT NULL
);
CREATE INDEX jobs_state ON jobs (state);

-- This node's identity and role; exactly one row.
CREATE TABLE node (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    node_id   TEXT NOT NULL,
    hostname  TEXT NOT NULL,
    role      TEXT NOT NULL,
    epoch     INTEGER NOT NULL DEFAULT 0
);

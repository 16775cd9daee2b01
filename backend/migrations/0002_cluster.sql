-- The cluster's configuration as one JSON document: the master writes it and pushes
-- it to the slave on every change, so a new master knows what the old one knew.
CREATE TABLE cluster (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    config    TEXT NOT NULL
);

-- OpenSSH public keys this node's SSH server accepts (the master's after "Prepare
-- slave"; the slave's after "Add slave").
CREATE TABLE trusted_keys (
    key_data TEXT PRIMARY KEY NOT NULL,
    key_line TEXT NOT NULL,
    added_at TEXT NOT NULL
);

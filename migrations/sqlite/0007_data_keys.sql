-- Per-person data keys (src/vault); see the PostgreSQL migration.
CREATE TABLE data_keys
(
    subject    TEXT PRIMARY KEY,
    wrapped    BLOB,
    master_key TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    erased_at  TEXT
);

CREATE TABLE master_key
(
    one        INTEGER PRIMARY KEY CHECK (one = 1),
    key_id     TEXT NOT NULL,
    changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Key material generated on first start (see migrations/postgres/0003).

CREATE TABLE signing_keys
(
    kid         TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    private_der BLOB NOT NULL,
    public_raw  BLOB NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    retired_at  TEXT
);

CREATE TABLE server_secrets
(
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

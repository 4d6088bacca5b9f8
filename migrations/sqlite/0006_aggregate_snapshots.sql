-- See migrations/postgres/0007.
CREATE TABLE aggregate_snapshots
(
    aggregate_type TEXT    NOT NULL,
    aggregate_id   TEXT    NOT NULL,
    last_sequence  INTEGER NOT NULL CHECK (last_sequence > 0),
    format         TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    taken_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (aggregate_type, aggregate_id)
);

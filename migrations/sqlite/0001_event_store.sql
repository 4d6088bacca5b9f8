-- The event store on SQLite (the embedded default; one instance).
--
-- SQLite runs one write transaction at a time, so a position assigned at
-- insert is in commit order: `global_position` alone is a gap-free cursor.
-- It is an explicit column (the implicit rowid may be renumbered by VACUUM),
-- assigned by the trigger below. (type, id, sequence) stays the primary key:
-- sqlite-es reports only a primary-key violation as a concurrency conflict.
CREATE TABLE events
(
    aggregate_type  TEXT    NOT NULL,
    aggregate_id    TEXT    NOT NULL,
    sequence        INTEGER NOT NULL CHECK (sequence >= 0),
    event_type      TEXT    NOT NULL,
    event_version   TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    metadata        TEXT    NOT NULL,
    event_id        TEXT    NOT NULL DEFAULT (lower(
                        hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
                        substr(hex(randomblob(2)), 2) || '-' ||
                        substr('89ab', 1 + (abs(random()) % 4), 1) ||
                        substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))),
    global_position INTEGER,
    recorded_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE UNIQUE INDEX events_event_id ON events (event_id);
CREATE UNIQUE INDEX events_global_position ON events (global_position);
CREATE INDEX events_recorded_at ON events (recorded_at);

CREATE TRIGGER events_global_position AFTER INSERT ON events
BEGIN
    UPDATE events
       SET global_position = (SELECT COALESCE(MAX(global_position), 0) + 1 FROM events)
     WHERE rowid = NEW.rowid;
END;

-- sqlite-es expects it; eventauth never uses the framework's snapshots.
CREATE TABLE snapshots
(
    aggregate_type   TEXT    NOT NULL,
    aggregate_id     TEXT    NOT NULL,
    last_sequence    INTEGER NOT NULL CHECK (last_sequence >= 0),
    current_snapshot INTEGER NOT NULL CHECK (current_snapshot >= 0),
    payload          TEXT    NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

CREATE TABLE checkpoints
(
    name       TEXT PRIMARY KEY,
    last_pos   INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

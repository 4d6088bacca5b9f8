-- The state of an aggregate folded up to `last_sequence`, so a command on a
-- long stream loads the snapshot and the events after it instead of the
-- whole stream. A cache of the log, never its source: written after the
-- events it folds are committed, ignored when `format` (the state's shape
-- and fold, see eventauth::store::snapshot_format) is not this build's.
CREATE TABLE aggregate_snapshots
(
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    last_sequence  bigint      NOT NULL CHECK (last_sequence > 0),
    format         text        NOT NULL,
    state          jsonb       NOT NULL,
    taken_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id)
);

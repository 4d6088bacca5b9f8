-- The event store: postgres-es's `events` table plus what the design adds.
--
-- postgres-es names its columns in its INSERT, so the added columns are
-- filled by their defaults:
--   event_id         each event's own id (the framework copies one metadata
--                    map onto every event of a commit, so the id cannot live
--                    in metadata); becomes the NATS message id.
--   global_position  an order across aggregates. Alone it is NOT a safe
--                    cursor: a transaction that commits late would be skipped.
--   transaction_id   the writing transaction. Readers use the pair
--                    (transaction_id, global_position) as cursor and read only
--                    below the oldest running transaction (see reader.rs).
--   recorded_at      commit-side time, for exports by time range.
CREATE TABLE events
(
    aggregate_type  text                         NOT NULL,
    aggregate_id    text                         NOT NULL,
    sequence        bigint CHECK (sequence >= 0) NOT NULL,
    event_type      text                         NOT NULL,
    event_version   text                         NOT NULL,
    payload         jsonb                        NOT NULL,
    metadata        jsonb                        NOT NULL,
    event_id        uuid                         NOT NULL DEFAULT gen_random_uuid(),
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    transaction_id  xid8                         NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz                  NOT NULL DEFAULT now(),
    -- Optimistic concurrency: a second writer of the same sequence fails
    -- with a unique violation, which postgres-es reports as a conflict.
    PRIMARY KEY (aggregate_type, aggregate_id, sequence),
    UNIQUE (event_id)
);

CREATE INDEX events_global_order ON events (transaction_id, global_position);
CREATE INDEX events_recorded_at ON events (recorded_at);

-- postgres-es expects the snapshots table to exist; eventauth never uses the
-- framework's snapshot modes (they double-apply events in cqrs-es 0.5).
CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          json                                 NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- Wake readers when events commit. Notifications are delivered at commit
-- and collapsed per transaction; readers still poll, because an event may
-- commit while an older transaction holds the read horizon back.
CREATE FUNCTION events_notify() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('eventauth_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();

-- Where each consumer of the global stream is. One row per consumer; the
-- active instance locks its row per batch (FOR UPDATE NOWAIT), so a stale
-- instance can never write after another took over.
CREATE TABLE checkpoints
(
    name       text PRIMARY KEY,
    last_tx    xid8        NOT NULL DEFAULT '0',
    last_pos   bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Per-person data keys (src/vault): personal values in events, metadata and
-- snapshots are encrypted with the key of the person they belong to; the
-- key is stored wrapped by the master key. Erasing a person destroys the
-- key and leaves a tombstone (wrapped NULL), so no new key is ever made
-- for them and their old values read as erased.
CREATE TABLE data_keys
(
    subject    text PRIMARY KEY,
    wrapped    bytea,
    -- the id of the master key that wrapped it (a hash of that key)
    master_key text,
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at  timestamptz
);

-- The master key the store's data keys are wrapped with (its id): an
-- instance started with another key refuses to run.
CREATE TABLE master_key
(
    one        integer PRIMARY KEY CHECK (one = 1),
    key_id     text        NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);

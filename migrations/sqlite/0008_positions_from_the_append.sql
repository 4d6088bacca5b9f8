-- The store's append now numbers its rows itself (in the same statement,
-- so that the position comes back with it): the trigger numbers only rows
-- inserted without a position (bulk loads, older paths).
DROP TRIGGER events_global_position;

CREATE TRIGGER events_global_position AFTER INSERT ON events
WHEN NEW.global_position IS NULL
BEGIN
    UPDATE events
       SET global_position = (SELECT COALESCE(MAX(global_position), 0) + 1 FROM events)
     WHERE rowid = NEW.rowid;
END;

-- See migrations/postgres/0005. Ids are UUID blobs, times RFC 3339 text.
CREATE TABLE mail_outbox
(
    id              BLOB PRIMARY KEY,
    purpose         TEXT    NOT NULL,
    user_id         BLOB,
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            TEXT,
    created_at      TEXT    NOT NULL,
    expires_at      TEXT    NOT NULL,
    next_attempt_at TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    sent_at         TEXT,
    last_error      TEXT
);

CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
CREATE INDEX mail_outbox_recipient ON mail_outbox (lower(recipient), created_at);

-- Mail waiting to go out (and, without SMTP configured, the outbox an
-- operator reads). A row's body holds the link with its token until the
-- mail is sent; then the body is cleared.
CREATE TABLE mail_outbox
(
    id              uuid PRIMARY KEY,
    purpose         text        NOT NULL,
    user_id         uuid,
    recipient       text        NOT NULL,
    subject         text        NOT NULL,
    body            text,
    created_at      timestamptz NOT NULL,
    -- the link in it stops working then: no delivery after
    expires_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    sent_at         timestamptz,
    last_error      text
);

CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
CREATE INDEX mail_outbox_recipient ON mail_outbox (lower(recipient), created_at);

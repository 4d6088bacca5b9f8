-- Key material generated on first start, shared by every instance.

-- JWT signing keys. Exactly one is active; retired keys stay published in
-- the JWKS until their last token has expired.
CREATE TABLE signing_keys
(
    kid         text PRIMARY KEY,
    algorithm   text        NOT NULL,
    private_der bytea       NOT NULL,
    public_raw  bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz
);

CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE retired_at IS NULL;

-- Server secrets, e.g. the HMAC key of identifier claims (changing it would
-- orphan every claim, so it is generated once and kept).
CREATE TABLE server_secrets
(
    name       text PRIMARY KEY,
    value      bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

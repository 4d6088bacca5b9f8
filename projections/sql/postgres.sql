-- The read models, version 8 (projections::schema::VERSION).
-- Runs in the schema first on the search path: the live one, or the scratch
-- schema a replay or verify builds in. Everything here can be rebuilt from
-- the log; change it together with VERSION (a changed version makes the
-- next start rebuild and swap the tables).

CREATE TABLE IF NOT EXISTS users
(
    user_id              uuid PRIMARY KEY,
    email                text        NOT NULL,
    first_name           text        NOT NULL,
    last_name            text        NOT NULL,
    roles                jsonb       NOT NULL DEFAULT '[]',
    email_verified       boolean     NOT NULL DEFAULT false,
    disabled             boolean     NOT NULL DEFAULT false,
    locked_until         timestamptz,
    sessions_valid_after timestamptz,
    -- the one session exempt from that cutoff (the one a password was
    -- changed from)
    sessions_kept        uuid,
    tutorial_completed_at timestamptz,
    -- the profile beyond the names (NULL: unset)
    nickname             text,
    bio                  text,
    location             text,
    website              text,
    phone                text,
    birth_date           text,
    language             text,
    timezone             text,
    -- the picture's blob key (`<sha256>.<png|jpg>`)
    image_key            text,
    -- as the last index run left them (sorted)
    categories           jsonb       NOT NULL DEFAULT '[]',
    -- as last recorded (by a subscription event or a recalculation)
    subscription_plan    text,
    subscription_status  text        NOT NULL DEFAULT 'none',
    subscription_valid_until timestamptz,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    -- the user stream's sequence last applied (idempotent re-application)
    version              bigint      NOT NULL
);

-- counts kept by the projection, so a list never counts its table
CREATE TABLE IF NOT EXISTS counts
(
    name text PRIMARY KEY,
    n    bigint NOT NULL
);
INSERT INTO counts (name, n) VALUES ('users', 0) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS sessions
(
    session_id   uuid PRIMARY KEY,
    user_id      uuid        NOT NULL,
    surface      text        NOT NULL,
    remember_me  boolean     NOT NULL,
    client_ip    text,
    user_agent   text,
    auth_time    timestamptz NOT NULL,
    started_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    end_reason   text,
    refreshes    integer     NOT NULL DEFAULT 0,
    version      bigint      NOT NULL
);

CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id, started_at DESC);

CREATE TABLE IF NOT EXISTS organizations
(
    organization_id uuid PRIMARY KEY,
    kind            text        NOT NULL,
    name            text        NOT NULL,
    description     text,
    -- the collection it belongs to (classroom: facility; learner group:
    -- classroom)
    parent_id       uuid,
    -- a facility's settings (Kolibri's names)
    settings        jsonb,
    -- kept by the projection, so counting never scans memberships
    members         bigint      NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    version         bigint      NOT NULL
);

CREATE TABLE IF NOT EXISTS memberships
(
    organization_id uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    -- derived from the pair (aggregates::membership_id): Kolibri names
    -- memberships
    membership_id   uuid        NOT NULL,
    joined_at       timestamptz NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);

-- Kolibri facility users (the `users` table holds the users of email
-- surfaces); the count per facility is kept in `counts` as
-- `facility_users:<facility id>`.
CREATE TABLE IF NOT EXISTS facility_users
(
    user_id     uuid PRIMARY KEY,
    facility_id uuid        NOT NULL,
    username    text        NOT NULL,
    full_name   text        NOT NULL,
    gender      text,
    birth_year  text,
    id_number   text,
    date_joined timestamptz NOT NULL,
    deleted_at  timestamptz,
    -- holds the global administrator role (Kolibri's superuser)
    is_superuser boolean    NOT NULL DEFAULT false,
    -- as on `users`: the latest sessions cutoff and the session it spared
    sessions_valid_after timestamptz,
    sessions_kept uuid,
    version     bigint      NOT NULL
);

-- Kolibri roles per collection (admin, coach, classroom assignable coach)
-- of facility users; `facility_id` is the user's facility.
CREATE TABLE IF NOT EXISTS collection_roles
(
    role_id       uuid PRIMARY KEY,
    user_id       uuid NOT NULL,
    facility_id   uuid NOT NULL,
    collection_id uuid NOT NULL,
    kind          TEXT NOT NULL,
    assigned_at   timestamptz NOT NULL
);


-- Roles defined by policies (Open Archiver's CASL roles); users hold them
-- by slug. The policies as JSON text.
CREATE TABLE IF NOT EXISTS policy_roles
(
    role_id    uuid PRIMARY KEY,
    name       text        NOT NULL,
    slug       text        NOT NULL,
    policies   text        NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version    bigint      NOT NULL
);

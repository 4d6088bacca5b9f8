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

CREATE INDEX IF NOT EXISTS users_email ON users (lower(email));
-- one index per sort key of the admin list (ties broken by id)
CREATE INDEX IF NOT EXISTS users_created ON users (created_at, user_id);
CREATE INDEX IF NOT EXISTS users_updated ON users (updated_at, user_id);
CREATE INDEX IF NOT EXISTS users_sort_email ON users (email, user_id);
CREATE INDEX IF NOT EXISTS users_first_name ON users (first_name, user_id);
CREATE INDEX IF NOT EXISTS users_last_name ON users (last_name, user_id);
-- the admin search: a substring of this text (pg_trgm, migration 0006)
CREATE INDEX IF NOT EXISTS users_search ON users
    USING gin ((lower(email) || ' ' || lower(first_name) || ' ' || lower(last_name)) gin_trgm_ops);

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

CREATE INDEX IF NOT EXISTS organizations_kind ON organizations (kind, lower(name));
CREATE INDEX IF NOT EXISTS organizations_parent ON organizations (parent_id);

CREATE TABLE IF NOT EXISTS memberships
(
    organization_id uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    joined_at       timestamptz NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);

CREATE INDEX IF NOT EXISTS memberships_user ON memberships (user_id, joined_at);

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

-- Lists show live users by username (per facility, or all of them for a
-- superuser): partial indexes over live rows, covering what the page-id
-- scan reads, so deep pages are index-only scans.
CREATE INDEX IF NOT EXISTS facility_users_username
    ON facility_users (facility_id, lower(username), user_id) INCLUDE (username)
    WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS facility_users_all_username
    ON facility_users (lower(username), user_id) INCLUDE (username, facility_id)
    WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS facility_users_joined
    ON facility_users (facility_id, date_joined, user_id) WHERE deleted_at IS NULL;

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

CREATE INDEX IF NOT EXISTS collection_roles_user ON collection_roles (user_id);
CREATE INDEX IF NOT EXISTS collection_roles_kind ON collection_roles (facility_id, kind, user_id);

CREATE INDEX IF NOT EXISTS facility_users_search ON facility_users
    USING gin ((lower(username) || ' ' || lower(full_name)) gin_trgm_ops);

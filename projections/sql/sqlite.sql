-- The read models, version 8 (projections::schema::VERSION); see
-- postgres.sql. `{schema}` is `main` for the live tables or `temp` for the
-- ones a replay or verify builds. Ids are UUID blobs, times RFC 3339 text,
-- roles a JSON array.

CREATE TABLE IF NOT EXISTS {schema}.users
(
    user_id              BLOB PRIMARY KEY,
    email                TEXT    NOT NULL,
    first_name           TEXT    NOT NULL,
    last_name            TEXT    NOT NULL,
    roles                TEXT    NOT NULL DEFAULT '[]',
    email_verified       BOOLEAN NOT NULL DEFAULT false,
    disabled             BOOLEAN NOT NULL DEFAULT false,
    locked_until         TEXT,
    sessions_valid_after TEXT,
    sessions_kept        BLOB,
    tutorial_completed_at TEXT,
    nickname             TEXT,
    bio                  TEXT,
    location             TEXT,
    website              TEXT,
    phone                TEXT,
    birth_date           TEXT,
    language             TEXT,
    timezone             TEXT,
    image_key            TEXT,
    categories           TEXT    NOT NULL DEFAULT '[]',
    subscription_plan    TEXT,
    subscription_status  TEXT    NOT NULL DEFAULT 'none',
    subscription_valid_until TEXT,
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL,
    version              INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS {schema}.counts
(
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
);
INSERT OR IGNORE INTO {schema}.counts (name, n) VALUES ('users', 0);

CREATE TABLE IF NOT EXISTS {schema}.sessions
(
    session_id   BLOB PRIMARY KEY,
    user_id      BLOB    NOT NULL,
    surface      TEXT    NOT NULL,
    remember_me  BOOLEAN NOT NULL,
    client_ip    TEXT,
    user_agent   TEXT,
    auth_time    TEXT    NOT NULL,
    started_at   TEXT    NOT NULL,
    last_seen_at TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL,
    ended_at     TEXT,
    end_reason   TEXT,
    refreshes    INTEGER NOT NULL DEFAULT 0,
    version      INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS {schema}.sessions_user ON sessions (user_id, started_at DESC);

CREATE TABLE IF NOT EXISTS {schema}.organizations
(
    organization_id BLOB PRIMARY KEY,
    kind            TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    description     TEXT,
    parent_id       BLOB,
    settings        TEXT,
    members         INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT    NOT NULL,
    version         INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS {schema}.memberships
(
    organization_id BLOB NOT NULL,
    user_id         BLOB NOT NULL,
    -- derived from the pair (aggregates::membership_id): Kolibri names
    -- memberships
    membership_id   BLOB NOT NULL,
    joined_at       TEXT NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);

CREATE TABLE IF NOT EXISTS {schema}.facility_users
(
    user_id     BLOB PRIMARY KEY,
    facility_id BLOB    NOT NULL,
    username    TEXT    NOT NULL,
    full_name   TEXT    NOT NULL,
    gender      TEXT,
    birth_year  TEXT,
    id_number   TEXT,
    date_joined TEXT    NOT NULL,
    deleted_at  TEXT,
    -- holds the global administrator role (Kolibri's superuser)
    is_superuser INTEGER    NOT NULL DEFAULT 0,
    sessions_valid_after TEXT,
    sessions_kept BLOB,
    version     INTEGER NOT NULL
);

-- Kolibri roles per collection (admin, coach, classroom assignable coach)
-- of facility users; `facility_id` is the user's facility.
CREATE TABLE IF NOT EXISTS {schema}.collection_roles
(
    role_id       BLOB PRIMARY KEY,
    user_id       BLOB NOT NULL,
    facility_id   BLOB NOT NULL,
    collection_id BLOB NOT NULL,
    kind          TEXT NOT NULL,
    assigned_at   TEXT NOT NULL
);


-- Roles defined by policies (Open Archiver's CASL roles); users hold them
-- by slug. The policies as JSON text.
CREATE TABLE IF NOT EXISTS {schema}.policy_roles
(
    role_id    BLOB PRIMARY KEY,
    name       TEXT    NOT NULL,
    slug       TEXT    NOT NULL,
    policies   TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    version    INTEGER NOT NULL
);

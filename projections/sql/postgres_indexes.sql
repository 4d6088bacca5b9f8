-- The read side's indexes of the read models (see postgres.sql): what lists,
-- sorts and searches use. Created with the tables on a live store; a replay
-- builds them once its tables are filled (much cheaper than keeping them
-- up to date row by row), before it swaps the tables in.

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

CREATE INDEX IF NOT EXISTS organizations_kind ON organizations (kind, lower(name));

CREATE INDEX IF NOT EXISTS organizations_parent ON organizations (parent_id);

CREATE INDEX IF NOT EXISTS memberships_user ON memberships (user_id, joined_at);
CREATE UNIQUE INDEX IF NOT EXISTS memberships_id ON memberships (membership_id);

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

CREATE INDEX IF NOT EXISTS collection_roles_user ON collection_roles (user_id);

CREATE INDEX IF NOT EXISTS collection_roles_kind ON collection_roles (facility_id, kind, user_id);

CREATE INDEX IF NOT EXISTS facility_users_search ON facility_users
    USING gin ((lower(username) || ' ' || lower(full_name)) gin_trgm_ops);

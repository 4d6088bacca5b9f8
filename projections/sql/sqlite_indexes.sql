-- The read side's indexes of the read models (see sqlite.sql): what lists,
-- sorts and searches use. Created with the tables on a live store; a replay
-- builds them once its tables are filled (much cheaper than keeping them
-- up to date row by row), before it swaps the tables in.

CREATE INDEX IF NOT EXISTS {schema}.users_email ON users (lower(email));

CREATE INDEX IF NOT EXISTS {schema}.users_created ON users (created_at, user_id);

CREATE INDEX IF NOT EXISTS {schema}.users_updated ON users (updated_at, user_id);

CREATE INDEX IF NOT EXISTS {schema}.users_sort_email ON users (email, user_id);

CREATE INDEX IF NOT EXISTS {schema}.users_first_name ON users (first_name, user_id);

CREATE INDEX IF NOT EXISTS {schema}.users_last_name ON users (last_name, user_id);

CREATE INDEX IF NOT EXISTS {schema}.organizations_kind ON organizations (kind, lower(name));

CREATE INDEX IF NOT EXISTS {schema}.organizations_parent ON organizations (parent_id);

CREATE INDEX IF NOT EXISTS {schema}.memberships_user ON memberships (user_id, joined_at);
CREATE UNIQUE INDEX IF NOT EXISTS {schema}.memberships_id ON memberships (membership_id);

-- Partial indexes over live rows, covering the page-id scan.
CREATE INDEX IF NOT EXISTS {schema}.facility_users_username
    ON facility_users (facility_id, lower(username), user_id, username)
    WHERE deleted_at IS NULL;

CREATE INDEX IF NOT EXISTS {schema}.facility_users_all_username
    ON facility_users (lower(username), user_id, username, facility_id)
    WHERE deleted_at IS NULL;

CREATE INDEX IF NOT EXISTS {schema}.facility_users_joined
    ON facility_users (facility_id, date_joined, user_id) WHERE deleted_at IS NULL;

CREATE INDEX IF NOT EXISTS {schema}.collection_roles_user ON collection_roles (user_id);

CREATE INDEX IF NOT EXISTS {schema}.collection_roles_kind ON collection_roles (facility_id, kind, user_id);

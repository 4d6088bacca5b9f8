-- Trigram indexes make the admin user search (a substring of email or
-- names) an index lookup instead of a scan. pg_trgm ships with PostgreSQL
-- (contrib) and is a trusted extension: a database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

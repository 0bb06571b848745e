-- Queries of the migrations runner and of the readiness probe.

-- name: migrations_lock
-- Held for the whole run so replicas starting together apply each file once.
SELECT pg_advisory_lock($1::bigint);

-- name: migrations_unlock
SELECT pg_advisory_unlock($1::bigint);

-- name: migrations_create_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: migrations_applied
SELECT version, name, checksum FROM schema_migrations ORDER BY version;

-- name: migrations_record
INSERT INTO schema_migrations (version, name, checksum) VALUES ($1::integer, $2::text, $3::text);

-- name: migrations_latest
SELECT coalesce(max(version), 0) AS version FROM schema_migrations;

-- The record of applied migrations (sql/NNN_*.sql), written by VectorStore.migrate.

-- name: create_schema_migrations
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now())

-- name: applied_migration_checksums
SELECT version, name, checksum FROM schema_migrations

-- name: record_migration
INSERT INTO schema_migrations (version, name, checksum) VALUES (%(version)s, %(name)s, %(checksum)s)

-- name: applied_migrations
SELECT version, name, applied_at FROM schema_migrations ORDER BY version

-- Administration of the PostgreSQL server itself: databases and settings (the embedded server's
-- tuning, the `dagster` database). Names are trusted constants of the code, formatted with
-- psycopg.sql.Identifier; values are bind parameters or psycopg.sql.Literal.

-- name: database_exists
SELECT 1 FROM pg_database WHERE datname = %(name)s

-- name: create_database
CREATE DATABASE {name}

-- name: configured_setting
-- The value a setting has in the configuration files (ALTER SYSTEM writes postgresql.auto.conf).
SELECT setting FROM pg_file_settings WHERE name = %(name)s ORDER BY seqno DESC LIMIT 1

-- name: alter_system_set
ALTER SYSTEM SET {name} = {value}

-- name: reload_configuration
SELECT pg_reload_conf()

-- name: settings_pending_restart
SELECT count(*) AS pending FROM pg_settings WHERE name = ANY(%(names)s) AND pending_restart

-- name: other_client_backends
SELECT count(*) AS backends FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()

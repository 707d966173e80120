-- Questions about the database itself.

-- name: liveness_probe
-- A round trip that tells whether a kept connection still reaches its server.
SELECT 1

-- name: relation_exists
SELECT to_regclass(%(name)s) IS NOT NULL AS found

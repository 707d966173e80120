-- Share links (lib/share/links.py). Every value is a bind parameter.

-- name: insert_share_link
INSERT INTO share_links (link_id, token_sha256, events, expires_at)
VALUES (%(link_id)s, %(token_sha256)s, %(events)s::text[], now() + %(valid_for)s::interval)
RETURNING created_at, expires_at

-- name: open_share_link
-- The events of a link that is neither expired nor revoked (no row otherwise: the caller cannot
-- tell a revoked link from one that never existed, and neither can the person holding it).
SELECT link_id, events, expires_at FROM share_links
WHERE token_sha256 = %(token_sha256)s AND revoked_at IS NULL AND expires_at > now()

-- name: list_share_links
SELECT link_id, events, created_at, expires_at, revoked_at, (revoked_at IS NULL AND expires_at > now()) AS active
FROM share_links ORDER BY created_at, link_id

-- name: revoke_share_link
UPDATE share_links SET revoked_at = now() WHERE link_id = %(link_id)s AND revoked_at IS NULL
RETURNING link_id

-- name: ensure_server_key
-- The first replica to ask creates the key; the others (and later runs) read the same one.
INSERT INTO server_keys (name, key) VALUES (%(name)s, %(key)s) ON CONFLICT (name) DO NOTHING

-- name: server_key
SELECT key FROM server_keys WHERE name = %(name)s

-- name: stored_photos
-- Photos of an event, for the participant page to send (after their signed URL was checked).
SELECT photo_id, path, width, height FROM photos WHERE event = %(event)s AND photo_id = ANY(%(photo_ids)s::text[])

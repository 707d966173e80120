-- Share links (lib/share/links.py): a link opens the participant page for some events only. The
-- token itself is never stored: only its sha256, so a copy of the database opens no page.
CREATE TABLE IF NOT EXISTS share_links (
    link_id      text        PRIMARY KEY,        -- 'l' + 10 hex chars of the token's sha256 (for --list/--revoke)
    token_sha256 bytea       NOT NULL UNIQUE,
    events       text[]      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz NULL
);

-- Keys the participant server signs its photo URLs with (lib/share/signing.py). Kept in the database
-- so that every replica of `face-pipeline serve` signs and checks alike with no setting to share;
-- anyone who can read this table can read the photos too, so it adds no new secret to guard.
CREATE TABLE IF NOT EXISTS server_keys (
    name       text        PRIMARY KEY,
    key        bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- People: faces grouped into persons across events (lib/people). A person's id never changes once
-- given; what people decide (a name, a merge, a face moved to someone or out, a hidden person) is kept
-- in these tables and no re-cluster, re-run or re-embedding undoes it.
CREATE TABLE IF NOT EXISTS people (
    person_id   text        PRIMARY KEY,           -- 'p' + 12 hex chars of the sha256 of its first face id
    name        text        NULL,                  -- given by a person, never by the clustering
    hidden      boolean     NOT NULL DEFAULT false,
    merged_into text        NULL REFERENCES people (person_id),  -- a merge: this id now means that person
    decided     boolean     NOT NULL DEFAULT false, -- a person made a decision about it (name, merge, moves)
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- A name means one person (case-insensitively) among the people still in use.
CREATE UNIQUE INDEX IF NOT EXISTS people_name_idx ON people (lower(name)) WHERE name IS NOT NULL AND merged_into IS NULL;

-- Which person each face is. A face without a row is not grouped yet; a row with person_id NULL is a
-- stranger (a one-off face, or one a person moved out). `pinned` rows are people's decisions: the
-- clustering reads them and never writes them.
CREATE TABLE IF NOT EXISTS face_people (
    face_id    text        PRIMARY KEY REFERENCES faces (face_id) ON DELETE CASCADE,
    person_id  text        NULL REFERENCES people (person_id),
    pinned     boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS face_people_person_idx ON face_people (person_id);

-- One row per photo of an event. A photo's identity is its content hash: renaming a file keeps
-- its faces and vectors; the same bytes twice in one event count once.
CREATE TABLE IF NOT EXISTS photos (
    event          text        NOT NULL,
    photo_id       text        NOT NULL,          -- sha256 of the file's bytes (32 hex chars)
    path           text        NOT NULL,          -- relative to the event folder
    size_bytes     bigint      NOT NULL,
    width          integer     NOT NULL,          -- as a person sees it (EXIF orientation applied)
    height         integer     NOT NULL,
    captured_at    timestamp   NULL,              -- EXIF DateTimeOriginal when present
    detector_model text        NOT NULL,
    face_count     integer     NOT NULL,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event, photo_id)
);

-- One row per detected face. face_id derives from (event, photo, detector, face index), never from
-- a run counter, so re-running an event produces the same ids.
CREATE TABLE IF NOT EXISTS faces (
    face_id        text    PRIMARY KEY,
    event          text    NOT NULL,
    photo_id       text    NOT NULL,
    face_index     integer NOT NULL,              -- 0 = largest face of the photo
    detector_model text    NOT NULL,
    box_left       integer NOT NULL,              -- pixels of the oriented, full-size photo
    box_top        integer NOT NULL,
    box_right      integer NOT NULL,
    box_bottom     integer NOT NULL,
    score          real    NOT NULL,
    landmarks      real[]  NOT NULL,              -- 5 (x, y) points, photo pixels
    crop_path      text    NOT NULL,              -- relative to the data folder
    FOREIGN KEY (event, photo_id) REFERENCES photos (event, photo_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS faces_event_photo_idx ON faces (event, photo_id);

-- One identity vector per (face, model). The column has no fixed dimension so several models can
-- live side by side; each model gets its own partial HNSW index on a cast to its dimension.
CREATE TABLE IF NOT EXISTS face_vectors (
    face_id   text   NOT NULL REFERENCES faces (face_id) ON DELETE CASCADE,
    model_id  text   NOT NULL,
    event     text   NOT NULL,
    embedding vector NOT NULL,
    PRIMARY KEY (face_id, model_id)
);
CREATE INDEX IF NOT EXISTS face_vectors_event_model_idx ON face_vectors (event, model_id);

-- Which model's vectors answer lookups for an event. A re-embedding writes the new model's
-- vectors, then flips `serving` in the same transaction: lookups never see a half-embedded event.
CREATE TABLE IF NOT EXISTS event_models (
    event          text        NOT NULL,
    model_id       text        NOT NULL,
    detector_model text        NOT NULL,
    photo_count    integer     NOT NULL,
    face_count     integer     NOT NULL,
    completed_at   timestamptz NOT NULL DEFAULT now(),
    serving        boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (event, model_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS event_models_one_serving_idx ON event_models (event) WHERE serving;

-- Files that could not be used, with the reason, so users can see what was left out and why.
CREATE TABLE IF NOT EXISTS skipped_files (
    event   text        NOT NULL,
    path    text        NOT NULL,
    reason  text        NOT NULL,
    message text        NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event, path)
);

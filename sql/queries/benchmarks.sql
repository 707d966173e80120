-- Statements of the benchmarks only (face_pipeline/benchmarks): the face_recognition-style baseline's
-- row-by-row writes, and the bench database's bookkeeping. Identifiers and settings that are
-- formatted in ({name}, {value}) are read from pg_indexes or validated by the benchmark's CLI.

-- name: bench_hnsw_index_definitions
SELECT indexname, indexdef FROM pg_indexes
WHERE tablename = 'face_vectors' AND indexdef ILIKE '%%USING hnsw%%' ORDER BY indexname

-- name: bench_create_bare_vectors
CREATE TEMP TABLE bare_vectors (face_id text, model_id text, event text, embedding vector)

-- name: bench_copy_bare_vectors
COPY bare_vectors (face_id, model_id, event, embedding) FROM STDIN WITH (FORMAT BINARY)

-- name: bench_empty_tables
TRUNCATE photos, faces, face_vectors, event_models, skipped_files CASCADE

-- name: bench_drop_index
DROP INDEX IF EXISTS {name}

-- name: bench_count_photos
SELECT count(*) FROM photos

-- name: bench_face_exists
SELECT EXISTS (SELECT 1 FROM face_vectors WHERE face_id = %(face_id)s)

-- name: bench_count_vectors_of_model
SELECT count(*) FROM face_vectors WHERE model_id = %(model_id)s

-- name: bench_analyze
ANALYZE face_vectors; ANALYZE faces; ANALYZE photos

-- name: bench_set_maintenance_work_mem
SET maintenance_work_mem = {value}

-- name: bench_set_parallel_maintenance_workers
SET max_parallel_maintenance_workers = {value}

-- name: bench_relation_size
-- A relation's size; for a partitioned one (a table or an index), the sum over its partitions.
SELECT CASE WHEN c.relkind IN ('p', 'I')
            THEN (SELECT coalesce(sum(pg_relation_size(t.relid)), 0) FROM pg_partition_tree(c.oid) t)
            ELSE pg_relation_size(c.oid) END::bigint
FROM pg_class c WHERE c.oid = %(name)s::regclass

-- name: bench_index_definition
SELECT pg_get_indexdef(%(name)s::regclass)

-- name: bench_table_size
SELECT CASE WHEN c.relkind = 'p'
            THEN (SELECT coalesce(sum(pg_total_relation_size(t.relid)), 0) FROM pg_partition_tree(c.oid) t
                  WHERE t.isleaf)
            ELSE pg_total_relation_size(c.oid) END::bigint
FROM pg_class c WHERE c.oid = 'face_vectors'::regclass

-- name: bench_drop_face_vectors
-- Table layouts (search benchmark, --layout): face_vectors is rebuilt empty in the layout measured.
DROP TABLE IF EXISTS face_vectors CASCADE

-- name: bench_create_face_vectors
-- As migration 002 makes it, or partitioned ({partitioning}: PARTITION BY LIST (model_id), or BY
-- HASH (event), whose primary key must then hold the event: {key}).
--   by model: a model switch writes the new model's partition while lookups read the old one, and an
--   old model goes with DROP TABLE instead of a DELETE;
--   by a hash of the event: each index is 1/N of the collection, and every global lookup searches
--   all N (BENCHMARKS.md measures what that costs and what it gains).
CREATE TABLE face_vectors (
    face_id   text   NOT NULL REFERENCES faces (face_id) ON DELETE CASCADE,
    model_id  text   NOT NULL,
    event     text   NOT NULL,
    embedding vector NOT NULL,
    PRIMARY KEY ({key})
) {partitioning}

-- name: bench_create_model_partition
CREATE TABLE {partition} PARTITION OF face_vectors FOR VALUES IN ({model_id})

-- name: bench_create_default_partition
CREATE TABLE face_vectors_other PARTITION OF face_vectors DEFAULT

-- name: bench_create_hash_partition
CREATE TABLE {partition} PARTITION OF face_vectors FOR VALUES WITH (MODULUS {modulus}, REMAINDER {remainder})

-- name: bench_create_face_vectors_event_index
CREATE INDEX face_vectors_event_model_idx ON face_vectors (event, model_id)

-- name: bench_create_collection_record
CREATE TABLE IF NOT EXISTS bench_collection (fingerprint text PRIMARY KEY, figures jsonb)

-- name: bench_collection_figures
SELECT figures FROM bench_collection WHERE fingerprint = %(fingerprint)s

-- name: bench_forget_collections
DELETE FROM bench_collection

-- name: bench_record_collection
INSERT INTO bench_collection VALUES (%(fingerprint)s, %(figures)s)

-- name: baseline_insert_photo
-- The baseline writes as a face_recognition-style script does: one INSERT per row.
INSERT INTO photos (event, photo_id, path, size_bytes, width, height, detector_model, face_count)
VALUES (%(event)s, %(photo_id)s, %(path)s, %(size_bytes)s, %(width)s, %(height)s, %(detector_model)s, %(face_count)s)

-- name: baseline_insert_face
INSERT INTO faces (face_id, event, photo_id, face_index, detector_model, box_left, box_top, box_right, box_bottom,
                   score, landmarks, crop_path)
VALUES (%(face_id)s, %(event)s, %(photo_id)s, %(face_index)s, %(detector_model)s, %(left)s, %(top)s, %(right)s,
        %(bottom)s, %(score)s, %(landmarks)s, %(crop_path)s)

-- name: baseline_insert_vector
INSERT INTO face_vectors (face_id, model_id, event, embedding) VALUES (%(face_id)s, %(model_id)s, %(event)s, %(embedding)s)

-- name: server_version
SHOW server_version

-- name: pgvector_version
SELECT extversion FROM pg_extension WHERE extname = 'vector'

-- name: bench_empty_people
TRUNCATE face_people, people CASCADE

-- name: bench_face_people
SELECT face_id, person_id FROM face_people WHERE person_id IS NOT NULL

-- name: bench_crowd_photo
-- The participant benchmark's crowd: photos of other people, written straight into an ingested
-- event so that it holds thousands of photos (their files are never opened: nobody matches them).
INSERT INTO photos (event, photo_id, path, size_bytes, width, height, detector_model, face_count)
VALUES (%(event)s, %(photo_id)s, %(path)s, 0, 4000, 3000, %(detector_model)s, %(face_count)s)

-- name: bench_crowd_face
INSERT INTO faces (face_id, event, photo_id, face_index, detector_model, box_left, box_top, box_right, box_bottom,
                   score, landmarks, crop_path)
VALUES (%(face_id)s, %(event)s, %(photo_id)s, %(face_index)s, %(detector_model)s, 100, 100, 300, 300, 0.9,
        '{}'::real[], '')

-- name: bench_crowd_vector
INSERT INTO face_vectors (face_id, model_id, event, embedding) VALUES (%(face_id)s, %(model_id)s, %(event)s,
                                                                      %(embedding)s::vector)

-- name: bench_event_size
SELECT (SELECT count(*) FROM photos WHERE event = %(event)s), (SELECT count(*) FROM faces WHERE event = %(event)s)

-- name: bench_serving_model
SELECT model_id, detector_model FROM event_models WHERE event = %(event)s AND serving

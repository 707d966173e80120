-- Writing one event's rows (VectorStore.replace_event, delete_event), always in one transaction that
-- first takes the event's advisory lock. Values are bind parameters; nothing is formatted in.

-- name: take_event_lock
-- One writer per event across processes and machines: a transaction-level advisory lock.
SELECT pg_advisory_xact_lock(%(key)s)

-- name: event_is_new
SELECT NOT EXISTS (SELECT 1 FROM photos WHERE event = %(event)s) AS is_new

-- name: copy_photos_text
COPY photos (event, photo_id, path, size_bytes, width, height, captured_at, detector_model, face_count) FROM STDIN

-- name: copy_faces_binary
-- Columns in the order of binary_copy.face_rows (the binary stream's fields).
COPY faces (face_id, event, photo_id, face_index, detector_model, box_left, box_top, box_right, box_bottom,
            score, landmarks, crop_path) FROM STDIN WITH (FORMAT BINARY)

-- name: copy_vectors_binary
COPY face_vectors (face_id, model_id, event, embedding) FROM STDIN WITH (FORMAT BINARY)

-- name: count_stored_photos
-- How many of the written photos the event already holds (the others are new to the database).
SELECT count(*) AS photos FROM photos WHERE event = %(event)s AND photo_id = ANY(%(photo_ids)s)

-- name: delete_removed_photos
-- Photos no longer in the folder leave every table (faces and vectors by ON DELETE CASCADE).
DELETE FROM photos WHERE event = %(event)s AND NOT (photo_id = ANY(%(photo_ids)s))

-- name: upsert_photo
INSERT INTO photos (event, photo_id, path, size_bytes, width, height, captured_at, detector_model, face_count)
VALUES (%(event)s, %(photo_id)s, %(path)s, %(size_bytes)s, %(width)s, %(height)s, %(captured_at)s,
        %(detector_model)s, %(face_count)s)
ON CONFLICT (event, photo_id) DO UPDATE SET
  path = EXCLUDED.path, size_bytes = EXCLUDED.size_bytes, width = EXCLUDED.width,
  height = EXCLUDED.height, captured_at = EXCLUDED.captured_at,
  detector_model = EXCLUDED.detector_model, face_count = EXCLUDED.face_count, ingested_at = now()

-- name: delete_model_vectors_of_event
DELETE FROM face_vectors WHERE event = %(event)s AND model_id = %(model_id)s

-- name: delete_faces_gone
-- Faces of this event that the new write does not have, unless another model's vectors still point
-- at them (they go when that model is pruned).
DELETE FROM faces f WHERE f.event = %(event)s AND NOT (f.face_id = ANY(%(face_ids)s))
  AND NOT EXISTS (SELECT 1 FROM face_vectors v WHERE v.face_id = f.face_id)

-- name: create_face_staging
CREATE TEMP TABLE face_rows_in (LIKE faces) ON COMMIT DROP

-- name: copy_face_staging_binary
COPY face_rows_in (face_id, event, photo_id, face_index, detector_model, box_left, box_top, box_right,
                   box_bottom, score, landmarks, crop_path) FROM STDIN WITH (FORMAT BINARY)

-- name: upsert_faces_from_staging
-- A face that another model's vectors still point at is updated in place, never deleted (that
-- would cascade to those vectors).
INSERT INTO faces (face_id, event, photo_id, face_index, detector_model, box_left, box_top, box_right,
                   box_bottom, score, landmarks, crop_path)
SELECT face_id, event, photo_id, face_index, detector_model, box_left, box_top, box_right, box_bottom, score,
       landmarks, crop_path
FROM face_rows_in
ON CONFLICT (face_id) DO UPDATE SET
  box_left = EXCLUDED.box_left, box_top = EXCLUDED.box_top, box_right = EXCLUDED.box_right,
  box_bottom = EXCLUDED.box_bottom, score = EXCLUDED.score, landmarks = EXCLUDED.landmarks,
  crop_path = EXCLUDED.crop_path

-- name: delete_skipped_files_of_event
DELETE FROM skipped_files WHERE event = %(event)s

-- name: upsert_skipped_file
INSERT INTO skipped_files (event, path, reason, message) VALUES (%(event)s, %(path)s, %(reason)s, %(message)s)
ON CONFLICT (event, path) DO UPDATE SET reason = EXCLUDED.reason, message = EXCLUDED.message, seen_at = now()

-- name: stop_serving_event
UPDATE event_models SET serving = false WHERE event = %(event)s

-- name: serve_event_with_model
-- The new model answers the event's lookups from this commit on (the old vectors stay until pruned).
INSERT INTO event_models (event, model_id, detector_model, photo_count, face_count, serving)
VALUES (%(event)s, %(model_id)s, %(detector_model)s, %(photo_count)s, %(face_count)s, true)
ON CONFLICT (event, model_id) DO UPDATE SET detector_model = EXCLUDED.detector_model,
  photo_count = EXCLUDED.photo_count, face_count = EXCLUDED.face_count, completed_at = now(), serving = true

-- name: delete_event_vectors
DELETE FROM face_vectors WHERE event = %(event)s

-- name: delete_event_faces
DELETE FROM faces WHERE event = %(event)s

-- name: delete_event_photos
DELETE FROM photos WHERE event = %(event)s

-- name: delete_event_models
DELETE FROM event_models WHERE event = %(event)s

-- name: count_event_rows
SELECT (SELECT count(*) FROM photos WHERE event = %(event)s) AS photos,
       (SELECT count(*) FROM faces WHERE event = %(event)s) AS faces,
       (SELECT count(*) FROM face_vectors WHERE event = %(event)s) AS vectors,
       (SELECT count(*) FROM skipped_files WHERE event = %(event)s) AS skipped,
       (SELECT count(*) FROM event_models WHERE event = %(event)s) AS models

-- name: try_event_run_lock
-- One run per event across machines: a session-level advisory lock, held by the run's own
-- connection for as long as a step touches the event's files, released when that connection ends.
-- Two int4 keys (class, event hash): a key space apart from take_event_lock's bigint keys.
SELECT pg_try_advisory_lock(%(class)s, %(key)s) AS locked

-- name: release_event_run_lock
SELECT pg_advisory_unlock(%(class)s, %(key)s)

-- name: event_run_lock_holder
-- Who holds an event's run lock: the holder names itself in application_name when it connects.
SELECT a.application_name, a.client_addr::text, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
  AND l.classid = %(class)s::oid AND l.objid = %(key)s::oid
LIMIT 1

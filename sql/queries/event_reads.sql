-- Reads for lookups, maintenance and the CLI. Values are bind parameters.

-- name: serving_models
-- event -> the model whose vectors answer its lookups (all events when %(events)s is NULL).
SELECT event, model_id FROM event_models
WHERE serving AND (%(events)s::text[] IS NULL OR event = ANY(%(events)s::text[]))

-- name: stale_events
-- Events whose lookups are served by another embedder, or whose faces come from another detector.
SELECT event FROM event_models
WHERE serving AND (model_id <> %(model_id)s OR detector_model <> %(detector_model)s)
ORDER BY event

-- name: skipped_files_of_event
SELECT path, reason, message FROM skipped_files WHERE event = %(event)s ORDER BY path

-- name: event_set_size
-- How many of one model's vectors the chosen events hold, and how many it has in all (the search
-- reads few rows exactly, many through HNSW: VectorStore.search_faces).
SELECT coalesce(sum(face_count) FILTER (WHERE event = ANY(%(events)s)), 0) AS in_events,
       coalesce(sum(face_count), 0) AS in_all
FROM event_models WHERE model_id = %(model_id)s

-- name: table_counts
SELECT (SELECT count(*) FROM photos) AS photos,
       (SELECT count(*) FROM faces) AS faces,
       (SELECT count(*) FROM face_vectors) AS face_vectors,
       (SELECT count(*) FROM skipped_files) AS skipped_files

-- name: old_vector_counts
-- Vectors of other models than the active one that no event serves from any more.
SELECT v.model_id, count(*) AS vectors FROM face_vectors v
WHERE v.model_id <> %(active)s AND NOT EXISTS (
    SELECT 1 FROM event_models e WHERE e.event = v.event AND e.model_id = v.model_id AND e.serving)
GROUP BY 1 ORDER BY 1

-- name: other_models
SELECT DISTINCT model_id FROM face_vectors WHERE model_id <> %(active)s ORDER BY 1

-- Removing one model's vectors (`face-pipeline prune-models --yes`), never those an event serves.

-- name: prune_model_vectors
DELETE FROM face_vectors v WHERE v.model_id = %(model_id)s
  AND (%(events)s::text[] IS NULL OR v.event = ANY(%(events)s::text[]))
  AND NOT EXISTS (SELECT 1 FROM event_models e WHERE e.event = v.event AND e.model_id = v.model_id AND e.serving)

-- name: prune_model_records
DELETE FROM event_models e WHERE e.model_id = %(model_id)s AND NOT e.serving
  AND (%(events)s::text[] IS NULL OR e.event = ANY(%(events)s::text[]))

-- name: prune_orphan_faces
-- Faces no vector points at any more, found by a detector the photo is no longer served by.
DELETE FROM faces f WHERE NOT EXISTS (SELECT 1 FROM face_vectors v WHERE v.face_id = f.face_id)
  AND f.detector_model <> (SELECT p.detector_model FROM photos p WHERE p.event = f.event AND p.photo_id = f.photo_id)

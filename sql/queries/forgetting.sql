-- Forgetting a person's faces (lib/forget): rows and vectors in one transaction, counts kept right.

-- name: count_vectors_of_faces
SELECT count(*) AS vectors FROM face_vectors WHERE face_id = ANY(%(face_ids)s)

-- name: delete_faces_returning
-- Their face_vectors rows go with them (ON DELETE CASCADE).
DELETE FROM faces WHERE face_id = ANY(%(face_ids)s) RETURNING event, photo_id, crop_path

-- name: recount_photo_faces
UPDATE photos p SET face_count = (
    SELECT count(*) FROM faces f
    WHERE f.event = p.event AND f.photo_id = p.photo_id AND f.detector_model = p.detector_model)
WHERE (p.event, p.photo_id) IN (SELECT * FROM unnest(%(events)s::text[], %(photo_ids)s::text[]))

-- name: recount_event_model_faces
UPDATE event_models e SET face_count = (
    SELECT count(*) FROM face_vectors v WHERE v.event = e.event AND v.model_id = e.model_id)
WHERE e.event = ANY(%(events)s)

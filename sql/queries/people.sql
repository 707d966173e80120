-- People (lib/people): reading faces to group, writing who is who, and people's own decisions.

-- name: faces_of_event_with_vectors
-- The faces of an event that have a vector of the model serving it, where they are (StoredFace's
-- columns): grouping reads their neighbours in the database, never the vectors themselves.
SELECT f.face_id, f.event, f.photo_id, p.path, f.face_index, f.box_left, f.box_top, f.box_right, f.box_bottom,
       f.crop_path, p.width, p.height
FROM faces f
JOIN face_vectors v ON v.face_id = f.face_id AND v.model_id = %(model_id)s
JOIN photos p ON p.event = f.event AND p.photo_id = f.photo_id
WHERE f.event = %(event)s
ORDER BY f.face_id

-- name: neighbours_of_faces
-- For each given face, its `limit` nearest faces of the same model within `within`, among the events
-- that model serves. {dim} and {op} come from the embedder registry (trusted).
SELECT q.face_id, n.face_id AS neighbour_id, n.distance
FROM face_vectors q
CROSS JOIN LATERAL (
    SELECT v.face_id, (v.embedding::vector({dim})) {op} (q.embedding::vector({dim})) AS distance
    FROM face_vectors v
    WHERE v.model_id = %(model_id)s AND v.event = ANY(%(events)s::text[]) AND v.face_id <> q.face_id
    ORDER BY (v.embedding::vector({dim})) {op} (q.embedding::vector({dim}))
    LIMIT %(limit)s
) n
WHERE q.model_id = %(model_id)s AND q.face_id = ANY(%(face_ids)s::text[]) AND n.distance <= %(within)s

-- name: face_people_of
SELECT fp.face_id, fp.person_id, fp.pinned FROM face_people fp WHERE fp.face_id = ANY(%(face_ids)s::text[])

-- name: people_by_id
SELECT person_id, name, hidden, merged_into, decided FROM people WHERE person_id = ANY(%(person_ids)s::text[])

-- name: overlapping_assigned_faces
-- Faces found by another detector in the same photos, that already belong to someone (or were moved
-- out): a detector switch gives faces new ids, and they inherit who they are from these.
SELECT f.face_id, f.event, f.photo_id, p.path, f.face_index, f.box_left, f.box_top, f.box_right, f.box_bottom,
       f.crop_path, p.width, p.height, fp.person_id, fp.pinned
FROM faces f
JOIN face_people fp ON fp.face_id = f.face_id
JOIN photos p ON p.event = f.event AND p.photo_id = f.photo_id
WHERE f.event = %(event)s AND f.detector_model <> %(detector_model)s

-- name: insert_person
INSERT INTO people (person_id) VALUES (%(person_id)s) ON CONFLICT (person_id) DO NOTHING

-- name: upsert_face_person
-- The clustering's assignment; a pinned row (a person's decision) is never overwritten.
INSERT INTO face_people (face_id, person_id, pinned) VALUES (%(face_id)s, %(person_id)s, false)
ON CONFLICT (face_id) DO UPDATE SET person_id = EXCLUDED.person_id, updated_at = now()
WHERE NOT face_people.pinned

-- name: merge_person_into
UPDATE people SET merged_into = %(into)s, updated_at = now() WHERE person_id = %(person_id)s

-- name: forget_unpinned_assignments
-- A full re-cluster starts from people's decisions alone.
DELETE FROM face_people WHERE NOT pinned AND face_id IN (
    SELECT v.face_id FROM face_vectors v WHERE v.model_id = %(model_id)s)

-- name: faces_with_vectors_of_model
SELECT v.face_id FROM face_vectors v JOIN event_models e ON e.event = v.event AND e.model_id = v.model_id AND e.serving
WHERE v.model_id = %(model_id)s ORDER BY v.face_id

-- name: pinned_rows
SELECT face_id, person_id FROM face_people WHERE pinned

-- name: drop_empty_undecided_people
-- People the clustering made who have no face left (their faces went elsewhere in a re-cluster).
DELETE FROM people p WHERE NOT p.decided AND p.merged_into IS NULL
  AND NOT EXISTS (SELECT 1 FROM face_people fp WHERE fp.person_id = p.person_id)
  AND NOT EXISTS (SELECT 1 FROM people q WHERE q.merged_into = p.person_id)

-- name: list_people
-- Every person in use (not merged away), with face and photo counts and one face to show.
SELECT p.person_id, p.name, p.hidden, count(fp.face_id) AS faces,
       count(DISTINCT (f.event, f.photo_id)) AS photos, count(DISTINCT f.event) AS events,
       (array_agg(fp.face_id ORDER BY f.score DESC, fp.face_id))[1] AS face_id
FROM people p
JOIN face_people fp ON fp.person_id = p.person_id
JOIN faces f ON f.face_id = fp.face_id
WHERE p.merged_into IS NULL
GROUP BY p.person_id, p.name, p.hidden
ORDER BY count(fp.face_id) DESC, p.person_id

-- name: person_by_name
SELECT person_id FROM people WHERE lower(name) = lower(%(name)s) AND merged_into IS NULL

-- name: person_exists
SELECT merged_into FROM people WHERE person_id = %(person_id)s

-- name: faces_of_person
-- A person's faces with their photos, for `people show`, `find --person` and the people page.
SELECT f.face_id, f.event, f.photo_id, p.path, f.face_index, f.box_left, f.box_top, f.box_right, f.box_bottom,
       f.crop_path, p.width, p.height, fp.person_id, fp.pinned
FROM face_people fp
JOIN faces f ON f.face_id = fp.face_id
JOIN photos p ON p.event = f.event AND p.photo_id = f.photo_id
WHERE fp.person_id = %(person_id)s
ORDER BY f.event, p.path, f.face_index

-- name: name_person
UPDATE people SET name = %(name)s, decided = true, updated_at = now() WHERE person_id = %(person_id)s

-- name: hide_person
UPDATE people SET hidden = %(hidden)s, decided = true, updated_at = now() WHERE person_id = %(person_id)s

-- name: mark_decided
UPDATE people SET decided = true, updated_at = now() WHERE person_id = ANY(%(person_ids)s::text[])

-- name: move_faces_of_person
-- A merge: every face of one person becomes the other's, as a decision.
UPDATE face_people SET person_id = %(into)s, pinned = true, updated_at = now() WHERE person_id = %(person_id)s

-- name: pin_face
INSERT INTO face_people (face_id, person_id, pinned) VALUES (%(face_id)s, %(person_id)s, true)
ON CONFLICT (face_id) DO UPDATE SET person_id = EXCLUDED.person_id, pinned = true, updated_at = now()


-- name: person_sizes
SELECT person_id, count(*) AS faces FROM face_people WHERE person_id = ANY(%(person_ids)s::text[]) GROUP BY person_id

-- name: reassign_unpinned_faces
-- The clustering joins one person to another: its faces (never a pinned one) follow.
UPDATE face_people SET person_id = %(into)s, updated_at = now() WHERE person_id = %(person_id)s AND NOT pinned

-- name: face_exists
SELECT 1 FROM faces WHERE face_id = %(face_id)s

-- name: delete_person_and_aliases
-- Forgetting a person: its record, its name, and the ids merged into it (their faces are gone already).
WITH RECURSIVE aliases AS (
    SELECT person_id FROM people WHERE person_id = %(person_id)s
    UNION SELECT p.person_id FROM people p JOIN aliases a ON p.merged_into = a.person_id
)
DELETE FROM people WHERE person_id IN (SELECT person_id FROM aliases)

-- name: photos_of_faces
SELECT face_id, event, photo_id FROM faces WHERE face_id = ANY(%(face_ids)s::text[])

-- name: photos_of_people
SELECT DISTINCT fp.person_id, f.event, f.photo_id
FROM face_people fp JOIN faces f ON f.face_id = fp.face_id
WHERE fp.person_id = ANY(%(person_ids)s::text[])

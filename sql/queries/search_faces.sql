-- Nearest faces to a query vector for one model, optionally limited to some events.
-- {dim} and {op} come from the embedder registry (trusted integers/operators); everything else is
-- a bind parameter. The cast and the model_id predicate match the partial HNSW index of
-- 003_hnsw_indexes.sql, so a global search uses it. An event-limited search of few rows is
-- search_faces_exactly (a shape HNSW cannot serve); of many rows, this one with pgvector's
-- iterative HNSW scan turned on, see VectorStore.search_faces.
WITH nearest AS (
    SELECT v.face_id,
           v.event,
           (v.embedding::vector({dim})) {op} %(query)s::vector({dim}) AS distance
    FROM face_vectors v
    WHERE v.model_id = %(model_id)s
      AND (%(events)s::text[] IS NULL OR v.event = ANY(%(events)s::text[]))
    ORDER BY (v.embedding::vector({dim})) {op} %(query)s::vector({dim})
    LIMIT %(limit)s
)
SELECT n.face_id, n.event, f.photo_id, p.path, f.face_index,
       f.box_left, f.box_top, f.box_right, f.box_bottom, f.crop_path,
       p.width, p.height, n.distance
FROM nearest n
JOIN faces f ON f.face_id = n.face_id
JOIN photos p ON p.event = f.event AND p.photo_id = f.photo_id
ORDER BY n.distance, n.face_id

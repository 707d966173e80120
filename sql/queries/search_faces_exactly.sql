-- Nearest faces to a query vector for one model within some events, read exactly: every row of
-- those events is compared with the query and the `limit` nearest kept (top-N sort), recall 1.
-- {dim} and {op} come from the embedder registry (trusted integers/operators); everything else is
-- a bind parameter; %(events)s must not be NULL (a lookup across all events is search_faces).
--
-- The shape keeps the HNSW graph out of the plan whatever the planner's estimates: it orders by
-- the distance on the bare `embedding` column, which no HNSW index can serve (the indexes are built
-- on the cast `embedding::vector(dim)`, and the column has no dimension, so none can be built on
-- it). The events' rows come through face_vectors_event_model_idx (or a sequential scan when the
-- events hold most of the table), then a top-N heapsort. `SET LOCAL enable_indexscan = off`, what
-- was used before, also kept HNSW out but relied on a setting of the transaction rather than on
-- the statement, and the ordered scan of the partial index was still a plan the planner could
-- weigh (EXPLAIN test: face_pipeline_tests/lib/test_search_plans.py).
WITH nearest AS (
    SELECT v.face_id,
           v.event,
           v.embedding {op} %(query)s::vector({dim}) AS distance
    FROM face_vectors v
    WHERE v.model_id = %(model_id)s
      AND v.event = ANY(%(events)s::text[])
    ORDER BY v.embedding {op} %(query)s::vector({dim})
    LIMIT %(limit)s
)
SELECT n.face_id, n.event, f.photo_id, p.path, f.face_index,
       f.box_left, f.box_top, f.box_right, f.box_bottom, f.crop_path,
       p.width, p.height, n.distance
FROM nearest n
JOIN faces f ON f.face_id = n.face_id
JOIN photos p ON p.event = f.event AND p.photo_id = f.photo_id
ORDER BY n.distance, n.face_id

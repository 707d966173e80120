-- The stored vectors of some faces for one model (query expansion reads its confident hits back).
-- {dim} comes from the embedder registry (a trusted integer); everything else is a bind parameter.
SELECT v.face_id, v.embedding::vector({dim}) AS embedding
FROM face_vectors v
WHERE v.model_id = %(model_id)s
  AND v.face_id = ANY(%(face_ids)s::text[])

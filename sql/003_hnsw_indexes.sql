-- Approximate nearest-neighbour indexes for cross-event search, one per registered model.
-- The partial predicate and the cast must match the query in queries/search_faces.sql.
-- m / ef_construction: pgvector's defaults; see BENCHMARKS.md for recall at scale.
CREATE INDEX IF NOT EXISTS face_vectors_dlib_resnet_v1_hnsw
    ON face_vectors USING hnsw ((embedding::vector(128)) vector_l2_ops)
    WHERE model_id = 'dlib-resnet-v1';

CREATE INDEX IF NOT EXISTS face_vectors_clip_imgbeddings_hnsw
    ON face_vectors USING hnsw ((embedding::vector(768)) vector_cosine_ops)
    WHERE model_id = 'clip-imgbeddings-patch32_v1';

-- Approximate nearest-neighbour index for the flip test-time-augmented dlib ResNet vectors
-- (embedder dlib-resnet-v1-flip, chosen by the evaluation harness; see EVALUATION.md).
-- Same pattern as 003: the partial predicate and the cast match queries/search_faces.sql.
CREATE INDEX IF NOT EXISTS face_vectors_dlib_resnet_v1_flip_hnsw
    ON face_vectors USING hnsw ((embedding::vector(128)) vector_l2_ops)
    WHERE model_id = 'dlib-resnet-v1-flip';

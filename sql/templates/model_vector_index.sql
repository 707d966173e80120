-- The approximate nearest-neighbour index of one embedder's vectors, made from the model registry
-- when a model's vectors are first written (store/vector_indexes.py), so adding an embedder needs no
-- migration. {index}, {dim}, {opclass} and {model_id} come from the registry (trusted, formatted with
-- psycopg.sql); the partial predicate and the cast match queries/search_faces.sql.
-- m = 24, ef_construction = 128: at 1 M faces pgvector's defaults (16, 64) left recall@10 at 0.90,
-- these at 1.0 (BENCHMARKS.md, migration 005).
CREATE INDEX IF NOT EXISTS {index}
    ON face_vectors USING hnsw ((embedding::vector({dim})) {opclass})
    WITH (m = 24, ef_construction = 128)
    WHERE model_id = {model_id}

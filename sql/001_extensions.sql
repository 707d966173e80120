-- pgvector provides the `vector` type, its distance operators and HNSW indexes.
CREATE EXTENSION IF NOT EXISTS vector;

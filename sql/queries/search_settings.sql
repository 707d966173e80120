-- Settings of one lookup's transaction (VectorStore.search_faces decides which).

-- name: set_hnsw_ef_search
-- {ef}: the candidates HNSW keeps while it searches (a trusted integer).
SET LOCAL hnsw.ef_search = {ef}

-- name: walk_hnsw_until_enough
-- Many rows in many events: walk the HNSW graph, filtering, until `limit` rows of them have come.
SET LOCAL hnsw.iterative_scan = relaxed_order

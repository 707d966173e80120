"""One partial HNSW index per embedder, made from the model registry's facts (model id, dimension,
metric) with the template in `sql/templates/model_vector_index.sql`, so that adding an embedder needs
no migration. Migrations 003-005 made the first ones under the same names."""

from __future__ import annotations

import hashlib
import re

import psycopg
from psycopg import sql

from face_pipeline.lib.store.connection import named_row
from face_pipeline.lib.store.statements import composed, statement

OPCLASS = {"l2": "vector_l2_ops", "cosine": "vector_cosine_ops"}


def index_name(model_id: str) -> str:
    """`face_vectors_<model>_hnsw`, within PostgreSQL's 63 characters (long ids get a hash)."""
    slug = re.sub(r"[^a-z0-9]+", "_", model_id.lower()).strip("_")
    if len(slug) > 40:
        slug = slug[:31] + "_" + hashlib.sha256(model_id.encode()).hexdigest()[:8]
    return f"face_vectors_{slug}_hnsw"


def ensure_vector_index(conn: psycopg.Connection, model_id: str, dim: int, metric: str) -> bool:
    """Create the model's index unless it exists; True if it was created. Cheap when it exists
    (a catalog lookup), so it runs before every write of a model's vectors."""
    name = index_name(model_id)
    if named_row(conn, statement("relation_exists"), {"name": name})["found"]:
        return False
    conn.execute(
        composed(
            "model_vector_index",
            index=sql.Identifier(name),
            dim=sql.Literal(int(dim)),
            opclass=sql.SQL(OPCLASS[metric]),
            model_id=sql.Literal(model_id),
        )
    )
    return True

"""The people tables (sql/006_people.sql), read and written with the statements of
sql/queries/people.sql, on the store's database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from psycopg import sql

from face_pipeline.lib.people.grouping import Assignment, GroupingPlan
from face_pipeline.lib.store import VectorStore, statement
from face_pipeline.lib.store.records import StoredFace, stored_face_fields
from face_pipeline.lib.store.statements import composed
from face_pipeline.lib.store.vector_store import HNSW_EF_SEARCH, OPERATOR


@dataclass(frozen=True)
class EventFace:
    face_id: str
    photo_id: str
    box: tuple[int, int, int, int]
    vector: np.ndarray


@dataclass(frozen=True)
class PersonRecord:
    person_id: str
    name: str | None
    hidden: bool
    merged_into: str | None
    decided: bool


@dataclass(frozen=True)
class PersonSummary:
    person_id: str
    name: str | None
    hidden: bool
    faces: int
    photos: int
    events: int
    face_id: str  # one of its faces, to show


@dataclass
class PersonFace(StoredFace):
    """A face of a person; pinned = put there by a person's decision (a move), kept by every re-run."""

    pinned: bool = False


class PeopleStore:
    def __init__(self, store: VectorStore):
        self.store = store

    def event_faces(self, event: str, model_id: str, dim: int) -> list[EventFace]:
        with self.store.connect() as conn:
            rows = conn.execute(composed("faces_of_event_with_vectors", dim=sql.Literal(int(dim))),
                                {"event": event, "model_id": model_id}).fetchall()
        return [EventFace(r[0], r[1], (r[2], r[3], r[4], r[5]), np.asarray(r[6].to_numpy(), dtype=np.float32))
                for r in rows]

    def links(self, face_ids: Sequence[str], *, model_id: str, dim: int, metric: str, events: Sequence[str],
              limit: int, within: float) -> list[tuple[str, str, float]]:
        """(face, neighbour, distance) for each face's `limit` nearest faces within `within`."""
        if not face_ids:
            return []
        query = composed("neighbours_of_faces", dim=sql.Literal(int(dim)), op=sql.SQL(OPERATOR[metric]))
        with self.store.connect() as conn, conn.transaction():
            conn.execute(composed("set_hnsw_ef_search", ef=sql.Literal(max(HNSW_EF_SEARCH, 2 * limit))))
            conn.execute(statement("walk_hnsw_until_enough"))
            rows = conn.execute(query, {"model_id": model_id, "events": list(events), "face_ids": list(face_ids),
                                        "limit": int(limit), "within": float(within)}).fetchall()
        return [(a, b, float(d)) for a, b, d in rows]

    def assignments(self, face_ids: Sequence[str]) -> dict[str, Assignment]:
        with self.store.connect() as conn:
            rows = conn.execute(statement("face_people_of"), {"face_ids": list(face_ids)}).fetchall()
        return {f: Assignment(p, pinned) for f, p, pinned in rows}

    def people(self, person_ids: Sequence[str]) -> dict[str, PersonRecord]:
        with self.store.connect() as conn:
            rows = conn.execute(statement("people_by_id"), {"person_ids": list(person_ids)}).fetchall()
        return {r[0]: PersonRecord(*r) for r in rows}

    def sizes(self, person_ids: Sequence[str]) -> dict[str, int]:
        with self.store.connect() as conn:
            rows = conn.execute(statement("person_sizes"), {"person_ids": list(person_ids)}).fetchall()
        return dict(rows)

    def assigned_faces_of_other_detectors(self, event: str, detector_model: str) -> list[tuple]:
        with self.store.connect() as conn:
            return conn.execute(statement("overlapping_assigned_faces"),
                                {"event": event, "detector_model": detector_model}).fetchall()

    def apply(self, plan: GroupingPlan, pinned: dict[str, str | None] | None = None) -> None:
        """Write a grouping in one transaction: new people, merges, assignments (never over a pinned
        row); `pinned` are rows to write as decisions (faces that inherit one after a detector switch)."""
        with self.store.connect() as conn, conn.transaction():
            for person in sorted(plan.new_people | {p for p in (pinned or {}).values() if p}):
                conn.execute(statement("insert_person"), {"person_id": person})
            for face, person in sorted((pinned or {}).items()):
                conn.execute(statement("pin_face"), {"face_id": face, "person_id": person})
            for person, into in sorted(plan.merges.items()):
                conn.execute(statement("merge_person_into"), {"person_id": person, "into": into})
                conn.execute(statement("reassign_unpinned_faces"), {"person_id": person, "into": into})
            with conn.cursor() as cur:
                cur.executemany(statement("upsert_face_person"),
                                [{"face_id": f, "person_id": p} for f, p in sorted(plan.assign.items())])

    def forget_unpinned(self, model_id: str) -> None:
        with self.store.connect() as conn, conn.transaction():
            conn.execute(statement("forget_unpinned_assignments"), {"model_id": model_id})

    def drop_empty_people(self) -> int:
        with self.store.connect() as conn, conn.transaction():
            return conn.execute(statement("drop_empty_undecided_people")).rowcount

    def faces_of_model(self, model_id: str) -> list[str]:
        with self.store.connect() as conn:
            return [r[0] for r in conn.execute(statement("faces_with_vectors_of_model"), {"model_id": model_id})]

    def list_people(self) -> list[PersonSummary]:
        with self.store.connect() as conn:
            return [PersonSummary(*r) for r in conn.execute(statement("list_people")).fetchall()]

    def person_by_name(self, name: str) -> str | None:
        with self.store.connect() as conn:
            row = conn.execute(statement("person_by_name"), {"name": name}).fetchone()
        return row[0] if row else None

    def faces_of_person(self, person_id: str) -> list[PersonFace]:
        with self.store.connect() as conn:
            rows = conn.execute(statement("faces_of_person"), {"person_id": person_id}).fetchall()
        return [PersonFace(**stored_face_fields(r), pinned=r[12]) for r in rows]

    def face_exists(self, face_id: str) -> bool:
        with self.store.connect() as conn:
            return conn.execute(statement("face_exists"), {"face_id": face_id}).fetchone() is not None

    def decide(self, statement_name: str, /, **args) -> int:
        """Run one decision statement (name_person, hide_person, pin_face ...) in its own transaction;
        returns the rows it touched."""
        with self.store.connect() as conn, conn.transaction():
            return conn.execute(statement(statement_name), args).rowcount

    def photos_of(self, face_ids: Sequence[str]) -> dict[str, str]:
        """face -> its photo ("event/photo_id": a photo is unique per event)."""
        with self.store.connect() as conn:
            rows = conn.execute(statement("photos_of_faces"), {"face_ids": list(face_ids)}).fetchall()
        return {f: f"{e}/{p}" for f, e, p in rows}

    def photos_of_people(self, person_ids: Sequence[str]) -> dict[str, set[str]]:
        with self.store.connect() as conn:
            rows = conn.execute(statement("photos_of_people"), {"person_ids": list(person_ids)}).fetchall()
        out: dict[str, set[str]] = {}
        for person, event, photo in rows:
            out.setdefault(person, set()).add(f"{event}/{photo}")
        return out

    def merge(self, person_id: str, into: str) -> None:
        """A person's decision: `person_id`'s faces become `into`'s, pinned, and the id means `into`."""
        with self.store.connect() as conn, conn.transaction():
            conn.execute(statement("move_faces_of_person"), {"person_id": person_id, "into": into})
            conn.execute(statement("merge_person_into"), {"person_id": person_id, "into": into})
            conn.execute(statement("mark_decided"), {"person_ids": [person_id, into]})

"""The people tables (sql/006_people.sql), read and written with the statements of
sql/queries/people.sql, on the store's database."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from face_pipeline.lib.people.grouping import Assignment, GroupingPlan
from face_pipeline.lib.store import StoredFace, VectorStore, named_rows, statement, vector_statement

#: hnsw.ef_search for links. A link joins two faces closer than the model's link threshold, each
#: among the other's nearest few: HNSW finds those at a small ef_search. On the people bench (4,096
#: sampled faces) ef_search 64 found the same links as 200 (the lookups' value) at 100 k faces, 3.9x
#: faster, and 99 % of them at 1 M, 1.2-1.4x faster; `--people-link-ef` measures it (BENCHMARKS.md).
LINK_EF_SEARCH = 64


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
    """A face of a person; pinned = put there by a person's decision (a move), kept by every re-run.
    person_id None = moved out of every person (a decision too)."""

    person_id: str | None = None
    pinned: bool = False


class PeopleStore:
    """The people tables, through the store's public API (its connections and named statements)."""

    def __init__(self, store: VectorStore):
        self.store = store

    def event_faces(self, event: str, model_id: str) -> list[StoredFace]:
        """The event's faces that have a vector of `model_id` (those grouping can link), ordered by id."""
        rows = self.store.rows(statement("faces_of_event_with_vectors"), {"event": event, "model_id": model_id})
        return [StoredFace.from_row(r) for r in rows]

    def links(
        self,
        face_ids: Sequence[str],
        *,
        model_id: str,
        dim: int,
        metric: str,
        events: Sequence[str],
        limit: int,
        within: float,
        batch: int = 256,
        parallel: int = 1,
        ef_search: int = LINK_EF_SEARCH,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[tuple[str, str, float]]:
        """(face, neighbour, distance) for each face's `limit` nearest faces within `within`.

        The faces go in batches of `batch` over `parallel` connections at once: each neighbour query
        keeps one server core busy, so a full re-cluster of a million faces is bound by how many run
        together. `progress(done, total)` hears of each finished batch."""
        face_ids = list(face_ids)
        if not face_ids:
            return []
        query = vector_statement("neighbours_of_faces", dim=dim, metric=metric)
        args = {"model_id": model_id, "events": list(events), "limit": int(limit), "within": float(within)}
        batches = [face_ids[i : i + batch] for i in range(0, len(face_ids), batch)]
        local, opened, lock = threading.local(), [], threading.Lock()

        def run(faces: list[str]) -> list[tuple[str, str, float]]:
            if getattr(local, "conn", None) is None:
                # prepare_threshold=None: psycopg prepares a query run 5 times on one connection, and from
                # its 11th run PostgreSQL switched to a generic plan that took ~60x longer per batch
                # (10.6 s instead of 0.18 s on the 100 k people bench).
                local.conn = self.store.open_connection(prepare_threshold=None)
                with lock:
                    opened.append(local.conn)
            with local.conn.transaction():
                local.conn.execute(vector_statement("set_hnsw_ef_search", ef=max(int(ef_search), 2 * limit)))
                local.conn.execute(statement("walk_hnsw_until_enough"))
                rows = named_rows(local.conn, query, {**args, "face_ids": faces})
            return [(r["face_id"], r["neighbour_id"], float(r["distance"])) for r in rows]

        out: list[tuple[str, str, float]] = []
        try:
            with ThreadPoolExecutor(max(1, min(parallel, len(batches))), thread_name_prefix="links") as pool:
                try:
                    for done, rows in enumerate(pool.map(run, batches), start=1):
                        out += rows
                        if progress:
                            progress(min(done * batch, len(face_ids)), len(face_ids))
                except BaseException:
                    # A failed batch or Ctrl-C: drop the queued batches (thousands at 1 M faces) rather
                    # than run them all before the error is heard; running ones finish their batch.
                    pool.shutdown(cancel_futures=True)
                    raise
        finally:
            for conn in opened:
                conn.close()
        return out

    def assignments(self, face_ids: Sequence[str]) -> dict[str, Assignment]:
        rows = self.store.rows(statement("face_people_of"), {"face_ids": list(face_ids)})
        return {r["face_id"]: Assignment(r["person_id"], r["pinned"]) for r in rows}

    def people(self, person_ids: Sequence[str]) -> dict[str, PersonRecord]:
        rows = self.store.rows(statement("people_by_id"), {"person_ids": list(person_ids)})
        return {r["person_id"]: PersonRecord(**r) for r in rows}

    def sizes(self, person_ids: Sequence[str]) -> dict[str, int]:
        rows = self.store.rows(statement("person_sizes"), {"person_ids": list(person_ids)})
        return {r["person_id"]: r["faces"] for r in rows}

    def assigned_faces_of_other_detectors(self, event: str, detector_model: str) -> list[PersonFace]:
        """An event's faces found by another detector that belong to someone (or were moved out)."""
        rows = self.store.rows(
            statement("overlapping_assigned_faces"), {"event": event, "detector_model": detector_model}
        )
        return [PersonFace.from_row(r) for r in rows]

    def apply(self, plan: GroupingPlan, pinned: dict[str, str | None] | None = None) -> None:
        """Write a grouping in one transaction: new people, merges, assignments (never over a pinned
        row); `pinned` are rows to write as decisions (faces that inherit one after a detector switch)."""
        with self.store.connect() as conn, conn.transaction():
            _write_grouping(conn, plan, pinned or {})

    def replace_grouping(self, model_id: str, plan: GroupingPlan) -> None:
        """A full re-cluster's write, in one transaction: every unpinned assignment of the model's faces
        goes, the plan comes, and people left without a face go. A failure leaves the old grouping."""
        with self.store.connect() as conn, conn.transaction():
            conn.execute(statement("forget_unpinned_assignments"), {"model_id": model_id})
            _write_grouping(conn, plan, {})
            conn.execute(statement("drop_empty_undecided_people"))

    def faces_of_model(self, model_id: str) -> list[str]:
        return [r["face_id"] for r in self.store.rows(statement("faces_with_vectors_of_model"), {"model_id": model_id})]

    def list_people(self) -> list[PersonSummary]:
        return [PersonSummary(**r) for r in self.store.rows(statement("list_people"))]

    def person_by_name(self, name: str) -> str | None:
        row = self.store.row(statement("person_by_name"), {"name": name})
        return row["person_id"] if row else None

    def faces_of_person(self, person_id: str) -> list[PersonFace]:
        return [PersonFace.from_row(r) for r in self.store.rows(statement("faces_of_person"), {"person_id": person_id})]

    def face_exists(self, face_id: str) -> bool:
        return self.store.row(statement("face_exists"), {"face_id": face_id}) is not None

    def decide(self, statement_name: str, /, **args) -> int:
        """Run one decision statement (name_person, hide_person, pin_face ...) in its own transaction;
        returns the rows it touched."""
        with self.store.connect() as conn, conn.transaction():
            return conn.execute(statement(statement_name), args).rowcount

    def photos_of(self, face_ids: Sequence[str]) -> dict[str, str]:
        """face -> its photo ("event/photo_id": a photo is unique per event)."""
        rows = self.store.rows(statement("photos_of_faces"), {"face_ids": list(face_ids)})
        return {r["face_id"]: f"{r['event']}/{r['photo_id']}" for r in rows}

    def photos_of_people(self, person_ids: Sequence[str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for r in self.store.rows(statement("photos_of_people"), {"person_ids": list(person_ids)}):
            out.setdefault(r["person_id"], set()).add(f"{r['event']}/{r['photo_id']}")
        return out

    def merge(self, person_id: str, into: str) -> None:
        """A person's decision: `person_id`'s faces become `into`'s, pinned, and the id means `into`."""
        with self.store.connect() as conn, conn.transaction():
            conn.execute(statement("move_faces_of_person"), {"person_id": person_id, "into": into})
            conn.execute(statement("merge_person_into"), {"person_id": person_id, "into": into})
            conn.execute(statement("mark_decided"), {"person_ids": [person_id, into]})


def _write_grouping(conn, plan: GroupingPlan, pinned: dict[str, str | None]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            statement("insert_person"),
            [{"person_id": p} for p in sorted(plan.new_people | {p for p in pinned.values() if p})],
        )
    for face, person in sorted(pinned.items()):
        conn.execute(statement("pin_face"), {"face_id": face, "person_id": person})
    for person, into in sorted(plan.merges.items()):
        conn.execute(statement("merge_person_into"), {"person_id": person, "into": into})
        conn.execute(statement("reassign_unpinned_faces"), {"person_id": person, "into": into})
    with conn.cursor() as cur:
        cur.executemany(
            statement("upsert_face_person"), [{"face_id": f, "person_id": p} for f, p in sorted(plan.assign.items())]
        )

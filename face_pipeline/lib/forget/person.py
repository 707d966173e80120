"""Forgetting a person: every stored face within the threshold of the reference picture(s), found
through the same reference loading, embedders and pgvector search as `find_person`, but exact and
without a `k` cut-off, listed (dry run, the default) or deleted: rows and vectors in one transaction,
and before it commits their crop files and their entries in the stage files, so that re-ingesting
the unchanged photos does not bring them back.

The photos themselves stay in the photos folder: they belong to the user. A later re-detection
(another detector, or a changed photo file) would find the person again; the listing names the
photos so that they can be removed at the source too.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from face_pipeline.lib.forget.files import delete_crop_files
from face_pipeline.lib.ingest.event_lock import event_lock
from face_pipeline.lib.ingest.stage_files import drop_faces
from face_pipeline.lib.models import embedder_for_model_id
from face_pipeline.lib.people import PeopleStore, resolve_person
from face_pipeline.lib.report.index import forget_pages, pages_showing
from face_pipeline.lib.search import load_references, nearest_faces, resolve_serving_models
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import FaceMatch, VectorStore

#: candidates per reference for the find-me scoring pass: far more than a lookup's k
FIND_CANDIDATES = 1000


@dataclass
class ForgetPersonResult:
    faces: list[FaceMatch]
    threshold: float
    dry_run: bool
    deleted: dict[str, int] = field(default_factory=dict)  # faces, vectors, crops, stage_faces
    reports: list[Path] = field(default_factory=list)  # HTML reports that show one of these photos
    reports_deleted: int = 0

    @property
    def photos(self) -> list[tuple[str, str]]:
        """(event, path) of every photo that shows the person, for the listing."""
        return sorted({(f.event, f.path) for f in self.faces})


def faces_of_person(
    settings: Settings,
    store: VectorStore,
    references: Sequence[str | Path] | str | Path,
    *,
    threshold: float | None = None,
    events: Sequence[str] | None = None,
    face_index: int | None = None,
    detector: str | None = None,
) -> tuple[list[FaceMatch], float]:
    """Every stored face within `threshold` (model default if None) of the nearest reference, and
    every face that `find`'s scoring puts within it.

    Unlike a lookup, nothing is cut off: the exact search is repeated with a doubled limit until
    the farthest face returned is beyond the threshold.
    """
    groups = resolve_serving_models(store, events)
    refs = load_references(settings, references, face_index=face_index, detector=detector)
    found: dict[str, FaceMatch] = {}
    used = threshold

    def keep(matches, t: float) -> None:
        for m in matches:
            if m.distance <= t and (m.face_id not in found or m.distance < found[m.face_id].distance):
                found[m.face_id] = m

    for model_id, evs in sorted(groups.items()):
        embedder = embedder_for_model_id(model_id, settings.model_folders)
        t = embedder.default_threshold if threshold is None else threshold
        used = t
        queries = embedder.embed([embedder.crop(r.photo.rgb, r.face) for r in refs])
        for q in queries:
            limit = 200
            while True:
                matches = store.search_faces(
                    q, model_id=model_id, dim=embedder.dim, metric=embedder.metric, events=evs, limit=limit
                )
                if len(matches) < limit or matches[-1].distance > t:
                    break
                limit *= 2
            keep(matches, t)
        # Everything `find` would show is forgotten too: its scoring (mean over the references,
        # then a second search from the confident hits) reaches faces that no single reference
        # has within the threshold (on the celeb scenes, 4 Biden photos where the raw distance finds 2).
        keep(nearest_faces(store, queries, embedder, model_id, events=evs, limit=FIND_CANDIDATES).values(), t)
    faces = sorted(found.values(), key=lambda f: (f.event, f.path, f.face_index))
    return faces, float(used if used is not None else 0.0)


def forget_person(
    settings: Settings,
    store: VectorStore,
    references: Sequence[str | Path] | str | Path,
    *,
    dry_run: bool = True,
    **which,
) -> ForgetPersonResult:
    """List (dry run, the default) or delete every stored face of the person in the reference(s);
    `which` narrows them as faces_of_person's keywords do (threshold, events, face_index, detector)."""
    faces, used = faces_of_person(settings, store, references, **which)
    result = ForgetPersonResult(
        faces, used, dry_run, reports=pages_showing(settings, photos={(f.event, f.path) for f in faces})
    )
    if dry_run or not faces:
        result.deleted = {"faces": 0, "vectors": 0, "crops": 0, "stage_faces": 0}
        return result
    result.deleted = delete_faces(settings, store, faces)
    result.reports_deleted = forget_pages(settings, result.reports)  # derived pages: after the rows are gone
    return result


def delete_faces(settings: Settings, store: VectorStore, faces: Sequence[FaceMatch]) -> dict[str, int]:
    """Delete these faces everywhere: rows and vectors (one transaction), crops and stage entries.

    Files go before the commit: if the commit then fails, the rows are still there and the same
    command finds and deletes them again; the reverse order could leave a crop of someone whose
    rows are gone, with nothing left pointing at it.
    """
    by_event: dict[str, set[str]] = {}
    for f in faces:
        by_event.setdefault(f.event, set()).add(f.face_id)
    counts = {"faces": 0, "vectors": 0, "crops": 0, "stage_faces": 0}
    with ExitStack() as stack:
        for event in sorted(by_event):  # a fixed order: two forgets never deadlock
            stack.enter_context(event_lock(settings, event))
        crop_paths = {f.crop_path for f in faces}
        for event, ids in sorted(by_event.items()):
            removed, stage_crops = drop_faces(settings, event, ids)
            counts["stage_faces"] += removed
            crop_paths |= stage_crops
        counts["crops"] = delete_crop_files(settings, crop_paths)
        counts["vectors"], deleted = store.delete_faces(sorted({f.face_id for f in faces}), sorted(by_event))
        counts["faces"] = len(deleted)
    return counts


def forget_named_person(
    settings: Settings, store: VectorStore, ref: str, *, dry_run: bool = True
) -> ForgetPersonResult:
    """List (dry run) or delete every face of a person of the people tab (by name or id), and then the
    person itself: its record and name are personal data too."""
    people = PeopleStore(store)
    person = resolve_person(store, ref)
    faces = [FaceMatch(**f.location(), distance=0.0) for f in people.faces_of_person(person)]
    result = ForgetPersonResult(
        faces, float("nan"), dry_run, reports=pages_showing(settings, photos={(f.event, f.path) for f in faces})
    )
    if dry_run:
        result.deleted = {"faces": 0, "vectors": 0, "crops": 0, "stage_faces": 0, "people": 0}
        return result
    result.deleted = (
        delete_faces(settings, store, faces) if faces else {"faces": 0, "vectors": 0, "crops": 0, "stage_faces": 0}
    )
    result.deleted["people"] = people.decide("delete_person_and_aliases", person_id=person)
    result.reports_deleted = forget_pages(settings, result.reports)
    return result

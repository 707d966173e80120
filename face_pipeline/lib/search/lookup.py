"""The one lookup: a `LookupRequest` in, a `FindResult` out.

`face-pipeline find`, the `find_person_job` of the Dagster UI and the participant page are thin
adapters that build a LookupRequest from their own input (flags, run config, a form) and call
`lookup`; none of them searches on its own, so all three give the same photos for the same request.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from face_pipeline.lib.search.by_person import photos_of_person, with_person
from face_pipeline.lib.search.errors import UnanswerableLookup
from face_pipeline.lib.search.find import FindResult, resolve_serving_models, search_with_references
from face_pipeline.lib.search.references import load_references
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import VectorStore


@dataclass(frozen=True)
class LookupRequest:
    """Everything a lookup can be asked; each adapter exposes every field (a test checks)."""

    #: reference picture(s) of one person: file paths, or (name, bytes) held in memory (a selfie)
    references: tuple[str | tuple[str, bytes], ...] = ()
    #: a person's name or id (face-pipeline people) instead of reference pictures
    person: str | None = None
    #: also the matching person's photos that the reference alone does not reach
    with_person_photos: bool = False
    k: int = 50
    #: distance cut-off; None = the serving model's calibrated one
    threshold: float | None = None
    #: only these events (None = all)
    events: tuple[str, ...] | None = None
    #: only vectors of this model
    model_id: str | None = None
    #: which face of the reference (0 = largest); None = the clear subject, or an error if unclear
    face_index: int | None = None
    #: how several references score a face: "mean" (default), "min" or "centroid"
    enrol: str | None = None
    #: a second search from the confident hits (None = the default, on)
    expand: bool | None = None
    #: stored face ids the person confirmed as theirs ("Is this you too?"): further references
    confirmed_faces: tuple[str, ...] = ()
    #: also up to this many photos just past the threshold, for the person to confirm
    candidates: int = 0

    def __post_init__(self) -> None:
        # Adapters hand in lists (argparse, Dagster config); keep the request hashable and frozen.
        refs = tuple(
            r if isinstance(r, tuple) else str(r)
            for r in ([self.references] if isinstance(self.references, (str, Path)) else self.references)
        )
        object.__setattr__(self, "references", refs)
        if self.events is not None:
            object.__setattr__(self, "events", tuple(self.events) or None)
        object.__setattr__(self, "confirmed_faces", tuple(self.confirmed_faces))

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def lookup(settings: Settings, store: VectorStore, request: LookupRequest) -> FindResult:
    """The photos of one person, best first: by reference picture(s) (told which person they
    show, and with `with_person_photos` that person's further photos), or by person name/id."""
    if request.references and request.person:
        raise UnanswerableLookup("give reference picture(s) or a person's name or id, not both")
    if not request.references and not request.person:
        raise UnanswerableLookup("give at least one reference picture, or a person's name or id")
    if request.person:
        return photos_of_person(settings, store, request.person, k=request.k)
    groups = resolve_serving_models(store, request.events, request.model_id)
    refs = load_references(settings, list(request.references), face_index=request.face_index)
    result = search_with_references(
        store,
        refs,
        groups,
        k=request.k,
        threshold=request.threshold,
        events_limited=bool(request.events),
        enrol=request.enrol,
        expand=request.expand,
        folders=settings.model_folders,
        confirmed_faces=request.confirmed_faces,
        candidates=request.candidates,
    )
    return with_person(settings, store, result, add_photos=request.with_person_photos)


def find_person(settings: Settings, store: VectorStore, references, **options) -> FindResult:
    """`lookup` with keyword options, for scripts and tests: find_person(s, store, "me.jpg", k=10)."""
    return lookup(settings, store, LookupRequest(references=references, **options))

"""Finding a person: reference pictures (references.py), scoring candidates (scoring.py), the lookup
(find.py), the one entry point (lookup.py: LookupRequest -> lookup), finding by person
(by_person.py), and why a lookup can not be answered (errors.py)."""

from face_pipeline.lib.search.by_person import person_of_result, photos_of_person, with_person
from face_pipeline.lib.search.errors import (
    AmbiguousReference,
    NoFaceInReference,
    NoVectors,
    UnanswerableLookup,
)
from face_pipeline.lib.search.find import (
    FindResult,
    resolve_serving_models,
    search_with_references,
)
from face_pipeline.lib.search.lookup import LookupRequest, find_person, lookup
from face_pipeline.lib.search.references import (
    ReferenceFace,
    choose_face,
    load_reference,
    load_references,
)
from face_pipeline.lib.search.scoring import (
    DEFAULT_ENROL,
    DEFAULT_EXPAND,
    ENROL_MODES,
    EXPAND_MAX_HITS,
    EXPAND_MIN_CONFIDENCE,
    PhotoMatch,
    collapse_to_photos,
    enrol_distances,
    nearest_faces,
    stored_vectors,
)

__all__ = [
    "DEFAULT_ENROL",
    "DEFAULT_EXPAND",
    "ENROL_MODES",
    "EXPAND_MAX_HITS",
    "EXPAND_MIN_CONFIDENCE",
    "AmbiguousReference",
    "FindResult",
    "LookupRequest",
    "NoFaceInReference",
    "NoVectors",
    "PhotoMatch",
    "ReferenceFace",
    "UnanswerableLookup",
    "choose_face",
    "collapse_to_photos",
    "enrol_distances",
    "find_person",
    "load_reference",
    "load_references",
    "lookup",
    "nearest_faces",
    "person_of_result",
    "photos_of_person",
    "resolve_serving_models",
    "search_with_references",
    "stored_vectors",
    "with_person",
]

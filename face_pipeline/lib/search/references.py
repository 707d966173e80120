"""The reference picture(s) of a lookup: decoded like event photos, and the face to search for chosen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from face_pipeline.lib.models import DetectedFace, find_faces, get_detector
from face_pipeline.lib.models.faces import resize
from face_pipeline.lib.photos.decode import DecodedPhoto, decode_photo, load_rgb
from face_pipeline.lib.search.errors import (
    AmbiguousReference,
    NoFaceInReference,
    UnanswerableLookup,
)
from face_pipeline.lib.settings import Settings


@dataclass
class ReferenceFace:
    """A lookup's query, not a stored face: the DetectedFace chosen in a reference picture, with the picture."""

    path: str
    face: DetectedFace
    faces_found: int
    chosen_index: int
    photo: DecodedPhoto = field(repr=False)


# A second face at least this fraction of the largest one's area makes "the largest" a guess ...
AMBIGUOUS_AREA_RATIO = 0.6
# ... unless one of the large faces is clearly the picture's subject: at most this fraction of the
# others' distance from the picture's centre (a profile photo or a selfie centres its subject;
# bystanders stand at the edges).
CENTRAL_DISTANCE_RATIO = 0.5
# A face scored this much below the most confident one is not the subject (detectors whose scores
# are probabilities only; see _confident).
SUBJECT_SCORE_MARGIN = 0.05


def choose_face(
    faces: list[DetectedFace], face_index: int | None, path: str, shape: tuple[int, ...] | None = None
) -> tuple[int, DetectedFace]:
    """The face to search for: `face_index` if given (0 = largest), else the clearly largest one, or
    among large faces the one clearly at the centre of the picture (`shape`)."""
    if not faces:
        raise NoFaceInReference(
            f"no face found in the reference picture {path}; use a photo where the face is visible, "
            "frontal and at least ~40 pixels wide"
        )
    if face_index is not None:
        if not 0 <= face_index < len(faces):
            raise UnanswerableLookup(
                f"face_index {face_index} is out of range: {path} has {len(faces)} face(s) (0 = largest)"
            )
        return face_index, faces[face_index]
    subjects = _confident(faces)
    largest = faces[subjects[0]]
    large = [i for i in subjects if faces[i].area >= AMBIGUOUS_AREA_RATIO * largest.area]
    if len(large) > 1 and shape is not None:
        centre = (shape[1] / 2, shape[0] / 2)
        off = {
            i: ((faces[i].box[0] + faces[i].box[2]) / 2 - centre[0]) ** 2
            + ((faces[i].box[1] + faces[i].box[3]) / 2 - centre[1]) ** 2
            for i in large
        }
        ranked = sorted(large, key=lambda i: off[i])
        if off[ranked[0]] ** 0.5 <= CENTRAL_DISTANCE_RATIO * off[ranked[1]] ** 0.5:
            return ranked[0], faces[ranked[0]]
    if len(large) > 1:
        boxes = ", ".join(f"{i}: {f.box}" for i, f in enumerate(faces))
        raise AmbiguousReference(
            f"{path} shows {len(faces)} faces of similar size ({boxes}); choose one with face_index (0 = largest)",
            faces,
        )
    return large[0], faces[large[0]]


def _confident(faces: list[DetectedFace]) -> list[int]:
    """Indices (largest first) of the faces that can be the picture's subject: for detectors that
    score as probabilities, those within SUBJECT_SCORE_MARGIN of the most confident face. A blurred
    selfie gives RetinaFace a sure face (0.99+) and a large shadow of a face on the shirt below
    (0.6-0.9): by size alone the shirt would be searched for."""
    best = max(f.score for f in faces)
    if not 0 < best <= 1:
        return list(range(len(faces)))
    return [i for i, f in enumerate(faces) if f.score >= best - SUBJECT_SCORE_MARGIN]


#: A reference picture: a file's path, or (a name to show, its bytes) held only in memory.
Reference = str | Path | tuple[str, bytes]


def load_reference(
    settings: Settings, reference: Reference, *, detector: str | None = None, face_index: int | None = None
) -> ReferenceFace:
    if isinstance(reference, tuple):
        # An upload (the participant page's selfie): decoded from memory, never written anywhere.
        path, data = reference
        photo = decode_photo(data, path, max_pixels=settings.max_image_pixels, max_side=settings.max_work_side)
    else:
        path = reference
        photo = load_rgb(path, max_pixels=settings.max_image_pixels, max_side=settings.max_work_side)
    det = get_detector(detector or settings.detector, settings.model_folders)
    faces = _find_reference_faces(photo.rgb, det)
    if not faces and max(photo.rgb.shape[:2]) < 1200:
        # A reference is one picture: spend more time on it. Twice the size finds faces that were
        # too small for the detector (a thumbnail, a profile photo with a distant face).
        faces = [_halved(f) for f in _find_reference_faces(resize(photo.rgb, 2.0), det)]
    try:
        index, face = choose_face(faces, face_index, str(path), photo.rgb.shape)
    except AmbiguousReference as exc:
        exc.photo = photo  # a page shows the faces to choose from (held in memory only)
        raise
    return ReferenceFace(path=str(path), face=face, faces_found=len(faces), chosen_index=index, photo=photo)


def _find_reference_faces(rgb, det) -> list[DetectedFace]:
    """A reference is a selfie or a profile photo, taken upright (EXIF orientation is applied on
    decoding): the detector's upright pass alone first, and its rotated passes (RotatedPassesDetector)
    only when that finds no face. This keeps 3 of a selfie's 4 detection passes off the participant
    page's critical path (BENCHMARKS.md, "Participant page")."""
    upright = getattr(det, "upright", None)
    if upright is not None:
        faces = find_faces(rgb, upright)
        if faces:
            return faces
    return find_faces(rgb, det)


def _halved(face: DetectedFace) -> DetectedFace:
    """A face found on the image at twice its size, in the image's own pixels."""
    box = tuple(int(round(v / 2)) for v in face.box)
    return replace(face, box=box, landmarks=None if face.landmarks is None else face.landmarks / 2)


def load_references(
    settings: Settings,
    references: Sequence[Reference] | str | Path,
    *,
    face_index: int | None = None,
    detector: str | None = None,
) -> list[ReferenceFace]:
    """Decode each reference picture and choose the face to search for (first step of a lookup)."""
    if isinstance(references, (str, Path)):
        references = [references]
    if not references:
        raise UnanswerableLookup("give at least one reference picture")
    return [load_reference(settings, r, detector=detector, face_index=face_index) for r in references]

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


def choose_face(faces: list[DetectedFace], face_index: int | None, path: str,
                shape: tuple[int, ...] | None = None) -> tuple[int, DetectedFace]:
    """The face to search for: `face_index` if given (0 = largest), else the clearly largest one, or
    among large faces the one clearly at the centre of the picture (`shape`)."""
    if not faces:
        raise NoFaceInReference(
            f"no face found in the reference picture {path}; use a photo where the face is visible, "
            "frontal and at least ~40 pixels wide"
        )
    if face_index is not None:
        if not 0 <= face_index < len(faces):
            raise UnanswerableLookup(f"face_index {face_index} is out of range: {path} has {len(faces)} face(s) (0 = largest)")
        return face_index, faces[face_index]
    large = [i for i, f in enumerate(faces) if f.area >= AMBIGUOUS_AREA_RATIO * faces[0].area]
    if len(large) > 1 and shape is not None:
        centre = (shape[1] / 2, shape[0] / 2)
        off = {i: ((faces[i].box[0] + faces[i].box[2]) / 2 - centre[0]) ** 2
               + ((faces[i].box[1] + faces[i].box[3]) / 2 - centre[1]) ** 2 for i in large}
        ranked = sorted(large, key=lambda i: off[i])
        if off[ranked[0]] ** 0.5 <= CENTRAL_DISTANCE_RATIO * off[ranked[1]] ** 0.5:
            return ranked[0], faces[ranked[0]]
    if len(large) > 1:
        boxes = ", ".join(f"{i}: {f.box}" for i, f in enumerate(faces))
        raise AmbiguousReference(
            f"{path} shows {len(faces)} faces of similar size ({boxes}); choose one with face_index "
            "(0 = largest)", faces
        )
    return 0, faces[0]


#: A reference picture: a file's path, or (a name to show, its bytes) held only in memory.
Reference = str | Path | tuple[str, bytes]


def load_reference(settings: Settings, reference: Reference, *, detector: str | None = None,
                   face_index: int | None = None) -> ReferenceFace:
    if isinstance(reference, tuple):
        # An upload (the participant page's selfie): decoded from memory, never written anywhere.
        path, data = reference
        photo = decode_photo(data, path, max_pixels=settings.max_image_pixels, max_side=settings.max_work_side)
    else:
        path = reference
        photo = load_rgb(path, max_pixels=settings.max_image_pixels, max_side=settings.max_work_side)
    det = get_detector(detector or settings.detector, settings.model_folders)
    faces = find_faces(photo.rgb, det)
    if not faces and max(photo.rgb.shape[:2]) < 1200:
        # A reference is one picture: spend more time on it. Twice the size finds faces that were
        # too small for the detector (a thumbnail, a profile photo with a distant face).
        faces = [_halved(f) for f in find_faces(resize(photo.rgb, 2.0), det)]
    try:
        index, face = choose_face(faces, face_index, str(path), photo.rgb.shape)
    except AmbiguousReference as exc:
        exc.photo = photo  # a page shows the faces to choose from (held in memory only)
        raise
    return ReferenceFace(str(path), face, len(faces), index, photo)


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

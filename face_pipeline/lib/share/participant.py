"""The participant page's side of a lookup, with no HTTP in it: the request a selfie makes (the one
lookup of lib/search, limited to the link's events), advice on a poor selfie, and the pictures the
page shows (thumbnails with the face boxed, the photo itself, all of them as a streamed zip).

Nothing here writes the selfie anywhere: it arrives as bytes, is decoded in memory by the lookup,
and is dropped with the request.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import cv2
import numpy as np
from PIL import Image

from face_pipeline.lib.photos.decode import DecodedPhoto, decode_photo
from face_pipeline.lib.photos.events import event_folder
from face_pipeline.lib.report.images import boxed_thumbnail, face_thumbnail
from face_pipeline.lib.search import LookupRequest, ReferenceFace
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.share.links import OpenLink
from face_pipeline.lib.storage import read_file
from face_pipeline.lib.store import VectorStore, statement

#: At most this many photos on the page (an event of thousands rarely holds more of one person).
PAGE_PHOTOS = 100
#: "Is this you too?" asks about at most this many photos per round.
CANDIDATES_ASKED = 6
#: A face narrower than this (photo pixels) is "small": the model sees little of it.
MIN_FACE_PIXELS = 48
#: Variance of the Laplacian of the face at 128 px. Sharp selfies measure 180-560, web photos of LFW
#: 10-70 (1 % under 23), the demo portraits blurred by a 2-pixel Gaussian (at 128 px) 7-31: below
#: this, blur and not the face decides the answer.
MIN_SHARPNESS = 15.0
THUMBNAIL_SIDE = 480


def participant_request(
    link: OpenLink,
    selfie: tuple[str, bytes],
    *,
    face_index: int | None = None,
    confirmed_faces: Sequence[str] = (),
    declined: int = 0,
) -> LookupRequest:
    """The lookup a selfie asks for: the link's events only, with "Is this you too?" candidates (as
    many more as the person has declined, which the page does not ask about again)."""
    return LookupRequest(
        references=(selfie,),
        events=link.events,
        k=PAGE_PHOTOS,
        face_index=face_index,
        confirmed_faces=tuple(confirmed_faces),
        candidates=CANDIDATES_ASKED + declined,
    )


def sharpness(rgb: np.ndarray, box: Sequence[int]) -> float:
    """How sharp a face is: variance of the Laplacian of its grey crop at 128 x 128."""
    l, t, r, b = (int(v) for v in box)
    crop = rgb[max(0, t) : b, max(0, l) : r]
    if crop.size == 0:
        return 0.0
    grey = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), (128, 128), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def selfie_advice(ref: ReferenceFace) -> list[str]:
    """What is wrong with the face a selfie gave, in words for the person holding the phone."""
    advice = []
    width = ref.face.width / (ref.photo.scale or 1.0)
    if width < MIN_FACE_PIXELS:
        advice.append(
            f"Your face is small in this picture ({width:.0f} pixels wide), so some photos may be "
            "missed: hold the camera closer, your face filling a good part of the picture."
        )
    if sharpness(ref.photo.rgb, ref.face.box) < MIN_SHARPNESS:
        advice.append(
            "This picture looks blurred, so some photos may be missed: hold still, in good light, and try again."
        )
    return advice


def selfie_faces(photo: DecodedPhoto, faces: Iterable, side: int = 160) -> list:
    """Face crops of a selfie with several faces, for the person to pick theirs (in memory only)."""
    return [face_thumbnail(photo.rgb, f.box, 1.0, side) for f in faces]


@dataclass(frozen=True)
class StoredPhoto:
    event: str
    photo_id: str
    path: str
    width: int
    height: int

    @property
    def file_name(self) -> str:
        return PurePosixPath(self.path).name


def stored_photos(store: VectorStore, event: str, photo_ids: Sequence[str]) -> list[StoredPhoto]:
    """The stored photos of `photo_ids` in one event (one query), in the order asked; gone ones left out."""
    rows = store.rows(statement("stored_photos"), {"event": event, "photo_ids": list(photo_ids)})
    found = {r["photo_id"]: StoredPhoto(event, **r) for r in rows}
    return [found[i] for i in photo_ids if i in found]


def stored_photo(store: VectorStore, event: str, photo_id: str) -> StoredPhoto | None:
    return next(iter(stored_photos(store, event, [photo_id])), None)


def photo_bytes(settings: Settings, photo: StoredPhoto) -> bytes:
    """The photo's file as it is in the event folder."""
    return read_file(event_folder(settings.photos_root, photo.event) / photo.path)


def thumbnail_jpeg(settings: Settings, photo: StoredPhoto, box: Sequence[int] | None) -> bytes:
    """A thumbnail (THUMBNAIL_SIDE) with the face of `box` (photo pixels) boxed, as JPEG."""
    decoded = decode_photo(
        photo_bytes(settings, photo), photo.path, max_pixels=settings.max_image_pixels, max_side=THUMBNAIL_SIDE * 2
    )
    if box:
        img = boxed_thumbnail(decoded.rgb, box, decoded.scale, THUMBNAIL_SIDE)
    else:
        img = Image.fromarray(decoded.rgb)
        img.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=85)
    return buf.getvalue()


class _Chunks(io.RawIOBase):
    """A write-only stream that hands what was written to the zip generator, chunk by chunk."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.offset = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.parts.append(bytes(b))
        self.offset += len(b)
        return len(b)

    def tell(self) -> int:  # zipfile asks where it is; seeking is never needed (data descriptors)
        return self.offset

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def zip_stream(settings: Settings, photos: Sequence[StoredPhoto]) -> Iterator[bytes]:
    """A zip of the photos, produced one file at a time (never the whole archive in memory).
    Photos are JPEGs already: stored, not compressed again. Names are made unique per event."""
    sink = _Chunks()
    used: set[str] = set()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        for p in photos:
            name = f"{p.event}/{p.file_name}"
            stem, n = name, 1
            while name in used:
                n += 1
                name = f"{PurePosixPath(stem).with_suffix('')}-{n}{PurePosixPath(stem).suffix}"
            used.add(name)
            try:
                data = photo_bytes(settings, p)
            except Exception:  # a photo deleted since the lookup: the zip holds the others
                continue
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            with archive.open(info, "w", force_zip64=True) as member:
                for i in range(0, len(data), 1 << 20):
                    member.write(data[i : i + (1 << 20)])
                    yield sink.take()
        yield sink.take()
    yield sink.take()

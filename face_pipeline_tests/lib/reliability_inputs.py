"""Bad inputs for the reliability tests, made at test time from real LFW faces (read in place from
../shared) and PIL/numpy, plus the one-event pipeline run the tests share.

Each `BAD_PHOTOS` entry says what a user should see for that file: processed (with a face, or
without one) or skipped with a given reason code.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from face_pipeline.lib import ingest
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import VectorStore, WriteSummary
from face_pipeline_tests.conftest import lfw_photo

FACE_IDENTITY = "Tony_Blair"  # a frontal LFW face that dlib HOG finds in every variant below


def face_image(n: int = 1, identity: str = FACE_IDENTITY) -> Image.Image:
    return Image.open(lfw_photo(identity, n)).convert("RGB")


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def rotated_with_exif(img: Image.Image) -> bytes:
    """Pixels stored rotated, with EXIF orientation 6 ("rotate 90 CW to view"): a person sees the
    face upright; a reader that ignores EXIF sees it lying on its side (HOG finds nothing)."""
    stored = img.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise; viewer rotates it back
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", quality=92, exif=exif.tobytes())


def sixteen_bit_png(img: Image.Image) -> bytes:
    grey = np.asarray(img.convert("L"), dtype=np.uint16) * 257
    img16 = Image.fromarray(grey)
    assert img16.mode == "I;16"
    return encode(img16, "PNG")


def animated_gif(img: Image.Image) -> bytes:
    frames = [img.convert("P")] + [Image.new("RGB", img.size, c).convert("P") for c in ("red", "blue")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def alpha_png(img: Image.Image) -> bytes:
    rgba = img.convert("RGBA")
    alpha = np.full(img.size[::-1], 255, dtype=np.uint8)
    alpha[:, :20] = 0  # a transparent margin, composited on white
    rgba.putalpha(Image.fromarray(alpha))
    return encode(rgba, "PNG")


def truncated_jpeg(img: Image.Image) -> bytes:
    data = encode(img, "JPEG", quality=95)
    return data[: int(len(data) * 0.6)]


def decompression_bomb_png(side: int = 20_000) -> bytes:
    """A real, valid 1-bit PNG of side x side black pixels (400 M at the default) in ~60 kB,
    compressed row by row so that making it needs no more memory than checking it should."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + (side + 7) // 8)
    block = row * 256
    parts = [comp.compress(block) for _ in range(side // 256)]
    parts.append(comp.compress(row * (side % 256)))
    parts.append(comp.flush())
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def jpeg_claiming_size(width: int, height: int) -> bytes:
    """A small real JPEG whose header (SOF0) claims width x height: what a bomb's header looks like,
    without the pixels. Decoding it past the pixel check fails as truncated."""
    data = bytearray(encode(Image.new("RGB", (16, 16), (120, 80, 60)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def heic(img: Image.Image) -> bytes:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    return encode(img, "HEIF", quality=90)


def panorama_with_face(width: int = 24_000, height: int = 1_200) -> bytes:
    """A wide JPEG with one LFW face, enlarged x2 so it is ~220 px wide in the full photo."""
    pano = Image.new("RGB", (width, height), (96, 120, 150))
    face = face_image(2).resize((500, 500))
    pano.paste(face, (width // 3, (height - 500) // 2))
    return encode(pano, "JPEG", quality=85)


@dataclass(frozen=True)
class BadPhoto:
    name: str
    make: Callable[[Path], None]  # writes the file at the given path
    expect: str  # "face" (processed, face found), "processed" (no face), or a skip reason code
    note: str


def _bytes(data_fn: Callable[[], bytes]) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data_fn())


def _symlink(target: Callable[[Path], str]) -> Callable[[Path], None]:
    return lambda path: os.symlink(target(path), path)


def _sparse(size: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        with open(path, "wb") as fh:
            fh.truncate(size)

    return make


def bad_photos(tmp_outside: Path) -> list[BadPhoto]:
    """Every bad or unusual file of issue #6, with the outcome a user should see."""
    face = face_image(1)
    (tmp_outside / "secret.jpg").write_bytes(encode(face_image(3), "JPEG"))
    return [
        BadPhoto("good.jpg", _bytes(lambda: encode(face, "JPEG", quality=90)), "face", "a plain JPEG"),
        BadPhoto("zero-byte.jpg", _bytes(lambda: b""), "empty_file", "0-byte file"),
        BadPhoto("truncated.jpg", _bytes(lambda: truncated_jpeg(face_image(4))), "truncated", "JPEG cut at 60 %"),
        BadPhoto(
            "random-bytes.jpg",
            _bytes(lambda: np.random.default_rng(6).bytes(4096)),
            "not_an_image",
            "random bytes named .jpg",
        ),
        BadPhoto("notes.txt", _bytes(lambda: b"guest list\n"), "not_an_image", "a text file"),
        BadPhoto("text-named.jpg", _bytes(lambda: b"this is not a photo\n" * 20), "not_an_image", "text named .jpg"),
        BadPhoto("alpha.png", _bytes(lambda: alpha_png(face)), "face", "RGBA PNG"),
        BadPhoto("sixteen-bit.png", _bytes(lambda: sixteen_bit_png(face_image(5))), "face", "16-bit greyscale PNG"),
        BadPhoto("grayscale.jpg", _bytes(lambda: encode(face_image(6).convert("L"), "JPEG")), "face", "greyscale JPEG"),
        BadPhoto("cmyk.jpg", _bytes(lambda: encode(face_image(7).convert("CMYK"), "JPEG")), "face", "CMYK JPEG"),
        BadPhoto("palette.gif", _bytes(lambda: encode(face_image(8).convert("P"), "GIF")), "face", "palette GIF"),
        BadPhoto("animated.gif", _bytes(lambda: animated_gif(face_image(9))), "face", "animated GIF (first frame)"),
        BadPhoto("bomb.png", _bytes(decompression_bomb_png), "too_many_pixels", "20000x20000 PNG, 400 M pixels"),
        BadPhoto("exif-rotated.jpg", _bytes(lambda: rotated_with_exif(face_image(10))), "face", "EXIF orientation 6"),
        BadPhoto("photo.heic", _bytes(lambda: heic(face_image(11))), "face", "HEIC (pillow-heif installed)"),
        BadPhoto("tiny.png", _bytes(lambda: encode(Image.new("RGB", (1, 1)), "PNG")), "processed", "1x1 pixel PNG"),
        BadPhoto(
            "name with spaces.jpg", _bytes(lambda: encode(face, "JPEG", quality=80)), "face", "spaces in the name"
        ),
        BadPhoto("ünïcødé 写真.jpg", _bytes(lambda: encode(face, "JPEG", quality=81)), "face", "unicode name"),
        BadPhoto("new\nline.jpg", _bytes(lambda: encode(face, "JPEG", quality=82)), "face", "newline in the name"),
        BadPhoto(
            os.fsdecode(b"latin1-\xe9t\xe9.jpg"),
            _bytes(lambda: encode(face, "JPEG", quality=83)),
            "bad_file_name",
            "name that is not UTF-8",
        ),
        BadPhoto(
            "broken-link.jpg",
            _symlink(lambda p: str(p.parent / "does-not-exist.jpg")),
            "broken_symlink",
            "dangling symlink",
        ),
        BadPhoto(
            "outside-link.jpg",
            _symlink(lambda p: str(tmp_outside / "secret.jpg")),
            "symlink_outside",
            "symlink to a photo outside the photos root",
        ),
        BadPhoto("loop-link.jpg", _symlink(lambda p: str(p)), "broken_symlink", "symlink to itself"),
        BadPhoto("outside-dir", _symlink(lambda p: str(tmp_outside)), "symlink_dir", "symlink to a folder outside"),
        BadPhoto("fifo.jpg", lambda p: os.mkfifo(p), "not_a_file", "named pipe called .jpg (would block a reader)"),
        BadPhoto("huge-sparse.jpg", _sparse(3 << 30), "file_too_large", "3 GB file (sparse) named .jpg"),
    ]


def ingest_event(settings: Settings, store: VectorStore, event: str):
    """The four library steps, as the assets and the CLI call them."""
    manifest = ingest.scan_event(settings, event)
    faces = ingest.detect_faces(settings, manifest)
    embeddings = ingest.embed_faces(settings, faces)
    write = ingest.build_event_write(manifest, faces, embeddings)
    summary: WriteSummary = store.replace_event(write)
    return manifest, faces, embeddings, write, summary


def event_rows(store: VectorStore, event: str) -> dict[str, set]:
    """What the database holds for one event, for before/after comparisons."""
    with store.connect() as conn:
        return {
            "photos": set(
                conn.execute("SELECT photo_id, path, face_count FROM photos WHERE event = %s", (event,)).fetchall()
            ),
            "faces": set(conn.execute("SELECT face_id, photo_id FROM faces WHERE event = %s", (event,)).fetchall()),
            "vectors": set(
                conn.execute("SELECT face_id, model_id FROM face_vectors WHERE event = %s", (event,)).fetchall()
            ),
            "skipped": set(
                conn.execute("SELECT path, reason FROM skipped_files WHERE event = %s", (event,)).fetchall()
            ),
            "models": set(
                conn.execute(
                    "SELECT model_id, photo_count, face_count, serving FROM event_models WHERE event = %s", (event,)
                ).fetchall()
            ),
        }

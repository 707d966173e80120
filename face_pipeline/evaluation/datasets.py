"""Readers for labelled evaluation data, in the formats of the public sets they come from.

Any folder in one of these formats can be evaluated, so new labelled data is dropped in, not coded in:

- LFW-style identities: `images/<Identity>/<Identity>_NNNN.jpg` (or `<Identity>/...` at the top),
  optionally a `labels.csv` (`path, identity[, group]`) and a `pairs*.txt` in the official LFW format
  (3 fields = same person, 4 fields = two people).
- WIDER FACE boxes: `wider_face_split/*bbx_gt*.txt` (`<file>` / `N` / N lines `x y w h blur expression
  illumination invalid occlusion pose`) with the images under `WIDER_val/images/` (or `images/`).
- Scenes with who-is-in-it labels: `labels.csv` with `path, identities_present` (`;`-separated).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from face_pipeline.lib.errors import UserError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


# ---- LFW-style identity folders ----------------------------------------------------------------


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    identity: str
    group: str = ""


@dataclass(frozen=True)
class Pair:
    a: Path
    b: Path
    same: bool


@dataclass
class IdentitySet:
    root: Path
    photos: list[LabelledPhoto]
    pairs: list[Pair] = field(default_factory=list)

    def by_identity(self) -> dict[str, list[LabelledPhoto]]:
        out: dict[str, list[LabelledPhoto]] = {}
        for p in self.photos:
            out.setdefault(p.identity, []).append(p)
        return out

    def counts(self) -> Counter:
        return Counter(p.identity for p in self.photos)


def _images_root(root: Path) -> Path:
    return root / "images" if (root / "images").is_dir() else root


def read_identity_folder(root: str | Path) -> IdentitySet:
    """Photos labelled by identity (labels.csv if present, else the folder names), and the pairs."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root} is not a folder")
    labels = root / "labels.csv"
    photos: list[LabelledPhoto] = []
    if labels.is_file():
        with open(labels, newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"path", "identity"} <= set(reader.fieldnames):
                raise UserError(f"{labels} needs the columns path and identity")
            for row in reader:
                photos.append(LabelledPhoto(root / row["path"], row["identity"], row.get("group") or ""))
    else:
        base = _images_root(root)
        for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for f in sorted(folder.iterdir()):
                if f.suffix.lower() in IMAGE_SUFFIXES:
                    photos.append(LabelledPhoto(f, folder.name))
    if not photos:
        raise UserError(f"{root} holds no labelled photos (images/<Identity>/*.jpg or labels.csv)")
    photos.sort(key=lambda p: (p.identity, p.path.name))
    pairs_file = next((p for p in (root / "pairs_subset.txt", root / "pairs.txt") if p.is_file()), None)
    pairs = read_lfw_pairs(pairs_file, photos) if pairs_file else []
    return IdentitySet(root, photos, pairs)


def read_lfw_pairs(path: str | Path, photos: list[LabelledPhoto]) -> list[Pair]:
    """Pairs of the official LFW format whose two images are both among `photos` (others skipped).

    A line with 3 fields is `name n1 n2` (same person); 4 fields is `name1 n1 name2 n2`. Header lines
    (a fold count) and `#` comments are ignored.
    """
    by_key = {(p.identity, _image_number(p.path)): p.path for p in photos}
    pairs: list[Pair] = []
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if not fields or line.startswith("#"):
            continue
        if len(fields) == 3:
            a, b, same = (fields[0], int(fields[1])), (fields[0], int(fields[2])), True
        elif len(fields) == 4:
            a, b, same = (fields[0], int(fields[1])), (fields[2], int(fields[3])), False
        else:
            continue
        if a in by_key and b in by_key:
            pairs.append(Pair(by_key[a], by_key[b], same))
    return pairs


def _image_number(path: Path) -> int:
    tail = path.stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else -1


# ---- WIDER FACE boxes --------------------------------------------------------------------------


@dataclass(frozen=True)
class GroundTruthFace:
    """A labelled face of WIDER FACE (the truth detections are measured against), not a pipeline record."""

    box: tuple[int, int, int, int]  # left, top, right, bottom
    invalid: bool = False

    @property
    def size(self) -> int:
        """The longer side of the box: WIDER boxes are often tall and narrow."""
        return max(self.box[2] - self.box[0], self.box[3] - self.box[1])


@dataclass(frozen=True)
class BoxedPhoto:
    path: Path
    name: str
    faces: tuple[GroundTruthFace, ...]


def parse_wider_annotations(text: str) -> list[tuple[str, list[GroundTruthFace]]]:
    """Records of the official `wider_face_*_bbx_gt.txt` format.

    A photo with 0 faces is followed by one line of zeros in the official files; it is skipped.
    """
    lines = [ln.strip() for ln in text.splitlines()]
    out: list[tuple[str, list[GroundTruthFace]]] = []
    i = 0
    while i < len(lines):
        name = lines[i]
        if not name:
            i += 1
            continue
        try:
            n = int(lines[i + 1])
        except (IndexError, ValueError):
            raise UserError(f"line {i + 2}: expected a face count after {name!r}") from None
        rows = lines[i + 2 : i + 2 + n]
        faces = []
        for row in rows:
            v = [int(float(x)) for x in row.split()]
            if len(v) < 4:
                raise UserError(f"{name}: a box line needs at least x y w h, got {row!r}")
            x, y, w, h = v[:4]
            invalid = len(v) >= 8 and v[7] == 1
            faces.append(GroundTruthFace((x, y, x + w, y + h), invalid))
        out.append((name, faces))
        i += 2 + max(n, 1)
    return out


def read_wider_folder(root: str | Path) -> list[BoxedPhoto]:
    root = Path(root)
    split = root / "wider_face_split"
    candidates = sorted(split.glob("*bbx_gt*.txt")) if split.is_dir() else sorted(root.glob("*bbx_gt*.txt"))
    if not candidates:
        raise UserError(f"{root} has no wider_face_split/*bbx_gt*.txt annotation file")
    image_root = next(
        (p for p in (root / "WIDER_val" / "images", root / "WIDER_train" / "images", root / "images") if p.is_dir()),
        root,
    )
    photos = []
    for name, faces in parse_wider_annotations(candidates[0].read_text()):
        path = image_root / name
        if path.is_file():
            photos.append(BoxedPhoto(path, name, tuple(faces)))
    if not photos:
        raise UserError(f"none of the images named in {candidates[0]} exist under {image_root}")
    return photos


# ---- scenes with who-is-in-it labels ------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    path: Path
    relpath: str
    identities: frozenset[str]
    people_visible: int


def read_scene_labels(root: str | Path) -> list[Scene]:
    root = Path(root)
    labels = root / "labels.csv"
    if not labels.is_file():
        raise UserError(f"{root} has no labels.csv (path, identities_present)")
    scenes = []
    with open(labels, newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"path", "identities_present"} <= set(reader.fieldnames):
            raise UserError(f"{labels} needs the columns path and identities_present")
        for row in reader:
            ids = frozenset(i.strip() for i in row["identities_present"].split(";") if i.strip())
            people = row.get("approx_people_visible") or ""
            scenes.append(Scene(root / row["path"], row["path"], ids, int(people) if people.isdigit() else len(ids)))
    return scenes


def normalise_identity(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


def same_person(identity: str, scene_label: str) -> bool:
    """Whether an identity-folder name and a scene label name one person.

    Scene labels are lower-case and sometimes the surname only (`biden` for LFW's `Joseph_Biden`).
    """
    a, b = normalise_identity(identity), normalise_identity(scene_label)
    return a == b or a.endswith("_" + b) or b.endswith("_" + a)

"""Synthetic "event photos": several identity-labelled face photos pasted on one canvas.

Real event photos with identity labels for many people are rare; this composes them from labelled
crops so one query meets many faces per photo, at several sizes. A composite is described by a plan
(which photo, where, how big) and rendered from the original files on demand, in memory: nothing
is written next to the data and nothing needs copying into the repository.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from face_pipeline.evaluation.datasets import LabelledPhoto


@dataclass(frozen=True)
class Tile:
    path: Path
    identity: str
    left: int
    top: int
    size: int  # the source photo is resized to size x size


@dataclass(frozen=True)
class Composite:
    name: str
    width: int
    height: int
    background: tuple[int, int, int]
    tiles: tuple[Tile, ...]

    @property
    def identities(self) -> frozenset[str]:
        return frozenset(t.identity for t in self.tiles)


def plan_composites(
    photos: list[LabelledPhoto],
    *,
    count: int,
    tiles_per_photo: tuple[int, int] = (2, 6),
    tile_size: tuple[int, int] = (120, 250),
    canvas: tuple[int, int] = (1024, 768),
    seed: int = 0,
) -> list[Composite]:
    """`count` composites, each of 2-6 distinct photos on a 3x2 grid with random size and offset.

    Deterministic for a seed; every source photo is used at most once.
    """
    rng = random.Random(seed)
    pool = list(photos)
    rng.shuffle(pool)
    width, height = canvas
    cols, rows = 3, 2
    cell_w, cell_h = width // cols, height // rows
    out: list[Composite] = []
    for n in range(count):
        k = rng.randint(*tiles_per_photo)
        if len(pool) < k:
            break
        chosen, pool = pool[:k], pool[k:]
        cells = rng.sample(range(cols * rows), k)
        tiles = []
        for photo, cell in zip(chosen, cells, strict=True):
            size = rng.randint(tile_size[0], min(tile_size[1], cell_w, cell_h))
            cx, cy = (cell % cols) * cell_w, (cell // cols) * cell_h
            left = cx + rng.randint(0, cell_w - size)
            top = cy + rng.randint(0, cell_h - size)
            tiles.append(Tile(photo.path, photo.identity, left, top, size))
        grey = rng.randint(40, 215)
        out.append(Composite(f"composite_{n:04d}", width, height, (grey, grey, grey), tuple(tiles)))
    return out


def render(composite: Composite) -> np.ndarray:
    """The composite as an RGB array (tiles resized with a good filter, pasted on a flat canvas)."""
    from PIL import Image

    canvas = Image.new("RGB", (composite.width, composite.height), composite.background)
    for tile in composite.tiles:
        with Image.open(tile.path) as img:
            part = img.convert("RGB").resize((tile.size, tile.size), Image.Resampling.LANCZOS)
        canvas.paste(part, (tile.left, tile.top))
    return np.ascontiguousarray(np.asarray(canvas, dtype=np.uint8))

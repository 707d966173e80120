"""Time per photo, end to end (decode, detect, landmarks, crop, embed), every recipe on the same photos
one after the other in this process, so that rows compare (the face cache is not used)."""

from __future__ import annotations

import time

from face_pipeline.evaluation.context import Harness
from face_pipeline.evaluation.datasets import read_wider_folder
from face_pipeline.evaluation.recipes import detector_from_spec
from face_pipeline.evaluation.report import Section
from face_pipeline.lib.models import find_faces, get_embedder
from face_pipeline.lib.photos.decode import load_rgb


def timing_section(h: Harness) -> Section | None:
    if h.config.wider:
        paths = [p.path for p in read_wider_folder(h.config.wider)][:: 34 if h.config.quick else 17]
        what = "WIDER event photos (1024 px wide)"
    elif h.config.lfw:
        paths = [p.path for p in h.lfw_set().photos][:: 400 if h.config.quick else 100]
        what = "LFW photos (250 px)"
    else:
        return None
    rows = []
    for recipe in h.runnable():
        det = detector_from_spec(recipe.detector, h.folders)
        emb = get_embedder(recipe.embedder, h.folders)
        secs = [0.0, 0.0, 0.0]
        faces_n = 0
        for path in paths:
            t0 = time.perf_counter()
            rgb = load_rgb(path).rgb
            t1 = time.perf_counter()
            faces = find_faces(rgb, det)
            t2 = time.perf_counter()
            emb.embed([emb.crop(rgb, f) for f in faces])
            t3 = time.perf_counter()
            secs = [secs[0] + t1 - t0, secs[1] + t2 - t1, secs[2] + t3 - t2]
            faces_n += len(faces)
        n = len(paths)
        rows.append(
            (
                recipe.title,
                f"{1000 * sum(secs) / n:.0f}",
                f"{1000 * secs[1] / n:.0f}",
                f"{1000 * secs[2] / n:.0f}",
                f"{faces_n / n:.1f}",
                f"{1000 * secs[2] / faces_n:.0f}" if faces_n else "n/a",
            )
        )
    s = Section(
        "Time per photo",
        f"{len(paths)} {what}, one process, recipes one after the other on the same "
        "photos (the machine is shared: compare rows, not runs).",
    )
    s.table(("recipe", "ms/photo", "detect + landmarks", "crop + embed", "faces/photo", "ms/face embed"), rows)
    return s

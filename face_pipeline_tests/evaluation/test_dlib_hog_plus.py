"""dlib-hog-plus on a real tilted face: found by a rotated pass, and aligned so its vector still
matches the upright photo's."""

from __future__ import annotations

import numpy as np
from PIL import Image

from face_pipeline.lib.models import distance, find_faces, get_detector, get_embedder
from face_pipeline.lib.models.detectors.dlib_hog import DlibHogDetector
from face_pipeline_tests.conftest import lfw_photo, needs_datasets


@needs_datasets
def test_tilted_face_is_found_and_aligned_upright():
    upright = np.asarray(Image.open(lfw_photo("Angela_Bassett", 1)).convert("RGB"))
    tilted = np.ascontiguousarray(
        np.asarray(
            Image.fromarray(upright).rotate(
                50, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=(128, 128, 128)
            )
        )
    )
    emb = get_embedder("dlib-resnet-v1")
    plain = DlibHogDetector(upsample=1)
    plus = get_detector("dlib-hog-plus")
    assert find_faces(tilted, plain) == []  # frontal HOG does not see a face tilted this far
    faces = find_faces(tilted, plus)
    assert faces, "the rotated HOG pass should find the tilted face"
    face = faces[0]
    # landmarks come from the rotated copy: the eye line is tilted like the face (~50 degrees)
    (x0, y0), (x2, y2) = face.landmarks[0], face.landmarks[2]  # outer corners of the two eyes
    angle = abs(np.degrees(np.arctan2(y2 - y0, x2 - x0)))
    assert 35 < min(angle, 180 - angle) < 65
    ref = emb.embed([emb.crop(upright, find_faces(upright, plain)[0])])[0]
    got = emb.embed([emb.crop(tilted, face)])[0]
    assert distance(got[None, :], ref, "l2")[0] < 0.2

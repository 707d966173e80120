"""Aligning a face the way an identity model was trained: a similarity transform (rotation, scale,
translation) that puts the detector's landmarks on the model's template, then one warp.

The five-point template is ArcFace's (InsightFace) for 112x112 chips; other chip sizes scale it. A
face found in any orientation (lying down, upside down) comes out upright, because the transform
follows the landmarks, not the box.
"""

from __future__ import annotations

import cv2
import numpy as np

from face_pipeline.lib.models.faces import DLIB5, FIVE_POINT, DetectedFace

#: Image-left eye, image-right eye, nose tip, image-left and image-right mouth corners, 112x112 chip.
ARCFACE_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity matrix mapping points `src` onto `dst` in the least-squares sense
    (Umeyama, 1991); exact for two points."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = len(src)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / n
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rotation = u @ np.diag(d) @ vt
    var_src = (src_c**2).sum() / n
    if var_src <= 0:
        raise ValueError("landmarks collapse to one point")
    scale = (s * d).sum() / var_src
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def landmarks_and_template(face: DetectedFace) -> tuple[np.ndarray, np.ndarray]:
    """The face's landmarks and the matching points of the 112x112 template.

    Five-point landmarks use all five. dlib's five points (eye corners, base of the nose) give the
    two eye centres only: dlib's nose point sits lower than the template's nose tip. Points are
    taken in anatomical order (dlib's points 2-3 are the eye on the image's left of an upright
    face), never sorted by position, so a face upside down is turned upright, not mirrored.
    """
    if face.landmarks is None:
        raise ValueError("the face has no landmarks")
    points = np.asarray(face.landmarks, dtype=np.float64).reshape(5, 2)
    if face.landmark_scheme == FIVE_POINT:
        return points, ARCFACE_TEMPLATE_112
    if face.landmark_scheme == DLIB5:
        eyes = np.array([points[2:4].mean(axis=0), points[0:2].mean(axis=0)])
        return eyes, ARCFACE_TEMPLATE_112[:2]
    raise ValueError(f"unknown landmark scheme {face.landmark_scheme!r}")


def align_face(rgb: np.ndarray, face: DetectedFace, size: int, *, zoom: float = 1.0) -> np.ndarray:
    """A `size` x `size` chip with the face on the ArcFace template scaled to `size`.

    `zoom` < 1 shows more around the face (the template shrinks about the chip's centre).
    """
    points, template = landmarks_and_template(face)
    centre = size / 2.0
    target = (template * (size / 112.0) - centre) * zoom + centre
    matrix = similarity_transform(points, target)
    return cv2.warpAffine(
        rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)
    )

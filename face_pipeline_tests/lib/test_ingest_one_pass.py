"""Each photo is read and decoded once per ingest: the detection step cuts the crops from the decoded
image and embeds all faces of the photo in one call; the embedding step takes those vectors, which
are the ones the crop files give, and embeds from the files only what another embedder needs."""

from __future__ import annotations

import shutil

import numpy as np

from face_pipeline.lib.bundled_files import demo_dir
from face_pipeline.lib.ingest import detect_faces, embed_faces, scan_event
from face_pipeline.lib.ingest.embed import embed_chunk
from face_pipeline.lib.ingest.stage_files import detect_vectors
from face_pipeline.lib.models import embedder_model_id

PHOTOS = ["a01_exp1_crew_oranges.jpg", "a06_sts98_pair_ISS01E5365.jpg", "a10_sts111_suits_noface.jpg"]


def test_the_embedding_step_takes_the_detection_steps_vectors_which_equal_the_crop_files(settings):
    folder = settings.photos_root / "crew"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copy(demo_dir() / "photos" / "event_a_iss_2000_2001" / name, folder / name)
    faces = detect_faces(settings, scan_event(settings, "crew"))
    assert len(faces.faces) >= 6 and faces.seconds_embed > 0
    early = detect_vectors(settings, "crew", embedder_model_id(settings.embedder))
    assert set(early) == {f.face_id for f in faces.faces}

    embedded = embed_faces(settings, faces)
    assert embedded.model_id == settings.embedder and embedded.embedded == len(faces.faces)
    from_files = embed_chunk(
        (settings.embedder, settings.model_folders, [str(settings.data_dir / f.crop_path) for f in faces.faces])
    )
    np.testing.assert_allclose(embedded.vectors, from_files, atol=1e-5)

    # Another embedder of the same crop kind (a model switch) embeds from the crop files.
    other = embed_faces(settings, faces, embedder="facenet-v1")
    assert other.model_id == "facenet-v1" and other.embedded == len(faces.faces)
    assert float(np.abs(other.vectors - embedded.vectors).max()) > 1e-3

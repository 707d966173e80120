"""The whole path on real photos: ingest the celeb scenes as one event, then look up a person who is
not among them (an LFW photo of Joe Biden, another source and era)."""

from dataclasses import replace
from pathlib import Path

import pytest

from face_pipeline.lib import ingest
from face_pipeline.lib.models import get_detector, get_embedder
from face_pipeline.lib.report import write_html_report
from face_pipeline.lib.search import find_person
from face_pipeline_tests.conftest import (
    CELEB,
    celeb_labels,
    copy_celeb_scenes,
    lfw_photo,
    needs_datasets,
)
from face_pipeline_tests.support.tiny_clip import make_tiny_clip


@needs_datasets
def test_biden_is_found_in_every_photo_labelled_with_him_and_no_other(celeb_settings, store):
    report = ingest.ingest_event(celeb_settings, store, "celeb")
    assert len(report.manifest.photos) == 27 and not report.manifest.skipped
    assert report.written.vectors == len(report.faces.faces) >= 40

    result = find_person(celeb_settings, store, lfw_photo("Joseph_Biden", 1), k=50)
    labelled = {path for path, who in celeb_labels().items() if "biden" in who}
    found = {m.path for m in result.matches}
    assert found == labelled, f"missing {labelled - found}, wrong {found - labelled}"
    for m in result.matches:
        assert m.distance <= result.threshold
        assert 0.0 < m.confidence <= 1.0
        l, t, r, b = m.box
        assert 0 <= l < r <= m.width and 0 <= t < b <= m.height
    # Ranked: best first, confidence falls as distance grows.
    assert [m.distance for m in result.matches] == sorted(m.distance for m in result.matches)
    html = write_html_report(celeb_settings, result).read_text()
    assert html.count("data:image/jpeg;base64,") == 1 + len(labelled)
    assert "http://" not in html and "https://" not in html


@needs_datasets
def test_reingest_is_idempotent(celeb_settings, store):
    first = ingest.ingest_event(celeb_settings, store, "celeb")
    counts = store.counts()
    second = ingest.ingest_event(celeb_settings, store, "celeb")
    assert store.counts() == counts
    assert second.faces.reused_photos == 27 and second.embeddings.embedded == 0
    assert [f.face_id for f in first.faces.faces] == [f.face_id for f in second.faces.faces]


def _small_event(settings, name: str, files: list[str]) -> None:
    for rel in files:
        target = settings.photos_root / name / Path(rel).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((CELEB / rel).read_bytes())


SMALL = [
    "face_recognition/examples/knn_examples/train/biden/biden.jpg",
    "face_recognition/examples/knn_examples/train/obama/obama.jpg",
    "face_recognition/examples/two_people.jpg",
    "face_recognition/examples/knn_examples/train/rose_leslie/img1.jpg",
]


@needs_datasets
def test_the_original_recipe_haar_then_clip_runs_end_to_end(settings, store, tmp_path, monkeypatch):
    """Haar cascade (article parameters) + CLIP through imgbeddings + cosine distance in pgvector."""
    model_dir = make_tiny_clip(tmp_path / "clip")
    get_embedder.cache_clear()
    try:
        s = replace(settings, detector="haar", embedder="clip-imgbeddings", clip_model_dir=str(model_dir))
        _small_event(s, "article", SMALL)
        report = ingest.ingest_event(s, store, "article")
        clip = get_embedder("clip-imgbeddings", s.model_folders)
        assert report.faces.detector_model == get_detector("haar").model_id
        assert report.faces.crop_kind == "box"
        assert report.embeddings.model_id == clip.model_id and report.embeddings.vectors.shape[1] == 768
        assert report.written.vectors == len(report.faces.faces) > 0
        # The reference is one of the photos: its own face comes back first at distance ~0.
        result = find_person(s, store, CELEB / SMALL[0], k=5, threshold=0.5)
        assert result.models == {clip.model_id: ["article"]}
        assert result.matches[0].path == "biden.jpg" and result.matches[0].distance < 1e-3  # float32 cosine noise
    finally:
        get_embedder.cache_clear()


@needs_datasets
def test_haar_detector_with_the_aligned_identity_model(settings, store):
    s = replace(settings, detector="haar", embedder="dlib-resnet-v1")
    _small_event(s, "haar-event", SMALL)
    report = ingest.ingest_event(s, store, "haar-event")
    assert report.faces.detector_model.startswith("haar-")
    assert report.written.vectors == len(report.faces.faces) >= 3
    # Haar boxes give slightly different chips; with 4 photos there are no confident hits to expand
    # the query from, so use the customary 0.6 rather than the calibrated default (EVALUATION.md).
    result = find_person(s, store, lfw_photo("Joseph_Biden", 1), k=5, threshold=0.6)
    assert {m.path for m in result.matches} == {"biden.jpg", "two_people.jpg"}


def test_clip_without_local_weights_says_what_to_do():
    from face_pipeline.lib.models import ModelFilesMissing
    from face_pipeline.lib.models.embedders.clip_imgbeddings import ClipImgbeddingsEmbedder

    with pytest.raises(ModelFilesMissing, match="FACE_PIPELINE_CLIP_MODEL_DIR"):
        ClipImgbeddingsEmbedder("")


def test_copy_helper_keeps_the_dataset_layout(tmp_path):
    if not CELEB.is_dir():
        pytest.skip("celeb scenes absent")
    dest = copy_celeb_scenes(tmp_path / "e")
    assert len([p for p in dest.rglob("*") if p.is_file()]) == 27

"""The model catalogue (lib/models/registry.py, one card per model): what a card says is what its model
does, it is readable without any weight, a weight file is named in one place, and the evaluation
harness's variants come from the catalogue too."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from face_pipeline.evaluation.recipes import detector_from_spec
from face_pipeline.lib.models import (
    CATALOGUE,
    DETECTORS,
    EMBEDDERS,
    ModelFilesMissing,
    ModelFolders,
    UnknownModel,
)
from face_pipeline.lib.models.card import ModelFiles
from face_pipeline.lib.models.detectors.dlib_landmarks import SHAPE5
from face_pipeline.lib.models.package_files import packaged_path
from face_pipeline.lib.models.registry import embedder_model_id
from face_pipeline.lib.models.weights import WeightFile

PACKAGE = Path(__file__).resolve().parents[2] / "face_pipeline"

# The ids stored with every face and vector in users' databases: a change here orphans their rows.
STORED_IDS = {
    "dlib-hog": "dlib-hog-up1",
    "dlib-hog-plus": "dlib-hog-up1-rot-25_25-s640+mmod640-below0",
    "dlib-cnn": "dlib-mmod-up0",
    "haar": "haar-frontalface-default-sf1.05-mn2-ms100",
    "retinaface-mnet025": "retinaface-mnet025-v1-s1024-t0.6-nms0.4",
    "retinaface-mnet025-rot": "retinaface-mnet025-v1-s1024-t0.6-nms0.4+rot13-s640-t0.95-b0.05",
    "retinaface-mnet025-rot3": "retinaface-mnet025-v1-s1024-t0.6-nms0.4+rot123-s640-t0.95-b0.05",
    "retinaface-mnet025-autorot": "retinaface-mnet025-v1-s1024-t0.6-nms0.4+rot123-s640-t0.95-b0.05-iftilt60-c0.05",
    "retinaface-mnet025-autorot-fp16": "retinaface-mnet025-v1-fp16-s1024-t0.6-nms0.4+rot123-s640-t0.95-b0.05-iftilt60-c0.05",
    "yunet": "yunet-2023mar-v1-s1024-t0.6-nms0.3",
    "yunet-rot": "yunet-2023mar-v1-s1024-t0.6-nms0.3+rot123-s640-t0.85-b0.05",
    "scrfd-2.5g": "scrfd-2.5g-kps-v1-s640-t0.4-nms0.4",
    "scrfd-2.5g-rot": "scrfd-2.5g-kps-v1-s640-t0.4-nms0.4+rot123-s480-t0.6-b0.05",
    "dlib-resnet-v1": "dlib-resnet-v1",
    "dlib-resnet-v1-flip": "dlib-resnet-v1-flip",
    "facenet-v1": "facenet-v1",
    "facenet-v1-flip": "facenet-v1-flip",
    "facenet-v1-int8": "facenet-v1-int8",
    "facenet-v1-flip-int8": "facenet-v1-flip-int8",
    "facenet-v1-flip-fp16": "facenet-v1-flip-fp16",
    "mobilefacenet": "mobilefacenet-v1",
    "mobilefacenet-flip": "mobilefacenet-v1-flip",
    "clip-imgbeddings": "clip-imgbeddings-patch32_v1",  # with imgbeddings' own file; else named by the folder
}


class UncheckedFiles(ModelFiles):
    """Paths where no file is: a model that reads its weights on first use is built all the same."""

    def path(self, file) -> Path:
        return self.folders.model_dir / file.name


def test_the_stored_model_ids_never_change():
    assert {c.name: c.model_id for c in CATALOGUE} == STORED_IDS


def test_every_card_is_complete():
    assert set(DETECTORS) | set(EMBEDDERS) == {c.name for c in CATALOGUE}
    for c in CATALOGUE:
        assert c.kind in ("detector", "embedder")
        assert c.licence and c.input_size and c.summary and c.evidence, c.name
        assert c.files or c.user_files, f"{c.name}: which files does it need?"
        assert (c.kind == "embedder") == bool(c.crop_kind), c.name
        for f in c.files:
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256) and f.source and f.licence, f.name
        if not c.commercial_use:
            assert not c.default_install, f"{c.name}: a non-commercial model is an opt-in"


@pytest.mark.parametrize("c", [c for c in CATALOGUE if not c.user_files], ids=lambda c: c.name)
def test_a_card_builds_its_model_without_any_weight_and_the_model_has_the_cards_id(c, tmp_path, onnx_sessions):
    model = c.factory(UncheckedFiles(ModelFolders(tmp_path / "no-files"), c.name))
    assert model.model_id == c.model_id
    if c.kind == "embedder":
        assert model.crop_kind == c.crop_kind
    assert onnx_sessions == []  # sessions open on the first detect or embed call


def test_a_weight_file_is_named_in_one_place_only():
    """Its card's file declares it; weights.py, package_files.py, conversions and callers read it there."""
    sources = {p: p.read_text() for p in PACKAGE.rglob("*.py")}
    for f in {f for c in CATALOGUE for f in c.files}:
        where = [p.relative_to(PACKAGE).as_posix() for p, text in sources.items() if f.name in text]
        assert len(where) == 1, f"{f.name} is named in {where}"
        assert where[0].startswith(("lib/models/detectors/", "lib/models/embedders/")), where


def test_cards_that_share_a_weight_file_share_one_declaration():
    by_name: dict[str, set] = {}
    for c in CATALOGUE:
        for f in c.installed_files:
            by_name.setdefault(f.name, set()).add(id(f))
    assert all(len(ids) == 1 for ids in by_name.values())
    assert all(isinstance(f, WeightFile) for c in CATALOGUE for f in c.installed_files)


def test_a_dependency_file_that_is_not_the_pinned_one_is_refused():
    assert packaged_path(SHAPE5, "test").is_file()
    with pytest.raises(ModelFilesMissing, match=r"is not the one face_recognition_models==0.3.0 ships.*requirements"):
        packaged_path(replace(SHAPE5, sha256="0" * 64), "dlib-resnet-v1")


def test_clip_is_named_by_the_files_in_its_folder(tmp_path):
    from face_pipeline_tests.support.tiny_clip import make_tiny_clip

    folder = make_tiny_clip(tmp_path / "clip")
    assert embedder_model_id("clip-imgbeddings", ModelFolders(tmp_path, str(folder))) == "clip-imgbeddings-tiny-test-0"
    with pytest.raises(ModelFilesMissing, match="FACE_PIPELINE_CLIP_MODEL_DIR"):
        embedder_model_id("clip-imgbeddings", ModelFolders(tmp_path, ""))


def test_the_harness_measures_variants_that_the_catalogue_builds():
    folders = ModelFolders.default()
    try:
        variant = detector_from_spec("retinaface-mnet025:max_side=640,score_threshold=0.5", folders)
    except ModelFilesMissing as exc:
        pytest.skip(str(exc))
    assert variant.model_id == "retinaface-mnet025-v1-s640-t0.5-nms0.4"
    assert detector_from_spec("retinaface-mnet025", folders).model_id == DETECTORS["retinaface-mnet025"].model_id
    with pytest.raises(UnknownModel, match="takes no parameters"):
        detector_from_spec("retinaface-mnet025-rot3:max_side=640", folders)
    with pytest.raises(UnknownModel, match="unknown detector"):
        detector_from_spec("retinaface-mnet026:max_side=640", folders)

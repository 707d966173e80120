"""Dataset readers on small files written by the tests (the official formats)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from face_pipeline.evaluation.datasets import (
    parse_wider_annotations,
    read_identity_folder,
    read_scene_labels,
    read_wider_folder,
    same_person,
)
from face_pipeline.evaluation.synthetic import plan_composites, render

WIDER_TEXT = """a/one.jpg
2
10 20 30 40 0 0 0 0 0 0
5 5 50 60 2 0 0 1 0 0
a/none.jpg
0
0 0 0 0 0 0 0 0 0 0
b/two.jpg
1
1 2 3 4 0 0 0 0 0 0
"""


def test_parse_wider_records_boxes_invalid_flags_and_empty_photos():
    recs = parse_wider_annotations(WIDER_TEXT)
    assert [r[0] for r in recs] == ["a/one.jpg", "a/none.jpg", "b/two.jpg"]
    one = recs[0][1]
    assert one[0].box == (10, 20, 40, 60) and not one[0].invalid and one[0].size == 40
    assert one[1].invalid and one[1].size == 60
    assert recs[1][1] == []
    assert recs[2][1][0].box == (1, 2, 4, 6)


def _jpeg(path, value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((20, 20, 3), value, np.uint8)).save(path)


def test_read_wider_folder_keeps_existing_images(tmp_path):
    (tmp_path / "wider_face_split").mkdir()
    (tmp_path / "wider_face_split" / "x_bbx_gt.txt").write_text(WIDER_TEXT)
    _jpeg(tmp_path / "WIDER_val" / "images" / "a" / "one.jpg")
    photos = read_wider_folder(tmp_path)
    assert [p.name for p in photos] == ["a/one.jpg"]
    assert len(photos[0].faces) == 2


def test_identity_folder_without_labels_and_pairs(tmp_path):
    for name, n in (("Ann_Lee", 3), ("Bo_Kim", 1)):
        for i in range(1, n + 1):
            _jpeg(tmp_path / "images" / name / f"{name}_{i:04d}.jpg")
    (tmp_path / "pairs.txt").write_text("2\t3\nAnn_Lee\t1\t2\nAnn_Lee\t1\t9\nAnn_Lee\t3\tBo_Kim\t1\n")
    ds = read_identity_folder(tmp_path)
    assert ds.counts() == {"Ann_Lee": 3, "Bo_Kim": 1}
    assert [(p.a.name, p.b.name, p.same) for p in ds.pairs] == [
        ("Ann_Lee_0001.jpg", "Ann_Lee_0002.jpg", True),
        ("Ann_Lee_0003.jpg", "Bo_Kim_0001.jpg", False),
    ]


def test_scene_labels_and_names_across_sets(tmp_path):
    (tmp_path / "labels.csv").write_text(
        "path,identities_present,approx_people_visible\nx/a.jpg,obama;biden,3\nx/b.jpg,obama,\n"
    )
    scenes = read_scene_labels(tmp_path)
    assert scenes[0].identities == {"obama", "biden"} and scenes[0].people_visible == 3
    assert scenes[1].people_visible == 1
    assert same_person("Joseph_Biden", "biden")
    assert same_person("Vin_Diesel", "vin_diesel")
    assert not same_person("Joseph_Biden", "obama")


def test_synthetic_plan_is_deterministic_and_uses_each_photo_once(tmp_path):
    from face_pipeline.evaluation.datasets import LabelledPhoto

    photos = []
    for i in range(20):
        p = tmp_path / f"p{i}.jpg"
        _jpeg(p, value=10 * i)
        photos.append(LabelledPhoto(p, f"id{i % 5}"))
    a = plan_composites(photos, count=4, seed=3)
    assert a == plan_composites(photos, count=4, seed=3)
    used = [t.path for c in a for t in c.tiles]
    assert len(used) == len(set(used))
    for c in a:
        assert 2 <= len(c.tiles) <= 6
        for t in c.tiles:
            assert 0 <= t.left and t.left + t.size <= c.width and t.top + t.size <= c.height
    img = render(a[0])
    assert img.shape == (768, 1024, 3)
    t = a[0].tiles[0]
    src = int(t.path.stem[1:]) * 10
    assert abs(int(img[t.top + t.size // 2, t.left + t.size // 2, 0]) - src) <= 1

import os
import time

from face_pipeline.lib.photos.watch import folder_state, plan_changes


def _touch(path, data=b"jpegish", age=0.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    t = time.time() - age
    os.utime(path, (t, t))
    os.utime(path.parent, (t, t))


def test_fingerprint_changes_with_content_names_and_deletions(tmp_path):
    _touch(tmp_path / "a.jpg", age=100)
    s1 = folder_state(tmp_path)
    _touch(tmp_path / "b.jpg", age=100)
    s2 = folder_state(tmp_path)
    (tmp_path / "b.jpg").unlink()
    s3 = folder_state(tmp_path)
    assert s1.files == 1 and s2.files == 2 and s3.files == 1
    assert s1.fingerprint != s2.fingerprint
    assert s3.fingerprint == s1.fingerprint or s3.newest_mtime >= s1.newest_mtime


def test_plan_changes_new_changed_waiting_invalid(tmp_path):
    _touch(tmp_path / "offsite" / "1.jpg", age=300)
    _touch(tmp_path / "copying" / "1.jpg", age=0)
    _touch(tmp_path / "Not Valid" / "1.jpg", age=300)
    (tmp_path / "empty").mkdir()
    now = time.time()
    plan = plan_changes(tmp_path, {}, now=now, stable_seconds=60)
    assert plan.new_events == ["offsite"]
    assert plan.waiting == ["copying"]
    assert plan.invalid_names == ["Not Valid"]
    assert plan.changed_events == []
    # The same content a second time: nothing to do.
    again = plan_changes(tmp_path, dict(plan.fingerprints), now=now, stable_seconds=60)
    assert again.new_events == [] and again.changed_events == []

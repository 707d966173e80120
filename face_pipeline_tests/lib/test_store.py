"""The vector store on the real embedded PostgreSQL + pgvector."""

import numpy as np
import pytest

from face_pipeline.lib.errors import SystemFault
from face_pipeline.lib.store import (
    EventWrite,
    FaceRow,
    PhotoRow,
    VectorStore,
    face_id_for,
)


def _write(event, model_id="dlib-resnet-v1", photos=("p1", "p2"), faces_per_photo=2, seed=0, dim=128):
    rng = np.random.default_rng(seed)
    photo_rows = [PhotoRow(pid, f"{pid}.jpg", 100, 640, 480, None, faces_per_photo) for pid in photos]
    faces = [
        FaceRow(
            face_id=face_id_for(event, pid, "dlib-hog-up1", i),
            photo_id=pid,
            face_index=i,
            box=(10 * i, 10, 10 * i + 50, 60),
            score=1.0,
            landmarks=[0.0] * 10,
            crop_path=f"crops/{event}/{pid}/{i:03d}.png",
        )
        for pid in photos
        for i in range(faces_per_photo)
    ]
    vectors = rng.standard_normal((len(faces), dim)).astype(np.float32) * 0.1
    return EventWrite(
        event,
        "dlib-hog-up1",
        model_id,
        photo_rows,
        faces,
        vectors,
        skipped=[("bad.jpg", "corrupt", "bad.jpg: image data is corrupt")],
    )


def test_migrations_are_recorded_and_idempotent(store):
    assert store.migrate() == []
    names = [name for _, name, _ in store.applied_migrations()]
    assert names[:3] == ["001_extensions.sql", "002_photos_faces_vectors.sql", "003_hnsw_indexes.sql"]


def test_the_resource_store_migrates_once_per_process_and_database(pg_server, tmp_path):
    """`FacePipeline.store()` is called many times in a run: the first call for a database applies
    the migrations, the next ones do not even connect; an explicit migrate() always runs, so a
    database recreated under the same DSN (as the benchmarks do) gets its schema back."""
    import psycopg

    from face_pipeline.defs.resources import FacePipeline
    from face_pipeline.lib.settings import Settings

    def recreate():
        with psycopg.connect(pg_server.get_uri("postgres"), autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS migrate_once WITH (FORCE)")
            conn.execute("CREATE DATABASE migrate_once")

    dsn = pg_server.get_uri("migrate_once")
    recreate()
    pipeline = FacePipeline.from_settings(Settings.from_env(photos_root=tmp_path, data_dir=tmp_path, dsn=dsn))
    first = pipeline.store()
    assert [name for _, name, _ in first.applied_migrations()][:1] == ["001_extensions.sql"]
    with psycopg.connect(pg_server.get_uri("postgres"), autocommit=True) as conn:
        conn.execute("DROP DATABASE migrate_once WITH (FORCE)")
    assert pipeline.store().ensure_migrated() == []  # remembered: no connection to the missing database
    with pytest.raises(SystemFault):
        VectorStore(dsn, connect_timeout=2).migrate()  # an explicit migrate() always goes to the server
    recreate()
    assert "001_extensions.sql" in VectorStore(dsn).migrate()  # the recreated database gets its schema
    with psycopg.connect(pg_server.get_uri("postgres"), autocommit=True) as conn:
        conn.execute("DROP DATABASE migrate_once WITH (FORCE)")


def test_replace_event_is_idempotent_and_exact_search_finds_the_vector(store):
    w = _write("crabweek")
    s1 = store.replace_event(w)
    ids1 = [m.face_id for m in store.search_faces(w.vectors[0], model_id=w.model_id, dim=128, metric="l2", limit=100)]
    s2 = store.replace_event(_write("crabweek"))
    ids2 = [m.face_id for m in store.search_faces(w.vectors[0], model_id=w.model_id, dim=128, metric="l2", limit=100)]
    assert (s1.photos, s1.faces, s1.vectors, s1.skipped) == (2, 4, 4, 1)
    assert s2.photos_removed == 0
    assert sorted(ids1) == sorted(ids2) and len(ids1) == 4
    assert store.counts() == {"photos": 2, "faces": 4, "face_vectors": 4, "skipped_files": 1}
    best = store.search_faces(w.vectors[2], model_id=w.model_id, dim=128, metric="l2", events=["crabweek"], limit=1)[0]
    assert best.face_id == w.faces[2].face_id and best.distance == pytest.approx(0.0, abs=1e-5)
    assert store.skipped_files("crabweek") == [("bad.jpg", "corrupt", "bad.jpg: image data is corrupt")]
    assert store.skipped_files("crabweek")[0].reason == "corrupt"  # named, and still a tuple


def test_removed_photo_disappears_and_other_events_are_untouched(store):
    store.replace_event(_write("a"))
    store.replace_event(_write("b"))
    s = store.replace_event(_write("a", photos=("p1",)))
    assert s.photos_removed == 1
    assert store.counts()["photos"] == 3
    assert {r["event"]: r["photos"] for r in store.event_summaries()} == {"a": 1, "b": 2}


def test_two_models_side_by_side_and_serving_switch(store):
    store.replace_event(_write("a", model_id="dlib-resnet-v1"))
    assert store.serving_models() == {"a": "dlib-resnet-v1"}
    store.replace_event(_write("a", model_id="other-model", dim=64, seed=1))
    assert store.serving_models() == {"a": "other-model"}
    assert store.counts()["face_vectors"] == 8  # old vectors kept until pruned
    assert store.stale_events("dlib-resnet-v1", "dlib-hog-up1") == ["a"]
    assert store.prune_model("dlib-resnet-v1") == 4
    assert store.counts()["face_vectors"] == 4
    assert store.prune_model("other-model") == 0  # never deletes what an event serves from


def test_delete_event(store):
    store.replace_event(_write("a"))
    store.replace_event(_write("b"))
    assert store.delete_event("a") == {"vectors": 4, "faces": 4, "photos": 2, "skipped": 1}
    assert store.serving_models() == {"b": "dlib-resnet-v1"}


def test_database_down_gives_a_clear_error_without_the_password(tmp_path):
    dead = VectorStore(f"postgresql://alice:topsecret@/nodb?host={tmp_path}&port=1", connect_timeout=2)
    with pytest.raises(SystemFault) as exc:
        with dead.connect():
            pass
    assert "cannot connect to PostgreSQL" in str(exc.value)
    assert "topsecret" not in str(exc.value)


def _event_rows(store, event):
    with store.connect() as conn:
        photos = conn.execute(
            "SELECT photo_id, path, size_bytes, width, height, captured_at, detector_model, face_count "
            "FROM photos WHERE event = %s ORDER BY photo_id",
            (event,),
        ).fetchall()
        faces = conn.execute(
            "SELECT face_id, photo_id, face_index, detector_model, box_left, box_top, box_right, box_bottom, "
            "score, landmarks, crop_path FROM faces WHERE event = %s ORDER BY face_id",
            (event,),
        ).fetchall()
        vectors = conn.execute(
            "SELECT face_id, model_id, embedding::text FROM face_vectors WHERE event = %s ORDER BY face_id", (event,)
        ).fetchall()
    return photos, faces, vectors


def test_first_write_copy_path_and_replace_path_store_the_same_rows(store):
    # A new event is written by plain COPY, a stored one through staging + upserts: both must leave
    # exactly the same rows, and the replace path must still drop a photo that left the folder.
    w = _write("copy-path", photos=("p1", "p2", "p3"), seed=3)
    w.photos[0].captured_at = __import__("datetime").datetime(2026, 5, 1, 12, 30, 15)
    w.faces[1].landmarks = [1.5, 2.25, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.125]
    store.replace_event(w)
    first = _event_rows(store, "copy-path")
    store.replace_event(w)
    assert _event_rows(store, "copy-path") == first
    assert len(first[0]) == 3 and len(first[1]) == 6 and len(first[2]) == 6
    assert first[0][0][5] is not None and list(
        first[1][[f[0] for f in first[1]].index(w.faces[1].face_id)][9]
    ) == pytest.approx(w.faces[1].landmarks)
    store.replace_event(_write("copy-path", photos=("p1", "p3"), seed=3))
    photos, faces, vectors = _event_rows(store, "copy-path")
    assert [p[0] for p in photos] == ["p1", "p3"] and len(faces) == 4 and len(vectors) == 4
    store.delete_event("copy-path")


def test_embedded_server_runs_with_its_settings(pg_dsn):
    # shared_buffers needs a restart: start() does it once, on the server it just created.
    import psycopg

    from face_pipeline.lib.store.embedded_postgres import SERVER_SETTINGS

    with psycopg.connect(pg_dsn) as conn:
        for name, value in SERVER_SETTINGS.items():
            assert conn.execute(f"SHOW {name}").fetchone()[0] == value, name
        assert not conn.execute("SELECT count(*) FROM pg_settings WHERE pending_restart").fetchone()[0]


def test_embedded_server_that_cannot_have_its_shared_buffers_starts_with_the_defaults(monkeypatch):
    # A machine that cannot map that much shared memory: the server comes back with PostgreSQL's
    # default, keeps the other settings, and the next start does not try again.
    import shutil
    import tempfile
    from pathlib import Path

    import psycopg

    from face_pipeline.lib.store import embedded_postgres

    monkeypatch.setitem(embedded_postgres.SERVER_SETTINGS, "shared_buffers", "4TB")
    parent = Path(tempfile.mkdtemp(prefix="face_pipeline_test_pg_"))
    parent.chmod(0o755)
    try:
        for _ in range(2):
            server = embedded_postgres.start(parent / "data")
            with psycopg.connect(embedded_postgres.app_dsn(server)) as conn:
                assert conn.execute("SHOW shared_buffers").fetchone()[0] == "128MB"
                assert conn.execute("SHOW max_wal_size").fetchone()[0] == "4GB"
            embedded_postgres.stop(parent / "data")
        assert (parent / "data" / embedded_postgres._NO_RESTART_SETTINGS_MARK).is_file()
    finally:
        embedded_postgres.stop(parent / "data")
        shutil.rmtree(parent, ignore_errors=True)

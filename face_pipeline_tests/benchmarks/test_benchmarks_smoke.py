"""Smoke test of the benchmark code paths on tiny sizes: counts, recall bookkeeping, the markdown.

Never timings: those belong in BENCHMARKS.md, not in assertions.
"""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from face_pipeline.benchmarks import ingest_bench, people_bench, results, search_bench
from face_pipeline_tests.conftest import WIDER


def _fake_real(n: int = 60, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(n, search_bench.DIM)) * 0.1).astype(np.float32)


def test_synthetic_collection_is_sorted_by_event_and_counts_add_up():
    col = search_bench.synthesize(_fake_real(), 1_000, faces_per_event=100, seed=3)
    assert col.n == 1_000 and col.vectors.shape == (1_000, search_bench.DIM)
    assert len(col.event_names) == 10
    assert np.all(np.diff(col.event_of) >= 0)
    assert col.event_start[0] == 0 and col.event_start[-1] == 1_000
    assert len(set(col.face_ids.tolist())) == 1_000
    writes = list(search_bench.event_writes(col))
    assert sum(len(w.faces) for w in writes) == 1_000
    assert all(len(w.faces) == len(w.vectors) for w in writes)
    assert all(sum(p.face_count for p in w.photos) == len(w.faces) for w in writes)
    # the same seed gives the same collection (reuse across runs relies on it)
    assert search_bench.synthesize(_fake_real(), 1_000, faces_per_event=100, seed=3).fingerprint() == col.fingerprint()


def test_exact_index_and_recall_bookkeeping():
    col = search_bench.synthesize(_fake_real(), 600, faces_per_event=100, seed=5)
    exact = search_bench.ExactIndex(col)
    q = col.vectors[123] + 0.001
    rows, dist = exact.search(q, None)
    brute = np.argsort(np.linalg.norm(col.vectors.astype(np.float64) - q, axis=1))[:10]
    assert set(rows.tolist()) == set(brute.tolist())
    assert np.all(np.diff(dist) >= 0)
    assert search_bench.recall_at_k(exact, q, None, rows.tolist()) == 1.0
    # one wrong face out of ten
    far = int(np.argmax(np.linalg.norm(col.vectors - q, axis=1)))
    assert search_bench.recall_at_k(exact, q, None, [*rows[:9].tolist(), far]) == pytest.approx(0.9)
    # within one event, a face of another event is wrong however near it is
    event = col.event_names[int(col.event_of[123])]
    ev_rows, _ = exact.search(q, [event])
    lo, hi = exact.rows_of([event])[0]
    assert all(lo <= r < hi for r in ev_rows)
    outside = next(r for r in rows.tolist() if not lo <= r < hi) if any(not lo <= r < hi for r in rows) else None
    if outside is not None:
        assert search_bench.recall_at_k(exact, q, [event], [*ev_rows[:9].tolist(), outside]) == pytest.approx(0.9)
    assert search_bench.recall_at_k(exact, q, [event], []) == 0.0


@pytest.fixture
def bench_dsn(pg_server) -> str:
    """A database of its own on the test server: the benchmark drops and rebuilds HNSW indexes."""
    with psycopg.connect(pg_server.get_uri("postgres"), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS bench_smoke WITH (FORCE)")
        conn.execute("CREATE DATABASE bench_smoke")
    return pg_server.get_uri("bench_smoke")


def test_search_benchmark_end_to_end_on_a_tiny_collection(bench_dsn, tmp_path):
    figs = search_bench.run_search_benchmark(
        dsn=bench_dsn,
        server_pid=None,
        real=_fake_real(),
        n=2_000,
        work_dir=tmp_path,
        n_queries=6,
        rounds=1,
        small_set=2,
        large_set_share=0.5,
        maintenance_work_mem="64MB",
        parallel_workers=0,
        load_workers=2,
        sweep_ef=[40],
        reuse=False,
    )
    assert figs.n == 2_000 and figs.events == 2
    assert figs.load.rows + figs.load.incremental_rows == 2_000
    assert figs.load.index_bytes > 0 and "hnsw" in figs.load.index_params.lower()
    assert [s.shape for s in figs.shapes] == list(search_bench.SHAPES)
    for s in figs.shapes:
        assert 0.0 <= s.recall_min <= s.recall_mean <= 1.0
    by_shape = {s.shape: s for s in figs.shapes}
    # one event is read exactly: every answer is right
    assert by_shape["one_event"].recall_mean == 1.0
    assert by_shape["one_event"].rows_searched_median <= 2_000
    assert by_shape["global"].rows_searched_median == 2_000
    assert len(figs.sweep) == 1 and figs.sweep[0]["ef_search"] == 40
    with psycopg.connect(bench_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM face_vectors").fetchone()[0] == 2_000
        assert conn.execute("SELECT count(*) FROM event_models WHERE serving").fetchone()[0] == 2
        names = [r[0] for r in search_bench.hnsw_index_defs(conn)]
    assert "face_vectors_dlib_resnet_v1_hnsw" in names
    from face_pipeline.lib.store import vector_store as store_module

    strategies = search_bench.strategies(figs, store_module)
    assert strategies["one_event"].startswith("exact")
    md = results.search_markdown(figs, "- header\n", strategies)
    assert "2,000 faces" in md and "recall@10" in md


@pytest.mark.parametrize("layout", ["by-model", "by-event-hash"])
def test_search_benchmark_on_partitioned_layouts(bench_dsn, tmp_path, layout):
    figs = search_bench.run_search_benchmark(
        dsn=bench_dsn,
        server_pid=None,
        real=_fake_real(),
        n=2_000,
        work_dir=tmp_path,
        n_queries=6,
        rounds=1,
        small_set=2,
        large_set_share=0.5,
        maintenance_work_mem="64MB",
        parallel_workers=0,
        load_workers=1,
        sweep_ef=[],
        reuse=False,
        layout=layout,
        partitions=3,
    )
    assert figs.layout == layout and figs.load.rows + figs.load.incremental_rows == 2_000
    with psycopg.connect(bench_dsn) as conn:
        leaves = conn.execute("SELECT count(*) FROM pg_partition_tree('face_vectors') WHERE isleaf").fetchone()[0]
        # every partition has its HNSW index (a parent index made `ON ONLY` would leave them without)
        hnsw = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'face_vectors_%%' AND indexdef ILIKE '%%USING hnsw%%'"
        ).fetchone()[0]
    assert leaves == (3 if layout == "by-event-hash" else 2) and hnsw == leaves
    assert figs.load.index_bytes > 0
    by_shape = {s.shape: s for s in figs.shapes}
    assert by_shape["one_event"].recall_mean == 1.0 and by_shape["global"].recall_mean > 0.8
    assert f"partitioned {layout.replace('-', ' ')}" in results.search_markdown(figs, "- header\n", {})


def test_people_benchmark_end_to_end_on_a_tiny_collection(bench_dsn, tmp_path):
    # Identities far apart relative to the face noise: the grouping must find them (a broken
    # grouping shows as low BCubed, not as a crash).
    real = (np.random.default_rng(1).normal(size=(60, search_bench.DIM)) * 0.3).astype(np.float32)
    figs = people_bench.run_people_benchmark(
        dsn=bench_dsn,
        server_pid=None,
        real=real,
        n=1_200,
        work_dir=tmp_path,
        maintenance_work_mem="64MB",
        parallel_workers=0,
        load_workers=1,
        link_efs=(200, 8),
        log=lambda _: None,
    )
    full, update = figs.runs
    # the sample's links at two ef_search values, the first the reference: an exhaustive-enough
    # search of 1,200 faces finds the links, and a smaller one finds no link the first did not
    ref, small = figs.link_ef_runs
    assert (ref.ef_search, small.ef_search) == (200, 8) and ref.faces == small.faces == 1_200
    assert ref.links > 0 and ref.missing == ref.extra == 0 and small.extra == 0
    assert small.links == ref.links - small.missing
    assert (full.action, update.action) == ("recluster", "update")
    assert full.faces == 1_200 and update.faces == people_bench.NEW_EVENT_FACES
    assert full.links > 0 and full.people > 0 and full.peak_rss_mib > 0
    assert full.bcubed_precision > 0.9 and update.bcubed_recall > 0.5
    md = people_bench.people_markdown([figs], "- header\n")
    assert "full re-cluster" in md and "one new event" in md and "1,200" in md
    assert "| 1,200 | 8 | 1,200 |" in md
    # identities drawn from 60 real vectors: the crowding figure is measured and printed
    assert figs.real_pool == 60 and figs.crowding >= 0 and "identities drawn from 60 real embeddings" in md
    with psycopg.connect(bench_dsn) as conn:  # the new event is removed again
        assert (
            conn.execute("SELECT count(*) FROM photos WHERE event = %s", (people_bench.NEW_EVENT,)).fetchone()[0] == 0
        )


def test_identity_crowding_counts_other_centres_within_the_threshold():
    col = search_bench.synthesize(np.eye(4, search_bench.DIM, dtype=np.float32), 60, faces_per_identity=6.0)
    col.centres[:] = 0
    col.centres[:5, 0] = np.arange(5) * 0.3  # a row of five centres 0.3 apart; the other five far away
    col.centres[5:, 1] = 10 + np.arange(5) * 10
    # within 0.35: each end of the row has one neighbour, the middle three two; the far ones none
    assert search_bench.identity_crowding(col, 0.35) == pytest.approx((1 + 2 + 2 + 2 + 1) / 10)
    assert search_bench.identity_crowding(col, 0.1) == 0


def test_markdown_sections_are_replaced_in_place(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    results.replace_section(path, "a", "first")
    path.write_text(path.read_text() + "\nhand-written notes\n")
    results.replace_section(path, "b", "other")
    results.replace_section(path, "a", "second")
    text = path.read_text()
    assert text.count("<!-- bench:a -->") == 1 and "second" in text and "first" not in text
    assert "hand-written notes" in text and "other" in text


@pytest.mark.skipif(not WIDER.is_dir(), reason=f"WIDER photos not found at {WIDER}")
def test_ingest_baseline_and_pipeline_find_the_same_faces_and_vectors(store, tmp_path):
    photos_root = tmp_path / "photos"
    ingest_bench.prepare_photos(WIDER, photos_root, limit=3)
    assert len(list((photos_root / ingest_bench.EVENT).rglob("*.jpg"))) == 3
    base = ingest_bench.run_baseline(photos_root, store.dsn, tmp_path / "b.npz")
    # the pipeline on the baseline's own models: the same faces, the same vectors
    pipe = ingest_bench.run_pipeline(
        photos_root, tmp_path / "data", store.dsn, 1, tmp_path / "p.npz", detector="dlib-hog", embedder="dlib-resnet-v1"
    )
    assert base["photos"] == pipe["photos"] == 3
    assert base["faces"] == pipe["faces"]
    same = ingest_bench.compare_vectors(tmp_path / "b.npz", tmp_path / "p.npz")
    assert same["same_faces"] == base["faces"] and same["only_a"] == same["only_b"] == 0
    assert same["max_abs_diff"] < 1e-5
    assert set(pipe["stages"]) == set(ingest_bench.BASELINE_STAGES)
    with store.connect() as conn:
        n = conn.execute("SELECT count(*) FROM face_vectors WHERE event = %s", (ingest_bench.EVENT,)).fetchone()[0]
    assert n == pipe["faces"]


def test_people_benchmark_update_alone_is_timed_not_scored(bench_dsn, tmp_path):
    real = (np.random.default_rng(2).normal(size=(60, search_bench.DIM)) * 0.3).astype(np.float32)
    figs = people_bench.run_people_benchmark(
        dsn=bench_dsn,
        server_pid=None,
        real=real,
        n=1_200,
        work_dir=tmp_path,
        maintenance_work_mem="64MB",
        parallel_workers=0,
        load_workers=1,
        actions=("update",),
        log=lambda _: None,
    )
    (update,) = figs.runs
    assert update.action == "update" and update.faces == people_bench.NEW_EVENT_FACES and update.seconds > 0
    md = people_bench.people_markdown([figs], "- header\n")
    assert "no re-cluster before it" in md and "full re-cluster" not in md.split("|---")[-1]


def test_the_headline_line_is_the_median_of_the_pairs_and_replaces_itself(tmp_path):
    def run(seconds: float) -> dict:
        return {"seconds": seconds}

    figs = ingest_bench.IngestFigures(
        runs=[{"baseline": run(100.0), "pipeline": run(p)} for p in (20.0, 25.0, 19.0)],
        detector="retinaface-mnet025-autorot",
        embedder="facenet-v1-flip-int8",
    )
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\n<!-- bench:headline -->\nold\n<!-- /bench:headline -->\n\n## More\n")
    results.replace_section(out, "headline", results.headline_markdown(figs))
    text = out.read_text()
    assert "ingest speed-up (shipped defaults): 5.00x\n" in text  # pairs 5.00, 4.00, 5.26
    assert "old" not in text and text.index("ingest speed-up") < text.index("## More")

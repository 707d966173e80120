"""The participant benchmark end to end at a toy size: it builds its event, starts the server,
measures both scenarios and the baseline, and writes its section."""

from __future__ import annotations

from face_pipeline.benchmarks import participant_bench, results


def test_participant_benchmark_at_a_small_size(pg_dsn, tmp_path, store):
    figs = participant_bench.run_participant_benchmark(
        data_dir=tmp_path,
        dsn=pg_dsn,
        photos=60,
        alone=2,
        concurrent_users=3,
        per_user=1,
        baseline_runs=1,
        log=lambda *_: None,
    )
    assert figs.photos == 60 and figs.faces > 60
    assert figs.found["mastracchio_portrait.jpg"] == 3  # his 3 demo photos, among the crowd
    alone, together = figs.scenarios
    assert len(alone.latencies) == 2 and len(together.latencies) == 3
    assert alone.statuses == {200: 2} and together.statuses == {200: 3}
    out = tmp_path / "BENCH.md"
    results.replace_section(out, "participant", participant_bench.participant_markdown(figs, "- machine: test\n"))
    text = out.read_text()
    assert "## Participant page" in text and "| 1 user at once | 2 |" in text and "vs baseline" in text

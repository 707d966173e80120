"""The harness's own bookkeeping on hand-made answers (no models, no data)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from face_pipeline.evaluation import metrics as M
from face_pipeline.evaluation.analysis import face_key
from face_pipeline.evaluation.render import DISCUSSION_HEADING, to_markdown
from face_pipeline.evaluation.report import NOT_MEASURED, Report, Section, target
from face_pipeline.evaluation.retrieval import QueryAnswer, held_out_row, retrieval_row
from face_pipeline.evaluation.sections.thresholds import robust_threshold


def _answers():
    q1 = M.RankedQuery(("a", "b", "c"), (0.3, 0.5, 0.6), frozenset({"a", "c"}))
    q2 = M.RankedQuery(("d",), (0.7,), frozenset({"d"}))
    return [QueryAnswer("one", q1), QueryAnswer("two", q2)]


def test_retrieval_row_by_hand():
    row = retrieval_row("x", _answers(), 0.5, np.array([0.5, 0.6, 0.7]))
    assert (row.precision, row.recall) == (0.25, 0.25)
    # AP: q1 (1/1 + 2/3) / 2 = 5/6, q2 1 -> mAP 11/12
    assert row.mean_ap == pytest.approx(11 / 12, abs=1e-12)
    assert row.empty_answers == 1 and row.queries == 2
    # sweep 0.5, 0.6, 0.7: min(P, R) is 0.25, 0.4167, 0.8333 -> 0.7 with P 5/6, R 1
    assert row.best[0] == 0.7
    assert row.best[1] == pytest.approx(5 / 6, abs=1e-12) and row.best[2] == 1.0


def test_held_out_row_judges_each_half_with_the_others_threshold():
    # halves: [q1] and [q2]. On q1 alone the best threshold is 0.6 (P 2/3, R 1); judged on q2 at
    # 0.6: empty answer, P 0 R 0. On q2 alone the best is 0.7; judged on q1 at 0.7: P 2/3, R 1.
    row = held_out_row(_answers(), np.array([0.5, 0.6, 0.7]))
    assert row.precision == pytest.approx((0 + 2 / 3) / 2, abs=1e-12)
    assert row.recall == pytest.approx(0.5, abs=1e-12)


def test_robust_threshold_serves_every_set_not_the_largest():
    # set A wants 0.5 (its one photo sits at 0.5); set B is hurt by anything above 0.5 (an impostor
    # at 0.6): the mean of min(P, R) over the sets is best at 0.5.
    a = [M.RankedQuery(("x",), (0.5,), frozenset({"x"}))]
    b = [M.RankedQuery(("y", "z"), (0.4, 0.6), frozenset({"y"}))]
    t, score = robust_threshold({"A": a, "B": b}, np.array([0.4, 0.5, 0.6, 0.7]))
    assert t == 0.5 and score == 1.0


def test_face_key_ignores_which_detector_found_the_face():
    lm = np.array([[1.04, 2.0], [3.0, 4.0]], dtype=np.float32)
    assert face_key((1, 2, 3, 4), lm) == face_key([1, 2, 3, 4], lm.copy())
    assert face_key((1, 2, 3, 4), lm) != face_key((1, 2, 3, 5), lm)


def test_report_keeps_the_hand_written_discussion_and_says_not_measured():
    report = Report(datetime(2026, 1, 2, tzinfo=UTC), ["header"])
    section = Section("Section", "body")
    section.targets.append(target("every labelled person found", "0/0", None))
    report.sections.append(section)
    previous = f"# old\n\n## Section\n\nold body\n\n{DISCUSSION_HEADING}\n\nWhy the threshold is 0.5.\n"
    text = to_markdown(report, keep_from=previous)
    assert "old body" not in text and "body" in text
    assert text.rstrip().endswith("Why the threshold is 0.5.")
    assert text.count(DISCUSSION_HEADING) == 1
    assert f"| every labelled person found | 0/0 | {NOT_MEASURED} |" in text  # zero cases is never "met"


def test_demo_sections_read_the_bundled_events_and_recurring_astronauts(tmp_path):
    from face_pipeline.evaluation.sections.demo import copy_demo_events, recurring_people
    from face_pipeline.lib.bundled_files import demo_dir

    demo = demo_dir()
    events = copy_demo_events(demo, tmp_path / "photos")
    assert len(events) == 2
    copied = {f"{p.parent.name}/{p.name}" for p in (tmp_path / "photos").rglob("*.jpg")}
    assert copied == {f"{p.parent.name}/{p.name}" for p in (demo / "photos").rglob("*.jpg")}
    assert copy_demo_events(demo, tmp_path / "photos") == events  # a second call copies nothing again
    people = recurring_people(demo)
    names = {name for name, _, _ in people}
    assert {"Richard Mastracchio", "Chris Hadfield"} <= names and len(people) == 5
    for _, portrait, photos in people:
        assert portrait.is_file() and photos and photos <= copied

"""The CLI against the real embedded database: the same answers as the library, clear errors."""

from face_pipeline.cli import main
from face_pipeline.lib.forget import forget_person
from face_pipeline.lib.search import find_person
from face_pipeline_tests.conftest import lfw_photo, needs_datasets


@needs_datasets
def test_cli_ingest_find_events_status(cli_env, celeb_settings, store, capsys):
    assert main(["ingest", "celeb"]) == 0
    out = capsys.readouterr().out
    assert "27 photos stored (27 new" in out
    html = cli_env.data_dir / "out.html"
    assert main(["find", str(lfw_photo("Joseph_Biden", 1)), "-k", "10", "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "biden2.jpg" in out and "4 photo(s)" in out and html.is_file()
    assert (
        main(
            [
                "find",
                str(lfw_photo("Joseph_Biden", 1)),
                str(lfw_photo("Joseph_Biden", 3)),
                "--enrol",
                "min",
                "--no-expand",
                "--no-html",
            ]
        )
        == 0
    )
    assert "biden2.jpg" in capsys.readouterr().out
    assert main(["events"]) == 0
    assert "celeb" in capsys.readouterr().out
    assert main(["db", "status"]) == 0
    out = capsys.readouterr().out
    assert "003_hnsw_indexes.sql" in out and "face_vectors" in out


def test_cli_errors_are_one_clear_line(cli_env, store, capsys, tmp_path):
    assert main(["ingest", "Bad,Name"]) == 2
    assert "invalid event name" in capsys.readouterr().err
    assert main(["ingest", "nothere"]) == 2  # nothing done: the failure's own code, as a missing photos root
    assert "nothere does not exist" in capsys.readouterr().err
    assert main(["find", str(tmp_path / "missing.jpg")]) == 2
    assert "no face vectors yet" in capsys.readouterr().err
    assert main(["forget-event", "../etc", "--yes"]) == 2
    assert "paths are not allowed" in capsys.readouterr().err


@needs_datasets
def test_cli_forget_person_dry_run_then_forget_event(cli_env, celeb_settings, store, capsys):
    assert main(["ingest", "celeb"]) == 0
    biden = str(lfw_photo("Joseph_Biden", 1))
    # With the defaults, forgetting lists at least every photo that `find` shows (its scoring
    # reaches photos that the raw distance to the one reference leaves out).
    shown = {(m.event, m.path) for m in find_person(celeb_settings, store, biden, k=50).matches}
    listed = set(forget_person(celeb_settings, store, biden).photos)
    assert len(shown) == 4 and shown <= listed
    # Forgetting may err towards recall: a looser cut-off than the default (0.41 for facenet-v1).
    assert main(["forget-person", biden, "--threshold", "0.5"]) == 0
    out, err = capsys.readouterr()
    assert "4 faces in 4 photos" in out and "dry run" in out
    # `ingest` ran the library, not a Dagster run: Dagster's records were read and hold no picture
    # (defs/test_ingest_and_lookup.py has the runs that do)
    assert "no Dagster run has pictures of these faces" in out and "note:" not in err
    assert store.counts()["faces"] > 40  # nothing deleted by a dry run
    assert main(["forget-event", "celeb", "--yes"]) == 0
    out, err = capsys.readouterr()
    assert "deleted event celeb: 27 photos" in out and "no Dagster run has pictures" in out and "note:" not in err
    assert main(["forget-event", "celeb"]) == 2  # nothing left of it
    assert store.counts() == {"photos": 0, "faces": 0, "face_vectors": 0, "skipped_files": 0}
    assert not (cli_env.crops_dir / "celeb").exists()


def test_cli_enrol_choices_are_the_library_modes():
    import argparse

    from face_pipeline.cli import build_parser
    from face_pipeline.lib.search import ENROL_MODES

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    enrol = next(a for a in sub.choices["find"]._actions if a.dest == "enrol")
    assert tuple(enrol.choices) == ENROL_MODES


def test_cli_models_lists_every_card_without_building_a_model(cli_env, capsys, onnx_sessions):
    from face_pipeline.lib.models import CATALOGUE, get_detector, get_embedder

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for c in CATALOGUE:
        assert f" {c.name} " in out and f"model id: {c.model_id}" in out and f"evidence: {c.evidence}" in out
        for f in c.files:
            assert f"file: {f.name} (" in out and f"sha256 {f.sha256}" in out
    assert "* retinaface-mnet025-autorot" in out and "* facenet-v1-flip-int8" in out  # the active pair
    assert onnx_sessions == []
    assert get_detector.cache_info().currsize == get_embedder.cache_info().currsize == 0  # read from the cards only

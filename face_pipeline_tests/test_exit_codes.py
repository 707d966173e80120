"""Issue #26, item 5: every exit code of the README's table ("Exit codes"), each produced by the
command line against a real PostgreSQL (the session's embedded server, or one of the test's own that
it stops to lose the connection)."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from face_pipeline.cli import main
from face_pipeline.cli.commands import find as find_command
from face_pipeline.cli.commands import ingest as ingest_command
from face_pipeline.lib import errors
from face_pipeline.lib.store import VectorStore, embedded_postgres
from face_pipeline_tests.conftest import lfw_photo, needs_datasets

pytestmark = needs_datasets


def _gala(photos_root: Path, n: int = 3, event: str = "gala") -> None:
    folder = photos_root / event
    folder.mkdir(parents=True)
    for i in range(1, n + 1):
        shutil.copy(lfw_photo("Al_Gore", i), folder / f"gore-{i}.jpg")


def test_ok_partial_and_bad_input_codes(cli_env, store, monkeypatch, capsys):
    _gala(cli_env.photos_root)
    assert main(["ingest", "gala"]) == errors.EXIT_OK == 0
    assert main(["ingest", "gala", "nothere"]) == errors.EXIT_PARTIAL == 1  # gala done, nothere failed
    capsys.readouterr()
    assert main(["ingest", "nothere"]) == errors.EXIT_USER_ERROR == 2  # nothing done: the failure's own code
    assert "nothere does not exist" in capsys.readouterr().err
    assert main(["ingest", "Bad,Name"]) == 2
    monkeypatch.setenv("FACE_PIPELINE_PHOTOS_ROOT", str(cli_env.photos_root / "no-such-root"))
    assert main(["ingest", "gala"]) == 2  # the same code as a missing event folder
    assert "photos root" in capsys.readouterr().err
    assert main(["ingest"]) == 2
    assert "no event folders" in capsys.readouterr().err


def test_cannot_connect_is_a_system_fault(settings, tmp_path, monkeypatch, capsys):
    _gala(settings.photos_root)
    for k, v in {
        "PHOTOS_ROOT": settings.photos_root,
        "DATA_DIR": settings.data_dir,
        "WORKERS": 1,
        "DSN": f"postgresql://postgres@/x?host={tmp_path}&port=1",
    }.items():  # no server there
        monkeypatch.setenv(f"FACE_PIPELINE_{k}", str(v))
    for argv in (["ingest", "gala"], ["find", str(lfw_photo("Al_Gore", 1))], ["people"]):
        assert main(argv) == errors.EXIT_SYSTEM_FAULT == 3, argv
        err = capsys.readouterr().err
        assert "cannot connect to PostgreSQL" in err and "during the run" not in err


@pytest.fixture
def own_server(settings, monkeypatch):
    """A server of the test's own (short path: Unix socket names are limited to ~100 bytes), so
    stopping it leaves the session's server alone; the CLI's settings point at it."""
    pg_dir = Path(tempfile.mkdtemp(prefix="fp-exit-")) / "pg"
    dsn = embedded_postgres.app_dsn(embedded_postgres.start(pg_dir))
    for k, v in {"PHOTOS_ROOT": settings.photos_root, "DATA_DIR": settings.data_dir, "DSN": dsn, "WORKERS": 1}.items():
        monkeypatch.setenv(f"FACE_PIPELINE_{k}", str(v))
    try:
        yield pg_dir
    finally:
        embedded_postgres.stop(pg_dir)
        shutil.rmtree(pg_dir.parent, ignore_errors=True)


def test_connection_lost_during_an_ingest_stops_the_batch_with_4(settings, own_server, monkeypatch, capsys):
    """Before: exit 1 and "cannot connect" (the next step's connection), as if it had never connected,
    and the next event tried anyway."""
    pg_dir = own_server
    _gala(settings.photos_root)
    _gala(settings.photos_root, 2, event="later")
    real = ingest_command.print_progress

    def stop_the_database_during_detection(step: str, done: int, total: int) -> None:
        real(step, done, total)
        if step == "detecting faces" and embedded_postgres.postmaster_status(pg_dir) is not None:
            embedded_postgres.stop(pg_dir)  # immediate shutdown: a crash or a power cut

    monkeypatch.setattr(ingest_command, "print_progress", stop_the_database_during_detection)
    capsys.readouterr()
    assert main(["ingest", "gala", "later"]) == errors.EXIT_CONNECTION_LOST == 4
    err = capsys.readouterr().err
    assert "lost the connection to PostgreSQL" in err and "during the run" in err
    assert "cannot connect" not in err
    assert "stopped: 0 of 2 events done" in err
    assert "event later:" not in err  # the batch stops: every other event would fail the same way

    monkeypatch.setattr(ingest_command, "print_progress", real)
    embedded_postgres.start(pg_dir)
    assert main(["ingest", "gala", "later"]) == 0  # running it again is safe and completes


def test_connection_lost_during_find_is_4_through_the_common_handler(settings, own_server, monkeypatch, capsys):
    """`find` connects (migrations), then the server goes before the lookup's first query."""
    pg_dir = own_server
    _gala(settings.photos_root)
    assert main(["ingest", "gala"]) == 0
    real = find_command.lookup

    def server_gone_then_lookup(*args, **kwargs):
        embedded_postgres.stop(pg_dir)
        return real(*args, **kwargs)

    monkeypatch.setattr(find_command, "lookup", server_gone_then_lookup)
    capsys.readouterr()
    assert main(["find", str(lfw_photo("Al_Gore", 4)), "--no-html"]) == errors.EXIT_CONNECTION_LOST
    err = capsys.readouterr().err
    assert "lost the connection to PostgreSQL" in err and "during the run" in err and "Traceback" not in err


def test_a_query_whose_connection_breaks_is_4_through_the_common_handler(settings, own_server, monkeypatch, capsys):
    """`people` gets its connection, the server stops, its query meets the broken connection: the
    psycopg error (no library error wraps it there) is still one line and exit 4, not a traceback."""
    pg_dir = own_server
    real = VectorStore.connect

    @contextmanager
    def connect_then_lose_the_server(self):
        with real(self) as conn:
            embedded_postgres.stop(pg_dir)
            yield conn

    assert main(["people"]) == 0  # the migrations, while the server is up
    monkeypatch.setattr(VectorStore, "connect", connect_then_lose_the_server)
    capsys.readouterr()
    assert main(["people"]) == errors.EXIT_CONNECTION_LOST
    err = capsys.readouterr().err
    assert "lost the connection to PostgreSQL during `face-pipeline people`" in err and "Traceback" not in err


@pytest.fixture
def no_dagster_retry_waits(monkeypatch):
    """dagster-postgres retries each storage call with growing waits (~6 s a call, ~40 s for a run
    whose server is gone): the same retries, without the waits."""
    import dagster_postgres.utils

    monkeypatch.setattr(dagster_postgres.utils, "calculate_delay", lambda *args, **kwargs: 0)


def _stop_the_database_after_detection(monkeypatch, pg_dir: Path) -> None:
    from face_pipeline.defs.faces import assets as faces_assets

    real = faces_assets.detect_faces

    def detect_then_stop(*args, **kwargs):
        faces = real(*args, **kwargs)
        if embedded_postgres.postmaster_status(pg_dir) is not None:
            embedded_postgres.stop(pg_dir)
        return faces

    monkeypatch.setattr(faces_assets, "detect_faces", detect_then_stop)


def test_backfill_run_that_loses_the_database_stops_the_batch_with_4(
    settings, own_server, pg_server, monkeypatch, capsys
):
    """Dagster's storage on another server (the session's) stays up; the events' database stops
    during the first run's detection: the next step's ConnectionLost fails the run, the batch stops."""
    monkeypatch.setenv("FACE_PIPELINE_DAGSTER_PG_URL", embedded_postgres.dagster_storage_url(pg_server))
    _gala(settings.photos_root)
    _gala(settings.photos_root, 2, event="later")
    _stop_the_database_after_detection(monkeypatch, own_server)
    assert main(["backfill", "gala", "later"]) == errors.EXIT_CONNECTION_LOST
    out, err = capsys.readouterr()
    assert "event gala: ingest run" in err and "ConnectionLost" in err and "during the run" in err
    assert "0 event(s) done, 1 failed ['gala']" in out and "stopped: 0 of 2 events done" in err
    assert "event later" not in out + err


def test_backfill_whose_dagster_storage_goes_with_the_database_is_4(
    settings, own_server, no_dagster_retry_waits, monkeypatch, capsys
):
    """The default: Dagster's storage on the same server, so the run itself can no longer record its
    events; the error reaches the common handler (before: a traceback of dagster-postgres)."""
    _gala(settings.photos_root)
    _stop_the_database_after_detection(monkeypatch, own_server)
    assert main(["backfill", "gala"]) == errors.EXIT_CONNECTION_LOST
    err = capsys.readouterr().err
    assert "lost the connection to Dagster's storage (PostgreSQL) during the run" in err
    assert "Traceback" not in err


def test_backfill_that_cannot_reach_dagster_storage_is_3(
    cli_env, store, tmp_path, no_dagster_retry_waits, monkeypatch, capsys
):
    monkeypatch.setenv(
        "FACE_PIPELINE_DAGSTER_PG_URL", f"postgresql+psycopg2://postgres@/dagster?host={tmp_path}&port=1"
    )
    _gala(cli_env.photos_root)
    assert main(["backfill", "gala"]) == errors.EXIT_SYSTEM_FAULT
    err = capsys.readouterr().err
    assert "cannot connect to Dagster's storage (PostgreSQL)" in err and "during the run" not in err


def test_ctrl_c_exits_130(cli_env, store, monkeypatch, capsys):
    _gala(cli_env.photos_root)

    def interrupt(step: str, done: int, total: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ingest_command, "print_progress", interrupt)
    assert main(["ingest", "gala"]) == errors.EXIT_INTERRUPTED == 130
    assert "interrupted (Ctrl-C)" in capsys.readouterr().err


def test_batch_exit_code_follows_the_table():
    code = ingest_command.batch_exit_code
    assert code([0, 0]) == 0
    assert code([0, 2]) == 1 and code([0, 3]) == 1  # partial
    assert code([2]) == 2 and code([2, 3]) == 3  # nothing done: the failures' own (highest) code
    assert code([0, 4]) == 4 and code([4]) == 4  # a lost connection stopped the batch


def test_the_readme_table_lists_exactly_the_codes_of_errors_py():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    cells = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ")]
    listed = [int(c) for c in cells if c.isdigit()]
    assert listed == sorted(v for k, v in vars(errors).items() if k.startswith("EXIT_"))

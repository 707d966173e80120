"""What a new user gets from this repository alone: a wheel that carries everything the package
reads at run time, and a demo that runs on the bundled NASA photos without ../shared."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from face_pipeline.lib.bundled_files import demo_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
        cwd=out,
    )
    [path] = out.glob("face_pipeline-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


def test_wheel_carries_migrations_queries_dagster_files_and_demo_photos(wheel):
    names = set(wheel.namelist())
    for source in sorted((REPO / "sql").rglob("*.sql")):
        member = f"face_pipeline/_bundled/sql/{source.relative_to(REPO / 'sql').as_posix()}"
        assert member in names, f"{member} missing from the wheel"
        assert wheel.read(member) == source.read_bytes()
    for name in ("dagster.yaml", "workspace.yaml"):
        assert wheel.read(f"face_pipeline/_bundled/{name}") == (REPO / name).read_bytes()
    demo = {n for n in names if n.startswith("face_pipeline/demo/")}
    shipped = {
        f"face_pipeline/demo/{p.relative_to(demo_dir()).as_posix()}" for p in demo_dir().rglob("*") if p.is_file()
    }
    assert demo == shipped and len([n for n in demo if n.endswith(".jpg")]) == 30  # 25 event photos, 5 portraits
    assert {"face_pipeline/demo/SOURCE.md", "face_pipeline/demo/recurring_people.csv"} <= demo
    assert not [n for n in names if n.startswith("face_pipeline_tests/")]


def test_demo_on_a_machine_with_nothing_but_the_package(tmp_path):
    """`face-pipeline demo` with no ../shared and no settings: the embedded PostgreSQL, both bundled
    events through the Dagster ingest job, then Richard Mastracchio in exactly his photos."""
    tmp_path.chmod(0o755)  # as root, the embedded server runs as another user
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACE_PIPELINE_", "DAGSTER_"))}
    env.update(FACE_PIPELINE_SHARED=str(tmp_path / "no-shared-here"), FACE_PIPELINE_WORKERS="2")
    run = subprocess.run(
        [sys.executable, "-m", "face_pipeline.cli", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "event event_a_iss_2000_2001: 12 photos (12 new" in out
    assert "event event_b_iss_2009_2014: 13 photos (13 new" in out
    with open(demo_dir() / "recurring_people.csv", newline="") as fh:
        truth = {row["reference"]: set(row["photos"].split(";")) for row in csv.DictReader(fh)}
    expected = {p.split("/")[1] for p in truth["reference/mastracchio_portrait.jpg"]}
    listed = {line.split()[4] for line in out.splitlines() if line.strip()[:1].isdigit() and ".jpg" in line}
    assert listed == expected, out
    assert f"{len(expected)} photo(s)" in out
    assert (tmp_path / "data" / "reports" / "demo_find_person.html").is_file()

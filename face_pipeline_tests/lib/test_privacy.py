"""Issue #6, item 4: nothing leaves the machine; crops and stage files are the owner's only; the
DSN's password never shows; an event, or a person, can be forgotten."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from face_pipeline.lib.errors import SystemFault, UserError
from face_pipeline.lib.forget import forget_event, forget_person
from face_pipeline.lib.photos.events import InvalidEventName
from face_pipeline.lib.report import write_html_report
from face_pipeline.lib.search import find_person
from face_pipeline.lib.settings import Settings, redact_dsn
from face_pipeline.lib.store import VectorStore
from face_pipeline_tests.conftest import lfw_photo, needs_datasets
from face_pipeline_tests.lib.reliability_inputs import event_rows, ingest_event

pytestmark = needs_datasets

PERSON = "Venus_Williams"
OTHER = "Pierce_Brosnan"


def _event_of_two_people(folder: Path) -> None:
    """3 photos of PERSON, 2 of OTHER, and one 'group photo' with both side by side."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in (1, 2, 3):
        shutil.copy(lfw_photo(PERSON, n), folder / f"person-{n}.jpg")
    for n in (1, 2):
        shutil.copy(lfw_photo(OTHER, n), folder / f"other-{n}.jpg")
    group = Image.new("RGB", (500, 250))
    group.paste(Image.open(lfw_photo(PERSON, 5)), (0, 0))
    group.paste(Image.open(lfw_photo(OTHER, 3)), (250, 0))
    group.save(folder / "group.jpg", quality=92)


# ---- no network --------------------------------------------------------------------------------

GUARD = """
import os, socket
_LOG = os.environ["NETGUARD_LOG"]
_real_connect, _real_connect_ex = socket.socket.connect, socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo
_LOCAL = {"localhost", "127.0.0.1", "::1", None, ""}

def _record(what):
    with open(_LOG, "a") as fh:
        fh.write(f"{os.getpid()} {what}\\n")

def _allowed(sock, address):
    if sock.family == socket.AF_UNIX:
        return True
    host = address[0] if isinstance(address, tuple) else address
    return host in _LOCAL

def connect(self, address):
    if not _allowed(self, address):
        _record(f"connect {self.family!r} {address!r}")
        raise PermissionError(f"network access refused by the test: {address!r}")
    return _real_connect(self, address)

def connect_ex(self, address):
    if not _allowed(self, address):
        _record(f"connect_ex {self.family!r} {address!r}")
        raise PermissionError(f"network access refused by the test: {address!r}")
    return _real_connect_ex(self, address)

def getaddrinfo(host, *args, **kwargs):
    if host not in _LOCAL:
        _record(f"getaddrinfo {host!r}")
        raise socket.gaierror(f"name lookup refused by the test: {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)

socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
"""

RUN = """
import socket, sys
from face_pipeline.lib.forget import forget_event, forget_person
from face_pipeline.lib.search import find_person
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.store import VectorStore
from face_pipeline_tests.lib.reliability_inputs import ingest_event

photos, data, dsn, reference = sys.argv[1:5]
settings = Settings.from_env(photos_root=photos, data_dir=data, dsn=dsn, workers=2)
store = VectorStore(dsn)
store.migrate()
*_, summary = ingest_event(settings, store, "party")
found = find_person(settings, store, reference)
listed = forget_person(settings, store, reference, dry_run=True)
forget_event(settings, store, "party")
print("RESULT", summary.photos, summary.faces, len(found.matches), len(listed.faces))
try:  # the guard itself must work, or the test proves nothing
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(("192.0.2.1", 80))
except OSError as exc:
    print("SELF-CHECK", type(exc).__name__)
"""


def test_the_whole_pipeline_opens_no_network_connection(settings, store, tmp_path):
    """Ingest (with 2 worker processes), lookup and forget, in a fresh process whose every Python
    connect/getaddrinfo to anything but a Unix socket or loopback is refused and recorded (the guard
    is a sitecustomize, so worker processes load it too). Where strace is usable, every connect()
    system call of the whole process tree, C libraries (libpq) included, is recorded as well."""
    _event_of_two_people(settings.photos_root / "party")
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD)
    log = tmp_path / "net.log"
    log.touch()
    env = dict(
        os.environ,
        NETGUARD_LOG=str(log),
        PYTHONPATH=os.pathsep.join([str(guard_dir), str(Path(__file__).resolve().parents[2])]),
    )
    cmd = [
        sys.executable,
        "-c",
        RUN,
        str(settings.photos_root),
        str(settings.data_dir),
        settings.dsn,
        str(lfw_photo(PERSON, 4)),
    ]
    trace = tmp_path / "connect.trace"
    use_strace = (
        shutil.which("strace")
        and subprocess.run(
            ["strace", "-f", "-qq", "-e", "trace=connect", "-o", os.devnull, "true"], capture_output=True
        ).returncode
        == 0
    )
    if use_strace:
        cmd = ["strace", "-f", "-qq", "-e", "trace=connect", "-e", "signal=none", "-o", str(trace), *cmd]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT")).split()[1:]
    photos, faces, matches, listed = map(int, result)
    assert photos == 6 and faces == 7 and matches == 4 and listed == 4
    assert "SELF-CHECK PermissionError" in proc.stdout
    attempts = log.read_text().splitlines()
    assert len(attempts) == 1 and "192.0.2.1" in attempts[0], attempts  # only the self-check
    if use_strace:
        calls = [line for line in trace.read_text().splitlines() if "connect(" in line]
        assert calls, "strace recorded nothing"
        network = [c for c in calls if "AF_UNIX" not in c and "127.0.0.1" not in c and '"::1"' not in c]
        assert network == [], network


# ---- owner-only files ---------------------------------------------------------------------------


def test_crops_and_stage_files_are_readable_by_the_owner_only(settings, store):
    _event_of_two_people(settings.photos_root / "party")
    old = os.umask(0o022)  # a usual umask: what is private must be private on purpose
    try:
        ingest_event(settings, store, "party")
    finally:
        os.umask(old)
    checked = 0
    for top in (settings.crops_dir, settings.stage_dir):
        for path in [top, *top.rglob("*")]:
            mode = stat.S_IMODE(path.lstat().st_mode)
            assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
            checked += 1
    crops = list(settings.crops_dir.rglob("*.png"))
    assert len(crops) == 7 and checked >= 7 + 3 + 4  # the crops, three stage files, their folders


# ---- the DSN's password ------------------------------------------------------------------------

SECRET = "pw-SECRET-4242"


def _with_password(dsn: str) -> str:
    assert dsn.startswith("postgresql://postgres:@"), dsn
    return dsn.replace("postgresql://postgres:@", f"postgresql://postgres:{SECRET}@", 1)


def test_dsn_password_never_appears_in_logs_messages_or_files(settings, store, caplog, capfd, tmp_path):
    dsn = _with_password(settings.dsn)  # the embedded server trusts local users: the password is inert
    s = Settings.from_env(photos_root=settings.photos_root, data_dir=settings.data_dir, dsn=dsn, workers=1)
    _event_of_two_people(s.photos_root / "party")
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG):
        vs = VectorStore(dsn)
        vs.migrate()
        manifest, faces, embeddings, write, summary = ingest_event(s, vs, "party")
        found = find_person(s, vs, lfw_photo(PERSON, 4))
        seen += [vs.redacted_dsn, repr(summary), repr(write.skipped), repr(found.matches), repr(vs.event_summaries())]
        # Failures name the server, never the password: a dead socket folder, for connect and migrate.
        dead = f"postgresql://postgres:{SECRET}@/face_pipeline?host={tmp_path / 'no-server'}"
        for call in (
            lambda: VectorStore(dead, connect_timeout=2).migrate(),
            lambda: VectorStore(dead, connect_timeout=2).counts(),
        ):
            with pytest.raises(SystemFault) as err:
                call()
            seen.append(str(err.value))
            assert "no-server" in str(err.value)
    seen += [r.getMessage() for r in caplog.records]
    out = capfd.readouterr()
    seen += [out.out, out.err]
    for path in s.data_dir.rglob("*"):
        if path.is_file():
            seen.append(path.read_bytes().decode("latin-1"))
    assert seen and not [text for text in seen if SECRET in text]
    assert "***" in vs.redacted_dsn

    # Every DSN spelling psycopg accepts.
    for raw in (
        f"postgresql://u:{SECRET}@db.example/app",
        f"host=db password={SECRET} user=u",
        f"host=db password='{SECRET} with spaces' user=u",
        f"host=db password = {SECRET} dbname=app",
        f"postgresql://u@db/app?password={SECRET}&sslmode=require",
    ):
        red = redact_dsn(raw)
        assert SECRET not in red and "with spaces" not in red and "***" in red, red


# ---- forgetting ---------------------------------------------------------------------------------


def test_forget_event_removes_rows_crops_and_stage_files(settings, store):
    _event_of_two_people(settings.photos_root / "party")
    _event_of_two_people(settings.photos_root / "other-party")
    ingest_event(settings, store, "party")
    ingest_event(settings, store, "other-party")
    kept = event_rows(store, "other-party")
    # reports of a lookup in each event: the one showing party's photos goes with it
    party_page = write_html_report(
        settings,
        find_person(settings, store, lfw_photo(PERSON, 4), events=["party"]),
        settings.reports_dir / "party.html",
    )
    other_page = write_html_report(
        settings,
        find_person(settings, store, lfw_photo(PERSON, 4), events=["other-party"]),
        settings.reports_dir / "other-party.html",
    )

    listing = forget_event(settings, store, "party", dry_run=True)
    assert listing.rows == {"photos": 6, "faces": 7, "vectors": 7, "skipped": 0}
    assert listing.reports == [party_page] and party_page.is_file()
    assert (
        listing.crop_files == 7 and listing.stage_files == 4
    )  # photos.json, faces.json, vectors.npz, detect-vectors.npz
    assert len(event_rows(store, "party")["faces"]) == 7  # a dry run deletes nothing

    done = forget_event(settings, store, "party")
    assert done.rows == {"photos": 6, "faces": 7, "vectors": 7, "skipped": 0}
    assert all(not rows for rows in event_rows(store, "party").values())
    assert not (settings.crops_dir / "party").exists() and not (settings.stage_dir / "party").exists()
    assert (settings.photos_root / "party" / "person-1.jpg").is_file()  # the user's photos stay
    assert not party_page.exists() and other_page.is_file()
    assert event_rows(store, "other-party") == kept
    with pytest.raises(UserError, match="nothing is stored"):
        forget_event(settings, store, "party")
    with pytest.raises(InvalidEventName):
        forget_event(settings, store, "../party")


def test_forget_person_lists_first_then_deletes_everywhere_and_stays_forgotten(settings, store):
    _event_of_two_people(settings.photos_root / "party")
    ingest_event(settings, store, "party")
    reference = lfw_photo(PERSON, 4)
    before = event_rows(store, "party")

    listing = forget_person(settings, store, reference)  # dry run is the default
    assert listing.dry_run and listing.deleted["faces"] == 0
    assert {p for _, p in listing.photos} == {"person-1.jpg", "person-2.jpg", "person-3.jpg", "group.jpg"}
    assert all(f.distance <= listing.threshold for f in listing.faces)
    assert event_rows(store, "party") == before
    crop_files = [settings.data_dir / f.crop_path for f in listing.faces]
    assert all(p.is_file() for p in crop_files)

    # HTML reports: one of this person's lookup, one of OTHER's photos without this person.
    person_report = write_html_report(
        settings, find_person(settings, store, reference), settings.reports_dir / "person.html"
    )
    other = find_person(settings, store, lfw_photo(OTHER, 8))
    person_paths = {p for _, p in listing.photos}
    other_only = dataclasses.replace(other, matches=[m for m in other.matches if m.path not in person_paths])
    assert other_only.matches
    other_report = write_html_report(settings, other_only, settings.reports_dir / "other.html")
    assert forget_person(settings, store, reference).reports == [person_report]

    done = forget_person(settings, store, reference, dry_run=False)
    assert done.deleted == {"faces": 4, "vectors": 4, "crops": 4, "stage_faces": 4}
    assert done.reports_deleted == 1 and not person_report.exists() and other_report.is_file()
    gone = {f.face_id for f in listing.faces}
    rows = event_rows(store, "party")
    assert not gone & {fid for fid, _ in rows["faces"]} and not gone & {fid for fid, _ in rows["vectors"]}
    assert len(rows["faces"]) == len(rows["vectors"]) == 3  # OTHER's faces stay
    assert {path: count for _, path, count in rows["photos"]}["group.jpg"] == 1
    assert not any(p.exists() for p in crop_files)
    stage = settings.stage_dir / "party"
    assert not gone & {f["face_id"] for f in json.loads((stage / "faces.json").read_text())["faces"]}
    with np.load(stage / "vectors.npz") as z:
        assert not gone & set(z["face_ids"].tolist()) and len(z["face_ids"]) == len(z["vectors"]) == 3

    assert find_person(settings, store, reference).matches == []
    assert len(find_person(settings, store, lfw_photo(OTHER, 8)).matches) == 3
    # Re-ingesting the unchanged photos does not bring the person back.
    manifest, faces, *_ = ingest_event(settings, store, "party")
    assert faces.reused_photos == 6
    assert find_person(settings, store, reference).matches == []
    assert forget_person(settings, store, reference).faces == []


def test_forget_person_needs_a_usable_reference(settings, store, tmp_path):
    from face_pipeline.lib.search import NoFaceInReference, NoVectors

    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), "white").save(blank)
    with pytest.raises(NoVectors):
        forget_person(settings, store, lfw_photo(PERSON, 4))
    _event_of_two_people(settings.photos_root / "party")
    ingest_event(settings, store, "party")
    with pytest.raises(NoFaceInReference):
        forget_person(settings, store, blank, dry_run=False)
    assert len(event_rows(store, "party")["faces"]) == 7


def test_private_dirs_are_created_owner_only_with_their_parents(tmp_path):
    from face_pipeline.lib.storage import make_private_dir

    old = os.umask(0o022)
    try:
        target = make_private_dir(tmp_path / "data" / "crops" / "party")
    finally:
        os.umask(old)
    for p in (tmp_path / "data", tmp_path / "data" / "crops", target):
        assert stat.S_IMODE(p.stat().st_mode) == 0o700, p


def test_forget_commands_list_first_and_delete_with_yes(settings, store):
    """The documented commands: `face-pipeline forget-person REF [--yes]` and
    `face-pipeline forget-event NAME [--yes]`."""
    _event_of_two_people(settings.photos_root / "party")
    ingest_event(settings, store, "party")
    env = dict(
        os.environ,
        FACE_PIPELINE_DSN=settings.dsn,
        FACE_PIPELINE_PHOTOS_ROOT=str(settings.photos_root),
        FACE_PIPELINE_DATA_DIR=str(settings.data_dir),
        FACE_PIPELINE_WORKERS="1",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )

    def forget(*args: str) -> str:
        command = {"person": "forget-person", "event": "forget-event"}[args[0]]
        proc = subprocess.run(
            [sys.executable, "-m", "face_pipeline.cli", command, *args[1:]],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    out = forget("person", str(lfw_photo(PERSON, 4)))
    assert "4 faces in 4 photos" in out and "add --yes" in out and "group.jpg" in out
    assert len(event_rows(store, "party")["faces"]) == 7
    out = forget("person", str(lfw_photo(PERSON, 4)), "--yes")
    assert "'faces': 4" in out and len(event_rows(store, "party")["faces"]) == 3
    out = forget("event", "party")
    assert out.startswith("would delete event party: 6 photos, 3 faces")
    out = forget("event", "party", "--yes")
    assert out.startswith("deleted event party") and not any(event_rows(store, "party").values())

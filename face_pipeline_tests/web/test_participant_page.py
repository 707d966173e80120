"""The participant page (`face-pipeline serve`) as a participant meets it: a real server process on a
real PostgreSQL holding the shipped demo events, driven by headless Chromium (Debian's) and, for
what a browser can not show (status codes, headers), by an HTTP client."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from face_pipeline.cli.commands import find as find_command
from face_pipeline.lib.bundled_files import demo_dir
from face_pipeline.lib.ingest.run import ingest_event
from face_pipeline.lib.people import name_person
from face_pipeline.lib.search import lookup
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.share import create_link, open_link, revoke_link
from face_pipeline.lib.share.participant import participant_request
from face_pipeline.lib.store import VectorStore
from face_pipeline_tests.conftest import empty_tables

EVENTS = ("event_a_iss_2000_2001", "event_b_iss_2009_2014")
DEMO = demo_dir()
MASTRACCHIO = DEMO / "reference" / "mastracchio_portrait.jpg"
USACHEV = DEMO / "reference_alternates" / "usachev_portrait.jpg"
MASTRACCHIO_PHOTOS = {"a05_sts106_crew.jpg", "b01_sts131_exp23_group_S131E010010.jpg", "b02_exp38_crew.jpg"}
GROUP = DEMO / "photos" / EVENTS[0] / "a01_exp1_crew_oranges.jpg"
NO_FACE = DEMO / "photos" / EVENTS[0] / "a10_sts111_suits_noface.jpg"
REPO = Path(__file__).resolve().parents[2]
#: The server's per-link limit in these tests; each test opens its own link so none eats another's.
PER_LINK = 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Site:
    settings: Settings
    store: VectorStore
    base: str
    log: Path
    tmp: Path

    def link(self, valid_for: timedelta = timedelta(days=2)) -> tuple[str, str]:
        """(a new link's token, its page URL) for the demo events."""
        token, link = create_link(self.store, EVENTS, valid_for)
        return token, f"{self.base}/s/{token}"


@pytest.fixture(scope="module")
def site(pg_dsn, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("participant")
    settings = Settings.from_env(photos_root=tmp / "photos", data_dir=tmp / "data", dsn=pg_dsn, workers=1)
    for event in EVENTS:
        shutil.copytree(DEMO / "photos" / event, settings.photos_root / event)
    store = VectorStore(pg_dsn)
    store.migrate()
    empty_tables(store)
    for event in EVENTS:
        ingest_event(settings, store, event)
    port = _free_port()
    env = {
        **os.environ,
        **settings.as_environ(),
        "FACE_PIPELINE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "FACE_PIPELINE_LOOKUPS_PER_MINUTE_PER_LINK": str(PER_LINK),
        "FACE_PIPELINE_LOOKUPS_PER_MINUTE_PER_CLIENT": "1000",
        "FACE_PIPELINE_UPLOAD_MAX_BYTES": "3000000",
        "TMPDIR": str(tmp / "server_tmp"),
    }
    (tmp / "server_tmp").mkdir()
    log = tmp / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "face_pipeline.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, f"serve exited: {log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"serve never got ready: {log.read_text()[-2000:]}"
        time.sleep(0.3)
    yield Site(settings.with_overrides(public_url=base), store, base, log, tmp)
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def phone(browser):
    """A phone-sized page that fails the test on any script dialog (an injected alert) and records
    every request it makes (all must go to the server itself)."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        accept_downloads=True,
    )
    page = context.new_page()
    dialogs, requests = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: requests.append(r.url))
    page.dialogs, page.requests = dialogs, requests
    yield page
    context.close()
    assert not dialogs, f"a script ran in the page: {dialogs}"


def _give_selfie(page, path: Path | dict) -> None:
    page.evaluate("document.getElementById('results').innerHTML = ''")  # wait for this answer, not the last
    page.locator("input[data-selfie]:not([capture])").set_input_files(path)
    page.wait_for_selector("#results [data-outcome]", timeout=30_000)


def _shown(page, selector: str = "#your-photos li") -> list[str]:
    return [page.locator(selector).nth(i).get_attribute("data-photo") for i in range(page.locator(selector).count())]


def test_a_selfie_finds_exactly_his_photos_boxed_and_downloads_them_as_one_zip(site, phone):
    token, url = site.link()
    phone.goto(url)
    assert phone.locator("input[capture=user]").count() == 1  # the camera, on a phone
    _give_selfie(phone, MASTRACCHIO)
    assert set(_shown(phone)) == MASTRACCHIO_PHOTOS and len(_shown(phone)) == 3
    # The same photos as `face-pipeline find` on the same events: the page is the one lookup's caller.
    args = ["find", str(MASTRACCHIO), "-k", "100", "--candidates", "6", *[a for e in EVENTS for a in ("--event", e)]]
    parser = argparse.ArgumentParser()
    find_command.add_commands(parser.add_subparsers())
    cli_request = find_command.lookup_request(parser.parse_args(args))
    page_request = participant_request(open_link(site.store, token), ("selfie", MASTRACCHIO.read_bytes()))
    assert {f: getattr(cli_request, f) for f in ("k", "events", "candidates", "face_index", "confirmed_faces")} == {
        f: getattr(page_request, f) for f in ("k", "events", "candidates", "face_index", "confirmed_faces")
    }
    cli = lookup(site.settings, site.store, cli_request)
    assert [m.path.rsplit("/", 1)[-1] for m in cli.matches] == _shown(phone)
    # Each thumbnail shows the photo with his face boxed in red, where the lookup found it.
    items = phone.locator("#your-photos li")
    for i, match in enumerate(cli.matches):
        assert items.nth(i).get_attribute("data-box") == ",".join(str(v) for v in match.box)
        img = items.nth(i).locator("img")
        img.scroll_into_view_if_needed()
        phone.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle())
        thumb = Image.open(io.BytesIO(httpx.get(site.base + img.get_attribute("src")).content)).convert("RGB")
        scale = thumb.width / match.width
        left, top, right, bottom = (int(round(v * scale)) for v in match.box)
        edge = np.asarray(thumb).astype(int)[top + 2 : bottom - 1, max(0, left - 1) : left + 3]  # the box's left side
        red = (edge[..., 0] > 170) & (edge[..., 0] - edge[..., 1] > 80) & (edge[..., 0] - edge[..., 2] > 80)
        assert red.any(axis=1).mean() > 0.9, "no red box on the face"
    shot = site.tmp / "participant_page.png"
    phone.screenshot(path=str(shot), full_page=True)
    out = REPO / "test-output"
    out.mkdir(exist_ok=True)
    shutil.copy(shot, out / "participant_page.png")
    if os.environ.get("FACE_PIPELINE_UPDATE_SCREENSHOTS"):
        shutil.copy(shot, REPO / "docs" / "participant_page.png")
    # Download all: one zip, streamed, holding exactly those three files.
    with phone.expect_download() as download:
        phone.locator("[data-zip]").click()
    names = zipfile.ZipFile(download.value.path()).namelist()
    assert sorted(n.rsplit("/", 1)[-1] for n in names) == sorted(MASTRACCHIO_PHOTOS)
    # One full-size photo opens as the original file.
    full = items.first.locator("a").first.get_attribute("href")
    original = site.settings.photos_root / cli.matches[0].event / cli.matches[0].path
    assert httpx.get(site.base + full).content == original.read_bytes()
    assert all(r.startswith(site.base) or r.startswith("data:") or r.startswith("blob:") for r in phone.requests)


def test_a_group_selfie_asks_which_face_and_searches_for_the_one_chosen(site, phone):
    _, url = site.link()
    phone.goto(url)
    _give_selfie(phone, GROUP)
    choices = phone.locator("button[data-face-index]")
    assert choices.count() >= 2
    assert "Which one is you?" in phone.locator("#results").inner_text()
    choices.nth(1).click()
    phone.wait_for_selector("#results [data-outcome=found], #results [data-outcome=none]", timeout=30_000)
    assert phone.locator("#results [data-face-index='1']").count() == 1  # it searched for that face


def test_confirming_is_this_you_too_adds_the_photo_and_searches_again(site, phone):
    _, url = site.link()
    phone.goto(url)
    # His portrait in black and white (a profile photo): one of his photos lies just past the threshold
    grey = io.BytesIO()
    Image.open(USACHEV).convert("L").save(grey, format="JPEG", quality=90)
    _give_selfie(phone, {"name": "usachev_bw.jpg", "mimeType": "image/jpeg", "buffer": grey.getvalue()})
    before = _shown(phone)
    candidates = _shown(phone, "#candidates li")
    true_one = "a03_sts100_exp2_group_ISS002E7172.jpg"  # Usachev is in it (demo/recurring_people.csv)
    assert true_one in candidates and true_one not in before
    # "No" to the others: they leave the page at once and are not asked about again
    others = [c for c in candidates if c != true_one]
    for other in others:
        phone.locator(f"#candidates li[data-photo='{other}'] button[data-decline]").click()
    assert _shown(phone, "#candidates li") == [true_one]
    phone.locator(f"#candidates li[data-photo='{true_one}'] button[data-confirm]").click()
    phone.wait_for_function(
        f"() => document.querySelector(\"#your-photos li[data-photo='{true_one}']\")", timeout=30_000
    )
    after = _shown(phone)
    assert set(before) < set(after) and true_one in after  # grown, and nothing shown before is lost
    assert not set(others) & set(_shown(phone, "#candidates li"))


def _pixels_png(path: Path, width: int, height: int) -> Path:
    Image.new("L", (width, height), 128).save(path, optimize=True)
    return path


def test_bad_pictures_get_a_clear_message_and_the_server_keeps_serving(site, phone, tmp_path):
    _, url = site.link()
    phone.goto(url)
    cases = [
        (
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo at all\n" * 10},
            "not a photo we can read",
        ),
        ({"name": "empty.jpg", "mimeType": "image/jpeg", "buffer": b""}, "the file is empty"),
        (_pixels_png(tmp_path / "huge.png", 20000, 20000), "too many pixels"),
        (NO_FACE, "could not find a face"),
    ]
    for given, says in cases:
        _give_selfie(phone, given)
        assert says in phone.locator("#results .message").inner_text()
    _give_selfie(phone, MASTRACCHIO)
    assert set(_shown(phone)) == MASTRACCHIO_PHOTOS


def test_limits_answer_413_and_429_with_retry_after(site):
    token, url = site.link()
    big = {"selfie": ("big.jpg", b"\xff" * 3_200_000, "image/jpeg")}
    r = httpx.post(f"{url}/find", files=big, headers={"X-Requested-With": "fetch"}, timeout=30)
    assert r.status_code == 413 and "too large" in r.text
    codes = []
    for _ in range(PER_LINK + 2):
        r = httpx.post(f"{url}/find", files={"selfie": ("e.jpg", b"", "image/jpeg")}, timeout=30)
        codes.append(r.status_code)
    assert codes[-1] == 429 and 0 < int(r.headers["Retry-After"]) <= 60 and "wait" in r.text
    assert httpx.get(f"{site.base}/readyz").status_code == 200  # and the server still serves


def test_revoked_expired_and_guessed_links_get_the_same_plain_404(site):
    token, url = site.link()
    page = httpx.post(
        f"{url}/find",
        files={"selfie": ("m.jpg", MASTRACCHIO.read_bytes(), "image/jpeg")},
        headers={"X-Requested-With": "fetch"},
        timeout=60,
    )
    thumb = page.text.split('<img src="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert httpx.get(site.base + thumb).status_code == 200
    # a returned photo's URL with another photo's id, or its signature changed: nothing
    other = thumb.replace(thumb.split("/photo/")[1].split("/")[1], "0" * 32)
    assert httpx.get(site.base + other).status_code == 404
    assert httpx.get(site.base + thumb[:-3] + "AAA").status_code == 404
    guessed = httpx.get(f"{site.base}/s/{'x' * 32}")
    assert guessed.status_code == 404
    revoke_link(site.store, open_link(site.store, token).link_id)
    revoked = httpx.get(url)
    assert revoked.status_code == 404 and revoked.text == guessed.text
    assert httpx.get(site.base + thumb).status_code == 404  # its photo URLs die with it
    expired_token, expired_url = site.link()
    with site.store.connect() as conn:
        conn.execute(
            "UPDATE share_links SET expires_at = now() - interval '1 second' WHERE events = %s AND link_id = %s",
            (list(EVENTS), open_link(site.store, expired_token).link_id),
        )
        conn.commit()
    expired = httpx.get(expired_url)
    assert expired.status_code == 404 and expired.text == guessed.text
    assert httpx.post(f"{expired_url}/find", files={"selfie": ("m.jpg", b"x")}).status_code == 404


def test_names_are_text_and_the_page_loads_nothing_from_elsewhere(site, phone):
    from face_pipeline.lib.people.people_store import PeopleStore

    people = PeopleStore(site.store)
    mastracchio = lookup(
        site.settings,
        site.store,
        participant_request(open_link(site.store, site.link()[0]), ("m.jpg", MASTRACCHIO.read_bytes())),
    )
    person = people.assignments([mastracchio.matches[0].face_id])[mastracchio.matches[0].face_id].person_id
    name_person(site.store, person, "<script>alert(1)</script>")
    _, url = site.link()
    response = httpx.get(url)
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    phone.goto(url)
    _give_selfie(phone, MASTRACCHIO)
    assert "<script>alert(1)</script>" in phone.locator("#results").inner_text()  # shown, as text
    assert phone.locator("#results script").count() == 0


def test_the_selfie_is_never_written_anywhere(site):
    """After a lookup, no trace of the selfie in the data folder, the server's temporary folder, the
    database's files or the server's log: not its bytes, not its vector."""
    marker = f"FPSELFIE{uuid.uuid4().hex}".encode()
    img = Image.open(MASTRACCHIO)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=93, comment=marker)
    selfie = buf.getvalue()
    chunk = selfie[len(selfie) // 2 : len(selfie) // 2 + 48]  # compressed picture data, unique to this file
    token, url = site.link()
    data_before = {p: p.stat().st_mtime for p in site.settings.data_dir.rglob("*") if p.is_file()}
    tmp_before = {p: p.stat().st_mtime for p in (site.tmp / "server_tmp").rglob("*")}
    r = httpx.post(
        f"{url}/find",
        files={"selfie": ("me.jpg", selfie, "image/jpeg")},
        headers={"X-Requested-With": "fetch"},
        timeout=60,
    )
    assert r.status_code == 200 and "You are in 3 photos" in r.text
    with site.store.connect() as conn:
        conn.execute("CHECKPOINT")  # whatever the server wrote is in its files now
        pg_data = Path(conn.execute("SHOW data_directory").fetchone()[0])
    changed = [p for p in site.settings.data_dir.rglob("*") if p.is_file() and data_before.get(p) != p.stat().st_mtime]
    assert changed == [], f"the lookup wrote {changed}"
    assert {p: p.stat().st_mtime for p in (site.tmp / "server_tmp").rglob("*")} == tmp_before  # no spooled upload
    from face_pipeline.lib.models import embedder_for_model_id
    from face_pipeline.lib.search.references import load_reference

    ref = load_reference(site.settings, ("me.jpg", selfie))
    embedder = embedder_for_model_id(next(iter(site.store.serving_models().values())), site.settings.model_folders)
    vector = embedder.embed([embedder.crop(ref.photo.rgb, ref.face)])[0].astype(np.float32)
    needles = [marker, chunk, vector[:8].tobytes(), vector[:8].astype(">f4").tobytes(), token.encode()]
    log_text = site.log.read_bytes()
    assert not [n for n in needles if n in log_text]
    found = []
    for path in pg_data.rglob("*"):
        if path.is_file() and path.stat().st_size < 512 * 1024 * 1024:
            data = path.read_bytes()
            found += [(path.name, i) for i, n in enumerate(needles[:4]) if n in data]
    assert found == [], f"selfie traces in the database files: {found}"
    model_id = next(iter(site.store.serving_models().values()))
    [nearest] = site.store.search_faces(
        vector, model_id=model_id, dim=embedder.dim, metric=embedder.metric, events=None, limit=1
    )
    assert nearest.distance > 1e-4  # no stored vector is the selfie's
    assert b"lookup link=" in log_text  # what is logged: the link id, the outcome, counts, time


def test_share_command_prints_a_link_and_a_qr_code_that_reads_back(site, monkeypatch, capsys):
    import cv2

    from face_pipeline.cli import main

    for key, value in site.settings.as_environ().items():
        monkeypatch.setenv(key, value)
    png = site.tmp / "qr.png"
    assert main(["share", *EVENTS, "--expires", "3d", "--qr", str(png)]) == 0
    out = capsys.readouterr().out
    url = next(line for line in out.splitlines() if line.startswith(site.base + "/s/"))
    assert "▀" in out or "▄" in out  # the QR code, in the terminal
    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(cv2.imread(str(png)))
    assert decoded == url
    assert httpx.get(url).status_code == 200
    link_id = out.split("link ", 1)[1].split(" ", 1)[0]
    assert main(["share", "--list"]) == 0 and link_id in capsys.readouterr().out
    assert main(["share", "--revoke", link_id]) == 0
    assert httpx.get(url).status_code == 404
    assert main(["share", "--revoke", link_id]) == 2  # already revoked: said, exit 2
    assert main(["share", "no_such_event"]) == 2
    assert main(["share", EVENTS[0], "--expires", "forever"]) == 2
    err = capsys.readouterr().err
    assert "ingest them first" in err and "--expires 'forever'" in err


def test_share_links_job_creates_lists_and_revokes(site):
    import dagster as dg

    from face_pipeline.defs.resources import FacePipeline
    from face_pipeline.defs.share.jobs import share_links_job

    resources = {"pipeline": FacePipeline.from_settings(site.settings)}
    made = share_links_job.execute_in_process(
        run_config={"ops": {"manage_share_link": {"config": {"events": [EVENTS[1]], "expires": "1d"}}}},
        resources=resources,
    )
    url = made.output_for_node("manage_share_link")
    assert url.startswith(site.base + "/s/") and httpx.get(url).status_code == 200
    [materialized] = [e for e in made.all_node_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = materialized.event_specific_data.metadata
    assert "data:image/png;base64," in metadata["qr_code"].value
    link_id = metadata["link"].value
    listed = share_links_job.execute_in_process(
        run_config={"ops": {"manage_share_link": {"config": {"action": "list"}}}}, resources=resources
    )
    listed_md = [e for e in listed.all_node_events if e.event_type_value == "STEP_OUTPUT"][0]
    assert link_id in listed_md.event_specific_data.metadata["links"].value
    share_links_job.execute_in_process(
        run_config={"ops": {"manage_share_link": {"config": {"action": "revoke", "link_id": link_id}}}},
        resources=resources,
    )
    assert httpx.get(url).status_code == 404
    failed = share_links_job.execute_in_process(
        run_config={"ops": {"manage_share_link": {"config": {"events": ["nope"]}}}},
        resources=resources,
        raise_on_error=False,
    )
    assert not failed.success
    [failure] = [e for e in failed.all_node_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "ingest them first" in failure.event_specific_data.error.message


def test_uploads_are_parsed_in_memory():
    """The form parser keeps an upload in memory up to above the upload limit (no temporary file)."""
    from starlette.formparsers import MultiPartParser

    from face_pipeline.web.app import create_app

    settings = Settings.from_env({}, upload_max_bytes=5_000_000)
    create_app(settings, VectorStore("postgresql://unused@127.0.0.1:1/x"), warm=False)
    assert MultiPartParser.spool_max_size > settings.upload_max_bytes


def test_a_blurred_or_small_selfie_gets_advice_with_its_results(site):
    from PIL import ImageFilter

    _, url = site.link()
    portrait = Image.open(MASTRACCHIO)
    said = {}
    for name, img in (
        ("blurred", portrait.filter(ImageFilter.GaussianBlur(6))),
        ("small", portrait.resize((portrait.width // 5, portrait.height // 5))),
    ):
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90)
        r = httpx.post(
            f"{url}/find",
            files={"selfie": (f"{name}.jpg", buf.getvalue(), "image/jpeg")},
            headers={"X-Requested-With": "fetch"},
            timeout=60,
        )
        assert r.status_code == 200
        said[name] = r.text
    assert "looks blurred" in said["blurred"] and "small in this picture" not in said["blurred"]
    assert "Your face is small in this picture" in said["small"] and "looks blurred" not in said["small"]


def test_the_database_down_is_a_503_with_retry_after_and_not_ready():
    from starlette.testclient import TestClient

    from face_pipeline.web.app import create_app

    settings = Settings.from_env({})
    dead = VectorStore("postgresql://nobody@127.0.0.1:1/face_pipeline", connect_timeout=2)
    with TestClient(create_app(settings, dead, warm=False), raise_server_exceptions=False) as client:
        page = client.get(f"/s/{'a' * 32}")
        assert page.status_code == 503 and page.headers["retry-after"] == "30"
        assert "not available right now" in page.text and "127.0.0.1" not in page.text
        assert client.post(f"/s/{'a' * 32}/find", files={"selfie": ("m.jpg", b"x")}).status_code == 503
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "database not reachable" in ready.text
        assert client.get("/livez").status_code == 200

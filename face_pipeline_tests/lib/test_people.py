"""People: grouping rules by hand, then the real thing on real photos: the same grouping whatever order
events arrive in, people's decisions surviving re-runs, re-clusters and a model switch, the commands,
and the people page in a real browser."""

from __future__ import annotations

import random
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from face_pipeline.cli import main
from face_pipeline.lib.ingest import ingest_event
from face_pipeline.lib.people import (
    PeopleStore,
    hide_person,
    merge_people,
    move_face,
    name_person,
    recluster,
    update_people_for_event,
)
from face_pipeline.lib.people.grouping import Assignment, plan_grouping
from face_pipeline.lib.report.people_page import write_people_page
from face_pipeline.lib.search import find_person, photos_of_person
from face_pipeline_tests.conftest import CELEB, celeb_labels, lfw_photo, needs_datasets

# ---- the rules, by hand -------------------------------------------------------------------------


def _partition(plan) -> set[frozenset[str]]:
    return {frozenset(g) for g in plan.groups}


def test_grouping_does_not_depend_on_the_order_of_faces_and_links():
    rng = random.Random(3)
    faces = [f"f{i:02d}" for i in range(30)]
    links = [(a, b, round(rng.random(), 3)) for a in faces for b in faces if a < b and rng.random() < 0.06]
    photo_of = {f: f"photo{i % 11}" for i, f in enumerate(faces)}
    first = plan_grouping(faces, links, {}, set(), {}, photo_of)
    again = plan_grouping(list(reversed(faces)), list(reversed(links)), {}, set(), {}, photo_of)
    assert _partition(first) == _partition(again) and first.assign == again.assign


def test_two_faces_of_one_photo_are_never_one_person():
    # a-b close, b-c close, a and c are in the same photo: the closer link wins, c stays apart
    plan = plan_grouping(
        ["a", "b", "c"], [("a", "b", 0.1), ("b", "c", 0.2)], {}, set(), {}, {"a": "p1", "b": "p2", "c": "p1"}
    )
    assert _partition(plan) == {frozenset({"a", "b"})} and plan.assign["c"] is None


def test_decisions_hold_against_links():
    current = {"a": Assignment("alice", True), "b": Assignment("bob", True), "x": Assignment(None, True)}
    links = [("a", "n", 0.1), ("n", "b", 0.1), ("x", "a", 0.01)]
    plan = plan_grouping(["n"], links, current, {"alice", "bob"}, {"alice": 3, "bob": 2})
    assert "alice" not in plan.merges and "bob" not in plan.merges  # two decided people never join
    assert plan.assign.get("n") in {"alice", "bob"}
    assert "x" not in plan.assign  # moved out of everyone: stays out


def test_an_undecided_person_joins_a_decided_one_and_keeps_its_faces_together():
    current = {"a": Assignment("alice", True), "c": Assignment("pc", False), "d": Assignment("pc", False)}
    plan = plan_grouping(["n"], [("a", "n", 0.1), ("n", "c", 0.1)], current, {"alice"}, {"alice": 1, "pc": 2})
    assert plan.merges == {"pc": "alice"} and plan.assign == {"n": "alice", "c": "alice"}


# ---- on real photos -------------------------------------------------------------------------------


def _two_events(settings, names=("first", "second")) -> None:
    """The celeb scenes split in two events, alternating photos."""
    for i, rel in enumerate(sorted(celeb_labels())):
        target = settings.photos_root / names[i % 2] / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CELEB / rel, target)


def _grouping(store) -> set[frozenset[str]]:
    people = PeopleStore(store)
    return {frozenset(f.face_id for f in people.faces_of_person(p.person_id)) for p in people.list_people()}


def _empty_people(store) -> None:
    with store.connect() as conn:
        conn.execute("TRUNCATE face_people, people CASCADE")
        conn.commit()


@needs_datasets
def test_the_same_people_whatever_order_the_events_came_in(settings, store):
    _two_events(settings)
    for event in ("first", "second"):
        ingest_event(settings, store, event)
    for event in ("first", "second"):
        update_people_for_event(settings, store, event)
    one_order = _grouping(store)
    _empty_people(store)
    for event in ("second", "first"):
        update_people_for_event(settings, store, event)
    assert _grouping(store) == one_order
    # and a full re-cluster finds the same grouping again
    recluster(settings, store)
    assert _grouping(store) == one_order
    # Obama's photos (in both events) are one person, and nobody else is in it
    obama = {p for p, who in celeb_labels().items() if who == {"obama"}}
    people = PeopleStore(store)
    owners = {f.path: p.person_id for p in people.list_people() for f in people.faces_of_person(p.person_id)}
    assert len({owners[p] for p in obama if p in owners}) == 1


@needs_datasets
def test_recluster_links_over_parallel_connections_and_a_failed_write_keeps_the_grouping(settings, store, monkeypatch):
    from face_pipeline.lib.models import embedder_for_model_id
    from face_pipeline.lib.people import people_store
    from face_pipeline.lib.people.update import events_served_by, serving_model

    _two_events(settings)
    for event in ("first", "second"):
        ingest_event(settings, store, event)
        update_people_for_event(settings, store, event)
    people = PeopleStore(store)
    model_id = serving_model(store, "first")
    embedder = embedder_for_model_id(model_id, settings.model_folders)
    faces = people.faces_of_model(model_id)
    # an event's faces to group are StoredFaces, read by column name like every other read of faces
    of_first = people.event_faces("first", model_id)
    assert of_first and {f.face_id for f in of_first} < set(faces)
    assert all(f.event == "first" and f.path and f.crop_path and f.width > 0 for f in of_first)
    args = {
        "model_id": model_id,
        "dim": embedder.dim,
        "metric": embedder.metric,
        "events": events_served_by(store, model_id),
        "limit": 20,
        "within": embedder.link_threshold,
    }
    one_query = people.links(faces, **args, batch=len(faces))
    heard = []
    # one face a batch: more runs on each connection than psycopg needs to prepare the query
    parallel = people.links(
        faces, **args, batch=1, parallel=3, progress=lambda done, total: heard.append((done, total))
    )
    assert len(faces) > 11 and one_query
    assert sorted((a, b, round(d, 5)) for a, b, d in parallel) == sorted((a, b, round(d, 5)) for a, b, d in one_query)
    assert heard[-1] == (len(faces), len(faces)) and len(heard) == len(faces)

    # a failure (here: the listener, as Ctrl-C would) stops the queued batches instead of running them all
    queries = []
    real_statement = people_store.vector_statement
    monkeypatch.setattr(
        people_store, "vector_statement", lambda name, **kw: (queries.append(name), real_statement(name, **kw))[1]
    )

    def interrupted(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        people.links(faces, **args, batch=1, parallel=1, progress=interrupted)
    batches_run = queries.count("set_hnsw_ef_search")
    assert 1 <= batches_run <= 3 < len(faces)
    monkeypatch.undo()

    lines: list[str] = []
    recluster(replace(settings, workers=2), store, progress=lines.append)
    assert lines and lines[-1].startswith(f"{model_id}: neighbours of {len(faces):,} / {len(faces):,} faces")
    grouped = _grouping(store)
    assert grouped

    def write_then_fail(conn, plan, pinned):
        real_write(conn, plan, pinned)
        raise RuntimeError("the server went away in the middle of the write")

    real_write = people_store._write_grouping
    monkeypatch.setattr(people_store, "_write_grouping", write_then_fail)
    with pytest.raises(RuntimeError):
        recluster(settings, store)
    assert _grouping(store) == grouped  # forgetting the old grouping rolled back with the failed write


@needs_datasets
def test_decisions_survive_reruns_reclusters_and_a_model_switch(settings, store):
    _two_events(settings)
    for event in ("first", "second"):
        ingest_event(settings, store, event)
        update_people_for_event(settings, store, event)
    people = PeopleStore(store)
    biden = find_person(settings, store, lfw_photo("Joseph_Biden", 1)).matches[0].face_id
    person = people.assignments([biden])[biden].person_id
    assert person is not None
    name_person(store, person, "Joe Biden")
    others = [p for p in people.list_people() if p.person_id != person]
    merge_people(store, others[0].person_id, others[1].person_id)  # a person says these two are one
    moved_out = people.faces_of_person(others[2].person_id)[0].face_id
    move_face(store, moved_out, None)
    hide_person(store, others[3].person_id)

    def decisions():
        merged = people.people([others[0].person_id])[others[0].person_id].merged_into
        return (
            people.person_by_name("joe biden"),
            merged,
            people.assignments([moved_out])[moved_out],
            people.people([others[3].person_id])[others[3].person_id].hidden,
            {f.face_id for f in people.faces_of_person(others[1].person_id)},
        )

    before = decisions()
    assert before[0] == person and before[1] == others[1].person_id and before[2] == Assignment(None, True)
    for event in ("first", "second"):  # re-runs
        ingest_event(settings, store, event)
        update_people_for_event(settings, store, event)
    assert decisions() == before
    recluster(settings, store)  # an explicit full re-cluster
    assert decisions() == before
    switched = replace(settings, embedder="facenet-v1-flip")  # a model switch: every event re-embedded
    for event in ("first", "second"):
        ingest_event(switched, store, event)
        update_people_for_event(switched, store, event)
    assert decisions() == before
    assert {m.path for m in photos_of_person(switched, store, "Joe Biden").matches} >= {
        p for p, who in celeb_labels().items() if who == {"biden"}
    }


@needs_datasets
def test_people_commands_and_find_and_forget_by_name(settings, store, monkeypatch, capsys):
    for k, v in {
        "PHOTOS_ROOT": settings.photos_root,
        "DATA_DIR": settings.data_dir,
        "DSN": settings.dsn,
        "WORKERS": 1,
    }.items():
        monkeypatch.setenv(f"FACE_PIPELINE_{k}", str(v))
    _two_events(settings)
    assert main(["ingest", "first", "second"]) == 0
    assert main(["people", "update"]) == 0
    capsys.readouterr()
    biden = find_person(settings, store, lfw_photo("Joseph_Biden", 1)).matches[0].face_id
    person = PeopleStore(store).assignments([biden])[biden].person_id
    assert main(["people", "name", person, "Joe", "Biden"]) == 0
    assert main(["people"]) == 0
    assert "Joe Biden" in capsys.readouterr().out
    assert main(["find", "--person", "joe biden", "--no-html"]) == 0
    out = capsys.readouterr().out
    assert "person: Joe Biden" in out and "biden2.jpg" in out
    assert main(["find", str(lfw_photo("Joseph_Biden", 1)), "--no-html"]) == 0
    assert f"person: Joe Biden ({person})" in capsys.readouterr().out  # a lookup says whom it found
    assert main(["people", "name", "nobody-known", "X"]) == 2
    assert "no person is called or numbered" in capsys.readouterr().err
    faces = len(PeopleStore(store).faces_of_person(person))
    assert main(["forget-person", "Joe Biden"]) == 0  # a dry run
    assert f"{faces} faces in" in capsys.readouterr().out
    assert main(["forget-person", "Joe Biden", "--yes"]) == 0
    assert PeopleStore(store).person_by_name("joe biden") is None  # the name is forgotten too
    assert main(["find", "--person", "Joe Biden", "--no-html"]) == 2


@needs_datasets
def test_people_page_in_a_real_browser(settings, store, request):
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    _two_events(settings)
    for event in ("first", "second"):
        ingest_event(settings, store, event)
        update_people_for_event(settings, store, event)
    people = PeopleStore(store)
    shown = people.list_people()
    name_person(store, shown[0].person_id, "Barack Obama")
    hide_person(store, shown[-1].person_id)
    page_path = write_people_page(settings, store)
    out_dir = Path(__file__).resolve().parents[2] / "test-output"
    out_dir.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
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
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(page_path.as_uri())
        cards = page.locator("#people figure.person")
        assert cards.count() == len(shown) - 1  # the hidden person is left out
        assert page.locator("#people").get_by_text("Barack Obama").count() == 1
        images = page.locator("#people figure.person img")
        assert all(images.nth(i).evaluate("i => i.naturalWidth > 0") for i in range(images.count()))
        page.screenshot(path=str(out_dir / "people_page.png"), full_page=False)
        page.locator("#people").get_by_text("Barack Obama").click()
        assert page.url.endswith(f"#{shown[0].person_id}")
        section = page.locator(f"section#{shown[0].person_id}")
        assert section.locator("figure").count() == shown[0].photos
        assert section.locator("figure img").first.evaluate("i => i.naturalWidth > 0")
        browser.close()
    assert (out_dir / "people_page.png").stat().st_size > 10_000
    text = page_path.read_text()
    # self-contained: nothing is fetched from anywhere (the only address is the Launchpad link)
    assert 'src="http' not in text and "url(http" not in text and "<link" not in text
    assert text.count('class="share"') == 2 and "/jobs/share_links/playground" in text
    assert "face-pipeline share first" in text

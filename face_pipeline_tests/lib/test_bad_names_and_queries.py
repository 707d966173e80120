"""Issue #6, item 2: bad names and queries get clear errors, and touch nothing."""

from __future__ import annotations

import os
import re
import shutil

import pytest
from PIL import Image

from face_pipeline.lib import ingest
from face_pipeline.lib.errors import UserError
from face_pipeline.lib.forget import forget_event
from face_pipeline.lib.photos.events import (
    InvalidEventName,
    validate_event_name,
)
from face_pipeline.lib.photos.files import PhotoRejected
from face_pipeline.lib.search import (
    AmbiguousReference,
    NoFaceInReference,
    NoVectors,
    UnanswerableLookup,
    find_person,
)
from face_pipeline_tests.conftest import lfw_photo, needs_datasets
from face_pipeline_tests.lib.reliability_inputs import event_rows, ingest_event

BAD_NAMES = [
    ("", "empty"),
    ("Party", "did you mean 'party'"),
    ("../etc", "paths are not allowed"),
    ("a/b", "paths are not allowed"),
    ("..", "paths are not allowed"),
    ("a,b", "lower-case letters"),  # commas break Dagster's backfill selection
    ("x'; DROP TABLE photos; --", "lower-case letters"),
    ('x" OR 1=1', "lower-case letters"),
    ("a b", "lower-case letters"),
    ("-leading-dash", "lower-case letters"),
    ("_leading-underscore", "lower-case letters"),
    ("fête", "lower-case letters"),
    ("a" * 64, "1-63"),
    ("name\n", "lower-case letters"),
    ("a\x00b", "lower-case letters"),
    (".hidden", "lower-case letters"),
]


@pytest.mark.parametrize(("name", "hint"), BAD_NAMES)
def test_invalid_event_names_are_refused_with_the_reason_everywhere(name, hint, settings, store):
    with pytest.raises(InvalidEventName) as err:
        validate_event_name(name)
    assert hint in str(err.value)
    for call in (
        lambda: ingest.scan_event(settings, name),
        lambda: forget_event(settings, store, name),
        lambda: find_person(settings, store, "unused.jpg", events=[name]),
    ):
        with pytest.raises(InvalidEventName):
            call()
    # Nothing was created for the bad name anywhere under the data folder.
    made = [p.name for p in settings.data_dir.rglob("*")] if settings.data_dir.exists() else []
    assert not [m for m in made if m in (name, f"{name}.lock")], made


def test_sql_metacharacters_are_only_ever_data(settings, store):
    """Names reach SQL only as parameters: a hostile name deletes nothing and drops nothing."""
    with store.connect() as conn:
        conn.execute("INSERT INTO skipped_files (event, path, reason, message) VALUES ('keep', 'x', 'r', 'm')")
        conn.commit()
    for hostile in ("x'; DROP TABLE photos; --", "keep' OR '1'='1", "%", "_", "keep\\"):
        assert store.delete_event(hostile) == {"vectors": 0, "faces": 0, "photos": 0, "skipped": 0}
        assert store.skipped_files(hostile) == []
    assert store.skipped_files("keep") == [("x", "r", "m")]
    assert store.counts()["photos"] == 0  # the table is still there


def test_event_folder_escaping_the_photos_root_is_refused(settings, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.jpg").write_bytes(b"\xff\xd8")
    os.symlink(outside, settings.photos_root / "linked")
    with pytest.raises(UserError, match="does not exist"):
        ingest.scan_event(settings, "linked")
    with pytest.raises(UserError, match="does not exist"):
        ingest.scan_event(settings, "never-made")


def test_empty_event_folder_is_a_clear_error(settings):
    folder = settings.photos_root / "empty-party"
    folder.mkdir()
    (folder / ".DS_Store").write_bytes(b"hidden files do not count")
    with pytest.raises(UserError, match="holds no files"):
        ingest.scan_event(settings, "empty-party")


@needs_datasets
def test_event_without_faces_or_without_usable_photos_is_written_not_crashed(settings, store):
    """Landscapes only (zero faces in the whole event) and bad files only are both valid events:
    the write holds the photos (or none) and the skipped files, and lookups say there is nothing."""
    scenery = settings.photos_root / "scenery"
    scenery.mkdir()
    for i, colour in enumerate(("navy", "olive")):
        Image.new("RGB", (320, 240), colour).save(scenery / f"landscape-{i}.jpg")
    *_, summary = ingest_event(settings, store, "scenery")
    assert (summary.photos, summary.faces, summary.vectors) == (2, 0, 0)

    broken = settings.photos_root / "broken"
    broken.mkdir()
    (broken / "a.jpg").write_bytes(b"")
    (broken / "b.jpg").write_bytes(b"GIF89a-not-really")
    *_, summary = ingest_event(settings, store, "broken")
    assert (summary.photos, summary.skipped) == (0, 2)
    assert event_rows(store, "broken")["skipped"] == {("a.jpg", "empty_file"), ("b.jpg", "not_an_image")}
    assert find_person(settings, store, lfw_photo("Venus_Williams", 1)).matches == []


@pytest.fixture
def searchable(settings, store):
    if not lfw_photo("Venus_Williams", 1).is_file():
        pytest.skip("real photos not found")
    folder = settings.photos_root / "party"
    folder.mkdir()
    for n in (1, 2):
        shutil.copy(lfw_photo("Venus_Williams", n), folder / f"venus-{n}.jpg")
        shutil.copy(lfw_photo("Pierce_Brosnan", n), folder / f"pierce-{n}.jpg")
    ingest_event(settings, store, "party")
    return settings, store


def test_reference_without_a_face(searchable, tmp_path):
    settings, store = searchable
    blank = tmp_path / "wall.png"
    Image.new("RGB", (300, 300), "white").save(blank)
    with pytest.raises(NoFaceInReference, match="no face found in the reference picture"):
        find_person(settings, store, blank)


def test_reference_that_is_not_a_usable_picture(searchable, tmp_path):
    settings, store = searchable
    text = tmp_path / "me.jpg"
    text.write_text("not a picture")
    cases = [(text, "not_an_image"), (tmp_path / "missing.jpg", "missing"), (tmp_path, "not_a_file")]
    for path, reason in cases:
        with pytest.raises(PhotoRejected) as err:
            find_person(settings, store, path)
        assert err.value.reason == reason and str(path) in err.value.message
    with pytest.raises(UnanswerableLookup, match="at least one reference"):
        find_person(settings, store, [])


def test_reference_with_several_faces_needs_a_choice(searchable, tmp_path):
    settings, store = searchable
    pair = tmp_path / "pair.jpg"
    both = Image.new("RGB", (500, 250))
    both.paste(Image.open(lfw_photo("Venus_Williams", 4)), (0, 0))
    both.paste(Image.open(lfw_photo("Pierce_Brosnan", 8)), (250, 0))
    both.save(pair, quality=92)
    with pytest.raises(AmbiguousReference, match="choose one with face_index"):
        find_person(settings, store, pair)
    found = {find_person(settings, store, pair, face_index=i).matches[0].path.split("-")[0] for i in (0, 1)}
    assert found == {"venus", "pierce"}
    with pytest.raises(UnanswerableLookup, match="out of range"):
        find_person(settings, store, pair, face_index=5)


def test_queries_for_vectors_that_are_absent(searchable, store):
    settings, _ = searchable
    ref = lfw_photo("Venus_Williams", 4)
    with pytest.raises(NoVectors, match="no event is served by model 'clip-imgbeddings"):
        find_person(settings, store, ref, model_id="clip-imgbeddings-patch32_v1")
    with pytest.raises(NoVectors, match="never-ingested"):
        find_person(settings, store, ref, events=["never-ingested"])
    with pytest.raises(UnanswerableLookup, match="k must be at least 1"):
        find_person(settings, store, ref, k=0)
    with store.connect() as conn:  # an event served by a model that is not installed here
        conn.execute("""INSERT INTO event_models (event, model_id, detector_model, photo_count, face_count, serving)
                        VALUES ('mystery', 'mystery-model-v9', 'dlib-hog-up1', 0, 0, true)""")
        conn.commit()
    with pytest.raises(NoVectors, match="no installed embedder produces them"):
        find_person(settings, store, ref, events=["mystery"])


def test_query_on_an_empty_database(settings, store):
    with pytest.raises(NoVectors, match="ingest an event first"):
        find_person(settings, store, "unused.jpg")


BAD_PERSON_NAMES = {
    "a\nb": "U+000A",
    "tab\there": "U+0009",
    "nul\x00": "U+0000",
    "\x1b[31mred": "U+001B",
    "evil\u202eoob": "U+202E",
    "line\u2028sep": "U+2028",
}


def test_person_names_with_control_characters_or_too_long_are_refused_with_a_reason(
    store, settings, monkeypatch, capsys
):
    from face_pipeline.cli.main import main
    from face_pipeline.lib.people.decisions import (
        MAX_NAME_LENGTH,
        InvalidPersonName,
        name_person,
        validate_person_name,
    )

    for name, code in BAD_PERSON_NAMES.items():
        with pytest.raises(InvalidPersonName, match=re.escape(code)):
            name_person(store, "p-any", name)  # refused before the person is even looked up
    with pytest.raises(InvalidPersonName, match=f"at most {MAX_NAME_LENGTH}"):
        validate_person_name("x" * (MAX_NAME_LENGTH + 1))
    with pytest.raises(InvalidPersonName, match="give a name"):
        validate_person_name("  \t ")  # only spaces: stripped to nothing
    for good in ("Joe Biden", "  Zoë O'Brien-Łukasz  ", "李小龍", "می\u200cخواهم", "x" * MAX_NAME_LENGTH):
        assert validate_person_name(good) == good.strip()

    for k, v in {"PHOTOS_ROOT": settings.photos_root, "DATA_DIR": settings.data_dir, "DSN": settings.dsn}.items():
        monkeypatch.setenv(f"FACE_PIPELINE_{k}", str(v))
    capsys.readouterr()
    assert main(["people", "name", "p-any", "a\nb"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "control characters (U+000A)" in err  # one line, saying why

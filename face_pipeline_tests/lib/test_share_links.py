"""Share links (lib/share): random tokens stored only as hashes, limited to their events; expired,
revoked and made-up tokens open nothing, alike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from face_pipeline.lib.errors import UserError
from face_pipeline.lib.share import (
    UnknownLink,
    create_link,
    list_links,
    open_link,
    parse_duration,
    revoke_link,
)


@pytest.fixture
def two_events(store):
    with store.connect() as conn:
        for event in ("crabweek", "offsite"):
            conn.execute(
                "INSERT INTO event_models (event, model_id, detector_model, photo_count, face_count, serving) "
                "VALUES (%s, 'facenet-v1-flip', 'retinaface-mnet025-rot3', 0, 0, true)",
                (event,),
            )
        conn.commit()
    return store


def test_a_link_opens_its_events_only_and_its_token_is_never_stored(two_events):
    store = two_events
    token, link = create_link(store, ["crabweek"], timedelta(days=14))
    assert len(token) >= 32 and link.events == ("crabweek",)
    opened = open_link(store, token)
    assert opened is not None and opened.events == ("crabweek",) and opened.link_id == link.link_id
    with store.connect() as conn:
        dump = " ".join(str(v) for row in conn.execute("SELECT * FROM share_links") for v in row)
    assert token not in dump
    other, _ = create_link(store, ["crabweek", "offsite"], timedelta(hours=1))
    assert other != token and open_link(store, other).events == ("crabweek", "offsite")


def test_expired_revoked_and_guessed_tokens_open_nothing(two_events):
    store = two_events
    token, link = create_link(store, ["crabweek"], timedelta(days=1))
    assert open_link(store, token[:-1] + ("A" if token[-1] != "A" else "B")) is None  # one character off
    assert open_link(store, "") is None and open_link(store, "x" * 10_000) is None
    revoke_link(store, link.link_id)
    assert open_link(store, token) is None
    with pytest.raises(UnknownLink, match="already revoked"):
        revoke_link(store, link.link_id)
    with pytest.raises(UnknownLink, match="share --list"):
        revoke_link(store, "lnothere")
    expired, old = create_link(store, ["offsite"], timedelta(minutes=1))
    with store.connect() as conn:
        conn.execute(
            "UPDATE share_links SET expires_at = now() - interval '1 second' WHERE link_id = %s", (old.link_id,)
        )
        conn.commit()
    assert open_link(store, expired) is None
    listed = {x.link_id: x for x in list_links(store)}
    assert not listed[link.link_id].active and listed[link.link_id].revoked_at is not None
    assert not listed[old.link_id].active and listed[old.link_id].revoked_at is None


def test_links_need_stored_events_and_a_sane_lifetime(two_events):
    with pytest.raises(UserError, match="ingest them first"):
        create_link(two_events, ["never-ingested"], timedelta(days=1))
    with pytest.raises(UserError, match="invalid event name"):
        create_link(two_events, ["../etc"], timedelta(days=1))
    assert parse_duration("14d") == timedelta(days=14) and parse_duration("12h") == timedelta(hours=12)
    assert parse_duration("2w") == timedelta(weeks=2) and parse_duration("30m") == timedelta(minutes=30)
    for bad in ("", "14", "0d", "-1d", "3y", "400d"):
        with pytest.raises(UserError, match="--expires"):
            parse_duration(bad)

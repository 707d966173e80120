"""The people page: one face per person (name or number, how many photos and events), each linking to
a section with that person's photos, the face boxed; hidden people are left out."""

from __future__ import annotations

import html
import shlex
from pathlib import Path

from face_pipeline.lib.people.people_store import PeopleStore, PersonFace
from face_pipeline.lib.report.html import page, photo_card, write_page
from face_pipeline.lib.report.images import data_uri, match_thumbnail
from face_pipeline.lib.search import PhotoMatch
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.storage import make_private_dir
from face_pipeline.lib.store import VectorStore

#: Photos shown per person on the page (the CLI's `people show` lists them all).
PHOTOS_PER_PERSON = 24


def _as_match(f: PersonFace) -> PhotoMatch:
    return PhotoMatch(f.event, f.photo_id, f.path, 0.0, 1.0, f.box, f.face_id, f.crop_path, f.width, f.height, "")


def share_section(settings: Settings, events: list[str]) -> str:
    """Per event, how to let its participants find their own photos: a link into the Dagster
    Launchpad of the share_links job (Dagster can not prefill a Launchpad from a URL, so the config
    to paste is shown beside it), and the same as one command."""
    if not events:
        return ""
    launchpad = f"{settings.dagster_ui_url.rstrip('/')}/locations/face_pipeline/jobs/share_links/playground"
    rows = []
    for event in events:
        e = html.escape(event)
        config = html.escape(f"ops:\n  manage_share_link:\n    config:\n      events: [{event!r}]\n      expires: 14d")
        rows.append(
            f'<li class="share" data-event="{e}"><b>{e}</b>: <a href="{html.escape(launchpad)}">create a '
            f"share link in the Launchpad</a> with <pre>{config}</pre> or run "
            f"<code>face-pipeline share {html.escape(shlex.quote(event))}</code></li>"
        )
    return (
        f'<section id="share"><h2>Let participants find their photos</h2><p>A share link opens the '
        f"participant page (<code>face-pipeline serve</code>, at {html.escape(settings.public_url)}) for one "
        f"event: each person takes a selfie and sees the photos they are in.</p><ul>{''.join(rows)}</ul></section>"
    )


def write_people_page(settings: Settings, store: VectorStore, out_path: Path | None = None) -> Path:
    people = PeopleStore(store)
    shown = [p for p in people.list_people() if not p.hidden]
    cards, sections, photos = [], [], []
    for p in shown:
        label = html.escape(p.name or p.person_id)
        faces = people.faces_of_person(p.person_id)
        face = next((f for f in faces if f.face_id == p.face_id), faces[0])
        thumb = match_thumbnail(settings, _as_match(face), 320, crop=True)
        img = f'<img src="{data_uri(thumb)}" alt="{label}">' if thumb else "<div class=missing></div>"
        cards.append(
            f'<figure class="person" data-person="{p.person_id}"><a href="#{p.person_id}">{img}</a>'
            f'<figcaption><a href="#{p.person_id}">{label}</a><br>{p.photos} photo(s), '
            f"{p.events} event(s)</figcaption></figure>"
        )
        by_photo: dict[tuple[str, str], PersonFace] = {}
        for f in faces:
            by_photo.setdefault((f.event, f.photo_id), f)
        listed = list(by_photo.values())[:PHOTOS_PER_PERSON]
        photos += [(f.event, f.path) for f in listed]
        more = f"<p>and {len(by_photo) - len(listed)} more</p>" if len(by_photo) > len(listed) else ""
        items = "".join(
            photo_card(settings, _as_match(f), f"{html.escape(f.event)}/{html.escape(f.path)}", 240) for f in listed
        )
        sections.append(
            f'<section class="person" id="{p.person_id}"><h2>{label}</h2>'
            f'<div class="grid">{items}</div>{more}</section>'
        )
    body = (
        f'<p>{len(shown)} people</p><div class="grid" id="people">{"".join(cards) or "<p>No people yet.</p>"}'
        f"</div>{share_section(settings, sorted(store.serving_models()))}{''.join(sections)}"
    )
    out_path = Path(out_path) if out_path else make_private_dir(settings.reports_dir) / "people.html"
    return write_page(settings, out_path, page("people", body), photos)

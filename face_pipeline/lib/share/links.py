"""Share links for participants: a random token (192 bits) that opens the page for some events until
it expires or is revoked. Only the token's sha256 is stored; `open_link` answers None alike for an
expired, revoked or made-up token, so a holder learns nothing about what exists."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from face_pipeline.lib.errors import UserError
from face_pipeline.lib.photos.events import validate_event_name
from face_pipeline.lib.store import VectorStore, named_row, statement

#: secrets.token_urlsafe(24): 24 random bytes = 192 bits, 32 URL-safe characters.
TOKEN_BYTES = 24
#: The longest a link may live: a share link is for the weeks after an event, not for ever.
MAX_VALID_FOR = timedelta(days=365)
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class UnknownLink(UserError):
    pass


@dataclass(frozen=True)
class ShareLink:
    link_id: str
    events: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    active: bool


@dataclass(frozen=True)
class OpenLink:
    """A token that opens a page now: for these events, until then."""

    link_id: str
    events: tuple[str, ...]
    expires_at: datetime


def parse_duration(text: str) -> timedelta:
    """'14d', '12h', '2w', '30m' -> a timedelta (at most MAX_VALID_FOR)."""
    m = _DURATION.match(text or "")
    if not m or int(m.group(1)) == 0:
        raise UserError(f"--expires {text!r}: give a positive number and a unit, e.g. 14d, 12h, 2w, 30m")
    valid_for = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    if valid_for > MAX_VALID_FOR:
        raise UserError(f"--expires {text!r}: a link lives at most {MAX_VALID_FOR.days} days")
    return valid_for


def share_url(public_url: str, token: str) -> str:
    """The address a participant opens (PUBLIC_URL, where `face-pipeline serve` answers)."""
    return f"{public_url.rstrip('/')}/s/{token}"


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def create_link(store: VectorStore, events: Sequence[str], valid_for: timedelta) -> tuple[str, ShareLink]:
    """A new link for `events` (each must have stored photos): (the token, to hand out once; its record)."""
    events = tuple(sorted({validate_event_name(e) for e in events}))
    if not events:
        raise UserError("name at least one event to share")
    if valid_for <= timedelta(0) or valid_for > MAX_VALID_FOR:
        raise UserError(f"a link lives between a minute and {MAX_VALID_FOR.days} days")
    stored = store.serving_models(list(events))
    missing = [e for e in events if e not in stored]
    if missing:
        raise UserError(f"no stored photos for event(s) {missing}: ingest them first (face-pipeline ingest)")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    digest = _hash(token)
    link_id = "l" + digest.hex()[:10]
    with store.connect() as conn:
        made = named_row(
            conn,
            statement("insert_share_link"),
            {
                "link_id": link_id,
                "token_sha256": digest,
                "events": list(events),
                "valid_for": valid_for,
            },
        )
        conn.commit()
    return token, ShareLink(link_id=link_id, events=events, revoked_at=None, active=True, **made)


def open_link(store: VectorStore, token: str) -> OpenLink | None:
    """The link a token opens now, or None (expired, revoked, or never made: the same answer)."""
    if not token or len(token) > 128:
        return None
    row = store.row(statement("open_share_link"), {"token_sha256": _hash(token)})
    return OpenLink(**{**row, "events": tuple(row["events"])}) if row else None


def list_links(store: VectorStore) -> list[ShareLink]:
    rows = store.rows(statement("list_share_links"))
    return [ShareLink(**{**r, "events": tuple(r["events"])}) for r in rows]


def revoke_link(store: VectorStore, link_id: str) -> None:
    """Revoke a link by its id (`face-pipeline share --list` shows them); its token opens nothing after."""
    with store.connect() as conn:
        done = conn.execute(statement("revoke_share_link"), {"link_id": link_id}).fetchall()
        conn.commit()
    if not done:
        known = {link.link_id: link for link in list_links(store)}
        if link_id in known:
            raise UnknownLink(f"link {link_id} is already revoked")
        raise UnknownLink(f"no link {link_id!r}; `face-pipeline share --list` shows them")

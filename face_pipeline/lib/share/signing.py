"""Signed values for the participant page: a photo URL or a "this is me too" face can only be used
if this server handed it out, for this link, and (photos) until the link expires.

The key lives in the database (sql/008_server_keys.sql) so any number of stateless `serve`
replicas agree on it; a signature is HMAC-SHA256 over the link id and the signed parts, cut to 128
bits, URL-safe.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from face_pipeline.lib.store import VectorStore, named_row, statement

KEY_NAME = "participant_urls_v1"
_keys: dict[str, bytes] = {}


def url_key(store: VectorStore) -> bytes:
    """This database's signing key (created by the first caller), read once per process."""
    dsn = store.dsn
    if dsn not in _keys:
        with store.connect() as conn:
            conn.execute(statement("ensure_server_key"), {"name": KEY_NAME, "key": secrets.token_bytes(32)})
            conn.commit()
            key = named_row(conn, statement("server_key"), {"name": KEY_NAME})["key"]
        _keys[dsn] = bytes(key)
    return _keys[dsn]


def signature(key: bytes, *parts: object) -> str:
    message = "\x1f".join(str(p) for p in parts).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed(key: bytes, value: str, *context: object) -> str:
    """`value` with its signature appended: 'value.signature'."""
    return f"{value}.{signature(key, value, *context)}"


def unsigned(key: bytes, token: str, *context: object) -> str | None:
    """The value of a `signed` token, or None if the signature does not hold."""
    value, _, sig = (token or "").rpartition(".")
    if not value or not hmac.compare_digest(sig, signature(key, value, *context)):
        return None
    return value


def verify(key: bytes, sig: str, *parts: object) -> bool:
    return hmac.compare_digest(sig or "", signature(key, *parts))

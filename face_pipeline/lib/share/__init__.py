"""What the participant page stands on, free of HTTP: share links that open it for some events
(links.py), signed values so that only what a lookup returned can be fetched (signing.py), the
participant's lookup request, selfie advice, thumbnails and the zip (participant.py), QR codes (qr.py)."""

from face_pipeline.lib.share.links import (
    OpenLink,
    ShareLink,
    UnknownLink,
    create_link,
    list_links,
    open_link,
    parse_duration,
    revoke_link,
    share_url,
)

__all__ = [
    "OpenLink",
    "ShareLink",
    "UnknownLink",
    "create_link",
    "list_links",
    "open_link",
    "parse_duration",
    "revoke_link",
    "share_url",
]

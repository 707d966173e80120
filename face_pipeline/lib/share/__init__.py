"""Share links: what lets a participant open the page for some events (links.py)."""

from face_pipeline.lib.share.links import (
    OpenLink,
    ShareLink,
    UnknownLink,
    create_link,
    list_links,
    open_link,
    parse_duration,
    revoke_link,
)

__all__ = ["OpenLink", "ShareLink", "UnknownLink", "create_link", "list_links", "open_link", "parse_duration",
           "revoke_link"]

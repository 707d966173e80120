"""The participant page (`face-pipeline serve`): a person opens a share link, gives a selfie, and gets
the photos of the link's events they are in.

A thin HTTP adapter, like the CLI and the Dagster job: `app.py` turns requests into calls of
lib/share (links, signed URLs, the participant's LookupRequest, thumbnails, the zip) and of the one
lookup of lib/search, and renders `templates/` (Jinja2, autoescaped). It keeps no state of its own
beyond per-process rate counters, so any number of replicas can serve one database.
"""

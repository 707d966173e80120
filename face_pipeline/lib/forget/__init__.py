"""Forgetting: an event (event.py) or a person (person.py), from everything the pipeline stored:
rows, vectors, crops, stage files, the HTML reports that show them. Dagster's run records are the
defs layer's (defs/history.py)."""

from face_pipeline.lib.forget.event import ForgetEventResult, forget_event
from face_pipeline.lib.forget.person import (
    ForgetPersonResult,
    delete_faces,
    faces_of_person,
    forget_named_person,
    forget_person,
)

__all__ = [
    "ForgetEventResult",
    "ForgetPersonResult",
    "delete_faces",
    "faces_of_person",
    "forget_event",
    "forget_named_person",
    "forget_person",
]

"""manage_people: people's decisions from the Launchpad (name, merge, move a face, hide), and the
explicit full re-cluster; the same library calls as `face-pipeline people ...`."""

from typing import Literal

import dagster as dg
from pydantic import Field

from face_pipeline.defs.failures import user_errors_as_failures
from face_pipeline.defs.resources import FacePipeline
from face_pipeline.lib.errors import UserError
from face_pipeline.lib.people import hide_person, merge_people, move_face, name_person, recluster
from face_pipeline.lib.report.people_page import write_people_page


class PeopleDecision(dg.Config):
    action: Literal["name", "merge", "move", "hide", "show", "recluster", "page"] = Field(
        description="name PERSON NAME; merge PERSON INTO; move FACE_ID to PERSON (empty: to nobody); hide / show "
        "PERSON; recluster (every face again, decisions kept); page (write the HTML people page)"
    )
    person: str = Field(default="", description="a person's name or id")
    name: str = Field(default="", description="the name, for action=name")
    into: str = Field(default="", description="the person the first one joins, for action=merge")
    face_id: str = Field(default="", description="the face, for action=move")


@dg.op(description="Apply one decision about people (kept across every re-cluster and re-run).")
def apply_people_decision(context: dg.OpExecutionContext, config: PeopleDecision, pipeline: FacePipeline) -> str:
    settings, store = pipeline.settings(), pipeline.store()
    with user_errors_as_failures():
        done = _apply(config, settings, store, say=context.log.info)
    context.log.info(done)
    return done


def _apply(c: PeopleDecision, settings, store, say) -> str:
    if c.action == "name":
        return f"{name_person(store, c.person, c.name)} is now {c.name!r}"
    if c.action == "merge":
        return f"{c.person} joined {merge_people(store, c.person, c.into)}"
    if c.action == "move":
        if not c.face_id:
            raise UserError("action=move needs face_id")
        return f"face {c.face_id} is now {move_face(store, c.face_id, c.person or None) or 'nobody we know'}"
    if c.action in ("hide", "show"):
        hidden = c.action == "hide"
        return f"{hide_person(store, c.person, hidden=hidden)} is {'hidden' if hidden else 'shown'}"
    if c.action == "recluster":
        return "; ".join(
            f"{r.model_id}: {r.people} people from {r.faces} faces" for r in recluster(settings, store, progress=say)
        )
    return f"people page: {write_people_page(settings, store)}"


@dg.job(
    description="Decide about people: name, merge, move a face, hide; or re-cluster every face.",
    tags={"face_pipeline/kind": "people"},
)
def manage_people():
    apply_people_decision()

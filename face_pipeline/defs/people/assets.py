"""people: every face of an event grouped into persons across all events, after its vectors are
stored (one event at a time: an incremental update, never a full re-cluster)."""

import dagster as dg

from face_pipeline.defs.failures import user_errors_as_failures
from face_pipeline.defs.partitions import EVENT_ASSET
from face_pipeline.defs.resources import FacePipeline
from face_pipeline.lib.people import PeopleStore, update_people_for_event
from face_pipeline.lib.report.images import data_uri, match_thumbnail
from face_pipeline.lib.search import PhotoMatch

#: People shown in the asset's metadata (a face each).
PREVIEW_PEOPLE = 24


@dg.asset(
    **EVENT_ASSET,
    kinds={"postgres"},
    deps=["face_vectors"],
    description="The event's faces grouped into people across all events (tables people, face_people); "
    "people's own decisions (names, merges, moved faces) are kept.",
)
def people(context: dg.AssetExecutionContext, pipeline: FacePipeline) -> dg.MaterializeResult:
    settings = pipeline.settings()
    store = pipeline.store()
    with user_errors_as_failures():
        update = update_people_for_event(settings, store, context.partition_key)
    context.log.info(
        f"{update.faces} faces: {update.assigned} with a person ({len(update.people)} people, "
        f"{update.new_people} new, {update.merged} merged), {update.strangers} strangers"
    )
    summaries = {p.person_id: p for p in PeopleStore(store).list_people()}
    shown = [summaries[p] for p in update.people if p in summaries][:PREVIEW_PEOPLE]
    rows = ["| face | person | photos | events |", "|---|---|---|---|"]
    pstore = PeopleStore(store)
    for p in shown:
        face = next(f for f in pstore.faces_of_person(p.person_id) if f.face_id == p.face_id)
        thumb = match_thumbnail(
            settings,
            PhotoMatch(
                face.event,
                face.photo_id,
                face.path,
                0,
                1,
                face.box,
                face.face_id,
                face.crop_path,
                face.width,
                face.height,
                "",
            ),
            64,
            crop=True,
        )
        cell = f"![{p.person_id}]({data_uri(thumb)})" if thumb else ""
        rows.append(f"| {cell} | {p.name or p.person_id} | {p.photos} | {p.events} |")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": update.faces,
            "faces": update.faces,
            "with_a_person": update.assigned,
            "strangers": update.strangers,
            "people_in_event": len(update.people),
            "new_people": update.new_people,
            "merged_people": update.merged,
            "inherited_decisions": update.inherited,
            "links": update.links,
            "model_id": update.model_id,
            "seconds": update.seconds,
            "people_preview": dg.MetadataValue.md("\n".join(rows) if shown else "*no person in this event*"),
            "summary": dg.MetadataValue.json(
                {"event": update.event, "people": update.people, "faces": update.faces, "strangers": update.strangers}
            ),
        }
    )

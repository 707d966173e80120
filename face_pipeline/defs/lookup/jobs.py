"""find_person: the on-demand "find me" lookup, as an op job with a Config.

Three ops, the same library steps as `face-pipeline find`, so both give the same answers:
reference picture(s) -> chosen face; embed with each event's serving model + pgvector query +
one row per photo; report (markdown table with thumbnails, and a self-contained HTML page).
"""


from dataclasses import dataclass
from typing import Literal

import dagster as dg
from pydantic import Field

from face_pipeline.defs.failures import user_errors_as_failures
from face_pipeline.defs.resources import FacePipeline
from face_pipeline.lib.report import matches_markdown, matches_text, write_html_report
from face_pipeline.lib.search import (
    DEFAULT_ENROL,
    DEFAULT_EXPAND,
    FindResult,
    ReferenceFace,
    load_references,
    resolve_serving_models,
    search_with_references,
)


class FindPersonConfig(dg.Config):
    reference_images: list[str] = Field(description="path(s) of reference picture(s) of one person")
    k: int = Field(default=50, description="at most this many photos")
    threshold: float | None = Field(default=None, description="distance cut-off; default: the model's calibrated one")
    events: list[str] | None = Field(default=None, description="limit to these events (default: all)")
    model_id: str | None = Field(default=None, description="search only vectors of this model")
    face_index: int | None = Field(default=None, description="which face of the reference (0 = largest)")
    report_path: str | None = Field(default=None, description="where to write the HTML page")
    enrol: Literal["mean", "min", "centroid"] = Field(
        default=DEFAULT_ENROL, description="how several references score a face: mean distance to them, "
        "nearest one, or distance to their mean vector")
    expand: bool = Field(default=DEFAULT_EXPAND, description="search again from the confident hits (query expansion)")


#: The output metadata entry that lists a lookup's photos as JSON (read by defs/history.py).
MATCHES_JSON = "matches_json"


@dataclass
class LookupRequest:
    references: list[ReferenceFace]
    config: dict


@dg.op(description="Decode the reference picture(s), detect faces and choose the one to search for.")
def choose_reference_face(context: dg.OpExecutionContext, config: FindPersonConfig, pipeline: FacePipeline) -> LookupRequest:
    with user_errors_as_failures():
        refs = load_references(pipeline.settings(), config.reference_images, face_index=config.face_index)
    for r in refs:
        context.log.info(f"{r.path}: searching for face {r.chosen_index} of {r.faces_found} at {r.face.box}")
    return LookupRequest(refs, config.model_dump())


@dg.op(description="Embed the face with each serving model, query pgvector, keep each photo's best face.")
def search_face_vectors(context: dg.OpExecutionContext, request: LookupRequest, pipeline: FacePipeline) -> FindResult:
    cfg = request.config
    store = pipeline.store()
    with user_errors_as_failures():
        groups = resolve_serving_models(store, cfg["events"], cfg["model_id"])
        result = search_with_references(
            store, request.references, groups, k=cfg["k"], threshold=cfg["threshold"],
            events_limited=bool(cfg["events"]), enrol=cfg["enrol"], expand=cfg["expand"],
            folders=pipeline.settings().model_folders,
        )
    context.log.info(f"{len(result.matches)} photo(s) within threshold {result.threshold:g} "
                     f"({result.faces_considered} candidate faces)")
    return result


@dg.op(description="Report the ranked photos: markdown table with thumbnails and an HTML page.")
def report_matches(context: dg.OpExecutionContext, request: LookupRequest, result: FindResult,
                   pipeline: FacePipeline) -> str:
    settings = pipeline.settings()
    path = write_html_report(settings, result, request.config.get("report_path"), title="find_person")
    context.log.info("\n" + matches_text(result))
    context.add_output_metadata(
        {
            "photos_found": len(result.matches),
            "threshold": result.threshold,
            "models": ", ".join(result.models),
            "matches": dg.MetadataValue.md(matches_markdown(settings, result)),
            # The same list for programs: forgetting a person finds the runs that show them here.
            MATCHES_JSON: dg.MetadataValue.json([{"event": m.event, "path": m.path} for m in result.matches]),
            "report": dg.MetadataValue.path(str(path)),
        }
    )
    return str(path)


@dg.job(description="Find the photos one person is in, from reference picture(s). "
        "Config: reference_images, k, threshold, events, model_id, face_index, enrol, expand.",
        tags={"face_pipeline/kind": "lookup"})
def find_person_job():
    request = choose_reference_face()
    report_matches(request, search_face_vectors(request))

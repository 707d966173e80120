"""find_person: the on-demand "find me" lookup, as an op job with a Config.

The config holds every field of the one lookup's request (lib/search/lookup.py: LookupRequest), the
same options as `face-pipeline find`; the first op calls `lookup` with it, the second reports the
ranked photos (markdown table with thumbnails, and a self-contained HTML page).
"""

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
    LookupRequest,
    lookup,
)


class FindPersonConfig(dg.Config):
    reference_images: list[str] = Field(default=[], description="path(s) of reference picture(s) of one person")
    person: str | None = Field(default=None, description="a person's name or id instead of reference pictures")
    with_person_photos: bool = Field(
        default=False, description="also the matching person's photos that the reference alone does not reach"
    )
    k: int = Field(default=50, description="at most this many photos")
    threshold: float | None = Field(default=None, description="distance cut-off; default: the model's calibrated one")
    events: list[str] | None = Field(default=None, description="limit to these events (default: all)")
    model_id: str | None = Field(default=None, description="search only vectors of this model")
    face_index: int | None = Field(default=None, description="which face of the reference (0 = largest)")
    enrol: Literal["mean", "min", "centroid"] = Field(
        default=DEFAULT_ENROL,
        description="how several references score a face: mean distance to them, "
        "nearest one, or distance to their mean vector",
    )
    expand: bool = Field(default=DEFAULT_EXPAND, description="search again from the confident hits (query expansion)")
    confirmed_faces: list[str] = Field(
        default=[], description="stored face ids confirmed as this person (from candidates): further references"
    )
    candidates: int = Field(default=0, description="also up to this many photos just past the threshold, to confirm")
    report_path: str | None = Field(default=None, description="where to write the HTML page")

    def lookup_request(self) -> LookupRequest:
        return LookupRequest(
            references=tuple(self.reference_images),
            person=self.person,
            with_person_photos=self.with_person_photos,
            k=self.k,
            threshold=self.threshold,
            events=tuple(self.events) if self.events else None,
            model_id=self.model_id,
            face_index=self.face_index,
            enrol=self.enrol,
            expand=self.expand,
            confirmed_faces=tuple(self.confirmed_faces),
            candidates=self.candidates,
        )


#: The output metadata entry that lists a lookup's photos as JSON (read by defs/history.py).
MATCHES_JSON = "matches_json"


@dg.op(
    description="The one lookup (lib/search: lookup): reference picture(s) or a person -> ranked photos.",
    out={"result": dg.Out(FindResult), "report_path": dg.Out(str | None)},
)
def find_photos(context: dg.OpExecutionContext, config: FindPersonConfig, pipeline: FacePipeline):
    with user_errors_as_failures():
        result = lookup(pipeline.settings(), pipeline.store(), config.lookup_request())
    for r in result.references:
        context.log.info(f"{r.path}: searched for face {r.chosen_index} of {r.faces_found} at {r.face.box}")
    context.log.info(
        f"{len(result.matches)} photo(s) within threshold {result.threshold:g} "
        f"({result.faces_considered} candidate faces)"
        + (f"; person {result.person_name or result.person}" if result.person else "")
    )
    return result, config.report_path


@dg.op(description="Report the ranked photos: markdown table with thumbnails and an HTML page.")
def report_matches(
    context: dg.OpExecutionContext, result: FindResult, report_path: str | None, pipeline: FacePipeline
) -> str:
    settings = pipeline.settings()
    path = write_html_report(settings, result, report_path, title="find_person")
    context.log.info("\n" + matches_text(result))
    context.add_output_metadata(
        {
            "photos_found": len(result.matches),
            "threshold": result.threshold,
            "models": ", ".join(result.models),
            "person": result.person_name or result.person or "",
            "matches": dg.MetadataValue.md(matches_markdown(settings, result)),
            # The same list for programs: forgetting a person finds the runs that show them here.
            MATCHES_JSON: dg.MetadataValue.json([{"event": m.event, "path": m.path} for m in result.matches]),
            "report": dg.MetadataValue.path(str(path)),
        }
    )
    return str(path)


@dg.job(
    description="Find the photos one person is in, from reference picture(s) or a person's name. "
    "Config (ops.find_photos.config): reference_images or person, "
    "with_person_photos, k, threshold, events, model_id, face_index, enrol, expand, report_path.",
    tags={"face_pipeline/kind": "lookup"},
)
def find_person_job():
    result, report_path = find_photos()
    report_matches(result, report_path)

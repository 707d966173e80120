"""face_crops: every face of every photo, its box and landmarks, and the crop the embedder reads."""

import time

import dagster as dg

from face_pipeline.defs.failures import user_errors_as_failures
from face_pipeline.defs.models import detector_code_version, model_versioned_asset
from face_pipeline.defs.observability import progress_logger, skipped_markdown
from face_pipeline.lib.ingest import detect_faces, load_manifest
from face_pipeline.lib.report import face_grid_markdown
from face_pipeline.lib.settings import Settings


def build_face_crops(settings: Settings) -> dg.AssetsDefinition:
    """The asset, versioned by the detector (and crop kind) that `settings` select."""

    @model_versioned_asset(
        settings,
        detector_code_version,
        kinds={"python", "file"},
        deps=["event_photos"],
        description="Faces found in each photo (detector, box, 5-point landmarks) and their crops "
        "(aligned chips for the identity model) under DATA_DIR/crops/<event>/.",
    )
    def face_crops(context: dg.AssetExecutionContext, settings: Settings) -> dg.MaterializeResult:
        t0 = time.perf_counter()
        with user_errors_as_failures():
            manifest = load_manifest(settings, context.partition_key)
            faces = detect_faces(settings, manifest, progress=progress_logger(context, "detecting faces"))
        seconds = time.perf_counter() - t0
        context.log.info(
            f"{len(faces.faces)} faces in {len(faces.photo_faces)} photos "
            f"({faces.detected_photos} detected, {faces.reused_photos} reused, {len(faces.skipped)} unreadable)"
        )
        with_faces = sum(1 for n in faces.photo_faces.values() if n)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(faces.faces),
                "faces": len(faces.faces),
                "photos_with_faces": with_faces,
                "photos_without_faces": len(faces.photo_faces) - with_faces,
                "photos_detected": faces.detected_photos,
                "photos_reused": faces.reused_photos,
                "unreadable_photos": len(faces.skipped),
                "unreadable": dg.MetadataValue.md(skipped_markdown(faces.skipped)),
                "detector_model": faces.detector_model,
                "crop_kind": faces.crop_kind,
                "seconds": round(seconds, 3),
                "seconds_decode_cpu": faces.seconds_decode,
                "seconds_detect_cpu": faces.seconds_detect,
                "seconds_align_cpu": faces.seconds_align,
                "seconds_embed_cpu": faces.seconds_embed,
                "ms_per_detected_photo": round(1000 * seconds / max(1, faces.detected_photos), 1),
                "faces_preview": dg.MetadataValue.md(
                    face_grid_markdown([settings.data_dir / f.crop_path for f in faces.faces])
                ),
            }
        )

    return face_crops

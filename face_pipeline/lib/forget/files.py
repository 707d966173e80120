"""Deleting the pipeline's own files of forgotten faces (never anything outside DATA_DIR/crops)."""

from __future__ import annotations

from face_pipeline.lib.settings import Settings
from face_pipeline.lib.storage import is_remote, remove_file


def delete_crop_files(settings: Settings, crop_paths: set[str]) -> int:
    if is_remote(settings.data_dir):
        # keys are plain strings: no symbolic links or `..` can lead outside crops/
        doomed = [rel for rel in sorted(crop_paths) if rel.startswith("crops/") and ".." not in rel.split("/")]
        for rel in doomed:
            remove_file(settings.data_dir / rel)
        return len(doomed)
    crops_root = settings.crops_dir.resolve()
    n = 0
    for rel in sorted(crop_paths):
        path = (settings.data_dir / rel).resolve()
        if not path.is_relative_to(crops_root):  # never delete outside DATA_DIR/crops
            continue
        try:
            path.unlink()
            n += 1
        except FileNotFoundError:
            continue
        try:
            path.parent.rmdir()  # the photo's crop folder, once empty
        except OSError:
            pass
    return n

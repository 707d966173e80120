"""`models`: every model with its id, files, sha256, licence and source; `models install [NAME ...]`."""

from __future__ import annotations

from face_pipeline.lib.errors import UserError
from face_pipeline.lib.models.registry import DETECTORS, EMBEDDERS, ModelEntry, entry
from face_pipeline.lib.models.weights import WEIGHT_FILES, ModelFilesMissing, install, verified_path
from face_pipeline.lib.settings import Settings


def add_commands(sub) -> None:
    s = sub.add_parser("models", help="list the models (files, sha256, licences); `models install` installs them")
    s.add_argument("action", nargs="?", choices=["list", "install"], default="list")
    s.add_argument("names", nargs="*", help="models to install (default: every model that is not an opt-in)")
    s.set_defaults(run=cmd_models)


def default_install_names() -> list[str]:
    return [e.name for e in (*DETECTORS.values(), *EMBEDDERS.values()) if e.default_install and e.weight_files]


def cmd_models(args, settings: Settings) -> int:
    folders = settings.model_folders
    if args.action == "install":
        names = args.names or default_install_names()
        entries = [entry(n) for n in names]
        for e in entries:
            if not e.commercial_use:
                print(f"NOTE {e.name}: {e.licence}. Installing it is an explicit choice; do not use it for a "
                      "company's own photos.")
        files = sorted({f for e in entries for f in e.weight_files})
        if not files:
            print(f"nothing to install: {', '.join(names)} need no weight files of ours")
            return 0
        print(f"installing {', '.join(files)} into {folders.model_dir}")
        written = install(files, folders.model_dir)
        print(f"done: {len(written)} file(s) written, {len(files) - len(written)} already there")
        return 0
    if args.names:
        raise UserError("`face-pipeline models` lists every model; names go with `models install`")
    for title, registry, active in (("detectors", DETECTORS, settings.detector),
                                    ("embedders", EMBEDDERS, settings.embedder)):
        print(f"{title}:")
        for e in registry.values():
            print(describe(e, folders.model_dir, active))
    print(f"model folder: {folders.model_dir} (FACE_PIPELINE_MODEL_DIR)")
    return 0


def describe(e: ModelEntry, model_dir, active: str) -> str:
    mark = "*" if e.name == active else " "
    extra = "" if e.default_install else "  [opt-in]"
    lines = [f" {mark} {e.name:<24} {e.description()}{extra}", f"     licence: {e.licence}"]
    cls = e.model_class
    if e.kind == "embedder" and isinstance(getattr(cls, "model_id", None), str):
        lines.append(f"     model id: {cls.model_id}; {cls.dim}-d, {cls.metric}; crop {cls.crop_kind}")
    for name in e.weight_files:
        spec = WEIGHT_FILES[name]
        try:
            verified_path(model_dir, name, e.name)
            state = "installed, sha256 checked"
        except ModelFilesMissing as exc:
            state = "damaged" if "damaged" in str(exc) else f"not installed: face-pipeline models install {e.name}"
        lines.append(f"     file: {name} ({state})\n       sha256 {spec.sha256}\n       from {spec.source}"
                     f"\n       {spec.archive.filename} sha256 {spec.archive.sha256}")
    if not e.weight_files:
        lines.append("     files: shipped by a dependency (face_recognition_models, OpenCV) or given by you (CLIP)")
    return "\n".join(lines)

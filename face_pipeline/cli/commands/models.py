"""`models`: every model of the catalogue with its id, input, files (sha256, source), licence and
evidence, read from the cards (no model is built, no session opened; installed files get their sha256
checked); `models install [NAME ...]` installs the weight files of those models."""

from __future__ import annotations

from pathlib import Path

from face_pipeline.lib.errors import UserError
from face_pipeline.lib.models.card import ModelCard
from face_pipeline.lib.models.package_files import PackagedFile, packaged_path
from face_pipeline.lib.models.registry import DETECTORS, EMBEDDERS, card
from face_pipeline.lib.models.weights import ModelFilesMissing, WeightFile, install, verified_path
from face_pipeline.lib.settings import Settings


def add_commands(sub) -> None:
    s = sub.add_parser("models", help="list the models (files, sha256, licences); `models install` installs them")
    s.add_argument("action", nargs="?", choices=["list", "install"], default="list")
    s.add_argument("names", nargs="*", help="models to install (default: every model that is not an opt-in)")
    s.set_defaults(run=cmd_models)


def default_install_names() -> list[str]:
    return [c.name for c in (*DETECTORS.values(), *EMBEDDERS.values()) if c.default_install and c.installed_files]


def cmd_models(args, settings: Settings) -> int:
    folders = settings.model_folders
    if args.action == "install":
        names = args.names or default_install_names()
        cards = [card(n) for n in names]
        for c in cards:
            if not c.commercial_use:
                print(
                    f"NOTE {c.name}: {c.licence}. Installing it is an explicit choice; do not use it for a "
                    "company's own photos."
                )
        files = sorted({f for c in cards for f in c.installed_files}, key=lambda f: f.name)
        if not files:
            print(f"nothing to install: {', '.join(names)} need no weight files of ours")
            return 0
        print(f"installing {', '.join(f.name for f in files)} into {folders.model_dir}")
        written = install(files, folders.model_dir)
        print(f"done: {len(written)} file(s) written, {len(files) - len(written)} already there")
        return 0
    if args.names:
        raise UserError("`face-pipeline models` lists every model; names go with `models install`")
    for title, registry, active in (
        ("detectors", DETECTORS, settings.detector),
        ("embedders", EMBEDDERS, settings.embedder),
    ):
        print(f"{title}:")
        for c in registry.values():
            print(describe(c, folders.model_dir, active))
    print(f"model folder: {folders.model_dir} (FACE_PIPELINE_MODEL_DIR)")
    return 0


def describe(c: ModelCard, model_dir: Path, active: str) -> str:
    mark = "*" if c.name == active else " "
    extra = "" if c.default_install else "  [opt-in]"
    crop = f"; crop {c.crop_kind}" if c.crop_kind else ""
    lines = [
        f" {mark} {c.name:<24} {c.summary}{extra}",
        f"     model id: {c.model_id}{crop}",
        f"     input: {c.input_size}",
        f"     licence: {c.licence}",
        f"     evidence: {c.evidence}",
    ]
    for f in c.files:
        lines.append(
            f"     file: {f.name} ({file_state(f, model_dir, c.name)})\n       sha256 {f.sha256}"
            f"\n       from {f.source}"
        )
        if isinstance(f, WeightFile):
            lines.append(f"       {f.archive.filename} sha256 {f.archive.sha256}")
    if c.user_files:
        lines.append(f"     files: supplied by you: {c.user_files}")
    return "\n".join(lines)


def file_state(f: WeightFile | PackagedFile, model_dir: Path, model: str) -> str:
    try:
        if isinstance(f, PackagedFile):
            packaged_path(f, model)
        else:
            verified_path(model_dir, f, model)
        return "installed, sha256 checked"
    except ModelFilesMissing as exc:
        if isinstance(f, PackagedFile):
            return "missing or changed: pip install -r requirements.lock"
        return "damaged" if "damaged" in str(exc) else f"not installed: face-pipeline models install {model}"

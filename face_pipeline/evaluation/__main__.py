"""`python -m face_pipeline.evaluation`: run the harness and write EVALUATION.md.

Data folders default to ../shared/datasets next to the repository (or FACE_PIPELINE_SHARED) and the
bundled demo photos; any folder in the same formats can be given instead (evaluation/datasets.py).
Ours = the settings as the CLI reads them (FACE_PIPELINE_DETECTOR / _EMBEDDER, or --detector /
--embedder, which override them the same way).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from face_pipeline.evaluation.context import HarnessConfig
from face_pipeline.evaluation.render import to_markdown
from face_pipeline.evaluation.run import SECTION_KEYS, run
from face_pipeline.evaluation.sections.quality import worst_html_path
from face_pipeline.lib.bundled_files import demo_dir
from face_pipeline.lib.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def _default(name: str) -> Path | None:
    shared = Path(os.environ.get("FACE_PIPELINE_SHARED", REPO.parent / "shared"))
    path = shared / "datasets" / name
    return path if path.is_dir() else None


def _pair(text: str) -> tuple[str, str]:
    detector, _, embedder = text.partition("+")
    if not embedder:
        raise argparse.ArgumentTypeError("give DETECTOR+EMBEDDER, e.g. yunet+facenet-v1")
    return detector, embedder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m face_pipeline.evaluation", description=__doc__)
    parser.add_argument(
        "--lfw",
        type=Path,
        default=_default("lfw_deepfunneled_subset"),
        help="identity folders (images/<Identity>/*.jpg, labels.csv, pairs*.txt)",
    )
    parser.add_argument(
        "--wider",
        type=Path,
        default=_default("wider_face_val_groups"),
        help="WIDER FACE format: wider_face_split/*bbx_gt*.txt + WIDER_val/images",
    )
    parser.add_argument(
        "--scenes",
        type=Path,
        default=_default("celeb_scenes_dev"),
        help="scenes with labels.csv (path, identities_present)",
    )
    parser.add_argument("--demo", type=Path, default=demo_dir(), help="the demo photos folder (bundled)")
    for name in ("lfw", "wider", "scenes", "demo"):
        parser.add_argument(f"--no-{name}", action="store_true")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        choices=SECTION_KEYS,
        metavar="SECTION",
        help=f"run only this section (repeatable; one of {', '.join(SECTION_KEYS)})",
    )
    parser.add_argument("--out", type=Path, default=REPO / "EVALUATION.md", help="report file ('-': stdout only)")
    parser.add_argument("--quick", action="store_true", help="subsets (a quarter of each set), for development")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: the setting)")
    parser.add_argument("--detector", help="ours: detector (default: FACE_PIPELINE_DETECTOR / the shipped one)")
    parser.add_argument("--embedder", help="ours: embedder (default: FACE_PIPELINE_EMBEDDER / the shipped one)")
    parser.add_argument(
        "--candidate",
        action="append",
        type=_pair,
        default=[],
        metavar="DETECTOR+EMBEDDER",
        help="another whole recipe, measured like ours (repeatable)",
    )
    parser.add_argument(
        "--compare-detector",
        action="append",
        default=[],
        metavar="SPEC",
        help="another row of the detection tables (registry name, or name:arg=value,...)",
    )
    parser.add_argument(
        "--compare-embedder",
        action="append",
        default=[],
        metavar="NAME",
        help="another identity model on ours' faces (LFW, synthetic, scenes, demo, operating points)",
    )
    parser.add_argument("--synthetic", type=int, default=120, help="synthetic event photos to compose (0 = none)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="keep analysed photos here between runs")
    parser.add_argument("--dsn", default="", help="PostgreSQL with pgvector (default: a temporary embedded server)")
    args = parser.parse_args(argv)
    settings = Settings.from_env(detector=args.detector, embedder=args.embedder, workers=args.workers)
    out = None if str(args.out) == "-" else args.out
    config = HarnessConfig(
        settings=settings,
        lfw=None if args.no_lfw else args.lfw,
        wider=None if args.no_wider else args.wider,
        scenes=None if args.no_scenes else args.scenes,
        demo=None if args.no_demo else args.demo,
        quick=args.quick,
        workers=settings.workers,
        cache_dir=args.cache_dir,
        synthetic=args.synthetic,
        dsn=args.dsn,
        candidates=tuple(args.candidate),
        detectors=tuple(args.compare_detector),
        embedders=tuple(args.compare_embedder),
        only=tuple(args.only),
        worst_html=worst_html_path(out) if out else None,
    )
    report = run(config, list(argv if argv is not None else sys.argv[1:]))
    previous = out.read_text() if out and out.is_file() else ""
    text = to_markdown(report, keep_from=previous)
    print(text)
    if out:
        out.write_text(text)
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

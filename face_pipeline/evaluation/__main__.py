"""`python -m face_pipeline.evaluation`: run the harness and write EVALUATION.md.

Data folders default to ../shared/datasets next to the repository (or FACE_PIPELINE_SHARED); any
folder in the same formats can be given instead (see face_pipeline/evaluation/datasets.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from face_pipeline.evaluation.harness import HarnessConfig, run, to_markdown

REPO = Path(__file__).resolve().parents[2]


def _default(name: str) -> Path | None:
    shared = Path(os.environ.get("FACE_PIPELINE_SHARED", REPO.parent / "shared"))
    path = shared / "datasets" / name
    return path if path.is_dir() else None


def main(argv: list[str] | None = None) -> int:
    from face_pipeline.lib.settings import Settings

    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m face_pipeline.evaluation", description=__doc__)
    parser.add_argument("--lfw", type=Path, default=_default("lfw_deepfunneled_subset"),
                        help="identity folders (images/<Identity>/*.jpg, labels.csv, pairs*.txt)")
    parser.add_argument("--wider", type=Path, default=_default("wider_face_val_groups"),
                        help="WIDER FACE format: wider_face_split/*bbx_gt*.txt + WIDER_val/images")
    parser.add_argument("--scenes", type=Path, default=_default("celeb_scenes_dev"),
                        help="scenes with labels.csv (path, identities_present)")
    parser.add_argument("--no-lfw", action="store_true")
    parser.add_argument("--no-wider", action="store_true")
    parser.add_argument("--no-scenes", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "EVALUATION.md", help="report file ('-': stdout only)")
    parser.add_argument("--quick", action="store_true", help="subsets (a quarter of each set), for development")
    parser.add_argument("--workers", type=int, default=settings.workers, help="processes (0 = one per core)")
    parser.add_argument("--detector", default=settings.detector, help="ours: detector (default: the setting)")
    parser.add_argument("--embedder", default=settings.embedder, help="ours: embedder (default: the setting)")
    parser.add_argument("--synthetic", type=int, default=120, help="synthetic event photos to compose (0 = none)")
    parser.add_argument("--extra-detector", action="append", default=None, metavar="SPEC",
                        help="another detector row for the WIDER table, e.g. dlib-hog-plus:cnn_side=0 "
                             "(registry name, optionally :arg=value,...); repeatable")
    parser.add_argument("--compare-flip", action="store_true",
                        help="also measure the other dlib ResNet variant (flip TTA or not) on ours' faces")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="keep analysed photos here between runs (default: this run only)")
    parser.add_argument("--dsn", default=settings.dsn,
                        help="PostgreSQL with pgvector to use (default: a temporary embedded server)")
    args = parser.parse_args(argv)
    raw = list(argv if argv is not None else sys.argv[1:])
    config = HarnessConfig(
        lfw=None if args.no_lfw else args.lfw,
        wider=None if args.no_wider else args.wider,
        scenes=None if args.no_scenes else args.scenes,
        out=None if str(args.out) == "-" else args.out,
        quick=args.quick,
        workers=args.workers,
        cache_dir=args.cache_dir,
        detector=args.detector,
        embedder=args.embedder,
        synthetic=args.synthetic,
        dsn=args.dsn,
        compare_flip=args.compare_flip,
    )
    if args.extra_detector:
        config.extra_detectors = (*config.extra_detectors, *args.extra_detector)
    report = run(config, raw)
    previous = config.out.read_text() if config.out and config.out.is_file() else ""
    text = to_markdown(report, keep_from=previous)
    print(text)
    if config.out:
        config.out.write_text(text)
        print(f"wrote {config.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

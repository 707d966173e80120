"""`python -m face_pipeline.benchmarks`: see face_pipeline.benchmarks.cli."""

from face_pipeline.benchmarks.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

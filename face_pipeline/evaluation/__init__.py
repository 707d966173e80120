"""Evaluation of face search on labelled data: metrics, dataset readers and the harness that writes
EVALUATION.md (`python -m face_pipeline.evaluation --help`). Plain library code, no Dagster."""

"""Benchmarks of the ingest and the lookup, written to BENCHMARKS.md.

Plain Python (no Dagster): the figures measure the library calls that the Dagster assets, the CLI
and `find` use. Run `python -m face_pipeline.benchmarks --help`.
"""

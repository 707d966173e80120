"""`face-pipeline`: everything the Dagster UI does, from a terminal, through the same library calls.

main.py holds the parser and the one place where library errors become a line and an exit code;
commands/ holds one module per group of commands.
"""

from face_pipeline.cli.main import build_parser, main

__all__ = ["build_parser", "main"]

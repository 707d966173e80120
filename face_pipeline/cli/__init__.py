"""`face-pipeline`: everything the Dagster UI does, from a terminal, through the same library calls.

main.py holds the parser and the one place where library errors become a line and an exit code;
commands/ holds one module per group of commands.
"""

import warnings

# Notes for Dagster's developers, not for people running a command: a parameter marked beta
# (backfill_policy), and dagster-celery registering its task once per run. Set before the commands
# import the definitions that raise them.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy` of function `asset` is currently in beta")
warnings.filterwarnings("ignore", message=r"Task name 'execute_plan' is already registered")

from face_pipeline.cli.main import build_parser, main  # noqa: E402

__all__ = ["build_parser", "main"]

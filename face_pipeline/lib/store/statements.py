"""Every SQL statement the library runs, read from `sql/queries/*.sql` (and the DDL template in
`sql/templates/`), by name.

A file either holds one statement, named after the file, or several, each after a `-- name: NAME`
line. The comments above a statement say which values are bind parameters and which are trusted
parts formatted in with psycopg.sql (a dimension, an operator, an identifier). Names are unique
across files; a duplicate is an error at load time, never a silent shadow.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from psycopg import sql

from face_pipeline.lib.bundled_files import sql_dir

#: pgvector's distance operator of each metric an embedder may declare.
OPERATOR = {"l2": "<->", "cosine": "<=>"}

_NAME_LINE = re.compile(r"^-- name: ([a-z0-9_]+)\s*$", re.M)


def _split(path: Path) -> dict[str, str]:
    text = path.read_text()
    marks = list(_NAME_LINE.finditer(text))
    if not marks:
        return {path.stem: text.strip()}
    out = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        body = text[mark.end() : following.start() if following else len(text)].strip()
        out[mark.group(1)] = body
    return out


@cache
def all_statements() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted((sql_dir() / "queries").glob("*.sql")) + sorted((sql_dir() / "templates").glob("*.sql")):
        for name, text in _split(path).items():
            if name in found:
                raise ValueError(f"SQL statement {name!r} is defined twice (second time in {path})")
            found[name] = text
    return found


def statement(name: str) -> str:
    """The text of statement `name` (comments included; PostgreSQL ignores them)."""
    try:
        return all_statements()[name]
    except KeyError:
        raise KeyError(f"no SQL statement named {name!r} under {sql_dir()}") from None


def composed(statement_name: str, /, **parts: sql.Composable) -> sql.Composed:
    """Statement `statement_name` with its trusted `{parts}` formatted in by psycopg.sql."""
    return sql.SQL(statement(statement_name)).format(**parts)


def vector_statement(statement_name: str, /, *, metric: str | None = None, **integers: int) -> sql.Composed:
    """Statement `statement_name` with trusted integers ({dim}, {ef}) formatted in as literals and,
    given a metric, its distance operator as {op}: the shape of every vector query."""
    parts: dict[str, sql.Composable] = {name: sql.Literal(int(value)) for name, value in integers.items()}
    if metric is not None:
        parts["op"] = sql.SQL(OPERATOR[metric])
    return composed(statement_name, **parts)

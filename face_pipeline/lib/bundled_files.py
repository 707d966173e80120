"""The files that travel with the package: migrations and named queries (`sql/`), Dagster's
instance and workspace files, and the demo photos.

By design `sql/`, `dagster.yaml` and `workspace.yaml` live at the repository's top level; a wheel
carries copies of them as `face_pipeline/_bundled/` (setup.py makes them). A checkout or an
editable install reads the top-level originals; an installed package reads its copies.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
_BUNDLED = PACKAGE_DIR / "_bundled"
_CHECKOUT = PACKAGE_DIR.parent


def _top_level(name: str) -> Path:
    bundled = _BUNDLED / name
    return bundled if bundled.exists() else _CHECKOUT / name


def sql_dir() -> Path:
    """Numbered migrations (`NNN_*.sql`) and `queries/*.sql`."""
    return _top_level("sql")


def dagster_yaml() -> Path:
    """The Dagster instance file (storage in PostgreSQL, run queue, telemetry off)."""
    return _top_level("dagster.yaml")


def workspace_yaml() -> Path:
    return _top_level("workspace.yaml")


def demo_dir() -> Path:
    """Public-domain NASA photos (demo/SOURCE.md): `photos/<event>/`, `reference/`, `reference_alternates/`."""
    return PACKAGE_DIR / "demo"

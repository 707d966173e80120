"""The one resource: the pipeline's settings, and the vector store they point at.

Its fields are the only source of settings inside a run: `settings()` builds the library's Settings
from them alone (validated), never from the environment. The fields are not written here: they are
made from the declaration of Settings (lib/settings.py), one per setting, so a new setting reaches
every run without touching this file. The code location makes the resource from the same Settings
object that gives the assets their code versions (definitions.py).
"""

import os
from pathlib import Path

import dagster as dg

from face_pipeline.lib.errors import ConfigError
from face_pipeline.lib.settings import VARIABLES, Settings, Variable
from face_pipeline.lib.store import VectorStore


def _config_type(v: Variable) -> type:
    return str if v.kind is Path else v.kind  # a folder or object-store URL travels as text


def _config_default(v: Variable) -> object:
    return str(v.default) if v.kind is Path else v.default


class _FacePipelineMethods(dg.ConfigurableResource):
    """What the resource does with its fields; the fields themselves are added below."""

    @classmethod
    def from_settings(cls, settings: Settings) -> "FacePipeline":
        """The resource holding these settings. A setting that may hold a password goes in as a
        reference to the variable that holds it (dg.EnvVar), when one does, so the password never
        shows in the UI or the run config."""
        values: dict[str, object] = {}
        for v in VARIABLES:
            value = getattr(settings, v.field)
            if v.secret and value and os.environ.get(v.env_name) == v.text(value):
                values[v.field] = dg.EnvVar(v.env_name)
            else:
                values[v.field] = str(value) if v.kind is Path else value
        return cls(**values)

    def settings(self) -> Settings:
        try:
            return Settings.from_values({v.field: getattr(self, v.field) for v in VARIABLES})
        except ConfigError as exc:
            raise dg.Failure(description=f"invalid setting in the `pipeline` resource: {exc}") from exc

    def store(self) -> VectorStore:
        """The vector store, migrated (once per process and database, not on every call)."""
        store = VectorStore.from_settings(self.settings())
        store.ensure_migrated()
        return store


FacePipeline = type(
    "FacePipeline",
    (_FacePipelineMethods,),
    {
        "__module__": __name__,
        "__qualname__": "FacePipeline",
        "__doc__": "Photos root, data folder, database, active models and every other setting (README, "
        '"Settings"), one field per Settings field.',
        "__annotations__": {v.field: _config_type(v) for v in VARIABLES},
        **{v.field: _config_default(v) for v in VARIABLES},
    },
)

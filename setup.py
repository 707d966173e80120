"""Only one thing here that pyproject.toml cannot say: the files that live at the repository's top
level by design (`sql/`, `dagster.yaml`, `workspace.yaml`) are copied into the built package as
`face_pipeline/_bundled/`, so a non-editable install (`pip install .`, a wheel) carries its
migrations, named queries and Dagster configuration. The top-level files stay the only source;
`face_pipeline/lib/bundled_files.py` finds them in either place."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

TOP_LEVEL_FILES = ("sql", "dagster.yaml", "workspace.yaml")


class BuildPyWithTopLevelFiles(build_py):
    def run(self) -> None:
        super().run()
        here = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "face_pipeline" / "_bundled"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in TOP_LEVEL_FILES:
            src = here / name
            if src.is_dir():
                shutil.copytree(src, target / name)
            else:
                shutil.copy2(src, target / name)


setup(cmdclass={"build_py": BuildPyWithTopLevelFiles})

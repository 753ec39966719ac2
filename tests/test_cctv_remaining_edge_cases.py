"""JpegCompression, MotionBlur, Interlace, Vignette and NightVision against docs/cctv.md and their
`augcli transforms` help, checked from pixels through the real CLI (labels read back with a small
YOLO parser written here, the drawn parameters read from the manifest's ops)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from augcli.cli import main
from augcli.kernels import camera as ck

LABEL = "0 0.5 0.5 0.25 0.3\n1 0.2 0.3 0.1 0.12\n"


def _yolo(text: str) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in text.splitlines() if line.strip()]


def _scene(w: int, h: int) -> np.ndarray:
    """A textured colour frame: gradients, a bright block, a dark block."""
    ys, xs = np.mgrid[0:h, 0:w]
    img = np.stack([(xs * 255 // max(w - 1, 1)), (ys * 255 // max(h - 1, 1)), ((xs + ys) * 7) % 256], axis=2)
    img = img.astype(np.uint8)
    img[h // 4: h // 2, w // 4: w // 2] = (40, 200, 230)
    img[h // 2: 3 * h // 4, w // 2: 3 * w // 4] = 15
    return img


def _run(tmp_path: Path, image: np.ndarray, step: str, copies: int = 1, seed: int = 5, tag: str = "a"):
    """Run a one-step recipe; returns (outputs [(image, label text, op)], input label)."""
    root = tmp_path / tag
    src, out = root / "in", root / "out"
    (src / "images" / "train").mkdir(parents=True)
    (src / "labels" / "train").mkdir(parents=True)
    (src / "data.yaml").write_text("train: images/train\nval: images/train\nnames:\n  0: person\n  1: car\n")
    cv2.imwrite(str(src / "images" / "train" / "cam.png"), image)
    (src / "labels" / "train" / "cam.txt").write_text(LABEL)
    recipe = root / "r.yaml"
    recipe.write_text(f"version: 1\nseed: {seed}\ncopies: {copies}\nkeep_original: false\n"
                      f"output: {{image_format: png}}\npipeline:\n  - {step}\n")
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(src), "-o", str(out), "-w", "1", "-q"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "augcli-manifest.jsonl").read_text().splitlines() if line.strip()]
    assert len(records) == copies
    outs = []
    for rec in sorted(records, key=lambda r: r["copy"]):
        img = cv2.imread(str(out / rec["output"]), cv2.IMREAD_UNCHANGED)
        (op,) = rec["ops"]
        outs.append((img, (out / rec["label"]).read_text(), op))
    return outs


def _labels_untouched(outs) -> None:
    for _, text, _ in outs:
        np.testing.assert_allclose(_yolo(text), _yolo(LABEL), atol=1e-6)


# ---------------------------------------------------------------- JpegCompression
def test_jpeg_is_the_reencode_at_the_recorded_quality(tmp_path):
    """Every output is exactly OpenCV's encode/decode at the quality the manifest records; the
    qualities are whole numbers inside the asked range, both ends included."""
    img = _scene(160, 120)
    outs = _run(tmp_path, img, "{type: JpegCompression, quality: [20, 60]}", copies=8)
    qualities = set()
    for out, _, op in outs:
        q = op["quality"]
        assert isinstance(q, int) and 20 <= q <= 60, q
        qualities.add(q)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
        np.testing.assert_array_equal(out, cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))
    assert len(qualities) > 2
    _labels_untouched(outs)
    fixed = _run(tmp_path, img, "{type: JpegCompression, quality: [90, 90]}", copies=2, tag="b")
    assert {op["quality"] for _, _, op in fixed} == {90}
    _labels_untouched(fixed)


# ---------------------------------------------------------------- MotionBlur
@pytest.mark.parametrize("angle", [0, 30, 90, 150])
def test_motion_blur_streak_follows_the_angle_and_length(tmp_path, angle):
    """A single bright dot becomes a centred streak of `length` x shorter side pixels pointing at
    `angle` degrees counter-clockwise from horizontal as displayed (y down in the array); light is
    conserved (nothing wraps around); the same seed gives the same bytes; labels untouched."""
    w, h = 240, 200
    img = np.zeros((h, w, 3), np.uint8)
    img[100, 120] = 255
    step = f"{{type: MotionBlur, length: [0.1, 0.1], angle: [{angle}, {angle}]}}"
    outs = _run(tmp_path, img, step)
    again = _run(tmp_path, img, step, tag="b")
    assert outs[0][0].tobytes() == again[0][0].tobytes()
    _labels_untouched(outs)
    out = outs[0][0][..., 0].astype(float)
    ys, xs = np.nonzero(out)
    wt = out[ys, xs]
    dx, dy = xs - 120.0, 100.0 - ys  # y up
    assert abs(out.sum() - 255) <= 8
    assert abs((wt * dx).sum() / wt.sum()) < 0.3 and abs((wt * dy).sum() / wt.sum()) < 0.3
    a = math.radians(angle)
    along = dx * math.cos(a) + dy * math.sin(a)
    across = -dx * math.sin(a) + dy * math.cos(a)
    length = math.sqrt((wt * along**2).sum() / wt.sum() * 12)
    assert length == pytest.approx(0.1 * h, rel=0.15)
    assert math.sqrt((wt * across**2).sum() / wt.sum()) < 0.8
    assert np.abs(along).max() <= 0.1 * h / 2 + 2


def test_motion_blur_does_not_wrap_at_the_edges(tmp_path):
    img = np.zeros((60, 80, 3), np.uint8)
    img[:, 76:] = 255  # a bright strip at the right edge
    (out, _, _), = _run(tmp_path, img, "{type: MotionBlur, length: [0.3, 0.3], angle: [0, 0]}")
    assert out[:, :50].max() == 0


# ---------------------------------------------------------------- Interlace
def test_interlace_combs_one_field_sideways_without_wrapping(tmp_path):
    """One field of rows is untouched, the other is the same rows moved by the recorded shift
    (fraction of the width, at least 1 px) with the edge pixel repeated, never wrapped around.
    The kept field still shows every object where its label says: labels stay byte-identical."""
    w, h = 200, 80
    img = _scene(w, h)
    img[:, :4] = 255
    img[:, -4:] = 0
    outs = _run(tmp_path, img, "{type: Interlace, shift: [0.02, 0.05]}", copies=6)
    _labels_untouched(outs)
    signs = set()
    for out, _, op in outs:
        kept, moved = (0, 1) if op["odd"] else (1, 0)
        np.testing.assert_array_equal(out[kept::2], img[kept::2])
        px = int(round(op["shift"] * w))
        assert 4 <= abs(px) <= 10
        signs.add(px > 0)
        rows = img[moved::2]
        if px > 0:
            np.testing.assert_array_equal(out[moved::2, px:], rows[:, :-px])
            np.testing.assert_array_equal(out[moved::2, :px], np.repeat(rows[:, :1], px, axis=1))
        else:
            np.testing.assert_array_equal(out[moved::2, :px], rows[:, -px:])
            np.testing.assert_array_equal(out[moved::2, px:], np.repeat(rows[:, -1:], -px, axis=1))
    assert signs == {True, False}


# ---------------------------------------------------------------- Vignette
def test_vignette_zero_is_identity_and_corners_lose_strength(tmp_path):
    img = np.full((241, 321, 3), 200, np.uint8)
    (same, _, _), = _run(tmp_path, img, "{type: Vignette, strength: [0, 0]}")
    np.testing.assert_array_equal(same, img)
    outs = _run(tmp_path, img, "{type: Vignette, strength: [0.5, 0.5]}", tag="b")
    _labels_untouched(outs)
    out = outs[0][0][..., 0].astype(float)
    assert abs(out[120, 160] - 200) <= 1
    for y, x in [(0, 0), (0, 320), (240, 0), (240, 320)]:
        assert out[y, x] == pytest.approx(100, abs=4)
    # symmetric about the centre, falling monotonically along the diagonal, never brighter
    np.testing.assert_allclose(out, out[::-1, ::-1], atol=1)
    diag = out[np.arange(0, 121, 10), np.arange(0, 161, 40 / 3).astype(int)[:13]]
    assert np.all(np.diff(diag) >= -1)
    assert (outs[0][0].astype(int) <= img.astype(int)).all()


# ---------------------------------------------------------------- NightVision
@pytest.mark.parametrize("brightness", [0.15, 0.3, 0.5, 0.7, 0.85])
@pytest.mark.parametrize("kind", ["scene", "half_dark"])
def test_night_vision_mean_is_the_brightness_asked(brightness, kind):
    """`brightness` is the mean level the gain aims for: without bloom and grain the output's mean
    is that fraction of full scale. Aiming the shoulder at the input's mean fell short on frames
    with bright parts (the shoulder and the clip at full scale are concave): 0.44 for 0.5 and
    0.55 for 0.7 on the half-dark frame."""
    if kind == "scene":
        img = _scene(320, 240)
    else:
        img = np.zeros((120, 160, 3), np.uint8)
        img[:, 80:] = (60, 190, 140)
        img[:, :80] = 12
    out = ck.night_vision_image(img, brightness, 0.4, (0.5, 0.55), 0.0, 0.0, (0, 0))
    assert out.mean() / 255 == pytest.approx(brightness, abs=0.01)


def test_night_vision_is_monochrome_and_keeps_labels(tmp_path):
    img = _scene(160, 120)
    outs = _run(tmp_path, img, "{type: NightVision, bloom: [0, 0], noise: [0, 0]}", copies=3)
    again = _run(tmp_path, img, "{type: NightVision, bloom: [0, 0], noise: [0, 0]}", copies=3, tag="b")
    _labels_untouched(outs)
    for (out, _, op), (out2, _, _) in zip(outs, again):
        assert out.tobytes() == out2.tobytes()
        assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
        assert out.mean() / 255 == pytest.approx(op["brightness"], abs=0.01)

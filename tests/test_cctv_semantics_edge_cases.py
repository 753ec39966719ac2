"""CCTV transforms against what docs/cctv.md promises, checked from pixels through the real CLI:
the OSD text of TimestampOverlay (outline under the text, inside the frame at every corner)
with labels untouched. Data is drawn in tmp_path; files are read back with OpenCV and a small
YOLO parser written here."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from augcli.cli import main

GREY = 128


def _yolo_dataset(root: Path, w: int, h: int) -> str:
    """One flat grey PNG with one box label; returns the label file's text."""
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "data.yaml").write_text("train: images/train\nval: images/train\nnames:\n  0: person\n")
    img = np.full((h, w, 3), GREY, np.uint8)
    img[h // 3: h // 2, w // 3: w // 2] = (0, 0, 255)
    cv2.imwrite(str(root / "images" / "train" / "cam.png"), img)
    label = "0 0.4166667 0.4166667 0.1666667 0.1666667\n"
    (root / "labels" / "train" / "cam.txt").write_text(label)
    return label


def _run(tmp_path: Path, w: int, h: int, step: str) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Run a one-step recipe on a w x h frame; (input, output image, input label, output label)."""
    src, out = tmp_path / "in", tmp_path / "out"
    label = _yolo_dataset(src, w, h)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("version: 1\nseed: 5\ncopies: 1\nkeep_original: false\n"
                      f"output: {{image_format: png}}\npipeline:\n  - {step}\n")
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(src), "-o", str(out), "-w", "1", "-q"])
    assert result.exit_code == 0, result.output
    images = sorted((out / "images" / "train").glob("*.png"))
    labels = sorted((out / "labels" / "train").glob("*.txt"))
    assert len(images) == 1 and len(labels) == 1
    before = cv2.imread(str(src / "images" / "train" / "cam.png"))
    return before, cv2.imread(str(images[0])), label, labels[0].read_text()


def _boxes(text: str) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("corner", ["top_left", "top_right", "bottom_left", "bottom_right"])
@pytest.mark.parametrize("w,h", [(320, 240), (640, 360)])
def test_timestamp_outline_sits_on_its_text_inside_the_frame(tmp_path, corner, w, h):
    """The dark outline hugs the white strokes along the whole line (OpenCV spaces glyphs wider
    at thickness > 1, so a thick outline drawn under 1-pixel text drifted up to ~16 px off it
    and ran past the right margin, cut by the frame's edge); every changed pixel keeps off the
    frame's edges; the label is untouched."""
    before, after, label, out_label = _run(
        tmp_path, w, h, f'{{type: TimestampOverlay, corner: {corner}, camera_name: "GATE (qpjy) 7"}}')
    np.testing.assert_allclose(_boxes(out_label), _boxes(label), atol=1e-6)
    changed = np.any(after != before, axis=2)
    ys, xs = np.nonzero(changed)
    assert len(xs) > 100
    assert xs.min() >= 1 and ys.min() >= 1 and xs.max() <= w - 2 and ys.max() <= h - 2, (xs.min(), xs.max(),
                                                                                             ys.min(), ys.max())
    top, left = corner.startswith("top"), corner.endswith("left")
    assert (ys.max() < h / 2) if top else (ys.min() > h / 2)
    assert (xs.max() < w / 2) if left else (xs.min() > w / 2)
    white = (after.astype(int).min(axis=2) >= GREY + 32).astype(np.uint8)  # white strokes, anti-aliased edges too
    dark = changed & (after.astype(int).max(axis=2) <= 60)
    assert white.sum() > 50 and dark.sum() > 50
    # distance of every pixel to the nearest white stroke pixel
    dist = cv2.distanceTransform(1 - white, cv2.DIST_L2, 5)
    assert dist[dark].max() <= 4.0, f"outline pixel {dist[dark].max():.1f} px from any white stroke"
    # and the strokes are outlined: most white pixels have a dark pixel within a few pixels
    dist_dark = cv2.distanceTransform(1 - dark.astype(np.uint8), cv2.DIST_L2, 5)
    assert (dist_dark[white > 0] <= 3.0).mean() > 0.9


@pytest.mark.parametrize("kind", ["insect", "web"])
def test_lens_insect_of_zero_size_leaves_the_frame_alone(tmp_path, kind):
    """`size` may be 0 (its range starts there): nothing on the lens, the frame byte-identical and
    the label untouched. It used to ask GaussianBlur for a sigma of 0.5 / (size / res), about
    10^5 pixels: the run hung, and an exactly zero size pasted garbage from a singular warp."""
    before, after, label, out_label = _run(tmp_path, 160, 120, f"{{type: LensInsect, kind: {kind}, size: [0, 0]}}")
    np.testing.assert_array_equal(after, before)
    np.testing.assert_allclose(_boxes(out_label), _boxes(label), atol=1e-6)


@pytest.mark.parametrize("text_height", [12.0, 30.0])
def test_timestamp_digits_are_as_tall_as_asked(text_height):
    """`text_size` is the digits' height (a fraction of the frame's): the white ink of a line of
    digits measures that many pixels (it was a quarter less: getTextSize's height is not the ink's)."""
    from augcli.kernels import camera as k

    frame = np.full((720, 1280, 3), 90, np.uint8)
    out = k.timestamp_overlay_image(frame, ["0123456789"], "top_left", text_height)
    rows = np.flatnonzero((out.min(axis=2) > 180).any(axis=1))
    height = rows[-1] - rows[0] + 1
    assert abs(height - text_height) <= max(2.0, 0.1 * text_height), height

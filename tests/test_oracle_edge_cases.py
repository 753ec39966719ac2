"""Label edge cases checked against an independent oracle (an object in parts wound either way, a
pad fused after a perspective tilt): objects are drawn as solid colour patches and
dots, the transform runs, and each label is checked against where its colour is in the output
picture. Nothing here re-runs augcli's geometry formulas."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from augcli.cli import main
from augcli.sample import LabelPolicy, LabelSchema, Objects, Sample
from augcli.transforms.base import AugmentState
from augcli.transforms.geometric import PadIfNeeded, Perspective

BACKGROUND = 128
RED, GREEN, BLUE, MAGENTA = (0, 0, 255), (0, 255, 0), (255, 0, 0), (255, 0, 255)


def _core(img: np.ndarray, colour, tol: int = 40) -> np.ndarray:
    return np.all(np.abs(img.astype(np.int16) - np.array(colour, np.int16)) <= tol, axis=2)


def _pixel_box(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


# ---------------------------------------------------------------- COCO parts wound either way
W, H = 200, 120
SQUARE_A = (20, 20, 60, 60)  # x1 y1 x2 y2, one object in two parts, both red
SQUARE_B = (120, 20, 160, 60)


def _coco_two_part_object(root: Path) -> None:
    """One object whose segmentation has two parts, the first clockwise as displayed and the
    second counter-clockwise (COCO does not fix a winding; exporters write either)."""
    (root / "annotations").mkdir(parents=True)
    (root / "images" / "train").mkdir(parents=True)
    img = np.full((H, W, 3), BACKGROUND, np.uint8)
    for x1, y1, x2, y2 in (SQUARE_A, SQUARE_B):
        img[y1:y2, x1:x2] = RED
    cv2.imwrite(str(root / "images" / "train" / "a.png"), img)
    ax1, ay1, ax2, ay2 = SQUARE_A
    bx1, by1, bx2, by2 = SQUARE_B
    clockwise = [ax1, ay1, ax2, ay1, ax2, ay2, ax1, ay2]
    counter = [bx1, by1, bx1, by2, bx2, by2, bx2, by1]
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": W, "height": H}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [ax1, ay1, bx2 - ax1, ay2 - ay1],
                         "area": 3200, "iscrowd": 0, "segmentation": [clockwise, counter]}],
        "categories": [{"id": 1, "name": "thing"}],
    }
    (root / "annotations" / "instances_train.json").write_text(json.dumps(data))


def _run_coco(tmp_path: Path, pipeline: list, labels: dict) -> tuple[Path, dict]:
    src, out = tmp_path / "in", tmp_path / "out"
    _coco_two_part_object(src)
    recipe = {"version": 1, "seed": 3, "copies": 1, "pipeline": pipeline, "labels": labels}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    res = CliRunner().invoke(main, ["run", str(tmp_path / "r.yaml"), "-i", str(src), "-o", str(out), "-w", "1", "-q"])
    assert res.exit_code == 0, res.output
    return out, json.loads((out / "annotations" / "instances_train.json").read_text())


def test_object_in_two_parts_wound_either_way_survives_a_flip(tmp_path):
    """Both red squares are one object; after a flip both are still in view, so the object must be
    labelled, its box around both squares and its polygon's area the red area (it was dropped as
    'out of view': the opposite windings cancelled in the shoelace area)."""
    out, coco = _run_coco(tmp_path, [{"type": "HorizontalFlip"}], {"min_visibility": 0.25, "min_area": 16})
    image_id = {im["file_name"]: im["id"] for im in coco["images"]}["a_aug1.png"]
    anns = [a for a in coco["annotations"] if a["image_id"] == image_id]
    img = cv2.imread(str(out / "images" / "train" / "a_aug1.png"))
    red = _core(img, RED)
    assert len(anns) == 1, "both parts are in view, yet the object was dropped"
    x, y, bw, bh = anns[0]["bbox"]
    np.testing.assert_allclose([x, y, x + bw, y + bh], _pixel_box(red), atol=1.0)
    pts = np.array(anns[0]["segmentation"][0], np.float64).reshape(-1, 2)
    xs, ys = pts[:, 0], pts[:, 1]
    area = abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))) / 2
    assert abs(area - red.sum()) < 0.05 * red.sum()


@pytest.mark.parametrize("min_visibility", [0.8, 0.95])
def test_object_in_two_parts_visibility_is_its_share_in_view(tmp_path, min_visibility):
    """A crop that cuts a quarter of square A off (and keeps B whole) leaves 7/8 of the object's
    red in view, counted on the pixels: kept at min_visibility 0.8, dropped at 0.95."""
    pipeline = [{"type": "CenterCrop", "size": [H, 140]}]
    out, coco = _run_coco(tmp_path, pipeline, {"min_visibility": min_visibility, "min_area": 1})
    before = _core(cv2.imread(str(tmp_path / "in" / "images" / "train" / "a.png")), RED).sum()
    after = _core(cv2.imread(str(out / "images" / "train" / "a_aug1.png")), RED).sum()
    share = after / before
    assert abs(share - min_visibility) > 0.05, "the case must be clear-cut"
    image_id = {im["file_name"]: im["id"] for im in coco["images"]}["a_aug1.png"]
    kept = [a for a in coco["annotations"] if a["image_id"] == image_id]
    assert len(kept) == (1 if share >= min_visibility else 0), f"{share:.0%} of the object in view"


# ---------------------------------------------------------------- a pad after a tilt is no mirror
DOTS = [(20, 9), (27, 14), (12, 14), (20, 28)]  # centres: nose, left eye (image right), right eye, chin
DOT_COLOURS = [RED, GREEN, BLUE, MAGENTA]
FLIP_IDX = (0, 2, 1, 3)
INWARD = [[0.15, 0.15], [-0.15, 0.12], [-0.12, -0.15], [0.15, -0.15]]  # every corner in: nothing cut


def _pose_sample(size: int) -> Sample:
    img = np.full((size, size, 3), BACKGROUND, np.uint8)
    kps = []
    for (cx, cy), colour in zip(DOTS, DOT_COLOURS):
        img[cy - 2:cy + 3, cx - 2:cx + 3] = colour
        kps.append((cx + 0.5, cy + 0.5, 2.0))
    objects = Objects(np.array([0]), np.array([[4.0, 4.0, 36.0, 36.0]]), [None], np.array([kps]),
                      attrs=[{"pose": "Left"}])
    return Sample(img, objects, LabelSchema(names={0: "person"}, kpt_shape=(4, 3), flip_idx=FLIP_IDX))


@pytest.mark.parametrize("pad", [200, 1200])
def test_pad_after_perspective_does_not_swap_left_and_right(pad):
    """Perspective (no corner leaves the canvas, so the pad fuses with it into one projective map)
    then a large PadIfNeeded: nothing is mirrored, so each keypoint stays on its own dot and a VOC
    'Left' facing stays 'Left'. The upper-left 2x2 block of the fused map alone, read as the linear
    part, flipped its sign for the larger pad and swapped left and right."""
    size = 40
    state = AugmentState(_pose_sample(size), LabelPolicy(0.0, 0.0))
    Perspective(scale=0.15).apply(state, {"corners": INWARD})
    left = (pad - size) // 2
    PadIfNeeded(min_size=[pad, pad]).apply(state, {"left": left, "top": left})
    out = state.finish()
    kps = out.objects.keypoints[0]
    for j, colour in enumerate(DOT_COLOURS):
        ys, xs = np.nonzero(_core(out.image, colour))
        assert len(xs) >= 4
        centre = np.array([xs.mean() + 0.5, ys.mean() + 0.5])
        distances = np.hypot(*(kps[:, :2] - centre).T)
        assert int(np.argmin(distances)) == j and distances[j] < 1.5, (
            f"dot {j} at {centre} is labelled as keypoint {int(np.argmin(distances))}: {kps[:, :2]}")
    assert out.objects.attrs[0]["pose"] == "Left"

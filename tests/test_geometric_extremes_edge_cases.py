"""Geometric transforms at the extremes of their parameter ranges, on tiny and odd-sized images,
and in chains, checked against an independent oracle: objects are drawn as solid colour patches
and dots, the real CLI augments the dataset, and the written labels (read back here from the
formats' specs) are checked against where the colours are in the written pixels. Nothing here
re-runs augcli's geometry formulas."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from augcli.cli import main

BACKGROUND = 128
PALETTE = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255)]  # BGR, one per object
TOL = 40  # max per-channel distance of a "core" pixel to its object's colour


# ---------------------------------------------------------------- oracle helpers
def _core(img: np.ndarray, colour, tol: int = TOL) -> np.ndarray:
    return np.all(np.abs(img.astype(np.int16) - np.array(colour, np.int16)) <= tol, axis=2)


def _half_way(img: np.ndarray, colour) -> np.ndarray:
    """Pixels at least half-way from the grey background to the colour: a bilinear warp's edge
    pixels count by the share of the patch they show, so the count is about the patch's area."""
    full = np.abs(np.array(colour, np.float64) - BACKGROUND).sum()
    return np.abs(img.astype(np.float64) - np.array(colour, np.float64)).sum(axis=2) <= full / 2


def _pixel_box(mask: np.ndarray) -> np.ndarray | None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


def _yolo_dataset(root: Path, images: dict[str, tuple[int, int, list[tuple[int, int, int, int]]]]) -> None:
    """images: stem -> (width, height, boxes x1 y1 x2 y2 in whole pixels, end exclusive); box i is
    painted PALETTE[i] on grey and labelled class i (YOLO detect: cls cx cy w h, normalised)."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for stem, (w, h, boxes) in images.items():
        img = np.full((h, w, 3), BACKGROUND, np.uint8)
        lines = []
        for cls, (x1, y1, x2, y2) in enumerate(boxes):
            img[y1:y2, x1:x2] = PALETTE[cls]
            lines.append(f"{cls} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")
        cv2.imwrite(str(root / "images" / f"{stem}.png"), img)
        (root / "labels" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    names = {i: f"c{i}" for i in range(len(PALETTE))}
    (root / "data.yaml").write_text(yaml.safe_dump({"names": names, "train": "images", "val": "images"}))


def _run(tmp_path: Path, src: Path, pipeline: list, *, copies: int = 3, labels: dict | None = None,
         extra: tuple[str, ...] = ()) -> Path:
    out = tmp_path / "out"
    recipe = {"version": 1, "seed": 5, "copies": copies, "pipeline": pipeline,
              "labels": labels or {"min_visibility": 0.0, "min_area": 1}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    res = CliRunner().invoke(main, ["run", str(tmp_path / "r.yaml"), "-i", str(src), "-o", str(out),
                                    "-w", "1", "-q", *extra])
    assert res.exit_code == 0, res.output
    return out


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "augcli-manifest.jsonl").read_text().splitlines()]


def _yolo_boxes(path: Path, w: int, h: int) -> dict[int, np.ndarray]:
    """YOLO detect label file -> class -> x1 y1 x2 y2 in pixels (one object per class here)."""
    boxes = {}
    for line in path.read_text().splitlines():
        cls, cx, cy, bw, bh = line.split()
        cx, cy, bw, bh = float(cx) * w, float(cy) * h, float(bw) * w, float(bh) * h
        assert int(cls) not in boxes
        boxes[int(cls)] = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
    return boxes


def _check_boxes(img: np.ndarray, boxes: dict[int, np.ndarray], n: int, loose: float, where: str) -> None:
    """Each label box covers its colour (within 1 px) and is at most `loose` px bigger; a colour
    clearly in view has a label; no label without its colour."""
    h, w = img.shape[:2]
    for cls in range(n):
        mask = _core(img, PALETTE[cls])
        colour = _pixel_box(mask)
        label = boxes.get(cls)
        if label is None:
            assert mask.sum() < 20, f"{where} class {cls}: colour visible at {colour} but no label"
            continue
        assert colour is not None or (label[2] - label[0]) * (label[3] - label[1]) < 20, (
            f"{where} class {cls}: label {label} but its colour is gone")
        if colour is None:
            continue
        assert np.all(label[:2] <= colour[:2] + 1) and np.all(label[2:] >= colour[2:] - 1), (
            f"{where} class {cls}: label {label} cuts the object {colour}")
        assert np.all(label[:2] >= colour[:2] - loose) and np.all(label[2:] <= colour[2:] + loose), (
            f"{where} class {cls}: label {label} is loose around the object {colour}")
        assert -1e-3 <= label[0] <= label[2] <= w + 1e-3 and -1e-3 <= label[1] <= label[3] <= h + 1e-3


# ---------------------------------------------------------------- RandomResizedCrop, ratio far from the image's
@pytest.mark.parametrize("ratio", [[0.001, 0.002], [500, 1000]])
def test_random_resized_crop_with_a_ratio_far_from_the_image_does_not_crash(tmp_path, ratio):
    """When no draw fits, the crop falls back to the whole image cut to the nearest allowed ratio;
    on a 7x5 image a ratio of 1/1000 (or 1000) rounded that cut to 0 pixels wide (or high), and
    every copy died with a ZeroDivisionError traceback. The cut must keep at least one pixel: then
    the output has the asked size and the label still covers its colour."""
    src = tmp_path / "in"
    # object 0 is a column band (the tall cut keeps the middle column), object 1 a row band
    _yolo_dataset(src, {"small": (7, 5, [(2, 0, 5, 5)]), "strip": (1, 30, [(0, 10, 1, 20)]),
                        "wide": (30, 1, [(10, 0, 20, 1)])})
    out = _run(tmp_path, src, [{"type": "RandomResizedCrop", "size": [12, 16], "ratio": ratio}], copies=2)
    augmented = [r for r in _records(out) if r["copy"] > 0]
    assert len(augmented) == 6
    for rec in augmented:
        img = cv2.imread(str(out / rec["output"]))
        assert img.shape[:2] == (12, 16)
        _check_boxes(img, _yolo_boxes(out / rec["label"], 16, 12), 1, 2.0, rec["output"])


# ---------------------------------------------------------------- Affine: a shear on both axes
SHEAR_PATCHES = [(100, 96, 116, 112), (126, 96, 142, 112), (100, 122, 116, 138)]  # near the centre of 240 x 240


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


@pytest.mark.parametrize("shear", [30, 45, 50, 55])
def test_affine_shear_on_both_axes_keeps_area_and_handedness(tmp_path, shear):
    """A shear keeps areas and never mirrors. A scalar `shear` shears both axes by that angle; the
    map was [[1, tan sx], [tan sy, 1]] (determinant 1 - tan sx tan sy), which at 45 degrees folded
    the picture onto a line (a flat image, with labels for objects no longer there) and beyond
    mirrored it. Each 16x16 patch must keep its 256 px^2, the three patches their order (the sign
    of the triangle through their centres), and each label must cover its colour."""
    src = tmp_path / "in"
    _yolo_dataset(src, {"a": (240, 240, SHEAR_PATCHES)})
    out = _run(tmp_path, src, [{"type": "Affine", "shear": shear}], copies=1)
    before = cv2.imread(str(src / "images" / "a.png"))
    img = cv2.imread(str(out / "images" / "a_aug1.png"))
    for cls in range(3):
        area = _half_way(img, PALETTE[cls]).sum()
        assert abs(area - 256) < 0.15 * 256, f"shear {shear}: patch {cls} covers {area} px, drawn 256"

    def turn(image):
        a, b, c = (_centroid(_core(image, PALETTE[cls])) for cls in range(3))
        return np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    assert turn(img) == turn(before), f"shear {shear} mirrored the picture"
    _check_boxes(img, _yolo_boxes(out / "labels" / "a_aug1.txt", 240, 240), 3, 6.0, f"shear {shear}")


# ---------------------------------------------------------------- RandomSizedBBoxSafeCrop and keypoints
POSE_BOX = (80, 40, 120, 80)  # x1 y1 x2 y2, the person, red
POSE_DOTS = [(98, 58), (18, 98)]  # 5x5 dots' top-left corners: one inside the box, one held out past it
DOT = 5


def test_bbox_safe_crop_keeps_a_keypoint_outside_its_box(tmp_path):
    """RandomSizedBBoxSafeCrop "never cuts a labelled object"; a pose object's keypoints are part of
    it even where the labeller put one outside the box (CVAT and others allow it). The window was
    chosen around the boxes alone, so that keypoint was cut (v = 0) in most copies. Every copy must
    keep both keypoints visible, each on its dot, and the box on the red patch."""
    src = tmp_path / "in"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    w, h = 200, 120
    img = np.full((h, w, 3), BACKGROUND, np.uint8)
    x1, y1, x2, y2 = POSE_BOX
    img[y1:y2, x1:x2] = PALETTE[0]
    kps = []
    for j, (px, py) in enumerate(POSE_DOTS):
        img[py:py + DOT, px:px + DOT] = PALETTE[1 + j]
        kps += [f"{(px + DOT / 2) / w:.6f}", f"{(py + DOT / 2) / h:.6f}", "2"]
    cv2.imwrite(str(src / "images" / "p.png"), img)
    (src / "labels" / "p.txt").write_text(
        f"0 {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f} {' '.join(kps)}\n")
    (src / "data.yaml").write_text(yaml.safe_dump({"names": {0: "person"}, "kpt_shape": [2, 3], "flip_idx": [0, 1],
                                                   "train": "images", "val": "images"}))
    out = _run(tmp_path, src, [{"type": "RandomSizedBBoxSafeCrop", "size": [90, 90]}], copies=8)
    for rec in _records(out):
        if rec["copy"] == 0:
            continue
        out_img = cv2.imread(str(out / rec["output"]))
        assert out_img.shape[:2] == (90, 90)
        (line,) = (out / rec["label"]).read_text().splitlines()
        vals = np.array([float(v) for v in line.split()[1:]])
        box = np.array([vals[0] - vals[2] / 2, vals[1] - vals[3] / 2, vals[0] + vals[2] / 2, vals[1] + vals[3] / 2]) * 90
        _check_boxes(out_img, {0: box}, 1, 2.0, rec["output"])
        for j, (x, y, v) in enumerate(vals[4:].reshape(2, 3)):
            assert v == 2, f"{rec['output']}: keypoint {j} cut by the crop {rec['ops'][0]['crop']}"
            ys, xs = np.nonzero(_core(out_img, PALETTE[1 + j]))
            assert len(xs) > 0 and np.hypot(xs.mean() + 0.5 - x * 90, ys.mean() + 0.5 - y * 90) < 1.5


# ---------------------------------------------------------------- every geometric transform at its extremes
EXTREME_BOXES = [(4, 4, 34, 28), (120, 10, 156, 40), (60, 50, 100, 74), (8, 84, 40, 116), (124, 88, 152, 118)]
EXTREMES = [
    # (pipeline, looseness in px allowed between a label box and its visible colour)
    ([{"type": "Perspective", "scale": 0.15}], 3.0),
    ([{"type": "LensDistortion", "k": -0.8}], 3.0),
    ([{"type": "LensDistortion", "k": 0.8}], 3.0),
    ([{"type": "LensDistortion", "k": [-0.8, -0.5], "fill_frame": False}], 3.0),
    ([{"type": "Affine", "rotate": 180, "translate": [-0.3, 0.3], "scale": [0.5, 2.0]}], 4.0),
    ([{"type": "Rotate90"}, {"type": "Perspective", "scale": 0.15}, {"type": "RandomCrop", "size": [100, 100]},
      {"type": "HorizontalFlip"}], 4.0),
    ([{"type": "RandomResizedCrop", "size": [64, 160], "scale": [0.2, 1.0], "ratio": [0.1, 10]}], 5.0),
    ([{"type": "CenterCrop", "size": [151, 203]}, {"type": "Letterbox", "size": [50, 90]}], 3.0),
]


@pytest.mark.parametrize("pipeline,loose", EXTREMES, ids=[f"{i}-" + "+".join(t["type"] for t in case[0])
                                                          for i, case in enumerate(EXTREMES)])
def test_boxes_follow_their_colour_at_the_extremes(tmp_path, pipeline, loose):
    """Non-linear lens maps at full strength, the largest tilt, a half turn with a zoom, chains: every
    VOC box (1-based inclusive pixels) covers its colour and is not much looser, the <size> written
    is the image's, and a colour in view keeps its label."""
    src = tmp_path / "in"
    _yolo_dataset(src, {"a": (160, 120, EXTREME_BOXES)})
    out = _run(tmp_path, src, pipeline, copies=4, extra=("--output-format", "voc"))
    for rec in _records(out):
        img = cv2.imread(str(out / rec["output"]))
        h, w = img.shape[:2]
        root = ET.parse(out / rec["label"]).getroot()
        assert (int(root.findtext("size/width")), int(root.findtext("size/height"))) == (w, h)
        boxes = {}
        for obj in root.iter("object"):
            cls = int(obj.findtext("name")[1:])
            xmin, ymin, xmax, ymax = (float(obj.findtext(f"bndbox/{t}")) for t in ("xmin", "ymin", "xmax", "ymax"))
            assert 1 <= xmin <= xmax <= w and 1 <= ymin <= ymax <= h
            boxes[cls] = np.array([xmin - 1, ymin - 1, xmax, ymax])  # back to continuous pixel edges
        _check_boxes(img, boxes, len(EXTREME_BOXES), loose + 1.0, rec["output"])


# ---------------------------------------------------------------- COCO keypoints leaving the frame
KP_DOTS = [(2, 2), (150, 6), (76, 56), (6, 110), (120, 100)]  # 5x5 dots' top-left corners on 160 x 120


@pytest.mark.parametrize("pipeline", [
    [{"type": "LensDistortion", "k": [-0.8, 0.8]}],
    [{"type": "Rotate90"}, {"type": "Perspective", "scale": 0.15}, {"type": "RandomCrop", "size": [90, 90]},
     {"type": "HorizontalFlip"}],
    [{"type": "Affine", "rotate": 180, "translate": [-0.4, 0.4], "shear": [-30, 30]}],
], ids=["lens", "turn-tilt-crop-flip", "affine"])
def test_coco_keypoints_land_on_their_dots_or_are_zeroed(tmp_path, pipeline):
    """A keypoint in view sits on its dot; one whose point left the frame is written as 0, 0, 0 and
    its dot is gone or cut by the border; num_keypoints counts the visible ones; the written
    width and height are the image's."""
    src = tmp_path / "in"
    (src / "annotations").mkdir(parents=True)
    (src / "images" / "train").mkdir(parents=True)
    w, h = 160, 120
    img = np.full((h, w, 3), BACKGROUND, np.uint8)
    kps = []
    for j, (x, y) in enumerate(KP_DOTS):
        img[y:y + DOT, x:x + DOT] = PALETTE[j]
        kps += [x + DOT / 2, y + DOT / 2, 2]
    cv2.imwrite(str(src / "images" / "train" / "a.png"), img)
    (src / "annotations" / "instances_train.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": w, "height": h}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, w, h], "area": w * h, "iscrowd": 0,
                         "keypoints": kps, "num_keypoints": 5}],
        "categories": [{"id": 1, "name": "thing", "keypoints": [f"k{j}" for j in range(5)], "skeleton": []}]}))
    out = _run(tmp_path, src, pipeline, copies=6)
    coco = json.loads((out / "annotations" / "instances_train.json").read_text())
    images = {im["id"]: im for im in coco["images"]}
    zeroed = 0
    for ann in coco["annotations"]:
        im = images[ann["image_id"]]
        picture = cv2.imread(str(out / "images" / "train" / im["file_name"]))
        assert picture.shape[:2] == (im["height"], im["width"])
        ph, pw = picture.shape[:2]
        points = np.array(ann["keypoints"], np.float64).reshape(5, 3)
        assert ann["num_keypoints"] == int((points[:, 2] > 0).sum())
        for j, (x, y, v) in enumerate(points):
            dot = _core(picture, PALETTE[j])
            if v > 0:
                assert 0 <= x <= pw and 0 <= y <= ph
                ys, xs = np.nonzero(dot)
                assert len(xs) > 0, f"{im['file_name']}: keypoint {j} at {(x, y)} but its dot is gone"
                near = np.hypot(xs + 0.5 - x, ys + 0.5 - y).min()
                assert near < 2.0, f"{im['file_name']}: keypoint {j} at {(x, y)}, {near:.1f} px from its dot"
            else:
                zeroed += 1
                assert x == 0 and y == 0
                touches_border = dot[0].any() or dot[-1].any() or dot[:, 0].any() or dot[:, -1].any()
                assert dot.sum() < 4 or touches_border, f"{im['file_name']}: dot {j} in view but keypoint zeroed"
    assert zeroed > 0  # the cases do push keypoints out

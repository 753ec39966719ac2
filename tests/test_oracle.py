"""Label correctness by an independent oracle.

Objects are drawn as solid colour patches (boxes), filled polygons and coloured keypoint
dots; the real CLI augments the dataset; then each written label is checked against where
its colour ended up in the written pixels. Nothing here re-runs augcli's geometry formulas:
the oracle is the picture."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from augcli.cli import main

W, H = 240, 180
BACKGROUND = 128
# Saturated BGR colours, far apart from each other, from the grey background and from black (the fill).
PALETTE = [
    (0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255), (255, 255, 0), (255, 255, 255),
]
TOL = 40  # max per-channel distance of a "core" pixel to its object's colour

BOXES = [  # x1, y1, x2, y2 in pixels (exclusive end), one colour each
    (20, 20, 70, 60), (150, 30, 200, 80), (90, 100, 140, 160), (2, 120, 40, 176), (196, 130, 238, 178),
]
POLYGONS = [
    [(30, 20), (90, 30), (60, 80)],  # triangle
    [(120, 20), (220, 20), (220, 50), (160, 50), (160, 100), (120, 100)],  # concave L
    [(40, 110), (90, 100), (110, 140), (75, 170), (30, 150)],  # pentagon
]
# One person per image: a box and three dots: nose, left eye (person's left = image right), right eye.
POSE_BOX = (70, 40, 170, 150)
POSE_DOTS = [(118, 60), (140, 80), (96, 80)]  # top-left corners of 5x5 dots
DOT = 5
FLIP_IDX = [0, 2, 1]


def _write_dataset(root: Path, kind: str) -> None:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for n, shift in enumerate([(0, 0), (8, -6), (-10, 5)]):
        img = np.full((H, W, 3), BACKGROUND, np.uint8)
        lines = []
        dx, dy = shift
        if kind == "detect":
            for cls, (x1, y1, x2, y2) in enumerate(BOXES):
                x1, x2 = max(0, x1 + dx), min(W, x2 + dx)
                y1, y2 = max(0, y1 + dy), min(H, y2 + dy)
                img[y1:y2, x1:x2] = PALETTE[cls]
                lines.append(f"{cls} {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f}")
        elif kind == "segment":
            for cls, poly in enumerate(POLYGONS):
                pts = np.array(poly, np.float64) + (dx, dy)
                _fill_polygon(img, pts, PALETTE[cls])
                lines.append(f"{cls} " + " ".join(f"{x / W:.6f} {y / H:.6f}" for x, y in pts))
        else:
            x1, y1, x2, y2 = (v + d for v, d in zip(POSE_BOX, (dx, dy, dx, dy)))
            img[y1:y2, x1:x2] = PALETTE[0]
            kps = []
            for j, (px, py) in enumerate(POSE_DOTS):
                px, py = px + dx, py + dy
                img[py:py + DOT, px:px + DOT] = PALETTE[1 + j]
                kps += [(px + DOT / 2) / W, (py + DOT / 2) / H, 2]
            lines.append(f"0 {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f} "
                         + " ".join(f"{v:.6f}" if isinstance(v, float) else str(v) for v in kps))
        cv2.imwrite(str(root / "images" / f"scene{n}.png"), img)
        (root / "labels" / f"scene{n}.txt").write_text("\n".join(lines) + "\n")
    data = {"names": {i: f"c{i}" for i in range(len(PALETTE))}, "train": "images", "val": "images"}
    if kind == "pose":
        data = {"names": {0: "person"}, "kpt_shape": [3, 3], "flip_idx": FLIP_IDX, "train": "images", "val": "images"}
    (root / "data.yaml").write_text(yaml.safe_dump(data))


def _fill_polygon(img: np.ndarray, pts: np.ndarray, colour) -> None:
    """Rasterise a polygon given in continuous coordinates: a pixel is in when its centre is."""
    mask = _raster(pts, img.shape[1], img.shape[0])
    img[mask] = colour


def _raster(pts: np.ndarray, w: int, h: int, sub: int = 8) -> np.ndarray:
    """Pixel-centre rasterisation of a polygon (continuous coords), via a supersampled fillPoly."""
    canvas = np.zeros((h, w), np.uint8)
    shifted = np.round((np.asarray(pts) - 0.5) * sub).astype(np.int32)  # pixel centre i+0.5 -> i
    cv2.fillPoly(canvas, [shifted], 1, lineType=cv2.LINE_8, shift=int(np.log2(sub)))
    return canvas.astype(bool)


def _run(tmp_path: Path, kind: str, pipeline: list, copies: int = 4, labels: dict | None = None) -> Path:
    src, out = tmp_path / "in", tmp_path / "out"
    _write_dataset(src, kind)
    recipe = {"version": 1, "seed": 7, "copies": copies, "pipeline": pipeline,
              "labels": labels or {"min_visibility": 0.0, "min_area": 1}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    res = CliRunner().invoke(main, ["run", str(tmp_path / "r.yaml"), "-i", str(src), "-o", str(out), "-w", "1", "-q"])
    assert res.exit_code == 0, res.output
    return out


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "augcli-manifest.jsonl").read_text().splitlines()]


def _read_labels(path: Path, w: int, h: int) -> list[tuple[int, np.ndarray]]:
    rows = []
    for line in path.read_text().splitlines():
        vals = line.split()
        rows.append((int(vals[0]), np.array([float(v) for v in vals[1:]])))
    return rows


def _core(img: np.ndarray, colour) -> np.ndarray:
    return np.all(np.abs(img.astype(np.int16) - np.array(colour, np.int16)) <= TOL, axis=2)


def _pixel_box(mask: np.ndarray) -> np.ndarray | None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


def _is_reflection(ops: list[dict]) -> bool:
    return sum(op["op"] in ("HorizontalFlip", "VerticalFlip") for op in ops) % 2 == 1


def _check_boxes(img, boxes_by_cls, loose: float, n_classes: int) -> None:
    """Every label box covers its colour (within 1 px) and is not looser than `loose` px;
    every colour clearly present has a label; no label without its colour."""
    h, w = img.shape[:2]
    for cls in range(n_classes):
        colour_box = _pixel_box(_core(img, PALETTE[cls]))
        area = 0 if colour_box is None else (colour_box[2] - colour_box[0]) * (colour_box[3] - colour_box[1])
        label = boxes_by_cls.get(cls)
        if label is None:
            assert colour_box is None or area < 30, f"class {cls}: colour visible ({colour_box}) but no label"
            continue
        lw, lh = label[2] - label[0], label[3] - label[1]
        if colour_box is None:
            assert lw * lh < 30 or min(lw, lh) < 3, f"class {cls}: label {label} but colour is gone (phantom)"
            continue
        assert np.all(label[:2] <= colour_box[:2] + 1.0) and np.all(label[2:] >= colour_box[2:] - 1.0), (
            f"class {cls}: label {label} cuts the object {colour_box}")
        assert np.all(label[:2] >= colour_box[:2] - loose) and np.all(label[2:] <= colour_box[2:] + loose), (
            f"class {cls}: label {label} is loose around the object {colour_box}")
        eps = 1e-3  # labels are written with 6 decimals
        assert -eps <= label[0] <= label[2] <= w + eps and -eps <= label[1] <= label[3] <= h + eps


def _yolo_box(vals: np.ndarray, w: int, h: int) -> np.ndarray:
    cx, cy, bw, bh = vals[:4]
    return np.array([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h])


GEOMETRIC_CASES = [
    # (pipeline, looseness in px allowed between label box and the visible colour)
    ([{"type": "HorizontalFlip"}], 1.5),
    ([{"type": "VerticalFlip"}], 1.5),
    ([{"type": "Rotate90"}], 1.5),
    ([{"type": "HorizontalFlip", "p": 0.5}, {"type": "VerticalFlip", "p": 0.5}, {"type": "Rotate90", "p": 0.5}], 1.5),
    ([{"type": "Rotate", "degrees": 7}], 3.0),
    ([{"type": "Rotate", "degrees": -33}], 3.0),
    ([{"type": "Rotate", "degrees": 90}], 3.0),
    ([{"type": "Rotate", "degrees": [-180, 180], "p": 0.5}], 3.0),
    ([{"type": "Affine", "scale": [0.7, 1.3], "translate": [-0.1, 0.1], "rotate": [-20, 20], "shear": [-10, 10]}], 4.0),
    ([{"type": "RandomResizedCrop", "size": [150, 200], "scale": [0.4, 1.0]}], 4.0),
    ([{"type": "Resize", "size": [90, 300]}], 3.0),
    ([{"type": "Resize", "size": [360, 400]}], 4.0),
    ([{"type": "RandomOrder", "transforms": [
        {"type": "HorizontalFlip", "p": 0.5}, {"type": "Rotate", "degrees": [-30, 30]}, {"type": "VerticalFlip", "p": 0.5}]}], 3.0),
    ([{"type": "OneOf", "transforms": [{"type": "Rotate90"}, {"type": "Affine", "scale": [0.8, 1.2]}, {"type": "VerticalFlip"}]},
      {"type": "SomeOf", "n": [1, 2], "transforms": [{"type": "HorizontalFlip"}, {"type": "Rotate", "degrees": [-10, 10]}]}], 4.0),
    ([{"type": "Rotate", "degrees": [-20, 20]}, {"type": "BrightnessContrast", "brightness": 0.0, "contrast": 0.0},
      {"type": "Rotate", "degrees": [-20, 20]}], 5.0),
]
IDS = [("+".join(t["type"] for t in case[0]) + f"-{i}") for i, case in enumerate(GEOMETRIC_CASES)]


@pytest.mark.parametrize("pipeline,loose", GEOMETRIC_CASES, ids=IDS)
def test_boxes_follow_their_colour(tmp_path, pipeline, loose):
    out = _run(tmp_path, "detect", pipeline)
    checked = 0
    for rec in _records(out):
        img = cv2.imread(str(out / rec["output"]))
        h, w = img.shape[:2]
        labels = _read_labels(out / rec["label"], w, h)
        by_cls = {}
        for cls, vals in labels:
            assert cls not in by_cls, "one object per colour in this dataset"
            by_cls[cls] = _yolo_box(vals, w, h)
        _check_boxes(img, by_cls, loose, len(BOXES))
        checked += 1
    assert checked == 3 * 5  # 3 images x (original + 4 copies)


@pytest.mark.parametrize("pipeline,loose", GEOMETRIC_CASES, ids=IDS)
def test_polygons_follow_their_colour(tmp_path, pipeline, loose):
    out = _run(tmp_path, "segment", pipeline)
    for rec in _records(out):
        img = cv2.imread(str(out / rec["output"]))
        h, w = img.shape[:2]
        for cls, vals in _read_labels(out / rec["label"], w, h):
            pts = vals.reshape(-1, 2) * (w, h)
            assert len(pts) >= 3
            assert np.all((pts >= -1e-6) & (pts <= np.array([w, h]) + 1e-6)), "polygon vertex outside the image"
            label_mask = _raster(pts, w, h)
            colour = _core(img, PALETTE[cls]) | _blend_half(img, PALETTE[cls])
            if label_mask.sum() < 150:
                continue  # slivers at the border: too small to judge by overlap
            inter = (label_mask & colour).sum()
            union = (label_mask | colour).sum()
            assert inter / union > 0.85, f"{rec['output']} class {cls}: IoU {inter / union:.2f} with its colour"
        present = {cls for cls, _ in _read_labels(out / rec["label"], w, h)}
        for cls in range(len(POLYGONS)):
            if cls not in present:
                assert _core(img, PALETTE[cls]).sum() < 30, f"{rec['output']}: polygon {cls} visible but unlabelled"


def _blend_half(img, colour) -> np.ndarray:
    """Pixels at least half-way from the grey background to the colour (edge pixels of the true shape)."""
    diff_full = np.abs(np.array(colour, np.float64) - BACKGROUND).sum()
    diff = np.abs(img.astype(np.float64) - np.array(colour, np.float64)).sum(axis=2)
    return diff <= diff_full / 2


@pytest.mark.parametrize("pipeline,loose", GEOMETRIC_CASES, ids=IDS)
def test_keypoints_follow_their_dots(tmp_path, pipeline, loose):
    out = _run(tmp_path, "pose", pipeline)
    swaps = 0
    for rec in _records(out):
        img = cv2.imread(str(out / rec["output"]))
        h, w = img.shape[:2]
        (cls, vals), = _read_labels(out / rec["label"], w, h)
        _check_boxes(img, {0: _yolo_box(vals, w, h)}, loose + 1.0, 1)
        kps = vals[4:].reshape(3, 3) * (w, h, 1)
        mirrored = _is_reflection(rec["ops"])
        swaps += mirrored
        for j in range(3):
            # after a mirror, the dot drawn as keypoint j is labelled as keypoint flip_idx[j]
            slot = FLIP_IDX[j] if mirrored else j
            x, y, v = kps[slot]
            mask = _core(img, PALETTE[1 + j])
            ys, xs = np.nonzero(mask)
            if v > 0:
                assert len(xs) > 0, f"{rec['output']}: keypoint {slot} labelled but its dot is gone"
                centre = np.array([xs.mean() + 0.5, ys.mean() + 0.5])
                assert np.hypot(*(centre - (x, y))) < 1.5, f"{rec['output']}: keypoint {slot} at {(x, y)}, dot at {centre}"
            else:
                assert x == 0 and y == 0
                assert len(xs) < 6, f"{rec['output']}: dot {j} visible but keypoint {slot} marked invisible"
    if any(op["type"] in ("HorizontalFlip", "VerticalFlip") for op in pipeline):
        assert swaps > 0, "the case should exercise at least one mirror"


def test_visibility_threshold_matches_pixels(tmp_path):
    """With min_visibility 0.5, an object kept has at least ~half of its pixels in view, and one dropped at most ~half."""
    out = _run(tmp_path, "detect", [{"type": "Affine", "translate": [-0.25, 0.25], "rotate": [-30, 30]}], copies=12,
               labels={"min_visibility": 0.5, "min_area": 1})
    src = cv2.imread(str(tmp_path / "in" / "images" / "scene0.png"))
    full = {cls: _core(src, PALETTE[cls]).sum() for cls in range(len(BOXES))}
    decided = 0
    for rec in _records(out):
        if not rec["source"].endswith("scene0.png"):
            continue
        img = cv2.imread(str(out / rec["output"]))
        present = {cls for cls, _ in _read_labels(out / rec["label"], W, H)}
        for cls in range(len(BOXES)):
            share = _core(img, PALETTE[cls]).sum() / full[cls]
            if share > 0.6:
                assert cls in present, f"{rec['output']}: class {cls} {share:.0%} visible but dropped"
                decided += 1
            elif share < 0.4:
                assert cls not in present, f"{rec['output']}: class {cls} only {share:.0%} visible but kept"
                decided += 1
    assert decided > 30


# ---------------------------------------------------------------- what a crop cut away stays away
@pytest.mark.parametrize("after", [
    {"type": "PadIfNeeded", "min_size": [H, W]},  # fill 0, as the crop's
    {"type": "Rotate", "degrees": 45},
    {"type": "Affine", "scale": 0.5},
])
def test_geometry_after_a_crop_does_not_bring_back_what_the_crop_cut(tmp_path, after):
    """CenterCrop to 100x100, then another geometric step: only the 100x100 window's pixels may be
    in the output (as many of them as there were: rotations and a 0.5 scale change the count by the
    determinant), the rest is the black fill, and each label still covers exactly its colour."""
    out = _run(tmp_path, "detect", [{"type": "CenterCrop", "size": [100, 100]}, after], copies=2)
    # share of the 100x100 window still shown: a 0.5 scale keeps a quarter of its area; a 45-degree
    # turn on the 100x100 canvas keeps the octagon where the square and its turned copy overlap
    scale = {"Affine": 0.25, "Rotate": 2 * (2 ** 0.5 - 1)}.get(after["type"], 1.0)
    for rec in _records(out):
        if rec["copy"] == 0:
            continue
        img = cv2.imread(str(out / rec["output"]))
        h, w = img.shape[:2]
        shown = np.any(img > 12, axis=2).sum()  # not the black fill
        assert abs(shown - 100 * 100 * scale) < 0.06 * 100 * 100 * scale, (
            f"{rec['output']}: {shown} pixels shown, the 100x100 crop has {100 * 100 * scale:.0f}")
        by_cls = {cls: _yolo_box(vals, w, h) for cls, vals in _read_labels(out / rec["label"], w, h)}
        _check_boxes(img, by_cls, 4.0, len(BOXES))


def test_polygon_edge_on_the_crop_border_leaves_no_spur(tmp_path):
    """The L's arm (image 0) ends exactly on the crop's top edge (y = 50): what stays in view is the
    L's stem alone, x 120..160, y 50..100 of the input (0..50 after the crop), worked out from the
    drawing. The clipped outline must not keep a zero-width strip along the crop edge where the arm
    was, which would stretch the box to x = 220. (The drawn pixels cannot judge this: the
    rasteriser colours the arm's boundary row, which the crop keeps.)"""
    out = _run(tmp_path, "segment", [{"type": "CenterCrop", "size": [80, W]}], copies=1)
    img = cv2.imread(str(out / "images" / "scene0_aug1.png"))
    h, w = img.shape[:2]
    assert (w, h) == (W, 80)
    labels = dict(_read_labels(out / "labels" / "scene0_aug1.txt", w, h))
    pts = labels[1].reshape(-1, 2) * (w, h)
    box = [pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()]
    assert np.allclose(box, [120, 0, 160, 50], atol=0.01), box

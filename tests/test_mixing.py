"""Mixing and cut-out transforms (CoarseDropout, MixUp, CutMix, Mosaic, CopyPaste).

The oracle: every object in the generated dataset is a patch of its own colour (unique across
all images, so a donor's objects can be told apart from the current image's), keypoints are
coloured dots. The real pipeline (augcli.api.run) writes the dataset; each written label is
then checked against where its colour ended up in the written pixels:
- nothing phantom: a label has its colour under it, at least (min_visibility - slack) of the
  object's full area (the source's pixel count times the area scale of its placement);
- nothing missing: colour pixels outside every label of that colour add up to no more than
  (min_visibility + slack) of the object's full area (a dropped object was hidden enough);
- labels not cut: the label covers its colour (within a pixel or two).
Only sizes and recorded scales are taken from augcli; no label geometry is recomputed here.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from augcli.api import run as api_run
from augcli.errors import ParamError
from augcli.job import augment_sample
from augcli.recipe import Recipe
from augcli.sample import LabelPolicy, LabelSchema, Objects, Sample, concat_objects
from augcli.transforms.meta import Sequential
from augcli.transforms.registry import build

BACKGROUND = 128
# Every colour with levels 0 / 128 / 255 except grey (the background) and black (the fill): any two
# differ by >= 127 in some channel, and a blend of one with the grey background is never within
# TOL of another.
PALETTE = [c for c in itertools.product((0, 128, 255), repeat=3) if c not in ((0, 0, 0), (128, 128, 128))]
TOL = 40
SIZES = [(160, 120), (200, 150), (128, 128), (180, 100), (150, 160)]  # (width, height) of image n
DOT = 5


# ---------------------------------------------------------------- the generated dataset
def _slot(s: int, w: int, h: int) -> tuple[int, int, int, int]:
    """Slot s of a 4 x 3 grid over the frame, shrunk to 70%: whole-pixel x1, y1, x2, y2. Objects of
    different images sit in different slots, so images blended together do not overlap."""
    col, row = s % 4, s // 4
    return (int((col + 0.15) / 4 * w), int((row + 0.15) / 3 * h), int((col + 0.85) / 4 * w), int((row + 0.85) / 3 * h))


SHAPES = [  # polygons in slot-relative units
    [(0.0, 0.0), (1.0, 0.2), (0.45, 1.0)],
    [(0.0, 0.0), (1.0, 0.0), (1.0, 0.4), (0.45, 0.4), (0.45, 1.0), (0.0, 1.0)],
    [(0.2, 0.0), (1.0, 0.25), (0.85, 1.0), (0.1, 0.9), (0.0, 0.4)],
]


def _raster(pts: np.ndarray, w: int, h: int, sub: int = 8) -> np.ndarray:
    """Pixel-centre rasterisation of a polygon in continuous coordinates (supersampled fillPoly)."""
    canvas = np.zeros((h, w), np.uint8)
    shifted = np.round((np.asarray(pts, np.float64) - 0.5) * sub).astype(np.int32)
    cv2.fillPoly(canvas, [shifted], 1, lineType=cv2.LINE_8, shift=int(np.log2(sub)))
    return canvas.astype(bool)


def person_colour(n: int) -> tuple[int, int, int]:
    return PALETTE[n]


def dot_colour(n: int, j: int) -> tuple[int, int, int]:
    return PALETTE[len(SIZES) + 3 * n + j]


def write_dataset(root: Path, kind: str) -> None:
    """YOLO dataset of len(SIZES) images. detect / segment: image n holds classes 2n and 2n+1 (boxes or
    polygons) in colours PALETTE[2n], PALETTE[2n+1]; pose: image n holds person class n with three dots."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for n, (w, h) in enumerate(SIZES):
        img = np.full((h, w, 3), BACKGROUND, np.uint8)
        lines = []
        if kind == "pose":
            x1, y1, x2, y2 = _slot(2 * n, w, h)
            x2, y2 = x1 + max(x2 - x1, 24), y1 + max(y2 - y1, 24)
            img[y1:y2, x1:x2] = person_colour(n)
            kps = []
            for j, (fx, fy) in enumerate([(0.3, 0.25), (0.7, 0.5), (0.35, 0.75)]):
                px, py = int(x1 + fx * (x2 - x1) - DOT / 2), int(y1 + fy * (y2 - y1) - DOT / 2)
                img[py:py + DOT, px:px + DOT] = dot_colour(n, j)
                kps += [f"{(px + DOT / 2) / w:.6f}", f"{(py + DOT / 2) / h:.6f}", "2"]
            lines.append(f"{n} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f} "
                         + " ".join(kps))
        else:
            for cls in (2 * n, 2 * n + 1):
                x1, y1, x2, y2 = _slot(cls, w, h)
                if kind == "detect":
                    img[y1:y2, x1:x2] = PALETTE[cls]
                    lines.append(f"{cls} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} "
                                 f"{(y2 - y1) / h:.6f}")
                else:
                    pts = np.array([(x1 + u * (x2 - x1), y1 + v * (y2 - y1)) for u, v in SHAPES[cls % 3]])
                    img[_raster(pts, w, h)] = PALETTE[cls]
                    lines.append(f"{cls} " + " ".join(f"{x / w:.6f} {y / h:.6f}" for x, y in pts))
        cv2.imwrite(str(root / "images" / f"scene{n}.png"), img)
        (root / "labels" / f"scene{n}.txt").write_text("\n".join(lines) + "\n")
    if kind == "pose":
        data = {"names": {n: f"p{n}" for n in range(len(SIZES))}, "kpt_shape": [3, 3], "flip_idx": [0, 2, 1]}
    else:
        data = {"names": {i: f"c{i}" for i in range(2 * len(SIZES))}}
    (root / "data.yaml").write_text(yaml.safe_dump({**data, "train": "images", "val": "images"}))


def run_pipeline(tmp_path: Path, kind: str, pipeline: list, copies: int = 3, min_visibility: float = 0.3,
                 workers: int = 1, name: str = "out") -> Path:
    src, out = tmp_path / f"in_{kind}", tmp_path / name
    if not src.exists():
        write_dataset(src, kind)
    recipe = {"version": 1, "seed": 11, "copies": copies, "pipeline": pipeline,
              "labels": {"min_visibility": min_visibility, "min_area": 1}}
    report = api_run(recipe, src, out, workers=workers, log=lambda line: None)
    assert report.exit_code == 0, report.skipped
    return out


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "augcli-manifest.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------- what each output should contain
def source_areas(src: Path, kind: str) -> dict[str, dict[tuple, int]]:
    """key -> {("obj", cls) or ("dot", cls, j): pixel count of that colour in the source image}."""
    out = {}
    for n in range(len(SIZES)):
        img = cv2.imread(str(src / "images" / f"scene{n}.png"))
        areas = {}
        if kind == "pose":
            areas[("obj", n)] = int(colour_mask(img, person_colour(n)).sum()) + 3 * DOT * DOT
            for j in range(3):
                areas[("dot", n, j)] = int(colour_mask(img, dot_colour(n, j)).sum())
        else:
            for cls in (2 * n, 2 * n + 1):
                areas[("obj", cls)] = int(colour_mask(img, PALETTE[cls]).sum())
        out[f"images/scene{n}.png"] = areas
    return out


def placements(rec: dict, src_areas: dict) -> dict[tuple, list[tuple[float, float]]]:
    """Colour id -> [(full area in output pixels, weight of its image in the blend)] for every placed
    copy of it in this output, from the recorded parameters (sizes and scales only)."""
    key = rec["source"]
    n_of = lambda k: int(Path(k).stem.removeprefix("scene"))  # noqa: E731
    size = lambda k: SIZES[n_of(k)]  # noqa: E731
    out: dict[tuple, list[tuple[float, float]]] = {}

    def add(k: str, area_scale: float, weight: float = 1.0, only: set | None = None) -> None:
        for cid, area in src_areas[k].items():
            if only is None or cid[1] in only:
                out.setdefault(cid, []).append((area * area_scale, weight))

    ops = rec["ops"]
    if not ops:
        add(key, 1.0)
        return out
    (op,) = ops
    w, h = size(key)
    if op["op"] == "CoarseDropout":
        add(key, 1.0)
    elif op["op"] in ("MixUp", "CutMix"):
        ratio = op.get("ratio", 1.0) if op["op"] == "MixUp" else 1.0
        add(key, 1.0, ratio)
        for d in op["donors"]:
            dw, dh = size(d)
            add(d, w * h / (dw * dh), 1.0 - ratio if op["op"] == "MixUp" else 1.0)
    elif op["op"] == "Mosaic":
        donors = iter(op["donors"])
        for index, resized in enumerate(op["resized"]):
            k = key if index == op["cell"] else next(donors, None)
            if k is not None:
                kw, kh = size(k)
                add(k, resized[0] * resized[1] / (kw * kh))
    elif op["op"] == "CopyPaste":
        add(key, 1.0)
        for entry in op["pasted"]:
            (d,) = op["donors"]
            dw, dh = size(d)
            cls = 2 * n_of(d) + entry["index"]
            add(d, w * h / (dw * dh) * entry.get("scale", 1.0) ** 2, only={cls})
    else:
        raise AssertionError(f"unexpected op {op}")
    return out


def colour_of(cid: tuple) -> tuple[int, int, int]:
    return dot_colour(cid[1], cid[2]) if cid[0] == "dot" else PALETTE[cid[1]]


def colour_mask(img: np.ndarray, colour, weight: float = 1.0, tol: float = TOL) -> np.ndarray:
    """Pixels showing `colour` blended at `weight` over the grey background (weight 1: the colour).
    A faint blend differs from grey by as little as 127 * weight levels: the tolerance shrinks with it."""
    expected = weight * np.array(colour, np.float64) + (1.0 - weight) * BACKGROUND
    tol = tol if weight == 1.0 else min(20.0, 50 * weight)
    lo, hi = np.clip(np.ceil(expected - tol), 0, 255), np.clip(np.floor(expected + tol), 0, 255)
    return cv2.inRange(img, lo, hi).astype(bool)


def read_labels(path: Path, w: int, h: int, kind: str) -> list[dict]:
    rows = []
    for line in path.read_text().splitlines():
        vals = line.split()
        cls, nums = int(vals[0]), np.array([float(v) for v in vals[1:]])
        if kind == "segment":
            pts = nums.reshape(-1, 2) * (w, h)
            rows.append({"cls": cls, "poly": pts, "box": np.array([*pts.min(0), *pts.max(0)])})
        else:
            cx, cy, bw, bh = nums[:4]
            box = np.array([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h])
            row = {"cls": cls, "box": box}
            if kind == "pose":
                row["kps"] = nums[4:].reshape(-1, 3) * (w, h, 1)
            rows.append(row)
    return rows


def label_region(label: dict, w: int, h: int, grow: int = 0) -> np.ndarray:
    if "poly" in label:
        region = _raster(label["poly"], w, h)
    else:
        x1, y1, x2, y2 = label["box"]
        region = np.zeros((h, w), bool)
        region[int(np.floor(y1 + 0.5)):int(np.floor(y2 + 0.5)), int(np.floor(x1 + 0.5)):int(np.floor(x2 + 0.5))] = True
    if grow:
        region = cv2.dilate(region.astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)).astype(bool)
    return region


def shape_area(label: dict) -> float:
    if "poly" in label:
        p = label["poly"]
        return 0.5 * abs(np.dot(p[:, 0], np.roll(p[:, 1], -1)) - np.dot(p[:, 1], np.roll(p[:, 0], -1)))
    x1, y1, x2, y2 = label["box"]
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)


def is_sliver(label: dict) -> bool:
    x1, y1, x2, y2 = label["box"]
    return shape_area(label) < 30 or min(x2 - x1, y2 - y1) < 3


SLACK = 0.15


def check_output(out: Path, rec: dict, kind: str, src_areas: dict, min_visibility: float,
                 loose: float | None = None) -> dict[str, int]:
    """The oracle for one written image; `loose` (pixels) also bounds how far a box label may reach
    beyond its colour (for transforms that only move and clip, never cover). Returns counts."""
    img = cv2.imread(str(out / rec["output"]))
    h, w = img.shape[:2]
    labels = read_labels(out / rec["label"], w, h, kind)
    placed = placements(rec, src_areas)
    v, where = min_visibility, rec["output"]
    counts = {"labels": len(labels), "keypoints": 0, "dropped_checked": 0}
    by_cls: dict[int, list[dict]] = {}
    for lab in labels:
        cid = ("obj", lab["cls"])
        assert cid in placed, f"{where}: label of class {lab['cls']}, whose image is not in this output (phantom)"
        by_cls.setdefault(lab["cls"], []).append(lab)
    for cid, copies in placed.items():
        if cid[0] != "obj":
            continue
        cls = cid[1]
        areas = [a for a, _ in copies]
        weight = copies[0][1]
        if weight < 0.1:
            continue  # blended too faintly to tell from grey (MixUp with a Beta-drawn ratio)
        mask = colour_mask(img, colour_of(cid), weight)
        covered = np.zeros((h, w), bool)
        for lab in by_cls.get(cls, []):
            region = label_region(lab, w, h, grow=2)
            covered |= region
            seen = int((mask & region).sum())
            x1, y1, x2, y2 = lab["box"]
            ring = 2.0 * ((x2 - x1) + (y2 - y1))  # one pixel round the outline: edge pixels are blends
            if is_sliver(lab):
                continue
            assert seen > 0, f"{where}: class {cls} labelled at {lab['box'].round(1)} but its colour is not there"
            assert seen >= (v - SLACK) * min(areas) - ring, (
                f"{where}: class {cls} kept with only {seen} px of its colour of {min(areas):.0f} (phantom / hidden)")
            if loose is not None and "poly" not in lab:
                ys, xs = np.nonzero(mask & region)
                colour_box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)
                assert (np.all(lab["box"][:2] >= colour_box[:2] - loose)
                        and np.all(lab["box"][2:] <= colour_box[2:] + loose)), (
                    f"{where}: class {cls} label {lab['box'].round(1)} is loose around its colour {colour_box}")
        outside = int((mask & ~covered).sum())
        allowed = (v + SLACK) * max(areas) * len(copies) + 4.0 * np.sqrt(max(areas)) + 4
        assert outside <= allowed, (
            f"{where}: {outside} px of class {cls}'s colour outside its labels (allowed {allowed:.0f}): "
            "label missing or cut")
        if cls not in by_cls and mask.sum() > 0:
            counts["dropped_checked"] += 1
    if kind == "pose":
        counts["keypoints"] = check_keypoints(img, labels, placed, where)
    return counts


def check_keypoints(img: np.ndarray, labels: list[dict], placed: dict, where: str) -> int:
    """A visible keypoint sits on its dot; an invisible one's dot is mostly gone from the person."""
    h, w = img.shape[:2]
    checked = 0
    for lab in labels:
        n = lab["cls"]
        region = label_region(lab, w, h, grow=2)
        for j in range(3):
            cid = ("dot", n, j)
            full = max(a for a, _ in placed[cid])
            weight = placed[cid][0][1]
            dots = colour_mask(img, dot_colour(n, j), weight) & region
            x, y, vis = lab["kps"][j]
            if vis > 0:
                ys, xs = np.nonzero(dots)
                near = np.hypot(xs + 0.5 - x, ys + 0.5 - y) <= DOT * np.sqrt(full / (DOT * DOT)) + 2
                assert near.any(), f"{where}: keypoint {j} of person {n} at {(x, y)} is not on its dot"
                centre = np.array([xs[near].mean() + 0.5, ys[near].mean() + 0.5])
                tol = 1.5 if near.sum() >= 0.8 * full else 0.5 * np.sqrt(full) + 1.0  # a dot cut by an edge
                assert np.hypot(*(centre - (x, y))) <= tol, (
                    f"{where}: keypoint {j} of person {n} at {(x, y)}, its dot at {centre}")
            else:
                assert x == 0 and y == 0
                assert dots.sum() <= 0.7 * full + 2, (
                    f"{where}: dot {j} of person {n} shows {dots.sum()} of {full:.0f} px but the keypoint is invisible")
            checked += 1
    return checked


def check_run(out: Path, src: Path, kind: str, op: str, min_visibility: float, loose: float | None = None) -> dict:
    src_areas = source_areas(src, kind)
    totals = {"outputs": 0, "labels": 0, "keypoints": 0, "dropped_checked": 0, "donor_labels": 0}
    for rec in records(out):
        if rec["copy"]:
            assert [o["op"] for o in rec["ops"]] == [op]
        counts = check_output(out, rec, kind, src_areas, min_visibility, loose)
        totals["outputs"] += 1
        for k in ("labels", "keypoints", "dropped_checked"):
            totals[k] += counts[k]
        own = {2 * int(Path(rec["source"]).stem[5:]) + i for i in (0, 1)} if kind != "pose" else {
            int(Path(rec["source"]).stem[5:])}
        img = cv2.imread(str(out / rec["output"]))
        totals["donor_labels"] += sum(lab["cls"] not in own
                                      for lab in read_labels(out / rec["label"], img.shape[1], img.shape[0], kind))
    return totals


# ---------------------------------------------------------------- oracle tests through the real pipeline
ORACLE_CASES = [
    # (pipeline, kinds, looseness for box labels or None where pixels get covered)
    ([{"type": "MixUp"}], ("detect", "segment", "pose"), 2.0),
    ([{"type": "MixUp", "alpha": 1.5}], ("detect",), 2.0),
    ([{"type": "CutMix"}], ("detect", "segment", "pose"), None),
    ([{"type": "CutMix", "area": [0.4, 0.8]}], ("segment",), None),
    ([{"type": "Mosaic", "size": [240, 320]}], ("detect", "segment", "pose"), 2.0),
    ([{"type": "Mosaic", "size": [300, 300], "grid": 3, "center": [0.4, 0.6]}], ("detect", "pose"), 2.0),
    ([{"type": "CopyPaste"}], ("segment",), None),
    ([{"type": "CopyPaste", "placement": "same", "max_objects": 2}], ("segment",), None),
    ([{"type": "CopyPaste", "scale": [1.5, 3.0], "max_objects": 5}], ("segment",), None),
    ([{"type": "CoarseDropout", "holes": [3, 8], "size": [0.1, 0.3]}], ("detect", "segment", "pose"), None),
]
ORACLE_PARAMS = [(pipe, kind, loose) for pipe, kinds, loose in ORACLE_CASES for kind in kinds]
ORACLE_IDS = [f"{p[0]['type']}-{i}-{kind}" for i, (p, kind, _) in enumerate(ORACLE_PARAMS)]


@pytest.mark.parametrize("pipeline,kind,loose", ORACLE_PARAMS, ids=ORACLE_IDS)
def test_labels_follow_their_colours(tmp_path, pipeline, kind, loose):
    out = run_pipeline(tmp_path, kind, pipeline)
    totals = check_run(out, tmp_path / f"in_{kind}", kind, pipeline[0]["type"], 0.3, loose)
    assert totals["outputs"] == len(SIZES) * 4  # original + 3 copies each
    if pipeline[0]["type"] != "CoarseDropout":
        assert totals["donor_labels"] > 0, "the case should bring objects in from donors"
    if kind == "pose":
        assert totals["keypoints"] > 0


def test_coarse_dropout_keeps_no_label_mostly_covered(tmp_path):
    """With min_visibility 0.6 every kept label shows at most ~40% fill; objects hidden more are dropped."""
    pipeline = [{"type": "CoarseDropout", "holes": [4, 10], "size": [0.15, 0.35], "fill": [0, 0, 0]}]
    out = run_pipeline(tmp_path, "detect", pipeline, copies=6, min_visibility=0.6)
    totals = check_run(out, tmp_path / "in_detect", "detect", "CoarseDropout", 0.6)
    dropped = 0
    for rec in records(out):
        img = cv2.imread(str(out / rec["output"]))
        h, w = img.shape[:2]
        black = np.all(img == 0, axis=2)
        for lab in read_labels(out / rec["label"], w, h, "detect"):
            region = label_region(lab, w, h)
            assert black[region].mean() < 0.45, f"{rec['output']}: class {lab['cls']} kept but mostly covered"
        dropped += rec["objects"]["dropped"]
    assert dropped > 0 and totals["dropped_checked"] > 0, "the case should drop some covered objects"


def test_copy_paste_with_box_only_donors_changes_nothing(tmp_path):
    out = run_pipeline(tmp_path, "detect", [{"type": "CopyPaste"}], copies=2)
    src = tmp_path / "in_detect"
    for rec in records(out):
        if rec["copy"]:
            assert rec["ops"][0]["pasted"] == [] and len(rec["ops"][0]["donors"]) == 1
            original = cv2.imread(str(src / rec["source"]))
            assert np.array_equal(cv2.imread(str(out / rec["output"])), original)
            assert (out / rec["label"]).read_text() == (src / rec["source"].replace("images", "labels")
                                                       .replace(".png", ".txt")).read_text()


def test_same_seed_same_bytes_for_any_worker_count(tmp_path):
    pipeline = [{"type": "MixUp", "p": 0.7}, {"type": "CutMix", "p": 0.7}, {"type": "CopyPaste", "p": 0.7},
                {"type": "Mosaic", "size": [160, 200]}]
    one = run_pipeline(tmp_path, "segment", pipeline, copies=2, workers=1, name="w1")
    two = run_pipeline(tmp_path, "segment", pipeline, copies=2, workers=2, name="w2")
    files = lambda root: {p.relative_to(root).as_posix(): p.read_bytes()  # noqa: E731
                          for p in sorted(root.rglob("*")) if p.is_file()}
    a, b = files(one), files(two)
    assert a.keys() == b.keys() and len(a) > 20
    assert [k for k in a if a[k] != b[k]] == []
    applied = {op["op"] for rec in records(one) for op in rec["ops"]}
    assert applied == {"MixUp", "CutMix", "CopyPaste", "Mosaic"}


# ---------------------------------------------------------------- in memory: donors, masks, fallbacks
SCHEMA = LabelSchema(names={i: f"c{i}" for i in range(6)}, kpt_shape=(2, 3), flip_idx=(1, 0))


def _sample(w: int, h: int, colour, cls: int, with_kps: bool = True, mask: bool = False) -> Sample:
    img = np.full((h, w, 3), BACKGROUND, np.uint8)
    x1, y1, x2, y2 = w // 4, h // 4, w // 2, h // 2
    img[y1:y2, x1:x2] = colour
    poly = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], float)
    kps = np.array([[[x1 + 2.5, y1 + 2.5, 2], [x2 - 2.5, y2 - 2.5, 2]]]) if with_kps else None
    objs = Objects(np.array([cls]), np.array([[x1, y1, x2, y2]], float), [poly], kps, attrs=[{"cls": cls}])
    class_map = None
    if mask:
        class_map = np.zeros((h, w), np.uint8)
        class_map[y1:y2, x1:x2] = cls + 1
    return Sample(img, objs, SCHEMA, class_map)


def _donors(pool: dict[str, Sample]):
    keys = sorted(pool)

    def draw(rng):
        key = keys[int(rng.integers(len(keys)))]
        return key, pool[key]

    return draw


def _augment(sample: Sample, transform: dict, donors=None, seed: int = 0, copy: int = 1):
    recipe = Recipe(pipeline=Sequential(transforms=[transform]), seed=seed,
                    labels=LabelPolicy(min_visibility=0.0, min_area=0.0))
    return augment_sample(sample, recipe, "me.png", copy, donors)


MIXERS = [{"type": "MixUp"}, {"type": "CutMix"}, {"type": "Mosaic", "size": [90, 120]},
          {"type": "Mosaic", "size": [90, 120], "grid": 3}, {"type": "CopyPaste"}]
MIXER_IDS = ["MixUp", "CutMix", "Mosaic2", "Mosaic3", "CopyPaste"]


@pytest.mark.parametrize("transform", MIXERS, ids=MIXER_IDS)
def test_donor_keys_are_recorded_and_inputs_untouched(transform):
    me = _sample(80, 60, PALETTE[0], 0)
    pool = {"a.png": _sample(100, 50, PALETTE[1], 1), "b.png": _sample(64, 64, PALETTE[2], 2),
            "c.png": _sample(40, 90, PALETTE[3], 3)}
    before = {k: (s.image.copy(), s.objects.copy()) for k, s in {**pool, "me": me}.items()}
    brought = 0
    for seed in range(6):
        out, ops, _ = _augment(me, transform, _donors(pool), seed=seed)
        (op,) = ops
        expected = transform.get("grid", 2) ** 2 - 1 if transform["type"] == "Mosaic" else 1
        assert len(op["donors"]) == expected and set(op["donors"]) <= set(pool)
        if transform["type"] == "Mosaic":
            assert len(set(op["donors"])) == min(3, expected)  # repeats only once the split runs out
            assert out.size == (120, 90)
        assert out.objects.keypoints.shape == (len(out.objects), 2, 3)
        donor_classes = {int(pool[k].objects.classes[0]) for k in op["donors"]}
        assert set(out.objects.classes.tolist()) <= {0} | donor_classes
        brought += bool(set(out.objects.classes.tolist()) & donor_classes)
        json.dumps(ops)  # the manifest can hold it
    assert brought >= 3
    for k, s in {**pool, "me": me}.items():
        np.testing.assert_array_equal(s.image, before[k][0])
        np.testing.assert_array_equal(s.objects.boxes, before[k][1].boxes)


@pytest.mark.parametrize("transform", MIXERS, ids=MIXER_IDS)
def test_without_donors_the_sample_is_kept(transform):
    me = _sample(80, 60, PALETTE[0], 0)
    out, ops, dropped = _augment(me, transform)
    assert ops[0]["op"] == transform["type"] and ops[0]["donors"] == []
    assert len(out.objects) == 1 and dropped == {}
    if transform["type"] == "Mosaic":
        assert out.size == (120, 90)
        cell = ops[0]["cell"]
        assert ops[0]["resized"][cell] is not None and sum(r is not None for r in ops[0]["resized"]) == 1
    else:
        np.testing.assert_array_equal(out.image, me.image)


@pytest.mark.parametrize("transform", MIXERS, ids=MIXER_IDS)
def test_keypoints_survive_joining_with_an_empty_donor(transform):
    """A donor without objects reads as Objects.empty() (no keypoint array): the join must keep ours."""
    me = _sample(80, 60, PALETTE[0], 0)
    empty = Sample(np.full((50, 70, 3), BACKGROUND, np.uint8), Objects.empty(), SCHEMA)
    out, ops, _ = _augment(me, transform, _donors({"e.png": empty}))
    assert out.objects.keypoints is not None and out.objects.keypoints.shape == (len(out.objects), 2, 3)


@pytest.mark.parametrize("transform", MIXERS[:4], ids=MIXER_IDS[:4])
def test_class_maps_move_with_the_pixels(transform):
    """Where a mask says class k, the pixels show object k's colour (blended for MixUp, where two
    classes meet the mask says 255)."""
    me = _sample(80, 60, PALETTE[0], 0, mask=True)
    pool = {"a.png": _sample(100, 50, PALETTE[1], 1, mask=True), "b.png": _sample(64, 64, PALETTE[2], 2, mask=True),
            "c.png": _sample(40, 90, PALETTE[3], 3, mask=True)}
    for seed in range(4):
        out, ops, _ = _augment(me, transform, _donors(pool), seed=seed)
        assert out.mask is not None and out.mask.shape == out.image.shape[:2]
        ratio = ops[0].get("ratio", 1.0)  # MixUp: this image's weight; the donor's is 1 - ratio
        for cls in range(4):
            w = ratio if cls == 0 else (1.0 - ratio if transform["type"] == "MixUp" else 1.0)
            colour = colour_mask(out.image, PALETTE[cls], w)
            labelled = out.mask == cls + 1
            inner = cv2.erode(labelled.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            if inner.any():  # (a sliver of an object at a cell edge has no inside)
                assert colour[inner].mean() > 0.95, (transform, seed, cls)
            assert (colour & ~cv2.dilate(labelled.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)).sum() <= 2


def test_copy_paste_pastes_mask_and_hides_what_it_covers():
    me = _sample(80, 60, PALETTE[0], 0, mask=True)
    donor = _sample(80, 60, PALETTE[1], 1, mask=True)
    out, ops, _ = _augment(me, {"type": "CopyPaste", "placement": "same"}, _donors({"d.png": donor}))
    # the donor's object lands exactly on ours: ours is fully hidden (visibility 0, dropped as out of view)
    assert out.objects.classes.tolist() == [1]
    assert np.array_equal(out.mask, donor.mask) and np.array_equal(out.image, donor.image)
    assert np.all(out.objects.keypoints[0, :, 2] == 2)


def test_mixup_mask_marks_overlapping_classes_ignore():
    me = _sample(80, 60, PALETTE[0], 0, mask=True)
    donor = _sample(160, 120, PALETTE[1], 1, mask=True)  # same place once resized
    out, _, _ = _augment(me, {"type": "MixUp"}, _donors({"d.png": donor}))
    assert set(np.unique(out.mask).tolist()) == {0, 255}


def test_mosaic_grid3_cells_tile_the_canvas():
    me = _sample(80, 60, PALETTE[0], 0)
    pool = {f"{i}.png": _sample(50 + 5 * i, 40 + 3 * i, PALETTE[i + 1], i % 6) for i in range(8)}
    seen_cells = set()
    for seed in range(12):
        out, ops, _ = _augment(me, {"type": "Mosaic", "size": [90, 90], "grid": 3}, _donors(pool), seed=seed)
        op = ops[0]
        seen_cells.add(op["cell"])
        assert op["xs"][0] == 0 and op["xs"][-1] == 90 and all(b > a for a, b in zip(op["xs"], op["xs"][1:]))
        for i, (cw, ch) in enumerate(op["resized"]):
            row, col = divmod(i, 3)
            assert cw >= op["xs"][col + 1] - op["xs"][col] and ch >= op["ys"][row + 1] - op["ys"][row]  # covered
        assert not np.any(np.all(out.image == 0, axis=2))  # no fill anywhere
    assert len(seen_cells) > 3


def test_mosaic_size_too_small_for_grid_is_a_parameter_error():
    with pytest.raises(ParamError, match="at least 3 pixels"):
        build({"type": "Mosaic", "size": [2, 100], "grid": 3})
    with pytest.raises(ParamError, match="size"):
        build({"type": "Mosaic"})


def test_coarse_dropout_hides_keypoints_under_holes():
    me = _sample(80, 60, PALETTE[0], 0)
    hidden = 0
    for seed in range(10):
        out, ops, _ = _augment(me, {"type": "CoarseDropout", "holes": [6, 6], "size": [0.2, 0.3]}, seed=seed)
        covered = np.zeros((60, 80), bool)
        for x, y, w, h in ops[0]["holes"]:
            covered[y:y + h, x:x + w] = True
        assert np.all(out.image[covered] == 0) and np.array_equal(out.image[~covered], me.image[~covered])
        share = covered[15:30, 20:40].mean()  # the object's pixels
        if share == 1.0:
            assert len(out.objects) == 0
            continue
        assert out.objects.visibility[0] == pytest.approx(1.0 - share)
        for (x, y, v), (x0, y0, _) in zip(out.objects.keypoints[0], me.objects.keypoints[0]):
            assert (v == 0) == covered[int(y0), int(x0)]
            hidden += v == 0
    assert hidden > 0


def test_copy_paste_later_objects_cover_earlier_ones():
    """Two donor objects in the same place: whichever is pasted second hides the first completely."""
    me = _sample(80, 60, PALETTE[0], 0)
    me.objects.boxes[0] = [0, 0, 10, 10]  # ours out of the way (its polygon too)
    me.objects.polygons[0] = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    donor = _sample(80, 60, PALETTE[1], 1)
    twin = donor.objects.select(np.array([True]))
    twin.classes[:] = 2
    donor.objects = concat_objects([donor.objects, twin])
    both = 0
    for seed in range(12):
        out, ops, dropped = _augment(me, {"type": "CopyPaste", "placement": "same"}, _donors({"d.png": donor}),
                                     seed=seed)
        pasted = [e["index"] for e in ops[0]["pasted"]]
        assert out.objects.classes.tolist() == [0, int(donor.objects.classes[pasted[-1]])]
        if len(pasted) == 2:
            both += 1
            assert dropped == {"out_of_view": 1}
    assert both > 0

"""Automatic policies and containers, end to end through the CLI, against an independent oracle.

Each input is a grey picture with one red patch (the object) and three coloured dots (its
keypoints; flip_idx swaps the first two). The manifest's ops are replayed by hand with the
formulas their records document (shear about the centre as a tangent, translation in pixels,
rotation in degrees counter-clockwise as displayed, flips about the canvas), and the written
labels must be that replay; where every op is geometric, the red pixels and the dots must be
where the labels say.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from augcli.cli import main

W, H = 96, 72
BG = 100
RED = (0, 0, 255)
DOT_COLOURS = [(0, 255, 0), (255, 0, 0), (255, 255, 0)]  # BGR: left, right, centre
FLIP_IDX = [1, 0, 2]
GEOMETRIC = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"}
MIRRORS = {"HorizontalFlip", "VerticalFlip"}


def write_pose_dataset(root: Path, n: int = 2) -> None:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(n):
        img = np.full((H, W, 3), BG, np.uint8)
        x1, y1, x2, y2 = 30 + 2 * i, 18, 66, 54
        img[y1:y2, x1:x2] = RED
        kps = []
        for (px, py), colour in zip([(x1 + 4, y1 + 5), (x2 - 9, y1 + 5), (x1 + 14, y2 - 10)], DOT_COLOURS):
            img[py:py + 5, px:px + 5] = colour
            kps += [(px + 2.5) / W, (py + 2.5) / H, 2]
        cv2.imwrite(str(root / "images" / f"p{i}.png"), img)
        line = f"0 {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f} "
        (root / "labels" / f"p{i}.txt").write_text(line + " ".join(f"{v:.6f}" for v in kps) + "\n")
    (root / "data.yaml").write_text(yaml.safe_dump(
        {"names": {0: "person"}, "kpt_shape": [3, 3], "flip_idx": FLIP_IDX, "train": "images", "val": "images"}))


def run_cli(tmp_path: Path, pipeline: list, copies: int, name: str = "out", extra=(), src: Path | None = None,
            n_inputs: int = 2) -> Path:
    if src is None:
        src = tmp_path / "in"
        if not src.exists():
            write_pose_dataset(src, n_inputs)
    recipe = tmp_path / f"{name}.yaml"
    recipe.write_text(yaml.safe_dump({"seed": 7, "copies": copies, "keep_original": False,
                                      "labels": {"min_visibility": 0.0, "min_area": 0}, "pipeline": pipeline}))
    out = tmp_path / name
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(src), "-o", str(out), "-q", *extra])
    assert result.exit_code == 0, result.output
    return out


def read_pose(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(box x1 y1 x2 y2 in pixels, keypoints (3, 3) x y v in pixels) of the one object, or None."""
    text = path.read_text().split()
    if not text:
        return None
    v = [float(t) for t in text[1:]]
    cx, cy, bw, bh = v[0] * W, v[1] * H, v[2] * W, v[3] * H
    return np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]), np.array(v[4:]).reshape(-1, 3) * (W, H, 1)


def flat_ops(record: dict) -> list[dict]:
    """The manifest's ops with each policy's inner operations in place, in order."""
    out = []
    for op in record["ops"]:
        out.extend(op["ops"] if "ops" in op else [op])
    return out


def move(name: str, value: float, pts: np.ndarray) -> np.ndarray:
    x, y = pts[:, 0], pts[:, 1]
    cx, cy = W / 2, H / 2
    if name == "Rotate":  # counter-clockwise as displayed, y pointing down
        a = math.radians(value)
        return np.stack([cx + (x - cx) * math.cos(a) + (y - cy) * math.sin(a),
                         cy - (x - cx) * math.sin(a) + (y - cy) * math.cos(a)], 1)
    if name == "ShearX":
        return np.stack([x + value * (y - cy), y], 1)
    if name == "ShearY":
        return np.stack([x, y + value * (x - cx)], 1)
    if name == "TranslateX":
        return np.stack([x + value, y], 1)
    if name == "TranslateY":
        return np.stack([x, y + value], 1)
    if name == "HorizontalFlip":
        return np.stack([W - x, y], 1)
    if name == "VerticalFlip":
        return np.stack([x, H - y], 1)
    raise AssertionError(name)


def clip_to_canvas(poly: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman against [0, W] x [0, H]."""
    pts = [tuple(p) for p in poly]
    for axis, limit, low in ((0, 0.0, True), (0, W, False), (1, 0.0, True), (1, H, False)):
        inside = (lambda p: p[axis] >= limit) if low else (lambda p: p[axis] <= limit)
        kept = []
        for i in range(len(pts)):
            a, b = pts[i - 1], pts[i]
            if inside(b) != inside(a):
                t = (limit - a[axis]) / (b[axis] - a[axis])
                kept.append((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))
            if inside(b):
                kept.append(b)
        pts = kept
        if not pts:
            break
    return np.array(pts).reshape(-1, 2)


def replay(src_label: Path, ops: list[dict]):
    """Expected (box, keypoints, colour index of each keypoint slot) after `ops`, or None when dropped."""
    box, kps = read_pose(src_label)
    poly = np.array([[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]])
    slots = np.arange(3)
    for op in ops:
        name = op["op"]
        if name not in GEOMETRIC | MIRRORS:
            continue
        value = op.get("value", 0.0)
        poly = clip_to_canvas(move(name, value, poly)) if len(poly) else poly
        xy = move(name, value, kps[:, :2])
        gone = (kps[:, 2] == 0) | (xy[:, 0] < 0) | (xy[:, 0] > W) | (xy[:, 1] < 0) | (xy[:, 1] > H)
        kps = np.column_stack([xy, kps[:, 2]])
        kps[gone] = 0.0
        if name in MIRRORS:
            kps, slots = kps[FLIP_IDX], slots[FLIP_IDX]
    if not len(poly):
        return None
    return np.array([*poly.min(0), *poly.max(0)]), kps, slots


def check_output(out: Path, src: Path, record: dict, pixels: bool = True) -> bool:
    """Labels equal the hand replay; when every op is geometric, the pixels agree. Returns whether
    the pixels were judged."""
    ops = flat_ops(record)
    where = f"{record['output']} {ops}"
    expected = replay(src / "labels" / (Path(record["source"]).stem + ".txt"), ops)
    got = read_pose(out / record["label"])
    if expected is None:
        assert got is None, where
        return False
    box, kps, slots = expected
    assert got is not None, f"{where}: object dropped"
    np.testing.assert_allclose(got[0], box, atol=2e-3 * max(W, H), err_msg=where)
    np.testing.assert_allclose(got[1], kps, atol=2e-3 * max(W, H), err_msg=where)
    if not pixels or not all(o["op"] in GEOMETRIC | MIRRORS | {"Identity"} for o in ops):
        return False
    img = cv2.imread(str(out / record["output"])).astype(int)
    red = (img[..., 2] > 200) & (img[..., 1] < 60) & (img[..., 0] < 60)
    ys, xs = np.nonzero(red)
    seen = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    assert np.all(np.abs(seen - got[0]) <= 1.6), f"{where}: red pixels {seen}, box {got[0].round(2)}"
    for slot, colour in enumerate(slots):
        dot = np.all(np.abs(img - DOT_COLOURS[colour]) < 60, axis=2)
        if got[1][slot, 2] > 0 and dot.sum() >= 16:
            centre = np.array([np.nonzero(dot)[1].mean() + 0.5, np.nonzero(dot)[0].mean() + 0.5])
            assert np.hypot(*(centre - got[1][slot, :2])) <= 1.0, (
                f"{where}: keypoint {slot} at {got[1][slot, :2].round(2)}, its dot at {centre.round(2)}")
    return True


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "augcli-manifest.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------- policies at their extremes
@pytest.mark.parametrize("policy, copies", [
    ({"type": "TrivialAugment", "bins": 2, "fill": BG}, 40),  # every magnitude at bin 0 or its widest
    ({"type": "RandAugment", "n": 2, "magnitude": 30, "fill": BG}, 30),  # the strongest bin, twice
    ({"type": "RandAugment", "n": 2, "magnitude": [0, 30], "fill": BG}, 25),
    ({"type": "AutoAugment", "fill": BG}, 30),
])
def test_policy_geometry_replays_exactly_and_matches_the_pixels(tmp_path, policy, copies):
    out = run_cli(tmp_path, [policy], copies)
    signs, judged = set(), 0
    for rec in records(out):
        judged += check_output(out, tmp_path / "in", rec)
        signs |= {(o["op"], np.sign(o["value"])) for o in flat_ops(rec) if o["op"] in GEOMETRIC and o["value"]}
    assert judged >= 5
    if policy["type"] != "AutoAugment":  # both directions of the geometric ops were seen
        assert {s for _, s in signs} == {-1.0, 1.0}


def test_magnitude_zero_moves_nothing(tmp_path):
    out = run_cli(tmp_path, [{"type": "RandAugment", "n": 3, "magnitude": 0, "fill": BG}], 30)
    src = tmp_path / "in"
    judged = 0
    for rec in records(out):
        ops = flat_ops(rec)
        assert all(o.get("value", 0.0) == 0.0 for o in ops if o["op"] in GEOMETRIC)
        before = read_pose(src / "labels" / (Path(rec["source"]).stem + ".txt"))
        after = read_pose(out / rec["label"])
        np.testing.assert_allclose(after[0], before[0], atol=1e-3)
        np.testing.assert_allclose(after[1], before[1], atol=1e-3)
        if all(o["op"] in GEOMETRIC | {"Identity"} or o["op"] in ("Brightness", "Color", "Contrast", "Sharpness", "Posterize")
               for o in ops):  # every op at bin 0 is the identity (Solarize still inverts level 255)
            same = np.array_equal(cv2.imread(str(out / rec["output"])), cv2.imread(str(src / rec["source"])))
            assert same, ops
            judged += 1
    assert judged >= 5


# ---------------------------------------------------------------- containers
NESTED = [{
    "type": "RandomOrder",
    "transforms": [
        {"type": "SomeOf", "n": [0, 3], "transforms": [
            {"type": "OneOf", "weights": [1, 2, 1], "transforms": [
                {"type": "RandAugment", "magnitude": [0, 30], "fill": BG},
                {"type": "TrivialAugment", "fill": BG},
                {"type": "HorizontalFlip"}]},
            {"type": "HorizontalFlip", "p": 0.5},
            {"type": "RandAugment", "n": 2, "magnitude": 30, "fill": BG}]},
        {"type": "VerticalFlip", "p": 0.5},
        {"type": "TrivialAugment", "fill": BG},
    ],
}]


def test_nested_containers_record_the_ops_in_the_order_applied(tmp_path):
    out = run_cli(tmp_path, NESTED, 30)
    mirrored = judged = 0
    for rec in records(out):
        judged += check_output(out, tmp_path / "in", rec)
        mirrored += any(o["op"] in MIRRORS for o in rec["ops"])
        names = [o["op"] for o in rec["ops"]]
        assert names.count("VerticalFlip") <= 1 and names.count("TrivialAugment") >= 1
    assert judged >= 5 and mirrored >= 10


def test_zero_weight_child_and_zero_p_container_never_apply(tmp_path):
    pipeline = [
        {"type": "OneOf", "weights": [0, 1], "transforms": [{"type": "VerticalFlip"}, {"type": "HorizontalFlip"}]},
        {"type": "SomeOf", "p": 0.0, "n": 1, "transforms": [{"type": "Rotate90"}]},
        {"type": "SomeOf", "n": [0, 0], "transforms": [{"type": "Rotate90"}]},
    ]
    out = run_cli(tmp_path, pipeline, 12)
    for rec in records(out):
        assert rec["ops"] == [{"op": "HorizontalFlip"}]
        check_output(out, tmp_path / "in", rec)


def test_outputs_identical_across_workers_and_limit_prefix(tmp_path):
    src = tmp_path / "in"
    write_pose_dataset(src, 4)
    one = run_cli(tmp_path, NESTED, 2, "w1", ["-w", "1"], src=src)
    two = run_cli(tmp_path, NESTED, 2, "w2", ["-w", "2"], src=src)
    part = run_cli(tmp_path, NESTED, 2, "lim", ["-w", "2", "--limit", "2"], src=src)
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file() and p.parent.name in ("images", "labels"))
    assert len(files) == 16
    for f in files:
        assert (one / f).read_bytes() == (two / f).read_bytes(), f
    limited = sorted(p.relative_to(part) for p in part.rglob("*") if p.is_file() and p.parent.name in ("images", "labels"))
    assert len(limited) == 8
    for f in limited:
        assert (one / f).read_bytes() == (part / f).read_bytes(), f
    by_output = {r["output"]: r["ops"] for r in records(one)}
    assert all(by_output[r["output"]] == r["ops"] for r in records(two) + records(part))


# ---------------------------------------------------------------- bad recipes
def validate(tmp_path: Path, text: str):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["validate", str(path)])
    return result.exit_code, result.stderr


@pytest.mark.parametrize("entry, line, fragment", [
    ("{type: SomeOf, transforms: []}", 4,
     "pipeline[0].transforms[0].n: expected n with lo <= 0 (the number of transforms), got [1, 2]"),
    ("{type: SomeOf, n: 2, transforms: []}", 4,
     "pipeline[0].transforms[0].n: expected n with lo <= 0 (the number of transforms), got [2, 2]"),
    ("{type: OneOf, weights: [1, -1], transforms: [{type: RandAugment}, {type: TrivialAugment}]}", 4,
     "pipeline[0].transforms[0].weights: expected non-negative weights with a positive sum, got [1, -1]"),
    ("{type: OneOf, weights: [0, 0], transforms: [{type: RandAugment}, {type: TrivialAugment}]}", 4,
     "pipeline[0].transforms[0].weights: expected non-negative weights with a positive sum, got [0, 0]"),
    ("{type: SomeOf, n: [3, 4], transforms: [{type: RandAugment}, {type: AutoAugment}]}", 4,
     "pipeline[0].transforms[0].n: expected n with lo <= 2 (the number of transforms), got [3, 4]"),
    ("{type: OneOf, transforms: [{type: RandAugmnt}]}", 4,
     "pipeline[0].transforms[0].transforms[0].type: unknown transform 'RandAugmnt'; did you mean RandAugment"),
    ("{type: RandAugment, magnitude: [0, 31]}", 4,
     "pipeline[0].transforms[0].magnitude: magnitude bins run from 0 to bins - 1 = 30, got [0, 31]"),
])
def test_bad_container_and_policy_entries_name_path_and_line(tmp_path, entry, line, fragment):
    code, err = validate(tmp_path, f"pipeline:\n  - type: RandomOrder\n    transforms:\n      - {entry}\n")
    assert code == 2
    assert f"r.yaml:{line} {fragment}" in err
    assert "Traceback" not in err


def test_some_of_without_children_is_valid_when_n_allows_none(tmp_path):
    code, err = validate(tmp_path, "pipeline:\n  - {type: SomeOf, n: [0, 0], transforms: []}\n")
    assert code == 0, err
    code, err = validate(tmp_path, "pipeline:\n  - {type: SomeOf}\n")  # the missing list is the one error
    assert code == 2 and err.strip() == "augcli: recipe error: r.yaml:2 pipeline[0]: SomeOf needs `transforms:`, a list of transforms"

"""Automatic policies (RandAugment, TrivialAugment, AutoAugment): their tables, their kernels against
PIL, and labels through their geometric operations by a pixel oracle.

The oracle cannot go by colour (Equalize, Invert, Solarize... change every colour), so it goes
by shape: objects are separated patches on a flat background; after the pipeline, every
connected region that is not background must lie inside a label, and every label must hold
such a region that fills it (boxes) or overlaps it (polygons). The background is the most
common colour, or the fill (set to the original background grey), or a blend of the two
along the edge of the picture. Keypoints: dots of other colours inside the person's patch.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image, ImageEnhance, ImageOps

from augcli.api import run as api_run
from augcli.errors import ParamError
from augcli.job import augment_sample
from augcli.kernels import auto as k
from augcli.recipe import Recipe
from augcli.sample import LabelPolicy, LabelSchema, Objects, Sample
from augcli.transforms.auto import IMAGENET_POLICY, GEOMETRIC_OPS
from augcli.transforms.meta import Sequential
from augcli.transforms.registry import build

W, H = 160, 120
GREY = 128
COLOURS = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255), (255, 255, 0), (255, 255, 255)]
BOXES = [(14, 14, 50, 42), (96, 18, 140, 48), (46, 70, 92, 104)]
SHAPES = [
    [(0.0, 0.0), (1.0, 0.2), (0.45, 1.0)],
    [(0.0, 0.0), (1.0, 0.0), (1.0, 0.4), (0.45, 0.4), (0.45, 1.0), (0.0, 1.0)],
    [(0.2, 0.0), (1.0, 0.25), (0.85, 1.0), (0.1, 0.9), (0.0, 0.4)],
]
PERSON = (48, 22, 112, 98)
DOTS = [(0.3, 0.2), (0.7, 0.5), (0.35, 0.8)]
DOT = 5
BG_TOL = 8  # levels: a pixel this close to the background line is background


def _raster(pts, w, h, sub=8):
    canvas = np.zeros((h, w), np.uint8)
    shifted = np.round((np.asarray(pts, np.float64) - 0.5) * sub).astype(np.int32)
    cv2.fillPoly(canvas, [shifted], 1, lineType=cv2.LINE_8, shift=int(np.log2(sub)))
    return canvas.astype(bool)


def write_dataset(root: Path, kind: str, n: int = 3) -> None:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(n):
        img = np.full((H, W, 3), GREY, np.uint8)
        dx, dy = 4 * i - 4, 3 * i - 3
        lines = []
        if kind == "pose":
            x1, y1, x2, y2 = PERSON[0] + dx, PERSON[1] + dy, PERSON[2] + dx, PERSON[3] + dy
            img[y1:y2, x1:x2] = COLOURS[i % 3]
            kps = []
            for j, (fx, fy) in enumerate(DOTS):
                px, py = int(x1 + fx * (x2 - x1)), int(y1 + fy * (y2 - y1))
                img[py:py + DOT, px:px + DOT] = COLOURS[3 + j]
                kps += [f"{(px + DOT / 2) / W:.6f}", f"{(py + DOT / 2) / H:.6f}", "2"]
            lines.append(f"0 {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f} "
                         + " ".join(kps))
        else:
            for c, (x1, y1, x2, y2) in enumerate(BOXES):
                x1, y1, x2, y2 = x1 + dx, y1 + dy, x2 + dx, y2 + dy
                colour = COLOURS[(c + i) % len(COLOURS)]
                if kind == "detect":
                    img[y1:y2, x1:x2] = colour
                    lines.append(f"{c} {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} "
                                 f"{(y2 - y1) / H:.6f}")
                else:
                    pts = np.array([(x1 + u * (x2 - x1), y1 + v * (y2 - y1)) for u, v in SHAPES[c]])
                    img[_raster(pts, W, H)] = colour
                    lines.append(f"{c} " + " ".join(f"{x / W:.6f} {y / H:.6f}" for x, y in pts))
        cv2.imwrite(str(root / "images" / f"scene{i}.png"), img)
        (root / "labels" / f"scene{i}.txt").write_text("\n".join(lines) + "\n")
    data = {"names": {0: "person"}, "kpt_shape": [3, 3], "flip_idx": [0, 2, 1]} if kind == "pose" else {
        "names": {0: "a", 1: "b", 2: "c"}}
    (root / "data.yaml").write_text(yaml.safe_dump({**data, "train": "images", "val": "images"}))


def run_pipeline(tmp_path: Path, kind: str, transform: dict, copies: int) -> Path:
    src, out = tmp_path / "in", tmp_path / "out"
    write_dataset(src, kind)
    recipe = {"version": 1, "seed": 5, "copies": copies, "pipeline": [transform],
              "labels": {"min_visibility": 0.0, "min_area": 1}, "keep_original": False}
    report = api_run(recipe, src, out, workers=1, log=lambda line: None)
    assert report.exit_code == 0, report.skipped
    return out


def read_labels(path: Path, w: int, h: int, kind: str) -> list[dict]:
    rows = []
    for line in path.read_text().splitlines():
        vals = line.split()
        nums = np.array([float(v) for v in vals[1:]])
        if kind == "segment":
            pts = nums.reshape(-1, 2) * (w, h)
            rows.append({"poly": pts, "box": np.array([*pts.min(0), *pts.max(0)])})
        else:
            cx, cy, bw, bh = nums[:4]
            row = {"box": np.array([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h])}
            if kind == "pose":
                row["kps"] = nums[4:].reshape(-1, 3) * (w, h, 1)
            rows.append(row)
    return rows


# ---------------------------------------------------------------- the shape oracle
def background_distance(img: np.ndarray, recoloured: bool = False) -> np.ndarray:
    """(H, W) levels from the background: the most common colour, the fill grey, or a blend of the two
    (along the edge of the picture, when a colour operation came before the geometry).

    `recoloured`: a colour operation came before the geometry, which may have changed the picture's
    background from the fill grey. Then, when the fill is the most common colour (geometry that
    moves the picture far, or twice) and some other colour covers more than any object can (30%
    of the image: the largest object, the person, covers 25%), that colour is the background."""
    fill = np.full(3, GREY, np.float64)
    flat = img.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    order = np.argsort(-counts)
    bg = colours[order[0]].astype(np.float64)
    if recoloured and np.all(bg == fill) and len(order) > 1 and counts[order[1]] > 0.3 * len(flat):
        bg = colours[order[1]].astype(np.float64)
    px = img.astype(np.float64)
    d = fill - bg
    t = np.clip(((px - bg) @ d) / max(float(d @ d), 1e-9), 0.0, 1.0)
    return np.max(np.abs(px - (bg + t[..., None] * d)), axis=2)


def background(img: np.ndarray, recoloured: bool = False) -> np.ndarray:
    return background_distance(img, recoloured) <= BG_TOL


def half_covered(distance: np.ndarray, obj: np.ndarray) -> np.ndarray:
    """The pixels of an object region at least half as far from the background as its interior:
    edge pixels at least about half covered by the object, so their extent is the shape's."""
    return obj & (distance >= 0.5 * np.percentile(distance[obj], 90))


def regions(mask: np.ndarray, min_px: int = 12) -> list[np.ndarray]:
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return [lab == i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_px]


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


def pixel_box(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


def check_shapes(img: np.ndarray, labels: list[dict], where: str, loose: float, stretched: bool = False,
                 recoloured: bool = False) -> None:
    h, w = img.shape[:2]
    distance = background_distance(img, recoloured)
    objects = regions(distance > BG_TOL)
    grown = [label_region(lab, w, h, grow=2) for lab in labels]
    for obj in objects:
        inside = [(obj & g).sum() / obj.sum() for g in grown]
        assert inside and max(inside) >= 0.9, f"{where}: an object at {pixel_box(obj)} has no label around it"
    for lab, g in zip(labels, grown):
        x1, y1, x2, y2 = lab["box"]
        if (x2 - x1) * (y2 - y1) < 40 or min(x2 - x1, y2 - y1) < 4:
            continue  # a sliver at the border
        mine = [obj for obj in objects if (obj & g).sum() / obj.sum() >= 0.9]
        assert mine, f"{where}: label {lab['box'].round(1)} has nothing under it"
        union = np.any(mine, axis=0)
        got = pixel_box(np.any([half_covered(distance, obj) for obj in mine], axis=0))
        # a polygon's source pixels (centre inside) reach up to half a pixel past its outline; a
        # level map after the geometry (Equalize, Solarize...) can make a slightly covered edge pixel look full
        cut = (2.0 if "poly" in lab else 1.5) + (1.0 if stretched else 0.0)
        assert np.all(lab["box"][:2] <= got[:2] + cut) and np.all(lab["box"][2:] >= got[2:] - cut), (
            f"{where}: label {lab['box'].round(1)} cuts its object {got}")
        if "poly" in lab:
            area = label_region(lab, w, h)
            iou = (area & union).sum() / (area | union).sum()
            assert iou > 0.75, f"{where}: polygon overlaps its object by IoU {iou:.2f}"
        else:
            assert np.all(lab["box"][:2] >= got[:2] - loose) and np.all(lab["box"][2:] <= got[2:] + loose), (
                f"{where}: label {lab['box'].round(1)} is loose around its object {got}")


def check_dots(img: np.ndarray, labels: list[dict], where: str, recoloured: bool = False) -> int:
    """Each visible keypoint sits on a dot inside its person; each whole dot has a visible keypoint."""
    h, w = img.shape[:2]
    bg = background(img, recoloured)
    checked = 0
    for lab in labels:
        region = label_region(lab, w, h) & ~bg
        if region.sum() < 200:
            continue
        colours, counts = np.unique(img[region], axis=0, return_counts=True)
        person = colours[np.argmax(counts)].astype(np.int16)
        body = np.all(np.abs(img.astype(np.int16) - person) <= 3, axis=2) & label_region(lab, w, h, grow=1)
        contours, _ = cv2.findContours(body.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        filled = np.zeros((h, w), np.uint8)
        cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
        interior = cv2.erode(filled, np.ones((3, 3), np.uint8), iterations=2).astype(bool)
        dots = [d for d in regions(interior & ~body, min_px=4)]
        centres = [np.array([np.nonzero(d)[1].mean() + 0.5, np.nonzero(d)[0].mean() + 0.5]) for d in dots]
        visible = [kp[:2] for kp in lab["kps"] if kp[2] > 0]
        for kp in visible:
            if min(kp[0], kp[1], w - kp[0], h - kp[1]) < DOT:
                continue  # its dot is cut by the edge of the picture: not surrounded by the person
            dist = min((np.hypot(*(c - kp)) for c in centres), default=np.inf)
            assert dist <= 2.0, f"{where}: keypoint at {kp.round(1)} is not on a dot ({[c.round(1) for c in centres]})"
            checked += 1
        for c, d in zip(centres, dots):
            if d.sum() >= 15:
                dist = min((np.hypot(*(c - kp)) for kp in visible), default=np.inf)
                assert dist <= 2.0, f"{where}: a dot at {c.round(1)} has no visible keypoint"
    return checked


LEVEL_MAPS = ("Equalize", "Solarize", "Posterize", "AutoContrast", "Contrast", "Sharpness")


def _judged(ops: list[dict]) -> bool:
    """Outputs the shape oracle can judge: some geometric operation, and no enhance operation that
    squeezes every colour towards grey or black."""
    geometric = any(o["op"] in GEOMETRIC_OPS for o in ops)
    squeezed = any(o["op"] in ("Brightness", "Color", "Contrast") and 1.0 + o["value"] < 0.35 for o in ops)
    return geometric and not squeezed


AUTO_CASES = [
    ({"type": "RandAugment", "fill": GREY}, 8),
    ({"type": "RandAugment", "n": 3, "magnitude": [5, 30], "fill": GREY}, 6),
    ({"type": "TrivialAugment", "fill": GREY}, 14),
    ({"type": "AutoAugment", "fill": GREY}, 30),
]


@pytest.mark.parametrize("kind", ["detect", "segment", "pose"])
@pytest.mark.parametrize("transform,copies", AUTO_CASES, ids=[c[0]["type"] + str(i) for i, c in enumerate(AUTO_CASES)])
def test_labels_follow_the_geometric_operations(tmp_path, transform, copies, kind):
    out = run_pipeline(tmp_path, kind, transform, copies)
    judged = dots = 0
    names = set()
    for line in (out / "augcli-manifest.jsonl").read_text().splitlines():
        rec = json.loads(line)
        (op,) = rec["ops"]
        assert op["op"] == transform["type"]
        names |= {o["op"] for o in op["ops"]}
        if not _judged(op["ops"]):
            continue
        img = cv2.imread(str(out / rec["output"]))
        labels = read_labels(out / rec["label"], W, H, kind)
        where = f"{rec['output']} {op['ops']}"
        geometric_at = [i for i, o in enumerate(op["ops"]) if o["op"] in GEOMETRIC_OPS]
        stretched = any(o["op"] in LEVEL_MAPS for o in op["ops"][geometric_at[0]:])
        recoloured = any(o["op"] != "Identity" for o in op["ops"][:geometric_at[0]])
        check_shapes(img, labels, where, loose=3.0, stretched=stretched, recoloured=recoloured)
        if kind == "pose" and not any(o["op"] == "Solarize" for o in op["ops"]):
            dots += check_dots(img, labels, where, recoloured)
        judged += 1
    assert judged >= 5, f"only {judged} outputs with a geometric operation"
    assert names & set(GEOMETRIC_OPS)
    if kind == "pose":
        assert dots >= 6


# ---------------------------------------------------------------- tables and parameters
SCHEMA = LabelSchema(names={0: "a"}, kpt_shape=(1, 3), flip_idx=(0,))


def _sample() -> Sample:
    img = np.full((60, 80, 3), GREY, np.uint8)
    img[10:30, 20:50] = (0, 0, 255)
    objs = Objects(np.array([0]), np.array([[20.0, 10.0, 50.0, 30.0]]), [None], np.array([[[30.0, 20.0, 2.0]]]))
    return Sample(img, objs, SCHEMA)


def _augment(transform: dict, seed: int = 0, sample: Sample | None = None):
    recipe = Recipe(pipeline=Sequential(transforms=[transform]), seed=seed,
                    labels=LabelPolicy(min_visibility=0.0, min_area=0.0))
    return augment_sample(sample or _sample(), recipe, "x.png", 1)


def _ops_by_name(transform: dict, seeds: int = 200) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for seed in range(seeds):
        _, ops, _ = _augment(transform, seed)
        for o in ops[0]["ops"]:
            found.setdefault(o["op"], []).append(o)
    return found


def test_randaugment_magnitudes_are_torchvisions_bin_9_of_31():
    found = _ops_by_name({"type": "RandAugment"})
    assert set(found) == {"Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
                          "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize"}
    expected = {"ShearX": 0.09, "ShearY": 0.09, "TranslateX": 150 / 331 * 80 * 9 / 30,
                "TranslateY": 150 / 331 * 60 * 9 / 30, "Rotate": 9.0, "Brightness": 0.27, "Color": 0.27,
                "Contrast": 0.27, "Sharpness": 0.27, "Posterize": 7, "Solarize": 178.5}
    for name, value in expected.items():
        assert all(abs(o["value"]) == pytest.approx(value, abs=1e-6) for o in found[name]), name
        assert all(o["bin"] == 9 for o in found[name])
        signs = {np.sign(o["value"]) for o in found[name]}
        assert signs == ({-1.0, 1.0} if name not in ("Posterize", "Solarize") else {1.0}), name
    assert all("value" not in o for o in found["Equalize"] + found["Identity"])


def test_randaugment_ops_per_image_and_magnitude_range():
    for seed in range(20):
        _, ops, _ = _augment({"type": "RandAugment", "n": 3, "magnitude": [0, 4], "bins": 5}, seed)
        assert len(ops[0]["ops"]) == 3
        assert all(0 <= o.get("bin", 0) <= 4 for o in ops[0]["ops"])
    with pytest.raises(ParamError, match="bins - 1 = 30"):
        build({"type": "RandAugment", "magnitude": 31})


def test_trivial_augment_wide_ranges():
    found = _ops_by_name({"type": "TrivialAugment"}, seeds=400)
    assert all(len(v) for v in found.values()) and len(found) == 14
    top = {"ShearX": 0.99, "TranslateX": 32.0, "Rotate": 135.0, "Brightness": 0.99, "Posterize": 2, "Solarize": 0.0}
    for name, value in top.items():
        for o in found[name]:
            assert abs(o["value"]) == pytest.approx(
                value * o["bin"] / 30 if name not in ("Posterize", "Solarize") else
                (8 - round(o["bin"] / 5) if name == "Posterize" else 255 - 8.5 * o["bin"]), abs=1e-6)
    assert max(o["bin"] for v in found.values() for o in v if "bin" in o) > 25


def test_auto_augment_follows_the_imagenet_policy():
    assert len(IMAGENET_POLICY) == 25
    rows = set()
    for seed in range(150):
        _, ops, _ = _augment({"type": "AutoAugment"}, seed)
        op = ops[0]
        row = IMAGENET_POLICY[op["sub_policy"]]
        rows.add(op["sub_policy"])
        names = [o["op"] for o in op["ops"]]
        assert names in ([a[0] for a in row], [row[0][0]], [row[1][0]], [])
        for o in op["ops"]:
            bins = {b for n, _, b in row if n == o["op"]}
            if o["op"] == "Posterize":
                assert {o["value"]} <= {8 - round(b / 2.25) for b in bins}
            if o["op"] == "Rotate":
                assert any(abs(o["value"]) == pytest.approx(30 * b / 9, abs=1e-5) for b in bins)
    assert len(rows) >= 20


def test_photometric_only_outputs_keep_labels_and_geometric_ones_move_them():
    moved = kept = 0
    for seed in range(40):
        out, ops, _ = _augment({"type": "RandAugment", "n": 1}, seed)
        name = ops[0]["ops"][0]["op"]
        same = np.array_equal(out.objects.boxes, _sample().objects.boxes)
        if name in GEOMETRIC_OPS:
            assert not same, name
            moved += 1
        else:
            assert same and np.array_equal(out.objects.keypoints, _sample().objects.keypoints), name
            kept += 1
    assert moved and kept


def test_same_seed_same_result_and_manifest_is_json():
    a = _augment({"type": "TrivialAugment"}, 3)
    b = _augment({"type": "TrivialAugment"}, 3)
    assert a[1] == b[1] and np.array_equal(a[0].image, b[0].image)
    json.dumps(a[1])


# ---------------------------------------------------------------- kernels against PIL
def _photo(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:48, 0:64]
    base = np.stack([30 + 2 * xs, 50 + 3 * ys, 200 - xs - ys], axis=-1)
    return np.clip(base + rng.normal(0, 20, (48, 64, 3)), 0, 255).astype(np.uint8)


def _pil(img: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(img[..., ::-1]))  # BGR -> RGB


def _back(im: Image.Image) -> np.ndarray:
    return np.asarray(im)[..., ::-1]


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_kernels_match_pil(seed):
    img = _photo(seed)
    assert np.array_equal(k.equalize_image(img), _back(ImageOps.equalize(_pil(img))))
    assert np.array_equal(k.autocontrast_image(img), _back(ImageOps.autocontrast(_pil(img))))
    assert np.array_equal(k.invert_image(img), _back(ImageOps.invert(_pil(img))))
    for bits in (1, 4, 7, 8):
        assert np.array_equal(k.posterize_image(img, bits), _back(ImageOps.posterize(_pil(img), bits)))
    for threshold in (0, 100, 178.5, 255):
        assert np.array_equal(k.solarize_image(img, threshold), _back(ImageOps.solarize(_pil(img), threshold)))


@pytest.mark.parametrize("factor", [0.1, 0.6, 1.0, 1.7])
@pytest.mark.parametrize("name", ["Brightness", "Color", "Contrast", "Sharpness"])
def test_enhance_kernels_match_pil_within_rounding(name, factor):
    img = _photo()
    ours = getattr(k, f"{name.lower()}_image")(img, factor).astype(int)
    theirs = _back(getattr(ImageEnhance, name)(_pil(img)).enhance(factor)).astype(int)
    assert np.abs(ours - theirs).max() <= 2, name
    if factor == 1.0:
        assert np.array_equal(ours, img)


@pytest.mark.parametrize("name,value,expected", [
    ("ShearX", 0.2, (30 + 0.2 * (20 - 30), 20)),  # x' = x + m (y - cy): about the centre (40, 30)
    ("ShearY", -0.3, (30, 20 - 0.3 * (30 - 40))),
    ("TranslateX", 7.5, (37.5, 20)),
    ("TranslateY", -4.0, (30, 16)),
    ("Rotate", 90.0, (40 + (20 - 30), 30 - (30 - 40))),  # counter-clockwise as displayed (y down)
])
def test_geometric_operations_mean_what_their_records_say(name, value, expected):
    from augcli.transforms.base import AugmentState

    state = AugmentState(_sample())
    build({"type": "RandAugment"}).apply(state, {"ops": [{"op": name, "value": value}]})
    out = state.finish()
    np.testing.assert_allclose(out.objects.keypoints[0, 0, :2], expected, atol=1e-9)

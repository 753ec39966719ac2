"""The common catalogue: Perspective, crops, resizes and pads; colour and blur transforms.

Geometry is checked by the colour-patch oracle of test_oracle.py (labels against where their
colour ended up in the written pixels) and by a blob oracle (a keypoint against its blob's
centroid); photometric transforms must leave labels byte-identical, and each kernel is
spot-checked on a picture whose answer is known."""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from augcli.errors import ParamError
from augcli.kernels import blur_noise as blur_kernels
from augcli.kernels import color as color_kernels
from augcli.kernels.geometric import _to_opencv_convention, warp_image
from augcli.sample import LabelSchema, Objects, Sample
from augcli.transforms import base as transforms_base


def _load(name: str):
    """A sibling test module, for its helpers (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"_catalogue_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


oracle = _load("test_oracle")
tt = _load("test_transforms")
build, run, make_sample, make_image = tt.build, tt.run, tt.make_sample, tt.make_image
KEEP_ALL = tt.KEEP_ALL

NEW_GEOMETRIC = ["Perspective", "RandomCrop", "CenterCrop", "RandomSizedBBoxSafeCrop", "LongestMaxSize",
                 "PadIfNeeded", "Letterbox"]
NEW_PHOTOMETRIC = ["ColorJitter", "Gamma", "CLAHE", "Equalize", "Grayscale", "ChannelShuffle", "Posterize",
                   "Solarize", "Sharpen", "MedianBlur"]


# ---------------------------------------------------------------- geometry: the colour-patch oracle
# The oracle's pictures are 240 x 180 (width x height): saturated colour patches on grey, written
# by test_oracle.py's helpers and augmented by the real CLI. Sizes below are [height, width].
ORACLE_CASES = [
    [{"type": "Perspective"}],
    [{"type": "Perspective", "scale": [0.1, 0.15]}],
    [{"type": "Perspective", "scale": 0.12, "p": 0.5}, {"type": "HorizontalFlip", "p": 0.5}],
    [{"type": "RandomCrop", "size": [140, 200]}],
    [{"type": "RandomCrop", "size": [220, 300]}],  # larger than the image: padded
    [{"type": "RandomCrop", "size": [100, 260], "p": 0.5}],  # rows cropped, columns padded
    [{"type": "CenterCrop", "size": [120, 160]}],
    [{"type": "CenterCrop", "size": [201, 199]}],
    [{"type": "RandomSizedBBoxSafeCrop", "size": [150, 200]}],
    [{"type": "Rotate", "degrees": [-15, 15]}, {"type": "RandomSizedBBoxSafeCrop", "size": [180, 180], "erosion_rate": 0.2}],
    [{"type": "LongestMaxSize", "max_size": 400}],
    [{"type": "LongestMaxSize", "max_size": 200, "p": 0.5}],
    [{"type": "PadIfNeeded", "min_size": [256, 256]}],
    [{"type": "PadIfNeeded", "min_size": [200, 320], "position": "random", "fill": [0, 0, 0]}],
    [{"type": "PadIfNeeded", "min_size": [100, 100], "position": "top_left"}],  # already large enough
    [{"type": "Letterbox", "size": [320, 320]}],
    [{"type": "Letterbox", "size": [128, 384], "p": 0.5}],
    [{"type": "Perspective"}, {"type": "RandomCrop", "size": [160, 200]}, {"type": "HorizontalFlip"},
     {"type": "Letterbox", "size": [256, 256]}],
]
ORACLE_IDS = [("+".join(t["type"] for t in case) + f"-{i}") for i, case in enumerate(ORACLE_CASES)]
COPIES = 6
EDGE_TOL = 2.0  # px between a label box edge and the outermost pixel showing its colour
GREY_SPREAD = 24  # levels: how unequal channels may be and still count as one grey level
# A shape clipped by a slanted border ends in a thin wedge whose tip covers too little of any pixel
# to show; the part hidden below a share s is s / slope px long (about 1.4 px for the shallowest
# wedges here at 5%), so the threshold is low. The pictures are lossless and noiseless.
MIN_SHARE = 0.05


def _touched(img: np.ndarray, colour) -> np.ndarray:
    """Pixels showing at least MIN_SHARE of a saturated `colour` blended with any grey (the
    background, black or a fill), so anti-aliased edges and thin slivers count. A blend of colour
    C with grey g at share t has g + t(255 - g) in C's full channels and g(1 - t) in its empty
    ones: the difference is 255 t, and each group's channels stay equal."""
    full = np.array(colour) > 127
    px = img.astype(np.int16)
    on, off = px[..., full], px[..., ~full]
    grey_blend = (np.ptp(on, axis=-1) <= GREY_SPREAD) & (np.ptp(off, axis=-1) <= GREY_SPREAD)
    return grey_blend & (on.mean(axis=-1) - off.mean(axis=-1) >= MIN_SHARE * 255)


def _check_boxes(img: np.ndarray, boxes_by_cls: dict, classes) -> None:
    """Each label box covers its colour's solid pixels (within 1 px) and its edges lie within
    EDGE_TOL of the outermost pixels showing the colour at all: not cut, not loose. A colour
    clearly present has a label; a label has its colour (nothing missing, nothing phantom)."""
    for cls in classes:
        core = oracle._pixel_box(oracle._core(img, oracle.PALETTE[cls]))
        seen = oracle._pixel_box(_touched(img, oracle.PALETTE[cls]))
        label = boxes_by_cls.get(cls)
        if label is None:
            assert core is None or (core[2] - core[0]) * (core[3] - core[1]) < 30, f"class {cls}: visible ({core}) but no label"
            continue
        lw, lh = label[2] - label[0], label[3] - label[1]
        if seen is None:
            assert lw * lh < 2, f"class {cls}: label {label} but its colour is gone (phantom)"
            continue
        if core is not None:
            assert np.all(label[:2] <= core[:2] + 1.0) and np.all(label[2:] >= core[2:] - 1.0), (
                f"class {cls}: label {label} cuts the object {core}")
        assert np.all(np.abs(label - seen) <= EDGE_TOL), f"class {cls}: label {label}, colour seen over {seen}"


def _outputs(out: Path):
    for rec in oracle._records(out):
        img = cv2.imread(str(out / rec["output"]))
        h, w = img.shape[:2]
        yield rec, img, oracle._read_labels(out / rec["label"], w, h)


@pytest.mark.parametrize("pipeline", ORACLE_CASES, ids=ORACLE_IDS)
def test_boxes_follow_their_colour(tmp_path, pipeline):
    out = oracle._run(tmp_path, "detect", pipeline, copies=COPIES)
    checked = 0
    for rec, img, labels in _outputs(out):
        h, w = img.shape[:2]
        by_cls = {cls: oracle._yolo_box(vals, w, h) for cls, vals in labels}
        assert len(by_cls) == len(labels), "one object per colour in this dataset"
        _check_boxes(img, by_cls, range(len(oracle.BOXES)))
        checked += 1
    assert checked == 3 * (COPIES + 1)


@pytest.mark.parametrize("pipeline", ORACLE_CASES, ids=ORACLE_IDS)
def test_polygons_follow_their_colour(tmp_path, pipeline):
    """test_oracle.py's own check: every polygon overlaps its colour (IoU > 0.85), every vertex is on the
    canvas, every colour visible is labelled."""
    oracle.test_polygons_follow_their_colour(tmp_path, pipeline, None)


@pytest.mark.parametrize("pipeline", ORACLE_CASES, ids=ORACLE_IDS)
def test_keypoints_follow_their_dots(tmp_path, pipeline):
    """Each labelled keypoint sits on its dot (within 1.5 px of the dot's centroid) and an unlabelled
    one has no dot in view. A dot cut by the canvas border has no reliable centroid: there the
    keypoint, if labelled, must lie on the dot's visible part, and it may be unlabelled."""
    out = oracle._run(tmp_path, "pose", pipeline, copies=COPIES)
    mirrors = 0
    for rec, img, labels in _outputs(out):
        h, w = img.shape[:2]
        (cls, vals), = labels
        _check_boxes(img, {0: oracle._yolo_box(vals, w, h)}, [0])
        kps = vals[4:].reshape(3, 3) * (w, h, 1)
        mirrored = oracle._is_reflection(rec["ops"])
        mirrors += mirrored
        for j in range(3):
            slot = oracle.FLIP_IDX[j] if mirrored else j  # after a mirror, dot j is labelled as flip_idx[j]
            x, y, v = kps[slot]
            dot = oracle._core(img, oracle.PALETTE[1 + j])
            box = oracle._pixel_box(dot)
            cut = box is not None and (box[0] == 0 or box[1] == 0 or box[2] == w or box[3] == h)
            if v == 0:
                assert x == 0 and y == 0
                assert cut or dot.sum() < 6, f"{rec['output']}: dot {j} in view but keypoint {slot} unlabelled"
            elif cut:
                assert box[0] - 1 <= x <= box[2] + 1 and box[1] - 1 <= y <= box[3] + 1, (
                    f"{rec['output']}: keypoint {slot} at {(x, y)} off its cut dot {box}")
            else:
                assert box is not None, f"{rec['output']}: keypoint {slot} labelled but its dot is gone"
                ys, xs = np.nonzero(dot)
                centre = np.array([xs.mean() + 0.5, ys.mean() + 0.5])
                assert np.hypot(*(centre - (x, y))) < 1.5, f"{rec['output']}: keypoint {slot} at {(x, y)}, dot at {centre}"
    if any(t["type"] == "HorizontalFlip" for t in pipeline):
        assert mirrors > 0, "the case should exercise at least one mirror"


def test_every_new_geometric_transform_is_in_the_oracle_cases():
    covered = {t["type"] for pipeline in ORACLE_CASES for t in pipeline}
    assert set(NEW_GEOMETRIC) <= covered


# ---------------------------------------------------------------- geometry: the blob oracle
BLOB_CASES = [
    ("Perspective", {"scale": [0.1, 0.15]}),
    ("Perspective", {}),
    ("RandomCrop", {"size": [90, 110]}),
    ("RandomCrop", {"size": [200, 250]}),
    ("CenterCrop", {"size": [77, 133]}),
    ("RandomSizedBBoxSafeCrop", {"size": [64, 64]}),
    ("LongestMaxSize", {"max_size": 97}),
    ("LongestMaxSize", {"max_size": 333}),
    ("PadIfNeeded", {"min_size": [161, 203], "position": "random"}),
    ("Letterbox", {"size": [150, 150], "fill": 0}),
    ("Letterbox", {"size": [101, 300], "fill": 0}),
]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name,kwargs", BLOB_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BLOB_CASES)])
def test_keypoint_sits_on_its_blob(name, kwargs, seed):
    """Sub-pixel check: wherever the transform puts the blob's pixels, the keypoint is at their centroid."""
    sample = tt._blob_sample(70.3, 52.8)
    out, ops, _ = run(sample, build(name, **kwargs), seed=seed, labels=KEEP_ALL)
    x, y, v = out.objects.keypoints[0, 0]
    img = out.image[..., 0].astype(float)
    zoom = max(1.0, out.size[0] / sample.size[0])
    if v == 0 or min(x, y, img.shape[1] - x, img.shape[0] - y) < 15 * zoom:  # 5 blob sigmas
        pytest.skip("blob at or past the border for this seed")
    ys, xs = np.mgrid[0:img.shape[0], 0:img.shape[1]] + 0.5
    centroid = ((img * xs).sum() / img.sum(), (img * ys).sum() / img.sum())
    np.testing.assert_allclose(centroid, (x, y), atol=0.35, err_msg=repr(ops))


# ---------------------------------------------------------------- geometry: exact placements
def _boxes_sample(w: int, h: int, boxes, seed: int = 0) -> Sample:
    objs = Objects(np.arange(len(boxes)), np.array(boxes, float), [None] * len(boxes),
                   attrs=[{"id": i} for i in range(len(boxes))])
    return Sample(make_image(w, h, seed), objs, LabelSchema(names={i: str(i) for i in range(len(boxes))}))


def test_center_crop_is_the_central_slice():
    sample = _boxes_sample(160, 120, [[40, 30, 90, 70]])
    out, ops, _ = run(sample, build("CenterCrop", size=[50, 81]))
    left, top = (160 - 81) // 2, (120 - 50) // 2
    assert ops[0]["crop"] == [left, top, 81, 50]
    np.testing.assert_array_equal(out.image, sample.image[top:top + 50, left:left + 81])
    np.testing.assert_allclose(out.objects.boxes[0], [40 - left, 0, 90 - left, 70 - top])  # clipped at the top


@pytest.mark.parametrize("name", ["RandomCrop", "CenterCrop"])
def test_crop_larger_than_the_image_pads_with_fill(name):
    """Decision: a crop larger than the image pads (never an error): the output is exactly `size`,
    the image is copied intact (no resampling) and the rest is `fill`."""
    sample = _boxes_sample(40, 30, [[5, 5, 20, 25]])
    offsets = set()
    for seed in range(12):
        out, ops, _ = run(sample, build(name, size=[50, 64], fill=[1, 2, 3]), seed=seed)
        left, top, w, h = ops[0]["crop"]
        assert (w, h) == (64, 50) and out.image.shape == (50, 64, 3)
        assert -24 <= left <= 0 and -20 <= top <= 0
        np.testing.assert_array_equal(out.image[-top:-top + 30, -left:-left + 40], sample.image)
        border = np.ones((50, 64), bool)
        border[-top:-top + 30, -left:-left + 40] = False
        assert np.all(out.image[border] == [1, 2, 3])
        np.testing.assert_allclose(out.objects.boxes[0], [5 - left, 5 - top, 20 - left, 25 - top])
        offsets.add((left, top))
    if name == "CenterCrop":
        assert offsets == {(-12, -10)}
    else:
        assert len(offsets) > 6


def test_random_crop_windows_stay_inside_and_vary():
    sample = _boxes_sample(100, 80, [[0, 0, 100, 80]])
    seen = set()
    for seed in range(40):
        out, ops, _ = run(sample, build("RandomCrop", size=[30, 45]), seed=seed)
        left, top, w, h = ops[0]["crop"]
        assert 0 <= left <= 55 and 0 <= top <= 50
        np.testing.assert_array_equal(out.image, sample.image[top:top + 30, left:left + 45])
        seen.add((left, top))
    assert len(seen) > 30


@pytest.mark.parametrize("position", ["center", "top_left", "random"])
def test_pad_if_needed_places_the_image_exactly(position):
    sample = _boxes_sample(50, 40, [[10, 10, 30, 20]])
    placements = set()
    for seed in range(10):
        out, ops, _ = run(sample, build("PadIfNeeded", min_size=[64, 48], position=position, fill=9), seed=seed)
        left, top = ops[0]["left"], ops[0]["top"]
        assert out.image.shape == (64, 50, 3) and left == 0  # width 50 already >= 48: not padded
        np.testing.assert_array_equal(out.image[top:top + 40], sample.image)
        assert np.all(out.image[:top] == 9) and np.all(out.image[top + 40:] == 9)
        np.testing.assert_allclose(out.objects.boxes[0], [10, 10 + top, 30, 20 + top])
        placements.add(top)
    expected = {"center": {12}, "top_left": {0}}.get(position)
    if expected is None:
        assert len(placements) > 3 and placements <= set(range(25))
    else:
        assert placements == expected


def test_pad_if_needed_leaves_a_large_image_alone():
    sample = make_sample()
    out, _, _ = run(sample, build("PadIfNeeded", min_size=[50, 50], position="random"))
    assert out.image.tobytes() == sample.image.tobytes()
    tt.assert_same_objects(out.objects, sample.objects)


@pytest.mark.parametrize("size,expected", [((1280, 720), (1024, 576)), ((720, 1280), (576, 1024)),
                                           ((100, 50), (1024, 512)), ((333, 333), (1024, 1024))])
def test_longest_max_size_scales_the_longer_side(size, expected):
    sample = _boxes_sample(*size, [[0, 0, size[0] / 2, size[1]]])
    out, _, _ = run(sample, build("LongestMaxSize"))
    assert out.size == expected
    np.testing.assert_allclose(out.objects.boxes[0], [0, 0, expected[0] / 2, expected[1]])


def test_letterbox_fits_then_pads_centred_like_yolo():
    sample = _boxes_sample(1280, 720, [[0, 0, 1280, 720], [100, 200, 300, 400]])
    out, _, _ = run(sample, build("Letterbox"))
    assert out.size == (640, 640)
    top = (640 - 360) // 2
    assert np.all(out.image[:top] == 114) and np.all(out.image[top + 360:] == 114)
    assert not np.any(np.all(out.image[top:top + 360] == 114, axis=(1, 2)))
    np.testing.assert_allclose(out.objects.boxes, [[0, top, 640, top + 360], [50, top + 100, 150, top + 200]])
    tall = _boxes_sample(30, 90, [[0, 0, 30, 90]])
    out, _, _ = run(tall, build("Letterbox", size=[45, 100], fill=0))  # scale 0.5: 15 x 45, padded left and right
    assert out.size == (100, 45)
    np.testing.assert_allclose(out.objects.boxes[0], [42, 0, 57, 45])
    assert np.all(out.image[:, :42] == 0) and np.all(out.image[:, 57:] == 0)


def test_perspective_moves_corners_as_recorded_and_keeps_straight_lines():
    """The image's corners land on the recorded moved corners, and a straight row of dots stays on a line."""
    w, h = 200, 150
    xs = np.linspace(20, 180, 9)
    kps = np.stack([xs, np.full(9, 40.0), np.full(9, 2.0)], axis=1)[None]
    corners = np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])
    objs = Objects(np.array([0, 0]), np.array([[0, 0, w, h], [50, 60, 150, 120]], float), [corners, None],
                   np.concatenate([kps, np.zeros((1, 9, 3))]))
    sample = Sample(make_image(w, h), objs, LabelSchema(names={0: "a"}, kpt_shape=(9, 3)))
    for seed in range(10):
        out, ops, _ = run(sample, build("Perspective", scale=[0.05, 0.15]), seed=seed, labels=KEEP_ALL)
        moved = corners + np.array(ops[0]["corners"]) * (w, h)
        inside = (moved >= 0).all(axis=1) & (moved <= (w, h)).all(axis=1)
        poly = out.objects.polygons[0]
        for corner in moved[inside]:  # a corner moved inwards is a vertex of the (clipped) polygon
            assert np.min(np.hypot(*(poly - corner).T)) < 1e-3
        pts = out.objects.keypoints[0][out.objects.keypoints[0, :, 2] > 0, :2]
        assert len(pts) >= 5
        d = pts[-1] - pts[0]
        rel = pts - pts[0]
        off_line = np.abs(d[0] * rel[:, 1] - d[1] * rel[:, 0]) / np.hypot(*d)
        assert off_line.max() < 1e-6
        assert not np.allclose(np.diff(pts[:, 0]), np.diff(pts[:, 0])[0], atol=1e-3)  # spacing is projective


def _counting_warps(monkeypatch) -> list:
    calls = []

    def counting_warp(image, matrix, out_size, **kw):
        calls.append(out_size)
        return warp_image(image, matrix, out_size, **kw)

    monkeypatch.setattr(transforms_base, "warp_image", counting_warp)
    return calls


def test_geometry_that_cuts_nothing_fuses_into_one_resampling(monkeypatch):
    """Pads, resizes, letterboxes, flips, quarter turns and a perspective onto a canvas holding the
    whole picture lose no pixel: a chain of them (same fill) resamples the image once."""
    calls = _counting_warps(monkeypatch)
    chain = [build("PadIfNeeded", min_size=[200, 200], position="random"), build("LongestMaxSize", max_size=300),
             build("HorizontalFlip"), build("Rotate90"), build("Letterbox", size=[256, 256], fill=0),
             build("Resize", size=[90, 120])]
    out, ops, _ = run(make_sample(), *chain, seed=3, labels=KEEP_ALL)
    assert [o["op"] for o in ops] == [t.name for t in chain]
    assert calls == [(120, 90)] and out.size == (120, 90)


def test_geometry_after_a_cut_is_applied_to_what_the_cut_left(monkeypatch):
    """A crop (or anything that leaves pixels off its canvas) followed by more geometry gives what the
    steps give one at a time: the next step must not bring back what the crop cut away (fused into
    one map, a pad after a crop would show the cropped-off pixels again)."""
    steps = [build("CenterCrop", size=[60, 80]), build("PadIfNeeded", min_size=[120, 160]),
             build("Rotate", degrees=30.0), build("CenterCrop", size=[100, 100])]
    sample = make_sample()
    together, _, _ = run(sample, *steps, labels=KEEP_ALL)
    one_by_one = sample
    for step in steps:
        one_by_one, _, _ = run(one_by_one, step, labels=KEEP_ALL)
    diff = np.abs(together.image.astype(int) - one_by_one.image)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3  # a pad fused into the turn may round a pixel apart
    np.testing.assert_allclose(together.objects.boxes, one_by_one.objects.boxes, atol=1e-6)
    np.testing.assert_allclose(together.objects.keypoints, one_by_one.objects.keypoints, atol=1e-6)
    # the padding around the 80x60 crop is black fill, not the picture
    padded, _, _ = run(sample, *steps[:2], labels=KEEP_ALL)
    assert padded.size == (160, 120)
    assert not padded.image[:30].any() and not padded.image[90:].any()
    assert not padded.image[:, :40].any() and not padded.image[:, 120:].any()


def test_whole_pixel_shift_fast_path_matches_warp_affine():
    """Crops and pads go through a copy instead of warpAffine: byte for byte the same result."""
    rng = np.random.default_rng(0)
    for i in range(200):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        img = rng.integers(0, 256, (h, w, 3) if i % 3 else (h, w), dtype=np.uint8)
        tx, ty = (int(v) for v in rng.integers(-50, 50, 2))
        out_size = tuple(int(v) for v in rng.integers(1, 60, 2))
        fill = [0, 114, (10, 20, 30)][i % 3]
        m = np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])
        for interpolation, flag in (("linear", cv2.INTER_LINEAR), ("nearest", cv2.INTER_NEAREST)):
            channels = 1 if img.ndim == 2 else 3
            border = tuple([float(fill)] * channels) if np.isscalar(fill) else tuple(float(v) for v in fill)
            ref = cv2.warpAffine(img, _to_opencv_convention(m)[:2], out_size, flags=flag,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=border)
            got = warp_image(img, m, out_size, fill=fill, interpolation=interpolation)
            assert got.shape == ref.shape and np.array_equal(got, ref), (h, w, tx, ty, out_size, fill)


# ---------------------------------------------------------------- RandomSizedBBoxSafeCrop
def _scattered_objects(w: int, h: int, rng: np.random.Generator) -> Objects:
    n = int(rng.integers(1, 5))
    x1 = rng.uniform(0, w - 10, n)
    y1 = rng.uniform(0, h - 10, n)
    boxes = np.stack([x1, y1, x1 + rng.uniform(2, w - x1), y1 + rng.uniform(2, h - y1)], axis=1)
    boxes[:, 2:] = np.minimum(boxes[:, 2:], (w, h))
    polygons = [None] * n
    polygons[0] = np.array([[boxes[0, 0], boxes[0, 1]], [boxes[0, 2], boxes[0, 1]], [boxes[0, 0], boxes[0, 3]]])
    return Objects(np.zeros(n, int), boxes, polygons, attrs=[{"id": i} for i in range(n)])


@pytest.mark.parametrize("before", [[], [{"type": "Rotate", "degrees": [-20, 20]}, {"type": "HorizontalFlip", "p": 0.5}]],
                         ids=["alone", "after-pending-geometry"])
def test_bbox_safe_crop_keeps_every_object_whole(before):
    """Over many seeds and layouts, every object survives with visibility 1 and its box is the input's
    (after any earlier geometry) moved by the crop's own scale and offset."""
    rng = np.random.default_rng(0)
    cropped = 0
    for seed in range(150):
        w, h = int(rng.integers(40, 300)), int(rng.integers(40, 300))
        sample = Sample(make_image(w, h, seed), _scattered_objects(w, h, rng), LabelSchema(names={0: "a"}))
        pre = [build(t["type"], **{k: v for k, v in t.items() if k != "type"}) for t in before]
        ref, _, _ = run(sample, *pre, seed=seed, labels=KEEP_ALL)  # the same draws as before the crop
        out, ops, _ = run(sample, *pre, build("RandomSizedBBoxSafeCrop", size=[64, 96]), seed=seed, labels=KEEP_ALL)
        assert out.size == (96, 64)
        assert len(out.objects) == len(ref.objects)
        np.testing.assert_allclose(out.objects.visibility, ref.objects.visibility, rtol=1e-9)
        if not before:
            assert np.all(out.objects.visibility == 1.0)
        left, top, cw, ch = ops[-1]["crop"]
        live = ref.objects.boxes[ref.objects.visibility > 0]
        assert 0 <= left and 0 <= top and left + cw <= ref.size[0] and top + ch <= ref.size[1]
        assert np.all(live[:, :2] >= (left - 1e-9, top - 1e-9)) and np.all(live[:, 2:] <= (left + cw + 1e-9, top + ch + 1e-9))
        scale = np.array([96 / cw, 64 / ch] * 2)
        expected = (ref.objects.boxes - [left, top, left, top]) * scale
        np.testing.assert_allclose(out.objects.boxes[ref.objects.visibility > 0], expected[ref.objects.visibility > 0],
                                   atol=1e-6)
        cropped += (cw, ch) != ref.size
    assert cropped > 100  # the windows really are random, not the whole image


def test_bbox_safe_crop_erosion_may_cut_into_the_joint_box():
    sample = _boxes_sample(200, 160, [[20, 30, 60, 70], [120, 90, 190, 150]])
    union = np.array([20, 30, 190, 150], float)
    cut = 0
    for seed in range(60):
        out, ops, _ = run(sample, build("RandomSizedBBoxSafeCrop", size=[50, 50], erosion_rate=0.5), seed=seed,
                          labels=KEEP_ALL)
        left, top, cw, ch = ops[0]["crop"]
        ex, ey = (union[2] - union[0]) * 0.25, (union[3] - union[1]) * 0.25
        assert left <= union[0] + ex and top <= union[1] + ey  # the eroded joint box is inside
        assert left + cw >= union[2] - ex and top + ch >= union[3] - ey
        cut += bool(np.any(out.objects.visibility < 1.0))
    assert cut > 0


def test_bbox_safe_crop_without_objects_is_a_random_crop_of_the_image_shape():
    sample = Sample(make_image(200, 100), Objects.empty(), LabelSchema())
    crops = set()
    for seed in range(30):
        out, ops, _ = run(sample, build("RandomSizedBBoxSafeCrop", size=[40, 60]), seed=seed)
        left, top, cw, ch = ops[0]["crop"]
        assert out.size == (60, 40)
        assert 100 <= cw <= 200 and 50 <= ch <= 100 and abs(cw / ch - 2.0) < 0.05
        assert 0 <= left <= 200 - cw and 0 <= top <= 100 - ch
        crops.add((left, top, cw, ch))
    assert len(crops) > 20


# ---------------------------------------------------------------- photometric: labels untouched
@pytest.mark.parametrize("name", NEW_PHOTOMETRIC)
def test_photometric_transform_keeps_labels_shape_and_dtype(name):
    sample = make_sample()
    sample = Sample(sample.image, sample.objects, sample.schema, mask=(sample.image[..., 0] > 100).astype(np.uint8))
    before = (sample.objects.boxes.tobytes(), sample.objects.keypoints.tobytes(), sample.objects.visibility.tobytes(),
              [p.tobytes() for p in sample.objects.polygons if p is not None], sample.mask.tobytes())
    for seed in range(6):
        out, ops, dropped = run(sample, build(name), seed=seed)
        assert dropped == {} and [o["op"] for o in ops] == [name]
        assert out.image.shape == sample.image.shape and out.image.dtype == np.uint8
        after = (out.objects.boxes.tobytes(), out.objects.keypoints.tobytes(), out.objects.visibility.tobytes(),
                 [p.tobytes() for p in out.objects.polygons if p is not None], out.mask.tobytes())
        assert after == before
        assert out.objects.attrs == sample.objects.attrs


# ---------------------------------------------------------------- photometric: kernel spot-checks
def _image(img: np.ndarray) -> Sample:
    return Sample(img, Objects.empty(), LabelSchema())


def _ramp(lo: int = 0, hi: int = 255, w: int = 256, h: int = 8) -> np.ndarray:
    row = np.linspace(lo, hi, w).round().astype(np.uint8)
    return np.repeat(np.repeat(row[None, :, None], h, axis=0), 3, axis=2)


def test_solarize_inverts_at_and_above_the_threshold():
    img = make_image(64, 48)
    out = run(_image(img), build("Solarize", threshold=100))[0].image
    expected = np.where(img >= 100, 255 - img, img)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(run(_image(img), build("Solarize", threshold=256))[0].image, img)


@pytest.mark.parametrize("bits", [1, 4, 7])
def test_posterize_leaves_two_to_the_bits_levels(bits):
    out = run(_image(_ramp()), build("Posterize", bits=bits))[0].image
    levels = np.unique(out)
    assert len(levels) == 2**bits
    assert np.all(levels % 2 ** (8 - bits) == 0)
    assert np.all(out <= _ramp()) and np.all(_ramp().astype(int) - out < 2 ** (8 - bits))


def test_posterize_eight_bits_is_the_identity():
    img = make_image(40, 30)
    np.testing.assert_array_equal(run(_image(img), build("Posterize", bits=8))[0].image, img)


def test_grayscale_channels_are_equal_luma():
    img = make_image(64, 48)
    out = run(_image(img), build("Grayscale"))[0].image
    assert out.shape == img.shape
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    np.testing.assert_array_equal(out[..., 0], cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))


def test_channel_shuffle_is_the_recorded_permutation():
    img = make_image(32, 24)
    orders = set()
    for seed in range(30):
        out, ops, _ = run(_image(img), build("ChannelShuffle"), seed=seed)
        order = ops[0]["order"]
        assert sorted(order) == [0, 1, 2]
        np.testing.assert_array_equal(out.image, img[..., order])
        orders.add(tuple(order))
    assert len(orders) == 6


def test_gamma_one_is_the_identity_and_below_one_brightens():
    img = make_image(40, 30)
    np.testing.assert_array_equal(run(_image(img), build("Gamma", gamma=1.0))[0].image, img)
    grey = np.full((4, 4, 3), 128, np.uint8)
    assert np.all(run(_image(grey), build("Gamma", gamma=0.5))[0].image == 181)  # 255 * (128/255) ** 0.5
    assert np.all(run(_image(grey), build("Gamma", gamma=2.0))[0].image == 64)


def _low_contrast(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = make_image(128, 96, seed).astype(float)
    return np.clip(100 + (img - img.mean()) * 0.1 + rng.normal(0, 1, img.shape), 0, 255).astype(np.uint8)


def test_equalize_spreads_a_low_contrast_image():
    img = _low_contrast()
    out = run(_image(img), build("Equalize"))[0].image
    luma_in, luma_out = (cv2.cvtColor(i, cv2.COLOR_BGR2GRAY) for i in (img, out))
    assert np.ptp(luma_in) < 60 and np.ptp(luma_out) > 200
    assert luma_out.std() > 3 * luma_in.std()
    # luma order is kept: a brighter input pixel is never darker after
    order = np.argsort(luma_in.ravel(), kind="stable")
    assert np.all(np.diff(luma_out.ravel()[order].astype(int)) >= -2)


def test_clahe_raises_local_contrast_and_keeps_grey_grey():
    img = _low_contrast()
    out = run(_image(img), build("CLAHE", clip_limit=4.0))[0].image
    assert cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).std() > 2 * cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).std()
    grey = np.repeat(img[..., 1:2], 3, axis=2)
    g_out = run(_image(grey), build("CLAHE", clip_limit=4.0))[0].image
    assert np.abs(g_out.astype(int) - g_out[..., 1:2]).max() <= 1


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (7, 200)])
def test_clahe_on_images_smaller_than_its_grid(shape):
    img = make_image(shape[1], shape[0])
    out = color_kernels.clahe_image(img, 2.0, 8)
    assert out.shape == img.shape and out.dtype == np.uint8


def test_color_jitter_neutral_factors_are_the_identity():
    img = make_image(64, 48)
    t = build("ColorJitter", brightness=1.0, contrast=1.0, saturation=1.0, hue=0.0)
    for seed in range(5):
        np.testing.assert_array_equal(run(_image(img), t, seed=seed)[0].image, img)


def test_color_jitter_draws_a_random_order_of_the_four():
    img = make_image(32, 24)
    orders = set()
    for seed in range(40):
        _, ops, _ = run(_image(img), build("ColorJitter"), seed=seed)
        assert sorted(ops[0]["order"]) == sorted(color_kernels.JITTER_OPS)
        orders.add(tuple(ops[0]["order"]))
    assert len(orders) > 10


def test_color_jitter_adjustments_match_torchvision_formulas():
    img = make_image(64, 48)
    f = img.astype(float)
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(float)[..., None]
    cases = {
        "brightness": (1.3, f * 1.3),
        "contrast": (0.6, color_kernels.mean_luma(img) + (f - color_kernels.mean_luma(img)) * 0.6),
        "saturation": (0.4, grey + (f - grey) * 0.4),
    }
    for op, (factor, expected) in cases.items():
        kwargs = {"brightness": 1.0, "contrast": 1.0, "saturation": 1.0, op: factor}
        out = color_kernels.color_jitter_image(img, [op], hue=0.0, **kwargs)
        assert np.abs(out.astype(float) - np.clip(expected, 0, 255)).max() <= 1.0, op
    zero = color_kernels.color_jitter_image(img, ["saturation"], 1.0, 1.0, 0.0, 0.0)
    assert np.array_equal(zero[..., 0], zero[..., 1]) and np.array_equal(zero[..., 1], zero[..., 2])
    # order matters: brighten-then-grey differs from grey-then-contrast... applied in the order given
    a = color_kernels.color_jitter_image(img, ["brightness", "contrast"], 1.5, 0.5, 1.0, 0.0)
    b = color_kernels.color_jitter_image(img, ["contrast", "brightness"], 1.5, 0.5, 1.0, 0.0)
    assert not np.array_equal(a, b)


def test_sharpen_alpha_zero_is_the_identity_and_sharpening_raises_edge_contrast():
    img = make_image(64, 48)
    np.testing.assert_array_equal(run(_image(img), build("Sharpen", alpha=0.0))[0].image, img)
    flat = np.full((20, 20, 3), 90, np.uint8)
    np.testing.assert_array_equal(run(_image(flat), build("Sharpen", alpha=0.5, lightness=1.0))[0].image, flat)
    step = np.full((20, 20, 3), 80, np.uint8)
    step[:, 10:] = 160
    out = run(_image(step), build("Sharpen", alpha=0.5, lightness=1.0))[0].image
    assert out[0, 9, 0] < 80 and out[0, 10, 0] > 160  # overshoot either side of the edge
    np.testing.assert_array_equal(out[:, :8], step[:, :8])


def test_median_blur_removes_salt_and_pepper_and_draws_odd_sizes():
    rng = np.random.default_rng(0)
    img = np.full((40, 40, 3), 120, np.uint8)
    spots = rng.random((40, 40)) < 0.05
    img[spots] = 255
    out = run(_image(img), build("MedianBlur", ksize=3))[0].image
    assert np.all(out == 120)
    sizes = {run(_image(img), build("MedianBlur", ksize=[2, 8]), seed=s)[1][0]["ksize"] for s in range(40)}
    assert sizes == {3, 5, 7}
    assert blur_kernels.median_blur_image(img, 1).tobytes() == img.tobytes()
    with pytest.raises(ParamError):
        build("MedianBlur", ksize=4)


# ---------------------------------------------------------------- cost
COST_ARGS = {
    "RandomCrop": {"size": [640, 640]}, "CenterCrop": {"size": [640, 640]},
    "RandomSizedBBoxSafeCrop": {"size": [640, 640]}, "PadIfNeeded": {"min_size": [1024, 1280]},
}


def test_cost_at_1280x720(capsys):
    """Prints the time of each new transform on a 1280x720 sample (median of 15, after a warm-up);
    nothing is asserted about time. See it with `pytest -s -k cost`."""
    sample = make_sample(1280, 720)
    baseline = _median_ms(lambda s: run(sample, build("HorizontalFlip", p=0.0), seed=s))
    lines = [f"{'(pipeline overhead, nothing applied)':<28} {baseline:6.2f} ms"]
    for name in NEW_GEOMETRIC + NEW_PHOTOMETRIC:
        t = build(name, **COST_ARGS.get(name, {}))
        ms = _median_ms(lambda s: run(sample, t, seed=s))
        lines.append(f"{name:<28} {ms:6.2f} ms")
        out, _, _ = run(sample, t)
        assert out.image.dtype == np.uint8
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def _median_ms(fn, n: int = 15) -> float:
    fn(0)
    times = []
    for seed in range(n):
        t0 = time.perf_counter()
        fn(seed)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)

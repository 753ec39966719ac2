"""Transforms through augment_sample: every registered transform on a sample carrying boxes,
polygons and keypoints; label invariants; determinism; containers; fused geometry; and the
photometric kernels measured on flat images."""
from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import pytest

from augcli.job import augment_sample
from augcli.kernels import color as color_kernels
from augcli.recipe import Recipe
from augcli.sample import LabelPolicy, LabelSchema, Objects, Sample
from augcli.transforms.base import REQUIRED, GeometricTransform, PhotometricTransform, Transform
from augcli.transforms.meta import Container, Sequential
from augcli.transforms.params import Size
from augcli.transforms.registry import registry

SCHEMA = LabelSchema(names={0: "person", 1: "car", 2: "scene"}, kpt_shape=(3, 3), flip_idx=(0, 2, 1))
K = 3  # keypoints per object
CHILDREN = [{"type": "HorizontalFlip"}, {"type": "BrightnessContrast"}]
OUT_HW = [48, 64]  # [height, width] for transforms that need a size
SEEDS = [0, 1, 7, 12345]
KEEP_ALL = LabelPolicy(min_visibility=0.0, min_area=0.0)


# ---------------------------------------------------------------- builders
def build(name: str, **overrides) -> Transform:
    """A registered transform with its defaults; containers get CHILDREN, required sizes get OUT_HW."""
    cls = registry()[name]
    kwargs: dict = {}
    if issubclass(cls, Container):
        kwargs["transforms"] = CHILDREN
    for key, spec in cls.params.items():
        if spec.default is REQUIRED:
            assert isinstance(spec, Size), f"test needs a value for required parameter {name}.{key}"
            kwargs[key] = OUT_HW
    kwargs.update(overrides)
    return cls(**kwargs)


def recipe_of(*transforms: Transform, seed: int = 0, labels: LabelPolicy | None = None) -> Recipe:
    return Recipe(pipeline=Sequential(transforms=list(transforms)), seed=seed, labels=labels or LabelPolicy())


def make_image(w: int, h: int, seed: int = 0, grey: bool = False) -> np.ndarray:
    """A smooth colour gradient plus texture, so every transform visibly changes something."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w]
    base = np.stack([40 + 150 * xs / max(w - 1, 1), 60 + 120 * ys / max(h - 1, 1),
                     200 - 120 * (xs + ys) / max(w + h - 2, 1)], axis=-1)
    img = np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    if grey:
        img = np.repeat(img[..., 1:2], 3, axis=2)
    return img


def make_objects(w: int, h: int) -> Objects:
    """Three objects, identified by attrs['id']: a box-only person with three keypoints, a polygon car,
    and a full-frame 'scene' box (so that no crop can remove every object)."""
    person_box = [0.15 * w, 0.1 * h, 0.5 * w, 0.8 * h]
    car = np.array([[0.6 * w, 0.2 * h], [0.9 * w, 0.25 * h], [0.85 * w, 0.6 * h], [0.7 * w, 0.7 * h],
                    [0.55 * w, 0.45 * h]])
    car_box = [car[:, 0].min(), car[:, 1].min(), car[:, 0].max(), car[:, 1].max()]
    kps = np.array([
        [[0.32 * w, 0.2 * h, 2], [0.4 * w, 0.25 * h, 2], [0.25 * w, 0.25 * h, 1]],
        [[0.7 * w, 0.4 * h, 2], [0, 0, 0], [0.8 * w, 0.5 * h, 2]],
        [[0.5 * w, 0.5 * h, 2], [0, 0, 0], [0, 0, 0]],
    ], float)
    return Objects(np.array([0, 1, 2]), np.array([person_box, car_box, [0, 0, w, h]], float),
                   [None, car, None], kps, attrs=[{"id": 0}, {"id": 1}, {"id": 2}])


def make_sample(w: int = 160, h: int = 120, seed: int = 0, grey: bool = False) -> Sample:
    return Sample(make_image(w, h, seed, grey), make_objects(w, h), SCHEMA)


def op_names(ops: list[dict]) -> list[str]:
    return [o["op"] for o in ops]


def run(sample: Sample, *transforms: Transform, seed: int = 0, key: str = "a/img.jpg", copy: int = 1,
        labels: LabelPolicy | None = None):
    return augment_sample(sample, recipe_of(*transforms, seed=seed, labels=labels), key, copy)


def assert_valid_output(sample_in: Sample, out: Sample) -> None:
    """Output image is uint8 BGR; every label is finite, on the canvas, and one of the input's objects."""
    img = out.image
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    w, h = out.size
    objs = out.objects
    n = len(objs)
    assert np.all(np.isfinite(objs.boxes)) and np.all(np.isfinite(objs.visibility))
    assert np.all((objs.visibility > 0) & (objs.visibility <= 1))
    b = objs.boxes
    assert np.all((b[:, 0] >= 0) & (b[:, 2] <= w) & (b[:, 1] >= 0) & (b[:, 3] <= h)), b
    assert np.all((b[:, 0] <= b[:, 2]) & (b[:, 1] <= b[:, 3])), b
    for poly in objs.polygons:
        if poly is not None:
            assert np.all(np.isfinite(poly))
            assert np.all((poly >= 0) & (poly <= [w, h])), poly
    assert objs.keypoints is not None and objs.keypoints.shape == (n, K, 3)
    kp = objs.keypoints
    assert np.all(np.isfinite(kp))
    labelled = kp[..., 2] > 0
    pts = kp[labelled][:, :2]
    assert np.all((pts >= 0) & (pts <= [w, h])), pts
    np.testing.assert_array_equal(kp[~labelled], 0.0)
    # every output object is one of the input objects, in input order, with its class and kind intact
    ids = [a["id"] for a in objs.attrs]
    assert ids == sorted(set(ids)) and set(ids) <= {0, 1, 2}
    for i, oid in enumerate(ids):
        assert objs.classes[i] == sample_in.objects.classes[oid]
        assert (objs.polygons[i] is None) == (sample_in.objects.polygons[oid] is None)


def assert_same_objects(a: Objects, b: Objects) -> None:
    np.testing.assert_array_equal(a.classes, b.classes)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.visibility, b.visibility)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    assert len(a.polygons) == len(b.polygons)
    for p, q in zip(a.polygons, b.polygons):
        assert (p is None) == (q is None)
        if p is not None:
            np.testing.assert_array_equal(p, q)
    assert a.attrs == b.attrs


ALL_NAMES = sorted(registry())
LEAF_NAMES = [n for n in ALL_NAMES if not issubclass(registry()[n], Container)]
PHOTOMETRIC = [n for n in ALL_NAMES if issubclass(registry()[n], PhotometricTransform)]
GEOMETRIC = [n for n in ALL_NAMES if issubclass(registry()[n], GeometricTransform)]
CHILD_NAMES = [c["type"] for c in CHILDREN]


def test_registry_is_what_these_tests_expect():
    # a leaf is photometric (pixels only) or geometric (one matrix), unless its family is one whose
    # transforms combine images, run policies, or apply non-linear maps (each tested in its own file)
    others = set(LEAF_NAMES) - set(PHOTOMETRIC) - set(GEOMETRIC)
    assert {registry()[n].family for n in others} <= {"mixing", "auto", "camera"}, others
    assert {"Sequential", "OneOf", "SomeOf", "RandomOrder"} <= set(ALL_NAMES)


def assert_ops_fit(name: str, ops: list[dict]) -> None:
    names = op_names(ops)
    if name not in {"Sequential", "OneOf", "SomeOf", "RandomOrder"}:
        assert names == [name]  # default p is 1: applied once, recorded under its own name
        return
    assert set(names) <= set(CHILD_NAMES) and len(names) == len(set(names))
    if name == "Sequential":
        assert names == CHILD_NAMES
    elif name == "OneOf":
        assert len(names) == 1
    elif name == "SomeOf":  # default n = [1, 2], recipe order kept
        assert 1 <= len(names) <= 2 and names == [c for c in CHILD_NAMES if c in names]
    elif name == "RandomOrder":
        assert sorted(names) == sorted(CHILD_NAMES)


# ---------------------------------------------------------------- every registered transform
@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_transform_with_defaults_keeps_labels_valid(name):
    t = build(name)
    sample = make_sample()
    before = sample.image.copy()
    for seed, policy in [(s, LabelPolicy(bbox_rotate=shape)) for s in SEEDS for shape in ("corners", "ellipse")]:
        out, ops, dropped = run(sample, t, seed=seed, labels=policy)
        assert_valid_output(sample, out)
        assert_ops_fit(name, ops)
        assert len(out.objects) + sum(dropped.values()) == len(sample.objects)
        if name == "Resize" or name == "RandomResizedCrop":
            assert out.size == (OUT_HW[1], OUT_HW[0])
    np.testing.assert_array_equal(sample.image, before)  # the input is never modified


@pytest.mark.parametrize("shape", [(120, 160, "grey"), (8, 8, "tiny"), (16, 1024, "wide"), (1024, 16, "tall")],
                         ids=lambda s: s[2])
@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_transform_on_odd_images(name, shape):
    h, w, kind = shape
    sample = make_sample(w, h, grey=kind == "grey")
    t = build(name)
    for seed in SEEDS[:2]:
        out, ops, _ = run(sample, t, seed=seed, labels=KEEP_ALL)
        assert_valid_output(sample, out)
        assert_ops_fit(name, ops)
        assert 2 in [a["id"] for a in out.objects.attrs]  # the full-frame object always survives
        if kind == "grey" and issubclass(registry()[name], GeometricTransform):
            # geometry never mixes channels, so a grey picture stays grey
            assert np.array_equal(out.image[..., 0], out.image[..., 1])
            assert np.array_equal(out.image[..., 1], out.image[..., 2])


def test_all_objects_dropped_from_a_pose_sample():
    """A shift that moves every object off the canvas must give an empty (0, K, 3) keypoint array, not an error."""
    sample = Sample(make_image(100, 80), Objects(np.array([0]), np.array([[10.0, 10.0, 40.0, 40.0]]), [None],
                                                 np.array([[[20.0, 20.0, 2.0], [30.0, 20.0, 2.0], [25, 30, 2.0]]])),
                    SCHEMA)
    out, ops, dropped = run(sample, build("Affine", translate=0.9))
    assert len(out.objects) == 0
    assert out.objects.keypoints.shape == (0, K, 3)
    assert dropped == {"out_of_view": 1}


# ---------------------------------------------------------------- label invariants
@pytest.mark.parametrize("name", PHOTOMETRIC)
def test_photometric_transforms_never_change_labels(name):
    sample = make_sample()
    changed = False
    for seed in SEEDS:
        out, ops, dropped = run(sample, build(name), seed=seed)
        assert dropped == {}
        assert out.size == sample.size
        assert_same_objects(out.objects, sample.objects)
        changed |= not np.array_equal(out.image, sample.image)
    assert changed, f"{name} with defaults never changed a pixel"


@pytest.mark.parametrize("name", GEOMETRIC)
def test_geometric_transforms_with_p0_change_nothing(name):
    sample = make_sample()
    for seed in SEEDS:
        out, ops, _ = run(sample, build(name, p=0.0), seed=seed)
        assert ops == []
        assert out.image.tobytes() == sample.image.tobytes() and out.image.shape == sample.image.shape
        assert_same_objects(out.objects, sample.objects)


def test_identity_geometry_does_not_resample():
    """Affine's defaults and a 0-degree Rotate are the identity: pixels must come back byte for byte."""
    sample = make_sample()
    for t in (build("Affine"), build("Rotate", degrees=0), build("Rotate90", k=0)):
        out, ops, _ = run(sample, t)
        assert len(ops) == 1
        assert out.image.tobytes() == sample.image.tobytes()
        assert_same_objects(out.objects, sample.objects)


def test_horizontal_flip_mirrors_pixels_and_swaps_keypoints():
    sample = make_sample()
    w = sample.size[0]
    out, _, _ = run(sample, build("HorizontalFlip"))
    np.testing.assert_array_equal(out.image, sample.image[:, ::-1])
    person_in, person_out = sample.objects.keypoints[0], out.objects.keypoints[0]
    # nose stays nose; the mirrored left eye becomes the right eye (flip_idx 0, 2, 1)
    np.testing.assert_allclose(person_out[0], [w - person_in[0, 0], person_in[0, 1], 2])
    np.testing.assert_allclose(person_out[1], [w - person_in[2, 0], person_in[2, 1], person_in[2, 2]])
    np.testing.assert_allclose(person_out[2], [w - person_in[1, 0], person_in[1, 1], person_in[1, 2]])
    x1, y1, x2, y2 = sample.objects.boxes[0]
    np.testing.assert_allclose(out.objects.boxes[0], [w - x2, y1, w - x1, y2])


def test_fill_colour_fills_uncovered_corners():
    sample = Sample(np.full((40, 40, 3), 200, np.uint8), Objects.empty(), LabelSchema())
    out, _, _ = run(sample, build("Rotate", degrees=45, fill=[10, 20, 30]))
    assert out.image[0, 0].tolist() == [10, 20, 30] and out.image[-1, -1].tolist() == [10, 20, 30]
    assert out.image[20, 20].tolist() == [200, 200, 200]


def _blob_sample(px: float, py: float, w: int = 160, h: int = 120, sigma: float = 3.0) -> Sample:
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    blob = np.exp(-((xs - px) ** 2 + (ys - py) ** 2) / (2 * sigma**2))
    img = np.repeat(np.rint(blob * 250).astype(np.uint8)[..., None], 3, axis=2)
    objs = Objects(np.array([0]), np.array([[px - 10, py - 10, px + 10, py + 10]]), [None],
                   np.array([[[px, py, 2.0]]]))
    return Sample(img, objs, LabelSchema(names={0: "dot"}, kpt_shape=(1, 3), flip_idx=(0,)))


@pytest.mark.parametrize("seed", range(12))
def test_keypoint_follows_its_pixels_through_a_fused_random_pipeline(seed):
    """Independent oracle: the keypoint sits on a bright blob; wherever the chain of (fused) geometric
    transforms and fast paths puts the blob's pixels, the keypoint must be there too."""
    sample = _blob_sample(70.3, 52.8)
    pipeline = [
        build("Rotate", degrees=[-40, 40]),
        build("Affine", scale=[0.8, 1.2], translate=[-0.1, 0.1], shear=[-10, 10]),
        build("HorizontalFlip", p=0.5),
        build("Rotate90", k=[0, 3], p=0.5),
        build("RandomResizedCrop", size=[96, 128], scale=[0.7, 1.0]),
    ]
    out, ops, _ = augment_sample(sample, recipe_of(*pipeline, seed=seed, labels=KEEP_ALL), "blob.png", 1)
    assert len(out.objects) == 1
    x, y, v = out.objects.keypoints[0, 0]
    assert v == 2, ops
    img = out.image[..., 0].astype(float)
    ys, xs = np.mgrid[0:img.shape[0], 0:img.shape[1]] + 0.5
    margin = min(x, y, img.shape[1] - x, img.shape[0] - y)
    if margin < 15:
        pytest.skip("blob cut by the border for this seed")
    centroid = ((img * xs).sum() / img.sum(), (img * ys).sum() / img.sum())
    np.testing.assert_allclose(centroid, (x, y), atol=0.5, err_msg=repr(ops))


# ---------------------------------------------------------------- determinism
def _pipeline() -> list[Transform]:
    return [
        build("Rotate", degrees=[-20, 20]),
        build("HorizontalFlip", p=0.5),
        build("RandomResizedCrop", size=[64, 80], scale=[0.5, 1.0]),
        build("OneOf", transforms=[{"type": "GaussianBlur"}, {"type": "GaussianNoise"}]),
        build("BrightnessContrast"),
    ]


def _digest(result) -> tuple:
    out, ops, dropped = result
    return (out.image.tobytes(), out.image.shape, out.objects.boxes.tobytes(), out.objects.keypoints.tobytes(),
            repr(ops), repr(dropped))


def test_same_seed_key_copy_gives_identical_bytes():
    sample = make_sample()
    recipe = recipe_of(*_pipeline(), seed=42)
    first = _digest(augment_sample(sample, recipe, "train/a.jpg", 2))
    again = _digest(augment_sample(sample, recipe_of(*_pipeline(), seed=42), "train/a.jpg", 2))
    assert first == again


def test_different_copy_key_or_seed_gives_different_params():
    sample = make_sample()
    ops = {}
    for label, seed, key, copy in [("base", 42, "train/a.jpg", 1), ("copy", 42, "train/a.jpg", 2),
                                   ("key", 42, "train/b.jpg", 1), ("seed", 43, "train/a.jpg", 1)]:
        _, o, _ = augment_sample(sample, recipe_of(*_pipeline(), seed=seed), key, copy)
        angles = [op["angle"] for op in o if op["op"] == "Rotate"]
        ops[label] = angles[0]
    assert len(set(ops.values())) == 4, ops


def test_sampling_order_does_not_matter():
    sample = make_sample()
    recipe = recipe_of(*_pipeline(), seed=5)
    forward = {c: _digest(augment_sample(sample, recipe, "x.png", c)) for c in (1, 2, 3)}
    backward = {c: _digest(augment_sample(sample, recipe, "x.png", c)) for c in (3, 1, 2)}
    assert forward == backward
    assert len({v[0] for v in forward.values()}) == 3  # and the copies really differ


# ---------------------------------------------------------------- containers
def _ops_over_seeds(t: Transform, n: int = 60, sample: Sample | None = None) -> list[list[str]]:
    sample = sample or make_sample(40, 30)
    return [op_names(run(sample, t, seed=s)[1]) for s in range(n)]


def test_oneof_applies_exactly_one_child():
    t = build("OneOf", transforms=[{"type": "HorizontalFlip"}, {"type": "VerticalFlip"}, {"type": "GaussianBlur"}])
    runs = _ops_over_seeds(t)
    assert all(len(r) == 1 for r in runs)
    counts = Counter(r[0] for r in runs)
    assert set(counts) == {"HorizontalFlip", "VerticalFlip", "GaussianBlur"}
    assert min(counts.values()) >= 8  # roughly uniform over 60 draws


def test_oneof_zero_weight_child_is_never_picked():
    t = build("OneOf", transforms=[{"type": "BrightnessContrast"}, {"type": "GaussianBlur"}], weights=[1, 0])
    assert all(r == ["BrightnessContrast"] for r in _ops_over_seeds(t))


def test_someof_exactly_two_distinct_children_in_recipe_order():
    order = ["HorizontalFlip", "BrightnessContrast", "GaussianBlur", "GaussianNoise"]
    t = build("SomeOf", transforms=[{"type": n} for n in order], n=[2, 2])
    runs = _ops_over_seeds(t)
    for r in runs:
        assert len(r) == 2 and r[0] != r[1]
        assert order.index(r[0]) < order.index(r[1])
    assert len({tuple(r) for r in runs}) >= 4  # different pairs get picked


def test_random_order_applies_all_in_varying_order():
    names = ["HorizontalFlip", "BrightnessContrast", "GaussianBlur"]
    t = build("RandomOrder", transforms=[{"type": n} for n in names])
    runs = _ops_over_seeds(t)
    assert all(sorted(r) == sorted(names) for r in runs)
    assert len({tuple(r) for r in runs}) >= 4


def test_sequential_applies_all_in_order():
    names = ["VerticalFlip", "GaussianNoise", "Rotate", "BrightnessContrast"]
    t = build("Sequential", transforms=[{"type": n} for n in names])
    assert all(r == names for r in _ops_over_seeds(t, n=10))


def test_container_probability_zero_skips_all_children():
    t = build("Sequential", transforms=CHILDREN, p=0.0)
    assert all(r == [] for r in _ops_over_seeds(t, n=10))


# ---------------------------------------------------------------- fused geometry
@pytest.mark.parametrize("between", [[], [{"type": "BrightnessContrast", "brightness": 0, "contrast": 0}]],
                         ids=["fused", "flushed"])
def test_flip_twice_returns_input_exactly(between):
    """Fused, the two flips cancel into the identity; flushed by a no-op photometric step, each flip
    resamples and swaps keypoints, and the second undoes the first."""
    sample = make_sample()
    t = build("Sequential", transforms=[{"type": "HorizontalFlip"}, *between, {"type": "HorizontalFlip"}])
    out, ops, _ = run(sample, t)
    assert op_names(ops)[0] == op_names(ops)[-1] == "HorizontalFlip"
    assert out.image.tobytes() == sample.image.tobytes()
    assert_same_objects(out.objects, sample.objects)


def test_four_quarter_turns_return_input_exactly():
    sample = make_sample()
    t = build("Sequential", transforms=[{"type": "Rotate90", "k": 1}] * 4)
    out, ops, _ = run(sample, t)
    assert op_names(ops) == ["Rotate90"] * 4
    assert out.image.tobytes() == sample.image.tobytes()
    np.testing.assert_allclose(out.objects.boxes, sample.objects.boxes, atol=1e-9)
    np.testing.assert_allclose(out.objects.keypoints, sample.objects.keypoints, atol=1e-9)


def test_rotate_then_unrotate_keeps_the_corners_the_first_turn_cut():
    """+a then -a: the first turn leaves the picture's corners off its canvas, so they are fill in the
    end (as one step after the other gives), not the original pixels a fused identity would show."""
    sample = make_sample()
    t = build("Sequential", transforms=[{"type": "Rotate", "degrees": 17.0}, {"type": "Rotate", "degrees": -17.0}])
    out, _, _ = run(sample, t)
    assert out.size == sample.size
    assert not out.image[0, 0].any() and not out.image[-1, -1].any()  # corners: black fill
    h, w = sample.image.shape[:2]
    centre = (slice(h // 3, 2 * h // 3), slice(w // 3, 2 * w // 3))
    assert np.abs(out.image[centre].astype(int) - sample.image[centre]).mean() < 12  # the picture, twice resampled
    np.testing.assert_allclose(out.objects.boxes[2], [0, 0, w, h], atol=1e-6)  # the full-frame box stays whole


def test_flip_then_rotate_fuses_into_one_resampling(monkeypatch):
    """A flip cuts nothing: flip + rotate is one warp (the common detection recipe)."""
    from augcli.kernels.geometric import warp_image
    from augcli.transforms import base as transforms_base

    calls = []

    def counting_warp(image, matrix, out_size, **kw):
        calls.append(out_size)
        return warp_image(image, matrix, out_size, **kw)

    monkeypatch.setattr(transforms_base, "warp_image", counting_warp)
    run(make_sample(), build("HorizontalFlip"), build("Rotate", degrees=12.0))
    assert len(calls) == 1


# ---------------------------------------------------------------- photometric kernels
def _flat(level: int, w: int = 128, h: int = 128) -> Sample:
    return Sample(np.full((h, w, 3), level, np.uint8), Objects.empty(), LabelSchema())


def test_brightness_raises_flat_grey_by_a_tenth_of_full_scale():
    sample = _flat(100)
    out, ops, _ = run(sample, build("BrightnessContrast", brightness=0.1, contrast=0))
    assert ops[0]["brightness"] == pytest.approx(0.1)
    diff = out.image.astype(int) - 100
    assert diff.min() == diff.max()  # still flat
    assert abs(diff[0, 0, 0] - 25.5) <= 1


def test_contrast_scales_about_the_mean():
    img = np.zeros((10, 20, 3), np.uint8)
    img[:, :10], img[:, 10:] = 100, 140  # mean luma 120
    sample = Sample(img, Objects.empty(), LabelSchema())
    out, _, _ = run(sample, build("BrightnessContrast", brightness=0, contrast=0.5))
    assert set(np.unique(out.image[:, :10])) == {90} and set(np.unique(out.image[:, 10:])) == {150}


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("std", [4.0, 10.0, 25.0])
def test_gaussian_noise_has_the_requested_std(std, per_channel):
    sample = _flat(128)
    out, _, _ = run(sample, build("GaussianNoise", std=std, per_channel=per_channel), seed=3)
    noise = out.image.astype(float) - 128
    assert abs(noise.mean()) < 0.1 * std
    assert noise.std() == pytest.approx(std, rel=0.15)
    same = np.array_equal(out.image[..., 0], out.image[..., 1]) and np.array_equal(out.image[..., 1], out.image[..., 2])
    assert same == (not per_channel)


def test_gaussian_noise_covers_images_larger_than_its_stored_run():
    """The stored noise run is NOISE_PIXELS pixels long; a larger image takes it in several
    passes: every part gets noise of the requested size, and neighbouring pixels (along a row
    and down a column) are not correlated."""
    from augcli.kernels.blur_noise import NOISE_PIXELS, add_noise

    h, w = 700, 1001
    assert h * w > NOISE_PIXELS
    out = add_noise(np.full((h, w, 3), 128, np.uint8), 10.0, (5, 7)).astype(float) - 128
    flat = out.reshape(-1, 3)
    for part in (flat[:NOISE_PIXELS], flat[NOISE_PIXELS:]):
        assert abs(part.mean()) < 0.5 and part.std() == pytest.approx(10.0, rel=0.05)
    for a, b in ((out[:, :-1], out[:, 1:]), (out[:-1], out[1:])):
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.02


def test_gaussian_noise_on_an_image_not_in_row_order_is_the_same():
    """An input laid out column by column (a transposed view made contiguous) gets the same noise
    as the same pixels in row order, in a row-order result."""
    from augcli.kernels.blur_noise import add_noise

    image = make_image(61, 40)
    expected = add_noise(image, 8.0, (3, 4))
    got = add_noise(np.asfortranarray(image), 8.0, (3, 4))
    assert got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)


def test_gaussian_noise_differs_between_copies():
    sample = _flat(128)
    a = run(sample, build("GaussianNoise"), copy=1)[0].image
    b = run(sample, build("GaussianNoise"), copy=2)[0].image
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("sigma", [0.5, 3.0, 20.0])
def test_gaussian_blur_leaves_flat_image_flat(sigma):
    sample = _flat(77, 50, 30)
    out, _, _ = run(sample, build("GaussianBlur", sigma=sigma))
    np.testing.assert_array_equal(out.image, sample.image)


def test_gaussian_blur_smooths_noise():
    sample = Sample(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8), Objects.empty(),
                    LabelSchema())
    out, _, _ = run(sample, build("GaussianBlur", sigma=2.0))
    assert out.image.astype(float).std() < 0.5 * sample.image.astype(float).std()
    assert abs(out.image.astype(float).mean() - sample.image.astype(float).mean()) < 2


@pytest.mark.parametrize("kind", ["smooth", "grey", "random"])
def test_hue_saturation_value_zero_is_near_identity(kind):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    if kind == "smooth":
        img = make_image(64, 64)
    elif kind == "grey":
        img = np.repeat(img[..., :1], 3, axis=2)
    sample = Sample(img, Objects.empty(), LabelSchema())
    out, _, _ = run(sample, build("HueSaturationValue", hue=0, saturation=0, value=0))
    err = np.abs(out.image.astype(int) - img.astype(int))
    assert int(err.max()) <= 1, f"max error {int(err.max())} levels on {(err > 1).any(axis=2).mean():.1%} of pixels"


@pytest.mark.parametrize("degrees", [2.0, 1.0, -3.0, 0.9])
def test_hue_shift_keeps_every_hue_level_distinct(degrees):
    """Shifting hue is a rotation of the hue circle: distinct hues must stay distinct."""
    hsv = np.stack([np.arange(180, dtype=np.uint8), np.full(180, 255, np.uint8), np.full(180, 255, np.uint8)],
                   axis=-1)[None]
    bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    out = color_kernels.hue_saturation_value_image(bgr, degrees, 0.0, 0.0)
    hues = cv2.cvtColor(out, cv2.COLOR_BGR2HSV)[0, :, 0]
    distinct = len(np.unique(hues))
    assert distinct >= 175, f"{distinct} of 180 hue levels left"  # the 8-bit round trip may merge a couple


def test_value_scales_brightness():
    sample = _flat(100)
    out, _, _ = run(sample, build("HueSaturationValue", hue=0, saturation=0, value=0.5))
    assert np.all(out.image == 150)


def test_saturation_minus_one_makes_grey():
    out, _, _ = run(Sample(make_image(32, 32), Objects.empty(), LabelSchema()),
                    build("HueSaturationValue", hue=0, saturation=-1, value=0))
    assert np.array_equal(out.image[..., 0], out.image[..., 1]) and np.array_equal(out.image[..., 1], out.image[..., 2])


def _random_map(rng: np.random.Generator, shift: float, perspective: bool) -> np.ndarray:
    """A random 3x3 map: any linear part (turns, shears, scales, mirrors), a shift up to `shift`
    pixels, and a mild perspective row when asked."""
    matrix = np.eye(3)
    matrix[:2, :2] = rng.uniform(-1.4, 1.4, (2, 2))
    matrix[:2, 2] = rng.uniform(-shift, shift, 2)
    if perspective:
        matrix[2, :2] = rng.uniform(-2e-3, 2e-3, 2)
    return matrix


def test_bgra_and_bgr_warps_are_bit_identical():
    """The warp kernel may route 3-channel images through BGRA (faster SIMD on some machines):
    both routes must give the same bytes, or outputs would depend on the machine."""
    from augcli.kernels import geometric as kg

    rng = np.random.default_rng(5)
    for trial in range(30):
        h, w = int(rng.integers(7, 300)), int(rng.integers(7, 300))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        matrix = _random_map(rng, 40, perspective=trial % 3 == 0)
        fill = tuple(float(v) for v in rng.integers(0, 256, 3))
        out_size = (int(rng.integers(5, 320)), int(rng.integers(5, 320)))
        got = []
        for bgra in (True, False):
            route = kg._BgraRoute()
            route.choice = bgra
            old, kg._ROUTE = kg._ROUTE, route
            try:
                got.append(kg.warp_image(image, matrix, out_size, fill=fill))
            finally:
                kg._ROUTE = old
        assert got[0].shape == (out_size[1], out_size[0], 3)
        assert np.array_equal(got[0], got[1]), f"trial {trial}: routes differ"


def test_a_tiled_warp_matches_one_whole_image_warp():
    """3-channel bilinear warps run tile by tile (kernels.geometric.TILE): against OpenCV warping
    the whole image at once, every pixel is within one level (the shifted map's float rounding)
    and at most a few per thousand differ at all: no seams, no tile left unfilled, borders kept.
    Sizes span one tile to several, with maps that rotate, shear, scale, leave the canvas and
    bend it (perspective), so some tiles see no source pixel at all."""
    from augcli.kernels import geometric as kg

    rng = np.random.default_rng(11)
    tiles_seen = 0
    for trial in range(60):
        h, w = int(rng.integers(5, 700)), int(rng.integers(5, 900))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        matrix = _random_map(rng, 60, perspective=trial % 3 == 0)
        if trial % 10 == 9:  # a small image landing inside one tile of a large canvas: the others see nothing
            image = image[:40, :40]
            matrix = np.array([[0.9, 0.2, 500.0], [-0.2, 0.9, 300.0], [0.0, 0.0, 1.0]])
        fill = tuple(float(v) for v in rng.integers(0, 256, 3))
        out_size = (int(rng.integers(5, 900)), int(rng.integers(5, 700))) if trial % 10 != 9 else (900, 700)
        tiles_seen += -(-out_size[0] // kg.TILE[0]) * -(-out_size[1] // kg.TILE[1])
        cv_matrix = kg._to_opencv_convention(matrix)
        whole = (cv2.warpAffine(image, cv_matrix[:2], out_size, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=fill) if trial % 3 else
                 cv2.warpPerspective(image, cv_matrix, out_size, flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=fill))
        for bgra in (True, False):
            tiled = kg._warp_3channel(image, cv_matrix, out_size, cv2.INTER_LINEAR, fill, bgra)
            diff = np.abs(tiled.astype(int) - whole)
            assert tiled.shape == whole.shape and diff.max() <= 1, (trial, bgra)
            assert (diff > 0).mean() < 0.005, (trial, bgra, (diff > 0).mean())
    assert tiles_seen > 250
    image = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
    for singular in ([[0.0, 0.0, 5.0], [0.0, 0.0, 3.0], [0.0, 0.0, 1.0]], [[1.0, 2.0, 5.0], [2.0, 4.0, 3.0], [0.0, 0.0, 1.0]]):
        # a map with no inverse has no windows: warped whole, as OpenCV does it (no error)
        cv_matrix = kg._to_opencv_convention(np.array(singular))
        whole = cv2.warpAffine(image, cv_matrix[:2], (40, 30), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(7, 8, 9))
        assert np.array_equal(kg._warp_3channel(image, cv_matrix, (40, 30), cv2.INTER_LINEAR, (7.0, 8.0, 9.0), True), whole)


def test_the_affine_tile_loop_is_the_general_one_byte_for_byte():
    """An affine map's tiles take a leaner loop (no division by w, one reused 2x3 map); it must
    give exactly the bytes of the general tile loop, which a last row of (1e-300, 0, 1) sends the
    same map through (w rounds to 1.0 at every corner)."""
    from augcli.kernels import geometric as kg

    rng = np.random.default_rng(12)
    for trial in range(30):
        h, w = int(rng.integers(5, 500)), int(rng.integers(5, 700))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        cv_matrix = kg._to_opencv_convention(_random_map(rng, 60, perspective=False))
        general = cv_matrix.copy()
        general[2, 0] = 1e-300
        out_size = (int(rng.integers(5, 900)), int(rng.integers(5, 700)))
        for bgra in (True, False):
            fast = kg._warp_3channel(image, cv_matrix, out_size, cv2.INTER_LINEAR, (1.0, 2.0, 3.0), bgra)
            slow = kg._warp_3channel(image, general, out_size, cv2.INTER_LINEAR, (1.0, 2.0, 3.0), bgra)
            assert np.array_equal(fast, slow), (trial, bgra)


def test_gaussian_blur_is_the_exact_gaussian_rounded():
    """GaussianBlur on uint8 against a float64 Gaussian written here from its formula (6 sigma + 1
    taps, odd, reflected at the edges without repeating the edge pixel): every output level is the
    exact value rounded, within 0.5 plus float32 slack. (OpenCV's bit-exact GaussianBlur, used
    before, was up to 2.7 levels off at large sigmas, and 6x slower at sigma 0.3.)"""
    from augcli.kernels.blur_noise import gaussian_blur_image

    def exact(image: np.ndarray, sigma: float) -> np.ndarray:
        radius = (int(round(sigma * 6 + 1)) | 1) // 2
        taps = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2 * sigma * sigma))
        taps /= taps.sum()
        padded = np.pad(image.astype(np.float64), ((radius, radius), (radius, radius), (0, 0)), mode="reflect")
        rows = sum(t * padded[:, i:i + image.shape[1]] for i, t in enumerate(taps))
        return sum(t * rows[i:i + image.shape[0]] for i, t in enumerate(taps))

    rng = np.random.default_rng(21)
    for trial in range(40):
        sigma = float(rng.uniform(0.3, 3.0))
        h, w = int(rng.integers(20, 90)), int(rng.integers(20, 90))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        got = gaussian_blur_image(image, sigma)
        assert got.dtype == np.uint8 and got.shape == image.shape
        assert np.abs(got - exact(image, sigma)).max() <= 0.501, (trial, sigma)  # float32 sums


def test_a_worker_gets_its_input_read_only(yolo_dataset, tmp_path, monkeypatch):
    """Every copy (and every item a donor serves) starts from the decoded input: the worker makes it
    read-only, so a step that tried to change it in place would fail instead of spoiling later copies."""
    from augcli import api, job

    seen = []
    real = job.augment_sample

    def spy(sample, *args, **kwargs):
        seen.append(sample.image.flags.writeable)
        with pytest.raises(ValueError):
            sample.image[0, 0] = 0
        return real(sample, *args, **kwargs)

    monkeypatch.setattr(job, "augment_sample", spy)
    api.run({"version": 1, "copies": 2, "pipeline": [{"type": "HorizontalFlip"}]}, yolo_dataset, tmp_path / "out", workers=1)
    assert seen and not any(seen)


def test_brightness_contrast_is_exactly_its_lookup_table():
    """The kernel may take a faster SIMD path than cv2.LUT; the bytes must be the table's exactly,
    for any parameters and any memory layout (contiguous, odd sizes, strided views)."""
    from augcli.kernels import color as kc

    rng = np.random.default_rng(11)
    big = rng.integers(0, 256, (120, 301, 3), dtype=np.uint8)
    layouts = [big, big[3:100:3, 5:290], rng.integers(0, 256, (7, 13, 3), dtype=np.uint8), big[..., 0].copy()]
    for _ in range(200):
        brightness, contrast = rng.uniform(-0.4, 0.4), rng.uniform(-0.6, 0.6)
        for image in layouts:
            mean = kc.mean_luma(image)
            table = kc._lut((kc._LEVELS - mean) * (1.0 + contrast) + mean + brightness * 255.0)
            assert np.array_equal(kc.brightness_contrast_image(image, brightness, contrast), cv2.LUT(image, table))
        value = rng.uniform(-0.5, 0.5)
        want = cv2.LUT(big, kc._lut(kc._LEVELS * (1.0 + value)))
        assert np.array_equal(kc.hue_saturation_value_image(big, 0.0, 0.0, value), want)


# ---------------------------------------------------------------- in-place photometric steps
IN_PLACE = [cls for cls in registry().values() if issubclass(cls, PhotometricTransform) and cls.in_place]


def test_the_common_photometric_steps_work_in_place():
    assert {cls.name for cls in IN_PLACE} >= {"BrightnessContrast", "GaussianBlur", "GaussianNoise"}


@pytest.mark.parametrize("cls", IN_PLACE, ids=lambda c: c.name)
@pytest.mark.parametrize("shape", [(1, 1, 3), (17, 31, 3), (301, 199, 3), (720, 1280, 3), (40, 30)])
def test_in_place_apply_image_gives_the_same_bytes(cls, shape):
    rng = np.random.default_rng(len(shape) * 1000 + shape[0])
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    transform = build(cls.name)
    for seed in range(3):
        params = transform.sample(np.random.default_rng(seed), (shape[1], shape[0]))
        fresh = transform.apply_image(image, params)
        assert fresh is not image and not np.shares_memory(fresh, image)
        target = image.copy()
        written = transform.apply_image(target, params, out=target)
        assert written is target
        np.testing.assert_array_equal(target, fresh.reshape(target.shape))


STEPS = [{"type": "BrightnessContrast", "p": 0.7}, {"type": "GaussianBlur", "p": 0.5},
         {"type": "GaussianNoise", "p": 0.5}, {"type": "HueSaturationValue", "p": 0.3}]


@pytest.mark.parametrize("geometry", [[], [{"type": "Rotate", "degrees": [-15, 15], "p": 0.6}],
                                      [{"type": "HorizontalFlip", "p": 0.5}]], ids=["none", "rotate", "flip"])
def test_in_place_steps_never_touch_the_input_and_change_no_output(geometry, monkeypatch):
    """Copies start from the one decoded input: a step may overwrite only an image made for its own
    output (a warp's, or an in-place step's), never the input every copy shares, and the outputs are
    byte for byte those of steps that always allocate."""
    sample = Sample(make_image(96, 64), make_objects(96, 64), SCHEMA)
    before = sample.image.copy()
    transforms = [registry()[c["type"]](**{k: v for k, v in c.items() if k != "type"}) for c in geometry + STEPS]
    recipe = recipe_of(*transforms, seed=3)
    in_place = [augment_sample(sample, recipe, "k.jpg", copy)[0].image for copy in range(1, 13)]
    np.testing.assert_array_equal(sample.image, before)
    for cls in IN_PLACE:
        monkeypatch.setattr(cls, "in_place", False)
    allocating = [augment_sample(sample, recipe, "k.jpg", copy)[0].image for copy in range(1, 13)]
    for a, b in zip(in_place, allocating):
        np.testing.assert_array_equal(a, b)
    assert sum(not np.array_equal(a, before) for a in in_place) >= 6  # the steps did run


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    """A read-only picture with texture at every scale, as Job.read hands it to the copies."""
    rng = np.random.default_rng(seed)
    image = cv2.resize(rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8), (w, h))
    image = cv2.add(image, rng.integers(0, 40, (h, w, 3), dtype=np.uint8))
    image.flags.writeable = False
    return image


@pytest.mark.parametrize("first", [{"type": "LongestMaxSize", "max_size": 150},
                                   {"type": "Resize", "size": [110, 170]}])
def test_a_fixed_shrink_is_resized_once_per_input_with_the_same_bytes(monkeypatch, first):
    """A recipe that starts with a fixed shrink makes every copy from the same area resize of
    the input: it is made once per input and kept for the next copies (kernels.geometric
    ._from_source). Every copy's image must be byte for byte what it is when nothing is kept,
    and the resize must run once for the input, however many copies (flipped, turned or not)."""
    from augcli.kernels import geometric as kg

    recipe = Recipe(pipeline=Sequential(transforms=[
        first, {"type": "HorizontalFlip", "p": 0.5}, {"type": "Rotate", "degrees": [-10, 10], "p": 0.5},
        {"type": "BrightnessContrast", "p": 0.5}]), seed=3, labels=LabelPolicy(min_visibility=0.0, min_area=0.0))
    schema = LabelSchema(names={0: "a"})
    sample = Sample(_photo(360, 640, 1), Objects(np.array([0]), np.array([[100.0, 50.0, 300.0, 200.0]]), [None]), schema)
    area_resizes = []
    real_resize = cv2.resize

    def counting_resize(src, size, *args, **kwargs):
        if kwargs.get("interpolation") == cv2.INTER_AREA:
            area_resizes.append(tuple(size))
        return real_resize(src, size, *args, **kwargs)

    monkeypatch.setattr(kg.cv2, "resize", counting_resize)
    kept = [augment_sample(sample, recipe, "x.jpg", copy) for copy in range(1, 17)]
    kinds = {tuple(op["op"] for op in ops) for _, ops, _ in kept}
    assert (first["type"],) in kinds and len(kinds) > 3  # shrunk alone (a plain resize), and with a flip or turn
    # one area resize for the copies resized alone, one for those shrunk before a warp
    assert len(area_resizes) == 2
    monkeypatch.setattr(kg, "_from_source", lambda image, key, make: make())
    area_resizes.clear()
    fresh = [augment_sample(sample, recipe, "x.jpg", copy) for copy in range(1, 17)]
    assert len(area_resizes) == 16
    for (a, ops_a, _), (b, ops_b, _) in zip(kept, fresh):
        assert ops_a == ops_b and np.array_equal(a.image, b.image) and a.image.flags.writeable
        assert np.array_equal(a.objects.boxes, b.objects.boxes)


def test_resizes_are_kept_only_for_the_read_only_source_they_were_made_from():
    """The kept resize belongs to one read-only source: another source (even one with the same
    size) gets its own; a writable image, which a step may still change, is never kept; results
    are handed out read-only."""
    from augcli.kernels import geometric as kg

    a, b = _photo(90, 120, 1), _photo(90, 120, 2)
    calls = []

    def make(image):
        def run():
            calls.append(1)
            return cv2.resize(image, (40, 30), interpolation=cv2.INTER_AREA)
        return run

    first = kg._from_source(a, ("shrink", 40, 30), make(a))
    assert kg._from_source(a, ("shrink", 40, 30), make(a)) is first and len(calls) == 1
    assert not first.flags.writeable
    other = kg._from_source(b, ("shrink", 40, 30), make(b))
    assert len(calls) == 2 and not np.array_equal(other, first)
    assert np.array_equal(kg._from_source(a, ("shrink", 40, 30), make(a)), first) and len(calls) == 3
    writable = a.copy()
    kg._from_source(writable, ("shrink", 40, 30), make(writable))
    kg._from_source(writable, ("shrink", 40, 30), make(writable))
    assert len(calls) == 5


def test_a_tiled_remap_is_the_whole_image_remap_byte_for_byte():
    """Lens distortion's remap runs tile by tile (kernels.geometric.remap_image): whole-pixel
    shifts of float32 maps are exact, so every pixel must equal OpenCV's whole-image remap, for
    smooth maps that bend, leave the image or see none of it, on canvases from one tile to
    several; a map with a non-finite value is remapped whole."""
    from augcli.kernels import geometric as kg
    from augcli.kernels.camera import lens_distortion_dst_to_src

    rng = np.random.default_rng(4)
    for trial in range(24):
        h, w = int(rng.integers(3, 500)), int(rng.integers(3, 800))
        out_h, out_w = (h, w) if trial % 3 else (int(rng.integers(1, 500)), int(rng.integers(1, 800)))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        xs, ys = np.meshgrid(np.arange(out_w, dtype=np.float32) + 0.5, np.arange(out_h, dtype=np.float32) + 0.5)
        if trial % 2:
            sx, sy = lens_distortion_dst_to_src(xs, ys, float(rng.uniform(-0.8, 0.8)), (out_w, out_h), bool(trial % 4 == 1))
        else:  # a wavy map, shifted and scaled, partly beyond the image
            a, b = rng.uniform(-30, 30, 2)
            sx = xs * rng.uniform(0.5, 1.5) + a * np.sin(ys / rng.uniform(20, 90)) + rng.uniform(-200, 200)
            sy = ys * rng.uniform(0.5, 1.5) + b * np.cos(xs / rng.uniform(20, 90)) + rng.uniform(-200, 200)
        map_x, map_y = np.asarray(sx, np.float32) - 0.5, np.asarray(sy, np.float32) - 0.5
        border = tuple(float(v) for v in rng.integers(0, 256, 3))
        whole = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border)
        for bgra in (True, False):
            tiled = kg._remap_3channel(image, map_x, map_y, border, bgra)
            assert tiled is not None and np.array_equal(tiled, whole), (trial, bgra)
        assert np.array_equal(kg.remap_image(image, map_x, map_y, border), whole)
    map_x[0, 0] = np.nan
    assert kg._remap_3channel(image, map_x, map_y, border, True) is None
    whole = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    assert np.array_equal(kg.remap_image(image, map_x, map_y, border), whole)

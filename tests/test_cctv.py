"""CCTV transforms (weather and camera families): every one on a real photo at CCTV sizes, label
invariants, determinism, the LensDistortion maps and colour-patch oracle, and each kernel
checked on a picture whose answer is known. Timings are printed, not asserted."""
from __future__ import annotations

import importlib.util
import json
import math
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from augcli.api import augment
from augcli.errors import ParamError
from augcli.job import augment_sample
from augcli.kernels import camera as ck
from augcli.kernels import weather as wk
from augcli.recipe import load_recipe
from augcli.sample import LabelSchema, Objects, Sample
from augcli.transforms.base import AugmentState, GeometricTransform, PhotometricTransform
from augcli.transforms.registry import registry


def _load(name: str):
    """A sibling test module, for its helpers (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"_cctv_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


oracle = _load("test_oracle")
tt = _load("test_transforms")

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "sample_data" / "yolo" / "images" / "train" / "astronaut.jpg"
WEATHER = ["Rain", "Snow", "Fog", "SunFlare", "HeadlightGlare", "Shadow"]
CAMERA = ["NightVision", "LowLight", "MotionBlur", "DefocusBlur", "JpegCompression", "Downscale", "Interlace",
          "LensDistortion", "Vignette", "LensDroplets", "LensInsect", "TimestampOverlay"]
CCTV = WEATHER + CAMERA
PHOTOMETRIC = [n for n in CCTV if n != "LensDistortion"]
OVERLAYS = ["LensDroplets", "LensInsect", "TimestampOverlay"]  # occluders kept photometric: must stay light
SIZES = [(1280, 720), (320, 240), (8, 8)]  # (width, height)


def photo(w: int, h: int) -> np.ndarray:
    img = cv2.imread(str(PHOTO))
    assert img is not None, PHOTO
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if w < img.shape[1] else cv2.INTER_CUBIC)


def photo_sample(w: int, h: int) -> Sample:
    return Sample(photo(w, h), tt.make_objects(w, h), tt.SCHEMA)


def apply(t, image: np.ndarray, params: dict) -> np.ndarray:
    """Apply already drawn parameters to an image (no labels)."""
    state = AugmentState(Sample(image, Objects.empty(), LabelSchema()))
    t.apply(state, params)
    return state.finish().image


def draw(t, image: np.ndarray, seed: int) -> tuple[dict, np.ndarray]:
    params = t.sample(np.random.default_rng(seed), (image.shape[1], image.shape[0]))
    return params, apply(t, image, params)


def flat(level, w: int = 160, h: int = 120) -> np.ndarray:
    return np.full((h, w, 3), level, np.uint8)


# ---------------------------------------------------------------- catalogue
def test_cctv_transforms_are_registered_in_their_families():
    reg = registry()
    assert {n for n, c in reg.items() if c.family == "weather"} >= set(WEATHER)
    assert {n for n, c in reg.items() if c.family == "camera"} == set(CAMERA)
    assert all(issubclass(reg[n], PhotometricTransform) for n in PHOTOMETRIC)
    assert issubclass(reg["LensDistortion"], GeometricTransform)
    for n in CCTV:
        for key, spec in reg[n].params.items():
            assert spec.help, f"{n}.{key} has no help text"


# ---------------------------------------------------------------- every transform, CCTV sizes
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", CCTV)
def test_defaults_run_keep_canvas_change_pixels(name, size):
    w, h = size
    sample = photo_sample(w, h)
    before = sample.image.copy()
    t = tt.build(name)
    changed = []
    for copy in range(1, 4):
        out, ops, dropped = augment_sample(sample, tt.recipe_of(t, seed=11, labels=tt.KEEP_ALL), "cam/a.jpg", copy)
        assert [o["op"] for o in ops] == [name]
        assert out.image.shape == sample.image.shape and out.image.dtype == np.uint8
        changed.append(not np.array_equal(out.image, sample.image))
        if name in PHOTOMETRIC:
            assert dropped == {}
            tt.assert_same_objects(out.objects, sample.objects)
        else:
            tt.assert_valid_output(sample, out)
    np.testing.assert_array_equal(sample.image, before)  # the input is never modified
    if w >= 320:
        assert all(changed), f"{name} left a {w}x{h} photo unchanged"
    else:
        assert any(changed), f"{name} never changed an {w}x{h} image"


@pytest.mark.parametrize("shape", [(120, 160), (720, 1280), (16, 1024, 3), (1024, 16, 3)], ids=str)
@pytest.mark.parametrize("name", CCTV)
def test_kernels_accept_grey_and_odd_shapes(name, shape):
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    t = tt.build(name)
    params, out = draw(t, img, 3)
    assert out.shape == img.shape and out.dtype == np.uint8


# ---------------------------------------------------------------- determinism and records
@pytest.mark.parametrize("name", CCTV)
def test_same_params_give_the_same_pixels(name):
    img = photo(320, 240)
    t = tt.build(name)
    for seed in range(3):
        params, a = draw(t, img, seed)
        b = apply(tt.build(name), img, json.loads(json.dumps(params)))  # a fresh instance, params via JSON
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", CCTV)
def test_recorded_params_are_small_and_reproduce_the_output(name):
    """The manifest records seeds, offsets and a few numbers (never arrays), and they are enough to
    redraw the output (floats are recorded to 6 decimals, hence the small tolerance)."""
    img = photo(320, 240)
    out, ops, _ = augment_sample(Sample(img, Objects.empty(), LabelSchema()), tt.recipe_of(tt.build(name), seed=5),
                                 "x.png", 2)
    (op,) = ops
    assert len(json.dumps(op)) < 400, op
    params = {k: v for k, v in op.items() if k != "op"}
    again = apply(tt.build(name), img, params).astype(int)
    diff = np.abs(again - out.image.astype(int))
    assert diff.mean() < 0.05 and diff.max() <= 3, (diff.mean(), diff.max())


@pytest.mark.parametrize("name", CCTV)
def test_copies_differ(name):
    sample = photo_sample(320, 240)
    outs = {augment_sample(sample, tt.recipe_of(tt.build(name), seed=1), "k.jpg", c)[0].image.tobytes()
            for c in range(1, 5)}
    assert len(outs) > 1


# ---------------------------------------------------------------- overlays stay photometric honestly
@pytest.mark.parametrize("name", OVERLAYS)
def test_overlays_are_light_enough_to_keep_labels(name):
    """Occluders on the lens or screen are photometric only because they hide little: over many draws
    at most 3% of the frame is changed by more than 96 levels (much of a solid cover), and the
    average pixel moves less than 20 levels."""
    img = photo(640, 360)
    t = tt.build(name)
    for seed in range(12):
        _, out = draw(t, img, seed)
        diff = np.abs(out.astype(int) - img.astype(int)).max(axis=2)
        assert (diff > 96).mean() < 0.03, (seed, (diff > 96).mean())
        assert diff.mean() < 20, (seed, diff.mean())


@pytest.mark.parametrize("size", [(64, 48), (96, 72), (160, 120)])
def test_lens_insect_is_as_light_on_small_frames(size):
    """An insect or web on a small frame (thumbnails, low-resolution CCTV streams) hides no more
    than on a large one: its legs and threads are drawn at a resolution where a pixel is thin."""
    img = photo(*size)
    t = tt.build("LensInsect")
    for seed in range(24):
        _, out = draw(t, img, seed)
        diff = np.abs(out.astype(int) - img.astype(int)).max(axis=2)
        assert (diff > 96).mean() < 0.03, (seed, (diff > 96).mean())
        assert diff.mean() < 20, (seed, diff.mean())


# ---------------------------------------------------------------- LensDistortion: maps
SIZE_ST = st.tuples(st.integers(8, 2000), st.integers(8, 2000))


@settings(max_examples=200, deadline=None)
@given(k=st.floats(-0.8, 0.8), fill_frame=st.booleans(), size=SIZE_ST,
       fx=st.lists(st.floats(0, 1), min_size=1, max_size=20), fy=st.floats(0, 1))
def test_lens_maps_are_inverses(k, fill_frame, size, fx, fy):
    """Every output pixel's source point maps back onto it (< 0.01 px), and every source point that
    lands on the canvas maps back to itself."""
    w, h = size
    x = np.array(fx) * w
    y = np.full_like(x, fy * h)
    sx, sy = ck.lens_distortion_dst_to_src(x, y, k, size, fill_frame)
    back = ck.lens_distortion_src_to_dst(np.stack([sx, sy], -1), k, size, fill_frame)
    assert np.all(np.hypot(back[:, 0] - x, back[:, 1] - y) < 0.01)
    src = np.stack([x, y], -1)
    dst = ck.lens_distortion_src_to_dst(src, k, size, fill_frame)
    on = (dst[:, 0] >= 0) & (dst[:, 0] <= w) & (dst[:, 1] >= 0) & (dst[:, 1] <= h)
    rx, ry = ck.lens_distortion_dst_to_src(dst[on, 0], dst[on, 1], k, size, fill_frame)
    assert np.all(np.hypot(rx - src[on, 0], ry - src[on, 1]) < 0.01)


@pytest.mark.parametrize("k, fill_frame, size", [(-0.8, True, (1280, 720)), (-0.31, False, (641, 359)),
                                                 (0.2, True, (97, 33)), (0.55, False, (1280, 720))])
def test_lens_map_from_a_row_and_a_column_is_the_full_grid_map(k, fill_frame, size):
    """push_map hands the distortion a row and a column of pixel centres that broadcast to the grid;
    the map must be exactly (bit for bit) the one the full (h, w) grids give, and so must the
    arrays cv2.remap reads."""
    from augcli.transforms.base import _map_to_cv

    w, h = size
    row = (np.arange(w, dtype=np.float32) + 0.5)[None, :]
    col = (np.arange(h, dtype=np.float32) + 0.5)[:, None]
    xs, ys = np.meshgrid(row[0], col[:, 0])
    full = ck.lens_distortion_dst_to_src(xs, ys, k, size, fill_frame)
    broadcast = ck.lens_distortion_dst_to_src(row, col, k, size, fill_frame)
    for a, b in zip(full, broadcast):
        assert b.shape == (h, w) and b.dtype == np.float32
        assert a.tobytes() == b.tobytes()
        assert _map_to_cv(b, (h, w)).tobytes() == (np.asarray(a, np.float32) - 0.5).tobytes()
    assert _map_to_cv(row, (h, w)).shape == (h, w)  # a map that returned a row is spread over the grid


@pytest.mark.parametrize("k", [-0.3, -0.1, 0.1, 0.3])
def test_lens_maps_on_a_dense_grid_and_the_sign_convention(k):
    w, h = 1280, 720
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32) + 0.5, np.arange(h, dtype=np.float32) + 0.5)
    sx, sy = ck.lens_distortion_dst_to_src(xs, ys, k, (w, h), True)
    back = ck.lens_distortion_src_to_dst(np.stack([sx, sy], -1).astype(np.float64), k, (w, h), True)
    err = np.hypot(back[..., 0] - xs, back[..., 1] - ys)
    assert err.max() < 0.01, err.max()
    # fill_frame: the whole output canvas shows source pixels
    assert sx.min() >= 0 and sx.max() <= w and sy.min() >= 0 and sy.max() <= h
    # a straight source line near the top: barrel (k < 0) bows its middle outward (up), pincushion inward
    line = np.stack([np.linspace(100, w - 100, 41), np.full(41, 150.0)], -1)
    bent = ck.lens_distortion_src_to_dst(line, k, (w, h), True)
    sag = bent[20, 1] - (bent[0, 1] + bent[-1, 1]) / 2
    assert (sag < -1) if k < 0 else (sag > 1), sag


def test_lens_distortion_k_zero_is_the_identity():
    sample = photo_sample(320, 240)
    out, ops, _ = augment_sample(sample, tt.recipe_of(tt.build("LensDistortion", k=0.0)), "a.jpg", 1)
    assert out.image.tobytes() == sample.image.tobytes()
    tt.assert_same_objects(out.objects, sample.objects)


# ---------------------------------------------------------------- LensDistortion: colour-patch oracle
LENS_CASES = [[{"type": "LensDistortion", "k": k}] for k in (-0.3, -0.1, 0.1, 0.3)] + [
    [{"type": "LensDistortion", "k": -0.3, "fill_frame": False}],
    [{"type": "LensDistortion", "k": [-0.3, 0.3]}, {"type": "HorizontalFlip", "p": 0.5}],
]
LENS_IDS = ["k-0.3", "k-0.1", "k+0.1", "k+0.3", "k-0.3-unfilled", "random+flip"]
EDGE_TOL = 2.0  # px between a label edge and the outermost pixel showing its colour at all
MIN_SHARE = 0.1


def _touched(img: np.ndarray, colour) -> np.ndarray:
    """Pixels showing at least MIN_SHARE of `colour` blended with grey (the background) or black (the
    fill): on the segment from a grey to the colour, so anti-aliased edges count."""
    c = np.array(colour, np.float64)
    px = img.astype(np.float64)
    full = c > 127
    on, off = px[..., full], px[..., ~full]
    return (np.ptp(on, axis=-1) <= 24) & (np.ptp(off, axis=-1) <= 24) & (on.mean(-1) - off.mean(-1) >= MIN_SHARE * 255)


def _check_box(img, label, cls) -> None:
    core = oracle._pixel_box(oracle._core(img, oracle.PALETTE[cls]))
    seen = oracle._pixel_box(_touched(img, oracle.PALETTE[cls]))
    if label is None:
        assert core is None or (core[2] - core[0]) * (core[3] - core[1]) < 30, f"class {cls} visible, no label"
        return
    if seen is None:
        assert (label[2] - label[0]) * (label[3] - label[1]) < 4, f"class {cls}: label {label} but no colour"
        return
    if core is not None:
        assert np.all(label[:2] <= core[:2] + 1.0) and np.all(label[2:] >= core[2:] - 1.0), (
            f"class {cls}: label {label} cuts its colour {core}")
    assert np.all(np.abs(label - seen) <= EDGE_TOL), f"class {cls}: label {label} loose or cut; colour over {seen}"


@pytest.mark.parametrize("pipeline", LENS_CASES, ids=LENS_IDS)
def test_lens_distortion_boxes_follow_their_colour(tmp_path, pipeline):
    out = oracle._run(tmp_path, "detect", pipeline, copies=3)
    n = 0
    for rec in oracle._records(out):
        img = cv2.imread(str(out / rec["output"]))
        h, w = img.shape[:2]
        boxes = {cls: oracle._yolo_box(vals, w, h) for cls, vals in oracle._read_labels(out / rec["label"], w, h)}
        for cls in range(len(oracle.BOXES)):
            _check_box(img, boxes.get(cls), cls)
        n += 1
    assert n == 3 * 4


@pytest.mark.parametrize("pipeline", LENS_CASES, ids=LENS_IDS)
def test_lens_distortion_polygons_follow_their_colour(tmp_path, pipeline):
    """test_oracle's check: IoU > 0.85 between each written polygon and its colour, vertices on the
    canvas, no visible colour unlabelled."""
    oracle.test_polygons_follow_their_colour(tmp_path, pipeline, None)


@pytest.mark.parametrize("pipeline", LENS_CASES, ids=LENS_IDS)
def test_lens_distortion_keypoints_sit_on_their_dots(tmp_path, pipeline):
    out = oracle._run(tmp_path, "pose", pipeline, copies=3)
    for rec in oracle._records(out):
        img = cv2.imread(str(out / rec["output"]))
        h, w = img.shape[:2]
        (cls, vals), = oracle._read_labels(out / rec["label"], w, h)
        _check_box(img, oracle._yolo_box(vals, w, h), 0)
        kps = vals[4:].reshape(3, 3) * (w, h, 1)
        mirrored = oracle._is_reflection(rec["ops"])
        for j in range(3):
            x, y, v = kps[oracle.FLIP_IDX[j] if mirrored else j]
            ys, xs = np.nonzero(oracle._core(img, oracle.PALETTE[1 + j]))
            assert v > 0 and len(xs) > 0, f"{rec['output']}: dot {j} lost"
            centre = np.array([xs.mean() + 0.5, ys.mean() + 0.5])
            assert np.hypot(*(centre - (x, y))) < 1.0, f"{rec['output']}: keypoint at {(x, y)}, dot at {centre}"


# ---------------------------------------------------------------- kernels on known pictures
@pytest.mark.parametrize("level", [20, 60, 128, 220])
@pytest.mark.parametrize("light,auto_gain,full_well,read_noise",
                         [(0.05, 0.6, 2000, 4), (0.02, 0.8, 1000, 6), (0.1, 0.4, 4000, 2), (0.5, 0.0, 20000, 3)])
def test_low_light_noise_matches_poisson_plus_gaussian(level, light, auto_gain, full_well, read_noise):
    """Mean and spread of a flat patch against a Monte Carlo of the sensor model itself: Poisson
    photo-electrons plus Gaussian read noise, gained, clipped at black and re-encoded to sRGB."""
    out = ck.low_light_image(flat(level, 300, 300), light, auto_gain, full_well, read_noise, (3, 7)).astype(float)
    rng = np.random.default_rng(0)
    e = ck._srgb_to_linear(level / 255) * light * full_well
    sim = (rng.poisson(e, 200_000) + rng.normal(0, read_noise, 200_000)) * light**-auto_gain / full_well
    ref = np.clip(np.rint(ck._linear_to_srgb(np.clip(sim, 0, None)) * 255), 0, 255)
    assert abs(out.mean() - ref.mean()) < 1.5 + 0.02 * ref.mean()
    assert abs(out.std() - ref.std()) < 0.6 + 0.08 * ref.std()


def test_low_light_noise_grows_in_the_dark():
    """Shot noise: relative noise falls as the signal rises (not a fixed Gaussian)."""
    ramp = np.repeat(np.repeat(np.array([40, 120, 220], np.uint8), 200)[None, :, None], 200, axis=0).repeat(3, axis=2)
    out = ck.low_light_image(ramp, 0.05, 1.0, 2000, 1.0, (0, 0)).astype(float)
    snr = [out[:, i * 200:(i + 1) * 200].mean() / out[:, i * 200:(i + 1) * 200].std() for i in range(3)]
    assert snr[0] < snr[1] < snr[2]


@pytest.mark.parametrize("angle", [0, 20, 45, 90, 135, 163])
@pytest.mark.parametrize("length", [2, 7, 15.5, 31])
def test_motion_blur_is_a_centred_line_of_the_given_length(length, angle):
    img = np.zeros((121, 121), np.uint8)
    img[60, 60] = 255
    out = ck.motion_blur_image(img, length, angle).astype(float)
    ys, xs = np.mgrid[0:121, 0:121]
    m = out.sum()
    cx, cy = (out * xs).sum() / m, (out * ys).sum() / m
    assert abs(cx - 60) < 0.05 and abs(cy - 60) < 0.05  # nothing shifts
    a = math.radians(angle)
    along = (xs - cx) * math.cos(a) - (ys - cy) * math.sin(a)
    across = (xs - cx) * math.sin(a) + (ys - cy) * math.cos(a)
    spread = math.sqrt((out * along**2).sum() / m)
    assert spread == pytest.approx(length / math.sqrt(12), rel=0.25, abs=0.5)  # a uniform line of that length
    assert math.sqrt((out * across**2).sum() / m) < 0.7


@pytest.mark.parametrize("radius", [1.0, 2.5, 6.0, 14.0])
def test_defocus_is_a_disk_of_the_given_radius(radius):
    img = np.zeros((161, 161), np.uint8)
    img[78:83, 78:83] = 255  # a 5x5 dot: enough energy to survive the reduced-resolution path
    out = ck.defocus_blur_image(img, radius).astype(float)
    ys, xs = np.mgrid[0:161, 0:161] + 0.5
    m = out.sum()
    r2 = ((xs - 80.5) ** 2 + (ys - 80.5) ** 2)
    # variance per axis: a disk of radius r has r^2/4, the dot 25/12
    assert math.sqrt((out * (xs - 80.5) ** 2).sum() / m) == pytest.approx(math.sqrt(radius**2 / 4 + 25 / 12), rel=0.2)
    assert out[r2 > (radius + 2.5 + 0.12 * radius) ** 2 + 8].max() <= 2  # nothing far outside the disk
    np.testing.assert_array_equal(ck.defocus_blur_image(flat(90), radius), flat(90))


def test_downscale_keeps_flat_flat_and_loses_detail():
    np.testing.assert_array_equal(ck.downscale_image(flat(77), 0.3), flat(77))
    img = photo(640, 360)
    out = ck.downscale_image(img, 0.25)
    lap = lambda a: cv2.Laplacian(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()  # noqa: E731
    assert lap(out) < 0.25 * lap(img)
    assert abs(out.astype(float).mean() - img.astype(float).mean()) < 1.5


@pytest.mark.parametrize("w,h,scale", [(1280, 720, 0.37), (333, 211, 0.25), (640, 480, 0.5), (50, 40, 0.9)])
def test_shrink_matches_area_averaging(w, h, scale):
    img = photo(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    ours = ck.shrink(img, size).astype(float)
    ref = cv2.resize(img, size, interpolation=cv2.INTER_AREA).astype(float)
    assert np.abs(ours - ref).mean() < 3.0  # the last factor (1/2 to 1) is linear, not area


def test_interlace_keeps_one_field_and_shifts_the_other():
    img = photo(320, 240)
    for odd, shift in [(True, 5), (False, -3)]:
        out = ck.interlace_image(img, shift, odd)
        kept, moved = (0, 1) if odd else (1, 0)
        np.testing.assert_array_equal(out[kept::2], img[kept::2])
        if shift > 0:
            np.testing.assert_array_equal(out[moved::2, shift:], img[moved::2, :-shift])
        else:
            np.testing.assert_array_equal(out[moved::2, :shift], img[moved::2, -shift:])


def test_jpeg_quality_orders_the_damage():
    img = photo(320, 240)
    err = [np.abs(ck.jpeg_image(img, q).astype(int) - img.astype(int)).mean() for q in (15, 40, 90)]
    assert err[0] > err[1] > err[2] > 0


def test_vignette_darkens_corners_by_strength():
    out = ck.vignette_image(flat(200, 321, 241), 0.4).astype(float)
    assert abs(out[120, 160, 0] - 200) <= 2
    assert out[0, 0, 0] == pytest.approx(200 * 0.6, abs=6)
    assert out[0, 0, 0] < out[0, 160, 0] < out[120, 160, 0]


def test_shadows_only_darken_and_lights_only_brighten():
    img = photo(640, 360)
    for seed in range(4):
        for name in ("Shadow", "Vignette"):
            _, out = draw(tt.build(name), img, seed)
            assert np.all(out <= img) and np.any(out < img), name
        for name in ("SunFlare", "HeadlightGlare"):
            _, out = draw(tt.build(name), img, seed)
            assert np.all(out >= img) and np.any(out > img), name


def test_sun_flare_is_brightest_at_its_position():
    img = flat(40, 640, 360)
    out = wk.sun_flare_image(img, 500, 80, 50, 1.0, 0).astype(float).sum(axis=2)
    ys, xs = np.nonzero(out >= out.max() - 3)  # the burnt-out disc
    assert abs(xs.mean() + 0.5 - 500) < 3 and abs(ys.mean() + 0.5 - 80) < 3


def test_headlights_burn_out_at_each_light():
    img = flat(20, 640, 360)
    lights = [(200.0, 250.0), (330.0, 250.0)]
    out = wk.headlight_glare_image(img, lights, 18, 1.0, 0)
    for x, y in lights:
        assert out[int(y), int(x)].min() >= 250
    assert out[30, 600].max() < 80  # far from the lights the night stays dark


def test_fog_lifts_toward_airlight_more_at_the_top():
    img = flat(0, 320, 240)
    out = wk.fog_image(img, 0.6, 0.0, (0, 0)).astype(float)
    assert out.min() > 0
    assert out[:40].mean() > out[-40:].mean() + 10
    assert out.max() < 0.6 * 255 + 5


@pytest.mark.parametrize("name", ["Rain", "Snow"])
def test_precipitation_grows_with_density(name):
    img = flat(60, 640, 360)
    t = tt.build(name)
    changed = []
    for density in (0.1, 0.4, 0.9):
        params, _ = draw(t, img, 0)
        params["density"] = density
        out = apply(t, img, params).astype(int)
        changed.append((np.abs(out - 60).max(axis=2) > 40).mean())
    assert changed[0] < changed[1] < changed[2]


@pytest.mark.parametrize("angle", [-30.0, 0.0, 25.0])
def test_rain_streaks_lean_by_their_angle(angle):
    """The streak direction (from the structure tensor of the rain layer) is `angle` degrees from
    vertical, tops to the left for a positive angle."""
    img = flat(0, 640, 360)
    out = wk.rain_image(img, 0.5, 40.0, angle, 0.5, 3)[..., 1].astype(float)
    gx, gy = cv2.Sobel(out, cv2.CV_64F, 1, 0), cv2.Sobel(out, cv2.CV_64F, 0, 1)
    jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
    across = 0.5 * math.degrees(math.atan2(2 * jxy, jxx - jyy))  # dominant gradient: across the streaks
    # a streak along (sin a, cos a) has its gradient along (cos a, -sin a): atan2(-sin a, cos a) = -a
    assert abs(across + angle) < 4, across


def test_night_vision_is_monochrome_with_grain():
    img = photo(320, 240)
    _, out = draw(tt.build("NightVision"), img, 0)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    _, flat_out = draw(tt.build("NightVision", hotspot=0.0, bloom=0.0), flat(100, 200, 200), 0)
    assert 2 < flat_out[50:150, 50:150, 0].astype(float).std() < 15


@pytest.mark.parametrize("corner", ["top_left", "top_right", "bottom_left", "bottom_right"])
def test_timestamp_sits_in_its_corner(corner):
    img = flat(128, 640, 360)
    t = tt.build("TimestampOverlay", corner=corner, camera_name="GATE 2")
    params, out = draw(t, img, 4)
    assert params["corner"] == corner
    ys, xs = np.nonzero(np.any(out != img, axis=2))
    assert len(xs) > 200
    top, left = corner.startswith("top"), corner.endswith("left")
    assert (ys.max() < 360 * 0.25) if top else (ys.min() > 360 * 0.75)
    assert (xs.max() < 640 * 0.6) if left else (xs.min() > 640 * 0.4)


def test_timestamp_text_comes_from_the_recorded_time():
    t = tt.build("TimestampOverlay", years=[2021, 2021], format="%d/%m/%Y %H:%M")
    params = t.sample(np.random.default_rng(0), (640, 360))
    text = ck.timestamp_text(params["timestamp"], "%d/%m/%Y %H:%M")
    assert re.fullmatch(r"\d\d/\d\d/2021 \d\d:\d\d", text), text
    assert ck.timestamp_text(0, "%Y-%m-%d %H:%M:%S") == "1970-01-01 00:00:00"


def test_timestamp_fits_narrow_frames():
    img = flat(128, 16, 1024)
    _, out = draw(tt.build("TimestampOverlay"), img, 0)
    assert not np.array_equal(out, img)


@pytest.mark.parametrize("kwargs,key", [
    ({"camera_name": "CAMÉRA"}, "camera_name"),
    ({"camera_name": "A\nB"}, "camera_name"),
    ({"camera_name": 7}, "camera_name"),
    ({"format": 5}, "format"),
    ({"corner": "middle"}, "corner"),
])
def test_timestamp_parameters_are_validated(kwargs, key):
    with pytest.raises(ParamError) as exc:
        tt.build("TimestampOverlay", **kwargs)
    assert key in str(exc.value)


@pytest.mark.parametrize("value", [[0, 0, 1], [0.5, 0, 0.2, 1], [0, 0, 1.5, 1], "top"])
def test_sun_flare_position_is_validated(value):
    with pytest.raises(ParamError):
        tt.build("SunFlare", position=value)


def test_insect_tone_follows_the_light():
    """auto: a dark bug by day, a bright (IR-lit) one at night."""
    t = tt.build("LensInsect", kind="insect", opacity=0.8)
    day, night = photo(640, 360), (photo(640, 360) // 6)
    params, out_day = draw(t, day, 2)
    out_night = apply(t, night, params)
    assert (out_day.astype(int) - day).sum() < 0 < (out_night.astype(int) - night).sum()


# ---------------------------------------------------------------- the shipped recipe
def test_cctv_recipe_loads_and_runs():
    recipe = load_recipe(ROOT / "configs" / "cctv.yaml")
    used = {leaf.name for leaf in recipe.pipeline.leaves()}
    assert used & set(CCTV) and len(used & set(CCTV)) >= 10
    sample = photo_sample(320, 240)
    for copy in range(1, 6):
        out, ops = augment(sample, recipe, "cam1/frame.jpg", copy)
        assert out.image.shape == sample.image.shape


def test_the_guide_covers_every_transform_and_its_parameters():
    guide = (ROOT / "docs" / "cctv.md").read_text()
    for name in CCTV:
        assert f"`{name}`" in guide, name
        for key in registry()[name].params:
            assert f"`{key}`" in guide, f"{name}.{key} is not in docs/cctv.md"


# ---------------------------------------------------------------- timing (printed, not asserted)
def test_print_milliseconds_per_transform(capsys):
    img = photo(1280, 720)
    rows = []
    for name in CCTV:
        t = tt.build(name)
        params = [t.sample(np.random.default_rng(s), (1280, 720)) for s in range(6)]
        apply(t, img, params[0])  # warm caches (noise tiles, lookup tables)
        times = []
        for p in params:
            t0 = time.perf_counter()
            apply(t, img, p)
            times.append(time.perf_counter() - t0)
        rows.append(f"{name:18s} {1000 * min(times):6.1f} ms best  {1000 * float(np.median(times)):6.1f} ms median")
    with capsys.disabled():
        print("\nCCTV transforms at 1280x720 (this machine, wall clock):\n  " + "\n  ".join(rows))

"""Box-only objects (no polygon) through geometric transforms and chains of them, checked
against an independent oracle: each object is drawn as a solid colour patch (an ellipse
inscribed in its box, or the box itself), the pipeline runs, and each label box is compared
with where its colour ended up, or with the analytic extent of the moved shape."""
from __future__ import annotations

import math

import numpy as np
import pytest

from augcli.sample import LabelPolicy, LabelSchema, Objects, Sample, filter_objects
from augcli.transforms.base import AugmentState
from augcli.transforms.geometric import RandomCrop, Rotate

RED = (0, 0, 255)


def _ellipse_sample(w: int, h: int, box: tuple[float, float, float, float]) -> Sample:
    """A grey picture with one red ellipse exactly inscribed in `box` (pixel centres inside)."""
    img = np.full((h, w, 3), 128, np.uint8)
    x1, y1, x2, y2 = box
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    img[((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0] = RED
    objects = Objects(np.array([0]), np.array([box], float), [None])
    return Sample(img, objects, LabelSchema(names={0: "thing"}))


def _colour_box(img: np.ndarray, colour, tol: int = 60) -> np.ndarray:
    mask = np.all(np.abs(img.astype(np.int16) - np.array(colour, np.int16)) <= tol, axis=2)
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


def _rotated_ellipse_box(box, angle: float, w: int, h: int) -> np.ndarray:
    """Analytic tight box of the ellipse inscribed in `box` after Rotate(angle) about the canvas centre."""
    x1, y1, x2, y2 = box
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    a = math.radians(angle)
    c, s = math.cos(a), math.sin(a)
    ox, oy = w / 2, h / 2
    ncx = ox + c * (cx - ox) + s * (cy - oy)  # counter-clockwise as displayed (y down)
    ncy = oy - s * (cx - ox) + c * (cy - oy)
    hx, hy = math.hypot(rx * c, ry * s), math.hypot(rx * s, ry * c)
    return np.array([ncx - hx, ncy - hy, ncx + hx, ncy + hy])


@pytest.mark.parametrize("angle", [5.5, 17.0, 39.5, -62.0])
def test_ellipse_policy_box_never_cuts_the_inscribed_ellipse(angle):
    """bbox_rotate: ellipse stands for the box's inscribed ellipse: the rotated box must contain
    that whole ellipse (its pixels, and its exact extent), and still be no looser than corners.
    An inscribed 36-gon stand-in cut a large ellipse by over 2 px."""
    w, h, box = 1280, 720, (100.0, 60.0, 1180.0, 660.0)
    sample = _ellipse_sample(w, h, box)
    state = AugmentState(sample, LabelPolicy(0.0, 0.0, "ellipse"))
    Rotate().apply(state, {"angle": angle})
    out = state.finish()
    label = out.objects.boxes[0]
    exact = np.clip(_rotated_ellipse_box(box, angle, w, h), 0, [w, h, w, h])
    assert np.all(label[:2] <= exact[:2] + 1e-6) and np.all(label[2:] >= exact[2:] - 1e-6), (label, exact)
    pixels = _colour_box(out.image, RED)
    assert np.all(label[:2] <= pixels[:2] + 1.0) and np.all(label[2:] >= pixels[2:] - 1.0), (label, pixels)
    corners = AugmentState(sample, LabelPolicy(0.0, 0.0, "corners"))
    Rotate().apply(corners, {"angle": angle})
    loose = corners.finish().objects.boxes[0]
    assert np.all(label[:2] >= loose[:2] - 1e-9) and np.all(label[2:] <= loose[2:] + 1e-9)


@pytest.mark.parametrize("angle", [0.0, 90.0, 180.0])
def test_ellipse_policy_box_unrotated_is_the_box(angle):
    """Without a turn (or a quarter / half turn) the ellipse's box is the object's box exactly."""
    w, h, box = 300, 300, (40.0, 70.0, 200.0, 130.0)
    state = AugmentState(_ellipse_sample(w, h, box), LabelPolicy(0.0, 0.0, "ellipse"))
    Rotate().apply(state, {"angle": angle})
    label = state.finish().objects.boxes[0]
    want = _rotated_ellipse_box(box, angle, w, h)
    np.testing.assert_allclose(label, want, atol=1e-6)


def test_ellipse_policy_chain_crop_then_rotate_keeps_the_ellipse_part_in_view():
    """A crop cuts the ellipse, a rotation follows: the box still holds every pixel left of it."""
    w, h, box = 800, 600, (150.0, 100.0, 650.0, 500.0)
    sample = _ellipse_sample(w, h, box)
    state = AugmentState(sample, LabelPolicy(0.0, 0.0, "ellipse"))
    RandomCrop(size=[500, 700]).apply(state, {"crop": [0, 0, 700, 500]})
    Rotate().apply(state, {"angle": 33.0})
    out = state.finish()
    kept, _ = filter_objects(out.objects, LabelPolicy(0.0, 0.0, "ellipse"))
    assert len(kept) == 1
    label, pixels = kept.boxes[0], _colour_box(out.image, RED)
    assert np.all(label[:2] <= pixels[:2] + 1.0) and np.all(label[2:] >= pixels[2:] - 1.0), (label, pixels)

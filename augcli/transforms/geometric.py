"""Geometric transforms: each returns one 3x3 map; pixels and labels move through it together."""
from __future__ import annotations

import math

import numpy as np

from augcli import geometry as g
from augcli.kernels.geometric import homography_from_points
from augcli.transforms.base import REQUIRED, GeometricTransform, log_uniform, randint, uniform
from augcli.transforms.params import Choice, Color, Number, Range, Size
from augcli.transforms.registry import register

FILL = Color(default=0, help="border colour where the picture has no source pixels")
PAD_FILL = Color(default=0, help="padding colour where the image is smaller than the output")
EMPTY_CROP_SIDE = (0.5, 1.0)  # RandomSizedBBoxSafeCrop without objects: crop side as a fraction of the image's


def crop_matrix(left: float, top: float, crop_w: float, crop_h: float, out_w: int, out_h: int) -> np.ndarray:
    """Map the window [left, left + crop_w] x [top, top + crop_h] (pixels) onto an out_w x out_h canvas."""
    return g.scaling(out_w / crop_w, out_h / crop_h) @ g.translation(-left, -top)


def window_start(rng: np.random.Generator, extent: int, window: int) -> int:
    """Where a `window`-pixel span starts over an `extent`-pixel side, drawn uniformly in whole pixels:
    inside the image when the window fits, else at or before 0, so the image sits at a random
    place inside a window larger than it."""
    return int(rng.integers(min(0, extent - window), max(0, extent - window) + 1))


@register("geometric")
class HorizontalFlip(GeometricTransform):
    """Mirror left-right; keypoints swap left/right through flip_idx."""

    def matrix(self, params, size):
        return g.hflip_matrix(size[0]), size


@register("geometric")
class VerticalFlip(GeometricTransform):
    """Mirror top-bottom; a mirror, so keypoints swap left/right through flip_idx."""

    def matrix(self, params, size):
        return g.vflip_matrix(size[1]), size


@register("geometric")
class Rotate90(GeometricTransform):
    """Turn counter-clockwise by k x 90 degrees (width and height swap for odd k)."""

    params = {"k": Range(default=(1, 3), lo=0, hi=3, integer=True, help="quarter turns, drawn from [lo, hi]")}

    def sample(self, rng, size):
        return {"k": randint(rng, self.k)}

    def matrix(self, params, size):
        return g.rot90_matrix(params["k"], *size)


@register("geometric")
class Rotate(GeometricTransform):
    """Rotate about the centre by an angle in degrees (positive = counter-clockwise), same canvas."""

    params = {
        "degrees": Range(default=(-15.0, 15.0), lo=-360, hi=360, help="angle in degrees, drawn from [lo, hi]"),
        "fill": FILL,
    }

    def sample(self, rng, size):
        return {"angle": uniform(rng, self.degrees)}

    def matrix(self, params, size):
        w, h = size
        return g.rotation_about(params["angle"], w / 2, h / 2), size


@register("geometric")
class Affine(GeometricTransform):
    """Scale, rotate and shear about the centre, then translate; same canvas."""

    params = {
        "scale": Range(default=(1.0, 1.0), lo=0.01, hi=100, help="zoom factor (1 = unchanged)"),
        "translate": Range(default=(0.0, 0.0), lo=-1, hi=1, help="shift as a fraction of width / height, drawn per axis"),
        "rotate": Range(default=(0.0, 0.0), lo=-360, hi=360, help="angle in degrees, counter-clockwise"),
        "shear": Range(default=(0.0, 0.0), lo=-80, hi=80, help="shear angle in degrees, drawn per axis"),
        "fill": FILL,
    }

    def sample(self, rng, size):
        return {
            "scale": uniform(rng, self.scale),
            "tx": uniform(rng, self.translate),
            "ty": uniform(rng, self.translate),
            "angle": uniform(rng, self.rotate),
            "shear_x": uniform(rng, self.shear),
            "shear_y": uniform(rng, self.shear),
        }

    def matrix(self, params, size):
        w, h = size
        cx, cy = w / 2, h / 2
        about_centre = (
            g.rotation_about(params["angle"], 0, 0)
            @ g.shearing(params["shear_x"], params["shear_y"])
            @ g.scaling(params["scale"], params["scale"])
        )
        m = g.translation(cx + params["tx"] * w, cy + params["ty"] * h) @ about_centre @ g.translation(-cx, -cy)
        return m, size


@register("geometric")
class Resize(GeometricTransform):
    """Resize to a fixed [height, width] (aspect ratio not kept)."""

    fixed_map = True

    params = {"size": Size(default=REQUIRED, help="output [height, width] in pixels")}

    def matrix(self, params, size):
        h, w = self.size
        return g.scaling(w / size[0], h / size[1]), (w, h)


@register("geometric")
class RandomResizedCrop(GeometricTransform):
    """Crop a random area and aspect ratio, then resize to [height, width] (as torchvision)."""

    params = {
        "size": Size(default=REQUIRED, help="output [height, width] in pixels"),
        "scale": Range(default=(0.08, 1.0), lo=1e-4, hi=1.0, help="crop area as a fraction of the image"),
        "ratio": Range(default=(3 / 4, 4 / 3), lo=1e-3, hi=1e3, help="crop aspect ratio (width / height), log-uniform"),
    }

    def sample(self, rng, size):
        width, height = size
        area = width * height
        for _ in range(10):
            target = area * uniform(rng, self.scale)
            aspect = log_uniform(rng, self.ratio)
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = int(rng.integers(0, height - h + 1))
                left = int(rng.integers(0, width - w + 1))
                return {"crop": [left, top, w, h]}
        ratio = width / height  # no draw fitted: the whole image, cut to the nearest allowed ratio
        if ratio < self.ratio[0]:  # at least one pixel: a ratio far from the image's rounds to 0 (7x5, ratio 1e-3)
            w, h = width, max(1, round(width / self.ratio[0]))
        elif ratio > self.ratio[1]:
            w, h = max(1, round(height * self.ratio[1])), height
        else:
            w, h = width, height
        return {"crop": [(width - w) // 2, (height - h) // 2, w, h]}

    def matrix(self, params, size):
        left, top, w, h = params["crop"]
        out_h, out_w = self.size
        return crop_matrix(left, top, w, h, out_w, out_h), (out_w, out_h)


@register("geometric")
class Perspective(GeometricTransform):
    """Tilt the view: each corner moves in or out by a random share of the size; same canvas."""

    # Below 1/6 of the side per corner, the moved corners always form a convex quadrilateral,
    # so the map is a proper homography (no fold, no point sent to infinity on the canvas).
    params = {
        "scale": Range(default=(0.02, 0.08), lo=0.0, hi=0.15,
                       help="how far each corner moves, as a fraction of width / height, drawn per corner and axis"),
        "fill": FILL,
    }

    def sample(self, rng, size):
        lo, hi = self.scale
        magnitude = rng.uniform(lo, hi, size=(4, 2))
        sign = rng.integers(0, 2, size=(4, 2)) * 2 - 1  # in or out, independently
        return {"corners": (magnitude * sign).tolist()}

    def matrix(self, params, size):
        w, h = size
        corners = np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])
        moved = corners + np.asarray(params["corners"]) * (w, h)
        return homography_from_points(corners, moved), size


class _Crop(GeometricTransform):
    """A window of exactly `size` pixels, cut without resampling; where it reaches past the
    image (an image smaller than the crop), the output is padded with `fill`."""

    params = {
        "size": Size(default=REQUIRED, help="output [height, width] in pixels"),
        "fill": PAD_FILL,
    }

    def matrix(self, params, size):
        left, top, w, h = params["crop"]
        return g.translation(-left, -top), (w, h)


@register("geometric")
class RandomCrop(_Crop):
    """Cut a [height, width] window at a random place; a smaller image is padded, at a random place, to that size."""

    def sample(self, rng, size):
        h, w = self.size
        return {"crop": [window_start(rng, size[0], w), window_start(rng, size[1], h), w, h]}


@register("geometric")
class CenterCrop(_Crop):
    """Cut the central [height, width] window; a smaller image is padded, centred, to that size."""

    def sample(self, rng, size):
        h, w = self.size
        return {"crop": [(size[0] - w) // 2, (size[1] - h) // 2, w, h]}


@register("geometric")
class RandomSizedBBoxSafeCrop(GeometricTransform):
    """Crop a random window that keeps every object whole, then resize to [height, width]."""

    params = {
        "size": Size(default=REQUIRED, help="output [height, width] in pixels"),
        "erosion_rate": Number(default=0.0, lo=0.0, hi=1.0,
                               help="share of the objects' joint box the crop may cut into (0 keeps every object whole)"),
    }

    def sample_for(self, rng, state):
        width, height = state.size
        objects = state.objects
        live = objects.visibility > 0  # objects already out of view do not pin the window
        boxes = objects.boxes[live]
        if objects.keypoints is not None:  # a labelled keypoint outside its box (a hand held out) is the object too
            kp = objects.keypoints[live].reshape(-1, 3)
            points = kp[kp[:, 2] > 0, :2]  # in view: a keypoint that left the canvas is already v = 0
            boxes = np.concatenate([boxes, np.concatenate([points, points], axis=1)])
        if len(boxes) == 0:
            side = uniform(rng, EMPTY_CROP_SIDE)
            w, h = max(1, round(width * side)), max(1, round(height * side))
            return {"crop": [window_start(rng, width, w), window_start(rng, height, h), w, h]}
        x1, y1 = np.maximum(boxes[:, :2].min(axis=0), 0.0)
        x2, y2 = np.minimum(boxes[:, 2:].max(axis=0), (width, height))
        ex, ey = (x2 - x1) * self.erosion_rate / 2, (y2 - y1) * self.erosion_rate / 2
        left, right = _span_around(rng, x1 + ex, x2 - ex, width)
        top, bottom = _span_around(rng, y1 + ey, y2 - ey, height)
        return {"crop": [left, top, right - left, bottom - top]}

    def matrix(self, params, size):
        left, top, w, h = params["crop"]
        out_h, out_w = self.size
        return crop_matrix(left, top, w, h, out_w, out_h), (out_w, out_h)


def _span_around(rng: np.random.Generator, lo: float, hi: float, extent: int) -> tuple[int, int]:
    """Whole-pixel [start, end) within [0, extent] that contains [lo, hi]: each end drawn
    uniformly between the span's edge and the image's edge (as Albumentations)."""
    first = min(max(math.floor(lo), 0), extent - 1)
    last = max(min(math.ceil(hi), extent), first + 1)
    return int(rng.integers(0, first + 1)), int(rng.integers(last, extent + 1))


@register("geometric")
class LongestMaxSize(GeometricTransform):
    """Scale so the longer side is `max_size` pixels, keeping the aspect ratio (up or down)."""

    fixed_map = True

    params = {"max_size": Number(default=1024, lo=1, hi=65536, integer=True,
                                 help="length of the longer side after scaling, pixels")}

    def matrix(self, params, size):
        w, h = size
        s = self.max_size / max(w, h)
        out = (max(1, round(w * s)), max(1, round(h * s)))
        return g.scaling(out[0] / w, out[1] / h), out  # the picture spans the whole rounded canvas


@register("geometric")
class PadIfNeeded(GeometricTransform):
    """Pad an image smaller than [height, width] up to that size; larger sides are left as they are."""

    params = {
        "min_size": Size(default=(1024, 1024), help="smallest output [height, width] in pixels"),
        "position": Choice(default="center", options=("center", "top_left", "random"),
                           help="where the image sits on the padded canvas"),
        "fill": PAD_FILL,
    }

    def sample(self, rng, size):
        w, h = size
        extra_w, extra_h = max(0, self.min_size[1] - w), max(0, self.min_size[0] - h)
        if self.position == "center":
            return {"left": extra_w // 2, "top": extra_h // 2}
        if self.position == "top_left":
            return {"left": 0, "top": 0}
        return {"left": int(rng.integers(0, extra_w + 1)), "top": int(rng.integers(0, extra_h + 1))}

    def matrix(self, params, size):
        w, h = size
        out = (max(w, self.min_size[1]), max(h, self.min_size[0]))
        return g.translation(params["left"], params["top"]), out


@register("geometric")
class Letterbox(GeometricTransform):
    """Scale to fit inside [height, width] keeping the aspect ratio, then pad, centred, to exactly that size (as YOLO)."""

    fixed_map = True

    params = {
        "size": Size(default=(640, 640), help="output [height, width] in pixels"),
        "fill": Color(default=114, help="padding colour (114 is YOLO's grey)"),
    }

    def matrix(self, params, size):
        w, h = size
        out_h, out_w = self.size
        s = min(out_w / w, out_h / h)
        fit_w, fit_h = min(out_w, max(1, round(w * s))), min(out_h, max(1, round(h * s)))
        left, top = (out_w - fit_w) // 2, (out_h - fit_h) // 2  # whole pixels: the padding is not resampled
        return g.translation(left, top) @ g.scaling(fit_w / w, fit_h / h), (out_w, out_h)

"""Geometric transforms: each returns one 3x3 map; pixels and labels move through it together."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from augcli import geometry as g
from augcli.transforms.base import REQUIRED, GeometricTransform, log_uniform, randint, uniform
from augcli.transforms.params import Color, Range, Size
from augcli.transforms.registry import register

FILL = Color(default=0, help="border colour where the picture has no source pixels")


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
        ratio = width / height
        if ratio < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif ratio > self.ratio[1]:
            w, h = int(round(height * self.ratio[1])), height
        else:
            w, h = width, height
        return {"crop": [(width - w) // 2, (height - h) // 2, w, h]}

    def matrix(self, params, size):
        left, top, w, h = params["crop"]
        out_h, out_w = self.size
        return g.scaling(out_w / w, out_h / h) @ g.translation(-left, -top), (out_w, out_h)

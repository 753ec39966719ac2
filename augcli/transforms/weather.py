"""Weather and light for CCTV realism: rain, snow, fog, glare, shadows. Pixels only.

Sizes are fractions of the image's shorter side (the height of a landscape frame), so one
recipe looks alike at 1280x720 and 320x240. Layouts with many random parts (streaks, flakes,
outlines) are recorded as an integer `seed` the kernel draws them from; every other random
choice is a recorded number.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augcli.kernels import weather as k
from augcli.transforms.base import PhotometricTransform, randint, uniform
from augcli.transforms.params import Param, Range, _number, _show
from augcli.transforms.registry import register

SEED_MAX = 2**31 - 1


def seed(rng) -> int:
    """A layout seed for a kernel's local generator."""
    return int(rng.integers(0, SEED_MAX))


@dataclass(frozen=True)
class Region(Param):
    """A rectangle of the frame, [x1, y1, x2, y2] as fractions of width and height."""

    def parse(self, value: Any) -> Any:
        if not isinstance(value, (list, tuple)) or len(value) != 4:
            raise ValueError(f"expected [x1, y1, x2, y2] as fractions of the frame, got {_show(value)}")
        x1, y1, x2, y2 = (_number(v, False) for v in value)
        if not (0 <= x1 <= x2 <= 1 and 0 <= y1 <= y2 <= 1):
            raise ValueError(f"expected 0 <= x1 <= x2 <= 1 and 0 <= y1 <= y2 <= 1, got {_show(value)}")
        return (x1, y1, x2, y2)

    def kind(self) -> str:
        return "[x1, y1, x2, y2] fractions of the frame"


@register("weather")
class Rain(PhotometricTransform):
    """Falling rain: bright streaks in three depth planes and a veil of water over the scene."""

    params = {
        "density": Range(default=(0.2, 0.6), lo=0, hi=1, help="0 none .. 1 downpour (about 1600 streaks at 16:9)"),
        "drop_length": Range(default=(0.04, 0.1), lo=0, hi=1, help="streak length, fraction of the shorter side"),
        "angle": Range(default=(-15.0, 15.0), lo=-80, hi=80,
                       help="lean from vertical in degrees (positive: wind to the right)"),
        "brightness": Range(default=(0.25, 0.5), lo=0, hi=1, help="streak brightness, fraction of full scale"),
    }

    def sample(self, rng, size):
        return {
            "density": uniform(rng, self.density),
            "drop_length": uniform(rng, self.drop_length),
            "angle": uniform(rng, self.angle),
            "brightness": uniform(rng, self.brightness),
            "seed": seed(rng),
        }

    def apply_image(self, image, params):
        h, w = image.shape[:2]
        return k.rain_image(image, params["density"], params["drop_length"] * min(h, w), params["angle"],
                            params["brightness"], params["seed"])


@register("weather")
class Snow(PhotometricTransform):
    """Falling snow: soft flakes, a few large out-of-focus ones near the lens, and a milky veil."""

    params = {
        "density": Range(default=(0.2, 0.6), lo=0, hi=1, help="0 none .. 1 blizzard (about 1250 flakes at 16:9)"),
        "flake_size": Range(default=(0.004, 0.01), lo=0, hi=0.2, help="flake diameter, fraction of the shorter side"),
        "angle": Range(default=(-20.0, 20.0), lo=-80, hi=80, help="drift from vertical in degrees"),
    }

    def sample(self, rng, size):
        return {
            "density": uniform(rng, self.density),
            "flake_size": uniform(rng, self.flake_size),
            "angle": uniform(rng, self.angle),
            "seed": seed(rng),
        }

    def apply_image(self, image, params):
        h, w = image.shape[:2]
        return k.snow_image(image, params["density"], params["flake_size"] * min(h, w), params["angle"], params["seed"])


@register("weather")
class Fog(PhotometricTransform):
    """Fog or mist: the scene fades toward a flat bright airlight, thicker at the top, in patches."""

    params = {
        "density": Range(default=(0.3, 0.65), lo=0, hi=1, help="share of airlight where the fog is thickest"),
        "patchiness": Range(default=(0.3, 0.8), lo=0, hi=1, help="0 even haze .. 1 drifting patches"),
    }

    def sample(self, rng, size):
        return {
            "density": uniform(rng, self.density),
            "patchiness": uniform(rng, self.patchiness),
            "offset": [int(v) for v in rng.integers(0, k.FOG_TILE, size=2)],
        }

    def apply_image(self, image, params):
        return k.fog_image(image, params["density"], params["patchiness"], tuple(params["offset"]))


@register("weather")
class SunFlare(PhotometricTransform):
    """Low sun or a floodlight in view: glow, veiling glare, rays and tinted lens ghosts."""

    params = {
        "position": Region(default=(0.0, 0.0, 1.0, 0.5),
                           help="region where the light's centre falls, [x1, y1, x2, y2] fractions of the frame"),
        "radius": Range(default=(0.08, 0.2), lo=0, hi=2, help="glow radius, fraction of the shorter side"),
        "intensity": Range(default=(0.6, 1.0), lo=0, hi=2,
                           help="strength of glow and ghosts (1 burns out the centre)"),
    }

    def sample(self, rng, size):
        x1, y1, x2, y2 = self.position
        return {
            "x": uniform(rng, (x1, x2)),
            "y": uniform(rng, (y1, y2)),
            "radius": uniform(rng, self.radius),
            "intensity": uniform(rng, self.intensity),
            "seed": seed(rng),
        }

    def apply_image(self, image, params):
        h, w = image.shape[:2]
        return k.sun_flare_image(image, params["x"] * w, params["y"] * h, params["radius"] * min(h, w),
                                 params["intensity"], params["seed"])


@register("weather")
class HeadlightGlare(PhotometricTransform):
    """Headlights facing the camera at night: pairs of burnt-out lights with bloom, smear and stars."""

    params = {
        "count": Range(default=(1, 2), lo=0, hi=8, integer=True, help="vehicles in view (each one or two lights)"),
        "size": Range(default=(0.04, 0.08), lo=0, hi=0.5, help="bloom radius of a light, fraction of the shorter side"),
        "intensity": Range(default=(0.6, 1.0), lo=0, hi=2, help="strength of the glare"),
    }

    def sample(self, rng, size):
        w, h = size
        n = randint(rng, self.count)
        radius = uniform(rng, self.size)
        lights: list[list[float]] = []
        for _ in range(n):
            cx, cy = float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.45, 0.9))
            near = 0.6 + cy  # lower in the frame = closer = lights farther apart
            gap = radius * float(rng.uniform(4.0, 6.0)) * near * min(w, h) / max(w, 1)  # as a fraction of width
            if rng.random() < 0.15:  # a motorbike
                lights.append([cx, cy])
            else:
                lights += [[cx - gap / 2, cy], [cx + gap / 2, cy]]
        return {"lights": lights, "size": radius, "intensity": uniform(rng, self.intensity), "seed": seed(rng)}

    def apply_image(self, image, params):
        h, w = image.shape[:2]
        lights = [(x * w, y * h) for x, y in params["lights"]]
        if not lights:
            return image.copy()
        return k.headlight_glare_image(image, lights, params["size"] * min(h, w), params["intensity"], params["seed"])


@register("weather")
class Shadow(PhotometricTransform):
    """Cast shadows of things out of view: soft-edged, slightly blue, irregular dark shapes."""

    params = {
        "count": Range(default=(1, 2), lo=0, hi=10, integer=True, help="number of shadow shapes"),
        "darkness": Range(default=(0.3, 0.6), lo=0, hi=1, help="share of light removed inside a shadow"),
        "softness": Range(default=(0.01, 0.04), lo=0, hi=0.5, help="penumbra width, fraction of the shorter side"),
    }

    def sample(self, rng, size):
        return {
            "count": randint(rng, self.count),
            "darkness": uniform(rng, self.darkness),
            "softness": uniform(rng, self.softness),
            "seed": seed(rng),
        }

    def apply_image(self, image, params):
        if params["count"] == 0:
            return image.copy()
        return k.shadow_image(image, params["count"], params["darkness"], params["softness"], params["seed"])

"""Camera, lens and video artefacts for CCTV realism.

All photometric (labels untouched) except LensDistortion, which bends the picture and moves
every label kind through the same map. Overlays on the lens or screen (LensDroplets,
LensInsect, TimestampOverlay) are photometric too: they are translucent or thin, so objects
behind them stay visible and keep their labels. Sizes are fractions of the image's shorter
side unless a parameter's help says otherwise.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any

from augcli.kernels import camera as k
from augcli.transforms.base import GeometricTransform, PhotometricTransform, randint, uniform
from augcli.transforms.params import Choice, Color, Flag, Param, Range, _show
from augcli.transforms.registry import register
from augcli.transforms.weather import seed


@dataclass(frozen=True)
class Text(Param):
    """A line of printable ASCII (what the OSD font can draw), at most `max_len` characters."""

    max_len: int = 64

    def parse(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {_show(value)}")
        if len(value) > self.max_len or any(c not in string.printable or c in "\t\n\r\x0b\x0c" for c in value):
            raise ValueError(f"expected one line of at most {self.max_len} printable ASCII characters, "
                             f"got {_show(value)}")
        return value

    def kind(self) -> str:
        return "text"


@dataclass(frozen=True)
class TimeFormat(Text):
    """A strftime pattern such as '%Y-%m-%d %H:%M:%S'."""

    def parse(self, value: Any) -> Any:
        value = super().parse(value)
        try:
            datetime(2020, 1, 2, 3, 4, 5).strftime(value)
        except ValueError as exc:
            raise ValueError(f"expected a strftime pattern, got {_show(value)} ({exc})") from None
        return value

    def kind(self) -> str:
        return "strftime pattern"


# ---------------------------------------------------------------- night and sensor
@register("camera")
class NightVision(PhotometricTransform):
    """Infrared night mode: monochrome IR look, illuminator hotspot, bloom, soft focus, grain."""

    params = {
        "brightness": Range(default=(0.3, 0.5), lo=0, hi=1,
                            help="mean level the camera's gain aims for, fraction of full scale"),
        "hotspot": Range(default=(0.3, 0.6), lo=0, hi=1, help="IR illuminator fall-off: light lost at the corners"),
        "bloom": Range(default=(0.2, 0.6), lo=0, hi=2, help="glow around bright areas"),
        "noise": Range(default=(4.0, 10.0), lo=0, hi=100, help="grain standard deviation, 8-bit levels"),
    }

    def sample(self, rng, size):
        return {
            "brightness": uniform(rng, self.brightness),
            "hotspot": uniform(rng, self.hotspot),
            "bloom": uniform(rng, self.bloom),
            "noise": uniform(rng, self.noise),
            "hotspot_xy": [uniform(rng, (0.4, 0.6)), uniform(rng, (0.4, 0.65))],
            "offset": [int(v) for v in rng.integers(0, k.NOISE_TILE, size=2)],
        }

    def apply_image(self, image, params):
        return k.night_vision_image(image, params["brightness"], params["hotspot"], tuple(params["hotspot_xy"]),
                                    params["bloom"], params["noise"], tuple(params["offset"]))


@register("camera")
class LowLight(PhotometricTransform):
    """Dusk or a dim scene on a small sensor: less light, signal-dependent shot noise and read noise,
    the camera's gain making up part of the loss."""

    params = {
        "light": Range(default=(0.02, 0.12), lo=0.001, hi=1, help="scene light as a fraction of the original"),
        "auto_gain": Range(default=(0.4, 0.8), lo=0, hi=1,
                           help="share of the lost brightness the camera's gain restores (log scale)"),
        "full_well": Range(default=(1500.0, 5000.0), lo=10, hi=1e6,
                           help="photo-electrons at full scale (smaller = noisier sensor)"),
        "read_noise": Range(default=(2.0, 6.0), lo=0, hi=1000, help="read noise, electrons"),
    }

    def sample(self, rng, size):
        return {
            "light": uniform(rng, self.light),
            "auto_gain": uniform(rng, self.auto_gain),
            "full_well": uniform(rng, self.full_well),
            "read_noise": uniform(rng, self.read_noise),
            "offset": [int(v) for v in rng.integers(0, k.NOISE_TILE, size=2)],
        }

    def apply_image(self, image, params):
        return k.low_light_image(image, params["light"], params["auto_gain"], params["full_well"],
                                 params["read_noise"], tuple(params["offset"]))


# ---------------------------------------------------------------- blur
@register("camera")
class MotionBlur(PhotometricTransform):
    """Camera shake or a fast mover: a straight-line blur, centred so nothing shifts."""

    params = {
        "length": Range(default=(0.01, 0.03), lo=0, hi=0.5,
                        help="blur length, fraction of the shorter side (at least 2 px)"),
        "angle": Range(default=(0.0, 180.0), lo=-360, hi=360,
                       help="direction in degrees (0 horizontal, counter-clockwise)"),
    }

    def sample(self, rng, size):
        return {"length": uniform(rng, self.length), "angle": uniform(rng, self.angle)}

    def apply_image(self, image, params):
        h, w = image.shape[:2]
        length = params["length"] * min(h, w)
        return k.motion_blur_image(image, max(length, 2.0) if length > 0 else 0.0, params["angle"])


@register("camera")
class DefocusBlur(PhotometricTransform):
    """Out of focus: a disk-shaped blur (the lens's circle of confusion)."""

    params = {"radius": Range(default=(0.003, 0.01), lo=0, hi=0.5,
                              help="disk radius, fraction of the shorter side (at least 1 px)")}

    def sample(self, rng, size):
        return {"radius": uniform(rng, self.radius)}

    def apply_image(self, image, params):
        h, w = image.shape[:2]
        radius = params["radius"] * min(h, w)
        return k.defocus_blur_image(image, max(radius, 1.0) if radius > 0 else 0.0)


# ---------------------------------------------------------------- codec, resolution, video
@register("camera")
class JpegCompression(PhotometricTransform):
    """Heavy JPEG / MJPEG compression: 8x8 blocking, ringing, colour bleeding."""

    params = {"quality": Range(default=(20, 60), lo=1, hi=100, integer=True, help="JPEG quality, 1-100")}

    def sample(self, rng, size):
        return {"quality": randint(rng, self.quality)}

    def apply_image(self, image, params):
        return k.jpeg_image(image, params["quality"])


@register("camera")
class Downscale(PhotometricTransform):
    """A low-resolution camera or sub-stream: shrink, then enlarge back to the same canvas."""

    params = {
        "scale": Range(default=(0.25, 0.5), lo=0.01, hi=1, help="resolution kept, fraction of width and height"),
        "interpolation": Choice(default="linear", options=tuple(k.INTERPOLATIONS), help="how the recorder enlarges"),
    }

    def sample(self, rng, size):
        return {"scale": uniform(rng, self.scale)}

    def apply_image(self, image, params):
        return k.downscale_image(image, params["scale"], self.interpolation)


@register("camera")
class Interlace(PhotometricTransform):
    """Interlaced analogue video: one field of rows from a moment earlier, combing the edges."""

    params = {"shift": Range(default=(0.003, 0.012), lo=0, hi=0.5,
                             help="sideways motion between the fields, fraction of the width (at least 1 px)")}

    def sample(self, rng, size):
        return {
            "shift": uniform(rng, self.shift) * (1 if rng.random() < 0.5 else -1),
            "odd": bool(rng.random() < 0.5),
        }

    def apply_image(self, image, params):
        px = params["shift"] * image.shape[1]
        px = int(round(px)) or (1 if px > 0 else -1 if px < 0 else 0)
        return k.interlace_image(image, px, params["odd"])


# ---------------------------------------------------------------- lens
@register("camera")
class LensDistortion(GeometricTransform):
    """Radial lens distortion: barrel (k < 0, wide-angle CCTV) or pincushion (k > 0).

    The division model r_src = s r / (1 + k r^2), r in half-diagonals from the centre, so k is
    about the fractional displacement at the corners. Pixels are resampled once and every label
    kind moves through the same map (outlines densified so bent edges are followed)."""

    params = {
        "k": Range(default=(-0.3, 0.3), lo=-0.8, hi=0.8, help="distortion at the corners: < 0 barrel, > 0 pincushion"),
        "fill_frame": Flag(default=True, help="zoom barrel distortion so no empty corners appear"),
        "fill": Color(default=0, help="colour where the picture has no source pixels (fill_frame false)"),
    }

    def sample(self, rng, size):
        return {"k": uniform(rng, self.k)}

    def maps(self, params, size):
        """(dst_to_src(x, y), src_to_dst(points)) in augcli's continuous pixel convention."""
        kk, fill_frame = params["k"], self.fill_frame
        return (partial(k.lens_distortion_dst_to_src, k=kk, size=size, fill_frame=fill_frame),
                partial(k.lens_distortion_src_to_dst, k=kk, size=size, fill_frame=fill_frame))

    def apply(self, state, params):
        if params["k"] == 0:
            return
        dst_to_src, src_to_dst = self.maps(params, state.size)
        state.push_map(dst_to_src, src_to_dst, state.size, fill=self.fill)


@register("camera")
class Vignette(PhotometricTransform):
    """Corners darker than the centre (cos^4 fall-off of a wide lens)."""

    params = {"strength": Range(default=(0.2, 0.5), lo=0, hi=0.99, help="share of light lost at the corners")}

    def sample(self, rng, size):
        return {"strength": uniform(rng, self.strength)}

    def apply_image(self, image, params):
        return k.vignette_image(image, params["strength"])


@register("camera")
class LensDroplets(PhotometricTransform):
    """Rain drops on the lens window: blurred, refracting, translucent-edged blobs."""

    params = {
        "count": Range(default=(2, 6), lo=0, hi=50, integer=True, help="number of drops"),
        "radius": Range(default=(0.04, 0.12), lo=0, hi=0.5, help="drop radius, fraction of the shorter side"),
    }

    def sample(self, rng, size):
        return {"count": randint(rng, self.count), "seed": seed(rng)}

    def apply_image(self, image, params):
        h, w = image.shape[:2]
        lo, hi = self.radius
        return k.lens_droplets_image(image, params["count"], (lo * min(h, w), hi * min(h, w)), params["seed"])


@register("camera")
class LensInsect(PhotometricTransform):
    """A bug or a spider web right on the lens, far out of focus: the classic CCTV false alarm."""

    params = {
        "kind": Choice(default="any", options=("any", "insect", "web"), help="what is on the lens"),
        "size": Range(default=(0.3, 0.6), lo=0, hi=3, help="span, fraction of the shorter side (a web is drawn 1.6x)"),
        "opacity": Range(default=(0.45, 0.75), lo=0, hi=1, help="strongest cover at the thickest part"),
        "tone": Choice(default="auto", options=("auto", "dark", "bright"),
                       help="insect shade: dark by day, bright when lit by IR; auto: bright on dark or "
                            "monochrome (IR) frames"),
    }

    def sample(self, rng, size):
        kind = self.kind if self.kind != "any" else ("insect" if rng.random() < 0.6 else "web")
        return {
            "kind": kind,
            "x": uniform(rng, (0.1, 0.9)),
            "y": uniform(rng, (0.1, 0.9)),
            "size": uniform(rng, self.size),
            "opacity": uniform(rng, self.opacity),
            "seed": seed(rng),
        }

    def apply_image(self, image, params):
        h, w = image.shape[:2]
        span = params["size"] * min(h, w) * (1.6 if params["kind"] == "web" else 1.0)
        bright = self.tone == "bright" or (self.tone == "auto" and k.looks_like_night(image))
        return k.lens_insect_image(image, params["kind"], params["x"] * w, params["y"] * h, span,
                                   params["opacity"], bright, params["seed"])


# ---------------------------------------------------------------- on-screen display
@register("camera")
class TimestampOverlay(PhotometricTransform):
    """DVR on-screen display: date/time and camera name burned into a corner, outlined text."""

    params = {
        "camera_name": Text(default="CAM 01", help="second OSD line ('' for none)"),
        "corner": Choice(default="random", options=("random", *k.CORNERS), help="where the text sits"),
        "text_size": Range(default=(0.028, 0.045), lo=0, hi=0.5,
                           help="character height, fraction of the image height"),
        "years": Range(default=(2015, 2025), lo=1970, hi=2100, integer=True,
                       help="the clock's year is drawn from these"),
        "format": TimeFormat(default="%Y-%m-%d %H:%M:%S", help="strftime pattern of the clock line"),
    }

    def sample(self, rng, size):
        lo = int(datetime(self.years[0], 1, 1, tzinfo=timezone.utc).timestamp())
        hi = int(datetime(self.years[1] + 1, 1, 1, tzinfo=timezone.utc).timestamp()) - 1
        return {
            "timestamp": int(rng.integers(lo, hi + 1)),
            "corner": self.corner if self.corner != "random" else k.CORNERS[int(rng.integers(len(k.CORNERS)))],
            "text_size": uniform(rng, self.text_size),
        }

    def apply_image(self, image, params):
        lines = [k.timestamp_text(params["timestamp"], self.format), self.camera_name]
        return k.timestamp_overlay_image(image, lines, params["corner"], params["text_size"] * image.shape[0])

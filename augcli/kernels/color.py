"""Photometric kernels on uint8 BGR images, done with lookup tables (cv2.LUT) to stay in uint8."""
from __future__ import annotations

import math

import cv2
import numpy as np

from augcli.kernels import into

_LEVELS = np.arange(256, dtype=np.float64)


def _lut(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


_RAMP = np.arange(256, dtype=np.uint8).reshape(1, 256)  # every level, in one row: OpenCV's vector path
_RAMP_ALONE = np.repeat(_RAMP.reshape(256, 1), 2, axis=1)[:, :1]  # one level per (strided) row: its scalar path


def linear_levels(image: np.ndarray, table: np.ndarray, gain: float, offset: float,
                  out: np.ndarray | None = None) -> np.ndarray:
    """cv2.LUT(image, table) for a uint8 `table` that is `gain * level + offset`, rounded and clipped.

    cv2.addWeighted computes that (in float32, SIMD) at about half the LUT's cost on this VM
    (0.41 vs 0.85 ms per 1280x720 image), but its rounding can differ by a level from the
    table's (about 1 call in 300 here), and between its own vector and scalar code. So all 256
    levels are first put through both of its paths: only when both give exactly the table is it
    used; otherwise the LUT. The result is always exactly cv2.LUT(image, table). `out` (same shape
    and dtype, may be `image` itself) receives it."""
    if image.dtype == np.uint8:
        vector = cv2.addWeighted(_RAMP, gain, _RAMP, 0.0, offset)
        if np.array_equal(vector[0], table) and np.array_equal(cv2.addWeighted(_RAMP_ALONE, gain, _RAMP_ALONE, 0.0, offset)[:, 0], table):
            return into(cv2.addWeighted(image, gain, image, 0.0, offset, dst=out), out)
    return into(cv2.LUT(image, table, dst=out), out)


def mean_luma(image: np.ndarray) -> float:
    """Mean brightness (0-255) with Rec.601 weights, channels in BGR order."""
    m = cv2.mean(image)
    if image.ndim == 2 or image.shape[2] == 1:
        return float(m[0])
    return 0.114 * m[0] + 0.587 * m[1] + 0.299 * m[2]


def brightness_contrast_image(image: np.ndarray, brightness: float, contrast: float,
                              out: np.ndarray | None = None) -> np.ndarray:
    """out = (in - mean) * (1 + contrast) + mean + brightness * 255.

    `brightness` and `contrast` are fractions: 0.1 adds 10% of full scale / scales
    contrast about the image's mean brightness by 1.1. `out` (same shape and dtype, may be
    `image` itself) receives the result."""
    mean = mean_luma(image)
    table = _lut((_LEVELS - mean) * (1.0 + contrast) + mean + brightness * 255.0)
    return linear_levels(image, table, 1.0 + contrast, mean - mean * (1.0 + contrast) + brightness * 255.0, out)


def hue_saturation_value_image(image: np.ndarray, hue: float, saturation: float, value: float) -> np.ndarray:
    """Shift hue by `hue` degrees (0-360 circle); scale saturation and value by (1 + fraction)."""
    if image.ndim == 2 or image.shape[2] == 1 or (hue == 0 and saturation == 0):
        # Scaling V alone scales every channel alike (hue and saturation unchanged): exact on BGR,
        # with no 8-bit HSV round trip (which alone moves saturated colours by a few levels).
        return image.copy() if value == 0 else linear_levels(image, _lut(_LEVELS * (1.0 + value)), 1.0 + value, 0.0)
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)  # OpenCV 8-bit hue runs 0..179 (degrees / 2)
    h, s, v = cv2.split(hsv)
    # floor(x + 0.5), not rint: round-half-to-even would merge neighbouring hues on odd-degree shifts
    hue_table = (np.floor(np.minimum(_LEVELS, 179) + hue / 2.0 + 0.5) % 180).astype(np.uint8)
    h = cv2.LUT(h, hue_table)
    s = cv2.LUT(s, _lut(_LEVELS * (1.0 + saturation)))
    v = cv2.LUT(v, _lut(_LEVELS * (1.0 + value)))
    return cv2.cvtColor(cv2.merge((h, s, v)), cv2.COLOR_HSV2BGR)


def _grey(image: np.ndarray) -> np.ndarray:
    """(H, W) uint8 luma, Rec.601 weights (cv2's BGR2GRAY, torchvision's rgb_to_grayscale)."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[..., 0]
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _like(grey: np.ndarray, image: np.ndarray) -> np.ndarray:
    """A single-channel result back in `image`'s channel layout."""
    if image.ndim == 2:
        return grey
    return cv2.merge([grey] * image.shape[2]).reshape(image.shape)


def grayscale_image(image: np.ndarray) -> np.ndarray:
    """Luma (Rec.601) copied into every channel: the shape is kept."""
    return _like(_grey(image), image)


def scale_brightness_image(image: np.ndarray, factor: float) -> np.ndarray:
    """out = in * factor (torchvision's adjust_brightness); 1 = unchanged."""
    return cv2.LUT(image, _lut(_LEVELS * factor))


def blend_contrast_image(image: np.ndarray, factor: float) -> np.ndarray:
    """out = mean + (in - mean) * factor, about the mean luma (torchvision's adjust_contrast)."""
    mean = mean_luma(image)
    return cv2.LUT(image, _lut(mean + (_LEVELS - mean) * factor))


def blend_saturation_image(image: np.ndarray, factor: float) -> np.ndarray:
    """out = grey + (in - grey) * factor, per pixel (torchvision's adjust_saturation); 0 = grey."""
    if image.ndim == 2 or image.shape[2] == 1:
        return image.copy()
    return cv2.addWeighted(image, factor, grayscale_image(image), 1.0 - factor, 0.0)


JITTER_OPS = ("brightness", "contrast", "saturation", "hue")


def color_jitter_image(image: np.ndarray, order: list[str], brightness: float, contrast: float,
                       saturation: float, hue: float) -> np.ndarray:
    """torchvision's ColorJitter: the four adjustments in `order` (names from JITTER_OPS).

    brightness, contrast and saturation are factors (1 = unchanged); hue is a shift in degrees."""
    ops = {
        "brightness": lambda im: scale_brightness_image(im, brightness),
        "contrast": lambda im: blend_contrast_image(im, contrast),
        "saturation": lambda im: blend_saturation_image(im, saturation),
        "hue": lambda im: hue_saturation_value_image(im, hue, 0.0, 0.0),
    }
    out = image
    for name in order:
        out = ops[name](out)
    return out if out is not image else image.copy()


def gamma_image(image: np.ndarray, gamma: float) -> np.ndarray:
    """out = 255 * (in / 255) ** gamma; gamma < 1 brightens the shadows, 1 = unchanged."""
    return cv2.LUT(image, _lut(255.0 * (_LEVELS / 255.0) ** gamma))


# pixels a CLAHE tile holds at least (a 32 x 32 tile; a 256 x 256 image keeps the full 8 x 8 grid)
CLAHE_MIN_TILE_PIXELS = 1024


def _clahe_tiles(w: int, h: int, tile_grid: int) -> tuple[int, int]:
    """(tiles across, tiles down): at most `tile_grid` a side, and fewer while a tile would hold
    fewer than CLAHE_MIN_TILE_PIXELS pixels. OpenCV clips a tile's histogram at no less than 1
    count a level and hands the excess to the lowest levels first, so on a tile of few pixels
    every level above the first few is pushed toward 255 (a flat black 3x2 image came out white;
    a flat 100x100 one at level 200, 255); on 1024 pixels that push is at most about 16 levels."""
    tx, ty = min(tile_grid, w), min(tile_grid, h)
    while tx * ty > 1 and w * h < CLAHE_MIN_TILE_PIXELS * tx * ty:
        if (w / tx < h / ty and tx > 1) or ty == 1:  # split less along the axis with the narrower tiles
            tx -= 1
        else:
            ty -= 1
    return tx, ty


def _clahe_channel(plane: np.ndarray, clip_limit: float, tile_grid: int) -> np.ndarray:
    """CLAHE of one (H, W) uint8 plane. An image of fewer than CLAHE_MIN_TILE_PIXELS pixels (one
    tile) is equalised as k x k copies of itself: the same histogram, k^2 times the counts, so
    the clip limit and OpenCV's redistribution of the excess act as on a tile of normal size."""
    h, w = plane.shape
    tx, ty = _clahe_tiles(w, h, tile_grid)
    reps = 1 if w * h >= CLAHE_MIN_TILE_PIXELS else math.ceil(math.sqrt(CLAHE_MIN_TILE_PIXELS / (w * h)))
    clahe = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(tx, ty))
    if reps == 1:
        return clahe.apply(np.ascontiguousarray(plane))
    return np.ascontiguousarray(clahe.apply(np.tile(plane, (reps, reps)))[:h, :w])


def clahe_image(image: np.ndarray, clip_limit: float, tile_grid: int) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of the L channel of CIE Lab.

    `tile_grid` tiles per side (fewer on a small image: each tile holds at least
    CLAHE_MIN_TILE_PIXELS pixels); `clip_limit` as OpenCV's."""
    if image.ndim == 2 or image.shape[2] == 1:
        return _clahe_channel(_grey(image), clip_limit, tile_grid).reshape(image.shape)
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    lab[..., 0] = _clahe_channel(lab[..., 0], clip_limit, tile_grid)
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def equalize_image(image: np.ndarray) -> np.ndarray:
    """Histogram equalisation of luma (Y of YCrCb); chroma is kept."""
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.equalizeHist(_grey(image)).reshape(image.shape)
    ycrcb = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)
    ycrcb[..., 0] = cv2.equalizeHist(np.ascontiguousarray(ycrcb[..., 0]))
    return cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2BGR)


def channel_shuffle_image(image: np.ndarray, order: list[int]) -> np.ndarray:
    """Output channel i is input channel order[i]."""
    channels = cv2.split(image)
    return cv2.merge([channels[i] for i in order])


def posterize_image(image: np.ndarray, bits: int) -> np.ndarray:
    """Keep the top `bits` bits of every level (2 ** bits levels left); 8 = unchanged."""
    table = (np.arange(256) & (0xFF << (8 - bits)) & 0xFF).astype(np.uint8)
    return cv2.LUT(image, table)


def solarize_image(image: np.ndarray, threshold: int) -> np.ndarray:
    """Invert levels at or above `threshold` (PIL's and torchvision's rule); 256 = unchanged."""
    levels = np.arange(256)
    return cv2.LUT(image, np.where(levels >= threshold, 255 - levels, levels).astype(np.uint8))

"""The photometric operations of the automatic policies (AutoAugment, RandAugment, TrivialAugment),
on uint8 BGR images, with PIL's definitions (ImageEnhance, ImageOps) as torchvision uses them.

An "enhance" operation blends the image with a degenerate version of itself:
out = degenerate + factor * (image - degenerate), so factor 1 is the identity, 0 the
degenerate image and > 1 extrapolates. Levels are rounded to the nearest and clipped to 0-255.
"""
from __future__ import annotations

import cv2
import numpy as np

_LEVELS = np.arange(256, dtype=np.float64)
# BGR weights of Rec.601 luma (PIL's "L" conversion)
_LUMA_BGR = np.array([0.114, 0.587, 0.299], np.float32)


def _lut(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _per_channel(image: np.ndarray, fn) -> np.ndarray:
    if image.ndim == 2:
        return fn(image)
    return cv2.merge([fn(np.ascontiguousarray(image[..., c])) for c in range(image.shape[2])])


def _luma(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 brightness 0-255."""
    if image.ndim == 2 or image.shape[2] == 1:
        return image.reshape(image.shape[:2]).astype(np.float32)
    return image.astype(np.float32) @ _LUMA_BGR


def blend_with(image: np.ndarray, degenerate: np.ndarray, factor: float) -> np.ndarray:
    """degenerate + factor * (image - degenerate); `degenerate` broadcasts against `image`."""
    d = np.asarray(degenerate, np.float32)
    out = d + np.float32(factor) * (image.astype(np.float32) - d)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def brightness_image(image: np.ndarray, factor: float) -> np.ndarray:
    """Blend with black: every level times `factor` (PIL ImageEnhance.Brightness)."""
    return cv2.LUT(image, _lut(_LEVELS * factor))


def color_image(image: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the image's own grey version: saturation times `factor` (PIL ImageEnhance.Color)."""
    if image.ndim == 2 or image.shape[2] == 1:
        return image.copy()
    return blend_with(image, _luma(image)[..., None], factor)


def contrast_image(image: np.ndarray, factor: float) -> np.ndarray:
    """Blend with flat grey at the image's mean brightness (PIL ImageEnhance.Contrast)."""
    mean = float(_luma(image).mean())
    return cv2.LUT(image, _lut(mean + factor * (_LEVELS - mean)))


_SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], np.float32) / 13.0  # PIL's ImageFilter.SMOOTH


def sharpness_image(image: np.ndarray, factor: float) -> np.ndarray:
    """Blend with a smoothed copy (PIL ImageEnhance.Sharpness): > 1 sharpens, < 1 softens.
    The outermost ring of pixels is left as it is, as in PIL."""
    h, w = image.shape[:2]
    if h < 3 or w < 3:
        return image.copy()
    smooth = np.rint(cv2.filter2D(image.astype(np.float32), -1, _SMOOTH, borderType=cv2.BORDER_REPLICATE))
    smooth = smooth.reshape(image.shape)
    inner = (slice(1, -1), slice(1, -1))
    degenerate = image.astype(np.float32)
    degenerate[inner] = smooth[inner]
    return blend_with(image, degenerate, factor)


def posterize_image(image: np.ndarray, bits: int) -> np.ndarray:
    """Keep the `bits` most significant bits of every level (1-8)."""
    keep = (0xFF << (8 - int(bits))) & 0xFF
    return cv2.LUT(image, (np.arange(256) & keep).astype(np.uint8))


def solarize_image(image: np.ndarray, threshold: float) -> np.ndarray:
    """Invert every level at or above `threshold` (0-255); below it, unchanged."""
    return cv2.LUT(image, np.where(_LEVELS >= threshold, 255 - _LEVELS, _LEVELS).astype(np.uint8))


def invert_image(image: np.ndarray) -> np.ndarray:
    return cv2.LUT(image, (255 - np.arange(256)).astype(np.uint8))


def autocontrast_image(image: np.ndarray) -> np.ndarray:
    """Stretch each channel so its darkest level becomes 0 and its brightest 255 (a flat channel is kept).
    Stretched levels are truncated, as PIL and torchvision do."""

    def stretch(ch: np.ndarray) -> np.ndarray:
        lo, hi = int(ch.min()), int(ch.max())
        if hi <= lo:
            return ch.copy()
        return cv2.LUT(ch, _lut(np.floor((_LEVELS - lo) * (255.0 / (hi - lo)) + 1e-6)))

    return _per_channel(image, stretch)


def equalize_image(image: np.ndarray) -> np.ndarray:
    """Histogram equalisation of each channel, PIL's ImageOps.equalize algorithm (integer steps)."""

    def equalize(ch: np.ndarray) -> np.ndarray:
        hist = np.bincount(ch.ravel(), minlength=256)
        used = hist[hist > 0]
        step = (int(used.sum()) - int(used[-1])) // 255 if len(used) else 0
        if step == 0:
            return ch.copy()
        before = np.concatenate([[0], np.cumsum(hist)[:-1]])  # pixels below each level
        table = np.minimum((before + step // 2) // step, 255).astype(np.uint8)
        return cv2.LUT(ch, table)

    return _per_channel(image, equalize)

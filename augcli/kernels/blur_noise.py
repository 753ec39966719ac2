"""Blur and noise kernels on uint8 images."""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

NOISE_TILE = 509  # prime side, so the tile's repeat never lines up with 8x8 JPEG blocks


def gaussian_blur_image(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur; `sigma` in pixels (kernel size chosen by OpenCV from sigma)."""
    if sigma <= 0:
        return image.copy()
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)


NOISE_LEVELS = 20.0  # 8-bit levels per standard deviation in the stored noise tile (mean at 128)


@lru_cache(maxsize=3)
def _noise_tile(kind: str) -> np.ndarray:
    """Unit Gaussian noise stored as uint8 (128 + NOISE_LEVELS * n, +-6 sigma), drawn once per process
    from a constant seed, and repeated 2 x 2 so any NOISE_TILE-square window at an offset is a view
    (no copy per call). `kind`: "colour" (3 independent channels), "grey" (1 channel) or "grey3"
    (the grey noise in all 3 channels)."""
    n = np.random.default_rng(0xCC7).standard_normal((NOISE_TILE, NOISE_TILE, 3))
    tile = np.clip(np.rint(128.0 + NOISE_LEVELS * n), 0, 255).astype(np.uint8)
    if kind == "grey":
        tile = tile[..., 0]
    elif kind == "grey3":
        tile = np.repeat(tile[..., :1], 3, axis=2)
    return np.ascontiguousarray(np.concatenate([np.concatenate([tile, tile], 1)] * 2, 0))


def add_noise(image: np.ndarray, std: float, offset: tuple[int, int], per_channel: bool = True) -> np.ndarray:
    """`image` plus zero-mean Gaussian noise of `std` 8-bit levels read from the fixed noise tile at
    `offset` (row, col) and repeated block by block; saturating uint8. per_channel=False adds the
    same noise to every channel (luminance grain)."""
    h, w = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels == 1:
        tile = _noise_tile("grey")
    elif channels == 3:
        tile = _noise_tile("colour" if per_channel else "grey3")
    else:
        tile = np.repeat(_noise_tile("grey")[..., None], channels, axis=2)
    oy, ox = int(offset[0]) % NOISE_TILE, int(offset[1]) % NOISE_TILE
    a = float(std) / NOISE_LEVELS
    out = np.empty_like(image)
    for y in range(0, h, NOISE_TILE):
        for x in range(0, w, NOISE_TILE):
            bh, bw = min(NOISE_TILE, h - y), min(NOISE_TILE, w - x)
            block = tile[oy:oy + bh, ox:ox + bw]
            src = image[y:y + bh, x:x + bw]
            out[y:y + bh, x:x + bw] = cv2.addWeighted(src, 1.0, block.reshape(src.shape), a, -128.0 * a)
    return out


def sharpen_image(image: np.ndarray, alpha: float, lightness: float) -> np.ndarray:
    """Blend the image with a 3x3 sharpening (Laplacian-boost) filter of it, by `alpha` (0 = unchanged).

    The filter's centre weight is 8 + `lightness`, so its sum is `lightness`: 1 keeps the
    brightness, below 1 darkens flat areas (imgaug's and Albumentations' Sharpen)."""
    effect = np.full((3, 3), -1.0)
    effect[1, 1] = 8.0 + lightness
    identity = np.zeros((3, 3))
    identity[1, 1] = 1.0
    kernel = ((1.0 - alpha) * identity + alpha * effect).astype(np.float32)
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


def median_blur_image(image: np.ndarray, ksize: int) -> np.ndarray:
    """Median of each pixel's ksize x ksize neighbourhood (`ksize` odd; 1 = unchanged)."""
    if ksize <= 1:
        return image.copy()
    return cv2.medianBlur(image, ksize)

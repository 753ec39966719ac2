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


@lru_cache(maxsize=1)
def _noise_tile() -> np.ndarray:
    """A fixed tile of unit Gaussian noise, drawn once per process from a constant seed."""
    return np.random.default_rng(0xA5C11).standard_normal((NOISE_TILE, NOISE_TILE, 3)).astype(np.float32)


def gaussian_noise_image(image: np.ndarray, std: float, offset: tuple[int, int], per_channel: bool) -> np.ndarray:
    """Add Gaussian noise of standard deviation `std` (8-bit levels), read from a fixed noise
    tile rolled by `offset` (row, col) and repeated over the image block by block.

    per_channel=False adds the same noise to every channel (luminance grain)."""
    h, w = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    tile = np.roll(_noise_tile(), (-offset[0], -offset[1]), axis=(0, 1))
    if not per_channel or channels != 3:
        tile = np.repeat(tile[..., :1], channels, axis=2) if channels > 1 else tile[..., 0]
    out = np.empty_like(image)
    for y in range(0, h, NOISE_TILE):
        for x in range(0, w, NOISE_TILE):
            src = image[y:y + NOISE_TILE, x:x + NOISE_TILE]
            noise = tile[: src.shape[0], : src.shape[1]]
            out[y:y + NOISE_TILE, x:x + NOISE_TILE] = cv2.addWeighted(src, 1.0, noise, float(std), 0.0, dtype=cv2.CV_8U)
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

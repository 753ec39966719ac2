"""Photometric kernels on uint8 BGR images, done with lookup tables (cv2.LUT) to stay in uint8."""
from __future__ import annotations

import cv2
import numpy as np

_LEVELS = np.arange(256, dtype=np.float64)


def _lut(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def mean_luma(image: np.ndarray) -> float:
    """Mean brightness (0-255) with Rec.601 weights, channels in BGR order."""
    m = cv2.mean(image)
    if image.ndim == 2 or image.shape[2] == 1:
        return float(m[0])
    return 0.114 * m[0] + 0.587 * m[1] + 0.299 * m[2]


def brightness_contrast_image(image: np.ndarray, brightness: float, contrast: float) -> np.ndarray:
    """out = (in - mean) * (1 + contrast) + mean + brightness * 255.

    `brightness` and `contrast` are fractions: 0.1 adds 10% of full scale / scales
    contrast about the image's mean brightness by 1.1."""
    mean = mean_luma(image)
    table = _lut((_LEVELS - mean) * (1.0 + contrast) + mean + brightness * 255.0)
    return cv2.LUT(image, table)


def hue_saturation_value_image(image: np.ndarray, hue: float, saturation: float, value: float) -> np.ndarray:
    """Shift hue by `hue` degrees (0-360 circle); scale saturation and value by (1 + fraction)."""
    if image.ndim == 2 or image.shape[2] == 1 or (hue == 0 and saturation == 0):
        # Scaling V alone scales every channel alike (hue and saturation unchanged): exact on BGR,
        # with no 8-bit HSV round trip (which alone moves saturated colours by a few levels).
        return image.copy() if value == 0 else cv2.LUT(image, _lut(_LEVELS * (1.0 + value)))
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)  # OpenCV 8-bit hue runs 0..179 (degrees / 2)
    h, s, v = cv2.split(hsv)
    # floor(x + 0.5), not rint: round-half-to-even would merge neighbouring hues on odd-degree shifts
    hue_table = (np.floor(np.minimum(_LEVELS, 179) + hue / 2.0 + 0.5) % 180).astype(np.uint8)
    h = cv2.LUT(h, hue_table)
    s = cv2.LUT(s, _lut(_LEVELS * (1.0 + saturation)))
    v = cv2.LUT(v, _lut(_LEVELS * (1.0 + value)))
    return cv2.cvtColor(cv2.merge((h, s, v)), cv2.COLOR_HSV2BGR)

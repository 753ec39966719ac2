"""Pixel kernels for transforms that combine images or cover parts of them.

Pure functions on arrays: uint8 images (H, W, C) or (H, W), (H, W) uint8 class maps and
(H, W) bool masks. Rectangles are (x, y, w, h) in whole pixels: columns x..x+w-1 and rows
y..y+h-1, which is exactly the continuous rectangle [x, x+w] x [y, y+h] of augcli.geometry.
"""
from __future__ import annotations

import cv2
import numpy as np

IGNORE = 255  # class-map value for "do not train on this pixel" (augcli.sample.Sample.mask)


def rectangles_mask(rects: list[tuple[int, int, int, int]], width: int, height: int) -> np.ndarray:
    """(H, W) bool: True inside any of the rectangles (clipped to the canvas)."""
    out = np.zeros((height, width), bool)
    for x, y, w, h in rects:
        out[max(0, y):max(0, y + h), max(0, x):max(0, x + w)] = True
    return out


def fill_where(image: np.ndarray, where: np.ndarray, fill) -> np.ndarray:
    """A copy of `image` with the pixels where `where` is True set to `fill` (a grey level or one value per channel)."""
    out = image.copy()
    out[where] = fill if np.isscalar(fill) or image.ndim == 2 else np.asarray(fill, image.dtype)
    return out


def paste_where(dst: np.ndarray, src: np.ndarray, where: np.ndarray) -> np.ndarray:
    """A copy of `dst` with `src`'s pixels where `where` is True (all three the same height and width)."""
    out = dst.copy()
    out[where] = src[where]
    return out


def blend_images(a: np.ndarray, b: np.ndarray, weight_a: float) -> np.ndarray:
    """weight_a * a + (1 - weight_a) * b, rounded to the nearest level; `a` and `b` the same shape, uint8."""
    mixed = a.astype(np.float32) * np.float32(weight_a) + b.astype(np.float32) * np.float32(1.0 - weight_a)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def overlay_class_maps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The class map of two images blended together: a pixel keeps the class of whichever map has one
    (non-zero); where both have a class and the classes differ, the pixel becomes IGNORE (255),
    because both objects are seen there at once and neither class is right alone."""
    out = a.copy()
    only_b = (a == 0) & (b != 0)
    out[only_b] = b[only_b]
    out[(a != 0) & (b != 0) & (a != b)] = IGNORE
    return out


def paste_into(canvas: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """Write `patch` into `canvas` with its top-left pixel at column x, row y (in place; must fit)."""
    h, w = patch.shape[:2]
    canvas[y:y + h, x:x + w] = patch


def resize_image(image: np.ndarray, size: tuple[int, int], interpolation: str = "linear") -> np.ndarray:
    """`image` resized to `size` (width, height). Pixel centres map as in augcli.geometry: column i+0.5
    goes to (i+0.5) * new_width / width. Area averaging when shrinking both ways (no aliasing),
    bilinear otherwise; 'nearest' (for class maps) takes the source pixel under each new centre."""
    w, h = int(size[0]), int(size[1])
    if image.shape[1] == w and image.shape[0] == h:
        return image.copy()
    if interpolation == "nearest":
        flag = cv2.INTER_NEAREST_EXACT
    else:
        flag = cv2.INTER_AREA if w < image.shape[1] and h < image.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(image, (w, h), interpolation=flag)


def warp_replicate(image: np.ndarray, matrix: np.ndarray, out_size: tuple[int, int],
                   interpolation: str = "linear") -> np.ndarray:
    """Resample `image` through the 3x3 input->output affine `matrix` (augcli.geometry convention) onto an
    out_size (width, height) canvas, repeating the edge pixels beyond the border: for pasting parts
    of an image that lie inside it, where a constant border would bleed into the edge pixels."""
    shift_in = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    shift_out = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    cv_matrix = (shift_out @ matrix @ shift_in)[:2]
    flag = cv2.INTER_NEAREST if interpolation == "nearest" else cv2.INTER_LINEAR
    return cv2.warpAffine(image, cv_matrix, (int(out_size[0]), int(out_size[1])), flags=flag,
                          borderMode=cv2.BORDER_REPLICATE)

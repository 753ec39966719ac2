"""Conversions between binary masks and polygons, in augcli's continuous pixel convention."""
from __future__ import annotations

import cv2
import numpy as np


def polygons_to_mask(polygons: list[np.ndarray], width: int, height: int) -> np.ndarray:
    """(H, W) bool: pixels whose centre lies inside any of the polygons (continuous coordinates)."""
    canvas = np.zeros((height, width), np.uint8)
    sub = 16  # sub-pixel precision of cv2.fillPoly's fixed-point coordinates
    pts = [np.round((np.asarray(p, np.float64) - 0.5) * sub).astype(np.int32) for p in polygons if len(p) >= 3]
    if pts:
        cv2.fillPoly(canvas, pts, 1, lineType=cv2.LINE_8, shift=4)
    return canvas.astype(bool)


def mask_to_polygons(mask: np.ndarray, min_area: float = 1.0, tolerance: float = 0.0) -> list[np.ndarray]:
    """Outer outlines of a binary mask as (M, 2) polygons in continuous coordinates.

    Each connected region (8-connected) gives one polygon; holes are not represented.
    The outline is traced on a 2x nearest-neighbour upscale, which puts it 0.25 px inside
    the region's true pixel edges: rasterising it by pixel centres (polygons_to_mask)
    gives back exactly the same pixels. `tolerance` > 0 (pixels) simplifies the outline
    (Douglas-Peucker), trading exactness for far fewer vertices. Regions under `min_area`
    pixels^2 are left out."""
    m = np.ascontiguousarray(mask.astype(np.uint8))
    big = cv2.resize(m, (m.shape[1] * 2, m.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        if tolerance > 0:
            c = cv2.approxPolyDP(c, 2.0 * tolerance, True)  # 2x: contours live on the upscaled grid
        poly = (c.reshape(-1, 2).astype(np.float64) + 0.5) / 2.0  # centre of big pixel k is at (k + 0.5) / 2
        if len(poly) < 3:
            continue
        area = 0.5 * abs(np.dot(poly[:, 0], np.roll(poly[:, 1], -1)) - np.dot(poly[:, 1], np.roll(poly[:, 0], -1)))
        if area >= min_area:
            out.append(poly)
    return out

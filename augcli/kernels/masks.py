"""Conversions between binary masks and polygons, in augcli's continuous pixel convention."""
from __future__ import annotations

import cv2
import numpy as np

from augcli.geometry import join_parts, polygon_area, signed_polygon_area


def polygons_to_mask(polygons: list[np.ndarray], width: int, height: int) -> np.ndarray:
    """(H, W) bool: pixels whose centre lies inside any of the polygons (continuous coordinates).

    A scanline fill at pixel-centre rows with half-open spans (even-odd rule per polygon), so
    a polygon along pixel edges gives exactly those pixels. cv2.fillPoly is not used: it
    also takes pixels whose centre is on or just past the outline."""
    out = np.zeros((height, width), bool)
    for poly in polygons:
        p = np.asarray(poly, np.float64).reshape(-1, 2)
        if len(p) < 3:
            continue
        x0, y0 = p[:, 0], p[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        rows_all, xs_all = [], []
        for ax, ay, bx, by in zip(x0, y0, x1, y1):
            if ay == by:
                continue
            lo, hi = (ay, by) if ay < by else (by, ay)
            rows = np.arange(max(0, int(np.ceil(lo - 0.5))), min(height, int(np.ceil(hi - 0.5))))
            if len(rows):
                rows_all.append(rows)
                xs_all.append(ax + (rows + 0.5 - ay) * (bx - ax) / (by - ay))
        if not rows_all:
            continue
        rows = np.concatenate(rows_all)
        xs = np.concatenate(xs_all)
        order = np.lexsort((xs, rows))
        rows, xs = rows[order], xs[order]
        starts = np.ceil(xs[0::2] - 0.5).astype(np.int64).clip(0, width)
        ends = np.ceil(xs[1::2] - 0.5).astype(np.int64).clip(0, width)
        for r, a, b in zip(rows[0::2], starts, ends):
            if b > a:
                out[r, a:b] = True
    return out


def _offset_outward(poly: np.ndarray, distance: float) -> np.ndarray:
    """Move every edge of a simple polygon outward by `distance` (miter joins; exact at right angles)."""
    d = np.roll(poly, -1, axis=0) - poly  # edge i runs from vertex i to i+1
    length = np.hypot(d[:, 0], d[:, 1])
    length[length == 0] = 1.0
    d = d / length[:, None]
    normal = np.stack([d[:, 1], -d[:, 0]], axis=1) * (1.0 if signed_polygon_area(poly) > 0 else -1.0)  # outward for this orientation
    n_in, n_out = np.roll(normal, 1, axis=0), normal  # edges meeting at each vertex
    denom = 1.0 + np.sum(n_in * n_out, axis=1)
    miter = (n_in + n_out) / np.where(denom < 0.2, 1.0, denom)[:, None]  # spikes: no miter blow-up
    return poly + distance * miter


def _rectilinear(points: np.ndarray, big: np.ndarray, hole: bool = False) -> np.ndarray:
    """Turn an 8-connected contour into corners of an axis-aligned path: each diagonal step
    (a concave corner) goes round through the foreground pixel at the corner; runs of
    collinear points collapse to their ends. At a pinch (both corner pixels background: the
    region touches itself, or two holes touch, only diagonally) the step goes round the corner
    that turns the way a concave corner of the region does, which the offset onto the pixel
    edges then puts exactly on the shared pixel corner (a diagonal left there would cut the
    corner, and a one-pixel hole so cut falls under min_area and is lost)."""
    path = []
    n = len(points)
    sense = np.sign(signed_polygon_area(points.astype(np.float64)))
    want = sense if hole else -sense  # the turn of a concave corner of the region
    for i in range(n):
        a, b = points[i], points[(i + 1) % n]
        path.append(a)
        if a[0] != b[0] and a[1] != b[1]:
            if big[a[1], b[0]]:
                path.append(np.array([b[0], a[1]]))
            elif big[b[1], a[0]]:
                path.append(np.array([a[0], b[1]]))
            else:  # a pinch
                v = np.array([b[0], a[1]])
                d1, d2 = v - a, b - v
                if np.sign(d1[0] * d2[1] - d1[1] * d2[0]) != want:
                    v = np.array([a[0], b[1]])
                path.append(v)
    p = np.array(path)
    if len(p) < 3:
        return p
    prev, nxt = np.roll(p, 1, axis=0), np.roll(p, -1, axis=0)
    d1, d2 = p - prev, nxt - p
    turning = (d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]) != 0
    return p[turning] if turning.sum() >= 3 else p


def mask_to_polygons(mask: np.ndarray, min_area: float = 1.0, tolerance: float = 0.0) -> list[np.ndarray]:
    """Outlines of a binary mask as (M, 2) polygons in continuous coordinates, one per connected
    region (8-connected), holes included.

    The outline runs along the outer edges of the region's pixels, and each hole's outline along
    the edges of the hole, traversed the other way round and joined to the outer one by a
    zero-width bridge (augcli.geometry.join_parts): the polygon's area is the region's, and an
    even-odd fill (polygons_to_mask, cv2.fillPoly, pycocotools) leaves the hole empty. Outlines
    are traced on a 2x nearest-neighbour upscale (where they run through the centres of the
    region's edge pixels, 0.25 px inside) and pushed by 0.25 px onto the pixel edges. `tolerance`
    > 0 (pixels) then simplifies each (Douglas-Peucker): far fewer vertices, each within
    `tolerance` of the exact outline. Regions and holes under `min_area` pixels^2 are left out."""
    m = np.ascontiguousarray(mask.astype(np.uint8))
    big = cv2.resize(m, (m.shape[1] * 2, m.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
    contours, hierarchy = cv2.findContours(big, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    outlines: dict[int, np.ndarray] = {}
    holes: dict[int, list[np.ndarray]] = {}
    for i, c in enumerate(contours):
        parent = int(hierarchy[0][i][3]) if hierarchy is not None else -1
        path = _rectilinear(c.reshape(-1, 2), big, hole=parent >= 0)
        poly = (path.astype(np.float64) + 0.5) / 2.0  # centre of big pixel k is at (k + 0.5) / 2
        if len(poly) < 3:
            continue
        poly = _offset_outward(poly, 0.25 if parent < 0 else -0.25)  # onto the edges: away from the region
        if tolerance > 0:
            simplified = cv2.approxPolyDP(poly.astype(np.float32).reshape(-1, 1, 2), tolerance, True)
            poly = simplified.reshape(-1, 2).astype(np.float64)
        if len(poly) < 3 or polygon_area(poly) < min_area:
            continue
        if parent < 0:
            outlines[i] = poly
        else:
            holes.setdefault(parent, []).append(poly)
    out = []
    for i, poly in outlines.items():
        inner = holes.get(i, [])
        out.append(join_parts([poly], holes=inner) if inner else poly)
    return out


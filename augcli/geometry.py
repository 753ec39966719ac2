"""Pure point, box and polygon maths in continuous pixel coordinates.

Convention used everywhere in augcli: an image of width W and height H covers the
continuous rectangle [0, W] x [0, H]; pixel (col i, row j) is the unit square
[i, i+1] x [j, j+1] and its centre is (i + 0.5, j + 0.5). Normalised YOLO
coordinates times (W, H) give exactly these coordinates. Matrices are 3x3
homogeneous maps from input to output coordinates; angles are in degrees, and a
positive rotation turns the picture counter-clockwise as it is displayed
(y points down), like OpenCV's getRotationMatrix2D.
"""
from __future__ import annotations

import math

import numpy as np

IDENTITY = np.eye(3)


def translation(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def scaling(sx: float, sy: float) -> np.ndarray:
    return np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, 1.0]])


def rotation_about(degrees: float, cx: float, cy: float) -> np.ndarray:
    """Counter-clockwise (as displayed) rotation by `degrees` about (cx, cy), pixels."""
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    rot = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    return translation(cx, cy) @ rot @ translation(-cx, -cy)


def shearing(sx_degrees: float, sy_degrees: float) -> np.ndarray:
    """A vertical shear (y' = y + tan(sy) * x) followed by a horizontal one (x' = x + tan(sx) * y).

    As a product of two shears its determinant is 1 for any angles: the picture keeps its area
    and handedness. The one-matrix form [[1, tan sx], [tan sy, 1]] has determinant
    1 - tan(sx) tan(sy): it shrank the picture for any two shears of one sign, folded it onto a
    line at 45/45 degrees and mirrored it beyond (shear: 60)."""
    a, b = math.tan(math.radians(sx_degrees)), math.tan(math.radians(sy_degrees))
    return np.array([[1.0 + a * b, a, 0.0], [b, 1.0, 0.0], [0.0, 0.0, 1.0]])


def hflip_matrix(width: float) -> np.ndarray:
    return np.array([[-1.0, 0.0, width], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def vflip_matrix(height: float) -> np.ndarray:
    return np.array([[1.0, 0.0, 0.0], [0.0, -1.0, height], [0.0, 0.0, 1.0]])


def rot90_matrix(k: int, width: float, height: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Counter-clockwise rotation by k*90 degrees of a W x H canvas.

    Returns the matrix and the new canvas size (width, height)."""
    k %= 4
    if k == 0:
        return IDENTITY.copy(), (int(width), int(height))
    if k == 1:  # (x, y) -> (y, W - x); top-right corner goes to top-left
        return np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, width], [0.0, 0.0, 1.0]]), (int(height), int(width))
    if k == 2:
        return np.array([[-1.0, 0.0, width], [0.0, -1.0, height], [0.0, 0.0, 1.0]]), (int(width), int(height))
    return np.array([[0.0, -1.0, height], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), (int(height), int(width))


def jacobian_at_origin(matrix: np.ndarray) -> np.ndarray:
    """(2, 2) derivative of the map at input point (0, 0), a corner of every input canvas: where
    the two input axes point in the output. For an affine map it is the linear part; for a
    projective one the upper-left block alone is not: a translation fused after a tilt (a pad
    after Perspective) mixes in the perspective row, J = (A - t v^T / c) / c."""
    m = np.asarray(matrix, np.float64)
    c = m[2, 2]
    return (m[:2, :2] - np.outer(m[:2, 2], m[2, :2]) / c) / c


def is_reflection(matrix: np.ndarray) -> bool:
    """True when the map mirrors the picture (changes handedness): the derivative's determinant < 0
    (for a projective map the same sign all over the canvas in view, so taken at (0, 0))."""
    m = np.asarray(matrix, np.float64)
    if m[2, 0] == 0.0 and m[2, 1] == 0.0 and m[2, 2] == 1.0:  # affine: the linear part itself
        (a, b, _), (c, d, _) = m[:2].tolist()
    else:
        (a, b), (c, d) = jacobian_at_origin(m).tolist()
    return a * d - b * c < 0.0


def apply_to_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (..., 2) points through a 3x3 matrix (with the projective divide when needed)."""
    pts = np.asarray(points, dtype=np.float64)
    flat = pts.reshape(-1, 2)
    out = flat @ matrix[:2, :2].T + matrix[:2, 2]
    if matrix[2, 0] != 0.0 or matrix[2, 1] != 0.0 or matrix[2, 2] != 1.0:
        w = flat @ matrix[2, :2] + matrix[2, 2]
        out = out / w[:, None]
    return out.reshape(pts.shape)


def box_corners(box: np.ndarray) -> np.ndarray:
    """(4,) x1 y1 x2 y2 -> (4, 2) corners, clockwise as displayed from top-left."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])


def box_ellipse(box: np.ndarray, n: int = 36) -> np.ndarray:
    """(n, 2) vertices of a polygon circumscribed about the ellipse inscribed in a box: a tighter
    stand-in for a box's object under rotation. Its edges touch the ellipse at n evenly spaced
    angles, the four extreme points among them (n a multiple of 4), so it contains the whole
    ellipse -- under any affine map too, so a box made from it never cuts the ellipse (points on
    the ellipse would: an inscribed 36-gon falls short by up to 0.4% of the radius, 2 px on a
    large object) -- while its own tight box is exactly `box`."""
    x1, y1, x2, y2 = (float(v) for v in box)
    t = (np.arange(n) + 0.5) * (2.0 * np.pi / n)
    grow = 1.0 / np.cos(np.pi / n)  # vertex radius of the polygon whose edges' midpoints are on the unit circle
    u, v = np.cos(t) * grow, np.sin(t) * grow
    u = np.where(np.abs(u) > 1.0 - 1e-12, np.sign(u), u)  # the tangent edges at the extremes: exactly on the box
    v = np.where(np.abs(v) > 1.0 - 1e-12, np.sign(v), v)
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    return np.stack([cx + rx * u, cy + ry * v], axis=1)


def _next(a: np.ndarray) -> np.ndarray:
    """np.roll(a, -1, axis=0): each row's successor, the first after the last (a few times cheaper)."""
    return np.concatenate((a[1:], a[:1]))


def signed_polygon_area(poly: np.ndarray) -> float:
    """Shoelace area (pixels^2) of (M, 2) vertices, positive when they run from +x towards +y."""
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return float(np.dot(x, _next(y)) - np.dot(y, _next(x))) / 2.0


def polygon_area(poly: np.ndarray) -> float:
    """Unsigned area (pixels^2) of a simple polygon given as (M, 2) vertices (shoelace formula)."""
    return abs(signed_polygon_area(poly))


def _clip_half_plane(poly: np.ndarray, axis: int, bound: float, keep_greater: bool) -> np.ndarray:
    if len(poly) == 0:
        return poly
    v = poly[:, axis] - bound
    inside = v >= 0 if keep_greater else v <= 0
    out: list[np.ndarray] = []
    n = len(poly)
    for i in range(n):
        cur, nxt = poly[i], poly[(i + 1) % n]
        cin, nin = inside[i], inside[(i + 1) % n]
        if cin:
            out.append(cur)
        if cin != nin:
            t = v[i] / (v[i] - v[(i + 1) % n])
            p = cur + t * (nxt - cur)
            p[axis] = bound  # exact on the border, no rounding drift
            out.append(p)
    return np.array(out, dtype=np.float64).reshape(-1, 2)


def clip_polygon(poly: np.ndarray, width: float, height: float) -> np.ndarray:
    """Clip a polygon to the canvas [0, W] x [0, H] (Sutherland-Hodgman).

    The result is one polygon (a concave shape cut into pieces keeps zero-width
    bridges along the border, which add no area). Empty (0, 2) when nothing is inside."""
    p = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    if len(p) and p[:, 0].min() >= 0 and p[:, 1].min() >= 0 and p[:, 0].max() <= width and p[:, 1].max() <= height:
        return p.copy()
    p = _clip_half_plane(p, 0, 0.0, True)
    p = _clip_half_plane(p, 0, float(width), False)
    p = _clip_half_plane(p, 1, 0.0, True)
    p = _clip_half_plane(p, 1, float(height), False)
    return p


def drop_repeated_vertices(poly: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """Remove consecutive duplicate vertices (clipping creates them at corners)."""
    if len(poly) < 2:
        return poly
    nxt = _next(poly)
    keep = np.any(np.abs(poly - nxt) > eps, axis=1)
    return poly[keep]


def drop_spikes(poly: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """Remove zero-area spikes: vertices where the outline runs out along a line and straight
    back. Clipping makes them where an edge lies on the clip border (see clip_outline); they add
    no area but would stretch the tight box over pixels the object does not cover. Consecutive
    duplicates are dropped too."""
    p = drop_repeated_vertices(np.asarray(poly, np.float64).reshape(-1, 2))
    while len(p) >= 3:
        a = p - np.concatenate((p[-1:], p[:-1]))  # the edge arriving at each vertex
        b = _next(p) - p  # the edge leaving it
        cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
        scale = np.hypot(a[:, 0], a[:, 1]) * np.hypot(b[:, 0], b[:, 1])
        spike = (np.abs(cross) <= eps * scale) & ((a * b).sum(axis=1) < 0)
        if not spike.any():
            break
        first = spike & ~np.concatenate((spike[-1:], spike[:-1]))  # of a run of spikes, its first now
        if not first.any():  # every vertex a spike: a polygon folded onto a line
            return p[:0]
        p = drop_repeated_vertices(p[~first])
    return p


BORDER_SNAP = 0.005  # pixels: in an outline the canvas cuts, a vertex this close to the border is on it


def clip_outline(poly: np.ndarray, width: float, height: float) -> np.ndarray:
    """An object's outline clipped to the canvas (clip_polygon), cleaned where the canvas cut it:
    vertices within BORDER_SNAP of the border go onto it, then zero-area spikes and repeated
    vertices go. An edge meant to lie on the border (a whole-pixel crop through whole-pixel
    vertices, read from 6-decimal YOLO text as 34.00002) would otherwise leave a sliver a few
    millionths of a pixel wide that stretches the tight box. An outline the canvas does not cut
    comes back only without repeated vertices."""
    p = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    clipped = clip_polygon(p, width, height)
    if len(clipped) == len(p) and np.array_equal(clipped, p):
        return drop_repeated_vertices(clipped)
    for axis, far in ((0, float(width)), (1, float(height))):
        c = clipped[:, axis]  # a view: clip_polygon's result is this call's own array
        c[np.abs(c) < BORDER_SNAP] = 0.0
        c[np.abs(c - far) < BORDER_SNAP] = far
    return _drop_dead_ends(drop_spikes(clipped))


def _drop_dead_ends(poly: np.ndarray) -> np.ndarray:
    """Remove zero-area runs that drop_spikes cannot see: a bridge to a part or hole that the
    canvas cut leaves a path out along the border to where the bridge crossed it, with the rest of
    the object hung from its tip (out, round the loop, back), so no single vertex is a spike.

    The closed walk is split into its cycles at repeated vertices, each cycle is cleaned on its
    own (drop_spikes), and when that removed anything the remaining cycles, each keeping its
    orientation (parts and holes), are joined again by zero-width bridges between nearest vertices.
    Otherwise the polygon comes back as it was (pinches and intact bridges included)."""
    p = np.asarray(poly, np.float64).reshape(-1, 2)
    if len(p) < 4:
        return p
    keys = [tuple(k) for k in np.round(p, 7).tolist()]
    if len(set(keys)) == len(keys):  # no vertex twice: one cycle (most cut outlines); a set, not np.unique (30 us)
        return p
    stack: list[int] = []
    where: dict[tuple, int] = {}
    cycles: list[list[int]] = []
    for idx, key in enumerate(keys):
        s = where.get(key)
        if s is None:
            where[key] = len(stack)
            stack.append(idx)
            continue
        cycle = stack[s:]
        for q in cycle[1:]:
            del where[keys[q]]
        del stack[s + 1:]
        cycles.append(cycle)
    cycles.append(stack)
    if len(cycles) == 1:
        return p
    cleaned, changed = [], False
    for cycle in cycles:
        c = drop_spikes(p[cycle]) if len(cycle) >= 3 else p[:0]
        changed |= len(c) != len(cycle)
        if len(c) >= 3:
            cleaned.append(c)
    if not changed:
        return p
    if not cleaned:
        return p[:0]
    cleaned.sort(key=lambda c: -abs(signed_polygon_area(c)))
    merged = cleaned[0]
    for part in cleaned[1:]:
        merged = _bridged(merged, part)
    return drop_repeated_vertices(merged)


def tight_box(points: np.ndarray) -> np.ndarray:
    """(4,) x1 y1 x2 y2 enclosing (M, 2) points; zeros when there are none."""
    if len(points) == 0:
        return np.zeros(4)
    return np.array([points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max()])


def box_area(box: np.ndarray) -> float:
    return max(0.0, float(box[2] - box[0])) * max(0.0, float(box[3] - box[1]))


def join_parts(parts: list[np.ndarray], holes: list[np.ndarray] = ()) -> np.ndarray:
    """One polygon from several disjoint parts of one object (a COCO segmentation in pieces, the
    separate regions of a mask), with `holes` cut out of them, all joined by zero-width bridges
    between their nearest vertices.

    The bridges add no area, so the shoelace area of the result is the parts' areas less the
    holes', visibility follows, and the tight box of the result covers every part through any
    transform and clip. For that every part is turned to run the way the first one does (COCO
    writes parts either way round: two parts running against each other would cancel out), and
    every hole the other way."""
    parts = [np.asarray(p, np.float64).reshape(-1, 2) for p in parts if len(p) >= 3]
    if not parts:
        return np.zeros((0, 2))
    sense = 1.0 if signed_polygon_area(parts[0]) >= 0 else -1.0
    pieces = [(p, sense) for p in parts[1:]] + [(np.asarray(h, np.float64).reshape(-1, 2), -sense)
                                                 for h in holes if len(h) >= 3]
    merged = parts[0]
    for part, want in pieces:
        merged = _bridged(merged, part if signed_polygon_area(part) * want >= 0 else part[::-1])
    return merged


def _bridged(merged: np.ndarray, part: np.ndarray) -> np.ndarray:
    """`merged` with `part` spliced in by a zero-width bridge between their nearest vertices; both
    keep the way they run."""
    d = ((merged[:, None, :] - part[None, :, :]) ** 2).sum(axis=2)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    loop = np.concatenate([part[j:], part[: j + 1]])  # the part, from its bridge vertex round to it again
    return np.concatenate([merged[: i + 1], loop, merged[i:]])


def densify(poly: np.ndarray, max_step: float) -> np.ndarray:
    """The same closed outline with extra vertices so no edge is longer than `max_step` pixels:
    needed before a non-linear map, which bends straight edges."""
    p = np.asarray(poly, np.float64).reshape(-1, 2)
    if len(p) < 2 or max_step <= 0:
        return p
    nxt = np.roll(p, -1, axis=0)
    lengths = np.hypot(*(nxt - p).T)
    pieces = np.maximum(1, np.ceil(lengths / max_step).astype(int))
    out = [p[i] + (nxt[i] - p[i]) * (np.arange(k)[:, None] / k) for i, k in enumerate(pieces)]
    return np.concatenate(out)

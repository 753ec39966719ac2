"""Image warps for 3x3 maps given in augcli's continuous pixel convention (see augcli.geometry).

`warp_image` picks the cheapest exact method: a copy, a flip/transpose, a whole-pixel shift
(crop and/or pad), a crop plus resize, or a general warp. Each is the same map; only the cost differs."""
from __future__ import annotations

import math
import time

import cv2
import numpy as np

_EPS = 1e-9
INTERPOLATIONS = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST, "cubic": cv2.INTER_CUBIC}


def _to_opencv_convention(matrix: np.ndarray) -> np.ndarray:
    """OpenCV's warps put pixel centres at integers; augcli puts them at +0.5."""
    shift_in = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    shift_out = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    return shift_out @ matrix @ shift_in


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(np.abs(a - b) < 1e-7))


def _try_permutation(image: np.ndarray, matrix: np.ndarray, out_size: tuple[int, int]) -> np.ndarray | None:
    """Flips, 90-degree turns and transposes that map the canvas exactly onto the output canvas.

    In plain Python floats: a flip is the most common warp of all, and numpy's per-call cost on a
    3x3 matrix was most of the time this check took (66 us against the flip's 0.1 ms at 1280x720)."""
    (a, b, tx), (c, d, ty), (p, q, r) = matrix.tolist()
    lin = [round(v, 12) for v in (a, b, c, d)]
    if any(v not in (-1.0, 0.0, 1.0) for v in lin) or sum(v != 0.0 for v in lin) != 2:
        return None
    if abs(p) >= 1e-7 or abs(q) >= 1e-7 or abs(r - 1.0) >= 1e-7:
        return None
    h, w = image.shape[:2]
    swap = abs(lin[1]) > 0.5  # axes swap: transpose first, (x, y) -> (y, x)
    if swap:
        w, h = h, w
    sx, sy = (lin[1], lin[2]) if swap else (lin[0], lin[3])  # what remains after the transpose: at most two flips
    # the map this permutation makes, row by row: (x part, y part, shift)
    implied = ((0.0, sx, w if sx < 0 else 0.0), (sy, 0.0, h if sy < 0 else 0.0)) if swap else \
        ((sx, 0.0, w if sx < 0 else 0.0), (0.0, sy, h if sy < 0 else 0.0))
    actual = ((a, b, tx), (c, d, ty))
    if (w, h) != tuple(out_size) or sx == 0.0 or sy == 0.0 or any(
            abs(u - v) >= 1e-7 for row, want in zip(actual, implied) for u, v in zip(row, want)):
        return None
    out = cv2.transpose(image) if swap else image
    if sx < 0 and sy < 0:
        return cv2.flip(out, -1)
    if sx < 0:
        return cv2.flip(out, 1)
    if sy < 0:
        return cv2.flip(out, 0)
    return out if out is not image else image.copy()


def _try_crop_resize(image: np.ndarray, matrix: np.ndarray, out_size: tuple[int, int]) -> np.ndarray | None:
    """Axis-aligned positive scale + translation whose source window is whole pixels inside the image."""
    sx, sy = matrix[0, 0], matrix[1, 1]
    if abs(matrix[0, 1]) > _EPS or abs(matrix[1, 0]) > _EPS or sx <= 0 or sy <= 0:
        return None
    if not _close(matrix[2], np.array([0.0, 0.0, 1.0])):
        return None
    ow, oh = out_size
    x0, x1 = -matrix[0, 2] / sx, (ow - matrix[0, 2]) / sx
    y0, y1 = -matrix[1, 2] / sy, (oh - matrix[1, 2]) / sy
    edges = np.array([x0, x1, y0, y1])
    if np.any(np.abs(edges - np.round(edges)) > 1e-6):
        return None
    x0, x1, y0, y1 = (int(round(v)) for v in edges)
    h, w = image.shape[:2]
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h or x1 <= x0 or y1 <= y0:
        return None
    crop = image[y0:y1, x0:x1]
    if (x1 - x0, y1 - y0) == (ow, oh):
        return crop.copy()
    shrinking = ow < (x1 - x0) and oh < (y1 - y0)
    return cv2.resize(crop, (ow, oh), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _try_shift(image: np.ndarray, matrix: np.ndarray, out_size: tuple[int, int],
               fill: float | tuple[float, ...]) -> np.ndarray | None:
    """A whole-pixel translation onto any canvas (a crop, a pad, or both): pixels are copied, and
    `fill` goes where there is no source. Byte for byte what warpAffine gives, at a copy's cost."""
    if not (_close(matrix[:2, :2], np.eye(2)) and _close(matrix[2], np.array([0.0, 0.0, 1.0]))):
        return None
    shift = matrix[:2, 2]
    if np.any(np.abs(shift - np.round(shift)) > 1e-6):
        return None
    tx, ty = (int(round(v)) for v in shift)  # output pixel (x, y) shows input pixel (x - tx, y - ty)
    h, w = image.shape[:2]
    ow, oh = out_size
    out = np.empty((oh, ow, *image.shape[2:]), image.dtype)
    channels = 1 if image.ndim == 2 else image.shape[2]
    out[...] = fill if np.isscalar(fill) else (fill[0] if image.ndim == 2 else tuple(fill)[:channels])
    x0, x1, y0, y1 = max(0, tx), min(ow, w + tx), max(0, ty), min(oh, h + ty)
    if x0 < x1 and y0 < y1:
        out[y0:y1, x0:x1] = image[y0 - ty:y1 - ty, x0 - tx:x1 - tx]
    return out


def warp_image(
    image: np.ndarray,
    matrix: np.ndarray,
    out_size: tuple[int, int],
    *,
    fill: float | tuple[float, ...] = 0,
    interpolation: str = "linear",
) -> np.ndarray:
    """Resample `image` through the input->output map `matrix` onto an out_size (width, height) canvas.

    Areas with no source are filled with `fill`. 'nearest' is for label masks."""
    m00, m01, m10, m11 = (float(v) for v in matrix[:2, :2].ravel())
    if (abs(m01) <= _EPS and abs(m10) <= _EPS) or (abs(m00) <= _EPS and abs(m11) <= _EPS):
        # axis-aligned: maybe a cheaper exact way (a rotation skips these checks)
        out = _try_permutation(image, matrix, out_size)
        if out is None:
            out = _try_shift(image, matrix, out_size, fill)
        if out is None and interpolation == "linear":
            out = _try_crop_resize(image, matrix, out_size)
        if out is not None:
            return out
    if interpolation == "linear":
        image, matrix = _shrunk_first(image, matrix)
    cv_matrix = _to_opencv_convention(matrix)
    channels = 1 if image.ndim == 2 else image.shape[2]
    border = tuple([float(fill)] * channels) if np.isscalar(fill) else tuple(fill)
    flags = INTERPOLATIONS[interpolation]
    if channels == 3 and image.dtype == np.uint8 and interpolation == "linear" and _ROUTE.use_bgra():
        return _warp_bgra(image, cv_matrix, out_size, flags, border)
    return _warp(image, cv_matrix, out_size, flags, border)


SHRINK_FIRST_BELOW = 0.5  # a warp that shrinks a source axis below this scale area-resizes it first


def _shrunk_first(image: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For an affine map that shrinks the image a lot (Resize or LongestMaxSize fused with a Rotate
    or an Affine): the image area-resized (cv2.INTER_AREA) to the map's scale along each source
    axis, and the map from that smaller image, so that the bilinear warp left works at a scale
    near 1. A bilinear warp reads 2x2 pixels per output pixel however far apart those are: at a
    quarter scale it skips most of the picture, and fine texture (stripes, foliage, fences)
    turns into moire. The map is the same in continuous coordinates (augcli.geometry's
    convention), so labels, moved by `matrix`, still match. Others are returned unchanged."""
    if not _close(matrix[2], np.array([0.0, 0.0, 1.0])):
        return image, matrix
    sx = math.hypot(matrix[0, 0], matrix[1, 0])  # output pixels per source pixel along the source's x
    sy = math.hypot(matrix[0, 1], matrix[1, 1])
    if min(sx, sy) >= SHRINK_FIRST_BELOW:
        return image, matrix
    h, w = image.shape[:2]
    nw, nh = max(1, round(w * min(1.0, sx))), max(1, round(h * min(1.0, sy)))
    if (nw, nh) == (w, h):
        return image, matrix
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return small, matrix @ np.diag([w / nw, h / nh, 1.0])


def _warp_bgra(image: np.ndarray, cv_matrix: np.ndarray, out_size: tuple[int, int], flags: int, border: tuple) -> np.ndarray:
    """BGR -> BGRA, warp, -> BGR. The BGRA form is made afresh right before every warp, also
    for the second and third copy of one decoded input: the conversion reads the BGR image in
    memory order (the prefetcher's best case) and leaves its BGRA in cache for the warp, whose
    rotated reads miss badly on an image that has gone cold. Keeping the BGRA of the last input
    for its next warp cost more than it saved: on the development VM a warp of a kept, cold
    BGRA image took 4.8 ms, a fresh conversion and warp 3.3 ms (1280x720), and the standard
    benchmark recipe used about 4% more CPU with the kept form."""
    bgra = _warp(cv2.cvtColor(image, cv2.COLOR_BGR2BGRA), cv_matrix, out_size, flags, (*border, 0.0))
    return cv2.cvtColor(bgra, cv2.COLOR_BGRA2BGR)


def _warp(image: np.ndarray, cv_matrix: np.ndarray, out_size: tuple[int, int], flags: int, border: tuple) -> np.ndarray:
    if _close(cv_matrix[2], np.array([0.0, 0.0, 1.0])):
        return cv2.warpAffine(image, cv_matrix[:2], tuple(out_size), flags=flags,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    return cv2.warpPerspective(image, cv_matrix, tuple(out_size), flags=flags,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=border)


class _BgraRoute:
    """Which way to warp a 3-channel uint8 image with bilinear interpolation.

    OpenCV's bilinear warps have SIMD paths for 4-channel images that some builds lack for 3
    channels: on the development VM, BGR -> BGRA, warp, -> BGR takes 3.1 ms for 1280x720
    against 5.6 ms for the BGR warp, with bit-identical output (tests/test_transforms.py checks
    this). Elsewhere it can be the other way round, so each process times both ways once, on a
    synthetic image before its first warp (about 15 ms), and keeps the faster. Timing the first
    real warps instead misleads: they run cold (first-call set-up, fresh pages) and picked the
    slow way on this VM. Output never depends on the choice."""

    SIZE = (640, 360)  # the calibration canvas (width, height)
    ROUNDS = 4  # timed warps each way, alternating, after one untimed warm-up each

    def __init__(self) -> None:
        self.choice: bool | None = None

    def use_bgra(self) -> bool:
        if self.choice is None:
            self.choice = self._calibrate()
        return self.choice

    def _calibrate(self) -> bool:
        w, h = self.SIZE
        image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        angle = np.deg2rad(7.0)
        c, s = np.cos(angle), np.sin(angle)
        cv_matrix = np.array([[c, -s, w * 0.05], [s, c, -h * 0.05], [0.0, 0.0, 1.0]])
        ways = {True: _warp_bgra, False: _warp}
        best = {True: float("inf"), False: float("inf")}
        for round_ in range(self.ROUNDS + 1):
            for bgra, warp in ways.items():
                start = time.perf_counter()
                warp(image, cv_matrix, (w, h), cv2.INTER_LINEAR, (0.0, 0.0, 0.0))
                if round_:  # round 0 warms both ways up
                    best[bgra] = min(best[bgra], time.perf_counter() - start)
        return best[True] < best[False]


_ROUTE = _BgraRoute()


def homography_from_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 projective map sending four (4, 2) points `src` onto `dst`, in float64.

    Convention-free: both point sets are in the same pixel convention, so the matrix is too.
    (cv2.getPerspectiveTransform works in float32, which costs ~1e-4 px at 4K.) No three of
    the points may be collinear."""
    src = np.asarray(src, np.float64).reshape(4, 2)
    dst = np.asarray(dst, np.float64).reshape(4, 2)
    a = np.zeros((8, 8))
    b = dst.reshape(8)
    for i, ((x, y), (u, v)) in enumerate(zip(src, dst)):
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y]
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y]
    h = np.linalg.solve(a, b)
    return np.append(h, 1.0).reshape(3, 3)

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
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    if ow * oh > (x1 - x0) * (y1 - y0):  # an enlargement: not kept for later copies (memory)
        return cv2.resize(crop, (ow, oh), interpolation=interpolation)
    # a copy of a kept result: callers may change the array they get in place
    return _from_source(image, ("resize", x0, x1, y0, y1, ow, oh),
                        lambda: cv2.resize(crop, (ow, oh), interpolation=interpolation)).copy()


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
        image, matrix = _shrunk_first(image, matrix, out_size)
    cv_matrix = _to_opencv_convention(matrix)
    channels = 1 if image.ndim == 2 else image.shape[2]
    border = tuple([float(fill)] * channels) if np.isscalar(fill) else tuple(fill)
    flags = INTERPOLATIONS[interpolation]
    if channels == 3 and image.dtype == np.uint8 and interpolation == "linear":
        return _warp_3channel(image, cv_matrix, out_size, flags, border, _ROUTE.use_bgra())
    return _warp(image, cv_matrix, out_size, flags, border)


SHRINK_FIRST_BELOW = 0.5  # a warp that shrinks a source axis below this scale area-resizes it first


def _shrunk_first(image: np.ndarray, matrix: np.ndarray, out_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """For a map that shrinks the image a lot (Resize or LongestMaxSize fused with a Rotate, an
    Affine or a Perspective): the image area-resized (cv2.INTER_AREA) to the map's scale along
    each source axis, and the map from that smaller image, so that the bilinear warp left works
    at a scale near 1. A bilinear warp reads 2x2 pixels per output pixel however far apart those
    are: at a quarter scale it skips most of the picture, and fine texture (stripes, foliage,
    fences) turns into moire. A perspective map's scale changes across the picture: the largest
    over what the output shows is taken, so the warp left never enlarges. The map is the same in
    continuous coordinates (augcli.geometry's convention), so labels, moved by `matrix`, still
    match. Others are returned unchanged."""
    if _close(matrix[2], np.array([0.0, 0.0, 1.0])):
        sx = math.hypot(matrix[0, 0], matrix[1, 0])  # output pixels per source pixel along the source's x
        sy = math.hypot(matrix[0, 1], matrix[1, 1])
    else:
        scales = _perspective_scales(image.shape[:2], matrix, out_size)
        if scales is None:
            return image, matrix
        sx, sy = scales
    if min(sx, sy) >= SHRINK_FIRST_BELOW:
        return image, matrix
    h, w = image.shape[:2]
    nw, nh = max(1, round(w * min(1.0, sx))), max(1, round(h * min(1.0, sy)))
    if (nw, nh) == (w, h):
        return image, matrix
    small = _from_source(image, ("shrink", nw, nh), lambda: cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA))
    return small, matrix @ np.diag([w / nw, h / nh, 1.0])


def _perspective_scales(shape: tuple[int, int], matrix: np.ndarray, out_size: tuple[int, int],
                        steps: int = 9) -> tuple[float, float] | None:
    """The largest local scale (output pixels per source pixel) of a projective map along each
    source axis, over a steps x steps grid of source points that land on the output canvas in
    front of the horizon; None when none does."""
    h, w = shape
    gx, gy = np.meshgrid(np.linspace(0.0, w, steps), np.linspace(0.0, h, steps))
    points = np.stack([gx.ravel(), gy.ravel(), np.ones(gx.size)], axis=1)
    ends = [points, points + (1.0, 0.0, 0.0), points + (0.0, 1.0, 0.0)]  # a pixel's step along x and along y
    mapped = [p @ matrix.T for p in ends]
    ok = np.all([m[:, 2] > 1e-12 for m in mapped], axis=0)
    if not ok.any():
        return None
    at, along_x, along_y = (m[ok, :2] / m[ok, 2:] for m in mapped)
    ow, oh = out_size
    seen = (at[:, 0] >= 0) & (at[:, 0] <= ow) & (at[:, 1] >= 0) & (at[:, 1] <= oh)
    if not seen.any():
        return None
    return (float(np.hypot(*(along_x - at)[seen].T).max()), float(np.hypot(*(along_y - at)[seen].T).max()))


_memo: tuple[np.ndarray | None, dict] = (None, {})  # (the source image, its kept results by key)
MEMO_RESULTS = 8  # results kept for one source at most


def _from_source(image: np.ndarray, key: tuple, make) -> np.ndarray:
    """make(), a resize of `image` that every copy of one input may need alike, kept for the
    next copies while `image` is the latest read-only source seen.

    A recipe that starts with a fixed Resize or LongestMaxSize makes each copy from the same
    source at the same size: an area resize (cv2.INTER_AREA, 3-4 ms at a non-integer factor
    on a 1280x720 image) done once per input instead of once per copy, with the same bytes.
    Only read-only images are kept (augcli.job.Job.read makes every input's pixels read-only,
    so they cannot change while kept); the result kept is read-only too. One source at a time,
    held until the next one comes: one input's pixels and a few smaller images per process."""
    global _memo
    if image.flags.writeable:
        return make()
    source, results = _memo
    if source is not image:
        source, results = image, {}
        _memo = (source, results)  # one assignment: a thread reading _memo sees either whole pair
    out = results.get(key)
    if out is None:
        out = make()
        out.flags.writeable = False
        if len(results) < MEMO_RESULTS:
            results[key] = out
    return out


TILE = (320, 180)  # (width, height) of the output tiles of a tiled warp


def _warp_3channel(image: np.ndarray, cv_matrix: np.ndarray, out_size: tuple[int, int], flags: int,
                   border: tuple, bgra: bool) -> np.ndarray:
    """A bilinear warp of a 3-channel uint8 image, output tile by output tile.

    For each TILE of the output, the source window it reads (the tile's corners mapped back,
    plus the 2x2 neighbourhood) is copied first: as BGRA when `bgra` (OpenCV's bilinear warps
    have SIMD paths for 4 channels that some builds lack for 3), else as a plain copy; the warp
    then reads that small, freshly written window from the core's own cache. A rotation reads
    its source along slanted lines, a pattern the hardware prefetcher cannot follow, and the
    copies read memory in order, which it does follow. On the development VM (1280x720, random
    angles within 15 degrees, each warp of a just-decoded image followed by an encode as in a
    run, with the workers' allocator setting) a whole-image BGRA warp took 5.0 ms on average
    (4.0-6.2 by angle band; more in the host's busy phases, as other guests share the L3) and
    the same warp tile by tile 3.8 ms (3.5-4.2 at every angle); the benchmark's STANDARD recipe
    used 7 % less CPU side by side. A BGRA tile goes back to BGR straight into its place in the
    output.

    Each tile warps with the map shifted by whole pixels, so the result can differ from one
    whole-image warp by one level on a few pixels (float rounding of the shifted map); it is
    the same for every run and worker count. Maps whose inverse sends part of the output canvas
    beyond the horizon (a projective w <= 0) are warped whole: their windows are not bounded."""
    out_w, out_h = (int(v) for v in out_size)
    try:
        inverse = np.linalg.inv(cv_matrix)
    except np.linalg.LinAlgError:  # a degenerate map: OpenCV's own handling, as before tiles
        return _warp_whole_3channel(image, cv_matrix, out_size, flags, border, bgra)
    affine = _close(cv_matrix[2], np.array([0.0, 0.0, 1.0]))
    if out_w < 1 or out_h < 1 or not np.all(np.isfinite(inverse)) or not (affine or _before_horizon(inverse, out_w, out_h)):
        return _warp_whole_3channel(image, cv_matrix, out_size, flags, border, bgra)
    (ia, ib, ic), (id_, ie, if_), (ig, ih, ii) = inverse.tolist()
    (a, b, c), (d, e, f) = cv_matrix[:2].tolist()
    out = np.empty((out_h, out_w, 3), np.uint8)
    tile_w, tile_h = TILE
    # an affine map whose inverse has last row exactly (0, 0, 1): every corner's w is exactly 1.0, so
    # its source points need no division (the same floats), and its tile map is one reused 2x3 array
    # whose last column is set per tile (the same floats np.array would hold), warped without _warp
    lean = affine and ig == 0.0 and ih == 0.0 and ii == 1.0
    if lean:
        shifted = np.array([[a, b, 0.0], [d, e, 0.0]])

        def warp_tile(window, sx0, sy0, fill, dst, x0, y0, size):
            shifted[0, 2] = c + a * sx0 + b * sy0 - x0
            shifted[1, 2] = f + d * sx0 + e * sy0 - y0
            return cv2.warpAffine(window, shifted, size, dst=dst, flags=flags, borderMode=cv2.BORDER_CONSTANT,
                                  borderValue=fill)
    else:
        def warp_tile(window, sx0, sy0, fill, dst, x0, y0, size):
            # output tile pixel (x, y) is output pixel (x + x0, y + y0); window pixel (u, v) is (u + sx0, v + sy0)
            if affine:
                shifted = np.array([[a, b, c + a * sx0 + b * sy0 - x0], [d, e, f + d * sx0 + e * sy0 - y0]])
            else:
                shifted = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]]) @ cv_matrix @ \
                    np.array([[1.0, 0.0, sx0], [0.0, 1.0, sy0], [0.0, 0.0, 1.0]])
            return _warp(window, shifted, size, flags, fill, affine, dst)

    for y0 in range(0, out_h, tile_h):
        y1 = min(out_h, y0 + tile_h)
        for x0 in range(0, out_w, tile_w):
            x1 = min(out_w, x0 + tile_w)
            if lean:
                x00, x10 = ia * x0 + ib * y0 + ic, ia * x1 + ib * y0 + ic
                x01, x11 = ia * x0 + ib * y1 + ic, ia * x1 + ib * y1 + ic
                y00, y10 = id_ * x0 + ie * y0 + if_, id_ * x1 + ie * y0 + if_
                y01, y11 = id_ * x0 + ie * y1 + if_, id_ * x1 + ie * y1 + if_
                bounds = (min(x00, x10, x01, x11), max(x00, x10, x01, x11), min(y00, y10, y01, y11),
                          max(y00, y10, y01, y11))
            else:
                xs, ys = [], []
                for cx, cy in ((x0, y0), (x1, y0), (x0, y1), (x1, y1)):
                    z = ig * cx + ih * cy + ii
                    xs.append((ia * cx + ib * cy + ic) / z)
                    ys.append((id_ * cx + ie * cy + if_) / z)
                bounds = (min(xs), max(xs), min(ys), max(ys))
            _resample_tile(image, out[y0:y1, x0:x1], bounds, border, bgra, warp_tile, x0, y0, (x1 - x0, y1 - y0))
    return out


def _resample_tile(image: np.ndarray, target: np.ndarray, bounds: tuple[float, float, float, float], border: tuple,
                   bgra: bool, resample, *tile) -> None:
    """One output tile of a tiled warp or remap, written into `target`: the source window its
    pixels read (`bounds`: their smallest and largest source x, then y; widened by the 2x2
    neighbourhood) is converted to BGRA (or copied) right before `resample(window, sx0, sy0,
    fill, dst, *tile)` reads it, (sx0, sy0) being the window's corner in the image and `tile`
    what the resampler needs to know of this tile; a BGRA result goes back to BGR in `target`.
    A tile whose window holds no source pixel gets the border colour."""
    h, w = image.shape[:2]
    lo_x, hi_x, lo_y, hi_y = bounds
    sx0, sx1 = max(0, math.floor(lo_x) - 1), min(w, math.ceil(hi_x) + 2)
    sy0, sy1 = max(0, math.floor(lo_y) - 1), min(h, math.ceil(hi_y) + 2)
    if sx0 >= sx1 or sy0 >= sy1:  # the tile shows no source pixel
        target[...] = np.clip(np.rint(border[:3]), 0, 255).astype(np.uint8)  # as OpenCV rounds a border value
        return
    window = image[sy0:sy1, sx0:sx1]
    if bgra:
        warped = resample(cv2.cvtColor(window, cv2.COLOR_BGR2BGRA), sx0, sy0, (*border[:3], 0.0), None, *tile)
        cv2.cvtColor(warped, cv2.COLOR_BGRA2BGR, dst=target)
    else:
        resample(window.copy(), sx0, sy0, border, target, *tile)


def remap_image(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, border: tuple) -> np.ndarray:
    """cv2.remap with bilinear interpolation and a constant border: output pixel (x, y) shows the
    source at (map_x, map_y) (float32 maps, OpenCV's convention). A 3-channel uint8 image is
    remapped tile by tile, as _warp_3channel warps: each TILE's source window (the bounding box
    of its map values, plus the 2x2 neighbourhood) converted to BGRA (or copied) right before
    it is read. The maps are shifted by whole pixels, which is exact in float32 and in
    OpenCV's fixed-point sampling, so the result is the whole-image remap's, byte for byte."""
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        out = _remap_3channel(image, map_x, map_y, border, _ROUTE.use_bgra())
        if out is not None:
            return out
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border)


def _remap_3channel(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, border: tuple,
                    bgra: bool) -> np.ndarray | None:
    """remap_image's tiles; None when a map holds a value that is not finite (then the whole image
    is remapped at once, as OpenCV does it)."""
    out_h, out_w = map_x.shape
    if out_h < 1 or out_w < 1:
        return None
    tile_w, tile_h = TILE
    starts_x, starts_y = list(range(0, out_w, tile_w)), list(range(0, out_h, tile_h))
    # each tile's smallest and largest source x and y, in four passes over the maps (not 4 a tile)
    bounds = [f.reduceat(f.reduceat(m, starts_x, axis=1), starts_y, axis=0).tolist()
              for m in (map_x, map_y) for f in (np.minimum, np.maximum)]
    if not all(math.isfinite(v) and abs(v) < 1e6 for b in bounds for row in b for v in row):
        return None
    (lo_x, hi_x, lo_y, hi_y) = bounds
    out = np.empty((out_h, out_w, 3), np.uint8)

    def remap_tile(window, sx0, sy0, fill, dst, mx, my):
        return cv2.remap(window, mx - np.float32(sx0), my - np.float32(sy0), cv2.INTER_LINEAR, dst=dst,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=fill)

    for j, y0 in enumerate(starts_y):
        y1 = min(out_h, y0 + tile_h)
        for i, x0 in enumerate(starts_x):
            x1 = min(out_w, x0 + tile_w)
            _resample_tile(image, out[y0:y1, x0:x1], (lo_x[j][i], hi_x[j][i], lo_y[j][i], hi_y[j][i]), border, bgra,
                           remap_tile, map_x[y0:y1, x0:x1], map_y[y0:y1, x0:x1])
    return out


def _before_horizon(inverse: np.ndarray, out_w: int, out_h: int) -> bool:
    """Whether a projective output->input map keeps its w > 0 over the whole output canvas (its
    four corners: w is linear), so that each tile's source window is bounded by its corners'."""
    corners = np.array([[0.0, 0.0, 1.0], [out_w, 0.0, 1.0], [0.0, out_h, 1.0], [out_w, out_h, 1.0]])
    return bool(np.all(corners @ inverse[2] > 1e-12))


def _warp_whole_3channel(image: np.ndarray, cv_matrix: np.ndarray, out_size: tuple[int, int], flags: int,
                         border: tuple, bgra: bool) -> np.ndarray:
    if not bgra:
        return _warp(image, cv_matrix, out_size, flags, border)
    warped = _warp(cv2.cvtColor(image, cv2.COLOR_BGR2BGRA), cv_matrix, out_size, flags, (*border, 0.0))
    return cv2.cvtColor(warped, cv2.COLOR_BGRA2BGR)


def _warp(image: np.ndarray, cv_matrix: np.ndarray, out_size: tuple[int, int], flags: int, border: tuple,
          affine: bool | None = None, dst: np.ndarray | None = None) -> np.ndarray:
    if affine is None:
        affine = _close(cv_matrix[2], np.array([0.0, 0.0, 1.0]))
    if affine:
        return cv2.warpAffine(image, cv_matrix[:2], tuple(out_size), dst=dst, flags=flags,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    return cv2.warpPerspective(image, cv_matrix, tuple(out_size), dst=dst, flags=flags,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=border)


class _BgraRoute:
    """Which way to warp a 3-channel uint8 image with bilinear interpolation: through BGRA or not.

    OpenCV's bilinear warps have SIMD paths for 4-channel images that some builds lack for 3
    channels: on the development VM the BGRA way is about twice as fast, with bit-identical
    output (tests/test_transforms.py checks this). Elsewhere it can be the other way round, so
    each process times both ways once, tile by tile as a run warps, on a synthetic image before
    its first warp (about 15 ms), and keeps the faster. Output never depends on the choice."""

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
        best = {True: float("inf"), False: float("inf")}
        for round_ in range(self.ROUNDS + 1):
            for bgra in (True, False):
                start = time.perf_counter()
                _warp_3channel(image, cv_matrix, (w, h), cv2.INTER_LINEAR, (0.0, 0.0, 0.0), bgra)
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

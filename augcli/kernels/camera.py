"""Camera, lens and video kernels on uint8 images: the ways a security camera's picture differs
from a photograph (night modes, sensor noise, blur, compression, low resolution, interlacing,
lens distortion, vignetting, things on the lens, the on-screen display).

Pure functions: randomness arrives as parameters (positions, offsets into fixed stored noise,
or an integer `seed` from which a kernel builds its own local generator for a layout).
Sizes are pixels of the full image; the continuous convention of augcli.geometry holds.

The layer and compositing helpers at the top (working resolution, screen, blend, multiply)
model light reaching the sensor through the lens; augcli.kernels.weather builds on them.
"""
from __future__ import annotations

import functools
import math
from datetime import datetime, timezone

import cv2
import numpy as np

from augcli.kernels.blur_noise import NOISE_TILE, add_noise  # noqa: F401  (transforms draw offsets below NOISE_TILE)

WORK_SIDE = 360  # shorter side of the working resolution for soft layers, pixels


# ---------------------------------------------------------------- layers and compositing
def work_size(w: int, h: int, side: int = WORK_SIDE) -> tuple[int, int]:
    """(width, height) of a working layer whose shorter side is at most `side` pixels."""
    f = max(1.0, min(w, h) / side)
    return max(1, round(w / f)), max(1, round(h / f))


def upsample(layer: np.ndarray, w: int, h: int) -> np.ndarray:
    """A working layer resized to the full (w, h) canvas; pixel centres stay aligned."""
    if layer.shape[1] == w and layer.shape[0] == h:
        return layer
    return cv2.resize(layer, (w, h), interpolation=cv2.INTER_LINEAR)


def like_image(layer: np.ndarray, image: np.ndarray) -> np.ndarray:
    """A single-channel layer repeated to the image's channel count."""
    if image.ndim == 2:
        return layer if layer.ndim == 2 else layer[..., 0]
    c = image.shape[2]
    if layer.ndim == 3 and layer.shape[2] == c:
        return layer
    if layer.ndim == 3:
        layer = layer[..., 0]
    if c == 3:
        return cv2.cvtColor(layer, cv2.COLOR_GRAY2BGR)
    return np.repeat(layer[..., None], c, axis=2)


def colour_plane(image: np.ndarray, colour) -> np.ndarray:
    """An image-shaped uint8 plane of one colour (a grey level or a BGR triple, 0-255)."""
    col = np.rint(np.broadcast_to(np.asarray(colour, np.float64), (3,))).clip(0, 255).astype(np.uint8)
    if image.ndim == 2:
        return np.full(image.shape, int(round(float(col.mean()))), np.uint8)
    h, w, c = image.shape
    vals = np.resize(col, c)
    if np.all(vals == vals[0]):
        return np.full(image.shape, vals[0], np.uint8)
    out = np.empty((h, w * c), np.uint8)
    out[:] = np.tile(vals, w)  # one row, copied row by row (a strided per-channel fill is far slower)
    return out.reshape(h, w, c)


# Fresh full-frame buffers are costly (page faults) next to the uint8 arithmetic itself, so the
# compositing helpers below write into buffers they own (dst=) instead of allocating at every step.
def screen(image: np.ndarray, light: np.ndarray) -> np.ndarray:
    """Add light the way a lens does: 255 - (255 - image)(255 - light)/255; never overshoots."""
    li = like_image(light, image)
    inv_light = cv2.bitwise_not(li, dst=li if li is not light else None)
    out = cv2.bitwise_not(image)
    cv2.multiply(out, inv_light, dst=out, scale=1 / 255)
    return cv2.bitwise_not(out, dst=out)


def blend_toward(image: np.ndarray, alpha: np.ndarray, colour, veil: float = 0.0,
                 veil_level: float = 0.0) -> np.ndarray:
    """image * (1 - a) + colour * a, with `alpha` a (H, W) uint8 map (255 = all colour); with a
    `veil` (0-1) the image is first faded that far toward the grey `veil_level` (haze, snow air)."""
    a = like_image(alpha, image)
    out = cv2.bitwise_not(a)
    cv2.multiply(image, out, dst=out, scale=(1.0 - veil) / 255)
    col = np.broadcast_to(np.asarray(colour, np.float64), (3,))
    if np.all(col == col[0]):  # a grey: one scaled copy of alpha, offset by the veil, then add
        lift = veil * veil_level
        term = cv2.convertScaleAbs(alpha, alpha=(float(col[0]) - lift) / 255.0, beta=lift)
        return cv2.add(out, like_image(term, image), dst=out)
    plane = colour_plane(image, colour)
    cv2.multiply(a, plane, dst=plane, scale=1 / 255)
    if veil:
        cv2.add(plane, like_image(cv2.convertScaleAbs(cv2.bitwise_not(alpha), alpha=veil * veil_level / 255.0), image),
                dst=plane)
    return cv2.add(out, plane, dst=out)


def multiply(image: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """image * factor / 255, `factor` a (H, W) or (H, W, C) uint8 map (255 = unchanged)."""
    f = like_image(factor, image)
    return cv2.multiply(image, f, dst=f if f is not factor else None, scale=1 / 255)


def mean_level(image: np.ndarray) -> float:
    """Mean brightness 0-255 (Rec.601 luma for BGR)."""
    m = cv2.mean(image)
    if image.ndim == 2 or image.shape[2] != 3:
        return float(m[0])
    return 0.114 * m[0] + 0.587 * m[1] + 0.299 * m[2]


def fixed_point(points: np.ndarray, shift: int = 4) -> np.ndarray:
    """Continuous layer coordinates -> OpenCV's fixed-point drawing coordinates (centre of pixel i is i)."""
    return np.rint((np.asarray(points, np.float64) - 0.5) * (1 << shift)).astype(np.int32)


def draw_segments(layer: np.ndarray, starts: np.ndarray, ends: np.ndarray, value: float, thickness: int) -> None:
    """Anti-aliased segments from (N, 2) starts to ends (continuous layer coordinates), in place."""
    if len(starts) == 0:
        return
    segs = fixed_point(np.stack([starts, ends], axis=1))
    cv2.polylines(layer, list(segs), False, float(value), max(1, int(thickness)), cv2.LINE_AA, 4)



# ---------------------------------------------------------------- noise and resampling
def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-average `image` down to `size` (width, height), pixel grids aligned as cv2.resize does.

    OpenCV's INTER_AREA is fast only for whole-number factors, so the image is first reduced by
    the largest whole factor n (edge-padded to a multiple of n), then the remaining factor
    (between 1/2 and 1) is done by a linear warp of the exact scale."""
    h, w = image.shape[:2]
    sw, sh = max(1, int(size[0])), max(1, int(size[1]))
    if (sw, sh) == (w, h):
        return image.copy()
    n = max(1, int(min(w / sw, h / sh)))
    if n >= 2:
        pw, ph = -(-w // n) * n, -(-h // n) * n
        padded = image if (pw, ph) == (w, h) else cv2.copyMakeBorder(image, 0, ph - h, 0, pw - w, cv2.BORDER_REPLICATE)
        mid = cv2.resize(padded, (pw // n, ph // n), interpolation=cv2.INTER_AREA)
        if (pw // n, ph // n) == (sw, sh) and (pw, ph) == (w, h):
            return mid
    else:
        mid = image
    fx, fy = sw * n / w, sh * n / h  # continuous mid coordinates (source / n) -> output
    m = np.array([[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, 0.5 * fy - 0.5]])
    return cv2.warpAffine(mid, m, (sw, sh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _lut(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, None)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(v, 1 / 2.4) - 0.055)


def _radial(lw: int, lh: int, cx: float = 0.5, cy: float = 0.5) -> np.ndarray:
    """Distance from (cx, cy) (fractions of the frame) over a lw x lh grid, in units of the half-diagonal."""
    xs, ys = np.meshgrid((np.arange(lw) + 0.5) / lw, (np.arange(lh) + 0.5) / lh)
    aspect = lw / max(lh, 1)
    dx, dy = (xs - cx) * aspect, ys - cy
    return np.sqrt(dx * dx + dy * dy) / (0.5 * math.hypot(aspect, 1.0))


# ---------------------------------------------------------------- night and low light
IR_WEIGHTS = (0.12, 0.48, 0.40)  # B, G, R -> near-infrared stand-in: foliage and skin bright, sky dark


def night_vision_image(image: np.ndarray, brightness: float, hotspot: float, hotspot_xy: tuple[float, float],
                       bloom: float, noise: float, offset: tuple[int, int]) -> np.ndarray:
    """An infrared night picture: monochrome from an IR-like mix of the channels, lit by the
    camera's IR illuminator (a hotspot at `hotspot_xy`, fractions of the frame, fading to
    1 - `hotspot` at the corners), the camera's gain bringing the mean to `brightness` (0-1 of
    full scale) through a soft shoulder, bright areas blooming (`bloom` 0-1), soft focus, and
    grainy sensor noise of `noise` 8-bit levels read from a fixed tile at `offset`."""
    h, w = image.shape[:2]
    if image.ndim == 3 and image.shape[2] == 3:
        grey = cv2.transform(image, np.array([IR_WEIGHTS], np.float32))
    else:
        grey = image if image.ndim == 2 else image[..., 0].copy()
    lw, lh = work_size(w, h, 120)
    fall = 1.0 - hotspot * np.clip(_radial(lw, lh, *hotspot_xy), 0, 1.3) ** 1.5
    light = upsample(np.rint(np.clip(fall, 0, 1) * 255).astype(np.uint8), w, h)
    grey = cv2.multiply(grey, light, scale=1 / 255)
    # gain then a soft shoulder s(x) = (1 - e^(-a x)) / (1 - e^(-a)), output 10 + 240 s; the gain is found by
    # bisection over the histogram so the output's mean is `brightness` (the shoulder and the clipping at
    # full scale are concave, so aiming s(gain * mean) at it fell short: 0.55 for 0.7 on a half-dark frame)
    a = 2.0
    levels = np.arange(256) / 255.0
    hist = np.bincount(grey.ravel(), minlength=256) / grey.size
    target = min(max(brightness, 10 / 255), 250 / 255) * 255.0

    def tone(gain: float) -> np.ndarray:
        return 10 + 240 * np.minimum((1.0 - np.exp(-a * gain * levels)) / (1.0 - math.exp(-a)), 1.0)

    lo, hi = -12.0, 12.0  # log2 of the gain
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if float(hist @ tone(2.0**mid)) < target else (lo, mid)
    grey = cv2.LUT(grey, _lut(tone(2.0 ** (0.5 * (lo + hi)))))
    grey = cv2.GaussianBlur(grey, (0, 0), 0.8)  # IR optics are soft (focus shifts in infrared)
    if bloom > 0:
        bw, bh = work_size(w, h, 90)
        small = shrink(grey, (bw, bh))
        bright = cv2.subtract(small, 180)
        glow = cv2.GaussianBlur(bright, (0, 0), max(1.0, 0.04 * min(bw, bh)))
        grey = cv2.addWeighted(grey, 1.0, upsample(glow, w, h), 3.0 * bloom, 0.0)
    return like_image(add_noise(grey, noise, offset), image)


def low_light_image(image: np.ndarray, light: float, auto_gain: float, full_well: float, read_noise: float,
                    offset: tuple[int, int]) -> np.ndarray:
    """A scene lit by `light` (fraction of the light the photo had) seen by a small sensor.

    The picture is linearised (sRGB), scaled by `light` and counted in photo-electrons with
    `full_well` electrons at full scale; it gets shot noise (Poisson) and read noise
    (`read_noise` electrons, Gaussian); the camera's gain makes up `auto_gain` (0-1) of the
    lost brightness in log terms (gain = light ** -auto_gain), colour is muted as gain rises,
    and the result is re-encoded to sRGB.

    The noise is added where it has constant variance: the generalised Anscombe transform
    y = 2 sqrt(e + 3/8 + read^2) makes Poisson-Gaussian noise about unit-variance, so one
    lookup table takes each level to y (scaled to 8 bits with 4.5 sigma margins), fixed stored
    Gaussian noise read from `offset` (add_noise) adds unit noise, and a second table inverts
    the transform, applies the gain and re-encodes. The noise stays signal-dependent, at uint8 speed."""
    gain = light ** -auto_gain
    if image.ndim == 3 and image.shape[2] == 3 and gain > 1:
        # cameras mute colour at high gain (chroma noise suppression): 1 / (1 + 0.15 ln gain) of the saturation
        keep = 1.0 / (1.0 + 0.15 * math.log(gain))
        luma = np.array([0.114, 0.587, 0.299])
        mix = keep * np.eye(3) + (1.0 - keep) * np.repeat(luma[None], 3, axis=0)
        image = cv2.transform(image, mix.astype(np.float32))
    e_max = light * full_well
    r2 = read_noise**2 + 0.375
    y_lo, y_hi = 2.0 * math.sqrt(r2) - 4.5, 2.0 * math.sqrt(e_max + r2) + 4.5
    step = 255.0 / (y_hi - y_lo)  # 8-bit levels per unit (= per sigma) of y
    electrons = _srgb_to_linear(np.arange(256) / 255.0) * e_max
    to_y = _lut((2.0 * np.sqrt(electrons + r2) - y_lo) * step)
    y = np.arange(256) / step + y_lo
    back = np.maximum((y / 2.0) ** 2 - r2, 0.0) * (gain / full_well)  # electrons -> linear output
    from_y = _lut(_linear_to_srgb(back) * 255.0)
    noisy = add_noise(cv2.LUT(image, to_y), step, offset)
    return cv2.LUT(noisy, from_y)


# ---------------------------------------------------------------- blur
def motion_blur_image(image: np.ndarray, length: float, angle: float) -> np.ndarray:
    """Blur along a line of `length` pixels at `angle` degrees (0 = horizontal, counter-clockwise
    as displayed), centred on each pixel so nothing shifts.

    A line of n = 2^k taps is built by k halvings (each step averages the picture with itself
    shifted by a doubling distance), so the cost grows with log2(length), not length. Shifts are
    whole pixels; the taps' centre falls exactly on the pixel."""
    if length < 1.0:
        return image.copy()
    k = max(1, math.ceil(math.log2(max(length, 2.0))))
    n = 1 << k
    spacing = length / n if length >= 2 else 1.0
    a = math.radians(angle)
    ux, uy = math.cos(a), -math.sin(a)
    target = [((1 << j) * spacing * ux, (1 << j) * spacing * uy) for j in range(k)]
    shifts = [[round(tx), round(ty)] for tx, ty in target]
    # taps are centred on the pixel only if each axis total is even; an odd total gets one more
    # 1-pixel step (towards the line's direction), a tiny extra smear instead of a half-pixel shift
    odd_x, odd_y = (sum(s[axis] for s in shifts) % 2 == 1 for axis in (0, 1))
    if odd_x or odd_y:
        shifts.append([(1 if ux >= 0 else -1) if odd_x else 0, (1 if uy >= 0 else -1) if odd_y else 0])
    if all(s == [0, 0] for s in shifts):
        return image.copy()
    h, w = image.shape[:2]
    ext_x = sum(abs(s[0]) for s in shifts)
    ext_y = sum(abs(s[1]) for s in shifts)
    px, py = ext_x // 2 + 1, ext_y // 2 + 1
    acc = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_REFLECT_101 if min(h, w) > 1 else cv2.BORDER_REPLICATE)
    x0, y0 = -px, -py  # coordinate of acc[0, 0] in the image
    for sx, sy in shifts:
        ah, aw = acc.shape[:2]
        xa, ya = max(0, -sx), max(0, -sy)
        xb, yb = aw - max(0, sx), ah - max(0, sy)
        acc = cv2.addWeighted(acc[ya:yb, xa:xb], 0.5, acc[ya + sy:yb + sy, xa + sx:xb + sx], 0.5, 0.0)
        x0, y0 = x0 + xa, y0 + ya
    cx = sum(s[0] for s in shifts) // 2
    cy = sum(s[1] for s in shifts) // 2
    # out(p) = acc(p - centre of the taps)
    top, left = -cy - y0, -cx - x0
    return acc[top:top + h, left:left + w].copy()


def _disk_kernel(radius: float) -> np.ndarray:
    """Normalised disk of `radius` pixels, anti-aliased by 8x8 supersampling of each cell."""
    r = max(radius, 0.5)
    half = int(math.ceil(r - 0.5))
    sub = (np.arange(8) + 0.5) / 8 - 0.5
    c = np.arange(-half, half + 1, dtype=np.float64)
    xs = (c[:, None] + sub[None, :]).reshape(-1)
    inside = (xs[:, None] ** 2 + xs[None, :] ** 2) <= r * r
    size = 2 * half + 1
    cover = inside.reshape(size, 8, size, 8).mean(axis=(1, 3))
    return (cover / cover.sum()).astype(np.float32)


DEFOCUS_DIRECT = 3.0  # disk radii up to this many pixels are filtered at full resolution


def defocus_blur_image(image: np.ndarray, radius: float) -> np.ndarray:
    """Out-of-focus blur: convolution with a disk of `radius` pixels (a lens's circle of confusion).

    Larger disks are applied at reduced resolution (the disk removes everything finer than
    its radius, so the down/up resampling costs no visible detail) with the disk scaled to
    DEFOCUS_DIRECT pixels there."""
    if radius <= 0.25:
        return image.copy()
    h, w = image.shape[:2]
    if radius <= DEFOCUS_DIRECT:
        return cv2.filter2D(image, -1, _disk_kernel(radius), borderType=cv2.BORDER_REFLECT_101)
    f = radius / DEFOCUS_DIRECT
    sw, sh = max(1, round(w / f)), max(1, round(h / f))
    small = shrink(image, (sw, sh))
    small = cv2.filter2D(small, -1, _disk_kernel(radius * sw / w), borderType=cv2.BORDER_REFLECT_101)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


# ---------------------------------------------------------------- codec and resolution
def jpeg_image(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode as JPEG at `quality` (1-100, 4:2:0 chroma) and decode again, in memory."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("OpenCV could not JPEG-encode the image")
    out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out.reshape(image.shape)


# INTER_NEAREST_EXACT, not INTER_NEAREST: OpenCV's plain nearest takes source pixel floor(x * scale)
# for output pixel x, not the one under its centre, so a non-whole enlargement slides the picture
# right and down by up to a pixel; the exact variant samples at pixel centres, like the others.
INTERPOLATIONS = {"nearest": cv2.INTER_NEAREST_EXACT, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}


def downscale_image(image: np.ndarray, scale: float, interpolation: str = "linear") -> np.ndarray:
    """Shrink by `scale` (0-1, area averaging) and enlarge back to the same canvas: a low-resolution
    camera or a sub-stream upscaled by the recorder."""
    h, w = image.shape[:2]
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = shrink(image, (sw, sh))
    return cv2.resize(small, (w, h), interpolation=INTERPOLATIONS[interpolation]).reshape(image.shape)


def interlace_image(image: np.ndarray, shift: int, odd: bool) -> np.ndarray:
    """Combing of interlaced video: the rows of one field (odd rows, or even with odd=False) come
    from a moment earlier, when the scene sat `shift` pixels to the side (edge pixels repeat)."""
    out = image.copy()
    start = 1 if odd else 0
    rows = image[start::2]
    if shift > 0:
        s = min(shift, image.shape[1])
        out[start::2, s:] = rows[:, : image.shape[1] - s]
        out[start::2, :s] = rows[:, :1]
    elif shift < 0:
        s = min(-shift, image.shape[1])
        out[start::2, : image.shape[1] - s] = rows[:, s:]
        out[start::2, image.shape[1] - s:] = rows[:, -1:]
    return out


# ---------------------------------------------------------------- lens
def lens_scale(k: float, fill_frame: bool) -> float:
    """Magnification at the centre (source units per output unit) that keeps the frame filled for barrel k < 0."""
    return 1.0 + k if (k < 0 and fill_frame) else 1.0


def lens_distortion_dst_to_src(x: np.ndarray, y: np.ndarray, k: float, size: tuple[int, int], fill_frame: bool):
    """Radial distortion, division model (Fitzgibbon 2001): an output point at normalised radius
    r (1 = half the image diagonal, about the centre) shows the source at
    r_src = s * r / (1 + k r^2). k < 0: barrel (straight lines bow outwards, wide-angle CCTV);
    k > 0: pincushion. s = lens_scale(k, fill_frame). Arrays of output pixel coordinates in,
    source pixel coordinates out (same dtype). `x` and `y` may be a row and a column (shapes
    (1, w) and (h, 1)) that broadcast to the whole grid: the per-pixel work then starts at the
    radius, with the same float operations, so the same values, as on full (h, w) grids."""
    w, h = size
    cx, cy, R = w / 2.0, h / 2.0, math.hypot(w, h) / 2.0
    dx = np.subtract(x, cx)
    dy = np.subtract(y, cy)
    g = np.add(dx * dx, dy * dy)
    g *= k / (R * R)
    g += 1.0
    np.divide(lens_scale(k, fill_frame), g, out=g)
    sx = dx * g
    sx += cx
    sy = np.multiply(dy, g, out=g)
    sy += cy
    return sx, sy


def lens_distortion_src_to_dst(points: np.ndarray, k: float, size: tuple[int, int], fill_frame: bool) -> np.ndarray:
    """Inverse of lens_distortion_dst_to_src for (..., 2) source points.

    Along each ray the map is m = s*r / (1 + k r^2), so r solves k*m*r^2 - s*r + m = 0; the
    root on the monotone branch is r = 2m / (s + sqrt(s^2 - 4 k m^2)) (stable at k = 0). For
    k > 0 source points beyond the fold (m > s / (2 sqrt k), i.e. outside what the lens can
    show) are sent radially beyond r = 1/sqrt(k), which lies outside the canvas for k < 1."""
    w, h = size
    cx, cy, R = w / 2.0, h / 2.0, math.hypot(w, h) / 2.0
    s = lens_scale(k, fill_frame)
    p = np.asarray(points, np.float64)
    q = (p - (cx, cy)) / R
    m = np.hypot(q[..., 0], q[..., 1])
    disc = s * s - 4.0 * k * m * m
    r = 2.0 * m / (s + np.sqrt(np.maximum(disc, 0.0)))
    if k > 0:
        m_fold = s / (2.0 * math.sqrt(k))
        r = np.where(disc < 0, (1.0 / math.sqrt(k)) * m / m_fold, r)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(m > 0, r / np.where(m > 0, m, 1.0), 1.0 / s)
    return q * ratio[..., None] * R + (cx, cy)


def vignette_image(image: np.ndarray, strength: float, centre: tuple[float, float] = (0.5, 0.5)) -> np.ndarray:
    """Natural vignetting: light falls off as cos^4 of the field angle, scaled so the corners keep
    1 - `strength` of their light. `centre` in fractions of the frame."""
    h, w = image.shape[:2]
    lw, lh = work_size(w, h, 64)
    a2 = (1.0 - strength) ** -0.5 - 1.0  # (1 + a^2 r^2)^-2 = 1 - strength at r = 1
    fall = (1.0 + a2 * _radial(lw, lh, *centre) ** 2) ** -2
    factor = upsample(np.rint(np.clip(fall, 0, 1) * 255).astype(np.uint8), w, h)
    return multiply(image, factor)


# ---------------------------------------------------------------- things on the lens
def lens_droplets_image(image: np.ndarray, count: int, radius: tuple[float, float], seed: int) -> np.ndarray:
    """`count` water drops on the lens window, radius drawn from `radius` (lo, hi) pixels, laid
    out from `seed`. Each is an out-of-focus blob that refracts a blurred, upside-down,
    minified view of the scene around it, with a soft darker rim and a small highlight;
    translucent toward its edge."""
    h, w = image.shape[:2]
    out = image.copy()
    if count <= 0:
        return out
    rng = np.random.default_rng(seed)
    drops = [(rng.uniform(0, w), rng.uniform(0, h), max(1.0, rng.uniform(*radius)), rng.uniform(0.85, 1.3))
             for _ in range(count)]
    bw, bh = work_size(w, h, 60)
    blurred = cv2.GaussianBlur(shrink(image, (bw, bh)), (0, 0), 1.0)
    fx, fy = bw / w, bh / h
    for (x, y, r, e) in drops:
        rx, ry = r, r * e
        x1, x2 = max(0, int(math.floor(x - rx - 2))), min(w, int(math.ceil(x + rx + 2)))
        y1, y2 = max(0, int(math.floor(y - ry - 2))), min(h, int(math.ceil(y + ry + 2)))
        if x2 <= x1 or y2 <= y1:
            continue
        pw, ph = x2 - x1, y2 - y1
        mag = rng.uniform(1.8, 3.0)
        # patch pixel (u, v) -> blurred source: point reflected through the drop centre, magnified
        m = np.array([[-mag * fx, 0, 0], [0, -mag * fy, 0]], np.float64)
        m[0, 2] = fx * (x - mag * (x1 + 0.5 - x)) - 0.5
        m[1, 2] = fy * (y - mag * (y1 + 0.5 - y)) - 0.5
        refr = cv2.warpAffine(blurred, m, (pw, ph), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REFLECT_101)
        us, vs = np.meshgrid(np.arange(pw, dtype=np.float32) + (x1 + 0.5 - x),
                             np.arange(ph, dtype=np.float32) + (y1 + 0.5 - y))
        d = np.sqrt((us / rx) ** 2 + (vs / ry) ** 2)
        # out of focus: the drop's edge is a ramp a third of its radius wide, never a hard line
        alpha = np.clip((1.0 - d) / 0.35, 0, 1) ** 1.5 * 0.9
        rim = np.exp(-((d - 0.75) / 0.2) ** 2) * 0.15
        hx, hy = -0.3 * rx, -0.35 * ry
        spec = np.exp(-(((us - hx) / (0.2 * rx)) ** 2 + ((vs - hy) / (0.14 * ry)) ** 2)) * 0.35
        patch = out[y1:y2, x1:x2].astype(np.float32)
        refr = refr.astype(np.float32) * 1.05 + 6.0
        if patch.ndim == 3:
            alpha, rim, spec = alpha[..., None], rim[..., None], spec[..., None]
        mixed = patch * (1 - alpha) + refr.reshape(patch.shape) * alpha
        mixed = mixed * (1 - rim) + 255.0 * spec * alpha
        out[y1:y2, x1:x2] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    return out


def looks_like_night(image: np.ndarray) -> bool:
    """True for a dark frame (mean below 70 of 255) or a monochrome one (an infrared night picture):
    where a bug on the lens is lit by the camera's own illuminator and shows bright."""
    if mean_level(image) < 70:
        return True
    if image.ndim == 2 or image.shape[2] != 3:
        return True
    small = image[:: max(1, image.shape[0] // 64), :: max(1, image.shape[1] // 64)].astype(np.int16)
    return bool(np.abs(small[..., 0] - small[..., 1]).mean() < 2 and np.abs(small[..., 1] - small[..., 2]).mean() < 2)


def _insect_mask(size: int, rng: np.random.Generator) -> np.ndarray:
    """A size x size uint8 silhouette of a bug seen from below: a spider (eight long jointed legs)
    or an insect (six legs, often a moth's wings); drawn sharp here (blurred by the caller)."""
    m = np.zeros((size, size), np.uint8)
    c = size / 2.0
    body_len = size * rng.uniform(0.22, 0.32)
    body_w = body_len * rng.uniform(0.3, 0.5)
    turn = rng.uniform(0, 360)
    t = math.radians(turn)
    ax = np.array([math.cos(t), math.sin(t)])
    perp = np.array([-ax[1], ax[0]])
    sc = 16

    def ell(centre, half_len, half_w, value):
        cv2.ellipse(m, tuple(int(v) for v in np.rint((np.asarray(centre) - 0.5) * sc)),
                    (int(half_len * sc), int(half_w * sc)), turn, 0, 360, value, -1, cv2.LINE_AA, 4)

    centre = np.array([c, c])
    spider = rng.random() < 0.5
    if not spider and rng.random() < 0.6:  # a moth: two broad, fainter wings
        for side in (-1, 1):
            wc = centre + perp * side * body_w * 1.4 - ax * body_len * 0.1
            cv2.ellipse(m, tuple(int(v) for v in np.rint((wc - 0.5) * sc)),
                        (int(body_len * 0.75 * sc), int(body_w * 1.5 * sc)), turn + side * 25, 0, 360, 110, -1,
                        cv2.LINE_AA, 4)
    ell(centre - ax * body_len * 0.35, body_len * 0.5, body_w * 0.5, 255)  # abdomen
    ell(centre + ax * body_len * 0.3, body_len * 0.25, body_w * 0.42, 255)  # thorax
    ell(centre + ax * body_len * 0.6, body_len * 0.13, body_w * 0.3, 255)  # head
    n_pairs = 4 if spider else 3
    reach = 1.1 if spider else 0.95
    thick = max(1, int(round(size * 0.014)))
    root = centre + ax * body_len * 0.3  # legs leave the thorax
    for i in range(n_pairs):
        # front legs reach forward, back legs backward (degrees from the sideways direction)
        sweep = 55.0 - 110.0 * i / max(n_pairs - 1, 1)
        for side in (-1, 1):
            a1 = math.radians(sweep + rng.normal(0, 8))
            out1 = perp * side * math.cos(a1) + ax * math.sin(a1)
            knee = root + out1 * size * reach * rng.uniform(0.12, 0.2)
            a2 = a1 + math.radians(rng.uniform(15, 35)) * (1 if sweep > 0 else -1)
            out2 = perp * side * math.cos(a2) + ax * math.sin(a2)
            foot = knee + out2 * size * reach * rng.uniform(0.14, 0.24)
            cv2.polylines(m, [fixed_point(np.stack([root, knee, foot]))], False, 255, thick, cv2.LINE_AA, 4)
    return m


def _web_mask(size: int, rng: np.random.Generator) -> np.ndarray:
    """A size x size uint8 orb web: radial threads and a sagging spiral, centre near the middle."""
    m = np.zeros((size, size), np.uint8)
    c = np.array([size / 2.0, size / 2.0]) + rng.normal(0, size * 0.04, 2)
    n = int(rng.integers(11, 17))
    ang = np.sort(rng.uniform(0, 2 * np.pi / n, 1) + np.arange(n) * 2 * np.pi / n + rng.normal(0, 0.08, n))
    reach = size * 0.5 * rng.uniform(0.75, 1.0, n)
    dirs = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    draw_segments(m, np.repeat(c[None], n, axis=0), c + dirs * reach[:, None], 255, 1)
    rings = int(rng.integers(7, 12))
    for j in range(rings):
        frac = 0.12 + 0.85 * (j / max(rings - 1, 1)) ** 1.1
        rr = np.minimum(reach * frac * rng.uniform(0.96, 1.04, n), reach)
        pts = c + dirs * rr[:, None]
        nxt = np.roll(pts, -1, axis=0)
        mid = (pts + nxt) / 2
        mid = c + (mid - c) * 0.93  # threads sag toward the hub between spokes
        chain = np.stack([pts, mid], axis=1).reshape(-1, 2)
        cv2.polylines(m, [fixed_point(chain)], True, 230, 1, cv2.LINE_AA, 4)
    # a few broken, drifting strands
    for _ in range(int(rng.integers(1, 4))):
        p0 = c + rng.normal(0, size * 0.25, 2)
        draw_segments(m, p0[None], (p0 + rng.normal(0, size * 0.2, 2))[None], 150, 1)
    return m


INSECT_MIN_RES = 96  # pixels: the smallest drawing of an insect or web (see lens_insect_image)


def lens_insect_image(image: np.ndarray, kind: str, x: float, y: float, size: float, opacity: float,
                      bright: bool, seed: int) -> np.ndarray:
    """A bug or a spider web right in front of the lens, far out of focus: the classic CCTV false
    alarm. `kind` is 'insect' (a blurred silhouette with legs; dark by day, or `bright` when
    lit by the camera's IR at night) or 'web' (thin threads catching the light). Centred at
    (x, y) pixels, spanning `size` pixels, at most `opacity` (0-1) opaque."""
    h, w = image.shape[:2]
    if size <= 0:  # nothing on the lens (the pasting scale below would be singular)
        return image.copy()
    rng = np.random.default_rng(seed)
    # drawing resolution, pixels: never below INSECT_MIN_RES, where a 1-pixel leg or thread would be
    # a large share of a small drawing (on a 64x48 frame, 7% of the picture changed by more than 96
    # levels); a drawing larger than its size on the frame is blurred enough not to alias when shrunk
    res = int(np.clip(round(size), INSECT_MIN_RES, 240 if kind == "web" else 160))
    mask = _insect_mask(res, rng) if kind == "insect" else _web_mask(res, rng)
    blur = res * (rng.uniform(0.012, 0.025) if kind == "insect" else rng.uniform(0.003, 0.006))
    f = size / res
    # anti-alias blur before shrinking by f, capped at the drawing's own size: a sub-pixel insect
    # (size near 0) would otherwise ask for a sigma of 0.5 / f, hundreds of thousands of pixels
    mask = cv2.GaussianBlur(mask, (0, 0), min(max(0.6, blur, 0.5 / max(f, 1e-6)), float(res)))
    # paste the drawing onto a full-size alpha at (x, y), scaled by f
    m = np.array([[f, 0, x - size / 2 + 0.5 * f - 0.5], [0, f, y - size / 2 + 0.5 * f - 0.5]])
    x1, x2 = max(0, int(x - size / 2) - 1), min(w, int(math.ceil(x + size / 2)) + 1)
    y1, y2 = max(0, int(y - size / 2) - 1), min(h, int(math.ceil(y + size / 2)) + 1)
    out = image.copy()
    if x2 <= x1 or y2 <= y1:
        return out
    m[:, 2] -= (x1, y1)
    alpha = cv2.warpAffine(mask, m, (x2 - x1, y2 - y1), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = cv2.convertScaleAbs(alpha, alpha=opacity)
    roi = out[y1:y2, x1:x2]
    if kind == "web" or bright:
        out[y1:y2, x1:x2] = blend_toward(roi, alpha, 235)
    else:
        out[y1:y2, x1:x2] = blend_toward(roi, alpha, 18)
    return out


# ---------------------------------------------------------------- on-screen display
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


def timestamp_text(timestamp: int, fmt: str) -> str:
    """The OSD clock for `timestamp` seconds since 1970 (UTC), formatted with strftime `fmt`."""
    return datetime.fromtimestamp(int(timestamp), tz=timezone.utc).strftime(fmt)


@functools.lru_cache(maxsize=None)
def _digit_height(font: int) -> float:
    """The drawn height of a "0" at scale 1, pixels: what `text_height` asks for. getTextSize's
    height is not it (27 against 21 drawn with OpenCV 5's Hershey font: the text came out a
    quarter smaller than asked); measured from the ink at scale 10 for a tenth of a pixel."""
    canvas = np.zeros((400, 300), np.uint8)
    cv2.putText(canvas, "0", (20, 320), font, 10.0, 255, 1, cv2.LINE_AA)
    rows = np.flatnonzero(canvas.any(axis=1))
    return (rows[-1] - rows[0] + 1) / 10.0 if len(rows) else float(cv2.getTextSize("0", font, 1.0, 1)[0][1])


def timestamp_overlay_image(image: np.ndarray, lines: list[str], corner: str, text_height: float) -> np.ndarray:
    """Burn OSD text into a corner: white Hershey lines of about `text_height` pixels cap height,
    with a dark outline so they read on any background, as DVRs draw them.

    The outline is the white strokes' own mask grown by a halo, not a second, thicker putText:
    OpenCV spaces glyphs differently at thickness 1 and above, so a thick outline drawn under
    thin text drifts off it along the line and runs past the measured width. The block is
    placed by its drawn ink (descenders and halo included), so it keeps its margin from the
    frame's edges; narrow or short frames shrink the text to fit."""
    out = image.copy()
    h, w = image.shape[:2]
    lines = [ln for ln in lines if ln]
    if not lines:
        return out
    font = cv2.FONT_HERSHEY_SIMPLEX
    cap = _digit_height(font)
    widest = max(cv2.getTextSize(ln, font, 1.0, 1)[0][0] for ln in lines) / cap  # width per unit of height
    fit = min(0.9 * w / (widest + 1.2), h / (1.6 * len(lines) + 1.4))  # narrow or short frames: shrink to fit
    text_height = max(3.0, min(text_height, fit))
    scale = text_height / cap
    thick = max(1, int(round(text_height / 12)))
    halo = max(1, int(round(text_height / 20)))  # outline width outside the strokes, pixels
    margin = max(1, int(round(text_height * 0.6)))
    gap = max(1, int(round(text_height * 0.5)))
    left = corner.endswith("left")
    sizes = [cv2.getTextSize(ln, font, scale, thick)[0] for ln in lines]
    pad = int(math.ceil(text_height)) + halo + thick + 2  # room for descenders, strokes and halo
    bw = max(s[0] for s in sizes) + 2 * pad
    bh = sum(s[1] for s in sizes) + gap * (len(lines) - 1) + 2 * pad
    mask = np.zeros((bh, bw), np.uint8)
    y = pad
    for ln, (tw, th) in zip(lines, sizes):
        y += th
        cv2.putText(mask, ln, (pad if left else bw - pad - tw, y), font, scale, 255, thick, cv2.LINE_AA)
        y += gap
    ring = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * halo + 1, 2 * halo + 1)))
    ys, xs = np.nonzero(ring)
    if len(xs) == 0:
        return out
    ring = ring[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    mask = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    bh, bw = ring.shape
    x0 = margin if left else w - margin - bw
    y0 = margin if corner.startswith("top") else h - margin - bh
    # a block larger than the frame (a frame only a few pixels across) is cut at the far side
    x0, y0 = max(0, min(x0, w - bw)), max(0, min(y0, h - bh))
    x1, y1 = min(w, x0 + bw), min(h, y0 + bh)
    roi = blend_toward(out[y0:y1, x0:x1], ring[: y1 - y0, : x1 - x0], 16)
    out[y0:y1, x0:x1] = blend_toward(roi, mask[: y1 - y0, : x1 - x0], 240)
    return out

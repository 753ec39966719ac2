"""Weather and light kernels on uint8 images: rain, snow, fog, sun flare, headlight glare, shadows.

Each effect is a light (or shade) layer composited onto the picture. Layers are drawn at a
reduced working resolution (they are soft, so the saving is invisible) and upsampled once;
compositing stays in uint8 OpenCV arithmetic. A layout that needs many random positions
(streaks, flakes, outline vertices) is a pure function of an integer `seed`: the kernel
builds its own local generator from it, so the same seed always draws the same layer.

Sizes are in pixels of the full image unless a docstring says otherwise; the continuous
pixel convention of augcli.geometry holds (pixel i covers [i, i + 1]).
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from augcli.kernels.camera import (
    blend_toward, draw_segments, fixed_point, like_image, mean_level, motion_blur_image, multiply, screen, upsample,
    work_size,
)

FOG_TILE = 256  # side of the periodic smooth-noise tile that fog patches are read from


# ---------------------------------------------------------------- rain
RAIN_STREAKS = 900  # streaks per (shorter side)^2 of image area at density 1


def rain_image(image: np.ndarray, density: float, length: float, angle: float, brightness: float,
               seed: int) -> np.ndarray:
    """Falling rain: thin bright streaks of about `length` pixels leaning `angle` degrees from
    vertical (positive: tops to the left, i.e. wind blowing right), `density` 0-1, streak
    `brightness` 0-1 of full scale, plus the veil of falling water (contrast drops with density).

    Drops are drawn as short dashes and smeared along their fall by a line blur, so each
    streak fades in and out like a drop crossing the exposure; a few near the lens are wide
    and out of focus. `density` 0 is no rain at all: the image unchanged."""
    if density <= 0:
        return image.copy()
    h, w = image.shape[:2]
    lw, lh = work_size(w, h)
    f = w / lw
    side = min(w, h)
    rng = np.random.default_rng(seed)
    n = int(min(6000, max(1, round(density * RAIN_STREAKS * w * h / side**2))))
    a = np.radians(angle)
    fall = np.array([np.sin(a), np.cos(a)])
    smear = length / f  # streak length in layer pixels

    def dashes(layer, count, value, scale, thick):
        pts = rng.uniform([-smear, -smear], [lw + smear, lh + smear], (count, 2))
        dash = fall * smear * scale * 0.4
        jitter = rng.uniform(0.7, 1.0, (count, 1))
        draw_segments(layer, pts - dash * jitter, pts + dash * jitter, value, thick)

    far = np.zeros((lh, lw), np.uint8)
    dashes(far, max(1, int(n * 0.7)), 150, 0.6, 1)
    dashes(far, max(1, int(n * 0.25)), 230, 1.0, 1)
    far = motion_blur_image(far, smear * 0.6, 90.0 + angle)
    near = np.zeros((lh, lw), np.uint8)
    dashes(near, max(1, int(n * 0.03)), 255, 1.6, max(2, int(round(smear * 0.06))))
    near = cv2.GaussianBlur(motion_blur_image(near, smear, 90.0 + angle), (0, 0), max(1.0, smear * 0.04))
    layer = upsample(cv2.addWeighted(far, 1.0, near, 0.6, 0.0), w, h)
    veil = 0.15 * density  # falling water scatters light: the scene fades toward its mean + 50
    level = min(255.0, mean_level(image) + 50.0)
    return cv2.addWeighted(image, 1.0 - veil, like_image(layer, image), float(brightness) * 1.5, veil * level)


# ---------------------------------------------------------------- snow
SNOW_FLAKES = 1100  # flakes per (shorter side)^2 of image area at density 1


def snow_image(image: np.ndarray, density: float, flake_size: float, angle: float, seed: int) -> np.ndarray:
    """Falling snow: soft white flakes about `flake_size` pixels across (at least 1.5), drifting
    `angle` degrees from vertical, `density` 0-1; a few near the lens are large, out of focus and
    translucent; the air turns milky with density. `density` 0 is no snow at all: the image unchanged."""
    if density <= 0:
        return image.copy()
    h, w = image.shape[:2]
    lw, lh = work_size(w, h)
    f = w / lw
    side = min(w, h)
    rng = np.random.default_rng(seed)
    n = int(min(8000, max(1, round(density * SNOW_FLAKES * w * h / side**2))))
    a = np.radians(angle)
    fall = np.array([np.sin(a), np.cos(a)])
    size = max(flake_size, 1.5) / f  # diameter in layer pixels
    far = np.zeros((lh, lw), np.uint8)
    # flakes grouped by size (OpenCV draws one thickness per call), each a short streak along the fall
    for share, scale, value in ((0.5, 0.6, 200), (0.35, 1.0, 240), (0.15, 1.5, 255)):
        m = max(1, int(round(n * share)))
        d = size * scale
        pts = rng.uniform([0, 0], [lw, lh], (m, 2))
        tail = fall * d * 0.5
        draw_segments(far, pts - tail / 2, pts + tail / 2, value * min(1.0, d), max(1, int(round(d))))
    far = cv2.GaussianBlur(far, (0, 0), max(0.5, 0.2 * size))
    near = np.zeros((lh, lw), np.uint8)
    m = max(1, int(round(n * 0.015)))
    d = size * rng.uniform(4.0, 7.0)
    pts = rng.uniform([0, 0], [lw, lh], (m, 2))
    draw_segments(near, pts, pts + fall * d * 0.3, 170, max(1, int(round(d))))
    near = cv2.GaussianBlur(near, (0, 0), max(1.0, 0.3 * d))
    layer = upsample(cv2.max(far, near), w, h)
    return blend_toward(image, layer, 250, veil=0.3 * density, veil_level=210.0)


# ---------------------------------------------------------------- fog
@lru_cache(maxsize=1)
def _fog_tile() -> np.ndarray:
    """A periodic field of smooth noise in [0, 1], FOG_TILE square, drawn once from a constant seed:
    three octaves of wrapped, blurred white noise."""
    rng = np.random.default_rng(0xF06)
    field = np.zeros((FOG_TILE, FOG_TILE), np.float32)
    for cells, weight in ((4, 0.6), (8, 0.3), (16, 0.1)):
        coarse = rng.standard_normal((cells, cells)).astype(np.float32)
        wrapped = np.pad(coarse, 2, mode="wrap")
        step = FOG_TILE / cells
        big = cv2.resize(wrapped, (int(step * (cells + 4)),) * 2, interpolation=cv2.INTER_CUBIC)
        o = int(2 * step)
        field += weight * big[o:o + FOG_TILE, o:o + FOG_TILE]
    field -= field.min()
    return field / max(float(field.max()), 1e-6)


FOG_CELLS = 64  # grid of the fog map across the longer side before upsampling


def fog_image(image: np.ndarray, density: float, patchiness: float, offset: tuple[int, int]) -> np.ndarray:
    """Fog: the scene fades toward a bright, flat airlight. `density` 0-1 is the share of
    airlight where fog is thickest; it thins toward the bottom of the frame (nearer ground)
    and varies in patches (`patchiness` 0 = even, 1 = strongly patchy) read from a fixed
    smooth-noise tile at `offset` (row, col)."""
    h, w = image.shape[:2]
    gw = max(2, round(FOG_CELLS * w / max(w, h)))
    gh = max(2, round(FOG_CELLS * h / max(w, h)))
    tile = _fog_tile()
    rows = (offset[0] + np.arange(gh) * 2) % FOG_TILE  # 2 tile cells per grid cell: patches ~1/4 frame
    cols = (offset[1] + np.arange(gw) * 2) % FOG_TILE
    noise = tile[np.ix_(rows, cols)]
    y = (np.arange(gh, dtype=np.float32)[:, None] + 0.5) / gh
    depth = 1.0 - 0.45 * y  # farther toward the top of a typical CCTV view
    amount = density * depth * (1.0 - patchiness + patchiness * 1.6 * noise)
    amount = np.clip(amount, 0.0, 0.97)
    alpha = upsample(np.rint(amount * 255).astype(np.uint8), w, h)
    level = float(np.clip(170.0 + 0.3 * mean_level(image), 0, 255))
    return blend_toward(image, alpha, (level + 4, level, level - 3))


# ---------------------------------------------------------------- glare: sun flare and headlights
GLARE_SIDE = 180  # shorter side of the working layer for glare: all of it is smooth but the cores


def _grid(lw: int, lh: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(lw, dtype=np.float32) + 0.5, np.arange(lh, dtype=np.float32) + 0.5)


def _glare_to_image(image: np.ndarray, light: np.ndarray) -> np.ndarray:
    """Screen a float (h, w, 3) BGR light layer (0-1) at working resolution onto the image."""
    h, w = image.shape[:2]
    layer = np.clip(light * 255.0 + 0.5, 0, 255).astype(np.uint8)
    layer = upsample(layer, w, h)
    if image.ndim == 2 or image.shape[2] != 3:
        layer = cv2.cvtColor(layer, cv2.COLOR_BGR2GRAY)
    return screen(image, layer)


def sun_flare_image(image: np.ndarray, x: float, y: float, radius: float, intensity: float, seed: int) -> np.ndarray:
    """The sun (or a strong lamp) in or near the frame at (x, y) pixels: a burnt-out disc and
    glow of `radius` pixels, a veil of scattered light lifting the blacks of the whole frame,
    rays, and a chain of tinted lens ghosts on the line through the image centre. `intensity` 0-1."""
    h, w = image.shape[:2]
    lw, lh = work_size(w, h, GLARE_SIDE)
    f = w / lw
    xs, ys = _grid(lw, lh)
    sx, sy, r = x / f, y / f, max(radius / f, 0.5)
    d = np.sqrt((xs - sx) ** 2 + (ys - sy) ** 2)
    core = np.clip((0.3 * r - d) / max(0.06 * r, 0.5) + 0.5, 0, 1) * 1.5
    glow = 0.9 * np.exp(-(d / (0.5 * r)) ** 2) + 0.45 * np.exp(-d / r)
    veil = 0.25 * np.exp(-d / (3.0 * r)) + 0.1
    rng = np.random.default_rng(seed)
    rays = np.zeros((lh, lw), np.float32)
    n_rays = int(rng.integers(6, 13))
    ang = rng.uniform(0, np.pi) + np.arange(n_rays) * np.pi / n_rays + rng.normal(0, 0.06, n_rays)
    reach = r * rng.uniform(2.5, 5.0, n_rays)
    ends = np.stack([np.cos(ang), np.sin(ang)], axis=1) * reach[:, None]
    centre = np.array([[sx, sy]])
    draw_segments(rays, centre - ends, centre + ends, 0.6, 1)
    rays = cv2.GaussianBlur(rays, (0, 0), max(0.6, 0.03 * r)) * np.exp(-d / (2.0 * r))
    warm = np.array([0.8, 0.93, 1.0], np.float32)  # B, G, R
    light = (core + glow + veil + rays)[..., None] * warm
    # ghosts: soft discs and rings along the line from the sun through the optical centre
    cx, cy = lw / 2, lh / 2
    tints = np.array([[0.5, 1.0, 0.6], [1.0, 0.55, 0.9], [0.35, 0.75, 1.0], [1.0, 0.9, 0.45]], np.float32)
    for _ in range(int(rng.integers(4, 8))):
        t = rng.uniform(0.5, 2.3)
        gx, gy = sx + (cx - sx) * t, sy + (cy - sy) * t
        gr = r * rng.uniform(0.1, 0.7)
        ring = rng.random() < 0.3
        strength = rng.uniform(0.08, 0.22)
        tint = tints[rng.integers(len(tints))]
        x1, x2 = max(0, int(gx - gr - 2)), min(lw, int(gx + gr + 3))
        y1, y2 = max(0, int(gy - gr - 2)), min(lh, int(gy + gr + 3))
        if x2 <= x1 or y2 <= y1:
            continue
        dist = np.sqrt((xs[y1:y2, x1:x2] - gx) ** 2 + (ys[y1:y2, x1:x2] - gy) ** 2)
        edge = max(0.2 * gr, 0.5)
        disc = np.clip((gr - dist) / edge + 0.5, 0, 1)
        if ring:
            disc = disc * (1.0 - np.clip((0.8 * gr - dist) / edge + 0.5, 0, 1)) * 2.0
        light[y1:y2, x1:x2] += (strength * disc)[..., None] * tint
    return _glare_to_image(image, intensity * light)


def headlight_glare_image(image: np.ndarray, lights: list[tuple[float, float]], radius: float, intensity: float,
                          seed: int) -> np.ndarray:
    """Vehicle headlights at night: each light at (x, y) pixels gets a burnt-out core, a bloom of
    `radius` pixels, a horizontal smear and a diffraction star, like a CCTV sensor overloaded
    by a car facing it. `intensity` 0-1."""
    h, w = image.shape[:2]
    lw, lh = work_size(w, h, GLARE_SIDE)
    f = w / lw
    xs, ys = _grid(lw, lh)
    r = max(radius / f, 0.5)
    rng = np.random.default_rng(seed)
    light = np.zeros((lh, lw), np.float32)
    star = np.zeros((lh, lw), np.float32)
    d_near = np.full((lh, lw), np.inf, np.float32)
    n = int(rng.choice([4, 6, 8]))
    turn = rng.uniform(0, np.pi)  # one aperture: the same star orientation for every light
    for (lx, ly) in lights:
        px, py = lx / f, ly / f
        dx, dy = xs - px, ys - py
        d = np.sqrt(dx * dx + dy * dy)
        d_near = np.minimum(d_near, d)
        light += np.clip((0.35 * r - d) / max(0.08 * r, 0.5) + 0.5, 0, 1) * 2.0  # burnt-out core
        light += 1.0 * np.exp(-(d / r) ** 2) + 0.4 * np.exp(-d / (2.5 * r))
        light += 0.5 * np.exp(-(dx / (6.0 * r)) ** 2 - (dy / (0.15 * r)) ** 2)  # horizontal smear
        ang = turn + np.arange(n) * np.pi / n
        ends = np.stack([np.cos(ang), np.sin(ang)], axis=1) * (rng.uniform(4.0, 6.0) * r)
        draw_segments(star, np.array([[px, py]]) - ends, np.array([[px, py]]) + ends, 0.7, 1)
    star = cv2.GaussianBlur(star, (0, 0), 0.7) * np.exp(-d_near / (1.8 * r))
    tint = np.array([1.0, 0.97, 0.92], np.float32) if rng.random() < 0.5 else np.array([0.85, 0.93, 1.0], np.float32)
    return _glare_to_image(image, intensity * (light + star)[..., None] * tint)


# ---------------------------------------------------------------- shadows
def _shadow_outline(kind: str, lw: int, lh: int, rng: np.random.Generator) -> np.ndarray:
    """(N, 2) outline in layer pixels of one cast shadow: 'blob' (tree canopy, bush), 'band' (a pole,
    a lamp post, a person out of view) or 'edge' (a building's shadow across one side)."""
    side = min(lw, lh)
    if kind == "band":
        c = rng.uniform([0.1 * lw, 0.1 * lh], [0.9 * lw, 0.9 * lh])
        t = rng.uniform(0, np.pi)
        along = np.array([np.cos(t), np.sin(t)]) * side * rng.uniform(0.5, 1.2)
        across = np.array([-np.sin(t), np.cos(t)]) * side * rng.uniform(0.025, 0.07)
        taper = rng.uniform(0.6, 1.4)
        return np.array([c - along - across, c + along - across * taper,
                         c + along + across * taper, c - along + across])
    if kind == "edge":
        t = rng.uniform(0, 2 * np.pi)
        normal = np.array([np.cos(t), np.sin(t)])
        centre = np.array([lw / 2, lh / 2]) + normal * side * rng.uniform(0.0, 0.4)
        along = np.array([-normal[1], normal[0]]) * 3 * max(lw, lh)
        far = normal * 3 * max(lw, lh)
        bend = normal * side * rng.uniform(-0.15, 0.15)  # a roof line is seldom square to the view
        return np.array([centre - along + bend, centre + along - bend, centre + along + far, centre - along + far])
    c = rng.uniform([0.15 * lw, 0.15 * lh], [0.85 * lw, 0.85 * lh])
    n = int(rng.integers(6, 12))
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = side * rng.uniform(0.2, 0.5) * rng.uniform(0.55, 1.0, n)
    stretch, turn = rng.uniform(1.0, 2.2), rng.uniform(0, np.pi)
    px, py = np.cos(ang) * rad * stretch, np.sin(ang) * rad
    rot = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    return (rot @ np.stack([px, py])).T + c


def shadow_image(image: np.ndarray, count: int, darkness: float, softness: float, seed: int) -> np.ndarray:
    """Cast shadows of things out of view (trees, poles, buildings): `count` dark shapes with soft
    edges (`softness`: penumbra width as a fraction of the shorter side), darkening by
    `darkness` 0-1 and turning slightly blue (shade is lit by the sky)."""
    h, w = image.shape[:2]
    lw, lh = work_size(w, h, 180)
    side = min(lw, lh)
    rng = np.random.default_rng(seed)
    mask = np.zeros((lh, lw), np.uint8)
    for _ in range(count):
        kind = ("blob", "band", "edge")[int(rng.choice(3, p=[0.45, 0.3, 0.25]))]
        cv2.fillPoly(mask, [fixed_point(_shadow_outline(kind, lw, lh, rng))], 255, cv2.LINE_AA, 4)
    mask = cv2.GaussianBlur(mask, (0, 0), max(0.5, softness * side))
    m = mask.astype(np.float32) * (darkness / 255.0)
    if image.ndim == 3 and image.shape[2] == 3:  # the blue channel is spared a little
        factor = np.stack([1.0 - 0.85 * m, 1.0 - 0.95 * m, 1.0 - m], axis=-1)
    else:
        factor = 1.0 - m
    factor = upsample(np.rint(factor * 255.0).astype(np.uint8), w, h)
    return multiply(image, factor)

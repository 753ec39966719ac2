"""Transforms that combine images or hide parts of them; labels come from every image involved.

Label rules, the same in every transform here:
- Pixels that get covered (a cut-out hole, a pasted rectangle, a pasted object) take
  visibility away from the objects under them by the covered share of each object's area
  (a pixel covered again, a hole under a later CutMix rectangle, counts once), and keypoints
  under them become invisible (augcli.sample.occlude_objects). The run's
  LabelPolicy.min_visibility then drops what is too hidden: no object stays labelled over
  grey or over another picture.
- Objects brought in from a donor image move through the same matrix as the donor's pixels
  and are clipped to the window those pixels land in (the canvas, a CutMix rectangle, a
  Mosaic cell); their visibility is the share of their area inside that window.
- The result holds the current image's objects first, then each donor's, in order.

Donors are other images of the same split, read as they are (un-augmented), chosen from
the output's own RNG (AugmentState.donor), so the result is the same for any worker count;
their keys are recorded in the params ("donors") so the manifest names them. Without a
donor source (augment_sample called on one in-memory sample, with no dataset around it),
MixUp, CutMix and CopyPaste leave the sample unchanged and Mosaic fills the donors' cells
with `fill`; the manifest then shows "donors": [].

An image-level class (classification datasets) stays the current image's: it is not
blended, so MixUp, CutMix and Mosaic on a classification dataset give the result the
current image's hard label.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from augcli import geometry as g
from augcli.kernels.masks import polygons_to_mask
from augcli.kernels.mixing import (IGNORE, blend_images, fill_where, overlay_class_maps, paste_into, paste_where,
                                   rectangles_mask, resize_image, warp_replicate)
from augcli.sample import Objects, Sample, concat_objects, occlude_objects, transform_objects
from augcli.transforms.base import REQUIRED, MASK_FILL, AugmentState, Transform, check_canvas, randint, uniform
from augcli.transforms.params import Choice, Color, Number, Range, Size
from augcli.transforms.registry import register

FILL = Color(default=0, help="colour of the covered or empty area")
DISTINCT_TRIES = 16  # draws per Mosaic cell to find a donor not used yet in this mosaic


# ---------------------------------------------------------------- helpers
def _draw_donors(state: AugmentState, rng: np.random.Generator, n: int) -> list[tuple[str, Sample]]:
    """n donors (key, sample), avoiding repeats when the split has enough images; [] without a donor source."""
    if n <= 0 or not state.has_donors:  # no donor source at all (see the module docstring)
        return []
    out = [state.donor(rng)]
    while len(out) < n:
        used = {k for k, _ in out}
        for _ in range(DISTINCT_TRIES):
            pick = state.donor(rng)
            if pick[0] not in used:
                break
        out.append(pick)
    return out


def _keypoint_count(*samples: Sample) -> int | None:
    """Keypoints per object in this dataset, or None when it has none."""
    for s in samples:
        if s.schema.kpt_shape:
            return int(s.schema.kpt_shape[0])
        if s.objects.keypoints is not None:
            return int(s.objects.keypoints.shape[1])
    return None


def _with_keypoints(objects: Objects, k: int | None) -> Objects:
    """The objects with a (N, k, 3) keypoint array (zeros = not labelled) when the dataset has keypoints,
    so that joining them with other images' objects keeps everyone's keypoints."""
    if k is None or objects.keypoints is not None:
        return objects
    out = objects.copy()
    out.keypoints = np.zeros((len(objects), k, 3))
    return out


def _join(parts: list[Objects], k: int | None) -> Objects:
    return concat_objects([_with_keypoints(p, k) for p in parts]) if parts else Objects.empty(k)


def _place(objects: Objects, matrix: np.ndarray, window: tuple[int, int, int, int], canvas: tuple[int, int],
           flip_idx) -> Objects:
    """Objects moved by `matrix` (their image -> canvas pixels) and clipped to `window` (x, y, w, h,
    whole pixels) of a `canvas` (width, height). Visibility is multiplied by the share inside the window."""
    x, y, w, h = window
    local = transform_objects(objects, g.translation(-x, -y) @ matrix, (w, h), flip_idx=flip_idx)
    if (x, y, w, h) == (0, 0, *canvas):
        return local
    return transform_objects(local, g.translation(x, y), canvas, flip_idx=flip_idx)  # inside: nothing more is cut


def _resized(sample: Sample, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The sample's image and class map (None if it has none) resized to `size` (width, height), and the
    matrix that did it."""
    mask = None if sample.mask is None else resize_image(sample.mask, size, "nearest")
    return resize_image(sample.image, size), mask, _to_canvas(sample, size)


PART_BLOWUP = 16  # a resized image more than this many times the part of it kept is not made whole


def _resized_part(sample: Sample, size: tuple[int, int], window: tuple[int, int, int, int]
                  ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The `window` (x, y, w, h, whole pixels) of the sample's image and class map (None if it has
    none) resized to `size` (width, height), and the resize matrix. Normally the whole image is
    resized (see resize_image) and cut; when it is enlarged to far more than the window (an image a
    few pixels high made tall enough to cover a Mosaic cell is made hundreds of thousands of pixels
    wide), only the window is resampled through the same matrix (bilinear, as resize_image
    enlarges; nearest for the class map), so memory and time stay those of the window. (A shrunk
    image is never larger than the one already in memory.)"""
    x, y, w, h = window
    enlarged = size[0] >= sample.size[0] and size[1] >= sample.size[1]
    if not enlarged or size[0] * size[1] <= PART_BLOWUP * w * h:
        pixels, mask, matrix = _resized(sample, size)
        return _crop(pixels, window), None if mask is None else _crop(mask, window), matrix
    matrix = _to_canvas(sample, size)
    local = g.translation(-x, -y) @ matrix
    mask = None if sample.mask is None else warp_replicate(sample.mask, local, (w, h), "nearest")
    return warp_replicate(sample.image, local, (w, h)), mask, matrix


def _class_map(mask: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """A donor's class map, or all IGNORE when it has none: its objects are unknown there."""
    return np.full(shape, IGNORE, np.uint8) if mask is None else mask


def _to_canvas(sample: Sample, canvas: tuple[int, int]) -> np.ndarray:
    """The matrix that resizes a sample's image to fill the canvas (width, height)."""
    w, h = sample.size
    return g.scaling(canvas[0] / w, canvas[1] / h)


def _crop(image: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = window
    return image[y:y + h, x:x + w]


class MixingTransform(Transform):
    """A transform that reads other images of the dataset ("donors").

    One call draws `donor_count` donors, then the parameters, from the output's RNG; the
    donors' keys are recorded as params["donors"]."""

    needs_donors: ClassVar[bool] = True

    def donor_count(self) -> int:
        return 1

    def __call__(self, state: AugmentState, rng: np.random.Generator) -> None:
        if rng.random() >= self.p:
            return
        donors = _draw_donors(state, rng, self.donor_count())
        samples = [s for _, s in donors]
        params = {"donors": [k for k, _ in donors], **self.sample_mix(rng, state, samples)}
        self.mix(state, params, samples)
        state.record(self.name, params)

    def sample_mix(self, rng: np.random.Generator, state: AugmentState, donors: list[Sample]) -> dict[str, Any]:
        """Parameters for this output, given the donors drawn (possibly none)."""
        return {}

    def mix(self, state: AugmentState, params: dict[str, Any], donors: list[Sample]) -> None:
        raise NotImplementedError

    def apply(self, state: AugmentState, params: dict[str, Any]) -> None:
        raise TypeError(f"{self.name} needs its donor images: call the transform, not apply()")


# ---------------------------------------------------------------- transforms
@register("mixing")
class CoarseDropout(Transform):
    """Cut-out: paint 1-8 rectangular holes with `fill`. Objects lose visibility by the share of
    their area under the holes (and are dropped below min_visibility); keypoints under a hole
    become invisible; a mask becomes background there."""

    remaps_class_pixels = True

    params = {
        "holes": Range(default=(1, 8), lo=0, hi=10000, integer=True, help="number of holes, drawn from [lo, hi]"),
        "size": Range(default=(0.05, 0.2), lo=0.0, hi=1.0,
                      help="hole width and height (drawn separately), fraction of the image's shorter side"),
        "fill": FILL,
    }

    def sample(self, rng, size):
        w, h = size
        short = min(w, h)
        holes = []
        for _ in range(randint(rng, self.holes)):
            hw = min(w, max(1, int(round(uniform(rng, self.size) * short))))
            hh = min(h, max(1, int(round(uniform(rng, self.size) * short))))
            x = int(rng.integers(0, w - hw + 1))
            y = int(rng.integers(0, h - hh + 1))
            holes.append([x, y, hw, hh])
        return {"holes": holes}

    def apply(self, state, params):
        w, h = state.size
        hidden = rectangles_mask(params["holes"], w, h)
        state.set_image(fill_where(state.image, hidden, self.fill))
        state.occlude(hidden)


@register("mixing")
class MixUp(MixingTransform):
    """Blend the image with a donor resized to the canvas: weight `ratio` for this image, the rest for
    the donor. Labels are the union of both images' (the donor's scaled by the same resize).
    A class map keeps each pixel's class where only one image has one and becomes 255 (ignore)
    where both have different classes."""

    remaps_class_pixels = True

    params = {
        "ratio": Range(default=(0.3, 0.7), lo=0.0, hi=1.0, help="weight of this image (the donor gets 1 - ratio)"),
        "alpha": Number(default=None, lo=1e-3, hi=1000,
                        help="when given, the weight is drawn from Beta(alpha, alpha) instead of `ratio`"),
    }

    def sample_mix(self, rng, state, donors):
        if not donors:
            return {}
        weight = float(rng.beta(self.alpha, self.alpha)) if self.alpha is not None else uniform(rng, self.ratio)
        return {"ratio": weight}

    def mix(self, state, params, donors):
        if not donors:
            return
        current, donor = state.sample, donors[0]
        canvas = current.size
        pixels, donor_mask, matrix = _resized(donor, canvas)
        image = blend_images(current.image, pixels, params["ratio"])
        moved = _place(donor.objects, matrix, (0, 0, *canvas), canvas, current.schema.flip_idx)
        mask = current.mask
        if mask is not None:
            mask = overlay_class_maps(mask, _class_map(donor_mask, mask.shape))
        objects = _join([current.objects, moved], _keypoint_count(current, donor))
        state.replace_sample(replace(current, image=image, objects=objects, mask=mask))


@register("mixing")
class CutMix(MixingTransform):
    """Paste a random rectangle of a donor (resized to the canvas, the same rectangle of it) into the
    image. This image's objects lose visibility by the pasted area; the donor's objects are
    clipped to the rectangle (their visibility is the share inside it); labels are the union."""

    remaps_class_pixels = True

    params = {
        "area": Range(default=(0.1, 0.5), lo=0.0, hi=1.0,
                      help="rectangle area, fraction of the image (same aspect ratio as the image)"),
    }

    def sample_mix(self, rng, state, donors):
        if not donors:
            return {}
        w, h = state.size
        side = math.sqrt(uniform(rng, self.area))
        rw = min(w, max(1, int(round(w * side))))
        rh = min(h, max(1, int(round(h * side))))
        x = int(rng.integers(0, w - rw + 1))
        y = int(rng.integers(0, h - rh + 1))
        return {"rect": [x, y, rw, rh]}

    def mix(self, state, params, donors):
        if not donors:
            return
        current, donor = state.sample, donors[0]
        canvas = current.size
        window = tuple(params["rect"])
        x, y = window[:2]
        pixels, donor_mask, matrix = _resized(donor, canvas)
        image = current.image.copy()
        paste_into(image, _crop(pixels, window), x, y)
        kept = occlude_objects(current.objects, rectangles_mask([window], *canvas))
        moved = _place(donor.objects, matrix, window, canvas, current.schema.flip_idx)
        mask = current.mask
        if mask is not None:
            mask = mask.copy()
            paste_into(mask, _crop(_class_map(donor_mask, mask.shape), window), x, y)
        objects = _join([kept, moved], _keypoint_count(current, donor))
        state.replace_sample(replace(current, image=image, objects=objects, mask=mask))


def _in_cells(own: int, cells: int, mine: Any, donors: list[Any]) -> list[Any]:
    """Per cell, row-major: `mine` in cell `own`, the donors' in the other cells in order, None where donors ran out."""
    queue = list(donors)
    return [mine if i == own else (queue.pop(0) if queue else None) for i in range(cells)]


def _cuts(centre: float, length: int, grid: int) -> list[int]:
    """Cell edges along one axis, whole pixels, 0 and `length` included: one cut at the centre for a
    2x2 mosaic; for 3x3, a middle cell a third of the length wide, centred on it. Every cell
    keeps at least one pixel."""
    inner = [centre] if grid == 2 else [centre - 1 / 6, centre + 1 / 6]
    cuts = [0]
    for i, c in enumerate(inner, start=1):
        lo, hi = cuts[-1] + 1, length - (grid - i)
        cuts.append(int(min(max(round(c * length), lo), hi)))
    return cuts + [length]


@register("mixing")
class Mosaic(MixingTransform):
    """YOLO-style mosaic onto a `size` canvas: a `grid` x `grid` (2 or 3) of cells split around a random
    centre; this image takes a random cell and donors (3 or 8) fill the others in row-major order.

    Each image is resized, keeping its aspect ratio (to the nearest whole pixel), just enough to
    cover its cell, and aligned to the side of the cell that faces the mosaic centre (a centre
    cell: centred), so the part of the picture nearest the centre shows; what falls outside the
    cell is cut. Each image's labels move by its placement matrix and are clipped to its cell.
    params["resized"] holds each cell's resized image size [width, height] (None: no donor)."""

    params = {
        "size": Size(default=REQUIRED, help="output [height, width] in pixels"),
        "grid": Number(default=2, lo=2, hi=3, integer=True, help="2 (2x2, 3 donors) or 3 (3x3, 8 donors)"),
        "center": Range(default=(0.25, 0.75), lo=0.0, hi=1.0,
                        help="mosaic centre, fraction of the width / height, drawn per axis"),
        "fill": FILL,
    }

    def check(self, config):
        h, w = config["size"]
        if min(h, w) < config["grid"]:
            return [("size", f"a {config['grid']}x{config['grid']} mosaic needs at least {config['grid']} pixels "
                             f"each way, got [{h}, {w}]")]
        return []

    def donor_count(self) -> int:
        return self.grid * self.grid - 1

    def sample_mix(self, rng, state, donors):
        out_h, out_w = self.size
        cells = self.grid * self.grid
        own = int(rng.integers(cells))
        cx, cy = uniform(rng, self.center), uniform(rng, self.center)
        xs, ys = _cuts(cx, out_w, self.grid), _cuts(cy, out_h, self.grid)
        resized: list[list[int] | None] = []
        for index, size in enumerate(_in_cells(own, cells, tuple(state.size), [d.size for d in donors])):
            row, col = divmod(index, self.grid)
            if size is None:
                resized.append(None)  # no donor for this cell: left `fill`
                continue
            (w, h), cw, ch = size, xs[col + 1] - xs[col], ys[row + 1] - ys[row]
            s = max(cw / w, ch / h)
            resized.append([max(cw, int(round(w * s))), max(ch, int(round(h * s)))])
        return {"cell": own, "center": [cx, cy], "xs": xs, "ys": ys, "resized": resized}

    def _offset(self, index: int, cell: int, resized: int) -> int:
        """Where the resized image starts relative to its cell along one axis (<= 0): its far edge on
        the centre line before the centre, its near edge after it, centred in a middle cell."""
        mid = (self.grid - 1) / 2
        if index < mid:
            return cell - resized
        if index > mid:
            return 0
        return (cell - resized) // 2

    def mix(self, state, params, donors):
        current = state.sample
        out_h, out_w = self.size
        canvas = (out_w, out_h)
        check_canvas(canvas, current.size)
        image = np.empty((out_h, out_w) + current.image.shape[2:], np.uint8)
        image[...] = self.fill if np.isscalar(self.fill) else np.asarray(self.fill, np.uint8)
        mask = None if current.mask is None else np.full((out_h, out_w), MASK_FILL, np.uint8)
        parts: list[Objects] = []
        xs, ys = params["xs"], params["ys"]
        for index, source in enumerate(_in_cells(params["cell"], self.grid * self.grid, current, donors)):
            if source is None:
                continue
            row, col = divmod(index, self.grid)
            window = (xs[col], ys[row], xs[col + 1] - xs[col], ys[row + 1] - ys[row])
            rw, rh = params["resized"][index]
            dx, dy = self._offset(col, window[2], rw), self._offset(row, window[3], rh)
            inside = (-dx, -dy, window[2], window[3])  # the cell's part of the resized image
            pixels, source_mask, scale = _resized_part(source, (rw, rh), inside)
            paste_into(image, pixels, window[0], window[1])
            if mask is not None:
                paste_into(mask, _class_map(source_mask, pixels.shape[:2]), window[0], window[1])
            matrix = g.translation(window[0] + dx, window[1] + dy) @ scale
            parts.append(_place(source.objects, matrix, window, canvas, current.schema.flip_idx))
        objects = _join(parts, _keypoint_count(current, *donors))
        state.replace_sample(Sample(image, objects, current.schema, mask, current.image_class))


@register("mixing")
class CopyPaste(MixingTransform):
    """Paste up to `max_objects` objects with polygons from a donor: each object's pixels (those whose
    centre is inside its polygon) go onto this image, its polygon, box and keypoints moved by
    the same matrix. Placement 'same' keeps each object where it is in the donor resized to the
    canvas; 'random' scales it by `scale` and puts it anywhere on the canvas (at least partly
    in view). Objects under a pasted one (earlier pasted ones included) lose visibility by the
    covered share.

    Only objects with polygons can be pasted: a donor with boxes only (detection, pose) has
    nothing to give, and the image is left unchanged ("pasted": [])."""

    remaps_class_pixels = True

    params = {
        "max_objects": Number(default=3, lo=1, hi=1000, integer=True, help="at most this many objects per paste"),
        "placement": Choice(default="random", options=("random", "same"), help="where pasted objects go"),
        "scale": Range(default=(0.5, 1.5), lo=0.01, hi=100,
                       help="size factor of a pasted object (placement 'random'), relative to the donor resized "
                            "to the canvas"),
    }

    def sample_mix(self, rng, state, donors):
        if not donors:
            return {"pasted": []}
        donor = donors[0]
        w, h = state.size
        polygons = donor.objects.polygons
        candidates = [i for i, p in enumerate(polygons) if p is not None and g.polygon_area(p) > 0]
        if not candidates:
            return {"pasted": []}
        count = randint(rng, (1, min(self.max_objects, len(candidates))))
        chosen = [candidates[int(i)] for i in rng.choice(len(candidates), size=count, replace=False)]
        base = _to_canvas(donor, (w, h))
        pasted = []
        for i in chosen:
            if self.placement == "same":
                pasted.append({"index": i})
                continue
            x1, y1, x2, y2 = g.tight_box(g.apply_to_points(base, polygons[i]))
            s = uniform(rng, self.scale)
            bw, bh = (x2 - x1) * s, (y2 - y1) * s
            x = float(rng.uniform(min(0.0, w - bw), max(0.0, w - bw)))
            y = float(rng.uniform(min(0.0, h - bh), max(0.0, h - bh)))
            pasted.append({"index": i, "scale": s, "at": [x, y]})
        return {"pasted": pasted}

    @staticmethod
    def _matrix(donor: Sample, entry: dict[str, Any], canvas: tuple[int, int]) -> np.ndarray:
        """Donor pixels -> canvas pixels for one pasted object."""
        base = _to_canvas(donor, canvas)
        if "at" not in entry:
            return base
        x1, y1, _, _ = g.tight_box(g.apply_to_points(base, donor.objects.polygons[entry["index"]]))
        s = entry["scale"]
        return g.translation(*entry["at"]) @ g.scaling(s, s) @ g.translation(-x1, -y1) @ base

    def mix(self, state, params, donors):
        if not params["pasted"]:
            return
        current, donor = state.sample, donors[0]
        canvas = current.size
        w, h = canvas
        image = current.image.copy()
        mask = None if current.mask is None else current.mask.copy()
        pieces: list[Objects] = []
        regions: list[np.ndarray] = []
        for entry in params["pasted"]:
            matrix = self._matrix(donor, entry, canvas)
            one = np.zeros(len(donor.objects), bool)
            one[entry["index"]] = True
            moved = transform_objects(donor.objects.select(one), matrix, canvas, flip_idx=current.schema.flip_idx)
            region = polygons_to_mask([moved.polygons[0]], w, h)
            if region.any():
                rows, cols = np.nonzero(region)
                x, y = int(cols.min()), int(rows.min())
                window = (x, y, int(cols.max()) + 1 - x, int(rows.max()) + 1 - y)
                local = g.translation(-x, -y) @ matrix
                inside = _crop(region, window)
                image[y:y + window[3], x:x + window[2]] = paste_where(
                    _crop(image, window), warp_replicate(donor.image, local, window[2:]), inside)
                if mask is not None:
                    donor_mask = _class_map(donor.mask, donor.image.shape[:2])
                    mask[y:y + window[3], x:x + window[2]] = paste_where(
                        _crop(mask, window), warp_replicate(donor_mask, local, window[2:], "nearest"), inside)
            else:
                # no pixel centre inside it (thinner than a pixel): none of it was pasted, so it is not
                # labelled either (dropped as out_of_view)
                moved.visibility[:] = 0.0
            pieces.append(moved)
            regions.append(region)
        # each piece is covered by everything pasted after it; this image's objects by all of it
        covered_after = [np.zeros((h, w), bool)]
        for region in reversed(regions[1:]):
            covered_after.insert(0, covered_after[0] | region)
        parts = [occlude_objects(current.objects, covered_after[0] | regions[0])]
        parts += [occlude_objects(piece, cover) for piece, cover in zip(pieces, covered_after)]
        objects = _join(parts, _keypoint_count(current, donor))
        state.replace_sample(replace(current, image=image, objects=objects, mask=mask))

"""The transform model.

A transform draws its parameters once per output from an explicit RNG (`sample`), then
applies them to the image and every label kind (`apply`). Geometric transforms do not
touch pixels themselves: they hand a 3x3 map to the AugmentState, which fuses
consecutive maps and resamples the image once, moving the labels through the very same
matrix, so pixels and labels cannot disagree. Fusing stops where a map cuts part of the
picture off its canvas (a crop, a turn's corners): what a step cut away must stay away, so
that map is applied before the next one. Photometric transforms change pixels only.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from augcli.errors import ParamError
from augcli.imageio import DEFAULT_MAX_PIXELS
from augcli.kernels.geometric import remap_image, warp_image
from augcli.sample import LabelPolicy, Sample, transform_objects
from augcli.transforms.params import PROBABILITY, Param

REQUIRED = object()  # default of a parameter the recipe must give
LABEL_TARGETS = frozenset({"image", "boxes", "polygons", "keypoints", "mask"})
# the largest canvas a geometric transform may make: the larger of the default input limit and
# CANVAS_GROWTH times the image it starts from (so a run of large inputs under a raised --max-pixels
# can still rotate and pad them)
CANVAS_GROWTH = 4
MASK_FILL = 0  # mask value where a warp has no source pixels: background, like the black image border


def check_canvas(size: tuple[int, int], start: tuple[int, int]) -> None:
    """Refuse (ValueError, which skips the input by name) a canvas of `size` (width, height) larger
    than DEFAULT_MAX_PIXELS and CANVAS_GROWTH times the `start` image's: before a buffer is made,
    since a size typo in a recipe (65536 for 6553) would ask every worker for gigabytes and get
    it killed."""
    w, h = int(size[0]), int(size[1])
    limit = max(DEFAULT_MAX_PIXELS, CANVAS_GROWTH * int(start[0]) * int(start[1]))
    if w * h > limit:
        raise ValueError(f"a transform would make a {w}x{h} image ({w * h:,} pixels), more than {limit:,}: "
                         "check the recipe's sizes")


def _map_to_cv(coords: Any, shape: tuple[int, int]) -> np.ndarray:
    """Source coordinates of a map in augcli's convention (pixel centres at .5) as the (h, w) float32
    array cv2.remap reads (centres at whole numbers), broadcast to the whole grid where the map
    returned a row or a column: one float32 subtraction into a fresh array."""
    return np.subtract(np.broadcast_to(np.asarray(coords, np.float32), shape), np.float32(0.5))


class AugmentState:
    """One output being made: the sample as of the last resampling, plus pending geometry."""

    def __init__(self, sample: Sample, policy: LabelPolicy | None = None, donors: Any = None):
        self._sample = sample
        self._policy = policy or LabelPolicy()
        self._matrix: np.ndarray | None = None
        self._size = sample.size
        self._fill: Any = None
        self._donors = donors
        self._owned = False  # the current image was made for this output alone: it may be changed in place
        self.ops: list[dict[str, Any]] = []

    @property
    def size(self) -> tuple[int, int]:
        """Canvas (width, height) in pixels, pending geometry included."""
        return self._size

    @property
    def schema(self):
        return self._sample.schema

    def push_geometry(self, matrix: np.ndarray, out_size: tuple[int, int], fill: Any = 0) -> None:
        """Queue an input->output map onto a new canvas; consecutive maps fuse into one resampling
        unless the pending one cut part of the image away (a crop, a rotation's corners): fused,
        the next map would bring the cut pixels and objects back, so the pending map is applied
        first."""
        check_canvas(out_size, self._sample.size)
        if self._matrix is not None and (fill != self._fill or self._pending_cuts()):
            self.flush()
        self._matrix = matrix if self._matrix is None else matrix @ self._matrix
        self._size = (int(out_size[0]), int(out_size[1]))
        self._fill = fill

    def _pending_cuts(self) -> bool:
        """Whether the pending map leaves part of the current image outside its canvas."""
        w, h = self._sample.size
        corners = np.array([[0.0, 0.0, 1.0], [w, 0.0, 1.0], [w, h, 1.0], [0.0, h, 1.0]]) @ self._matrix.T
        if np.any(corners[:, 2] <= 0):
            return True
        xy = corners[:, :2] / corners[:, 2:]
        cw, ch = self._size
        tol = 1e-6  # pixels: float noise of a flip or a 90-degree turn is not a cut
        return bool(xy.min() < -tol or xy[:, 0].max() > cw + tol or xy[:, 1].max() > ch + tol)

    def flush(self) -> None:
        """Resample the image and move the labels through the pending map, if any."""
        if self._matrix is None:
            return
        matrix, size, fill = self._matrix, self._size, self._fill
        self._matrix = None
        s = self._sample
        image = warp_image(s.image, matrix, size, fill=fill)
        mask = None if s.mask is None else warp_image(s.mask, matrix, size, fill=MASK_FILL, interpolation="nearest")
        objects = transform_objects(
            s.objects, matrix, size, flip_idx=s.schema.flip_idx, box_shape=self._policy.bbox_rotate
        )
        self._sample = replace(s, image=image, objects=objects, mask=mask)
        self._owned = True  # every warp_image path returns a new array

    @property
    def image(self) -> np.ndarray:
        self.flush()
        return self._sample.image

    @property
    def sample(self) -> Sample:
        """The current sample, pending geometry applied (pixels resampled)."""
        self.flush()
        return self._sample

    @property
    def objects(self):
        """The current objects with pending geometry applied, without resampling pixels:
        for transforms whose parameters depend on where the objects are."""
        if self._matrix is None:
            return self._sample.objects
        return transform_objects(self._sample.objects, self._matrix, self._size,
                                 flip_idx=self._sample.schema.flip_idx, box_shape=self._policy.bbox_rotate)

    def push_map(self, dst_to_src, src_to_dst, out_size: tuple[int, int], *, reflection: bool = False,
                 densify: float = 4.0, fill: Any = 0) -> None:
        """Apply a non-linear geometric map (lens distortion and the like).

        `dst_to_src(x, y)` takes arrays of output coordinates and returns source coordinates
        (for resampling the pixels); `src_to_dst(points)` maps (..., 2) source points to the
        output (for the labels). Both in augcli's continuous pixel convention. Outlines are
        densified to `densify` pixels first so bent edges are followed."""
        import cv2

        self.flush()
        s = self._sample
        w, h = int(out_size[0]), int(out_size[1])
        # the output grid as a row and a column of pixel centres: `dst_to_src` broadcasts them (no
        # two full grids to build and read); its result is brought to OpenCV's pixel convention
        xs = (np.arange(w, dtype=np.float32) + 0.5)[None, :]
        ys = (np.arange(h, dtype=np.float32) + 0.5)[:, None]
        map_x, map_y = (_map_to_cv(v, (h, w)) for v in dst_to_src(xs, ys))
        channels = 1 if s.image.ndim == 2 else s.image.shape[2]
        border = tuple([float(fill)] * channels) if np.isscalar(fill) else tuple(fill)
        image = remap_image(s.image, map_x, map_y, border)
        mask = None if s.mask is None else cv2.remap(s.mask, map_x, map_y, cv2.INTER_NEAREST,
                                                      borderMode=cv2.BORDER_CONSTANT, borderValue=MASK_FILL)
        objects = transform_objects(s.objects, None, (w, h), flip_idx=s.schema.flip_idx,
                                    box_shape=self._policy.bbox_rotate, point_map=src_to_dst,
                                    reflection=reflection, densify=densify)
        self._sample = replace(s, image=image, objects=objects, mask=mask)
        self._size = (w, h)
        self._owned = True

    def occlude(self, hidden: np.ndarray) -> None:
        """Record that the pixels where `hidden` (H, W bool) is True were covered: objects lose
        visibility by the covered share of their area, keypoints under it become invisible, and
        the mask there becomes background. The transform paints the pixels itself (set_image)."""
        from augcli.sample import occlude_objects

        self.flush()
        s = self._sample
        mask = s.mask
        if mask is not None:
            mask = mask.copy()
            mask[hidden] = MASK_FILL
        self._sample = replace(s, objects=occlude_objects(s.objects, hidden), mask=mask)

    def replace_sample(self, sample: Sample) -> None:
        """Swap in a new sample (a mixing transform's composite); the canvas may change size."""
        self.flush()
        self._sample = sample
        self._size = sample.size
        self._owned = False  # a composite may share pixels with a donor

    @property
    def has_donors(self) -> bool:
        """Whether other images are available to mix in (a run provides them; a lone sample has none)."""
        return self._donors is not None

    def donor(self, rng: np.random.Generator) -> tuple[str, Sample]:
        """Another sample of the same dataset (and split), chosen from `rng`: (its key, the sample
        as read, un-augmented). Raises RuntimeError when the run provides no donors."""
        if self._donors is None:
            raise RuntimeError("this transform mixes images, but no donor images are available here")
        return self._donors(rng)

    def set_image(self, image: np.ndarray, *, new: bool = False) -> None:
        """Replace pixels only (photometric result): the canvas size must not change. `new`: the
        caller vouches that `image` is a fresh array no one else holds, so later steps may change
        it in place (see writable_image)."""
        self.flush()
        if image.shape[:2] != self._sample.image.shape[:2]:
            raise ValueError("a photometric transform changed the image size")
        self._sample = replace(self._sample, image=image)
        self._owned = new

    def writable_image(self) -> np.ndarray | None:
        """The current image when this output alone holds it (made by a warp or by an in-place-safe
        step of this output, C-contiguous and writable), so a pixel-wise step may overwrite it
        instead of allocating another image-sized buffer; None when it may be shared (the
        decoded input that every copy starts from, a donor's pixels, any other transform's result)."""
        self.flush()
        image = self._sample.image
        if self._owned and image.flags.c_contiguous and image.flags.writeable:
            return image
        return None

    def record(self, name: str, params: dict[str, Any]) -> None:
        self.ops.append({"op": name, **{k: _plain(v) for k, v in params.items()}})

    def finish(self) -> Sample:
        self.flush()
        return self._sample


def _plain(value: Any) -> Any:
    """JSON-safe, compact: floats rounded to 6 decimals, numpy scalars to Python."""
    if isinstance(value, (np.floating, float)):
        return round(float(value), 6)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_plain(v) for v in value]
    return value


def uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """A draw from [lo, hi] (always consumes one number, so streams stay aligned)."""
    lo, hi = bounds
    return float(rng.uniform(lo, hi))


def randint(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    """An integer from lo..hi inclusive."""
    lo, hi = bounds
    return int(rng.integers(lo, hi + 1))


class Transform:
    """Base of every transform. Subclasses declare `params` and implement `sample` and `apply`.

    Subclasses set `name` (the recipe `type`), `family`, `params` (name -> Param spec; `p`
    is implicit) and `targets` (label kinds handled correctly; anything else is an error).
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    targets: ClassVar[frozenset[str]] = LABEL_TARGETS

    def __init__(self, /, p: float = 1.0, **kwargs: Any):  # '/': a recipe key named 'self' is just unknown
        problems: list[tuple[str, str]] = []
        try:
            self.p = PROBABILITY.parse(p)
        except ValueError as exc:
            problems.append(("p", str(exc)))
            self.p = 1.0
        config: dict[str, Any] = {}
        for key, value in kwargs.items():
            spec = self.params.get(key)
            if spec is None:
                near = difflib.get_close_matches(key, [*self.params, "p"], n=3, cutoff=0.5)
                hint = f" (did you mean {', '.join(near)}?)" if near else ""
                known = ", ".join([*self.params, "p"])
                problems.append((key, f"unknown parameter for {self.name}{hint}; known: {known}"))
                continue
            try:
                config[key] = spec.parse(value)
            except ValueError as exc:
                problems.append((key, str(exc)))
        for key, spec in self.params.items():
            if key not in kwargs:
                if spec.default is REQUIRED:
                    problems.append((key, f"required parameter of {self.name} is missing ({spec.kind()})"))
                else:
                    config[key] = spec.default
        if not problems:
            problems.extend(self.check(config))
        if problems:
            raise ParamError(problems)
        self.config = config
        for key, value in config.items():
            setattr(self, key, value)

    def check(self, config: dict[str, Any]) -> list[tuple[str, str]]:
        """Cross-parameter checks; return (param, message) problems."""
        return []

    needs_donors: ClassVar[bool] = False  # mixing transforms read other images of the dataset
    # covers or blends pixels and says per pixel what a class map shows there (a hole is background,
    # a pasted rectangle the donor's classes): a polygon cannot say that, so a run writing class maps
    # from polygons makes each image's class map before the pipeline (augcli.job.Job.read)
    remaps_class_pixels: ClassVar[bool] = False

    def __call__(self, state: AugmentState, rng: np.random.Generator) -> None:
        if rng.random() >= self.p:
            return
        params = self.sample_for(rng, state)
        self.apply(state, params)
        state.record(self.name, params)

    def sample(self, rng: np.random.Generator, size: tuple[int, int]) -> dict[str, Any]:
        """Draw this output's parameters; `size` is the canvas (width, height) at this point."""
        return {}

    def sample_for(self, rng: np.random.Generator, state: AugmentState) -> dict[str, Any]:
        """Parameters that may depend on the labels too (state.objects, e.g. a crop that must keep
        every object); by default only the canvas size matters."""
        return self.sample(rng, state.size)

    def apply(self, state: AugmentState, params: dict[str, Any]) -> None:
        raise NotImplementedError

    def to_config(self) -> dict[str, Any]:
        """The resolved recipe entry: type, p and every parameter with defaults filled in."""
        out: dict[str, Any] = {"type": self.name, "p": self.p}
        for key, spec in self.params.items():
            out[key] = spec.to_plain(self.config[key])
        return out

    def leaves(self) -> list["Transform"]:
        return [self]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_config().items() if k != "type")
        return f"{self.name}({args})"


class PhotometricTransform(Transform):
    """Changes pixel values only; labels are untouched by construction.

    A subclass whose apply_image takes `out=` (writes its result there, same shape and dtype,
    and is correct when `out` is the input itself), and otherwise returns a new array, sets
    in_place = True: then it overwrites an image this output alone holds instead of allocating
    another (byte-identical; less memory traffic per copy)."""

    in_place: ClassVar[bool] = False

    def apply(self, state: AugmentState, params: dict[str, Any]) -> None:
        if self.in_place:
            image = state.writable_image()
            if image is not None:
                self.apply_image(image, params, out=image)
                return
        state.set_image(self.apply_image(state.image, params), new=self.in_place)

    def apply_image(self, image: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        raise NotImplementedError


class GeometricTransform(Transform):
    """Moves pixels by a 3x3 map (see augcli.geometry for the coordinate convention)."""

    # its map depends on the canvas size alone, drawing nothing (Resize, LongestMaxSize, Letterbox):
    # a recipe starting with one lets a run decode JPEGs at a reduced size (augcli.job.reduced_decode_factor)
    fixed_map: ClassVar[bool] = False

    def apply(self, state: AugmentState, params: dict[str, Any]) -> None:
        matrix, out_size = self.matrix(params, state.size)
        state.push_geometry(matrix, out_size, self.config.get("fill", 0))

    def matrix(self, params: dict[str, Any], size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
        """Input->output map and the output canvas (width, height) for these parameters."""
        raise NotImplementedError


def log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))

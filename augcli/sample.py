"""The in-memory unit of work: an image and its labels, in pixel coordinates.

Formats convert to and from this model at the edge; transforms only ever see it.
Coordinates follow augcli.geometry: continuous pixels, the image spans [0, W] x [0, H].
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from augcli import geometry as g

BOX_SHAPES = ("corners", "ellipse")


@dataclass(frozen=True)
class LabelSchema:
    """Dataset-wide label facts: class names, and the keypoint layout when there is one.

    `flip_idx[i]` is the keypoint that keypoint i becomes under a reflection (left <-> right)."""

    names: dict[int, str] = field(default_factory=dict)
    kpt_shape: tuple[int, int] | None = None  # (keypoints per object, 2 or 3 values each)
    flip_idx: tuple[int, ...] | None = None
    keypoint_names: tuple[str, ...] | None = None
    skeleton: tuple[tuple[int, int], ...] | None = None  # pairs of 0-based keypoint indices
    zero_based_ids: bool = True  # ids count from 0 (YOLO, VOC, classify, mask); False for COCO category ids

    def class_name(self, cls: int) -> str:
        return self.names.get(int(cls), str(int(cls)))


@dataclass
class Objects:
    """N labelled objects. Every array is indexed by object.

    classes:    (N,) int class ids
    boxes:      (N, 4) float x1 y1 x2 y2, pixels
    polygons:   N entries, each (M, 2) float pixels, or None for a box-only object
    keypoints:  (N, K, 3) float x, y, v (v = 0 not labelled/out of view, 1 occluded, 2 visible) or None
    visibility: (N,) fraction of each object's original area still in view (1.0 on input)
    attrs:      N dicts of format-specific extras carried through untouched
    outlines:   N entries: for a box-only object moved by a transform, the moved (and clipped)
                outline of its box (corners or ellipse), kept so that a second transform starts
                from the true shape instead of the loosened enclosing box; None = use the box
    covered:    N entries: the pixels of the object that occluders (holes, pasted pictures) have
                covered since it was last moved, already taken off its visibility, as
                (column, row, (h, w) bool) of a window of the canvas; None = none. A later
                cover over the same pixels takes nothing more off (see occlude_objects)
    """

    classes: np.ndarray
    boxes: np.ndarray
    polygons: list[np.ndarray | None]
    keypoints: np.ndarray | None = None
    visibility: np.ndarray | None = None
    attrs: list[dict] | None = None
    outlines: list[np.ndarray | None] | None = None
    covered: list[tuple[int, int, np.ndarray] | None] | None = None

    def __post_init__(self) -> None:
        n = len(self.classes)
        self.classes = np.asarray(self.classes, dtype=np.int64).reshape(n)
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(n, 4)
        if self.visibility is None:
            self.visibility = np.ones(n)
        if self.attrs is None:
            self.attrs = [{} for _ in range(n)]
        if self.outlines is None:
            self.outlines = [None] * n
        if self.covered is None:
            self.covered = [None] * n
        if (len(self.outlines) != n or len(self.polygons) != n or len(self.attrs) != n or len(self.visibility) != n
                or len(self.covered) != n):
            raise ValueError("Objects: every per-object field needs one entry per object")
        if self.keypoints is not None:
            kp = np.asarray(self.keypoints, dtype=np.float64)
            self.keypoints = kp if kp.ndim == 3 and len(kp) == n else kp.reshape(n, -1, 3)

    @classmethod
    def empty(cls, num_keypoints: int | None = None) -> "Objects":
        kp = np.zeros((0, num_keypoints, 3)) if num_keypoints else None
        return cls(np.zeros(0, np.int64), np.zeros((0, 4)), [], kp)

    def __len__(self) -> int:
        return len(self.classes)

    def select(self, keep: np.ndarray) -> "Objects":
        idx = np.flatnonzero(keep)
        return Objects(
            self.classes[idx],
            self.boxes[idx],
            [self.polygons[i] for i in idx],
            None if self.keypoints is None else self.keypoints[idx],
            self.visibility[idx],
            [self.attrs[i] for i in idx],
            [self.outlines[i] for i in idx],
            [self.covered[i] for i in idx],
        )

    def copy(self) -> "Objects":
        return Objects(
            self.classes.copy(),
            self.boxes.copy(),
            [None if p is None else p.copy() for p in self.polygons],
            None if self.keypoints is None else self.keypoints.copy(),
            self.visibility.copy(),
            [dict(a) for a in self.attrs],
            [None if o is None else o.copy() for o in self.outlines],
            list(self.covered),  # each entry is replaced, never changed in place
        )

    def scaled(self, factor: float) -> Objects:
        """The same objects on the same picture drawn `factor` times as large: every coordinate
        times `factor` (a reader's labels, in the file's pixels, on a JPEG decoded smaller)."""
        if any(c is not None for c in self.covered):
            raise ValueError("Objects.scaled: covered pixels cannot be scaled")
        out = self.copy()
        out.boxes *= factor
        out.polygons = [None if p is None else p * factor for p in out.polygons]
        out.outlines = [None if o is None else o * factor for o in out.outlines]
        if out.keypoints is not None:
            out.keypoints[..., :2] *= factor  # (v = 0 points sit at 0 0 and stay there)
        return out

    def areas(self) -> np.ndarray:
        """Object areas in pixels^2: the polygon's area where there is one, else the box's."""
        b = self.boxes
        areas = np.maximum(b[:, 2] - b[:, 0], 0.0) * np.maximum(b[:, 3] - b[:, 1], 0.0)  # as g.box_area
        for i, p in enumerate(self.polygons):
            if p is not None:
                areas[i] = g.polygon_area(p)
        return areas


def transform_objects(
    objects: Objects,
    matrix: np.ndarray | None,
    out_size: tuple[int, int],
    *,
    flip_idx: tuple[int, ...] | None = None,
    box_shape: str = "corners",
    point_map=None,
    reflection: bool | None = None,
    densify: float | None = None,
) -> Objects:
    """Move objects through a map onto a new canvas of `out_size` (width, height) and clip them to it.

    The map is a 3x3 `matrix`, or any `point_map` ((..., 2) input pixels -> output pixels; then
    say whether it mirrors with `reflection`, and give `densify`, the longest outline segment in
    input pixels, so curved images of straight edges are followed). A box-only object is moved
    as its four corners ('corners': never cuts the object) or as its inscribed ellipse
    ('ellipse': tighter under rotation); a polygon is moved vertex by vertex. Each shape is
    clipped to the canvas as a polygon; the new box is the tight box of what remains, and
    visibility is multiplied by the share of the moved shape's area still inside. Keypoints
    leaving the canvas get v = 0 and (0, 0). A reflection swaps keypoints through `flip_idx`.
    Nothing is dropped here: see `filter_objects`.
    """
    if point_map is None:
        point_map = lambda pts: g.apply_to_points(matrix, pts)  # noqa: E731
        reflection = g.is_reflection(matrix)
    w, h = out_size
    n = len(objects)
    boxes = np.zeros((n, 4))
    polygons: list[np.ndarray | None] = []
    outlines: list[np.ndarray | None] = []
    visibility = objects.visibility.copy()
    fast = _boxes_staying_inside(objects, matrix, out_size) if box_shape == "corners" and not densify else None
    if fast is not None:  # what the general path gives for these, without the clip and area work
        inside, corners = fast
        boxes[inside, :2] = corners[inside].min(axis=1)  # tight boxes, as g.tight_box
        boxes[inside, 2:] = corners[inside].max(axis=1)
        inside = inside.tolist()
    for i in range(n):
        if fast is not None and inside[i]:
            polygons.append(None)
            outlines.append(corners[i])  # a view of an array made for this call
            continue
        poly = objects.polygons[i]
        if poly is not None:
            shape = poly
        elif objects.outlines[i] is not None:
            shape = objects.outlines[i]
        elif box_shape == "ellipse":
            shape = g.box_ellipse(objects.boxes[i])
        else:
            shape = g.box_corners(objects.boxes[i])
        if densify:
            shape = g.densify(shape, densify)
        moved = point_map(shape)
        clipped = g.clip_outline(moved, w, h)
        before = g.polygon_area(moved)
        after = g.polygon_area(clipped) if len(clipped) >= 3 else 0.0
        if before > 0:
            visibility[i] *= min(1.0, after / before)
        elif len(clipped) == 0:
            visibility[i] = 0.0
        boxes[i] = g.tight_box(clipped)
        polygons.append(None if poly is None else clipped)
        outlines.append(clipped if poly is None else None)
    keypoints = None
    if objects.keypoints is not None:
        kp = objects.keypoints.copy()
        labelled = kp[..., 2] > 0
        moved = point_map(kp[..., :2]) if kp.size else kp[..., :2]
        inside = (moved[..., 0] >= 0) & (moved[..., 0] <= w) & (moved[..., 1] >= 0) & (moved[..., 1] <= h)
        keep = labelled & inside & np.all(np.isfinite(moved), axis=-1)
        kp[..., :2] = np.where(keep[..., None], moved, 0.0)
        kp[..., 2] = np.where(keep, kp[..., 2], 0.0)
        if flip_idx is not None and reflection:
            kp = kp[:, list(flip_idx)]
        keypoints = kp
    attrs = [dict(a) for a in objects.attrs]
    if matrix is not None and any(a.get("pose") in _FACING for a in attrs):
        _turn_facing(attrs, matrix)
    return Objects(objects.classes.copy(), boxes, polygons, keypoints, visibility, attrs, outlines)


def _boxes_staying_inside(objects: Objects, matrix: np.ndarray | None, out_size: tuple[int, int]
                          ) -> tuple[np.ndarray, np.ndarray] | None:
    """The common case of `transform_objects`, all boxes at once: which box-only objects (no polygon,
    no outline yet) an affine `matrix` moves with all four corners inside the canvas, and their
    moved corners (n, 4, 2). For those the general path's clip changes nothing and its area ratio
    is exactly 1, so the result is the moved corners, their tight box and the same visibility."""
    if matrix is None or len(objects) == 0 or matrix[2, 0] != 0.0 or matrix[2, 1] != 0.0 or matrix[2, 2] != 1.0:
        return None
    n = len(objects)
    corners = objects.boxes[:, [0, 1, 2, 1, 2, 3, 0, 3]].reshape(n, 4, 2)  # as g.box_corners
    moved = g.apply_to_points(matrix, corners)
    w, h = out_size
    low, high = moved.min(axis=1), moved.max(axis=1)
    ok = ((low >= 0).all(axis=1) & (high[:, 0] <= w) & (high[:, 1] <= h)
          & (np.abs(moved - moved[:, [1, 2, 3, 0]]) > 1e-6).any(axis=2).all(axis=1)  # no corner repeats: a real box
          & np.isfinite(moved).all(axis=(1, 2)))
    for i, (p, o) in enumerate(zip(objects.polygons, objects.outlines)):
        if p is not None or o is not None:
            ok[i] = False
    return ok, moved


_FACING = {"Left": "Right", "Right": "Left"}  # Pascal VOC's <pose>: the way the object faces in the image


def _turn_facing(attrs: list[dict], matrix: np.ndarray) -> None:
    """Follow VOC's left/right facing through a map: the image x axis goes to the derivative's first
    column (m00, m10 for an affine map; see geometry.jacobian_at_origin); when it
    points backwards (a horizontal flip, a half turn) the facing swaps, and when it points
    mostly up or down (a quarter turn) left and right no longer apply: Unspecified."""
    ax, ay = (float(v) for v in g.jacobian_at_origin(matrix)[:, 0])
    for a in attrs:
        pose = a.get("pose")
        if pose not in _FACING:
            continue
        if abs(ax) < abs(ay):
            a["pose"] = "Unspecified"
        elif ax < 0:
            a["pose"] = _FACING[pose]


def concat_objects(parts: list[Objects]) -> Objects:
    """All objects of several Objects (same keypoint layout), in order."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return Objects.empty()
    kps = [p.keypoints for p in parts]
    keypoints = None if any(k is None for k in kps) else np.concatenate(kps, axis=0)
    return Objects(
        np.concatenate([p.classes for p in parts]),
        np.concatenate([p.boxes for p in parts]).reshape(-1, 4),
        [q for p in parts for q in p.polygons],
        keypoints,
        np.concatenate([p.visibility for p in parts]),
        [dict(a) for p in parts for a in p.attrs],
        [o for p in parts for o in p.outlines],
        [c for p in parts for c in p.covered],
    )


def occlude_objects(objects: Objects, hidden: np.ndarray) -> Objects:
    """Objects after the pixels where `hidden` (H, W bool) is True were covered (cut-out, pasted
    objects): each object's visibility is multiplied by the share of its still uncovered area
    that this cover takes, measured on pixel centres, and keypoints under the cover become
    v = 0 at (0, 0). Pixels an earlier cover took (Objects.covered: a hole, then a CutMix
    rectangle over it) are not taken twice. Geometry is kept; `filter_objects` drops what is
    now too hidden."""
    from augcli.kernels.masks import polygons_to_mask

    out = objects.copy()
    if not hidden.any():
        return out
    h, w = hidden.shape
    for i in range(len(out)):
        shape = out.polygons[i] if out.polygons[i] is not None else (
            out.outlines[i] if out.outlines[i] is not None else g.box_corners(out.boxes[i]))
        area = polygons_to_mask([shape], w, h)
        if not area.any():  # thinner than a pixel between pixel centres: measured on finer sample points
            _cover(out, i, _hidden_share_between_centres(shape, hidden))
            continue
        before = None if out.covered[i] is None else _covered_on_canvas(out.covered[i], (h, w))
        still = area if before is None else area & ~before
        total = int(still.sum())
        if total:  # (else every pixel of it was covered before: nothing more to take)
            _cover(out, i, int((still & hidden).sum()) / total)
            out.covered[i] = _covered_window(area & (hidden if before is None else before | hidden))
    if out.keypoints is not None and out.keypoints.size:
        kp = out.keypoints
        cols = np.clip(np.floor(kp[..., 0]).astype(int), 0, w - 1)
        rows = np.clip(np.floor(kp[..., 1]).astype(int), 0, h - 1)
        covered = (kp[..., 2] > 0) & hidden[rows, cols]
        kp[covered] = 0.0
    return out


COVER_ATTR = "cover"  # Objects.attrs: the part of an object's visibility that covers left (1 = none covered)


def _cover(objects: Objects, i: int, share: float) -> None:
    """Take `share` (0..1) of object i's visibility away for a cover, and note it in its attrs:
    `occluded` = 1 and COVER_ATTR, the product of what covers left, so that a writer can tell
    covered from cut off at an edge (VOC's `truncated` means the latter only)."""
    if share <= 0.0:
        return
    objects.visibility[i] *= 1.0 - share
    attrs = objects.attrs[i]
    attrs["occluded"] = 1
    attrs[COVER_ATTR] = float(attrs.get(COVER_ATTR, 1.0)) * (1.0 - share)


def _covered_on_canvas(covered: tuple[int, int, np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """An Objects.covered entry as an (H, W) bool mask of the canvas."""
    out = np.zeros(shape, bool)
    x, y, window = covered
    part = window[:max(0, shape[0] - y), :max(0, shape[1] - x)]
    out[y:y + part.shape[0], x:x + part.shape[1]] = part
    return out


def _covered_window(mask: np.ndarray) -> tuple[int, int, np.ndarray] | None:
    """An (H, W) bool mask as an Objects.covered entry: (column, row, the window round its True pixels)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return int(cols[0]), int(rows[0]), mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].copy()


OCCLUSION_SUBSAMPLES = 8  # sample points per pixel side for a shape that holds no pixel centre
OCCLUSION_SUBSAMPLE_BUDGET = 4_000_000  # sample points at most for one such shape


def _hidden_share_between_centres(shape: np.ndarray, hidden: np.ndarray) -> float:
    """Share of a shape's area on hidden pixels, for a shape that holds no pixel centre (a line
    thinner than a pixel, a tiny object): judged on a grid of OCCLUSION_SUBSAMPLES x
    OCCLUSION_SUBSAMPLES points per pixel instead, so a cover over it is not missed. Shape in
    pixels; 0.0 when even that grid finds none of it (or the grid would be too large)."""
    from augcli.kernels.masks import polygons_to_mask

    h, w = hidden.shape
    x1, y1, x2, y2 = g.tight_box(shape)
    c0, r0 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
    c1, r1 = min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
    sub = OCCLUSION_SUBSAMPLES
    if c1 <= c0 or r1 <= r0 or (c1 - c0) * (r1 - r0) * sub * sub > OCCLUSION_SUBSAMPLE_BUDGET:
        return 0.0
    fine = polygons_to_mask([(np.asarray(shape, np.float64) - (c0, r0)) * sub], (c1 - c0) * sub, (r1 - r0) * sub)
    total = int(fine.sum())
    if not total:
        return 0.0
    under = np.repeat(np.repeat(hidden[r0:r1, c0:c1], sub, axis=0), sub, axis=1)
    return int((fine & under).sum()) / total


@dataclass(frozen=True)
class LabelPolicy:
    """When a transformed object still counts as labelled. Areas are in output pixels^2."""

    min_visibility: float = 0.25
    min_area: float = 16.0
    bbox_rotate: str = "corners"


MIN_BOX_SIDE = 0.01  # pixels: a box narrower or shorter than this is a sliver left by clipping, not an object
# (COCO writes two decimals: a thinner box would be written 0 wide; YOLO's reader refuses such a box)


def filter_objects(objects: Objects, policy: LabelPolicy) -> tuple[Objects, dict[str, int]]:
    """Drop objects too hidden (visibility) or too small (area). Returns kept objects and counts by reason.

    Whatever the policy (min_area 0 included), an object with nothing left in view -- no area,
    or a box thinner than MIN_BOX_SIDE -- is dropped as out_of_view: no writer gets an empty box."""
    if len(objects) == 0:
        return objects, {}
    vis = objects.visibility
    area = objects.areas()
    b = objects.boxes
    thin = ~((b[:, 2] - b[:, 0] >= MIN_BOX_SIDE) & (b[:, 3] - b[:, 1] >= MIN_BOX_SIDE))  # NaN counts as thin
    hidden = vis < policy.min_visibility
    gone = (vis <= 0) | (area <= 0) | thin
    small = ~hidden & ~gone & (area < policy.min_area)
    hidden &= ~gone
    dropped = {k: int(v.sum()) for k, v in (("out_of_view", gone), ("min_visibility", hidden), ("min_area", small)) if v.any()}
    return objects.select(~(gone | hidden | small)), dropped


@dataclass
class Sample:
    """An image (H, W, 3) uint8 BGR and its objects; `schema` is shared by the whole dataset.

    `mask`, when present, is an (H, W) uint8 class map (0 background, 255 = ignore by
    convention): it moves with the image by nearest-neighbour only and is never blurred or
    colour-changed. `image_class` is a whole-image label (classification datasets)."""

    image: np.ndarray
    objects: Objects
    schema: LabelSchema = field(default_factory=LabelSchema)
    mask: np.ndarray | None = None
    image_class: int | None = None  # an image-level label (classification), a class id of `schema`

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    def copy(self) -> "Sample":
        return replace(self, image=self.image.copy(), objects=self.objects.copy(),
                       mask=None if self.mask is None else self.mask.copy())


MASK_OUTLINE_TOLERANCE = 0.5  # pixels: outlines of mask regions are simplified by at most this much


def image_level_classes(sample: Sample) -> list[int]:
    """The class ids a sample shows as a whole image rather than as objects: its image-level class
    (a class folder) and every class painted in its mask (0 is background and 255 'ignore', no
    class), in id order. With the classes of its objects, these are the classes an image contains:
    per-class copies (the recipe's `copies.by_class`) go by them, and `augcli check` counts images
    per class by them."""
    ids = set() if sample.image_class is None else {int(sample.image_class)}
    if sample.mask is not None:
        present = np.flatnonzero(np.bincount(sample.mask.reshape(-1), minlength=256))  # a pass, no sort
        ids.update(int(v) for v in present if v not in (0, 255))
    return sorted(ids)


def objects_from_mask(mask: np.ndarray, ignore: int = 255, min_area: float = 1.0) -> Objects:
    """One polygon object per connected region of each class value in a class map (0 = background,
    `ignore` skipped). Class ids are the mask values. Used when a mask dataset is written to a
    polygon format."""
    from augcli.kernels.masks import mask_to_polygons

    classes, boxes, polygons = [], [], []
    for value in np.unique(mask):
        if value == 0 or value == ignore:
            continue
        for poly in mask_to_polygons(mask == value, min_area=min_area, tolerance=MASK_OUTLINE_TOLERANCE):
            classes.append(int(value))
            boxes.append(g.tight_box(poly))
            polygons.append(poly)
    return Objects(np.array(classes, np.int64), np.array(boxes).reshape(-1, 4), polygons)


def written_objects(sample: Sample) -> Objects:
    """The objects an object format (YOLO, COCO, VOC) writes for `sample`: its own, or for a mask
    dataset (a class map and no objects) one per mask region, with its polygon and tight box."""
    if sample.mask is not None and len(sample.objects) == 0:
        return objects_from_mask(sample.mask)
    return sample.objects


def derived_objects(written: Objects, sample: Sample) -> Objects | None:
    """`written` (what `written_objects` gave for `sample`) when the writer made it from the mask
    rather than writing the sample's own objects; else None."""
    return None if written is sample.objects else written


def remap_classes(sample: Sample, mapping: dict[int, int | None], schema: LabelSchema) -> Sample:
    """Rename, merge or drop classes: `mapping` sends each old class id to a new id, or to None
    to drop the class (its objects vanish; its mask pixels become background; an image whose
    image_class is dropped gets image_class None). `schema` is the new schema."""
    objects = sample.objects
    new_ids = [mapping.get(int(c), int(c)) for c in objects.classes]
    keep = np.array([c is not None for c in new_ids], dtype=bool)
    kept = objects.select(keep) if len(objects) else objects
    kept.classes = np.array([c for c in new_ids if c is not None], dtype=np.int64)
    mask = sample.mask
    if mask is not None:
        table = np.arange(256, dtype=np.int64)
        for old, new in mapping.items():
            if 0 <= old < 256:
                table[old] = 0 if new is None else new
        mask = np.clip(table, 0, 255).astype(np.uint8)[mask]
    image_class = sample.image_class
    if image_class is not None:
        image_class = mapping.get(int(image_class), int(image_class))
    return Sample(sample.image, kept, schema, mask, image_class)

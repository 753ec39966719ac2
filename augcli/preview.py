"""Preview: a contact sheet (PNG) and an optional offline HTML gallery of what `run` would write.

One row per chosen input image: the original, then its augmented copies, each with every
label drawn and the applied ops written under it. The copies come from the very code path
a run uses (augcli.job.augment_sample, keyed by the input's path and the copy index, after
the same class mapping), so with the same seed a tile shows exactly the pixels and labels
`run` writes as `<stem>_aug<k>` (before JPEG coding).

Coordinates: labels are in input pixels (augcli.geometry: the image spans [0, W] x [0, H]);
a tile is the image scaled by `scale = tile height / image height`, so a label point (x, y)
lands at tile pixel centre (x * scale - 0.5, y * scale - 0.5).
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from augcli.errors import InputError
from augcli.formats.base import Item
from augcli.imageio import DEFAULT_MAX_PIXELS, atomic_write_bytes
from augcli.recipe import Recipe, load_recipe
from augcli.sample import LabelSchema, Sample, image_level_classes

DEFAULT_IMAGES = 4
DEFAULT_MAX_COPIES = 3  # copies shown per row when --copies is not given (at most what run writes)
DEFAULT_TILE_HEIGHT = 288  # pixels
MAX_TILE_ASPECT = 2.5  # a wider image is scaled to this many tile heights wide instead
GAP = 10  # pixels between tiles and rows
PAD = 8  # pixels: text inset
BACKGROUND = (32, 33, 36)  # RGB of the sheet
CAPTION_BG = (18, 18, 20)
TEXT = (235, 235, 235)
DIM_TEXT = (170, 170, 175)
TITLE_TEXT = (255, 214, 102)
# 20 distinct, saturated colours (RGB); class i of the sorted class ids gets PALETTE[i % 20]
PALETTE = tuple(tuple(int(h[i:i + 2], 16) for i in (0, 2, 4)) for h in (
    "FF3838", "2C99A8", "FFB21D", "8438FF", "48F90A", "FF37C7", "00C2FF", "FF701F", "3DDB86", "CB38FF",
    "CFD231", "6473FF", "FF95C8", "1A9334", "00D4BB", "FF9D97", "92CC17", "520085", "344593", "0018EC"))
IGNORE_COLOUR = (200, 200, 200)  # mask value 255 ("ignore")
LEFT_COLOUR = (64, 156, 255)  # keypoints on the subject's left (names with 'left'): blue
RIGHT_COLOUR = (255, 140, 26)  # ... and right: orange, so a flip without the right flip_idx shows
COCO17_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                "right_knee", "left_ankle", "right_ankle")
# COCO person skeleton (cocodataset.org keypoints), 0-based: used for 17 keypoints without a skeleton
COCO17_SKELETON = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
                   (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))


# ---------------------------------------------------------------- what to show
@dataclass
class Tile:
    """One picture of a row. `sample` is the full-size result (BGR, labels in its pixels): for a copy,
    exactly what `run` encodes as `<stem>_aug<copy>`; for the original, the input as read (after class mapping)."""

    copy: int  # 0 = the original
    sample: Sample
    ops: list[dict[str, Any]] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return "original" if self.copy == 0 else f"copy {self.copy}  (_aug{self.copy})"


@dataclass
class Row:
    key: str  # the input's path relative to the input folder
    split: str | None
    tiles: list[Tile]
    note: str = ""  # why a row has fewer pictures than asked (unreadable input, split not augmented, ...)


@dataclass
class Preview:
    recipe_name: str
    input: str
    input_format: str
    seed: int
    total_items: int
    schema: LabelSchema  # after any class mapping
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    chosen_from: int = 0  # inputs the rows were chosen from: those in splits the recipe augments

    def selection(self) -> str:
        """'4 of 6 input images (...)': which inputs the rows are, in words."""
        text = f"{len(self.rows)} of {self.total_items} input images"
        if self.chosen_from and self.chosen_from < self.total_items:
            text += f" (chosen among the {self.chosen_from} in splits the recipe augments)"
        return text + ", evenly spaced by path"


def choose_items(items: list[Item], n: int) -> list[Item]:
    """`n` items evenly spaced over `items` (already sorted by path): the middle of each of n equal
    slices, so the choice depends only on the folder's contents, never on the seed."""
    if n >= len(items):
        return list(items)
    return [items[(2 * i + 1) * len(items) // (2 * n)] for i in range(n)]


def make_preview(
    recipe: Recipe | str | Path | dict,
    input: str | Path,
    *,
    n: int = DEFAULT_IMAGES,
    copies: int | None = None,
    seed: int | None = None,
    input_format: str | None = None,
    class_rename: dict[str, str] | None = None,
    drop_classes: tuple[str, ...] | list[str] = (),
    keep_classes: tuple[str, ...] | list[str] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    storage_options: dict[str, Any] | None = None,
) -> Preview:
    """Read `n` inputs of the dataset at `input` and make their copies as `run` would.

    `copies` = copies per row (copy indices 1..copies, the same pictures whatever the count);
    None = what run writes for that image, at most DEFAULT_MAX_COPIES. Raises UsageError or
    RecipeError like `run` for bad arguments; an unreadable input becomes a row with a note."""
    from augcli import api, storage
    from augcli.errors import UsageError
    from augcli.formats import detect_format, get_format
    from augcli.job import Job, JobSpec, augment_sample

    recipe_name = "<recipe>"
    if not isinstance(recipe, Recipe):
        recipe_name = str(recipe) if isinstance(recipe, (str, Path)) else recipe_name
        recipe = load_recipe(recipe)
    else:
        recipe_name = recipe.source
    recipe = recipe.with_overrides(seed=seed)
    storage.configure(storage_options)
    root = storage.location(input)  # a folder, or a URL (s3://…, memory://…)
    if not root.is_dir():
        raise UsageError(f"input folder {input} does not exist or is not a folder")
    fmt_name = input_format or detect_format(root)
    fmt = get_format(fmt_name)
    dataset = fmt.scan(root)
    schema, class_map = api.plan_classes(dataset.schema, class_rename or {}, drop_classes or (), keep_classes)
    notes = list(dataset.notes)
    # the same refusal as run: no transform may skip a label kind the dataset has
    api._check_targets(recipe, schema, lambda line: notes.append(line.removeprefix("warning: ")))
    api._check_copies_classes(recipe, schema, lambda line: notes.append(line.removeprefix("warning: ")))
    if not dataset.items:
        raise UsageError(f"no images found in {input} ({fmt_name} format)")
    # the inputs run takes (and draws mixing donors from): names it can carry through, and none whose
    # outputs would land on another input's (api.run refuses those; they get a row saying why here)
    from augcli.formats.table import ItemTable

    table = dataset.items if isinstance(dataset.items, ItemTable) else ItemTable.from_items(dataset.items)
    usable, refused = api._usable_items(table)
    usable, clashes = api._distinct_outputs(
        usable, fmt.Writer(storage.location("<preview: nothing is written>"), schema), recipe,
        api._image_classes(fmt_name, dataset.schema, class_map))
    kept_keys = set(usable.keys())
    skipped = {key: message for key, _, message in [*refused, *clashes]}
    augmented = [it for it in table if recipe.augments(it.split)]
    pool = augmented or list(table)
    if not augmented and not recipe.is_conversion:
        notes.append("the recipe augments no split present here (augment_splits); copies are shown as if it did")
    if recipe.is_conversion:
        notes.append("empty pipeline (a conversion): run writes each image once, so only originals are shown")
    # A run's own reader: the same loading, class mapping and donor images for mixing transforms.
    # Nothing is written: the writer it builds is never used.
    needs_donors = any(getattr(t, "needs_donors", False) for t in recipe.pipeline.leaves())
    job = Job(JobSpec(recipe, fmt_name, fmt_name, "<preview: nothing is written>", schema, max_pixels,
                      input_schema=dataset.schema, class_map=class_map,
                      donor_items=tuple(usable) if needs_donors else None))
    rows = []
    for item in choose_items(pool, n):
        if item.key not in kept_keys:
            shown = item.key.encode("utf-8", "backslashreplace").decode("utf-8")  # as api._usable_items names it
            note = skipped.get(item.key) or skipped.get(shown, f"{shown!r}: its name cannot be carried through")
            rows.append(Row(item.key, item.split, [], note=f"run would skip this input: {note}"))
            continue
        try:
            sample = job.read(item).sample
        except InputError as exc:
            rows.append(Row(item.key, item.split, [], note=f"run would skip this input: {exc}"))
            continue
        if sample is None:
            rows.append(Row(item.key, item.split, [], note="its class is dropped: run leaves this image out"))
            continue
        tiles = [Tile(0, sample)]
        note = "" if recipe.augments(item.split) else f"split {item.split} is not augmented by this recipe"
        if not recipe.is_conversion:
            # the copies from the pixels the run makes them from (a JPEG it decodes at a reduced
            # size, for a recipe starting with a fixed shrink): the original tile stays full size
            source = job.read(item, reduced=True).sample if job.reads_reduced(item) else sample
            # as run counts them (job.Job._process): its objects' classes and its image-level classes
            # (class folder, mask)
            present = {schema.class_name(int(c)) for c in [*sample.objects.classes, *image_level_classes(sample)]}
            count = copies if copies is not None else min(recipe.copies.for_classes(present), DEFAULT_MAX_COPIES)
            for k in range(1, count + 1):
                donors = job.donors.for_item(item) if job.donors else None
                try:
                    out, ops, dropped = augment_sample(source, recipe, item.key, k, donors)
                except InputError as exc:  # e.g. no donor image for a mixing transform
                    note = f"run would skip this input: {exc}"
                    break
                tiles.append(Tile(k, out, ops, dropped))
        rows.append(Row(item.key, item.split, tiles, note))
    return Preview(recipe_name, str(input), fmt_name, recipe.seed, len(dataset.items), schema, rows, notes,
                   chosen_from=len(pool))


# ---------------------------------------------------------------- text
MAX_LIST = 4  # list items shown on the sheet; the HTML gallery and the manifest have them all


def format_value(value: Any) -> str:
    """A sampled parameter, short: 3 significant digits, long lists cut (with the count left out)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return "{" + " ".join(f"{k}={format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        shown = [format_value(v) for v in value[:MAX_LIST]]
        if len(value) > MAX_LIST:
            shown.append(f"... +{len(value) - MAX_LIST}")
        return "[" + ", ".join(shown) + "]"
    return str(value)


def format_op(op: dict[str, Any]) -> str:
    """{'op': 'Rotate', 'angle': -3.62} -> 'Rotate angle=-3.62'. Parameters that are exactly 0 (an
    Affine without shear, say) change nothing and are left out; the HTML gallery shows them all."""
    params = [f"{k}={format_value(v)}" for k, v in op.items() if k != "op" and not (
        isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0)]
    return " ".join([str(op.get("op", "?")), *params])


def format_ops(ops: list[dict[str, Any]]) -> list[str]:
    """One line per applied op, in the order applied (the manifest's `ops`)."""
    return [format_op(op) for op in ops] if ops else ["no op applied (every p missed)"]


def objects_line(tile: Tile, schema: LabelSchema) -> str:
    s = tile.sample
    if s.image_class is not None:
        return f"class: {schema.class_name(s.image_class)}"
    if s.mask is not None and not len(s.objects):
        values = [int(v) for v in np.unique(s.mask) if v not in (0, 255)]
        return f"mask: {len(values)} class{'es' if len(values) != 1 else ''}"
    n = len(s.objects)
    text = f"{n} object{'s' if n != 1 else ''}"
    if tile.dropped:
        text += ", dropped " + ", ".join(f"{v} ({k.replace('_', ' ')})" for k, v in sorted(tile.dropped.items()))
    return text


_FONTS: dict[int, Any] = {}


def font(size: int):
    """Pillow's built-in anti-aliased font (no font file needed); its bitmap font on old Pillow."""
    if size not in _FONTS:
        try:
            _FONTS[size] = ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1 takes no size
            _FONTS[size] = ImageFont.load_default()
    return _FONTS[size]


def text_width(text: str, size: int) -> int:
    left, _, right, _ = font(size).getbbox(text)
    return int(right - left)


def wrap(text: str, width: int, size: int) -> list[str]:
    """Break `text` at spaces so each line fits `width` pixels (a single long word is cut)."""
    lines, current = [], ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if text_width(candidate, size) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
        while text_width(current, size) > width and len(current) > 1:
            cut = len(current)
            while cut > 1 and text_width(current[:cut], size) > width:
                cut -= 1
            lines.append(current[:cut])
            current = current[cut:]
    return lines + [current]


# ---------------------------------------------------------------- drawing one picture
def class_colour(cls: int, schema: LabelSchema) -> tuple[int, int, int]:
    ids = sorted(schema.names)
    index = ids.index(int(cls)) if int(cls) in ids else int(cls)
    return PALETTE[index % len(PALETTE)]


def _ink_for(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white text, whichever reads better on `colour`."""
    r, g, b = colour
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)


def tile_scale(size: tuple[int, int], height: int) -> float:
    """Scale from image pixels to tile pixels: a common height, unless the image is very wide."""
    w, h = size
    return min(height / h, height * MAX_TILE_ASPECT / w)


def _fixed(points: np.ndarray, scale: float) -> np.ndarray:
    """Continuous image coordinates -> OpenCV pixel-centre coordinates in 1/16 pixel (shift=4)."""
    return np.round((np.asarray(points, np.float64) * scale - 0.5) * 16).astype(np.int32)


SHIFT = 4


def draw_sample(sample: Sample, height: int) -> tuple[np.ndarray, float]:
    """The sample's image scaled to `height` (RGB) with every label drawn. Returns (tile, scale).

    Masks as translucent overlays, polygons filled lightly and outlined, boxes outlined, each
    with its class name; keypoints with their skeleton; an image-level class as a tag."""
    schema = sample.schema
    scale = tile_scale(sample.size, height)
    w, h = (max(1, round(v * scale)) for v in sample.size)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    tile = cv2.cvtColor(cv2.resize(sample.image, (w, h), interpolation=interp), cv2.COLOR_BGR2RGB)
    tags: list[tuple[float, float, str, tuple[int, int, int]]] = []  # (x, y) tile pixels, text, colour
    if sample.mask is not None:
        tags += _draw_mask(tile, sample.mask, schema)
    objects = sample.objects
    fill = tile.copy()
    filled = False
    for i in range(len(objects)):
        colour = class_colour(objects.classes[i], schema)
        poly = objects.polygons[i]
        if poly is not None and len(poly) >= 3:
            cv2.fillPoly(fill, [_fixed(poly, scale)], colour, cv2.LINE_AA, SHIFT)
            filled = True
    if filled:
        tile[:] = cv2.addWeighted(fill, 0.3, tile, 0.7, 0)
    for i in range(len(objects)):
        colour = class_colour(objects.classes[i], schema)
        poly = objects.polygons[i]
        if poly is not None and len(poly) >= 2:
            cv2.polylines(tile, [_fixed(poly, scale)], True, colour, 2, cv2.LINE_AA, SHIFT)
        else:
            x1, y1, x2, y2 = objects.boxes[i]
            cv2.rectangle(tile, tuple(_fixed([x1, y1], scale)), tuple(_fixed([x2, y2], scale)), colour, 2,
                          cv2.LINE_AA, SHIFT)
        x1, y1 = objects.boxes[i][:2]
        tags.append((x1 * scale, y1 * scale, schema.class_name(objects.classes[i]), colour))
    if objects.keypoints is not None and len(objects):
        _draw_keypoints(tile, objects.keypoints, objects.classes, schema, scale)
    image = Image.fromarray(tile)
    draw = ImageDraw.Draw(image)
    placed: list[tuple[int, int, int, int]] = []
    if sample.image_class is not None:
        colour = class_colour(sample.image_class, schema)
        _tag(draw, 0, 0, f"class: {schema.class_name(sample.image_class)}", colour, 15, image.size, placed, inside=True)
    for x, y, text, colour in tags:
        _tag(draw, x, y, text, colour, 13, image.size, placed)
    return np.asarray(image), scale


def _tag(draw, x: float, y: float, text: str, colour, size: int, canvas: tuple[int, int],
         placed: list[tuple[int, int, int, int]], inside: bool = False) -> None:
    """A filled band in the class colour with the name on it, sitting on top of (x, y), or just
    below it when there is no room above; moved down past tags already placed so none hides another."""
    tw = text_width(text, size) + 6
    th = size + 5
    left = int(min(max(0, round(x) - 1), max(0, canvas[0] - tw)))
    top = int(round(y)) - th
    if inside or top < 0:
        top = max(0, int(round(y)))
    for _ in range(len(placed)):
        hit = [p for p in placed if left < p[2] and p[0] < left + tw and top < p[3] and p[1] < top + th]
        if not hit:
            break
        top = max(p[3] for p in hit)
    placed.append((left, top, left + tw, top + th))
    draw.rectangle([left, top, left + tw - 1, top + th - 1], fill=colour)
    draw.text((left + 3, top + 1), text, fill=_ink_for(colour), font=font(size))


def _draw_mask(tile: np.ndarray, mask: np.ndarray, schema: LabelSchema) -> list:
    h, w = tile.shape[:2]
    small = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    overlay = tile.copy()
    tags = []
    for value in np.unique(small):
        if value == 0:
            continue
        region = small == value
        colour = IGNORE_COLOUR if value == 255 else class_colour(int(value), schema)
        overlay[region] = colour
        if value != 255:
            ys, xs = np.nonzero(region)
            tags.append((float(xs.min()), float(ys.min()), schema.class_name(int(value)), colour))
    blended = cv2.addWeighted(overlay, 0.45, tile, 0.55, 0)
    tile[:] = blended
    for value in np.unique(small):
        if value in (0, 255):
            continue
        contours, _ = cv2.findContours((small == value).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(tile, contours, -1, class_colour(int(value), schema), 1, cv2.LINE_AA)
    return tags


def keypoint_names(schema: LabelSchema, k: int) -> tuple[str, ...] | None:
    if schema.keypoint_names and len(schema.keypoint_names) == k:
        return schema.keypoint_names
    return COCO17_NAMES if k == 17 else None


def keypoint_colours(schema: LabelSchema, k: int) -> list[tuple[int, int, int]]:
    """Fill colour of each keypoint: blue for the subject's left, orange for the right, white otherwise."""
    names = keypoint_names(schema, k) or ("",) * k
    return [LEFT_COLOUR if "left" in n.lower() else RIGHT_COLOUR if "right" in n.lower() else (255, 255, 255)
            for n in names]


def _draw_keypoints(tile: np.ndarray, keypoints: np.ndarray, classes: np.ndarray, schema: LabelSchema,
                    scale: float) -> None:
    """Skeleton edges (class colour) between labelled keypoints, then the points: filled = visible
    (v=2), a ring = occluded (v=1); v=0 (not labelled / out of view) is not drawn."""
    k = keypoints.shape[1]
    skeleton = schema.skeleton or (COCO17_SKELETON if k == 17 else ())
    fills = keypoint_colours(schema, k)
    radius = 4 * 16
    for obj, cls in zip(keypoints, classes):
        colour = class_colour(cls, schema)
        for a, b in skeleton:
            if a < k and b < k and obj[a, 2] > 0 and obj[b, 2] > 0:
                cv2.line(tile, tuple(_fixed(obj[a, :2], scale)), tuple(_fixed(obj[b, :2], scale)), colour, 2,
                         cv2.LINE_AA, SHIFT)
        for (x, y, v), fill in zip(obj, fills):
            if v <= 0:
                continue
            centre = tuple(_fixed([x, y], scale))
            if v >= 2:
                cv2.circle(tile, centre, radius, fill, -1, cv2.LINE_AA, SHIFT)
                cv2.circle(tile, centre, radius, (0, 0, 0), 1, cv2.LINE_AA, SHIFT)
            else:
                cv2.circle(tile, centre, radius, fill, 2, cv2.LINE_AA, SHIFT)


# ---------------------------------------------------------------- the sheet
@dataclass
class TileBox:
    """Where a tile's picture sits in the sheet (pixels) and the scale from its image to the tile."""

    row: int
    copy: int
    x: int
    y: int
    width: int
    height: int
    scale: float


CAPTION_SIZE = 13
TITLE_SIZE = 14
ROW_TITLE_SIZE = 15
HEADER_SIZE = 17
LINE = 18  # pixels per caption line
INDENT = 14  # pixels: room for the indent of a wrapped op line
MIN_COLUMN = 0.8  # tile heights: the narrowest column (a portrait picture gets a wider caption)


def _caption(tile: Tile, schema: LabelSchema, width: int) -> list[tuple[str, tuple[int, int, int], int]]:
    lines = [(tile.title, TITLE_TEXT, TITLE_SIZE)]
    lines += [(part, TEXT, CAPTION_SIZE) for part in wrap(objects_line(tile, schema), width - 2 * PAD, CAPTION_SIZE)]
    body = ["as read from the input"] if tile.copy == 0 else format_ops(tile.ops)
    colour = DIM_TEXT if tile.copy == 0 else TEXT
    for text in body:
        parts = wrap(text, width - 2 * PAD - INDENT, CAPTION_SIZE)
        lines.append((parts[0], colour, CAPTION_SIZE))
        lines += [(" " * 4 + part, colour, CAPTION_SIZE) for part in parts[1:]]  # continuation of the same op
    return lines


def _column_width(pic: np.ndarray, tile_height: int, title: str = "") -> int:
    """A tile's column: its picture, but never so narrow that the ops text breaks into slivers, nor
    narrower than its title line (which is not wrapped: the next column would cover its end)."""
    return max(pic.shape[1], round(tile_height * MIN_COLUMN), text_width(title, TITLE_SIZE) + 2 * PAD)


def render_sheet(preview: Preview, tile_height: int = DEFAULT_TILE_HEIGHT) -> tuple[np.ndarray, list[TileBox]]:
    """The contact sheet as an (H, W, 3) uint8 RGB array, and where each tile's picture is."""
    drawn = [[draw_sample(t.sample, tile_height) for t in row.tiles] for row in preview.rows]
    # caption heights per row, so every tile of a row lines up
    columns = [[_column_width(pic, tile_height, t.title) for (pic, _), t in zip(pics, row.tiles)]
               for pics, row in zip(drawn, preview.rows)]
    captions = [[_caption(t, preview.schema, w) for t, w in zip(row.tiles, cols)]
                for row, cols in zip(preview.rows, columns)]
    row_widths = [sum(cols) + GAP * max(0, len(cols) - 1) for cols in columns]
    header = _header_lines(preview)
    legend = _legend(preview)
    min_width = max([text_width(t, s) for t, _, s in header] + [sum(text_width(n, 13) + 34 for n, _ in legend)])
    # each row's title and note are one line each: the sheet is wide enough for them
    min_width = max([min_width, *[text_width(_row_title(row), ROW_TITLE_SIZE) for row in preview.rows],
                     *[text_width(row.note, CAPTION_SIZE) for row in preview.rows if row.note]])
    width = max([min_width + 2 * PAD, 480, *[w + 2 * GAP for w in row_widths]])
    header_h = PAD + len(header) * (HEADER_SIZE + 7) + (24 if legend else 0) + PAD
    row_heights = []
    for row, pics, caps in zip(preview.rows, drawn, captions):
        title_h = ROW_TITLE_SIZE + 12 + (LINE if row.note else 0)
        pic_h = max([pic.shape[0] for pic, _ in pics], default=0)
        cap_h = max([len(c) for c in caps], default=0) * LINE + (PAD if caps else 0)
        row_heights.append(title_h + pic_h + cap_h + GAP)
    height = header_h + sum(row_heights) + GAP
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    draw.rectangle([0, 0, width, header_h - 1], fill=CAPTION_BG)
    y = PAD
    for text, colour, size in header:
        draw.text((PAD, y), text, fill=colour, font=font(size))
        y += size + 7
    if legend:
        x = PAD
        for name, colour in legend:
            draw.rectangle([x, y + 3, x + 14, y + 17], fill=colour)
            draw.text((x + 19, y + 2), name, fill=TEXT, font=font(13))
            x += text_width(name, 13) + 34
    boxes: list[TileBox] = []
    y = header_h + GAP
    for r, (row, pics, cols, caps, row_h) in enumerate(zip(preview.rows, drawn, columns, captions, row_heights)):
        draw.text((GAP, y), _row_title(row), fill=TEXT, font=font(ROW_TITLE_SIZE))
        ty = y + ROW_TITLE_SIZE + 8
        if row.note:
            draw.text((GAP, ty), row.note, fill=TITLE_TEXT, font=font(CAPTION_SIZE))
            ty += LINE
        x = GAP
        pic_h = max([pic.shape[0] for pic, _ in pics], default=0)
        cap_top = ty + pic_h
        cap_h = max([len(c) for c in caps], default=0) * LINE + PAD
        for tile, (pic, scale), col, cap in zip(row.tiles, pics, cols, caps):
            draw.rectangle([x, ty, x + col - 1, cap_top + cap_h - 1], fill=CAPTION_BG)
            sheet.paste(Image.fromarray(pic), (x, ty))
            boxes.append(TileBox(r, tile.copy, x, ty, pic.shape[1], pic.shape[0], scale))
            ly = cap_top + PAD // 2
            for text, colour, size in cap:
                draw.text((x + PAD, ly), text, fill=colour, font=font(size))
                ly += LINE
            x += col + GAP
        y += row_h
    return np.asarray(sheet), boxes


def _row_title(row: Row) -> str:
    return f"{row.key}   (split {row.split})" if row.split else row.key


def _header_lines(preview: Preview) -> list[tuple[str, tuple[int, int, int], int]]:
    lines = [
        (f"augcli preview   recipe: {preview.recipe_name}   input: {preview.input} ({preview.input_format})   "
         f"seed: {preview.seed}", TEXT, HEADER_SIZE),
        (f"{preview.selection()}. Each row: the original, then the augmented copies `augcli run` writes "
         "with this seed, every label drawn; the applied ops under each picture.", DIM_TEXT, CAPTION_SIZE),
    ]
    lines += [(f"note: {n}", TITLE_TEXT, CAPTION_SIZE) for n in preview.notes[:4]]
    return lines


def _legend(preview: Preview) -> list[tuple[str, tuple[int, int, int]]]:
    """Classes that appear anywhere on the sheet, in class-id order, with their colours; then the
    keypoint side colours when keypoints are drawn."""
    seen: set[int] = set()
    sides = False
    for row in preview.rows:
        for t in row.tiles:
            seen |= {int(c) for c in t.sample.objects.classes}
            kp = t.sample.objects.keypoints
            sides |= kp is not None and len(t.sample.objects) > 0 and keypoint_names(preview.schema, kp.shape[1]) is not None
            if t.sample.image_class is not None:
                seen.add(int(t.sample.image_class))
            if t.sample.mask is not None:
                seen |= {int(v) for v in np.unique(t.sample.mask) if v not in (0, 255)}
    legend = [(preview.schema.class_name(c), class_colour(c, preview.schema)) for c in sorted(seen)]
    if sides:
        legend += [("keypoint on the left (a ring = occluded)", LEFT_COLOUR), ("keypoint on the right", RIGHT_COLOUR)]
    return legend


def encode_png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise OSError("could not encode the contact sheet as PNG")
    return buf.tobytes()


def write_sheet(preview: Preview, path: str | Path, tile_height: int = DEFAULT_TILE_HEIGHT) -> Path:
    sheet, _ = render_sheet(preview, tile_height)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, encode_png(sheet))
    return path


# ---------------------------------------------------------------- the HTML gallery
_PICTURE_NAME = re.compile(r"row\d+_(original|copy\d+)\.png")
_CSS = """
body{background:#202124;color:#e8e8e8;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:16px}
h1{font-size:18px;margin:0 0 4px} .meta{color:#aaa;margin:0 0 12px}
.legend span{display:inline-block;margin:0 12px 4px 0} .legend i{display:inline-block;width:12px;height:12px;
vertical-align:middle;margin-right:5px}
section{margin:18px 0} h2{font-size:15px;font-weight:normal;margin:0 0 6px} .note{color:#ffd666}
.row{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
figure{margin:0;background:#121214;max-width:100%} figure img{display:block;max-width:100%;height:auto}
figcaption{padding:6px 8px;font-size:13px} figcaption b{color:#ffd666;font-weight:normal}
figcaption ul{margin:4px 0;padding-left:18px} details{color:#aaa} pre{white-space:pre-wrap;margin:4px 0}
"""


def write_html(preview: Preview, folder: str | Path, tile_height: int = DEFAULT_TILE_HEIGHT) -> Path:
    """An offline gallery: `folder/index.html` plus one PNG per tile beside it; no network resources."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("row*_*.png"):  # pictures of an earlier gallery here, and only those
        if _PICTURE_NAME.fullmatch(old.name):
            old.unlink()
    e = html.escape
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>augcli preview: {e(preview.recipe_name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>augcli preview</h1><p class=meta>recipe <b>{e(preview.recipe_name)}</b> &middot; input "
        f"<b>{e(preview.input)}</b> ({e(preview.input_format)}) &middot; seed <b>{preview.seed}</b> &middot; "
        f"{e(preview.selection())}. Each row: the "
        "original, then the augmented copies <code>augcli run</code> writes with this seed.</p>",
    ]
    parts += [f"<p class=note>note: {e(n)}</p>" for n in preview.notes]
    legend = _legend(preview)
    if legend:
        parts.append("<p class=legend>" + "".join(
            f"<span><i style='background:rgb{c}'></i>{e(name)}</span>" for name, c in legend) + "</p>")
    for r, row in enumerate(preview.rows):
        split = f" <span class=meta>(split {e(row.split)})</span>" if row.split else ""
        parts.append(f"<section><h2>{e(row.key)}{split}</h2>")
        if row.note:
            parts.append(f"<p class=note>{e(row.note)}</p>")
        parts.append("<div class=row>")
        for tile in row.tiles:
            pic, _ = draw_sample(tile.sample, tile_height)
            name = f"row{r + 1}_{'original' if tile.copy == 0 else f'copy{tile.copy}'}.png"
            atomic_write_bytes(folder / name, encode_png(pic))
            ops = "".join(f"<li>{e(line)}</li>" for line in format_ops(tile.ops)) if tile.copy else \
                "<li>as read from the input</li>"
            raw = ("<details><summary>ops as in the manifest</summary><pre>"
                   + e("\n".join(json.dumps(op) for op in tile.ops) or "[]") + "</pre></details>") if tile.copy else ""
            parts.append(f"<figure><img src='{name}' width={pic.shape[1]} height={pic.shape[0]} alt='{e(tile.title)}'>"
                         f"<figcaption><b>{e(tile.title)}</b> &middot; {e(objects_line(tile, preview.schema))}"
                         f"<ul>{ops}</ul>{raw}</figcaption></figure>")
        parts.append("</div></section>")
    parts.append("</body></html>\n")
    index = folder / "index.html"
    atomic_write_bytes(index, "\n".join(parts).encode("utf-8"))
    return index


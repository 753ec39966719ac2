"""Semantic segmentation masks: `images/` + `masks/` with the same relative path and stem,
each mask a single-channel PNG with one value per class, 0 = background, 255 = "ignore".

Masks move with their image by nearest-neighbour only and are never blurred or
colour-changed (see augcli.transforms.base.AugmentState). Palette PNGs are read as their
indices, and the masks made from one are written with its palette (VOC's colours stay); a
1-bit PNG's set pixels are value 1. Class names come from `classes.yaml` ({value: name} or a
list indexed by value) or `labelmap.txt` (one name per line for values 1, 2, ...; a first line
named `background` stands for value 0 and is skipped; CVAT's `name:r,g,b::` lines are accepted)
at the root; without either, values are kept as numeric class ids.

Written from another format, a polygon label is rasterised into the mask (by pixel
centre, later objects over earlier ones) with value = class id (+1 when the source
format counts classes from 0, since 0 is background); when a class would land on 0
(background), 255 (ignore) or past 255 (a COCO category id 0 or >= 255), every class is
numbered by sorted id from 1 instead (see mask_values; classes.yaml names the values). Box-only
objects cannot be represented and are left out, with the count in the manifest's object numbers.
The polygons are drawn as they are written, after the pipeline (exact outlines), except when the
recipe covers or blends pixels (CoarseDropout, CutMix, CopyPaste, MixUp): then each image's class
map is drawn when it is read and follows the pixels through the pipeline, as a mask input's does.
"""
from __future__ import annotations

import io
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

import numpy as np

from augcli import storage
from augcli.errors import InputError, UsageError
from augcli.formats.base import (
    Dataset, Item, Loaded, Written, canonical_split, is_plain, name_in_split, whole_number, with_suffix_name,
)
from augcli.formats.images import file_within
from augcli.formats.table import ItemTableBuilder
from augcli.imageio import atomic_write_bytes, encode_image, is_image_name, read_file, read_image_file
from augcli.sample import LabelSchema, Objects, Sample

NAME = "mask"
IGNORE = 255
BACKGROUND = "background"


def detect(root: Path) -> float:
    return 0.9 if (root / "images").is_dir() and (root / "masks").is_dir() else 0.0


def _mask_relpath(image_rel: str) -> str:
    """images/<rel>/a.jpg -> masks/<rel>/a.png"""
    if is_plain(image_rel) and image_rel.startswith("images/"):  # as strings: called for every image
        return with_suffix_name(f"masks/{image_rel[len('images/'):]}", "", ".png")
    return str(PurePosixPath("masks") / PurePosixPath(image_rel).relative_to("images").with_suffix(".png"))


def _read_names(root: Path) -> tuple[dict[int, str], list[str]]:
    import yaml

    notes: list[str] = []
    path = root / "classes.yaml"
    if path.is_file():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            notes.append(f"classes.yaml: unreadable ({exc.__class__.__name__}); class values kept as numbers")
            data = None
        if isinstance(data, dict) and "names" in data:
            data = data["names"]
        if isinstance(data, list):
            return {i: str(n) for i, n in enumerate(data) if i != 0 and i != IGNORE}, notes
        if isinstance(data, dict) and all(whole_number(k) for k in data):
            return {int(k): str(v) for k, v in data.items() if int(k) not in (0, IGNORE)}, notes
        if isinstance(data, dict):  # e.g. {background: 0, cat: 1}, names as keys
            notes.append("classes.yaml: names must be a list or a mapping from mask value to name; "
                         "class values kept as numbers")
            return {}, notes
    path = root / "labelmap.txt"
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            notes.append(f"labelmap.txt: unreadable ({exc.__class__.__name__}); class values kept as numbers")
            return {}, notes
        lines = [ln.strip() for ln in text.splitlines()]
        lines = [ln.split(":", 1)[0] for ln in lines if ln and not ln.startswith("#")]
        if lines and lines[0].lower() == BACKGROUND:
            lines = lines[1:]
        return {i + 1: n for i, n in enumerate(lines)}, notes
    notes.append(f"{root}: no classes.yaml or labelmap.txt; mask values are kept as numeric class ids")
    return {}, notes


def scan(root: Path) -> Dataset:
    names, notes = _read_names(root)
    items = ItemTableBuilder(str(root), _mask_relpath)
    for rel_dir, name, _ in storage.walk_files(root / "images", lambda rel, d, link: not d.startswith(".")):
        if name.startswith(".") or not is_image_name(name):
            continue
        rel = f"images/{rel_dir}/{name}" if rel_dir else f"images/{name}"
        parts = rel.split("/")
        split = canonical_split(parts[1]) if len(parts) > 2 and parts[1] in ("train", "val", "valid", "test") else None
        items.add(rel, split)
    return Dataset(LabelSchema(names, zero_based_ids=False), items.build(), notes)


def _decode_mask(data: bytes, path: str) -> np.ndarray:
    """(H, W) uint8 class map of a mask PNG, as PIL reads it: a palette PNG's indices, a 1-bit PNG's
    0 / 1, a 16-bit one's values if all fit in 0..255, an RGB one only when grey. Raises InputError
    naming `path` for anything else."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.mode == "1":  # a 1-bit PNG (what PIL saves for a bool array): set pixels are value 1, as
                return np.array(im, dtype=np.uint8)  # PIL and numpy read it back, not 255 ("ignore")
            if im.mode in ("L", "P"):
                return np.array(im, dtype=np.uint8)
            if im.mode in ("I;16", "I"):
                arr = np.array(im)
                if arr.max() > 255:
                    raise InputError("bad-label", path, f"mask values up to {arr.max()}: at most 255 classes are supported")
                return arr.astype(np.uint8)
            if im.mode in ("RGB", "RGBA"):
                arr = np.array(im.convert("RGB"))
                if np.all(arr[..., 0] == arr[..., 1]) and np.all(arr[..., 1] == arr[..., 2]):
                    return np.ascontiguousarray(arr[..., 0])
            raise InputError("bad-label", path, f"mask must be a single-channel or palette PNG, got mode {im.mode}")
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError("bad-label", path, f"not a readable mask ({exc.__class__.__name__})") from None


def load(item: Item, schema: LabelSchema, max_pixels: int) -> Loaded:
    data, image = read_image_file(item.image, item.key, max_pixels)
    rel = str(PurePosixPath("masks") / PurePosixPath(item.key).relative_to("images").with_suffix(".png"))
    warnings: list[str] = []
    if storage.is_file(item.label):
        if not storage.is_remote(item.root) and not file_within(item.label, item.root):
            # a linked masks/ folder or mask file leading out of the input: never read (as images)
            raise InputError("bad-label", rel, "mask resolves outside the input folder; not read")
        mask = _decode_mask(read_file(item.label, rel, "bad-label"), rel)
        if mask.shape != image.shape[:2]:
            raise InputError("bad-label", rel, f"mask is {mask.shape[1]}x{mask.shape[0]} but its image is "
                                               f"{image.shape[1]}x{image.shape[0]}")
        unknown = sorted(set(np.unique(mask).tolist()) - {0, IGNORE} - set(schema.names)) if schema.names else []
        if unknown:
            raise InputError("bad-label", rel, f"mask values {unknown} are not in the class list")
    else:
        mask = np.zeros(image.shape[:2], np.uint8)
        warnings.append(f"{item.key}: no mask at {rel}; written with an all-background mask")
    return Loaded(Sample(image, Objects.empty(schema.kpt_shape[0] if schema.kpt_shape else None), schema, mask),
                  data, warnings)


def png_palette(data: bytes) -> bytes | None:
    """The PLTE chunk (RGB triplets) of a palette PNG (colour type 3), read from the chunk headers
    without decoding the pixels; None for any other file."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 26 or data[12:16] != b"IHDR" or data[25] != 3:
        return None
    at = 8
    while at + 8 <= len(data):
        length, kind = int.from_bytes(data[at:at + 4], "big"), data[at + 4:at + 8]
        if kind == b"PLTE":
            return data[at + 8:at + 8 + length] or None
        if kind in (b"IDAT", b"IEND"):
            return None
        at += 12 + length
    return None


def encode_palette_png(mask: np.ndarray, palette: bytes) -> bytes:
    """An 8-bit palette PNG of the (H, W) uint8 class map with `palette` (RGB triplets), padded with
    black up to the largest value used, so that every value (255, ignore, too) has an entry."""
    from PIL import Image

    entries = max(len(palette) // 3, int(mask.max()) + 1)
    im = Image.fromarray(np.ascontiguousarray(mask))  # (H, W) uint8: mode L, made P by putpalette
    im.putpalette(palette[:len(palette) // 3 * 3] + bytes(3 * entries - len(palette) // 3 * 3))
    out = io.BytesIO()
    im.save(out, "PNG", compress_level=3)
    return out.getvalue()


def mask_value(cls: int, schema: LabelSchema) -> int:
    return int(cls) + 1 if schema.zero_based_ids else int(cls)


def mask_values(schema: LabelSchema) -> dict[int, int] | None:
    """Class id -> mask value when mask_value would put a class of the schema on 0 (background),
    255 (ignore) or past 255 (a COCO category id 0 or >= 255): then the sorted ids are numbered
    1..n. None = every class gets mask_value. Raises UsageError for more classes than a mask holds."""
    if all(0 < mask_value(cls, schema) < IGNORE for cls in schema.names):
        return None
    ids = sorted(schema.names)
    if len(ids) >= IGNORE:
        raise UsageError(f"{len(ids)} classes do not fit in a mask (values 1..{IGNORE - 1}; 0 is background and "
                         f"{IGNORE} ignore); merge or drop classes with --class-map / --drop-class")
    return {cls: i + 1 for i, cls in enumerate(ids)}


def rasterise(sample: Sample, value_of: Callable[[int], int], where: str = "") -> np.ndarray:
    """The sample's class map: its own mask, or its polygons drawn by pixel centre with the mask
    value `value_of(class id)` (Writer.value). Raises InputError for a class with no usable value."""
    from augcli.kernels.masks import polygons_to_mask

    if sample.mask is not None:
        return sample.mask
    w, h = sample.size
    out = np.zeros((h, w), np.uint8)
    for cls, poly in zip(sample.objects.classes, sample.objects.polygons):
        if poly is not None and len(poly) >= 3:
            value = value_of(int(cls))
            if not 0 < value < IGNORE:
                raise InputError("bad-label", where, f"class {sample.schema.class_name(int(cls))} cannot be a mask "
                                 f"value (1..{IGNORE - 1}; 0 is background and {IGNORE} ignore)")
            out[polygons_to_mask([poly], w, h)] = value
    return out


def _output_base(item: Item) -> str:
    """<split>/<name in split>, or the name alone without a split."""
    rest = name_in_split(item.key)
    if not item.split:
        return rest
    return f"{item.split}/{rest}" if is_plain(item.split) and is_plain(rest) else str(PurePosixPath(item.split) / rest)


def _under(folder: str, rel: str) -> str:
    """str(PurePosixPath(folder) / rel), as strings for plain paths (the parent names every input)."""
    return f"{folder}/{rel}" if is_plain(rel) else str(PurePosixPath(folder) / rel)


class Writer:
    """images/<split>/<name> + masks/<split>/<stem>.png, and classes.yaml at the end."""

    def __init__(self, out_root: Path, schema: LabelSchema):
        self.root = storage.location(out_root)
        self.schema = schema
        self.values = mask_values(schema)  # refused here, before any work
        self._palette: tuple[str | None, bytes | None] = (None, None)  # (source mask, its PLTE), the last one read

    def value(self, cls: int) -> int:
        """The mask value class `cls` is written as (-1: none, a class mask_values does not number)."""
        return mask_value(cls, self.schema) if self.values is None else self.values.get(cls, -1)

    def stem(self, item: Item, image_class: int | None = None) -> str | None:
        """The output path of `item`'s original without its extension; two inputs with the same
        stem would overwrite each other's outputs (the run refuses the second)."""
        return _under("images", with_suffix_name(_output_base(item), "", ""))

    def write(self, item: Item, suffix: str, ext: str, image_data: bytes, sample: Sample) -> Written:
        base = _output_base(item)
        image_rel = _under("images", with_suffix_name(base, suffix, ext))
        mask_rel = _under("masks", with_suffix_name(base, suffix, ".png"))
        atomic_write_bytes(self.root / image_rel, image_data)
        mask = self.class_map(sample, item.key)
        palette = self.source_palette(item)
        data = encode_image(mask, ".png") if palette is None else encode_palette_png(mask, palette)
        atomic_write_bytes(self.root / mask_rel, data)
        return Written({"image": image_rel, "label": mask_rel})

    def class_map(self, sample: Sample, where: str) -> np.ndarray:
        """The (H, W) uint8 class map this writer would write for `sample` as it is now (its mask, or
        its polygons drawn by pixel centre): for a run that makes it before the pipeline."""
        return rasterise(sample, self.value, where)

    def source_palette(self, item: Item) -> bytes | None:
        """The palette of `item`'s own mask when that is a palette PNG (VOC's SegmentationClass), so its
        outputs keep the colours every viewer shows; None otherwise (a grey mask, another format's label).
        Read once per input: its copies are written one after another."""
        label = item.label
        if label is None or not str(label).lower().endswith(".png"):
            return None
        if self._palette[0] != label:
            palette = None
            if storage.is_file(label):
                try:
                    palette = png_palette(read_file(label, str(item.label_rel), "bad-label"))
                except InputError:  # gone or unreadable since it was loaded: written grey, as without a palette
                    palette = None
            self._palette = (label, palette)
        return self._palette[1]

    def finalize(self, written: Iterable[dict[str, Any]]) -> None:
        for _ in written:
            pass
        lines = ["# written by augcli: mask value -> class name (0 = background, 255 = ignore)", "names:",
                 f"  0: {BACKGROUND}"]
        for cls, name in sorted(self.schema.names.items()):
            lines.append(f"  {self.value(cls)}: {_quote(name)}")
        atomic_write_bytes(self.root / "classes.yaml", ("\n".join(lines) + "\n").encode())


def _quote(value: str) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)

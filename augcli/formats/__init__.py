"""Dataset formats: one module per format; nothing outside a format's module knows its layout.

A format module provides:

    NAME                                   the --input-format / --output-format name
    REDUCED_DECODE                         optional, default False; True when load() gives the labels
                                           in the pixels of the image as decoded also when a JPEG was
                                           decoded at 1/2, 1/4 or 1/8 of its size (a run whose recipe
                                           starts with a fixed shrink: augcli.job.reduced_decode_factor):
                                           labels in fractions of the size hold as they are; labels in
                                           the file's pixels are read at its size and scaled
                                           (augcli.imageio.decoded_factor, Objects.scaled)
    detect(root) -> float                  confidence in [0, 1] that `root` holds this format
    scan(root) -> Dataset                  schema + items sorted by key; cheap per item (no pixels):
                                           an ItemTable (augcli.formats.table) built with
                                           ItemTableBuilder, so the parent holds some 30 bytes a file;
                                           walk folders with storage.walk_files (never a whole listing)
    load(item, schema, max_pixels) -> Loaded
                                           in a worker: decoded image (augcli.imageio.decode_image),
                                           labels in pixels, the raw bytes, warnings; raises
                                           augcli.errors.InputError(reason, path, message, line)
    Writer(out_root, schema)               built in every worker and in the parent; out_root may be
                                           a UPath (augcli.storage): join with `/`, write with
                                           atomic_write_bytes, which puts remote objects whole
        .stem(item, image_class) -> str | None
                                           in the parent, before the run: the output path of the
                                           item's original without extension (what write() names
                                           with suffix ''); two items with one stem would collide
        .KEEPS_CROWD: bool                 optional, default True; False when the format cannot mark a
                                           COCO crowd region (iscrowd 1) and a trainer reading it would
                                           learn the crowd as one object (YOLO): the job then leaves
                                           such objects out, counted as dropped for reason 'crowd'
        .write(item, suffix, ext, image_data, sample) -> Written
                                           in a worker: write the encoded image `image_data` and its
                                           per-image labels atomically (augcli.imageio.atomic_write_bytes)
                                           under out_root; `suffix` is '' for an original or '_aug3';
                                           `ext` is the image extension to use
        .finalize(entries)                 once in the parent, after all writes: dataset-level files
                                           (data.yaml, COCO JSON, ImageSets); `entries` yields
                                           {'image': rel path, 'split': str | None, 'payload': ...}
                                           in input order, payload being what write() returned

Shared conventions:
- Pixels everywhere inside augcli (see augcli.geometry): the image spans [0, W] x [0, H].
- Class ids are the schema's `names` keys. Formats with 0-based indices (YOLO, VOC, classify,
  mask) set LabelSchema.zero_based_ids=True; COCO keeps its category ids as they are
  (zero_based_ids=False). A writer that needs 0..n-1 indices maps the sorted ids onto
  0..n-1; the COCO writer writes 0-based ids as id + 1 (COCO's convention: ids start at 1).
- Per-object extras a format understands travel in Objects.attrs (e.g. 'difficult',
  'truncated', 'iscrowd'); a writer uses the ones it knows and ignores the rest.
- Item.key is the image path relative to the input root (posix); outputs are named from it.
  Item.root is the root as a string, one object shared by all items of a scan; image and label
  paths are derived from it. Name paths as strings where the parent does it per item (stem(),
  label paths): base.is_plain / posix_parts / with_suffix_name; pathlib interns every part.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from augcli.errors import UsageError

FORMATS = {
    "yolo": "augcli.formats.yolo",
    "coco": "augcli.formats.coco",
    "voc": "augcli.formats.voc",
    "mask": "augcli.formats.mask",
    "classify": "augcli.formats.classify",
    "images": "augcli.formats.images",
}


def get_format(name: str) -> ModuleType:
    if name not in FORMATS:
        raise UsageError(f"unknown format {name!r}; known formats: {', '.join(FORMATS)}")
    return importlib.import_module(FORMATS[name])


def detect_format(root: Path) -> str:
    """The single most likely format of `root`; ambiguity or no match is a UsageError naming the candidates."""
    scores = {name: get_format(name).detect(root) for name in FORMATS}
    best = max(scores.values())
    if best <= 0:
        raise UsageError(f"could not recognise a dataset in {root}; pass --input-format ({', '.join(FORMATS)})")
    top = [n for n, s in scores.items() if s == best]
    if len(top) > 1:
        raise UsageError(f"{root} could be any of: {', '.join(top)}; pass --input-format to choose")
    return top[0]

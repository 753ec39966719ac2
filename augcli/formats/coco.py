"""COCO: object detection, instance segmentation and keypoints in JSON annotation files.

Layout read (paths relative to the input root):
    annotations/*.json              e.g. instances_train2017.json, person_keypoints_val.json; the
                                    stem minus an `instances_` / `person_keypoints_` prefix and a
                                    trailing year gives the split (train2017 -> train; valid -> val)
    <split>/_annotations.coco.json  Roboflow: one JSON per split folder, beside its images
    result.json / labels.json       Label Studio (images/ beside it) / FiftyOne (data/ beside it):
                                    one JSON at the root, read only when there is none of the above
Each image's `file_name` (which may hold subfolders) is looked up, in this order, under
images/<split>/, images/, <split>/, <json stem>/, the JSON's own folder (Roboflow) and the
root; for a JSON at the root, under images/, data/ and the root. A `file_name` that is
absolute, climbs with `..`, or leads (through a symlink) outside the input root is never
opened: the image is skipped with a note, as are missing files, duplicate image ids and
annotations whose image_id is not in `images`.
When several JSONs give the same split (instances_ and person_keypoints_ of one set), the
instances_ one is read and the others are named in a note; captions_ and panoptic_ files are
ignored (they hold no boxes).

Labels in pixels: bbox [x, y, w, h] -> x1 y1 x2 y2; a polygon segmentation becomes the
object's polygon; an RLE segmentation (uncompressed counts list, or COCO's compressed
string; column-major) is decoded here, without pycocotools, and traced to a polygon
(augcli.kernels.masks). An object holds one polygon: several parts (polygon pieces or
separate mask regions) are joined into one by zero-width bridges (augcli.geometry.join_parts),
so area is kept and the box covers every part through any transform. Keypoints are [x, y, v] * K
with v as given (0 = not labelled, position set to 0, 0). Category ids are kept as they are
(LabelSchema.zero_based_ids=False); `iscrowd` and the annotation id travel in
Objects.attrs ('iscrowd', 'coco_id'). Category `supercategory` is not kept.

Layout written: images/<split>/<name> (images/<name> without a split), <name> being the
input's path below its images folder plus the copy suffix (sub/a_aug2.jpg); one
annotations/instances_<split>.json per split (annotations/instances.json without one).
Image and annotation ids are renumbered 1..N in output order. Segmentations are written as
polygons (one part, 2 decimals) -- RLE input is written back as polygons; box-only objects
get no `segmentation` key. `area` is recomputed from the written geometry (polygon area,
else box area, pixels^2). A class map from the mask format is written as one polygon
annotation per connected region.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

import numpy as np

from augcli import geometry as g
from augcli import storage
from augcli.errors import InputError, UsageError
from augcli.formats.base import Dataset, Item, Loaded, Written, canonical_split, name_in_split, with_suffix_name
from augcli.imageio import TMP_MARK, atomic_write_bytes, decoded_factor, read_image_file
from augcli.kernels.masks import mask_to_polygons
from augcli.sample import LabelSchema, Objects, Sample, derived_objects, written_objects

NAME = "coco"
REDUCED_DECODE = True  # labels read at the file's size, scaled to a reduced decode (load)
ROBOFLOW_JSON = "_annotations.coco.json"
# one JSON at the root, as Label Studio (result.json, images/) and FiftyOne (labels.json, data/) export
ROOT_JSONS = ("result.json", "labels.json")
ROOT_IMAGE_DIRS = ("images", "data")
_COCO_KEYS = (b'"images"', b'"annotations"', b'"categories"', b'"info"', b'"licenses"')  # one opens a COCO object
JSON_PREFIXES = ("instances_", "person_keypoints_")  # in order of preference for one split
IGNORED_PREFIXES = ("captions_", "panoptic_")
ANNOTATION_KEYS = ("id", "category_id", "bbox", "segmentation", "keypoints", "num_keypoints", "iscrowd", "area")
CLIP_TOLERANCE = 1.0  # pixels: geometry further than this outside the image is clipped with a warning
DECIMALS = 2  # written coordinates and areas, pixels
MAX_EXAMPLES = 5  # examples named per note; the rest are counted
_SAFE_SPLIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_YEAR = re.compile(r"([A-Za-z][A-Za-z_-]*?)[_-]?(?:19|20)\d\d")
_NO_SPLIT_STEMS = ("", "instances", "person_keypoints", "annotations", "_annotations.coco", "coco")


@dataclass(frozen=True)
class CocoImage:
    """Item.payload for a COCO image: its record and its annotations, reduced to ANNOTATION_KEYS.

    `json` is the annotation file relative to the input root (for messages); `file_name` is the
    record's file_name, normalised (posix, no '.' parts): the image's name below its images folder."""

    json: str
    image_id: Any
    file_name: str
    width: Any
    height: Any
    annotations: tuple[dict[str, Any], ...]


# ------------------------------------------------------------------ RLE (column-major, like pycocotools)
def rle_counts_to_string(counts: list[int]) -> str:
    """Uncompressed run lengths -> COCO's compressed string (maskApi.c rleToString).

    Each count from the third on is stored as the difference to the count two before it, in
    5-bit groups (bit 0x20 = more groups follow, bit 0x10 of the last = sign), offset by 48."""
    out = []
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift: negative numbers end at -1
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def rle_counts_from_string(text: str) -> list[int]:
    """COCO's compressed RLE string -> run lengths (maskApi.c rleFrString). Raises ValueError."""
    counts: list[int] = []
    p, n = 0, len(text)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise ValueError("compressed RLE string ends in the middle of a number")
            c = ord(text[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"character {text[p]!r} cannot occur in a compressed RLE string")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def rle_encode(mask: np.ndarray, compressed: bool = True) -> dict[str, Any]:
    """(H, W) binary mask -> {'size': [H, W], 'counts': str (compressed) or list of ints}.

    Counts are run lengths over the mask read column by column, starting with a run of zeros
    (0 when the first pixel is set), as pycocotools.mask.encode produces."""
    h, w = mask.shape
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        counts: list[int] = []
    else:
        edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        counts = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
        if flat[0]:
            counts = [0] + counts
    return {"size": [int(h), int(w)], "counts": rle_counts_to_string(counts) if compressed else counts}


def rle_decode(rle: dict[str, Any]) -> np.ndarray:
    """{'size': [H, W], 'counts': str | list} -> (H, W) bool mask. Raises ValueError naming the problem."""
    size = rle.get("size")
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(_is_int(v) and v >= 0 for v in size)):
        raise ValueError(f"RLE size must be [height, width], got {size!r}")
    h, w = int(size[0]), int(size[1])
    counts = rle.get("counts")
    if isinstance(counts, str):
        runs = rle_counts_from_string(counts)
    elif isinstance(counts, bytes):
        runs = rle_counts_from_string(counts.decode("ascii"))
    elif isinstance(counts, list) and all(_is_int(c) for c in counts):
        runs = [int(c) for c in counts]
    else:
        raise ValueError("RLE counts must be a string or a list of whole numbers")
    if any(c < 0 for c in runs):
        raise ValueError("RLE counts must not be negative")
    if sum(runs) != h * w:
        raise ValueError(f"RLE counts add up to {sum(runs)} pixels, but size {h}x{w} has {h * w}")
    values = (np.arange(len(runs)) % 2).astype(bool)
    return np.repeat(values, runs).reshape((h, w), order="F")


# ------------------------------------------------------------------ detect
def _annotation_files(root: Path) -> list[Path]:
    found = []
    if (root / "annotations").is_dir():
        found += sorted(p for p in (root / "annotations").glob("*.json") if not p.name.startswith("."))
    found += sorted(root.glob(f"*/{ROBOFLOW_JSON}"))
    if (root / ROBOFLOW_JSON).is_file():
        found.append(root / ROBOFLOW_JSON)
    found = [p for p in found if p.is_file()]
    if not found:  # a root JSON is read only alone: beside a dataset's own files it may be anything
        found = [root / name for name in ROOT_JSONS if (root / name).is_file()]
    return found


def _head(path: Path) -> bytes:
    """The file's first bytes, without a UTF-8 byte-order mark and leading blank space (b'' when unreadable)."""
    try:
        with path.open("rb") as f:
            head = f.read(1024)
    except OSError:
        return b""
    return head.removeprefix(b"\xef\xbb\xbf").lstrip()


def _starts_like_object(path: Path) -> bool:
    return _head(path).startswith(b"{")


def _starts_like_coco(path: Path) -> bool:
    """A JSON object whose first bytes name a COCO key: what a root-level result.json / labels.json must
    show, since other tools write files of those names too."""
    head = _head(path)
    return head.startswith(b"{") and any(key in head for key in _COCO_KEYS)


def detect(root: Path) -> float:
    """annotations/*.json or <split>/_annotations.coco.json holding a JSON object: 0.9; else a root
    result.json / labels.json that opens like a COCO object (Label Studio, FiftyOne): 0.7, which
    beats the class folders (0.5) FiftyOne's data/ looks like and the bare images Label Studio's
    images/ looks like, but not a layout of another format. Only the files' first bytes are read."""
    if not root.is_dir():
        return 0.0
    files = _annotation_files(root)
    if any(p.parent == root and p.name in ROOT_JSONS for p in files):
        return 0.7 if any(_starts_like_coco(p) for p in files) else 0.0
    return 0.9 if any(_starts_like_object(p) for p in files) else 0.0


# ------------------------------------------------------------------ scan
@dataclass
class _Source:
    path: Path
    rel: str  # posix, relative to the input root
    split: str | None
    image_dirs: list[str]  # folders (relative to the root, '' = the root) where images are looked for
    priority: int


def _split_of_stem(stem: str) -> tuple[str | None, list[str]]:
    """instances_train2017 -> ('train', ['train', 'train2017']); instances -> (None, [])."""
    for prefix in JSON_PREFIXES:
        if stem.startswith(prefix):
            stem = stem[len(prefix):]
            break
    if stem in _NO_SPLIT_STEMS or not _SAFE_SPLIT.fullmatch(stem) or ".." in stem:
        return None, []
    m = _YEAR.fullmatch(stem)
    bare = m.group(1) if m else stem
    return canonical_split(bare), _unique([bare, stem])


def _unique(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _sources(root: Path, notes: list[str]) -> list[_Source]:
    """The annotation files to read, at most one per split."""
    real_root = None if storage.is_remote(root) else os.path.realpath(root)  # no links in object stores
    by_split: dict[str | None, list[_Source]] = {}
    for path in _annotation_files(root):
        rel = path.relative_to(root).as_posix()
        if real_root and not _is_within(os.path.realpath(path), real_root):
            notes.append(f"{rel}: leads outside the input folder (symlink); not read")
            continue
        if path.name.startswith(IGNORED_PREFIXES):
            notes.append(f"{rel}: captions / panoptic annotations hold no boxes; not read")
            continue
        if path.parent == root and path.name in ROOT_JSONS:
            split, dirs, priority = None, list(ROOT_IMAGE_DIRS), len(JSON_PREFIXES)
        elif path.name == ROBOFLOW_JSON:
            folder = path.parent.name if path.parent != root else ""
            safe = bool(_SAFE_SPLIT.fullmatch(folder)) and ".." not in folder
            split = canonical_split(folder) if safe else None
            dirs = _unique([f"images/{folder}", folder] if safe else []) + [path.parent.relative_to(root).as_posix()]
            priority = 0
        else:
            split, names = _split_of_stem(path.stem)
            dirs = [f"images/{n}" for n in names] + ["images"] + names + [path.stem]
            priority = next((i for i, p in enumerate(JSON_PREFIXES) if path.name.startswith(p)), len(JSON_PREFIXES))
        dirs = _unique(d if d != "." else "" for d in dirs + [""])
        by_split.setdefault(split, []).append(_Source(path, rel, split, dirs, priority))
    chosen = []
    for split, group in by_split.items():
        group.sort(key=lambda s: (s.priority, s.rel))
        chosen.append(group[0])
        for other in group[1:]:
            notes.append(f"{other.rel}: not read: {group[0].rel} already gives the "
                         f"{split or 'unsplit'} images; point augcli at a folder holding only the file you want")
    return sorted(chosen, key=lambda s: s.rel)


def _read_json(source: _Source) -> dict[str, Any]:
    rel = source.rel
    try:
        data = json.loads(source.path.read_bytes())
    except OSError as exc:
        raise UsageError(f"{rel}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise UsageError(f"{rel}: not valid JSON ({exc}); fix or remove the file") from None
    if not isinstance(data, dict):
        raise UsageError(f"{rel}: expected a JSON object with 'images' and 'annotations', got a {type(data).__name__}")
    if not isinstance(data.get("images"), list):
        raise UsageError(f"{rel}: no 'images' list; a COCO annotation file needs 'images' and 'annotations'")
    if not isinstance(data.get("annotations", []), list):
        raise UsageError(f"{rel}: 'annotations' must be a list")
    if not isinstance(data.get("categories", []), list):
        raise UsageError(f"{rel}: 'categories' must be a list")
    return data


@dataclass
class _Layout:
    """Dataset-wide facts merged over every JSON read."""

    names: dict[int, str]
    name_source: dict[int, str]
    keypoint_names: tuple[str, ...] | None = None
    skeleton: tuple[tuple[int, int], ...] | None = None
    keypoint_source: str = ""


def _read_categories(data: dict[str, Any], rel: str, layout: _Layout, notes: list[str]) -> None:
    for i, cat in enumerate(data.get("categories", [])):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")):
            raise UsageError(f"{rel}: categories[{i}] needs a whole-number 'id'")
        cid = int(cat["id"])
        name = cat.get("name")
        name = str(cid) if name is None else str(name)  # a null name (as a missing one) keeps the id as the name
        if cid in layout.names and layout.names[cid] != name:
            raise UsageError(f"category id {cid} is {layout.names[cid]!r} in {layout.name_source[cid]} "
                             f"but {name!r} in {rel}; the files must agree on category ids")
        layout.names[cid] = name
        layout.name_source.setdefault(cid, rel)
        kps = cat.get("keypoints")
        if not kps:
            continue
        if not isinstance(kps, list) or not all(isinstance(k, str) for k in kps):
            raise UsageError(f"{rel}: categories[{i}] 'keypoints' must be a list of keypoint names")
        if layout.keypoint_names is None:
            layout.keypoint_names, layout.keypoint_source = tuple(kps), rel
            layout.skeleton = _skeleton(cat.get("skeleton"), len(kps), rel, i, notes)
        elif tuple(kps) != layout.keypoint_names:
            raise UsageError(f"{rel}: categories[{i}] has keypoints {kps} but {layout.keypoint_source} has "
                             f"{list(layout.keypoint_names)}; one keypoint layout per dataset is supported")


def _skeleton(raw: Any, k: int, rel: str, index: int, notes: list[str]) -> tuple[tuple[int, int], ...] | None:
    """COCO's 1-based skeleton pairs -> 0-based pairs; None (with a note) when malformed."""
    if raw is None:
        return None
    pairs = []
    for pair in raw if isinstance(raw, list) else [None]:
        if not (isinstance(pair, list) and len(pair) == 2 and all(_is_int(v) and 1 <= v <= k for v in pair)):
            notes.append(f"{rel}: categories[{index}] skeleton entry {pair!r} is not a pair of keypoint numbers "
                         f"1..{k}; skeleton ignored")
            return None
        pairs.append((int(pair[0]) - 1, int(pair[1]) - 1))
    return tuple(pairs)


_SIDE = re.compile("left|right")


def flip_index(keypoint_names: tuple[str, ...]) -> tuple[int, ...]:
    """Keypoint i's index after a mirror: a name's partner is the same name with every 'left' and
    'right' swapped at once (case-insensitive: left_eye <-> right_eye, and
    left_eye_right_corner <-> right_eye_left_corner, since a mirror turns every side over);
    names without a partner map to themselves."""
    lower = [n.lower() for n in keypoint_names]
    out = []
    for i, name in enumerate(lower):
        partner = _SIDE.sub(lambda m: "right" if m.group() == "left" else "left", name)
        out.append(lower.index(partner) if partner != name and partner in lower else i)
    if any(out[out[i]] != i for i in range(len(out))):
        return tuple(range(len(keypoint_names)))  # ambiguous names (duplicates): no swapping
    return tuple(out)


def safe_relpath(file_name: Any) -> tuple[str | None, str]:
    """A file_name as a normalised relative posix path, or (None, why it is refused)."""
    if not isinstance(file_name, str) or not file_name.strip():
        return None, "has no file_name"
    text = file_name.replace("\\", "/")
    if text.startswith("/") or re.match(r"[A-Za-z]:", text) or "\0" in text:
        return None, f"file_name {file_name!r} is an absolute path"
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None, f"file_name {file_name!r} climbs out of its folder with '..'"
    if not parts:
        return None, f"file_name {file_name!r} names no file"
    return "/".join(parts), ""


class _NoteBook:
    """Problems of one kind in one JSON, reported as one note with a few examples."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str], list[str]] = {}
        self.problems: list[tuple[str, str, str]] = []  # images skipped: (where, reason, message)

    def add(self, rel: str, what: str, example: str) -> None:
        self._groups.setdefault((rel, what), []).append(example)

    def skip(self, rel: str, what: str, example: str, reason: str) -> None:
        """An image left out: reported as skipped (manifest, exit code), not only noted."""
        self.problems.append((rel, reason, f"{rel}: {example}: {what}"))

    def lines(self) -> list[str]:
        out = []
        for (rel, what), examples in self._groups.items():
            shown = "; ".join(examples[:MAX_EXAMPLES])
            more = f"; and {len(examples) - MAX_EXAMPLES} more" if len(examples) > MAX_EXAMPLES else ""
            out.append(f"{rel}: {what} ({len(examples)}): {shown}{more}")
        return out


def _find_image(root: Path, real_root: str | None, source: _Source, name: str,
                listing: set[str] | None = None) -> tuple[str | None, str]:
    """(path relative to the root, '') of the first existing candidate, or (None, why).

    Candidates are resolved (symlinks followed) before anything is opened: one that leads
    outside the root ends the search."""
    for d in source.image_dirs:
        rel = f"{d}/{name}" if d else name
        if listing is not None:  # remote: one listing of the root, no links to follow
            if rel in listing:
                return rel, ""
            continue
        real = os.path.realpath(root / rel)
        if not _is_within(real, real_root):
            return None, f"{rel} leads outside the input folder"
        if os.path.isfile(real):
            return rel, ""
    return None, f"not found (looked under {', '.join((d or '.') + '/' for d in source.image_dirs)})"


def _reduce(ann: dict[str, Any]) -> dict[str, Any]:
    return {k: ann[k] for k in ANNOTATION_KEYS if k in ann}


def _is_id(v: Any) -> bool:
    return isinstance(v, (int, float, str)) and not isinstance(v, bool)


def _items_of(root: Path, source: _Source, data: dict[str, Any], book: _NoteBook,
              taken: dict[str, str], listing: set[str] | None = None) -> list[Item]:
    rel = source.rel
    real_root = None if storage.is_remote(root) else os.path.realpath(root)
    root_s = str(root)
    records: dict[Any, dict[str, Any]] = {}
    repeated: dict[Any, list[str]] = {}  # image id -> the file names that share it
    for i, rec in enumerate(data["images"]):
        if not isinstance(rec, dict) or not _is_id(rec.get("id")):
            book.add(rel, "image records without an id, skipped", f"images[{i}]")
            continue
        if rec["id"] in records or rec["id"] in repeated:
            first = records.pop(rec["id"], None)
            names = repeated.setdefault(rec["id"], [] if first is None else [str(first.get("file_name"))])
            names.append(str(rec.get("file_name")))
            continue
        records[rec["id"]] = rec
    for image_id, names in repeated.items():
        book.skip(rel, "image ids used more than once, skipped with their annotations",
                  f"image id {image_id!r} appears {len(names)} times ({', '.join(names)})", "duplicate-id")
    by_image: dict[Any, list[dict[str, Any]]] = {image_id: [] for image_id in records}
    for j, ann in enumerate(data.get("annotations", [])):
        if not isinstance(ann, dict):
            book.add(rel, "annotations that are not objects, ignored", f"annotations[{j}]")
            continue
        image_id = ann.get("image_id")
        if _is_id(image_id) and image_id in by_image:
            by_image[image_id].append(_reduce(ann))
        elif not (_is_id(image_id) and image_id in repeated):
            book.add(rel, "annotations pointing at an image id not in 'images', ignored",
                     f"annotation {ann.get('id', f'#{j}')!r} -> image_id {image_id!r}")
    items = []
    for image_id, rec in records.items():
        name, why = safe_relpath(rec.get("file_name"))
        if name is None:
            book.skip(rel, "images refused, skipped", f"image id {image_id!r}: {why}", "outside-input")
            continue
        key, why = _find_image(root, real_root, source, name, listing)
        if key is None:
            book.skip(rel, "images not usable, skipped", f"image id {image_id!r} {name!r}: {why}", "missing-image")
            continue
        if key in taken:
            book.add(rel, "images listed twice, later ones skipped", f"image id {image_id!r} {key} (also in {taken[key]})")
            continue
        taken[key] = f"{rel} image id {image_id!r}"
        payload = CocoImage(rel, image_id, name, rec.get("width"), rec.get("height"), tuple(by_image[image_id]))
        items.append(Item(key=key, root=root_s, label_rel=source.rel, split=source.split, payload=payload))
    return items


def scan(root: Path) -> Dataset:
    """Read every annotation JSON once; one Item per usable image, sorted by key.

    Raises UsageError when there is no annotation file or one is not a COCO JSON object."""
    root = storage.location(root)
    notes: list[str] = []
    sources = _sources(root, notes)
    if not sources:
        raise UsageError(f"{root}: no COCO annotations found; expected annotations/*.json, "
                         f"<split>/{ROBOFLOW_JSON} or {' / '.join(ROOT_JSONS)}")
    layout = _Layout({}, {})
    book = _NoteBook()
    taken: dict[str, str] = {}
    items: list[Item] = []
    listing: set[str] | None = None  # every file below a remote root, listed once
    for source in sources:
        data = _read_json(source)
        if "annotations" not in data:
            notes.append(f"{source.rel}: no 'annotations' list; its images are read without labels")
        if "categories" not in data:
            notes.append(f"{source.rel}: no 'categories'; category ids are kept as numbers")
        _read_categories(data, source.rel, layout, notes)
        if listing is None and storage.is_remote(root):
            listing = set(storage.files(root))
        items += _items_of(root, source, data, book, taken, listing)
    notes += book.lines()
    kp = layout.keypoint_names
    schema = LabelSchema(
        names=dict(sorted(layout.names.items())),
        kpt_shape=(len(kp), 3) if kp else None,
        flip_idx=flip_index(kp) if kp else None,
        keypoint_names=kp,
        skeleton=layout.skeleton if kp else None,
        zero_based_ids=False,
    )
    items.sort(key=lambda it: it.key)
    return Dataset(schema, items, notes, book.problems)


# ------------------------------------------------------------------ load
def _is_int(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())


def _is_number(v: Any) -> bool:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # a whole number too large for a float
        return False


class _Reader:
    """Turns one image's annotations into Objects; every error names the JSON and the annotation."""

    def __init__(self, path: str, image_id: Any, schema: LabelSchema, size: tuple[int, int]):
        self.path, self.image_id, self.schema, self.size = path, image_id, schema, size
        self.warnings: list[str] = []
        self.aid: Any = None

    def fail(self, message: str) -> InputError:
        return InputError("bad-label", self.path, f"annotation {self.aid!r} (image id {self.image_id!r}): {message}")

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.path}: annotation {self.aid!r} (image id {self.image_id!r}): {message}")

    def numbers(self, values: Any, field: str) -> list[float]:
        if not isinstance(values, list):
            raise self.fail(f"{field} must be a list of numbers")
        for v in values:
            if not _is_number(v):
                raise self.fail(f"{field} holds {v!r}, which is not a finite number")
        return [float(v) for v in values]

    def objects(self, annotations: Iterable[dict[str, Any]]) -> Objects:
        classes, boxes, polygons, keypoints, attrs = [], [], [], [], []
        for ann in annotations:
            self.aid = ann.get("id")
            cls, box, poly, kp, attr = self.one(ann)
            classes.append(cls)
            boxes.append(box)
            polygons.append(poly)
            keypoints.append(kp)
            attrs.append(attr)
        n = len(classes)
        kpt = self.schema.kpt_shape
        kp_arr = np.array(keypoints, np.float64).reshape(n, kpt[0], 3) if kpt else None
        return Objects(np.array(classes, np.int64), np.array(boxes, np.float64).reshape(n, 4), polygons, kp_arr,
                       attrs=attrs)

    def one(self, ann: dict[str, Any]):
        cat = ann.get("category_id")
        if not _is_int(cat):
            raise self.fail(f"category_id {cat!r} is not a whole number")
        cat = int(cat)
        if self.schema.names and cat not in self.schema.names:
            raise self.fail(f"category_id {cat} is not in the categories ({', '.join(map(str, self.schema.names))})")
        crowd = ann.get("iscrowd", 0)
        if crowd not in (0, 1):
            raise self.fail(f"iscrowd must be 0 or 1, got {crowd!r}")
        box = None
        if ann.get("bbox") is not None:
            vals = self.numbers(ann["bbox"], "bbox")
            if len(vals) != 4:
                raise self.fail(f"bbox must be [x, y, width, height], got {len(vals)} numbers")
            x, y, bw, bh = vals
            if bw < 0 or bh < 0:
                raise self.fail(f"bbox width and height must not be negative, got {bw:g} x {bh:g}")
            box = np.array([x, y, x + bw, y + bh])
            if not (box[2] > box[0] and box[3] > box[1]):  # as YOLO's reader: an empty box labels nothing
                raise self.fail(f"bbox width and height must be positive, got {bw:g} x {bh:g}")
            self.check_inside(box, f"bbox [{x:g}, {y:g}, {bw:g}, {bh:g}]")
        poly, extent = self.segmentation(ann.get("segmentation"))
        from_segmentation = box is None
        if from_segmentation:
            if extent is None:
                raise self.fail("has neither a bbox nor a segmentation")
            ew, eh = extent[2] - extent[0], extent[3] - extent[1]
            if not (ew > 0 and eh > 0):
                raise self.fail(f"segmentation has zero width or height ({ew:g} x {eh:g} px: its points lie on "
                                "one line) and there is no bbox")
            self.check_inside(extent, "segmentation")
            box = extent
        box = self.clip_box(box)
        if poly is not None:
            clipped = self.clip_polygon(poly)
            if from_segmentation and clipped is None:  # its extent reaches the image, the shape does not
                w, h = self.size
                raise self.fail(f"segmentation lies wholly outside the {w}x{h} image" if g.polygon_area(poly) > 0
                                else "segmentation encloses no area (its points lie on one line) and there is no bbox")
            if from_segmentation and clipped is not poly:
                box = g.tight_box(clipped)  # the box of what is in view, not of the clipped extent
            poly = clipped
        kp = self.keypoints(ann.get("keypoints")) if self.schema.kpt_shape else None
        if kp is None and ann.get("keypoints") and not self.schema.kpt_shape:
            self.warn("keypoints ignored: no category names its keypoints")
        return cat, box, poly, kp, {"iscrowd": int(crowd), "coco_id": self.aid}

    def segmentation(self, seg: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(the object's polygon or None, the box around all its parts or None), pixels."""
        if seg is None or (isinstance(seg, (list, dict)) and not seg):
            return None, None
        if isinstance(seg, dict):
            return self.rle(seg)
        if not isinstance(seg, list):
            raise self.fail("segmentation must be a list of polygons or an RLE object")
        if all(_is_number(v) for v in seg):  # a bare flat polygon, as some exporters write it
            seg = [seg]
        parts = []
        for i, part in enumerate(seg):
            vals = self.numbers(part, f"segmentation[{i}]")
            if len(vals) % 2:
                raise self.fail(f"segmentation[{i}] has an odd number of coordinates ({len(vals)})")
            if len(vals) < 6:
                self.warn(f"segmentation[{i}] has fewer than 3 points; ignored")
                continue
            parts.append(np.array(vals).reshape(-1, 2))
        if not parts:
            return None, None
        extent = g.tight_box(np.concatenate(parts))
        return self.joined(parts, "polygon parts"), extent

    def rle(self, seg: dict[str, Any]) -> tuple[np.ndarray | None, np.ndarray | None]:
        w, h = self.size
        size = seg.get("size")
        whole = isinstance(size, (list, tuple)) and len(size) == 2 and all(_is_int(v) for v in size)
        if whole and list(size) != [h, w]:
            # checked before decoding: a size far larger than the image would exhaust memory (a size that is
            # no pair of whole numbers, e.g. ["480", "640"], is refused by rle_decode, which says so)
            raise self.fail(f"segmentation RLE size {list(size)} is not the image's size [{h}, {w}]")
        try:
            mask = rle_decode(seg)
        except ValueError as exc:
            raise self.fail(f"segmentation RLE: {exc}") from None
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            self.warn("segmentation RLE is empty; the object keeps its box only")
            return None, None
        extent = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
        regions = mask_to_polygons(mask)
        if not regions:
            return None, extent
        return self.joined(regions, "separate mask regions"), extent

    def joined(self, parts: list[np.ndarray], what: str) -> np.ndarray:
        """All parts as one polygon (zero-width bridges between them): nothing of the object is lost."""
        return parts[0] if len(parts) == 1 else g.join_parts(parts)

    def outside(self, points: np.ndarray) -> float:
        """How far (pixels) the furthest point lies outside the image."""
        w, h = self.size
        if points.size == 0:
            return 0.0
        return float(max(0.0, -points[:, 0].min(), -points[:, 1].min(), points[:, 0].max() - w, points[:, 1].max() - h))

    def check_inside(self, box: np.ndarray, what: str) -> None:
        """Raise for a box with no part inside the image (touching an edge from outside counts as
        outside), as VOC's reader does: clipping it would leave an empty box."""
        w, h = self.size
        if box[2] <= 0 or box[3] <= 0 or box[0] >= w or box[1] >= h:
            raise self.fail(f"{what} lies wholly outside the {w}x{h} image")

    def clip_box(self, box: np.ndarray) -> np.ndarray:
        w, h = self.size
        far = self.outside(box.reshape(2, 2))
        if far > CLIP_TOLERANCE:
            self.warn(f"bbox reaches {far:.1f} px outside the {w}x{h} image; clipped")
        return np.clip(box, 0.0, [w, h, w, h])

    def clip_polygon(self, poly: np.ndarray) -> np.ndarray | None:
        w, h = self.size
        far = self.outside(poly)
        if far == 0.0:
            return poly
        if far > CLIP_TOLERANCE:
            self.warn(f"segmentation reaches {far:.1f} px outside the {w}x{h} image; clipped")
        clipped = g.clip_outline(poly, w, h)
        return clipped if len(clipped) >= 3 and g.polygon_area(clipped) > 0 else None  # None: nothing inside

    def keypoints(self, raw: Any) -> np.ndarray:
        k = self.schema.kpt_shape[0]
        if raw is None or raw == []:
            return np.zeros((k, 3))
        vals = self.numbers(raw, "keypoints")
        if len(vals) != 3 * k:
            raise self.fail(f"keypoints must hold {3 * k} numbers ({k} x [x, y, v]), got {len(vals)}")
        kp = np.array(vals).reshape(k, 3)
        if np.any(~np.isin(kp[:, 2], (0.0, 1.0, 2.0))):
            raise self.fail("keypoint visibility v must be 0, 1 or 2")
        kp[kp[:, 2] == 0, :2] = 0.0
        w, h = self.size
        labelled = kp[:, 2] > 0
        far = (kp[:, 0] < -CLIP_TOLERANCE) | (kp[:, 1] < -CLIP_TOLERANCE) | (kp[:, 0] > w + CLIP_TOLERANCE) | (
            kp[:, 1] > h + CLIP_TOLERANCE)
        if np.any(labelled & far):
            self.warn(f"{int((labelled & far).sum())} keypoint(s) outside the {w}x{h} image marked not labelled (v = 0)")
            kp[labelled & far] = 0.0
        kp[:, :2] = np.clip(kp[:, :2], 0.0, [w, h])
        return kp


def annotations_to_objects(annotations: Iterable[dict[str, Any]], schema: LabelSchema, size: tuple[int, int],
                           path: str, image_id: Any = None) -> tuple[Objects, list[str]]:
    """COCO annotations of one image -> Objects in pixels for an image of `size` (width, height),
    and warnings. Raises InputError('bad-label', path, ...) naming the annotation id."""
    reader = _Reader(path, image_id, schema, size)
    return reader.objects(annotations), reader.warnings


def _listed_size(info: CocoImage) -> tuple[Any, Any]:
    """The record's (width, height) in pixels, as whole numbers where they are numbers: some exporters
    write them as text ("640") or floats (640.0), which name the same size as the file's 640."""
    def whole(v: Any) -> Any:
        if isinstance(v, str) and v.strip().isdigit():
            return int(v)
        return int(v) if _is_int(v) else v
    return whole(info.width), whole(info.height)


def load(item: Item, schema: LabelSchema, max_pixels: int) -> Loaded:
    info = item.payload
    if not isinstance(info, CocoImage):
        raise InputError("bad-label", item.key, "no COCO record for this image (was it scanned by the coco format?)")
    data, image = read_image_file(item.image, item.key, max_pixels)
    k = decoded_factor(data, image)  # 1, or a reduced decode's factor: labels are read at the file's size
    size = (int(image.shape[1]) * k, int(image.shape[0]) * k)
    warnings = []
    if (info.width, info.height) != (None, None) and _listed_size(info) != size:
        warnings.append(f"{info.json}: image id {info.image_id!r} ({item.key}) is listed as "
                        f"{info.width}x{info.height} but the file is {size[0]}x{size[1]}; using the file's size")
    objects, more = annotations_to_objects(info.annotations, schema, size, info.json, info.image_id)
    if k > 1:
        objects = objects.scaled(1.0 / k)
    return Loaded(Sample(image, objects, schema), data, warnings + more)


# ------------------------------------------------------------------ writing
def _r(v: float) -> float:
    return round(float(v), DECIMALS) + 0.0  # + 0.0: no "-0.0" in the JSON


def category_id(cls: int, schema: LabelSchema) -> int:
    """The COCO category id of class `cls`: 0-based schemas count from 1 in COCO."""
    return int(cls) + 1 if schema.zero_based_ids else int(cls)


def objects_to_annotations(objects: Objects, schema: LabelSchema) -> list[dict[str, Any]]:
    """Objects in pixels -> COCO annotation dicts without ids (finalize numbers them)."""
    out = []
    for i in range(len(objects)):
        x1, y1, x2, y2 = (float(v) for v in objects.boxes[i])
        poly = objects.polygons[i]
        has_poly = poly is not None and len(poly) >= 3
        area = g.polygon_area(poly) if has_poly else g.box_area(objects.boxes[i])
        bbox = [_r(x1), _r(y1), _r(x2 - x1), _r(y2 - y1)]
        if bbox[2] <= 0 or bbox[3] <= 0:  # thinner than DECIMALS keeps: every digit, not an empty box
            bbox, area = [x1 + 0.0, y1 + 0.0, x2 - x1, y2 - y1], float(area)
        else:
            area = _r(area)
        ann: dict[str, Any] = {
            "category_id": category_id(int(objects.classes[i]), schema),
            "bbox": bbox,
            "area": area,
            "iscrowd": 1 if objects.attrs[i].get("iscrowd") else 0,
        }
        if has_poly:
            ann["segmentation"] = [[_r(v) for v in np.asarray(poly, np.float64).ravel()]]
        if schema.kpt_shape and objects.keypoints is not None:
            kp = objects.keypoints[i]
            ann["keypoints"] = [c for x, y, v in kp for c in (_r(x), _r(y), int(v))]
            ann["num_keypoints"] = int((kp[:, 2] > 0).sum())
        out.append(ann)
    return out


def annotation_file(split: str | None) -> str:
    return f"annotations/instances_{split}.json" if split else "annotations/instances.json"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _tmp_path(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{tag}{TMP_MARK}")


class _SplitFile:
    """One output JSON being streamed: images and annotations go to two temporary files, then are
    joined into the final file under a temporary name and renamed into place."""

    def __init__(self, path: Path):
        self.path = path
        if storage.is_remote(path):  # built in a local scratch folder, then put as one object
            import tempfile

            self._scratch = tempfile.TemporaryDirectory(prefix="augcli-coco-")
            local = Path(self._scratch.name) / path.name
        else:
            self._scratch = None
            local = path
            path.parent.mkdir(parents=True, exist_ok=True)
        self.parts = [_tmp_path(local, "images"), _tmp_path(local, "annotations"), _tmp_path(local, "json")]
        self.images = open(self.parts[0], "w", encoding="utf-8")
        try:
            self.annotations = open(self.parts[1], "w", encoding="utf-8")
        except BaseException:  # (a Ctrl-C too) the caller never gets this object to discard: clean up here
            self.images.close()
            Path(self.parts[0]).unlink(missing_ok=True)
            raise
        self.n_images = 0
        self.n_annotations = 0

    def add(self, payload: dict[str, Any], segments: bool = False) -> set[int]:
        """Append one image and its annotations; with `segments`, an annotation without a
        segmentation gets its box as a four-corner polygon (see Writer.finalize)."""
        self.n_images += 1
        image = {"id": self.n_images, "file_name": payload["file_name"],
                 "width": payload["width"], "height": payload["height"]}
        self.images.write(("," if self.n_images > 1 else "") + _dumps(image))
        cats = set()
        for ann in payload["annotations"]:
            self.n_annotations += 1
            rec = {"id": self.n_annotations, "image_id": self.n_images, **ann}
            if segments and "segmentation" not in rec:
                x, y, w, h = rec["bbox"]
                rec["segmentation"] = [[x, y, _r(x + w), y, _r(x + w), _r(y + h), x, _r(y + h)]]
            self.annotations.write(("," if self.n_annotations > 1 else "") + _dumps(rec))
            cats.add(int(ann["category_id"]))
        return cats

    def commit(self, categories: list[dict[str, Any]]) -> None:
        self.close()
        final_tmp = self.parts[2]
        with open(final_tmp, "wb") as out:
            out.write(b'{"info":{"description":"written by augcli"},"licenses":[],"images":[')
            with open(self.parts[0], "rb") as f:
                shutil.copyfileobj(f, out)
            out.write(b'],"annotations":[')
            with open(self.parts[1], "rb") as f:
                shutil.copyfileobj(f, out)
            out.write(b'],"categories":' + _dumps(categories).encode() + b"}\n")
        if self._scratch is not None:
            storage.put_file(final_tmp, self.path)
        else:
            os.replace(final_tmp, self.path)

    def close(self) -> None:
        self.images.close()
        self.annotations.close()

    def discard(self) -> None:
        self.close()
        for p in self.parts:
            p.unlink(missing_ok=True)
        if self._scratch is not None:
            self._scratch.cleanup()


def keypoint_names(schema: LabelSchema) -> list[str]:
    """The names written in a category's `keypoints`: the input's own names (COCO), else names
    made to carry `flip_idx` in the convention flip_index reads back: a pair i <-> j (i < j)
    becomes left_kp<i> / right_kp<i>, a keypoint the mirror keeps (or any, without flip_idx)
    kp<i>. Raises UsageError for a flip_idx such names cannot say (not a set of pairs)."""
    k = schema.kpt_shape[0]
    if schema.keypoint_names:
        return list(schema.keypoint_names)
    flip = list(schema.flip_idx) if schema.flip_idx else list(range(k))
    if sorted(flip) != list(range(k)) or any(flip[j] != i for i, j in enumerate(flip)):
        raise UsageError(f"flip_idx {flip} (data.yaml) is not a set of left/right pairs (flip_idx[flip_idx[i]] "
                         f"must be i for keypoints 0..{k - 1}): a mirror done twice would not give the "
                         "keypoints back, and COCO keypoint names cannot say it; fix flip_idx")
    names = []
    for i, j in enumerate(flip):
        names.append(f"kp{i}" if i == j else f"left_kp{i}" if i < j else f"right_kp{j}")
    return names


class Writer:
    """images/<split>/<name>, and annotations/instances_<split>.json at the end."""

    def __init__(self, out_root: Path, schema: LabelSchema):
        self.root = storage.location(out_root)
        self.schema = schema
        self.keypoint_names = keypoint_names(schema) if schema.kpt_shape else None  # refused here, before any work

    @staticmethod
    def _image_relpath(item: Item, suffix: str, ext: str) -> tuple[str, str]:
        """(images/<split>/<file name>, file name) of an output."""
        split = canonical_split(item.split)
        name = item.payload.file_name if isinstance(item.payload, CocoImage) else name_in_split(item.key)
        file_name = with_suffix_name(name, suffix, ext)
        return str(PurePosixPath("images", split, file_name) if split else PurePosixPath("images", file_name)), file_name

    def stem(self, item: Item, image_class: int | None = None) -> str | None:
        """The output path of `item`'s original without its extension; two inputs with the same
        stem would overwrite each other's outputs (the run refuses the second)."""
        return self._image_relpath(item, "", "")[0]

    def write(self, item: Item, suffix: str, ext: str, image_data: bytes, sample: Sample) -> Written:
        image_rel, file_name = self._image_relpath(item, suffix, ext)
        objects = written_objects(sample)  # a mask dataset's regions when it has no objects
        b = objects.boxes
        empty = np.flatnonzero(~((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])))
        if len(empty):  # readers refuse them and filter_objects drops them: never write one
            i = int(empty[0])
            raise InputError("bad-label", item.key, f"object {i + 1} ({self.schema.class_name(objects.classes[i])}) "
                             f"has an empty box {[round(float(v), 6) for v in b[i]]}; not written")
        payload = {"file_name": file_name, "width": sample.size[0], "height": sample.size[1],
                   "annotations": objects_to_annotations(objects, self.schema)}
        atomic_write_bytes(self.root / image_rel, image_data)
        return Written({"image": image_rel}, payload, derived_objects=derived_objects(objects, sample))

    def categories(self, seen: set[int]) -> list[dict[str, Any]]:
        """The schema's categories (ids as written), plus any id seen without a name."""
        names = {category_id(k, self.schema): v for k, v in self.schema.names.items()}
        offset = 1 if self.schema.zero_based_ids else 0
        for cid in seen - set(names):
            names[cid] = str(cid - offset)
        out = []
        kpt = self.schema.kpt_shape
        for cid, name in sorted(names.items()):
            cat: dict[str, Any] = {"id": cid, "name": name}
            if kpt:
                cat["keypoints"] = list(self.keypoint_names)
                cat["skeleton"] = [[a + 1, b + 1] for a, b in (self.schema.skeleton or ())]
            out.append(cat)
        return out

    def finalize(self, entries: Iterable[dict[str, Any]]) -> None:
        """Stream `entries` (in input order) into one JSON per split; ids are 1..N in that order.

        When any annotation of the dataset has a segmentation, every one gets one (a box-only object
        its box's four corners, the same area): Detectron2 and MMDetection train masks from every
        annotation's `segmentation` and fail on one without it, and COCOeval's segm evaluation too.
        `entries` may be gone over twice."""
        files: dict[str | None, _SplitFile] = {}
        seen: set[int] = set()
        segments = any("segmentation" in ann for entry in entries
                       for ann in (entry.get("payload") or {}).get("annotations", ()))
        try:
            for entry in entries:
                payload = entry.get("payload")
                if not isinstance(payload, dict):
                    raise ValueError(f"{entry.get('image')}: no COCO payload from the writer")
                split = canonical_split(entry.get("split"))
                if split not in files:
                    files[split] = _SplitFile(self.root / annotation_file(split))
                seen |= files[split].add(payload, segments)
            categories = self.categories(seen)
            for f in files.values():
                f.commit(categories)
            # a split's file left by an earlier run (a --resume after every input of that split was
            # deleted) would go on listing images that are no longer part of the dataset
            written = {annotation_file(split).rpartition("/")[2] for split in files}
            folder = self.root / "annotations"
            if folder.is_dir():
                for old in folder.glob("instances*.json"):
                    if old.name not in written:
                        old.unlink(missing_ok=True)
        finally:
            for f in files.values():
                f.discard()

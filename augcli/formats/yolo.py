"""Ultralytics YOLO: detect (`cls cx cy w h`), segment (`cls x1 y1 ... xn yn`) and pose
(`cls cx cy w h x1 y1 [v1] ...`, layout from data.yaml `kpt_shape` / `flip_idx`).

Coordinates are normalised to [0, 1]. Labels live in `labels/` mirroring `images/`
(the last `images` path component replaced by `labels`, extension .txt), or beside the
images in a flat folder. Class names come from data.yaml `names` (list or dict), or a
`classes.txt` (labelImg / Label Studio), or neither (numeric ids kept).
"""
from __future__ import annotations

import math
import os
import posixpath
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Iterator

import numpy as np

from augcli import geometry as g
from augcli import storage
from augcli.errors import InputError, UsageError
from augcli.formats.base import (
    SPLIT_NAMES, Dataset, Item, Loaded, Written, canonical_split, is_plain, name_in_split, posix_parts,
    whole_number, with_suffix_name,
)
from augcli.formats.images import file_within, image_beside
from augcli.formats.table import HashIndex, ItemTableBuilder
from augcli.imageio import MAX_LABEL_FILE_BYTES, atomic_write_bytes, is_image_name, read_file, read_image_file
from augcli.sample import LabelSchema, Objects, Sample, derived_objects, written_objects

NAME = "yolo"
# labels are fractions of the image size: load() gives them exactly in the pixels of a JPEG decoded
# at a reduced size (augcli.imageio.reduced_decoding)
REDUCED_DECODE = True
TOLERANCE = 0.01  # normalised coordinates this far outside [0, 1] are clipped with a warning
ROUNDING = 1e-5  # box edges (cx -+ w/2) this close to [0, 1] are rounding noise of 6-decimal text: clipped silently
_YAML_NAMES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")
TRAIN_LIST = "train.txt"  # data.yaml's train as an image list, when no folder holds just those images
_CLASS_FILES = ("classes.txt", "labels/classes.txt", "obj.names", *(f"{s}/_darknet.labels" for s in SPLIT_NAMES))
_DARKNET_FILES = ("obj.data", "obj.names")  # darknet's dataset files (CVAT YOLO 1.1): this is a YOLO dataset
DARKNET_LABELS = "_darknet.labels"  # Roboflow's "YOLO Darknet" export: one name a line, in each split folder


# ------------------------------------------------------------------ layout
def label_relpath(image_rel: str) -> str:
    """images/train/a.jpg -> labels/train/a.txt; a.jpg (flat) -> a.txt."""
    plain = is_plain(image_rel)
    parts = posix_parts(image_rel)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    if not plain:
        return str(PurePosixPath(*parts).with_suffix(".txt"))
    name = parts[-1]
    dot = name.rfind(".")
    parts[-1] = (name[:dot] if 0 < dot < len(name) - 1 else name) + ".txt"  # what with_suffix does
    return "/".join(parts)


def _split_of(image_rel: str) -> str | None:
    parts = posix_parts(image_rel)[:-1]
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            if i + 1 < len(parts) and parts[i + 1] in SPLIT_NAMES:
                return parts[i + 1]
            if i > 0 and parts[i - 1] in SPLIT_NAMES:
                return parts[i - 1]
            return None
    return None


def _entry_rel(entry: str) -> str | None:
    """A data.yaml split entry as a path relative to the dataset root, or None when it leads
    outside it. Leading `./` and `../` are dropped (Roboflow writes `../train/images` beside
    `train/`); an absolute path, or one with `..` further in, is not inside the input."""
    text = entry.strip().replace("\\", "/")
    parts = [p for p in PurePosixPath(text).parts if p != "."]
    while parts and parts[0] == "..":
        parts = parts[1:]
    if not parts or PurePosixPath(text).is_absolute() or ".." in parts:
        return None
    return "/".join(parts)


def _list_images(root: Path, rel: str) -> list[str] | None:
    """The images an image-list .txt (one path a line: Ultralytics, darknet) at `rel` names, as
    paths relative to the root; None when it is no readable file. As in Ultralytics, a line
    starting `./` is relative to the list's folder; other relative lines are taken relative to
    the dataset root (Ultralytics leaves them to its working folder, which is unknown here);
    absolute lines count when they lie inside the root. Lines leading outside it are left out."""
    path = root / rel
    try:
        raw = read_file(str(path) if storage.is_remote(root) else path, rel, "bad-list", MAX_LABEL_FILE_BYTES)
        text = raw.decode("utf-8-sig")
    except (InputError, UnicodeDecodeError):
        return None
    parent = rel.rpartition("/")[0]
    prefixes = {str(root).replace("\\", "/").rstrip("/") + "/"}
    if not storage.is_remote(root):
        prefixes.add(os.path.abspath(root).replace("\\", "/").rstrip("/") + "/")
    out = []
    for line in text.splitlines():
        line = line.strip().replace("\\", "/")
        if not line:
            continue
        if line.startswith("./"):
            line = f"{parent}/{line[2:]}" if parent else line[2:]
        elif line.startswith("/") or storage.is_remote(line):
            inside = next((p for p in prefixes if line.startswith(p)), None)
            if inside is None:
                continue
            line = line[len(inside):]
        norm = posixpath.normpath(line)
        if norm in (".", "..") or norm.startswith(("../", "/")):
            continue
        out.append(norm)
    return out


def yaml_splits(data: dict[str, Any], root: Path) -> tuple[list[tuple[str, str]], dict[str, str], list[str]]:
    """The splits data.yaml gives for `train`, `val` and `test`: (image folders relative to the root
    with their split, longest first; {image path relative to the root: split} from the image-list
    .txt files it names; notes on unusable entries).

    A split entry is a folder, an image-list .txt file (see _list_images) or a list of those,
    relative to the dataset root (Ultralytics resolves them against `path`, which names that
    root). Entries that lead nowhere inside the input are left out with a note: those images get
    their split from their folder names (images/train, train/images). A folder named for two
    splits decides none, and so does an image listed for two splits (the same list named twice,
    or two lists): those images too get their split from the folders, then the folder names."""
    found: dict[str, set[str]] = {}
    lists: dict[str, set[str]] = {}  # image list -> the splits naming it
    contents: dict[str, list[str]] = {}  # image list -> its images, read once
    notes: list[str] = []
    for key, value in data.items():
        split = canonical_split(key) if isinstance(key, str) else None
        if split not in ("train", "val", "test") or value is None:
            continue
        for entry in value if isinstance(value, list) else [value]:
            if not isinstance(entry, str) or not entry.strip():
                continue
            rel = _entry_rel(entry)
            if rel is not None and rel.endswith(".txt") and rel not in contents:
                images = _list_images(root, rel)
                if images is not None:
                    contents[rel] = images
            if rel in contents:
                lists.setdefault(rel, set()).add(split)
                continue
            if rel is not None and (root / rel).is_dir():
                found.setdefault(rel, set()).add(split)
                continue
            notes.append(f"data.yaml: {key}: {entry!r} is not an image folder inside the input "
                         "(nor a readable image list there); splits come from folder names "
                         "(images/train, train/images) instead")
    # a folder named for two splits (`train: images`, `val: images`: no separate val) decides none
    folders = [(rel, splits.pop()) for rel, splits in found.items() if len(splits) == 1]
    listed: dict[str, str] = {}
    twice: set[str] = set()
    for rel, splits in lists.items():
        for split in splits:
            for image in contents[rel]:
                if listed.setdefault(image, split) != split:
                    twice.add(image)
    for image in twice:
        del listed[image]
    return sorted(folders, key=lambda f: -len(f[0])), listed, notes


def split_of(image_rel: str, folders: list[tuple[str, str]], listed: dict[str, str] | None = None) -> str | None:
    """An image's split: from the data.yaml image list naming it, else from the data.yaml folder
    holding it (see yaml_splits), else from the folder names around `images`."""
    if listed:
        split = listed.get(image_rel)
        if split is not None:
            return split
    for folder, split in folders:
        if image_rel.startswith(folder + "/"):
            return split
    return _split_of(image_rel)


def detect(root: Path) -> float:
    """labels/ beside images/ (at the root or under split folders) is YOLO; so are .txt files beside
    images, and a darknet obj.data / obj.names at the root (CVAT's "YOLO 1.1" export keeps images
    and their .txt files in obj_<subset>_data/ folders, which would otherwise look like class folders)."""
    if not root.is_dir():
        return 0.0
    for base in [root, *(root / s for s in SPLIT_NAMES)]:
        if (base / "labels").is_dir() and (base / "images").is_dir():
            return 0.9
    if any((root / name).is_file() for name in _DARKNET_FILES):
        return 0.8
    has_txt = has_image = False
    for n in storage.entry_names(root):
        has_txt = has_txt or (n.endswith(".txt") and n != "classes.txt")
        has_image = has_image or is_image_name(n)
        if has_txt and has_image:
            return 0.6
    for split in SPLIT_NAMES:  # Roboflow's "YOLO Darknet": train/a.jpg beside train/a.txt, train/_darknet.labels
        if (root / split).is_dir() and _labelled_beside(root / split):
            return 0.6
    return 0.0


def _labelled_beside(folder: Path) -> bool:
    """Whether `folder` holds darknet's `_darknet.labels` or an image beside a .txt of the same stem
    (stricter than at the root: a split folder of images may well hold a stray notes.txt)."""
    return (folder / DARKNET_LABELS).is_file() or image_beside(folder, "txt")


# ------------------------------------------------------------------ schema
def _read_yaml(path: Path) -> dict[str, Any] | None:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def read_schema(root: Path) -> tuple[LabelSchema, list[str], dict[str, Any]]:
    """Class names and keypoint layout; returns (schema, notes, the raw data.yaml or {})."""
    notes: list[str] = []
    found = [n for n in storage.entry_names(root) if n.endswith((".yaml", ".yml"))]  # what glob('*.yaml') matches
    candidates = [root / n for n in _YAML_NAMES] + sorted(root / n for n in found if n.endswith(".yaml")) + \
        sorted(root / n for n in found if n.endswith(".yml"))
    for path in candidates:
        if not path.is_file():
            continue
        data = _read_yaml(path)
        if data is None or "names" not in data:
            continue
        names = data["names"]
        if isinstance(names, list):  # an empty entry (`- ` or null) keeps its index as its name, not 'None'
            names = {i: str(i) if n is None else str(n) for i, n in enumerate(names)}
        elif isinstance(names, dict) and all(whole_number(k) for k in names):
            names = {int(k): str(k) if v is None else str(v) for k, v in names.items()}
        else:
            notes.append(f"{path.name}: `names` must be a list or a mapping from class index to name; ignoring it")
            names = {}
        kpt = data.get("kpt_shape")
        kpt_shape = None
        if kpt is not None:
            if isinstance(kpt, list) and len(kpt) == 2 and all(whole_number(v) for v in kpt) and int(kpt[1]) in (2, 3):
                kpt_shape = (int(kpt[0]), int(kpt[1]))
            else:
                notes.append(f"{path.name}: kpt_shape {kpt!r} must be [K, 2] or [K, 3]; treating the data as boxes")
        flip = data.get("flip_idx")
        flip_idx = None
        if flip is not None:
            if isinstance(flip, list) and all(whole_number(v) for v in flip):
                flip_idx = tuple(int(i) for i in flip)
            else:
                notes.append(f"{path.name}: flip_idx {flip!r} must be a list of keypoint indices; ignoring it")
        if kpt_shape and flip_idx and sorted(flip_idx) != list(range(kpt_shape[0])):
            notes.append(f"{path.name}: flip_idx is not a permutation of 0..{kpt_shape[0] - 1}; ignoring it")
            flip_idx = None
        return LabelSchema(names, kpt_shape, flip_idx), notes, data
    for rel in _CLASS_FILES:
        path = root / rel
        if path.is_file():
            names = _names_file(path)
            if rel.endswith(DARKNET_LABELS):  # Roboflow gives each split its own list: one list is used for all
                for other in _CLASS_FILES:
                    if other.endswith(DARKNET_LABELS) and other != rel and (root / other).is_file() \
                            and _names_file(root / other) != names:
                        raise UsageError(f"{root / other}: its class names differ from {rel}'s, and one list "
                                         "numbers the classes of every split: the objects of one split would get "
                                         "the other's names; make the lists the same")
            return LabelSchema(names), notes, {}
    notes.append(f"{root}: no data.yaml with `names` and no classes.txt; class ids are kept as numbers")
    return LabelSchema(), notes, {}


def _names_file(path: Path) -> dict[int, str]:
    """Class names, line i naming class i (darknet's obj.names, labelImg's classes.txt): a blank line
    inside the list is an id without a name, not a reason to renumber every class after it."""
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8-sig").strip("\r\n").splitlines()]
    return {i: n for i, n in enumerate(lines) if n}


def scan(root: Path) -> Dataset:
    """Every image below the root (only those below an `images` folder when there are any), each
    labelled by its mirrored .txt. Images that share one label file (a.jpg, a.png) and label files
    with no image are reported as problems; so are links leading outside the input.

    Nothing per file is held but the table: the label paths are derived from the keys when needed,
    and found twice or missing through hashes (augcli.formats.table.HashIndex)."""
    schema, notes, data = read_schema(root)
    folders, listed, split_notes = yaml_splits(data, root)
    notes += split_notes
    problems: list[tuple[str, str, str]] = []
    real_root = None if storage.is_remote(root) else os.path.realpath(root)  # no links in object stores
    builder = ItemTableBuilder(str(root), label_relpath)
    under_images = bytearray()  # per image added: is it below an `images` folder?
    links: list[tuple[str, bool]] = []  # linked files are checked once the layout is known: rare
    visible_not_labels = lambda rel, d, link: not d.startswith(".") and d != "labels"  # noqa: E731
    for rel_dir, name, is_link in storage.walk_files(root, visible_not_labels):
        if not is_image_name(name) or name.startswith("."):
            continue
        rel = f"{rel_dir}/{name}" if rel_dir else name
        in_images = "images" in rel_dir.split("/")
        if is_link and real_root:
            links.append((rel, in_images))
        else:
            builder.add(rel, split_of(rel, folders, listed) or (None if in_images else _flat_split(rel)))
            under_images.append(in_images)
    layout = any(under_images) or any(flag for _, flag in links)  # then images elsewhere are not the dataset's
    outside = []
    for rel, in_images in links:
        if layout and not in_images:
            continue
        if os.path.commonpath([real_root, os.path.realpath(root / rel)]) != real_root:
            outside.append((rel, "outside-input", f"{rel}: a link leading outside the input folder; not read"))
        else:
            builder.add(rel, split_of(rel, folders, listed) or (None if in_images else _flat_split(rel)))
            under_images.append(in_images)
    problems += sorted(outside)
    items = builder.build(keep=np.frombuffer(bytes(under_images), np.uint8) if layout else None)
    del under_images
    # a.jpg and a.png both labelled by a.txt: whose labels are they? Neither: both are reported.
    labels = HashIndex.of((label_relpath(key) for key in items.keys()), len(items))
    label_at = lambda i: label_relpath(items.key(i))  # noqa: E731
    sharing: dict[int, list[int]] = {}  # the first image of a shared label file -> every image of it
    for i, first in labels.repeats(label_at):
        sharing.setdefault(first, [first]).append(i)
    shared = sorted((i, group) for group in sharing.values() for i in group)
    for i, group in shared:
        rel, label = items.key(i), label_at(i)
        others = ", ".join(items.key(j) for j in group if j != i)
        problems.append((rel, "stem-collision", f"{rel}: shares its label file {label} with {others}; rename one"))
    orphans = [label for label in _label_files(root) if labels.first(label, label_at) is None]
    for label in sorted(orphans):
        problems.append((label, "label-without-image", f"{label}: label file with no image of the same name"))
    if shared:
        keep = np.ones(len(items), bool)
        keep[[i for i, _ in shared]] = False
        items = items.select(keep)
    return Dataset(schema, items, notes, problems)


def _flat_split(image_rel: str) -> str | None:
    """The split of an image in a flat layout (labels beside images): its top folder when that is
    a split name (train/a.jpg: Roboflow's "YOLO Darknet"), else None. Images outside `images`
    folders are only read when there are no such folders, so this never overrides a layout's split."""
    first, sep, _ = image_rel.partition("/")
    return first if sep and first in SPLIT_NAMES else None


def _label_files(root: Path) -> Iterator[str]:
    """Label files under labels/ folders (the mirrored layout only: in a flat folder every .txt
    beside images could be notes), in no particular order."""
    for rel, name, _ in storage.walk_files(root, lambda rel, d, link: not d.startswith(".")):
        if name.endswith(".txt") and name != "classes.txt" and not name.startswith(".") and "labels" in rel.split("/"):
            yield f"{rel}/{name}"


# ------------------------------------------------------------------ reading labels
def _numbers(tokens: list[str], path: str, lineno: int) -> list[float]:
    out = []
    for t in tokens:
        try:
            v = float(t)
        except ValueError:
            raise InputError("bad-label", path, f"{t!r} is not a number", lineno) from None
        if not math.isfinite(v):
            raise InputError("bad-label", path, f"non-finite value {t}", lineno)
        out.append(v)
    return out


def _clip_unit(values: np.ndarray, path: str, lineno: int, warnings: list[str]) -> np.ndarray:
    if values.size and (values.min() < -TOLERANCE or values.max() > 1 + TOLERANCE):
        bad = values.min() if values.min() < -TOLERANCE else values.max()
        raise InputError("bad-label", path, f"coordinate {bad:g} is outside [0, 1] (normalised)", lineno)
    if values.size and (values.min() < 0 or values.max() > 1):
        warnings.append(f"{path}:{lineno}: coordinates slightly outside [0, 1] clipped")
        values = np.clip(values, 0.0, 1.0)
    return values


def parse_labels(text: str, path: str, schema: LabelSchema, size: tuple[int, int]) -> tuple[Objects, list[str]]:
    """Parse a YOLO label file into pixel-coordinate Objects for an image of `size` (width, height).

    Raises InputError naming path:line for a malformed line."""
    w, h = size
    warnings: list[str] = []
    classes, boxes, polygons, keypoints = [], [], [], []
    kpt = schema.kpt_shape
    for lineno, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        tokens = raw.split()
        if not tokens:
            continue
        try:
            cls_f = float(tokens[0])
        except ValueError:
            raise InputError("bad-label", path, f"class id {tokens[0]!r} is not a number", lineno) from None
        if not math.isfinite(cls_f) or cls_f != int(cls_f) or cls_f < 0:
            raise InputError("bad-label", path, f"class id {tokens[0]!r} is not a non-negative whole number", lineno)
        cls = int(cls_f)
        if schema.names and cls not in schema.names:
            raise InputError("bad-label", path, f"class id {cls} is not in the dataset's names (0..{max(schema.names)})", lineno)
        vals = _numbers(tokens[1:], path, lineno)
        n = len(vals)
        if kpt:
            k, d = kpt
            if n != 4 + k * d:
                raise InputError("bad-label", path, f"expected {5 + k * d} columns (cls cx cy w h + {k}x{d} keypoints), got {n + 1}", lineno)
        elif n != 4 and (n < 6 or n % 2):
            raise InputError("bad-label", path, f"expected 5 columns (cls cx cy w h) or a polygon (cls x1 y1 x2 y2 x3 y3 ...), got {n + 1}", lineno)
        polygon = None
        if kpt or n == 4:
            cx, cy, bw, bh = vals[:4]
            if bw <= 0 or bh <= 0:
                raise InputError("bad-label", path, f"box width and height must be positive, got {bw:g} x {bh:g}", lineno)
            _clip_unit(np.array([cx, cy, bw, bh]), path, lineno, warnings)
            edges = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
            if edges.min() < -ROUNDING or edges.max() > 1 + ROUNDING:
                edges = _clip_unit(edges, path, lineno, warnings)
            box = np.clip(edges, 0.0, 1.0) * [w, h, w, h]
        else:
            pts = _clip_unit(np.array(vals).reshape(-1, 2), path, lineno, warnings) * [w, h]
            polygon = pts
            box = np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()])
        if not (box[2] > box[0] and box[3] > box[1]):  # e.g. a thin box just past the edge, clipped to it
            raise InputError("bad-label", path, f"{'box' if polygon is None else 'polygon'} has zero width or height "
                             f"inside the image ({box[2] - box[0]:g} x {box[3] - box[1]:g} px)", lineno)
        if kpt:
            k, d = kpt
            arr = np.array(vals[4:]).reshape(k, d)
            if d == 3:
                v = arr[:, 2]
                if np.any(~np.isin(v, (0.0, 1.0, 2.0))):
                    raise InputError("bad-label", path, "keypoint visibility must be 0, 1 or 2", lineno)
            else:
                v = np.where((arr[:, 0] == 0) & (arr[:, 1] == 0), 0.0, 2.0)
            xy = _clip_unit(arr[:, :2], path, lineno, warnings) * [w, h]
            xy[v == 0] = 0.0
            keypoints.append(np.concatenate([xy, v[:, None]], axis=1))
        classes.append(cls)
        boxes.append(box)
        polygons.append(polygon)
    n_obj = len(classes)
    kp_arr = None
    if kpt:
        kp_arr = np.array(keypoints).reshape(n_obj, kpt[0], 3)
    return Objects(np.array(classes, dtype=np.int64), np.array(boxes).reshape(n_obj, 4), polygons, kp_arr), warnings


def load(item: Item, schema: LabelSchema, max_pixels: int) -> Loaded:
    data, image = read_image_file(item.image, item.key, max_pixels)
    size = (image.shape[1], image.shape[0])
    if item.label and storage.lexists(item.label):  # read_file refuses FIFOs, folders, loops
        if not storage.is_remote(item.root) and not file_within(item.label, item.root):
            # a linked labels/ folder or label file leading out of the input: never read (as images)
            raise InputError("bad-label", label_rel(item), "label file resolves outside the input folder; not read")
        raw = read_file(item.label, label_rel(item), "bad-label", MAX_LABEL_FILE_BYTES)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError("bad-label", label_rel(item), f"label file is not UTF-8 text ({exc.reason})") from None
        objects, warnings = parse_labels(text, label_rel(item), schema, size)
    else:
        objects, warnings = Objects.empty(schema.kpt_shape[0] if schema.kpt_shape else None), []
    return Loaded(Sample(image, objects, schema), data, warnings)


def label_rel(item: Item) -> str:
    return label_relpath(item.key)


# ------------------------------------------------------------------ writing
def _f(v: float) -> str:
    return f"{v:.6f}"


def class_indices(schema: LabelSchema) -> dict[int, int] | None:
    """YOLO needs class indices 0..n-1: a schema whose ids are not exactly that (COCO ids,
    mask values) is mapped by sorted id. None = ids are used as they are."""
    ids = sorted(schema.names)
    if not ids or ids == list(range(len(ids))):
        return None
    return {cid: i for i, cid in enumerate(ids)}


def format_labels(objects: Objects, schema: LabelSchema, size: tuple[int, int]) -> str:
    """Objects in pixels -> YOLO label text (normalised, 6 decimals).

    A file that holds any polygon is a segment file to Ultralytics, which then reads every line
    of it as a polygon (a `cls cx cy w h` line would become a two-point polygon): so there, a
    box-only object is written as its box's four corners."""
    w, h = size
    index = class_indices(schema)
    segment_file = not schema.kpt_shape and any(p is not None for p in objects.polygons)
    lines = []
    classes, boxes = objects.classes.tolist(), objects.boxes.tolist()  # Python numbers: cheaper to work on
    for i in range(len(objects)):
        cls = classes[i] if index is None else index[classes[i]]
        x1, y1, x2, y2 = boxes[i]
        poly = objects.polygons[i]
        if poly is None and segment_file:
            poly = g.box_corners(objects.boxes[i])
        if schema.kpt_shape:
            k, d = schema.kpt_shape
            fields = [_f((x1 + x2) / 2 / w), _f((y1 + y2) / 2 / h), _f((x2 - x1) / w), _f((y2 - y1) / h)]
            for x, y, v in objects.keypoints[i]:
                fields += [_f(x / w), _f(y / h)] + ([str(int(v))] if d == 3 else [])
        elif poly is not None:
            fields = [_f(c) for x, y in poly for c in (x / w, y / h)]
        else:
            fields = [_f((x1 + x2) / 2 / w), _f((y1 + y2) / 2 / h), _f((x2 - x1) / w), _f((y2 - y1) / h)]
        lines.append(" ".join([str(cls), *fields]))
    return "".join(line + "\n" for line in lines)


def output_image_relpath(item: Item, suffix: str, ext: str) -> str:
    """Where an output image goes: the input's own path when it was a YOLO layout in the same
    split, else images/<split>/<name> (Ultralytics' standard layout)."""
    if "images" in posix_parts(item.key)[:-1] and canonical_split(_split_of(item.key)) == canonical_split(item.split):
        return with_suffix_name(item.key, suffix, ext)
    if item.split and not is_plain(item.split):
        return with_suffix_name(str(PurePosixPath("images", item.split) / name_in_split(item.key)), suffix, ext)
    base = f"images/{item.split}" if item.split else "images"
    return with_suffix_name(f"{base}/{name_in_split(item.key)}", suffix, ext)


class Writer:
    """Writes images/ + labels/ mirrored, and data.yaml at the end."""

    # YOLO has no crowd flag: a COCO crowd region (one outline around many people) would train as one
    # object. Ultralytics' own COCO converter leaves iscrowd annotations out, and so does augcli.
    KEEPS_CROWD = False

    def __init__(self, out_root: Path, schema: LabelSchema):
        self.root = storage.location(out_root)
        self.schema = schema

    def stem(self, item: Item, image_class: int | None = None) -> str | None:
        """The output path of `item`'s original without its extension; two inputs with the same
        stem would overwrite each other's outputs (the run refuses the second)."""
        return output_image_relpath(item, "", "")

    def write(self, item: Item, suffix: str, ext: str, image_data: bytes, sample: Sample) -> Written:
        image_rel = output_image_relpath(item, suffix, ext)
        label_rel_out = label_relpath(image_rel)
        objects = written_objects(sample)  # a mask dataset's regions when it has no objects
        atomic_write_bytes(self.root / image_rel, image_data)
        atomic_write_bytes(self.root / label_rel_out, format_labels(objects, self.schema, sample.size).encode())
        kind = None if not len(objects) or self.schema.kpt_shape else \
            "segments" if any(p is not None for p in objects.polygons) else "boxes"
        return Written({"image": image_rel, "label": label_rel_out}, {"lines": kind} if kind else None,
                       derived_objects=derived_objects(objects, sample))

    def finalize(self, written: Iterable[dict[str, Any]]) -> None:
        """Write data.yaml: names, keypoint layout and split folders relative to the output root;
        and make a dataset of segments and boxes all segments (`boxes_as_segments`).

        `written` yields one dict per output image with at least 'image' (its relative path) and
        the writer's payload; it may be gone over twice."""
        folders: dict[str, set[str]] = {}
        seen: set[str] = set()  # image folders done: an image's split and split folder depend on its folder only
        kinds: set[str | None] = set()
        for entry in written:
            kinds.add(_lines_kind(entry))
            rel = entry["image"]
            directory = rel.rpartition("/")[0]
            if directory in seen:
                continue
            seen.add(directory)
            key = canonical_split(_split_of(rel)) or ""
            folders.setdefault(key, set()).add(_split_folder(rel, entry.get("split")))
        lines = ["# written by augcli; paths are relative to this file's folder"]
        for key in ("train", "val", "test"):
            if key in folders:
                lines.append(f"{key}: {_yaml_list(sorted(folders[key]))}")
        listed = False
        if "train" not in folders and "" in folders:
            others = [f for k, fs in folders.items() if k for f in fs]
            if any(_holds(folder, other) for folder in folders[""] for other in others):
                # the images in no split sit above the other splits' folders (images/ beside images/val/):
                # naming that folder would train on them too (Ultralytics reads folders recursively),
                # so they are listed one by one (paths in an image list starting ./ are relative to it)
                text = "".join(f"./{e['image']}\n" for e in written if not canonical_split(_split_of(e["image"])))
                atomic_write_bytes(self.root / TRAIN_LIST, text.encode())
                lines.append(f"train: {TRAIN_LIST}  # the images in no split, listed: their folder holds the others'")
                folders["train"] = {TRAIN_LIST}
                listed = True
            else:
                lines.append(f"train: {_yaml_list(sorted(folders['']))}")
                folders["train"] = folders[""]
        if not listed:  # left by an earlier run into this folder (--resume after the inputs changed)
            (self.root / TRAIN_LIST).unlink(missing_ok=True)
        stand_in = next((k for k in ("val", "test") if k in folders), None)
        if "train" not in folders and stand_in:
            # Ultralytics refuses a data.yaml without `train` (an input of COCO's val2017 alone, a YOLO
            # images/val/): name the split there is, as `val` names train's when there is no val
            lines.insert(1, f"train: {_yaml_list(sorted(folders[stand_in]))}  # no train images in the output: "
                            f"same as {stand_in}")
            folders["train"] = folders[stand_in]
        if "val" not in folders and "train" in folders:
            lines.append(f"val: {_yaml_list(sorted(folders['train']))}  # no val images in the output: same as train")
        if self.schema.kpt_shape:
            lines.append(f"kpt_shape: [{self.schema.kpt_shape[0]}, {self.schema.kpt_shape[1]}]")
            if self.schema.flip_idx:
                lines.append(f"flip_idx: [{', '.join(str(i) for i in self.schema.flip_idx)}]")
        if self.schema.names:
            index = class_indices(self.schema)
            names = {(k if index is None else index[k]): v for k, v in self.schema.names.items()}
            lines.append(f"nc: {max(names) + 1}")
            lines.append("names:")
            lines += [f"  {k}: {_yaml_str(v)}" for k, v in sorted(names.items())]
        atomic_write_bytes(self.root / "data.yaml", ("\n".join(lines) + "\n").encode())
        if {"segments", "boxes"} <= kinds:
            self.boxes_as_segments(e["image"] for e in written if _lines_kind(e) == "boxes")

    def boxes_as_segments(self, images: Iterable[str]) -> None:
        """Rewrite the box lines of these images' label files as four-corner polygons.

        Ultralytics reads a dataset with both segment and box label files as a detection dataset:
        it warns that box and segment counts differ and drops every segment. So when some outputs
        hold polygons (a COCO input where a few annotations have only a bbox, a YOLO input that
        mixes the two), the files of box-only images get their boxes as polygons, as a file that
        mixes both already does (format_labels). A line that is a polygon already is kept: a
        resumed run rewrites nothing twice."""
        for image_rel in images:
            label_rel = label_relpath(image_rel)
            path = self.root / label_rel
            try:
                text = read_file(path, label_rel, "bad-label").decode("utf-8")
            except InputError:
                continue  # removed since it was written: nothing to rewrite
            lines = []
            for line in text.splitlines():
                fields = line.split()
                if len(fields) == 5:
                    cx, cy, w, h = (float(v) for v in fields[1:])
                    corners = g.box_corners((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
                    fields = [fields[0], *(_f(v) for v in corners.ravel())]
                lines.append(" ".join(fields))
            atomic_write_bytes(path, "".join(line + "\n" for line in lines).encode())


def _lines_kind(entry: dict[str, Any]) -> str | None:
    """What an output's label file holds, from its spool entry: "segments", "boxes" or None."""
    return (entry.get("payload") or {}).get("lines")


def _holds(folder: str, other: str) -> bool:
    """Whether image folder `other` is `folder` or lies below it (posix paths relative to the root)."""
    return other == folder or other.startswith(folder.rstrip("/") + "/")


def _split_folder(image_rel: str, split: str | None = None) -> str:
    """images/train/x/a.jpg -> images/train; train/images/a.jpg -> train/images; images/a.jpg -> images.

    `split` is the output's own split: a split YOLO has no folder name for (VOC's trainval, a
    custom --splits name) is written to images/<split>/, and that folder, not all of images/
    (which holds the other splits too, e.g. images/test), is the one data.yaml may name."""
    parts = posix_parts(image_rel)[:-1]
    idx = len(parts) - 1 - parts[::-1].index("images")
    own = split is not None and idx + 1 < len(parts) and parts[idx + 1] == split
    end = idx + 2 if idx + 1 < len(parts) and (parts[idx + 1] in SPLIT_NAMES or own) else idx + 1
    return str(PurePosixPath(*parts[:end]))


def _yaml_list(values: list[str]) -> str:
    return _yaml_str(values[0]) if len(values) == 1 else "[" + ", ".join(_yaml_str(v) for v in values) + "]"


def _yaml_str(value: str) -> str:
    """A YAML scalar that reads back as this exact string: plain when unambiguous, else quoted
    (so names like `yes`, `null`, `7` or `1.5` stay strings)."""
    import json

    import yaml

    try:
        plain = yaml.safe_load(value) == value and value.replace("_", "").replace("-", "").replace("/", "").replace(".", "").isalnum()
    except yaml.YAMLError:
        plain = False
    return value if plain else json.dumps(value, ensure_ascii=False)

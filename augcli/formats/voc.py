"""Pascal VOC detection: `Annotations/<id>.xml` + `JPEGImages/<id>.<ext>`, or (LabelImg's default,
read when there is no JPEGImages/ folder and the root holds an image beside its .xml) each
`<id>.xml` beside its image `<id>.<ext>`; or Label Studio's `images/` + `Annotations/`, or FiftyOne's
`data/` + `labels/`; optional
`ImageSets/Main/{train,val,test,trainval}.txt` (one id a line: the whole line, so an id may hold
spaces) and a class list in `labelmap.txt` (CVAT / Datumaro `name:color:parts:actions`) or
`classes.txt` (one name a line; written instead of labelmap.txt when a class name holds a ':').

Coordinates: a VOC <bndbox> holds 1-based INCLUSIVE pixel indices, so the box
xmin..xmax covers pixels xmin-1 .. xmax-1 (0-based), i.e. the continuous span
[xmin - 1, xmax] in augcli's pixel coordinates (the image spans [0, W]). Writing goes back
with xmin = floor(x1) + 1, xmax = ceil(x2) (an edge within _SNAP of a whole pixel counts as on
it): never cuts an object by more than that rounding noise, and a box read from VOC round-trips
exactly, also through YOLO's 6-decimal text.

Annotations are untrusted input: they are parsed only with defusedxml, refusing DTDs,
entity definitions and external references (billion laughs, XXE).
"""
from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

import defusedxml
import defusedxml.ElementTree as SafeET
import numpy as np

from augcli import storage
from augcli.errors import InputError, UsageError
from augcli.formats.base import Dataset, Item, Loaded, Written, is_plain, name_in_split, with_suffix_name
from augcli.formats.images import image_beside, is_within, iter_files, read_image, safe_file
from augcli.formats.table import HashIndex, ItemTableBuilder
from augcli.imageio import MAX_LABEL_FILE_BYTES, atomic_write_bytes, decoded_factor, read_file
from augcli.sample import COVER_ATTR, LabelSchema, Objects, Sample, derived_objects, written_objects

NAME = "voc"
REDUCED_DECODE = True  # labels read at the file's size, scaled to a reduced decode (load)
IMAGES = "JPEGImages"
ANNOTATIONS = "Annotations"
IMAGE_SETS = "ImageSets/Main"
SPLIT_FILES = ("train", "val", "test")  # trainval.txt is read only when neither train.txt nor val.txt exists
_CLASS_FILES = ("labelmap.txt", "classes.txt")
_FLAGS = ("truncated", "difficult", "occluded")  # 0/1 per-object flags carried in Objects.attrs
# pixels: an edge this close to a whole pixel is that pixel: float noise from a transform, and the
# rounding of 6-decimal YOLO text (an edge cx - w/2 is off by up to 7.5e-7 of the image size, e.g.
# 0.005 px at 6600 px), which would otherwise grow a box read from YOLO by a whole pixel on a side
# (and a VOC -> YOLO -> VOC round trip would not give the boxes back). Same as geometry.BORDER_SNAP.
_SNAP = 0.005
_OUTPUT_SPLIT = {"valid": "val", "validation": "val"}  # VOC's own split names
_CLASS_FLAG = re.compile(r"(.*\S)\s+(?:-1|0|1)")  # a class-specific ImageSets line: `id  1`, `id -1`, `id  0`


# ------------------------------------------------------------------ layout
def image_id(image_rel: str) -> str:
    """JPEGImages/sub/a.jpg -> sub/a: the id ImageSets list and the annotation's path stem."""
    if is_plain(image_rel):  # as strings: the parent names every input and output this way
        parts = image_rel.split("/")
        name = parts.pop()
        dot = name.rfind(".")
        stem = name[:dot] if 0 < dot < len(name) - 1 else name  # PurePosixPath.stem
        if parts and parts[0] == IMAGES:
            del parts[0]
        return "/".join([*parts, stem])
    p = PurePosixPath(image_rel)
    parts = p.parts[:-1]
    if parts and parts[0] == IMAGES:
        parts = parts[1:]
    return str(PurePosixPath(*parts, p.stem))


def _annotation_id(xml_rel: str) -> str:
    """Annotations/sub/a.xml -> sub/a: the id of the image an annotation belongs to."""
    if is_plain(xml_rel) and "/" in xml_rel:
        parts = xml_rel.split("/")[1:]
        dot = parts[-1].rfind(".")
        if 0 < dot < len(parts[-1]) - 1:  # what with_suffix("") strips
            parts[-1] = parts[-1][:dot]
        return "/".join(parts)
    return str(PurePosixPath(*PurePosixPath(xml_rel).parts[1:]).with_suffix(""))


def _xml_relpath(image_rel: str) -> str:
    """JPEGImages/sub/a.jpg -> Annotations/sub/a.xml: where an image's annotation usually is."""
    return _annotation_path(ANNOTATIONS, image_id(image_rel))


# Layouts other tools export, read when there is no JPEGImages/: (images folder, annotations folder).
# Label Studio's VOC export keeps the images in images/, FiftyOne's VOCDetectionDataset in data/ with
# the .xml files in labels/; LabelImg saves each .xml beside its image ('', '': see _flat_layout).
OTHER_LAYOUTS = (("images", ANNOTATIONS), ("data", "labels"))


def _annotation_path(xml_dir: str, ident: str) -> str:
    """Where the annotation of image id `ident` usually is: <xml_dir>/<id>.xml ('' = the root)."""
    return f"{xml_dir}/{ident}.xml" if xml_dir else f"{ident}.xml"


def _layout_xml_relpath(images_dir: str, xml_dir: str, image_rel: str) -> str:
    """An image's usual annotation path in a layout of other tools: (images, Annotations):
    images/sub/a.jpg -> Annotations/sub/a.xml; ('', ''): sub/a.jpg -> sub/a.xml ('' = the root)."""
    return _annotation_path(xml_dir, _layout_id(images_dir, image_rel))


def _layout_id(images_dir: str, image_rel: str) -> str:
    """The id of an image in a layout whose images are in `images_dir` ('' = the root): its path
    below that folder without the extension (data/sub/a.jpg -> sub/a)."""
    return image_id(image_rel[len(images_dir) + 1:] if images_dir else image_rel)


def _flat_annotation_id(xml_rel: str) -> str:
    """sub/a.xml -> sub/a: the id of the image an annotation beside it belongs to."""
    return xml_rel.rpartition(".")[0]


FLAT_LOOK = 1000  # entries of each folder _flat_layout looks at (a class folder may hold 100,000)


def _flat_layout(root: Path) -> bool:
    """Whether the root, or one of its folders, holds an image and an .xml of the same stem side by
    side (LabelImg's default: it saves a.xml beside a.jpg; a dataset may keep them in folders per
    camera or day). Up to FLAT_LOOK entries of each are listed, until a pair is found."""
    if image_beside(root, "xml", FLAT_LOOK):
        return True
    for name in storage.entry_names(root):
        if not name.startswith(".") and (root / name).is_dir() and image_beside(root / name, "xml", FLAT_LOOK):
            return True
    return False


def _holds_xml(root: Path, folder: str) -> bool:
    """Whether root/folder holds an .xml file (at any depth; the walk stops at the first)."""
    return next(iter_files(root, folder, accept=lambda n: n.lower().endswith(".xml")), None) is not None


def _layout(root: Path) -> tuple[str, str] | None:
    """(images folder, annotations folder) of a layout of other tools (OTHER_LAYOUTS, or LabelImg's
    ('', '')), or None: VOC's own JPEGImages/ + Annotations/ (also when there is no JPEGImages/ and
    no other layout, so that a folder of another format reads as holding no VOC images)."""
    if (root / IMAGES).is_dir() or not root.is_dir():
        return None
    for images_dir, xml_dir in OTHER_LAYOUTS:
        if (root / images_dir).is_dir() and (root / xml_dir).is_dir() and _holds_xml(root, xml_dir):
            return images_dir, xml_dir
    return ("", "") if _flat_layout(root) else None


def detect(root: Path) -> float:
    """Annotations/ beside JPEGImages/: 0.9. A layout of other tools (see _layout): Label Studio's
    and FiftyOne's 0.6, LabelImg's 0.55. Those beat the bare images (0.1) and class folders (0.5)
    such folders also look like; LabelImg's leaves a folder that holds YOLO .txt files beside its
    images too (LabelImg can save both) to YOLO (0.6)."""
    if (root / ANNOTATIONS).is_dir() and (root / IMAGES).is_dir():
        return 0.9
    layout = _layout(root)
    return 0.0 if layout is None else 0.55 if layout == ("", "") else 0.6


# ------------------------------------------------------------------ XML
def read_xml(data: bytes, xml_rel: str) -> ET.Element:
    """Parse annotation bytes safely; any DTD, entity or external reference is refused.

    Raises InputError('bad-label', xml_rel, ...) for refused or malformed XML."""
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        message = ("refused: the XML has a document type declaration (<!DOCTYPE ...>); VOC annotations need none, "
                   "and DTDs can hide entity bombs or external references")
    except defusedxml.EntitiesForbidden:
        message = "refused: the XML defines entities (entity expansion is not allowed)"
    except defusedxml.ExternalReferenceForbidden:
        message = "refused: the XML references an external resource"
    except defusedxml.DefusedXmlException as exc:
        message = f"refused: unsafe XML ({exc.__class__.__name__})"
    except SafeET.ParseError as exc:
        message = f"not well-formed XML: {exc}"
    raise InputError("bad-label", xml_rel, message)


def _load_xml(path: Path, xml_rel: str) -> ET.Element:
    data = read_file(path, xml_rel, "bad-label", MAX_LABEL_FILE_BYTES)
    root = read_xml(data, xml_rel)
    if root.tag != "annotation":
        raise InputError("bad-label", xml_rel, f"the root element is <{root.tag}>, expected <annotation>")
    return root


def _text(el: ET.Element | None, tag: str) -> str | None:
    child = None if el is None else el.find(tag)
    return None if child is None or child.text is None else child.text.strip()


def _number(text: str | None, what: str, xml_rel: str) -> float:
    if text is None or text == "":
        raise InputError("bad-label", xml_rel, f"{what} is missing")
    try:
        value = float(text)
    except ValueError:
        raise InputError("bad-label", xml_rel, f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError("bad-label", xml_rel, f"{what} is {text}, not a finite number")
    return value


def _flag(text: str, what: str, xml_rel: str) -> int:
    lowered = text.lower()
    if lowered in ("0", "1", "0.0", "1.0", "true", "false"):
        return 1 if lowered in ("1", "1.0", "true") else 0
    raise InputError("bad-label", xml_rel, f"{what} is {text!r}; expected 0 or 1")


def _declared_size(root: ET.Element, xml_rel: str) -> tuple[int, int] | None:
    """<size> (width, height), or None when absent or zero (some tools write 0 for 'unknown')."""
    size = root.find("size")
    if size is None or _text(size, "width") in (None, "") or _text(size, "height") in (None, ""):
        return None
    w = _number(_text(size, "width"), "<size><width>", xml_rel)
    h = _number(_text(size, "height"), "<size><height>", xml_rel)
    return None if w <= 0 or h <= 0 else (int(round(w)), int(round(h)))


def parse_annotation(root: ET.Element, xml_rel: str, schema: LabelSchema,
                     size: tuple[int, int]) -> tuple[Objects, list[str]]:
    """<annotation> -> Objects in pixels for an image of `size` (width, height), and warnings.

    Objects are numbered from 1 in messages, in document order. Raises InputError naming the
    file and object for an unknown class, a missing/NaN coordinate, or an inverted box or one
    wholly outside the image; a box partly outside is clipped with a warning."""
    w, h = size
    warnings: list[str] = []
    declared = _declared_size(root, xml_rel)
    if declared is not None and declared != (w, h):
        hint = " (swapped: EXIF orientation?)" if declared == (h, w) else ""
        warnings.append(f"{xml_rel}: <size> says {declared[0]}x{declared[1]} but the image is {w}x{h}{hint}; "
                        "boxes are read in the image's pixels")
    ids = {name: cls for cls, name in schema.names.items()}
    classes, boxes, attrs = [], [], []
    for n, obj in enumerate(root.findall("object"), start=1):
        name = _text(obj, "name")
        where = f"object {n}" + (f" ({name})" if name else "")
        if not name:
            raise InputError("bad-label", xml_rel, f"object {n}: <name> is missing")
        if name not in ids:
            known = ", ".join(sorted(ids)) or "none"
            raise InputError("bad-label", xml_rel, f"{where}: class {name!r} is not in the class list ({known})")
        bnd = obj.find("bndbox")
        if bnd is None:
            raise InputError("bad-label", xml_rel, f"{where}: <bndbox> is missing")
        xmin, ymin, xmax, ymax = (_number(_text(bnd, t), f"{where}: <{t}>", xml_rel)
                                  for t in ("xmin", "ymin", "xmax", "ymax"))
        box = np.array([xmin - 1.0, ymin - 1.0, xmax, ymax])  # 1-based inclusive -> continuous pixels
        if box[2] <= box[0] or box[3] <= box[1]:
            raise InputError("bad-label", xml_rel, f"{where}: inverted or empty box (xmin {xmin:g}, xmax {xmax:g}, "
                             f"ymin {ymin:g}, ymax {ymax:g}); VOC needs xmin <= xmax and ymin <= ymax")
        if box[2] <= 0 or box[3] <= 0 or box[0] >= w or box[1] >= h:
            raise InputError("bad-label", xml_rel, f"{where}: box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) lies wholly "
                             f"outside the {w}x{h} image")
        clipped = np.clip(box, 0.0, [w, h, w, h])
        if not np.array_equal(clipped, box):
            warnings.append(f"{xml_rel}: {where}: box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) extends outside the "
                            f"{w}x{h} image; clipped")
        extra: dict[str, Any] = {}
        for tag in _FLAGS:
            text = _text(obj, tag)
            if text:
                extra[tag] = _flag(text, f"{where}: <{tag}>", xml_rel)
        pose = _text(obj, "pose")
        if pose:
            extra["pose"] = pose
        classes.append(ids[name])
        boxes.append(clipped)
        attrs.append(extra)
    k = len(classes)
    objects = Objects(np.array(classes, dtype=np.int64), np.array(boxes).reshape(k, 4), [None] * k, attrs=attrs)
    return objects, warnings


# ------------------------------------------------------------------ scanning
def _read_class_file(path: Path) -> list[str]:
    """labelmap.txt (`name:r,g,b:parts:actions`, '#' comments) or classes.txt (one name a line)."""
    names: list[str] = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name = line.split(":", 1)[0].strip() if path.name == "labelmap.txt" else line
        if name and name not in names:
            names.append(name)
    return names


def _listed(line: str, position: Callable[[str], int | None]) -> tuple[str, int | None]:
    """The id an ImageSets line names and its image (None: no such image). The id is the whole
    line: as written (an id may begin or end with a space), else stripped; failing both, the
    class-specific form `id  1` / `id -1` / `id  0` (the id before the flag)."""
    i = position(line)
    if i is not None:
        return line, i
    key = line.strip()
    i = position(key) if key != line else None
    if i is None and (flagged := _CLASS_FLAG.fullmatch(key)):
        head = flagged[1]
        if (j := position(head)) is not None:
            return head, j
    return key, i


def _read_splits(root: Path, used: np.ndarray, position: Callable[[str], int | None], notes: list[str]
                 ) -> tuple[tuple[str | None, ...], np.ndarray]:
    """Splits from ImageSets/Main for the images where `used` is true, `position(id)` finding an
    image: the split names (0: none) and a code per image. An id listed in two files keeps the
    first (train, val, test). The lists are read a line at a time; a line is one whole id (see _listed)."""
    folder = root / IMAGE_SETS
    files = [s for s in SPLIT_FILES if safe_file(folder / f"{s}.txt", root)]
    if not any(s in files for s in ("train", "val")) and safe_file(folder / "trainval.txt", root):
        files.insert(0, "trainval")
    names: tuple[str | None, ...] = (None, *files)
    codes = np.zeros(len(used), np.uint16)
    for code, split in enumerate(files, start=1):
        unknown = 0
        with (folder / f"{split}.txt").open("r", encoding="utf-8-sig") as f:
            for line in (part for raw in f for part in raw.splitlines()):  # the lines str.splitlines gives
                if not line.strip():
                    continue
                key, i = _listed(line, position)
                if i is None:
                    unknown += 1
                elif codes[i] and codes[i] != code:
                    notes.append(f"{IMAGE_SETS}/{split}.txt: {key} is already in {names[codes[i]]}; kept there")
                else:
                    codes[i] = code
        if unknown:
            notes.append(f"{IMAGE_SETS}/{split}.txt: {unknown} id(s) have no image in {IMAGES}/; ignored")
    listed, n_ids = int(np.count_nonzero(codes)), int(np.count_nonzero(used))
    if listed and listed < n_ids:
        notes.append(f"{n_ids - listed} image(s) are in no {IMAGE_SETS} list; they get no split")
    return names, codes


def scan(root: Path) -> Dataset:
    """One item per image in JPEGImages/ (with its annotation, or none: a background image); without
    a JPEGImages/ folder, the same in a layout of other tools (see _layout): images/ + Annotations/
    (Label Studio), data/ + labels/ (FiftyOne), or each image's .xml beside it (LabelImg).

    An annotation that fails to parse is only noted here; load() raises for its item. Images and
    annotations are matched by id through hashes (HashIndex), not a dict of every id."""
    notes: list[str] = []
    layout = _layout(root)
    images_dir, xml_dir = layout or (IMAGES, ANNOTATIONS)
    if layout is None:  # VOC's own
        key_id, label_of_key, annotation_id = image_id, _xml_relpath, _annotation_id
    else:
        key_id = partial(_layout_id, images_dir)
        label_of_key = partial(_layout_xml_relpath, images_dir, xml_dir)  # a partial, so the table pickles
        annotation_id = _annotation_id if xml_dir else _flat_annotation_id
    expected = partial(_annotation_path, xml_dir)
    builder = ItemTableBuilder(str(root), label_of_key)
    for rel in iter_files(root, images_dir, notes=notes):
        builder.add(rel)
    items = builder.build()
    # two images with one id (a.jpg, a.png): the first in path order is the one used
    ids = HashIndex.of((key_id(key) for key in items.keys()), len(items))
    id_at = lambda i: key_id(items.key(i))  # noqa: E731
    repeats = ids.repeats(id_at)
    for i, first in repeats:
        notes.append(f"{items.key(i)}: another image has the id {id_at(i)} ({items.key(first)}); only that one is used")
    used = np.ones(len(items), bool)
    used[[i for i, _ in repeats]] = False

    def position(key: str) -> int | None:  # the image with this id (the first of its id: a used one)
        return ids.first(key, id_at)

    labelled = np.zeros(len(items), bool)
    unusual: dict[int, str] = {}  # annotations not named <id>.xml (a.XML): their own path
    orphans = []
    for rel in iter_files(root, xml_dir, accept=lambda n: n.lower().endswith(".xml"), notes=notes):
        key = annotation_id(rel)
        i = position(key)
        if i is None:
            orphans.append(f"{rel}: no image {images_dir + '/' if images_dir else ''}{key}.* for this annotation; "
                           "ignored")
            continue
        if labelled[i] and rel < unusual.get(i, expected(key)):
            continue  # a.XML and a.xml: the last in path order is the one used
        labelled[i] = True
        if rel != expected(key):
            unusual[i] = rel
        else:
            unusual.pop(i, None)
    notes += sorted(orphans)
    label_of = lambda i: unusual.get(i) or expected(id_at(i))  # noqa: E731
    names: list[str] | None = None
    for class_file in _CLASS_FILES:
        if safe_file(root / class_file, root):
            names = _read_class_file(root / class_file)
            break
    if names is None:
        found: set[str] = set()
        failed: list[tuple[str, str]] = []
        for i in np.flatnonzero(labelled & used).tolist():
            xml_rel = label_of(i)
            try:
                tree = _load_xml(root / xml_rel, xml_rel)
            except InputError as exc:
                failed.append((id_at(i), f"{exc}; this image will be skipped"))
                continue
            found |= {n for n in (_text(o, "name") for o in tree.findall("object")) if n}
        notes += [note for _, note in sorted(failed)]  # in id order
        names = sorted(found)
    split_names, codes = _read_splits(root, used, position, notes)
    items = items.with_splits(split_names, codes).select(used)
    labelled = labelled[used]
    if unusual:  # rare: every label path spelled out
        kept = np.flatnonzero(used).tolist()
        items = items.with_labels([label_of(i) if labelled[j] else None for j, i in enumerate(kept)])
    else:
        items = items.with_labelled(labelled)
    return Dataset(LabelSchema({i: n for i, n in enumerate(names)}, zero_based_ids=True), items, notes)


def load(item: Item, schema: LabelSchema, max_pixels: int) -> Loaded:
    data, image = read_image(item, max_pixels)
    if item.label is None:
        return Loaded(Sample(image, Objects.empty(), schema), data, [])
    root, xml_rel = item.root, item.label_rel
    if not storage.is_remote(root) and not is_within(Path(item.label), Path(root)):
        raise InputError("bad-label", xml_rel, "annotation resolves outside the input folder; not read")
    tree = _load_xml(item.label, xml_rel)
    k = decoded_factor(data, image)  # 1, or a reduced decode's factor: labels are read at the file's size
    objects, warnings = parse_annotation(tree, xml_rel, schema, (image.shape[1] * k, image.shape[0] * k))
    if k > 1:
        objects = objects.scaled(1.0 / k)
    return Loaded(Sample(image, objects, schema), data, warnings)


# ------------------------------------------------------------------ writing
def output_image_relpath(key: str, suffix: str, ext: str) -> str:
    """JPEGImages/<the key's name inside its split>, with suffix and extension. Split folders are
    not kept: VOC keeps images flat and lists splits in ImageSets/Main/<split>.txt."""
    name = with_suffix_name(name_in_split(key), suffix, ext)
    return f"{IMAGES}/{name}" if is_plain(name) else str(PurePosixPath(IMAGES) / name)


def voc_box(box: np.ndarray) -> tuple[int, int, int, int]:
    """Continuous pixels x1 y1 x2 y2 -> VOC 1-based inclusive (xmin, ymin, xmax, ymax) covering the box."""
    x1, y1, x2, y2 = (float(v) for v in box)
    lo = [math.floor(v + _SNAP) + 1 for v in (x1, y1)]
    hi = [math.ceil(v - _SNAP) for v in (x2, y2)]
    return lo[0], lo[1], max(hi[0], lo[0]), max(hi[1], lo[1])


def _sub(parent: ET.Element, tag: str, text: Any) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = str(text)
    return el


def format_annotation(image_rel: str, objects: Objects, schema: LabelSchema, size: tuple[int, int]) -> bytes:
    """The annotation XML for one output image: same input, same bytes.

    `truncated` becomes 1 for an object a transform cut off at an edge of the image or of a mosaic
    cell (VOC's own meaning of the flag: the box does not show all of the object), `occluded` 1 for
    one that a hole or a pasted picture covered in part (its box still spans all of it): of its
    visibility below 1, what covers took (the `cover` attribute, see augcli.sample._cover) does
    not count as truncation."""
    w, h = size
    root = ET.Element("annotation")
    _sub(root, "folder", str(PurePosixPath(image_rel).parent))
    _sub(root, "filename", PurePosixPath(image_rel).name)
    size_el = ET.SubElement(root, "size")
    _sub(size_el, "width", w)
    _sub(size_el, "height", h)
    _sub(size_el, "depth", 3)
    _sub(root, "segmented", 0)
    for i in range(len(objects)):
        attrs = objects.attrs[i]
        obj = ET.SubElement(root, "object")
        _sub(obj, "name", schema.class_name(int(objects.classes[i])))
        _sub(obj, "pose", attrs.get("pose", "Unspecified"))
        cut = objects.visibility[i] < float(attrs.get(COVER_ATTR, 1.0)) * (1.0 - 1e-9)
        _sub(obj, "truncated", 1 if cut else int(attrs.get("truncated", 0)))
        # a COCO crowd region is one an evaluation should ignore, which is what VOC's difficult says
        _sub(obj, "difficult", 1 if attrs.get("iscrowd") else int(attrs.get("difficult", 0)))
        if "occluded" in attrs:
            _sub(obj, "occluded", int(attrs["occluded"]))
        bnd = ET.SubElement(obj, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), voc_box(objects.boxes[i])):
            _sub(bnd, tag, value)
    ET.indent(root, space="  ")
    return (ET.tostring(root, encoding="unicode") + "\n").encode("utf-8")


def annotation_relpath(image_rel: str) -> str:
    """JPEGImages/sub/a_aug1.jpg -> Annotations/sub/a_aug1.xml."""
    return f"{ANNOTATIONS}/{image_id(image_rel)}.xml"


def _unlisted_id(image_key: str) -> str | None:
    """Why an id cannot be one line of an ImageSets list (read back by _read_splits), or None."""
    if image_key.splitlines() != [image_key]:
        return "it holds a line break"
    if not image_key.strip():
        return "it is only blank space, which reads as an empty line"
    if image_key.startswith("\ufeff"):
        return "it begins with a byte-order mark, which reads as the file's encoding mark"
    return None


def _unlisted_class(name: str) -> str | None:
    """Why a class name cannot be kept exactly by a VOC class list and <name> element, or None.
    (A ':' is fine: such names go to classes.txt instead of labelmap.txt.)"""
    if not name.strip():
        return "it is empty or blank"
    if name != name.strip():
        return "it begins or ends with blank space, which VOC readers strip"
    if name.splitlines() != [name]:
        return "it holds a line break, and the class list holds one name a line"
    if name.startswith("#"):
        return "it begins with '#', which the class list reads as a comment"
    if any(ord(c) < 32 and c != "\t" for c in name):
        return "it holds a control character, which XML cannot hold"
    return None


def class_list(names: Iterable[str]) -> tuple[str, str]:
    """(file name, text) of the output's class list: CVAT / Datumaro `labelmap.txt`
    (`name:color:parts:actions`) when no name holds a ':', else `classes.txt` (one name a line),
    since labelmap.txt cannot hold a ':' in a name and the names must come back exactly."""
    names = list(names)
    if any(":" in name for name in names):
        return "classes.txt", "".join(f"{name}\n" for name in names)
    return "labelmap.txt", "\n".join(["# label:color_rgb:parts:actions", *(f"{name}:::" for name in names)]) + "\n"


class Writer:
    """JPEGImages/ + Annotations/ per image; ImageSets/Main/<split>.txt and the class list at the end.

    A class name VOC cannot keep exactly (see _unlisted_class) is refused here, before anything is
    written; an image whose id cannot be a line of its split's ImageSets list is refused by write()."""

    def __init__(self, out_root: Path, schema: LabelSchema):
        self.root = storage.location(out_root)
        self.schema = schema
        for _, name in sorted(schema.names.items()):
            why = _unlisted_class(name)
            if why:
                raise UsageError(f"class {name!r} cannot be written to VOC: {why}; rename it with --class-map "
                                 "or choose another output format")

    def stem(self, item: Item, image_class: int | None = None) -> str | None:
        """The output path of `item`'s original without its extension; two inputs with the same
        stem would overwrite each other's outputs (the run refuses the second)."""
        return output_image_relpath(item.key, "", "")

    def write(self, item: Item, suffix: str, ext: str, image_data: bytes, sample: Sample) -> Written:
        image_rel = output_image_relpath(item.key, suffix, ext)
        if item.split:  # its id goes into ImageSets/Main/<split>.txt, one id a line
            why = _unlisted_id(image_id(image_rel))
            if why:
                listed = f"{IMAGE_SETS}/{_OUTPUT_SPLIT.get(item.split, item.split)}.txt"
                raise InputError("bad-name", item.key, f"its VOC id {image_id(image_rel)!r} cannot be a line of "
                                 f"{listed}: {why}; rename the file")
        xml_rel = annotation_relpath(image_rel)
        objects = written_objects(sample)  # a mask dataset's regions when it has no objects
        atomic_write_bytes(self.root / image_rel, image_data)
        atomic_write_bytes(self.root / xml_rel, format_annotation(image_rel, objects, self.schema, sample.size))
        return Written({"image": image_rel, "label": xml_rel}, derived_objects=derived_objects(objects, sample))

    def finalize(self, entries: Iterable[dict[str, Any]]) -> None:
        """ImageSets/Main/<split>.txt (ids in input order; trainval.txt too when there are train and
        val but no trainval split) when any output has a split, and the class list (class_list) when
        names are known."""
        ids: dict[str, io.StringIO] = {}  # split -> its list's text (one string a split, not one per id)
        for entry in entries:
            split = entry.get("split")
            if split:
                ids.setdefault(_OUTPUT_SPLIT.get(split, split), io.StringIO()).write(image_id(entry["image"]) + "\n")
        if "train" in ids and "val" in ids and "trainval" not in ids:
            ids["trainval"] = io.StringIO(ids["train"].getvalue() + ids["val"].getvalue())
        for stale in ("train", "val", "test", "trainval"):  # left by an earlier run in an --overwrite output
            if stale not in ids:
                (self.root / IMAGE_SETS / f"{stale}.txt").unlink(missing_ok=True)
        for split, listed in sorted(ids.items()):
            atomic_write_bytes(self.root / IMAGE_SETS / f"{split}.txt", listed.getvalue().encode())
        if self.schema.names:
            name, text = class_list(name for _, name in sorted(self.schema.names.items()))
            for stale in _CLASS_FILES:  # the reader takes labelmap.txt first: never leave the other one behind
                if stale != name:
                    (self.root / stale).unlink(missing_ok=True)
            atomic_write_bytes(self.root / name, text.encode("utf-8"))

"""Image classification as class folders: `root/<class>/*.jpg`, or per split
`root/train/<class>/*.jpg`, `root/val/<class>/...`, `root/test/<class>/...` (torchvision
ImageFolder, Ultralytics classify).

The label is image-level, never a box: an image's class rides in Item.payload (the class
folder's name) and the Sample carries no objects, so transforms change the pixels only.
Class names are the sorted folder names over all splits, ids 0..n-1.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any, Iterable

from augcli import storage
from augcli.errors import InputError
from augcli.formats.base import SPLIT_NAMES, Dataset, Item, Loaded, Written, is_plain, posix_parts, with_suffix_name
from augcli.formats.images import has_image, iter_files, read_image
from augcli.formats.table import ItemTableBuilder
from augcli.imageio import atomic_write_bytes, is_image_name
from augcli.sample import LabelSchema, Objects, Sample

NAME = "classify"
# labels are class folders, not coordinates: any decoded size will do (augcli.imageio.reduced_decoding)
REDUCED_DECODE = True
_LABEL_FOLDERS = ("labels", "Annotations", "annotations")  # a sibling like these means a labelled format
_IMAGE_FOLDERS = ("images", "JPEGImages")  # alone, these are an image folder, not a class


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _split_folders(root: Path) -> set[str]:
    """Top-level folders named like a split that hold folders (their subfolders are the classes)."""
    return {p.name for p in _subfolders(root) if p.name in SPLIT_NAMES and _subfolders(p)}


def detect(root: Path) -> float:
    """Subfolders holding images (directly or in split folders), with no label folder beside them
    and no image loose at the root (a folder of images with a subfolder is not a set of classes)."""
    if not root.is_dir():
        return 0.0
    if any(is_image_name(n) and not n.startswith(".") and (root / n).is_file() for n in storage.entry_names(root)):
        return 0.0
    splits = _split_folders(root)
    bases = [root] + [root / s for s in sorted(splits)]
    if any((b / name).is_dir() for b in bases for name in _LABEL_FOLDERS):
        return 0.0
    classes = set()
    for folder in _subfolders(root):
        if folder.name in splits:
            classes |= {c.name for c in _subfolders(folder) if has_image(c)}
        elif has_image(folder):
            classes.add(folder.name)
    if not classes or classes <= set(_IMAGE_FOLDERS):
        return 0.0
    if not splits and classes <= set(SPLIT_NAMES) | set(_IMAGE_FOLDERS):
        return 0.0  # `train/*.jpg` + `val/*.jpg`: a folder of images in split folders, not classes named train and val
    return 0.5


def scan(root: Path) -> Dataset:
    notes: list[str] = []
    problems: list[tuple[str, str, str]] = []
    splits = _split_folders(root)
    builder = ItemTableBuilder(str(root), payloads=True)
    classes: dict[str, str] = {}  # one string per class folder, shared by its items' payloads
    stray, first_stray = 0, None
    for rel in iter_files(root, notes=notes, problems=problems):
        parts = rel.split("/")  # a plain relative path: what iter_files makes
        split = parts[0] if parts[0] in splits else None
        below = parts[1:] if split else parts
        if len(below) < 2:
            stray += 1
            first_stray = rel if first_stray is None or rel < first_stray else first_stray
            continue
        builder.add(rel, split, payload=classes.setdefault(below[0], below[0]))
    if stray:
        notes.append(f"{stray} image(s) not inside a class folder were ignored (e.g. {first_stray})")
    # a class folder with no image is still a class: tools that number classes by sorted folder
    # names (Ultralytics) count it, so leaving it out would shift every later class's id
    if not storage.is_remote(root):
        for base in ([root / s for s in sorted(splits)] if splits else [root]):
            for folder in _subfolders(base):
                if folder.name not in classes and folder.name not in _IMAGE_FOLDERS and not has_image(folder):
                    classes.setdefault(folder.name, folder.name)
    names = sorted(classes)
    schema = LabelSchema({i: n for i, n in enumerate(names)}, zero_based_ids=True)
    return Dataset(schema, builder.build(), notes, sorted(problems))


def load(item: Item, schema: LabelSchema, max_pixels: int) -> Loaded:
    data, image = read_image(item, max_pixels)
    ids = {name: cid for cid, name in schema.names.items()}
    return Loaded(Sample(image, Objects.empty(), schema, image_class=ids.get(item.payload)), data, [])


def output_relpath(item: Item, suffix: str, ext: str, schema: LabelSchema, image_class: int | None = None) -> str:
    """`<split>/<class>/<path below the class folder><suffix><ext>`; no split folder when the item has none.

    The class is the sample's image-level class (after any rename); the split is the item's
    (which a run may have re-assigned), not the folder it was read from."""
    cls = schema.names.get(image_class) if image_class is not None else item.payload
    if not isinstance(cls, str):
        raise InputError("no-class", item.key, "the classify format writes images into class folders, and this "
                         "image has no image-level class (read it with --input-format classify)")
    if cls not in schema.names.values():
        raise InputError("no-class", item.key, f"class folder {cls!r} is not one of the output classes "
                         f"({', '.join(sorted(schema.names.values())) or 'none'}); was it renamed or dropped?")
    parts = posix_parts(item.key)
    folder = item.payload  # the class folder it was read from, which a rename may have changed
    if len(parts) > 2 and parts[0] in SPLIT_NAMES and parts[1] == folder:
        below = parts[2:]
    elif len(parts) > 1 and parts[0] == folder:
        below = parts[1:]
    else:
        below = parts[-1:]
    segments = [*([item.split] if item.split else []), cls, *below]
    rel = "/".join(segments) if all(map(is_plain, segments)) else str(PurePosixPath(*segments))
    return with_suffix_name(rel, suffix, ext)


class Writer:
    """Images into class folders; finalize makes every class folder in every split written, even an
    empty one, so tools that number classes by sorted folder names keep the same ids."""

    def __init__(self, out_root: Path, schema: LabelSchema):
        self.root = storage.location(out_root)
        self.schema = schema

    def stem(self, item: Item, image_class: int | None = None) -> str | None:
        """The output path of `item`'s original without its extension; two inputs with the same
        stem would overwrite each other's outputs (the run refuses the second)."""
        try:
            return output_relpath(item, "", "", self.schema, image_class)
        except InputError:
            return None  # no class to file it under: the worker reports it

    def write(self, item: Item, suffix: str, ext: str, image_data: bytes, sample: Sample) -> Written:
        rel = output_relpath(item, suffix, ext, self.schema, sample.image_class)
        atomic_write_bytes(self.root / rel, image_data)
        return Written({"image": rel})

    def finalize(self, entries: Iterable[dict[str, Any]]) -> None:
        splits = {entry.get("split") or "" for entry in entries}
        if storage.is_remote(self.root):
            return  # object stores have no empty folders: a class nobody was written to is not listed
        for split in sorted(splits):
            for name in self.schema.names.values():
                (self.root / split / name).mkdir(parents=True, exist_ok=True)

"""A bare folder of images, no labels: every image below the root (recursively, sorted).

The writer mirrors the input's relative paths with the output suffix (`sub/a.jpg` ->
`sub/a_aug1.jpg`). detect() answers with the lowest confidence, so any labelled format wins.

Also home of `list_files`, the one folder walk the folder-based formats share: it never reads
outside the input root (symbolic links are not followed out of it) and skips hidden entries.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from augcli import storage
from augcli.formats.base import SPLIT_NAMES, Dataset, Item, Loaded, Written, with_suffix_name
from augcli.formats.table import ItemTableBuilder
from augcli.imageio import atomic_write_bytes, is_image_name, read_image_file
from augcli.sample import LabelSchema, Objects, Sample

NAME = "images"
# no labels: any decoded size will do (augcli.imageio.reduced_decoding)
REDUCED_DECODE = True


# ------------------------------------------------------------------ safe folder walk
def is_within(path: Path, root: Path) -> bool:
    """True when `path`, with every symbolic link resolved, is `root` or lies below it."""
    real, real_root = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    return real == real_root or real_root in real.parents


_FOLDERS_WITHIN: dict[tuple[str, str], bool] = {}  # (folder, root) -> is_within, for file_within


def file_within(path: str, root: str) -> bool:
    """is_within for a file read per input (a label beside its image): its folder's answer is kept
    (a dataset's labels sit in a few folders), so each file costs one lstat for being a link itself,
    not a realpath of every folder above it (some 60 us an input)."""
    folder = os.path.dirname(path)
    inside = _FOLDERS_WITHIN.get((folder, root))
    if inside is None:
        inside = _FOLDERS_WITHIN[(folder, root)] = is_within(Path(folder), Path(root))
    return inside and (not os.path.islink(path) or is_within(Path(path), Path(root)))


def image_beside(folder: Path, label_ext: str, limit: int | None = None) -> bool:
    """Whether `folder` holds an image and a `label_ext` file (e.g. "txt", "xml"; any case) of the
    same stem side by side, looking at its first `limit` entries (all when None): how the flat
    layouts of labelling tools (darknet, LabelImg) are told from a folder of images."""
    images: set[str] = set()
    labels: set[str] = set()
    for n, name in enumerate(storage.entry_names(folder)):
        if limit is not None and n >= limit:
            break
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem or name.startswith("."):
            continue
        if ext.lower() == label_ext:
            if stem in images:
                return True
            labels.add(stem)
        elif is_image_name(name):
            if stem in labels:
                return True
            images.add(stem)
    return False


def iter_files(
    root: Path,
    under: str = "",
    accept: Callable[[str], bool] = is_image_name,
    notes: list[str] | None = None,
    skip_dirs: Iterable[str] = (),
    problems: list[tuple[str, str, str]] | None = None,
) -> Iterator[str]:
    """Files below `root/under` whose name passes `accept`: posix paths relative to `root`, in no
    particular order, one at a time (a scan holds them compactly, not as a list).

    Hidden files and folders (a leading '.') are skipped, as are folders named in `skip_dirs`.
    A symbolic link to a file is kept only when it resolves to a file inside `root`; linked
    folders are never descended (no loops, no escape). Every link skipped adds a line to `notes`
    (in one folder, those of its files come before those of its subfolders). A folder that cannot
    be listed (no permission) is a (path, 'unreadable-folder', message) in `problems`, for the run to
    report as skipped: the images in it would otherwise be left out without a word; without
    `problems`, a line in `notes`.
    `root` may be remote (augcli.storage), where there are no links."""
    notes = notes if notes is not None else []
    skip = set(skip_dirs)
    top = root / under if under else root
    prefix = f"{under.strip('/')}/" if under else ""

    def enter(rel_dir: str, d: str, is_link: bool) -> bool:
        if d.startswith(".") or d in skip:
            return False
        if is_link:
            here = f"{prefix}{rel_dir}/" if rel_dir else prefix
            where = "outside the input folder; skipped" if not is_within(root / f"{here}{d}", root) else \
                "inside the input folder; not followed (linked folders are never walked)"
            notes.append(f"{here}{d}/: symbolic link to a folder {where}")
        return not is_link

    def unreadable(rel_dir: str, exc: OSError) -> None:
        if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
            return  # not there (a layout folder a dataset does without, or one removed since): nothing left out
        folder = f"{prefix}{rel_dir}/" if rel_dir else (prefix or "./")
        message = f"{folder}: the folder cannot be read ({exc.strerror or exc}); the files in it are left out"
        if problems is not None:
            problems.append((folder, "unreadable-folder", message))
        else:
            notes.append(message)

    for rel_dir, name, is_link in storage.walk_files(top, enter, unreadable):
        if name.startswith(".") or not accept(name):
            continue
        rel = f"{prefix}{rel_dir}/{name}" if rel_dir else f"{prefix}{name}"
        if is_link:
            full = root / rel
            if not (is_within(full, root) and os.path.isfile(full)):
                notes.append(f"{rel}: symbolic link to something outside the input folder (or to no file); skipped")
                continue
        yield rel


def list_files(
    root: Path,
    under: str = "",
    accept: Callable[[str], bool] = is_image_name,
    notes: list[str] | None = None,
    skip_dirs: Iterable[str] = (),
) -> list[str]:
    """iter_files(...) as a sorted list."""
    return sorted(iter_files(root, under, accept, notes, skip_dirs))


def safe_file(path: Path, root: Path) -> bool:
    """A regular file (possibly through a link) that resolves inside `root`."""
    return path.is_file() and (storage.is_remote(root) or is_within(path, root))


def has_image(folder: Path) -> bool:
    """Whether any non-hidden image lies below `folder`; stops at the first one found."""
    found = storage.walk_files(folder, lambda rel, d, link: not d.startswith("."))  # streamed: no folder listed whole
    return any(is_image_name(name) and not name.startswith(".") for _, name, _ in found)


def read_image(item: Item, max_pixels: int) -> tuple[bytes, Any]:
    """The raw bytes and the decoded BGR image of `item`; InputError when unreadable."""
    return read_image_file(item.image, item.key, max_pixels)


# ------------------------------------------------------------------ the format
def detect(root: Path) -> float:
    """Any image below the root: the weakest claim, so every labelled format wins over this one."""
    return 0.1 if root.is_dir() and has_image(root) else 0.0


def scan(root: Path) -> Dataset:
    notes: list[str] = []
    problems: list[tuple[str, str, str]] = []
    items = ItemTableBuilder(str(root))
    for rel in iter_files(root, notes=notes, problems=problems):
        first, sep, _ = rel.partition("/")
        items.add(rel, first if sep and first in SPLIT_NAMES else None)
    return Dataset(LabelSchema(), items.build(), notes, sorted(problems))


def load(item: Item, schema: LabelSchema, max_pixels: int) -> Loaded:
    data, image = read_image(item, max_pixels)
    return Loaded(Sample(image, Objects.empty(), schema), data, [])


class Writer:
    """Images only, at the input's relative paths with the suffix; no dataset-level files."""

    def __init__(self, out_root: Path, schema: LabelSchema):
        self.root = storage.location(out_root)
        self.schema = schema

    def stem(self, item: Item, image_class: int | None = None) -> str | None:
        """The output path of `item`'s original without its extension; two inputs with the same
        stem would overwrite each other's outputs (the run refuses the second)."""
        return with_suffix_name(item.key, "", "")

    def write(self, item: Item, suffix: str, ext: str, image_data: bytes, sample: Sample) -> Written:
        rel = with_suffix_name(item.key, suffix, ext)
        atomic_write_bytes(self.root / rel, image_data)
        return Written({"image": rel})

    def finalize(self, entries: Iterable[dict[str, Any]]) -> None:
        """Nothing dataset-level to write: a bare folder has no index or class list."""

"""Shared shapes that formats produce and consume."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Sequence

from augcli.sample import LabelSchema, Sample

SPLIT_NAMES = ("train", "val", "valid", "validation", "test")
_LAYOUT_DIRS = ("images", "JPEGImages")


def whole_number(value: Any) -> bool:
    """Whether a value read from a dataset's YAML (a class index, a mask value, a kpt_shape entry)
    is a whole number, as YAML gives one or as text ("3"); not a bool, a float or a name."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())


def canonical_split(split: str | None) -> str | None:
    """valid / validation -> val; other names unchanged."""
    return {"valid": "val", "validation": "val"}.get(split, split) if split else None


def is_plain(rel: str) -> bool:
    """Whether `rel` is a relative posix path that pathlib would keep as it is (no empty or '.'
    part): what scans make. Such paths are handled as strings here, for speed and because pathlib
    interns every part it parses (sys.intern), growing the interpreter's table of interned strings
    by a hundred thousand file names in a parent that handles that many."""
    parts = rel.split("/")
    return "" not in parts and "." not in parts


def posix_parts(rel: str) -> list[str]:
    """PurePosixPath(rel).parts as a list."""
    return rel.split("/") if is_plain(rel) else list(PurePosixPath(rel).parts)


def name_in_split(key: str) -> str:
    """The part of an input key that names the image inside its split: layout folders and a
    split folder around them are stripped. images/train/sub/a.jpg -> sub/a.jpg;
    train/images/a.jpg -> a.jpg; train/cat/a.jpg -> cat/a.jpg; a.jpg -> a.jpg."""
    plain = is_plain(key)
    parts = key.split("/") if plain else list(PurePosixPath(key).parts)
    join = "/".join if plain else (lambda rest: str(PurePosixPath(*rest)))
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] in _LAYOUT_DIRS:
            rest = parts[i + 1:]
            if len(rest) > 1 and rest[0] in SPLIT_NAMES:
                rest = rest[1:]
            return join(rest)
    if len(parts) > 1 and parts[0] in SPLIT_NAMES:
        parts = parts[1:]
    return join(parts)


def with_suffix_name(rel: str, suffix: str, ext: str) -> str:
    """sub/a.jpg + '_aug2' + '.png' -> sub/a_aug2.png."""
    if is_plain(rel) and "/" not in suffix + ext:
        folder, _, name = rel.rpartition("/")
        dot = name.rfind(".")
        new = (name[:dot] if 0 < dot < len(name) - 1 else name) + suffix + ext  # PurePosixPath.stem + ...
        if new and new != ".":
            return f"{folder}/{new}" if folder else new
    p = PurePosixPath(rel)
    return str(p.with_name(f"{p.stem}{suffix}{ext}"))


@dataclass(frozen=True, slots=True)
class Item:
    """One input image. `key` is its path relative to the input root (posix): the sort key, the
    seed key and the name every message uses. `label_rel` is the format's label source relative
    to the root, if any; `image` and `label` are the full path (or URL) strings.

    Items are lean (slots, and the root is one string shared by every item of a scan rather than a
    prefix repeated in each path), and the parent does not even hold one per input file: scans
    return an ItemTable (augcli.formats.table), which makes Items as they are asked for."""

    key: str
    root: str  # the input root, a path or URL string (augcli.storage); pass the same object to every item
    label_rel: str | None = None
    split: str | None = None
    payload: Any = None  # labels a format already parsed while scanning (e.g. a COCO image's annotations)

    @property
    def image(self) -> str:
        return join_root(self.root, self.key)

    @property
    def label(self) -> str | None:
        return None if self.label_rel is None else join_root(self.root, self.label_rel)


def join_root(root: str, rel: str) -> str:
    """`rel` (posix) below the root string `root`: what str(Path(root) / rel) or str(UPath / rel) gives."""
    return f"{root}{rel}" if root.endswith("/") else f"{root}/{rel}"


@dataclass
class Dataset:
    schema: LabelSchema
    items: Sequence[Item]  # in key order: an augcli.formats.table.ItemTable (file-per-image formats) or a list
    notes: list[str] = field(default_factory=list)  # warnings found while scanning, for the log
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (path, reason, message): skipped, reported


@dataclass
class Loaded:
    """What a worker gets from `load`: the sample, the raw image bytes (for byte copies) and warnings."""

    sample: Sample
    data: bytes
    warnings: list[str] = field(default_factory=list)


@dataclass
class Written:
    """What a writer reports for one output: relative paths ('image', 'label' when there is a
    per-image label file) and an optional small JSON-safe payload for `finalize` (e.g. COCO
    annotations), spooled to disk by the parent rather than kept in memory."""

    paths: dict[str, str]
    payload: dict[str, Any] | None = None
    # the objects written when they are not the sample's own: a mask dataset's regions, which an
    # object format (YOLO, COCO, VOC) writes one object each; the run counts these as written
    derived_objects: Any = None


def unusable_name(key: str) -> str | None:
    """Why a file name cannot be carried into outputs and manifests, or None when it can:
    names must be valid UTF-8 (manifests are UTF-8 JSON) and free of control characters
    (a newline would break every line-based list: ImageSets, logs)."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "the file name is not valid UTF-8"
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        return "the file name contains a newline or another control character"
    return None

"""Shared shapes that formats produce and consume."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from augcli.sample import LabelSchema, Sample

SPLIT_NAMES = ("train", "val", "valid", "validation", "test")


@dataclass(frozen=True)
class Item:
    """One input image. `key` is its path relative to the input root (posix): the sort key, the
    seed key and the name every message uses. `label` is the format's label source, if any."""

    key: str
    image: str
    label: str | None = None
    split: str | None = None
    payload: Any = None  # labels a format already parsed while scanning (e.g. a COCO image's annotations)


@dataclass
class Dataset:
    schema: LabelSchema
    items: list[Item]
    notes: list[str] = field(default_factory=list)  # warnings found while scanning, for the log


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

"""Dataset formats: one module per format; nothing outside a format's module knows its layout.

A format module provides:
    NAME                              the --input-format / --output-format name
    detect(root) -> float             confidence in [0, 1] that `root` holds this format
    scan(root) -> Dataset             schema + sorted items (cheap: no pixels, no label parsing)
    load(item, schema, max_pixels) -> Loaded   in a worker: decoded image, parsed labels
    Writer(out_root, schema)          .write(...) per output in workers, .finalize(...) once in the parent
"""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from augcli.errors import UsageError

FORMATS = {"yolo": "augcli.formats.yolo"}


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

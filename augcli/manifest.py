"""Provenance: one JSON line per written image, in input order, flushed as results arrive."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MANIFEST_NAME = "augcli-manifest.jsonl"
RUN_INFO_NAME = "augcli-run.json"
SPOOL_NAME = ".augcli-spool.jsonl"  # what writers' finalize() reads: one line per written image


class Spool:
    """Per-output writer entries ({'image', 'split', 'payload'}) kept on disk, not in memory,
    so the parent's memory stays flat however many images a run writes."""

    def __init__(self, out_root: Path):
        self.path = Path(out_root) / SPOOL_NAME
        self._f = open(self.path, "w", encoding="utf-8")

    def add(self, entry: dict[str, Any]) -> None:
        self._f.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self._f.close()

    def __iter__(self):
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class ManifestWriter:
    def __init__(self, out_root: Path):
        self.path = Path(out_root) / MANIFEST_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "w", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(record, ensure_ascii=False, separators=(", ", ": ")) + "\n")

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def read_manifest(out_root: Path) -> list[dict[str, Any]]:
    path = Path(out_root) / MANIFEST_NAME
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # a line cut short by a crash: everything before it stands
    return records

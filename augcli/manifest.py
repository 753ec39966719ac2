"""Provenance: one JSON line per written image, in input order, flushed as results arrive."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MANIFEST_NAME = "augcli-manifest.jsonl"
RUN_INFO_NAME = "augcli-run.json"


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

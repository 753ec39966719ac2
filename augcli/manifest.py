"""Provenance and resume state.

augcli-manifest.jsonl  one JSON line per written image (and per skipped input), in input order
augcli-run.json        what the run was: augcli version, recipe hash, formats; `complete` at the end
.augcli-spool.jsonl    per-output entries that writers' finalize() reads (kept on disk, not in memory)
.augcli-lock           held (flock) by the run writing there; names its pid and host (see augcli.api)

A resumed or incremental run writes the new manifest and spool beside the old ones
(`.partial`) and swaps them in at the end, so a crash while resuming leaves the previous
state whole."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

MANIFEST_NAME = "augcli-manifest.jsonl"
RUN_INFO_NAME = "augcli-run.json"
SPOOL_NAME = ".augcli-spool.jsonl"
PARTIAL = ".partial"
LOCK_NAME = ".augcli-lock"  # a run writing into OUTPUT holds it; removed when the run ends


class JsonLines:
    """An append-only JSON-lines file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "w", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(record, ensure_ascii=False, separators=(", ", ": ")) + "\n")

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Complete records of a JSON-lines file; a last line cut short by a crash ends the stream.

    Read as bytes and decoded a line at a time: a crash or a full disk can cut the file inside a
    character of a non-ASCII name (a write stops at any byte), which a text-mode read would raise
    UnicodeDecodeError for at the end of the file. A line that is not UTF-8 JSON of an object ends
    the stream like a cut one."""
    if not Path(path).is_file():
        return
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                return
            line = raw.strip()
            if line:
                try:
                    record = json.loads(line.decode("utf-8"))
                except ValueError:  # json.JSONDecodeError, UnicodeDecodeError
                    return
                if not isinstance(record, dict):
                    return
                yield record


class Records:
    """The complete records of a JSON-lines file, read afresh at each pass: a writer's finalize
    may go over the spool twice without holding it in memory."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return read_records(self.path)


def read_manifest(out_root: Path) -> list[dict[str, Any]]:
    return list(read_records(Path(out_root) / MANIFEST_NAME))


class Spool(JsonLines):
    """Per-output writer entries ({'image', 'split', 'payload'})."""

    def __iter__(self):
        return read_records(self.path)


class Previous:
    """An earlier run's records, taken item by item in key order (streamed, never all in memory).

    `take(key)` returns (records, spool entries) of that input, or None; keys must be asked for
    in increasing order, and records of inputs never asked for are passed over. `reusable` is False
    when the earlier outputs cannot be kept whatever their inputs (the dataset's class names changed):
    every input is made again, and the records of inputs a run does not reach are dropped."""

    def __init__(self, out_root: Path, reusable: bool = True):
        self.reusable = reusable
        self._records = _grouped(read_records(Path(out_root) / MANIFEST_NAME))
        self._spool = read_records(Path(out_root) / SPOOL_NAME)
        self._head: tuple[str, list[dict]] | None = next(self._records, None)
        self.passed_over = 0  # inputs with outputs that are no longer in the input folder

    def take(self, key: str) -> tuple[list[dict], list[dict]] | None:
        while self._head is not None and self._head[0] < key:
            self._consume(self._head[1], count=True)
            self._head = next(self._records, None)
        if self._head is None or self._head[0] != key:
            return None
        records = self._head[1]
        self._head = next(self._records, None)
        entries = self._consume(records)
        # the spool is paired with the manifest by position, so each entry must name its record's output:
        # a spool cut short by a crash runs out, and one older than its manifest (a run stopped between
        # swapping or uploading the two, after new inputs were added in between) holds another input's
        # entries here, whose payload (its COCO annotations) would be written as this image's labels
        if [e.get("image") for e in entries] != [r["output"] for r in records if "output" in r]:
            return None  # this input is made again
        return records, entries

    def _consume(self, records: list[dict], count: bool = False) -> list[dict]:
        entries = [next(self._spool, None) for r in records if "output" in r]
        if count and any("output" in r for r in records):
            self.passed_over += 1
        return [e for e in entries if e is not None]


def _grouped(records: Iterator[dict]) -> Iterator[tuple[str, list[dict]]]:
    key, group = None, []
    for rec in records:
        if rec.get("source") != key and group:
            yield key, group
            group = []
        key = rec.get("source")
        group.append(rec)
    if group:
        yield key, group


def finish_partial(out_root: Path) -> None:
    """Swap a resumed run's new manifest and spool in place of the old ones."""
    for name in (MANIFEST_NAME, SPOOL_NAME):
        partial = Path(out_root) / (name + PARTIAL)
        if partial.exists():
            os.replace(partial, Path(out_root) / name)

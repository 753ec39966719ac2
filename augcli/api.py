"""The Python API. The CLI is a thin shell over these functions.

    import augcli
    recipe = augcli.load_recipe("configs/basic.yaml")
    report = augcli.run(recipe, "sample_data/yolo", "out/", workers=2)
    out, ops = augcli.augment(sample, recipe, key="frame.jpg", copy=1)
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from augcli import __version__
from augcli.errors import UsageError
from augcli.imageio import DEFAULT_MAX_PIXELS, TMP_MARK
from augcli.manifest import MANIFEST_NAME, RUN_INFO_NAME, SPOOL_NAME, ManifestWriter, Spool, read_manifest
from augcli.recipe import Recipe, load_recipe

__all__ = ["load_recipe", "run", "augment", "RunReport"]


@dataclass
class RunReport:
    """What a run did. `exit_code` follows the CLI contract: 0 all done, 1 some inputs skipped,
    130 / 143 stopped by SIGINT / SIGTERM."""

    input_format: str = ""
    inputs: int = 0
    processed: int = 0
    outputs: int = 0
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (key, reason, message)
    warnings: int = 0
    objects_in: int = 0
    objects_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    stopped_by: int | None = None  # the signal that stopped the run early, if any
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, reason, _ in self.skipped:
            out[reason] = out.get(reason, 0) + 1
        return out

    @property
    def interrupted(self) -> bool:
        return self.stopped_by is not None

    @property
    def exit_code(self) -> int:
        if self.stopped_by is not None:
            return 128 + int(self.stopped_by)  # 130 for SIGINT, 143 for SIGTERM
        return 1 if self.skipped else 0


def augment(sample, recipe: Recipe | str | Path | dict, key: str = "sample", copy: int = 1):
    """Augment one in-memory augcli.sample.Sample; returns (new sample, applied ops).

    Same result as copy `copy` of an input named `key` in `run` with the same seed."""
    from augcli.job import augment_sample

    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    out, ops, _ = augment_sample(sample, recipe, key, copy)
    return out, ops


def _is_within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _prepare_output(out_root: Path, overwrite: bool) -> None:
    """Refuse a non-empty output unless --overwrite and it holds a previous augcli run, which is then removed."""
    if not out_root.exists():
        return
    if not out_root.is_dir():
        raise UsageError(f"output {out_root} exists and is not a folder")
    entries = [p for p in out_root.iterdir()]
    if not entries:
        return
    if not overwrite:
        raise UsageError(f"output folder {out_root} is not empty; choose an empty folder or pass --overwrite "
                         "to replace a previous augcli run there")
    manifest = out_root / MANIFEST_NAME
    if not manifest.is_file():
        raise UsageError(f"output folder {out_root} is not empty and holds no {MANIFEST_NAME}: it was not written "
                         "by augcli, so --overwrite will not delete anything in it; choose an empty folder")
    for rec in read_manifest(out_root):
        for key in ("output", "label"):
            rel = rec.get(key)
            if isinstance(rel, str):
                target = (out_root / rel).resolve()
                if _is_within(target, out_root.resolve()):
                    target.unlink(missing_ok=True)
    for name in ("data.yaml", RUN_INFO_NAME, MANIFEST_NAME, SPOOL_NAME):
        (out_root / name).unlink(missing_ok=True)
    for dirpath, dirnames, filenames in os.walk(out_root, topdown=False):
        for name in filenames:
            if name.endswith(TMP_MARK):
                os.unlink(os.path.join(dirpath, name))
        if dirpath != str(out_root) and not os.listdir(dirpath):
            os.rmdir(dirpath)


def run(
    recipe: Recipe | str | Path | dict,
    input: str | Path,
    output: str | Path,
    *,
    workers: int | None = None,
    seed: int | None = None,
    copies: int | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    overwrite: bool = False,
    input_format: str | None = None,
    output_format: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    splits: dict[str, float] | None = None,
    class_rename: dict[str, str] | None = None,
    drop_classes: tuple[str, ...] | list[str] | None = None,
    keep_classes: tuple[str, ...] | list[str] | None = None,
    log: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RunReport:
    """Augment the dataset at `input` into `output` following `recipe`.

    `input_format` is detected when None; `output_format` defaults to the input's. `splits`
    ({'train': 0.8, 'val': 0.2}) re-splits the images deterministically by seed and path.
    `class_rename` ({old: new}) renames or merges classes, `drop_classes` / `keep_classes`
    filter them by name. `log` receives human-readable lines (default: stderr);
    `progress(done, total)` is called after each input. Raises UsageError / RecipeError
    before any work for bad arguments."""
    from augcli.executor import StopOnSignal, default_workers, make_executor
    from augcli.formats import detect_format, get_format
    from augcli.job import JobSpec, init_worker, run_item

    started = time.monotonic()
    log = log or (lambda line: print(line, file=sys.stderr))
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    recipe = recipe.with_overrides(seed=seed, copies=copies)
    in_root, out_root = Path(input).resolve(), Path(output).resolve()
    if not in_root.is_dir():
        raise UsageError(f"input folder {input} does not exist or is not a folder")
    if _is_within(out_root, in_root):
        raise UsageError(f"output {output} is inside input {input}: the next run would read its own outputs; "
                         "choose an output folder outside the input")
    if _is_within(in_root, out_root):
        raise UsageError(f"input {input} is inside output {output}; choose a separate output folder")
    fmt_name = input_format or detect_format(in_root)
    fmt = get_format(fmt_name)
    out_fmt = output_format or fmt_name
    get_format(out_fmt)
    log(f"augcli: input format {fmt_name}{'' if input_format else ' (detected)'}, output format {out_fmt}")
    dataset = fmt.scan(in_root)
    for note in dataset.notes:
        log(f"warning: {note}")
    schema, class_map = plan_classes(dataset.schema, class_rename or {}, drop_classes or (), keep_classes)
    items = dataset.items
    if splits:
        items = assign_splits(items, splits, recipe.seed)
    all_items = items
    items = items[:limit] if limit is not None else items
    report = RunReport(input_format=fmt_name, inputs=len(items), dry_run=dry_run)
    _check_targets(recipe, schema, log)
    if dry_run:
        per = recipe.copies.default + (1 if recipe.keep_original or recipe.is_conversion else 0)
        log(f"dry run: {len(items)} input images ({fmt_name}) -> about {len(items) * per} outputs in {out_root}; "
            "nothing written")
        return report
    _prepare_output(out_root, overwrite)
    out_root.mkdir(parents=True, exist_ok=True)
    needs_donors = any(t.needs_donors for t in recipe.pipeline.leaves())
    spec = JobSpec(recipe, fmt_name, out_fmt, str(out_root), schema, max_pixels,
                   input_schema=dataset.schema, class_map=class_map,
                   donor_items=tuple(all_items) if needs_donors else None)  # all: --limit stays a prefix
    n_workers = workers or default_workers()
    executor = make_executor(n_workers)
    manifest = ManifestWriter(out_root)
    spool = Spool(out_root)
    def consume(item, result) -> None:
        report.processed += 1
        for w in result.warnings:
            report.warnings += 1
            log(f"warning: {w}")
        if result.error:
            reason, message = result.error
            report.skipped.append((item.key, reason, message))
            log(f"skipped: {message}")
            manifest.write({"source": item.key, "skipped": reason, "error": message})
        for rec, payload in zip(result.records, result.payloads):
            manifest.write(rec)
            spool.add({"image": rec["output"], "split": rec.get("split"), "payload": payload})
            report.outputs += 1
            report.objects_out += rec["objects"]["out"]
            if rec["copy"] == 0 or recipe.is_conversion:
                report.objects_in += rec["objects"]["in"]
            for reason, n in rec.get("dropped", {}).items():
                report.dropped[reason] = report.dropped.get(reason, 0) + n
        if report.processed % 32 == 0:
            manifest.flush()
        if progress:
            progress(report.processed, len(items))

    with StopOnSignal() as stop:
        try:
            for item, result in executor.map(run_item, items, init_worker, (spec,), should_stop=stop):
                consume(item, result)
        except KeyboardInterrupt:  # a second signal: stop now; atomic writes leave no partial file
            report.stopped_by = stop.signum or signal.SIGINT
        finally:
            manifest.close()
            spool.close()
        if stop.signum is not None:
            report.stopped_by = stop.signum
    if not report.interrupted:
        get_format(out_fmt).Writer(out_root, schema).finalize(iter(spool))
        spool.remove()
        _write_run_info(out_root, recipe, report, fmt_name, out_fmt)
    report.seconds = time.monotonic() - started
    return report


def _check_targets(recipe: Recipe, schema, log: Callable[[str], None]) -> None:
    """Every transform must handle every label kind the dataset has: an unsupported one is an error."""
    kinds = {"image", "boxes", "polygons"} | ({"keypoints"} if schema.kpt_shape else set())
    for t in recipe.pipeline.leaves():
        missing = kinds - t.targets
        if missing:
            raise UsageError(f"{t.name} cannot update {', '.join(sorted(missing))}, which this dataset has")
    if schema.kpt_shape and not schema.flip_idx:
        if any(t.name in ("HorizontalFlip", "VerticalFlip") for t in recipe.pipeline.leaves()):
            log("warning: keypoints without flip_idx in data.yaml: flips will not swap left/right keypoints")


def _write_run_info(out_root: Path, recipe: Recipe, report: RunReport, fmt: str, out_fmt: str) -> None:
    from augcli.imageio import atomic_write_bytes

    info = {
        "augcli_version": __version__,
        "input_format": fmt,
        "output_format": out_fmt,
        "recipe_sha256": recipe.fingerprint(),
        "recipe": recipe.to_dict(),
        "inputs": report.inputs,
        "outputs": report.outputs,
        "skipped": report.skipped_by_reason,
    }
    atomic_write_bytes(out_root / RUN_INFO_NAME, (json.dumps(info, indent=2) + "\n").encode())


def plan_classes(schema, rename: dict[str, str], drop, keep) -> tuple[Any, dict[int, int | None] | None]:
    """The output schema and the old id -> new id map (None = dropped) for renames, merges and filters.

    Names in `drop` / `keep` may be old or new names. New ids keep the dataset's convention:
    0..n-1 in first-seen order for 0-based formats, the smallest merged id for COCO ids."""
    from dataclasses import replace

    if not rename and not drop and keep is None:
        return schema, None
    known = set(schema.names.values())
    unknown = sorted((set(rename) | set(drop) | set(keep or ())) - known - set(rename.values()))
    if unknown:
        raise UsageError(f"unknown class name(s) {', '.join(unknown)}; this dataset has: {', '.join(sorted(known)) or 'no names'}")
    new_names: dict[int, str] = {}
    mapping: dict[int, int | None] = {}
    first_id: dict[str, int] = {}
    for old_id, old_name in sorted(schema.names.items()):
        name = rename.get(old_name, old_name)
        if old_name in drop or name in drop or (keep is not None and old_name not in keep and name not in keep):
            mapping[old_id] = None
            continue
        if name not in first_id:
            first_id[name] = len(first_id) if schema.zero_based_ids else old_id
            new_names[first_id[name]] = name
        mapping[old_id] = first_id[name]
    return replace(schema, names=new_names), mapping


def assign_splits(items: list, fractions: dict[str, float], seed: int) -> list:
    """Give every item a split, deterministically from (seed, key): the same image always lands in
    the same split, whatever else is in the folder, and all its copies go with it."""
    import hashlib
    from dataclasses import replace

    names = list(fractions)
    total = sum(fractions.values())
    bounds, acc = [], 0.0
    for name in names:
        acc += fractions[name] / total
        bounds.append(acc)
    out = []
    for item in items:
        digest = hashlib.sha256(f"{seed}\0{item.key}".encode("utf-8", "surrogateescape")).digest()
        u = int.from_bytes(digest[:8], "little") / 2**64
        split = next((n for n, b in zip(names, bounds) if u < b), names[-1])
        out.append(replace(item, split=split))
    return out


def parse_splits(text: str) -> dict[str, float]:
    """'train=0.8,val=0.2' -> {'train': 0.8, 'val': 0.2}; fractions must be positive and sum to 1."""
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            frac = float(value)
        except ValueError:
            frac = -1.0
        if not sep or not name.strip() or not 0 < frac <= 1:
            raise UsageError(f"--splits: expected name=fraction pairs like train=0.8,val=0.2, got {text!r}")
        out[name.strip()] = frac
    if abs(sum(out.values()) - 1.0) > 1e-6:
        raise UsageError(f"--splits: fractions must add up to 1, got {sum(out.values()):g}")
    return out

"""The Python API. The CLI is a thin shell over these functions.

    import augcli
    recipe = augcli.load_recipe("configs/basic.yaml")
    report = augcli.run(recipe, "sample_data/yolo", "out/", workers=2)
    out, ops = augcli.augment(sample, recipe, key="frame.jpg", copy=1)
"""
from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from augcli import __version__
from augcli.errors import OutputError, UsageError
from augcli.formats.table import ItemTable
from augcli.imageio import DEFAULT_MAX_PIXELS, TMP_MARK
from augcli.manifest import (
    LOCK_NAME, MANIFEST_NAME, PARTIAL, RUN_INFO_NAME, SPOOL_NAME, JsonLines, Records, Spool, finish_partial, read_records,
)
from augcli.recipe import Recipe, load_recipe

__all__ = ["load_recipe", "run", "augment", "RunReport"]
DEFAULT_MAX_OUTPUTS = 10_000_000  # a run planned to write more images than this is refused (--max-outputs)
# inputs in a row whose worker died twice before the run gives up: a worker that cannot even start
# (its set-up fails, a broken library) would otherwise fail every input of the dataset, one at a time
WORKER_DEATHS_TO_STOP = 8
FAIL_FAST = "--on-error fail"  # the reason a run stopped at its first bad input


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
    reused: int = 0  # inputs unchanged since the run being resumed
    classes_in: dict[str, int] = field(default_factory=dict)  # objects entering each written output, by class
    classes_out: dict[str, int] = field(default_factory=dict)  # objects written, by class
    objects_in: int = 0
    objects_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    stopped_by: int | None = None  # the signal that stopped the run early, if any
    failed_fast: bool = False  # stopped at the first bad input (on_error='fail')
    fatal: str | None = None  # an error stopped the run (disk full, read-only, folder gone, workers keep dying)
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, reason, _ in self.skipped:
            out[reason] = out.get(reason, 0) + 1
        return out

    @property
    def drop_rate(self) -> float:
        """Share of the objects entering the written outputs that did not make it into them."""
        total = sum(self.classes_in.values())
        return 0.0 if total == 0 else 1.0 - sum(self.classes_out.values()) / total

    def summary(self, recipe: Recipe) -> dict[str, Any]:
        """The machine-readable verdict of a run (`--summary-json`)."""
        names = sorted(set(self.classes_in) | set(self.classes_out))
        return {
            "augcli_version": __version__,
            "recipe_sha256": recipe.fingerprint(),
            "seed": recipe.seed,
            "input_format": self.input_format,
            "exit_code": self.exit_code,
            "inputs": self.inputs,
            "processed": self.processed,
            "reused": self.reused,
            "outputs": self.outputs,
            "skipped": len(self.skipped),
            "skipped_by_reason": self.skipped_by_reason,
            "warnings": self.warnings,
            "objects": {"in": sum(self.classes_in.values()), "out": sum(self.classes_out.values()),
                        "dropped": sum(self.classes_in.values()) - sum(self.classes_out.values()),
                        "dropped_by_reason": dict(sorted(self.dropped.items())), "drop_rate": round(self.drop_rate, 6)},
            "classes": {n: {"in": self.classes_in.get(n, 0), "out": self.classes_out.get(n, 0),
                            "dropped": self.classes_in.get(n, 0) - self.classes_out.get(n, 0)} for n in names},
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.processed / self.seconds, 3) if self.seconds > 0 else None,
            "interrupted": self.interrupted,
            "fatal": self.fatal,
        }

    @property
    def interrupted(self) -> bool:
        return self.stopped_by is not None

    @property
    def exit_code(self) -> int:
        if self.stopped_by is not None:
            return 128 + int(self.stopped_by)  # 130 for SIGINT, 143 for SIGTERM
        if self.fatal is not None:
            return 3
        return 1 if self.skipped else 0


def augment(sample, recipe: Recipe | str | Path | dict, key: str = "sample", copy: int = 1):
    """Augment one in-memory augcli.sample.Sample; returns (new sample, applied ops).

    Same result as copy `copy` of an input named `key` in `run` with the same seed, except for
    mixing transforms that need donor images (MixUp, CutMix, CopyPaste, Mosaic): with no dataset
    to draw them from, those do nothing here."""
    from augcli.job import augment_sample

    if not isinstance(recipe, Recipe):
        if not isinstance(recipe, (str, Path, dict)):
            raise UsageError(f"recipe: expected a Recipe, a YAML file path or a dict, got {type(recipe).__name__}")
        recipe = load_recipe(recipe)
    if not isinstance(key, str):
        raise UsageError(f"key: expected the input's relative path as a str, got {type(key).__name__}")
    if isinstance(copy, bool) or not isinstance(copy, (int, np.integer)) or copy < 1:
        raise UsageError(f"copy: expected a copy number 1, 2, ... (copies count from 1), got {copy!r}")
    _check_sample(sample)
    out, ops, _ = augment_sample(sample, recipe, key, int(copy))
    return out, ops


def _check_sample(sample) -> None:
    """Refuse, with UsageError, an in-memory sample that the pipeline would turn into wrong pixels
    or wrong labels, or into a numpy/OpenCV traceback: the image must be what a run decodes, an
    (H, W, 3) uint8 BGR array with H, W > 0; a mask (H, W) uint8 of the image's size; boxes finite
    x1 <= x2, y1 <= y2 in pixels; polygons (M, 2) finite pixels (M >= 3); class ids >= 0 and among
    the schema's names when it has any (as the format readers require); keypoints (N, K, 3) x, y in
    pixels and v in {0, 1, 2}, finite where v > 0 (a NaN point came back as an unlabelled 0, 0), with
    K and flip_idx matching the schema's layout."""
    from augcli.sample import Sample

    if not isinstance(sample, Sample):
        raise UsageError(f"sample: expected an augcli.sample.Sample, got {type(sample).__name__}")
    image = sample.image
    if not isinstance(image, np.ndarray):
        raise UsageError(f"sample.image: expected a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise UsageError(f"sample.image: expected an (H, W, 3) BGR array, got shape {image.shape}; convert greyscale "
                         "or RGBA first (cv2.cvtColor(image, cv2.COLOR_GRAY2BGR / COLOR_BGRA2BGR))")
    if image.dtype != np.uint8:
        raise UsageError(f"sample.image: expected dtype uint8 (0..255), got {image.dtype}; scale and convert it first")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise UsageError(f"sample.image: the image is empty (shape {image.shape})")
    if sample.mask is not None:
        mask = sample.mask
        if not isinstance(mask, np.ndarray) or mask.dtype != np.uint8 or mask.shape != image.shape[:2]:
            got = f"{mask.dtype} {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
            raise UsageError(f"sample.mask: expected a uint8 class map of the image's size {image.shape[:2]}, got {got}")
    boxes = sample.objects.boxes
    if not np.isfinite(boxes).all():
        raise UsageError("sample.objects.boxes: every coordinate must be a finite number of pixels (found NaN or inf)")
    bad = np.flatnonzero((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]))
    if len(bad):
        raise UsageError(f"sample.objects.boxes: box {int(bad[0])} is {boxes[bad[0]].tolist()}; boxes are x1 y1 x2 y2 "
                         "in pixels with x1 <= x2 and y1 <= y2")
    classes, names = sample.objects.classes, sample.schema.names
    for c in classes:
        if c < 0 or (names and int(c) not in names):
            known = f"one of the schema's ids ({', '.join(map(str, sorted(names)))})" if names else "a whole number >= 0"
            raise UsageError(f"sample.objects.classes: class id {int(c)} is not {known}")
    kps = sample.objects.keypoints
    if kps is not None:
        if kps.ndim != 3 or kps.shape[2] != 3:
            raise UsageError(f"sample.objects.keypoints: expected an (N, K, 3) array of x, y pixels and visibility v, "
                             f"got shape {kps.shape}; give v = 2 (visible) for points that have none")
        layout = sample.schema.kpt_shape
        if layout is not None and kps.shape[1] != layout[0]:
            raise UsageError(f"sample.objects.keypoints: {kps.shape[1]} keypoints per object, but the schema's "
                             f"kpt_shape says {layout[0]}")
        flip = sample.schema.flip_idx
        if flip is not None and sorted(flip) != list(range(kps.shape[1])):
            raise UsageError(f"sample.schema.flip_idx: {list(flip)} is not a permutation of 0..{kps.shape[1] - 1}")
        v = kps[..., 2]
        if not np.isin(v, (0, 1, 2)).all():
            raise UsageError("sample.objects.keypoints: visibility v must be 0 (not labelled), 1 (occluded) or 2 (visible)")
        if not np.isfinite(kps[..., :2][v > 0]).all():
            raise UsageError("sample.objects.keypoints: a labelled keypoint (v > 0) has a NaN or infinite coordinate")
    for i, poly in enumerate(sample.objects.polygons):
        if poly is None:
            continue
        pts = np.asarray(poly)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3 or not np.isfinite(pts.astype(np.float64)).all():
            raise UsageError(f"sample.objects.polygons[{i}]: expected an (M, 2) array of M >= 3 finite x, y pixel "
                             f"points, got shape {pts.shape}")


def _usable_items(items: ItemTable) -> tuple[ItemTable, list[tuple[str, str, str]]]:
    """Items whose names can be carried through, and (key, reason, message) for the others:
    names that are not UTF-8 or hold control characters."""
    from augcli.formats.base import unusable_name

    # a name is unusable only for a control character or a lone surrogate (a byte that was not
    # UTF-8), which the table's keys hold as ED A0..BF: when no key has either, there is nothing to check
    if not re.search(rb"[\x00-\x1f\x7f]|\xed[\xa0-\xbf]", items.key_bytes()):
        return items, []
    refused: list[tuple[str, str, str]] = []
    keep = np.ones(len(items), bool)
    for i, key in enumerate(items.keys()):
        why = unusable_name(key)
        if why:
            shown = key.encode("utf-8", "backslashreplace").decode("utf-8")
            refused.append((shown, "bad-name", f"{shown!r}: {why}; rename it to include it"))
            keep[i] = False
    return items.select(keep), refused


def _image_classes(fmt_name: str, schema, class_map) -> Callable[[Any], int | None]:
    """item -> its image-level class id in the output (classification inputs), else None."""
    if fmt_name != "classify":
        return lambda item: None
    ids = {name: cid for cid, name in schema.names.items()}

    def of(item) -> int | None:
        cid = ids.get(item.payload)
        return class_map.get(cid) if class_map is not None and cid is not None else cid

    return of


# what a temporary name adds to an output's file name (imageio._tmp_name: "." + name + "." + pid +
# TMP_MARK), in bytes, with a pid of 7 digits (Linux's largest pid_max, 4194304)
_TMP_NAME_EXTRA = 2 + 7 + len(TMP_MARK)
_LONGEST_EXT = 5  # bytes: the longest image or label extension a writer gives (.jpeg, .tiff, .webp)


def _name_max(out_root) -> int | None:
    """The longest file name (bytes) the local file system of `out_root` takes (NAME_MAX, 255 on
    most), asked of the folder or its nearest existing parent; None for object storage (no such limit)."""
    from augcli import storage

    if storage.is_remote(out_root):
        return None
    for folder in (out_root, *out_root.parents):
        try:
            return os.pathconf(folder, "PC_NAME_MAX")
        except (OSError, ValueError):  # not there yet, or a file system that does not say
            continue
    return None


def _distinct_outputs(items: ItemTable, writer, recipe: Recipe, image_class: Callable[[Any], int | None],
                      name_max: int | None = None) -> tuple[ItemTable, list[tuple[str, str, str]]]:
    """Inputs whose outputs would land on another input's outputs are refused, not overwritten.

    Two inputs collide when the output format names them alike: a.jpg and a.png (one a.txt),
    train/a.jpg and val/a.jpg written to a flat layout (VOC), classes merged by --class-map;
    or when an input is named like another's augmented copy (a_aug1.jpg beside a.jpg). The
    first in path order keeps its name; the others are skipped with reason 'name-collision'.

    With `name_max` (the output file system's longest file name, bytes: _name_max), an input whose
    output file names (with `_aug<k>`, the extension and the temporary name's additions) would be
    longer is skipped with reason 'bad-name' before any work: its writes would fail with "File name
    too long", which would stop the whole run.

    The output names are not held: a hash of each (HashIndex) finds the few that may be equal,
    and only those are named again and compared."""
    from augcli.formats.table import HashIndex
    from augcli.imageio import output_extension

    pattern = re.compile(r"(.+)_aug([1-9][0-9]*)")
    look_alikes = array("q")  # items whose output name looks like an augmented copy's
    too_long: list[tuple[int, str, int]] = []  # (item, its longest output name, that name's length in bytes)
    stem_of = lambda item: writer.stem(item, image_class(item))  # noqa: E731
    stem_at = lambda i: stem_of(items[i])  # noqa: E731
    most = max([recipe.copies.default, *recipe.copies.by_class.values()])
    # a name of n characters is at most 4n bytes in UTF-8: only names that long are encoded and measured
    room = None if name_max is None else name_max - _TMP_NAME_EXTRA - len(f"_aug{most}") - _LONGEST_EXT

    def stems():
        for i, item in enumerate(items):
            stem = stem_of(item)
            if stem is not None and pattern.fullmatch(stem):
                look_alikes.append(i)
            if room is not None and stem is not None and 4 * (len(stem) - stem.rfind("/") - 1) > room:
                copied = most and not recipe.is_conversion and recipe.augments(item.split)
                name = stem[stem.rfind("/") + 1:] + (f"_aug{most}" if copied else "") + max(
                    output_extension(os.path.splitext(item.key)[1], recipe.output.image_format), ".txt", key=len)
                size = len(name.encode("utf-8", "surrogateescape"))
                if size + _TMP_NAME_EXTRA > name_max:
                    too_long.append((i, name, size))
            yield stem

    index = HashIndex.of(stems(), len(items))
    keep = np.ones(len(items), bool)
    refused = []
    for i, name, size in too_long:
        keep[i] = False
        key = items.key(i)
        message = (f"{key}: its output file names would be up to {size} bytes long ({name[-24:]!r} at the end), "
                   f"and the output folder takes at most {name_max - _TMP_NAME_EXTRA} ({name_max} with the "
                   "temporary name written first); shorten the file name")
        refused.append((key, "bad-name", message))
    for i, first in index.repeats(stem_at):
        if not keep[i]:
            continue  # its name is too long: refused already
        keep[i] = False
        key, stem = items.key(i), stem_at(i)
        refused.append((key, "name-collision", f"{key}: its outputs would be named {stem}.* like "
                        f"those of {items.key(first)}, which would be overwritten; rename one of them"))
    if too_long:
        refused.sort(key=lambda r: r[0])
    if recipe.is_conversion:
        return items.select(keep), refused
    taken = []
    for i in look_alikes:
        if not keep[i]:
            continue  # not the owner of its name: refused already
        stem = stem_at(i)
        m = pattern.fullmatch(stem)
        first = index.first(m.group(1), stem_at)
        if first is not None and int(m.group(2)) <= most and recipe.augments(items[first].split):
            key = items.key(i)
            taken.append((key, "name-collision", f"{key}: its outputs would be named {stem}.*, the name of augmented "
                          f"copy {m.group(2)} of {items.key(first)}; rename it (is it an earlier augcli output?)"))
            keep[i] = False
    if taken:
        refused += taken
        refused.sort(key=lambda r: r[0])
    return items.select(keep), refused


def _is_within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


# files that do not make an output folder "not empty": what macOS Finder, Windows Explorer and KDE
# leave in any folder they show, and the placeholders that keep an empty folder in git
FOLDER_CLUTTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".localized", ".directory", ".gitkeep", ".keep"})


def _prepare_output(out_root, state: Path, overwrite: bool, resume: bool, recipe: Recipe, fmt: str, out_fmt: str,
                    check_only: bool = False, options: dict[str, Any] | None = None, labels: str | None = None):
    """Check OUTPUT before any work. Returns the previous run's state when resuming, else None.
    `check_only` (a dry run): the same refusals, but nothing is fetched, deleted or read beyond them.
    `options` are the run's options that change outputs besides the recipe (_run_options): a resumed
    run must have the same, or the outputs it keeps would not be those it makes. `labels` is the
    run's _labels_fingerprint: when the previous run's differs (class names edited in data.yaml),
    none of its outputs is kept, since every one may carry the old names.

    A non-empty folder is refused unless --resume (a run of the same recipe) or --overwrite (a
    previous augcli run there, whose listed files are then removed). `state` is where this
    run's manifest and spool are written: OUTPUT itself, or a local folder for a remote OUTPUT,
    into which the previous manifest and spool are fetched."""
    from augcli import storage
    from augcli.manifest import Previous

    remote = state != out_root
    # the lock file: this run's own (held), or one a killed run left (held by nobody); and the files a
    # file browser or a repository leaves in a folder made empty for the output (.DS_Store, .gitkeep)
    entries = [e for e in out_root.iterdir() if e.name != LOCK_NAME and e.name not in FOLDER_CLUTTER] \
        if out_root.is_dir() else []
    if out_root.exists() and not out_root.is_dir():
        raise UsageError(f"output {out_root} exists and is not a folder")
    if remote and not check_only:
        for name in (MANIFEST_NAME, SPOOL_NAME):
            storage.get_file(out_root / name, state / name)
    info_path = out_root / RUN_INFO_NAME
    if resume and not overwrite:
        if not info_path.is_file():
            if entries:
                raise UsageError(f"--resume: {out_root} holds no augcli run to resume ({RUN_INFO_NAME} is missing)")
            return None
        try:
            info = json.loads(info_path.read_bytes().decode("utf-8"))
        except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError: a file a crash left empty or cut
            info = exc
        if not isinstance(info, dict):
            raise UsageError(f"--resume: {info_path} is damaged (not the JSON object augcli writes"
                             f"{': ' + str(info) if isinstance(info, Exception) else ''}), so the run there cannot "
                             "be checked or resumed; pass --overwrite to start that folder again")
        now, before = options or DEFAULT_RUN_OPTIONS, info.get("options") or DEFAULT_RUN_OPTIONS
        mismatch = [what for what, ours, theirs in (
            ("recipe", recipe.fingerprint(), info.get("recipe_sha256")),
            ("seed", recipe.seed, (info.get("recipe") or {}).get("seed")),
            ("augcli version", __version__, info.get("augcli_version")),
            ("input format", fmt, info.get("input_format")),
            ("output format", out_fmt, info.get("output_format")),
            *((flag, now.get(key), before.get(key)) for key, flag in _RUN_OPTION_NAMES)) if ours != theirs]
        if mismatch:
            raise UsageError(f"--resume: the {', '.join(mismatch)} differ(s) from the run in {out_root}, so its "
                             "outputs cannot be reused; pass --overwrite to start that folder again")
        if check_only:
            return None
        if not remote:
            _remove_temporaries(out_root)
        return Previous(state, reusable=labels is None or info.get("labels_sha256") == labels)
    if not entries:
        return None
    if not overwrite:
        raise UsageError(f"output folder {out_root} is not empty; choose an empty folder, pass --resume to continue "
                         "or update the augcli run there, or --overwrite to replace it")
    if not (state / MANIFEST_NAME).is_file():
        raise UsageError(f"output folder {out_root} is not empty and holds no {MANIFEST_NAME}: it was not written "
                         "by augcli, so --overwrite will not delete anything in it; choose an empty folder")
    if check_only:
        return None

    def doomed() -> Iterator[str]:  # the previous run's files, read from its manifest a record at a time
        for rec in read_records(state / MANIFEST_NAME):
            yield from (rel for rel in (rec.get("output"), rec.get("label")) if isinstance(rel, str))
        yield from ("data.yaml", "classes.yaml", "labelmap.txt", RUN_INFO_NAME, MANIFEST_NAME, SPOOL_NAME,
                    MANIFEST_NAME + PARTIAL, SPOOL_NAME + PARTIAL)
        for sub in ("annotations", "ImageSets"):  # dataset-level files that formats write at the end
            yield from (f"{sub}/{rel}" for rel in storage.files(out_root / sub) if rel.endswith((".json", ".txt")))

    if remote:
        _remove_remote(out_root, list(doomed()))
        (state / MANIFEST_NAME).unlink(missing_ok=True)
        (state / SPOOL_NAME).unlink(missing_ok=True)
        return None
    real_root = out_root.resolve()
    for rel in doomed():
        target = (out_root / rel).resolve()
        if _is_within(target, real_root):
            target.unlink(missing_ok=True)
    _remove_temporaries(out_root)
    return None


# options of `run` that change what is written besides the recipe, as augcli-run.json records them;
# a run recorded before they were (no "options") had these
DEFAULT_RUN_OPTIONS: dict[str, Any] = {"class_map": {}, "drop_classes": [], "keep_classes": None, "splits": None,
                                       "max_pixels": DEFAULT_MAX_PIXELS}
_RUN_OPTION_NAMES = (("class_map", "--class-map"), ("drop_classes", "--drop-class"),
                     ("keep_classes", "--keep-class"), ("splits", "--splits"), ("max_pixels", "--max-pixels"))


def _labels_fingerprint(input_schema, schema, class_map) -> str:
    """sha256 of what every output depends on besides its own input, the recipe and the options: the
    label schema the labels are read and written with (class names go into VOC files, the manifest and
    per-class copies; kpt_shape and flip_idx move keypoints) and the class id mapping. They come from
    the input's data.yaml / classes.txt / COCO categories, which an input folder may change between runs."""
    import dataclasses
    import hashlib

    def plain(x):
        return dataclasses.asdict(x) if dataclasses.is_dataclass(x) else x

    text = json.dumps([plain(input_schema), plain(schema), sorted((class_map or {}).items())], sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _run_options(class_rename, drop_classes, keep_classes, splits, max_pixels) -> dict[str, Any]:
    """The options recorded in augcli-run.json, in a JSON round-trip-stable form (--splits as pairs:
    their order decides the split boundaries)."""
    return {"class_map": dict(sorted((class_rename or {}).items())), "drop_classes": sorted(drop_classes or ()),
            "keep_classes": None if keep_classes is None else sorted(keep_classes),
            "splits": [[name, frac] for name, frac in splits.items()] if splits else None,
            "max_pixels": max_pixels}


def _remove_remote(out_root, rels: list[str]) -> None:
    """Delete the objects `rels` below a remote `out_root` (batched: one request per thousand on S3)."""
    fs, base = out_root.fs, out_root.path.rstrip("/")
    paths = [f"{base}/{rel}" for rel in dict.fromkeys(rels) if not rel.startswith("/") and ".." not in rel.split("/")]
    present = set(fs.find(base))
    gone = [p for p in paths if p in present]
    for i in range(0, len(gone), 1000):
        fs.rm(gone[i:i + 1000])


def _remove_temporaries(out_root: Path) -> None:
    """Temporary files of a killed run, and folders left empty. The output is read a name at a
    time (storage.walk_files): a folder of a few hundred thousand outputs is never listed whole."""
    from augcli import storage

    folders: list[str] = []

    def enter(rel: str, name: str, is_link: bool) -> bool:
        if not is_link:
            folders.append(f"{rel}/{name}" if rel else name)
        return True

    doomed = [os.path.join(out_root, rel, name) for rel, name, _ in storage.walk_files(out_root, enter)
              if name.endswith(TMP_MARK) or name.endswith(PARTIAL)]
    for path in doomed:
        os.unlink(path)
    for rel in sorted(folders, key=lambda f: f.count("/"), reverse=True):  # the deepest first
        path = os.path.join(out_root, rel)
        try:
            with os.scandir(path) as listing:
                empty = next(listing, None) is None
        except OSError:  # unreadable: os.walk passed such folders over too
            continue
        if empty:
            os.rmdir(path)


def _whole(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_run_arguments(workers, copies, limit, on_error, executor, max_pixels, max_outputs, splits) -> None:
    """Refuse, with UsageError, the keyword arguments of `run` that its CLI flags would refuse:
    without this a negative `limit` silently dropped the last inputs (a Python slice), a negative
    or zero `workers` silently meant the CPU count, an unknown `on_error` meant 'skip', and a
    `splits` dict was not checked at all (its names become folders in OUTPUT: '../x' wrote outside it)."""
    ranges = (("workers", workers, 1, 512), ("copies", copies, 0, 100_000), ("limit", limit, 0, None))
    for name, value, lo, hi in ranges:
        if value is not None and (not _whole(value) or value < lo or (hi is not None and value > hi)):
            span = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
            raise UsageError(f"{name}: expected None or a whole number {span}, got {value!r}")
    for name, value in (("max_pixels", max_pixels), ("max_outputs", max_outputs)):
        if not _whole(value) or value < 1:
            raise UsageError(f"{name}: expected a whole number >= 1, got {value!r}")
    for name, value, choices in (("on_error", on_error, ("skip", "fail")), ("executor", executor, ("local", "dask"))):
        if value not in choices:
            raise UsageError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
    if splits is not None:
        if not isinstance(splits, dict):
            raise UsageError(f"splits: expected a dict of split name -> fraction like {{'train': 0.8, 'val': 0.2}}, "
                             f"got {type(splits).__name__}")
        _check_splits(splits, "splits")


def _check_splits(splits: dict[Any, Any], what: str) -> None:
    """Refuse (UsageError, prefixed `what`: --splits or splits) split names that are not plain folder
    names, fractions outside (0, 1] and fractions that do not add up to 1: the rules of parse_splits
    (the command line) and of run(splits=...) (the Python API)."""
    for name, frac in splits.items():
        if not isinstance(name, str) or not _SPLIT_NAME.fullmatch(name):  # it becomes a folder and file name in OUTPUT
            raise UsageError(f"{what}: {name!r} is not a split name: use letters, digits, '_', '-' "
                             "and '.' (not first), like train, val, test or holdout")
        if isinstance(frac, bool) or not isinstance(frac, (int, float, np.integer, np.floating)) \
                or not 0 < frac <= 1:  # NaN fails this too
            raise UsageError(f"{what}: the fraction of {name!r} must be a number in (0, 1], got {frac!r}")
    if splits and abs(sum(splits.values()) - 1.0) > 1e-6:
        raise UsageError(f"{what}: fractions must add up to 1, got {sum(splits.values()):g}")


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
    resume: bool = False,
    input_format: str | None = None,
    output_format: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    splits: dict[str, float] | None = None,
    class_rename: dict[str, str] | None = None,
    drop_classes: tuple[str, ...] | list[str] | None = None,
    keep_classes: tuple[str, ...] | list[str] | None = None,
    on_error: str = "skip",
    max_outputs: int = DEFAULT_MAX_OUTPUTS,
    log: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> RunReport:
    """Augment the dataset at `input` into `output` following `recipe`.

    `input_format` is detected when None; `output_format` defaults to the input's. `splits`
    ({'train': 0.8, 'val': 0.2}) re-splits the images deterministically by seed and path.
    `class_rename` ({old: new}) renames or merges classes, `drop_classes` / `keep_classes`
    filter them by name. `on_error='fail'` stops at the first bad input (strict CI);
    `max_outputs` refuses a run planned to write more images. `resume` continues an interrupted
    run in `output`, or updates a finished one: inputs whose content and outputs are unchanged
    keep their outputs, new or changed ones are made; the result equals a fresh run's. `log` receives human-readable lines (default: stderr);
    `progress(done, total)` is called after each input. `executor='dask'` runs the items on a Dask
    LocalCluster of `workers` processes, or on the cluster at `scheduler` (tcp://host:8786), whose
    workers must see `input` and `output` at the same paths. `input` and `output` may be fsspec
    URLs (s3://bucket/raw, gs://…, memory://…) with `storage_options` for the backend
    (endpoint_url, key, secret, …); see augcli.storage. Raises UsageError / RecipeError
    before any work for bad arguments."""
    from augcli.formats import detect_format, get_format

    started = time.monotonic()
    log = log or (lambda line: print(line, file=sys.stderr))
    for what, path in (("input", input), ("output", output)):
        if not str(path).strip():  # "" would silently mean the current folder
            raise UsageError(f"the {what} folder is an empty name; give a folder ('.' for the current one)")
    _check_run_arguments(workers, copies, limit, on_error, executor, max_pixels, max_outputs, splits)
    if resume and overwrite:
        raise UsageError("--resume and --overwrite cannot be used together: --resume keeps the run in the output "
                         "folder and adds to it, --overwrite replaces it; choose one")
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    recipe = recipe.with_overrides(seed=seed, copies=copies)
    from augcli import storage

    storage.configure(storage_options)
    in_root, out_root = storage.location(input), storage.location(output)
    if storage.is_remote(out_root):
        storage.check_access(out_root, "output")
    if not (storage.check_access(in_root, "input") if storage.is_remote(in_root) else in_root.is_dir()):
        raise UsageError(f"input folder {input} does not exist or is not a folder")
    out_in_in, in_in_out = storage.same_place(out_root, in_root)
    if out_in_in:
        raise UsageError(f"output {output} is inside input {input}: the next run would read its own outputs; "
                         "choose an output folder outside the input")
    if in_in_out:
        raise UsageError(f"input {input} is inside output {output}; choose a separate output folder")
    if "memory" in (storage.scheme(in_root), storage.scheme(out_root)):
        from augcli.executor import default_workers

        if executor != "local" or (workers or default_workers()) > 1:
            raise UsageError("memory:// lives inside one process: run it with --workers 1 and the local executor")
    from augcli.executor import check_main_guard, start_worker_server, starts_a_pool

    if starts_a_pool(workers, executor, dry_run):
        check_main_guard()  # a script without `if __name__ == "__main__":` would have every worker die
        start_worker_server()  # its imports overlap the scan below
    fmt_name = input_format or detect_format(in_root)
    fmt = get_format(fmt_name)
    out_fmt = output_format or fmt_name
    get_format(out_fmt)
    if fmt_name == "classify" and out_fmt not in ("classify", "images"):
        raise UsageError(f"a classify dataset has one class per image and no objects: written as {out_fmt}, every "
                         "image would get an empty label (a background image). Write it as classify (the default) "
                         "or as images")
    log(f"augcli: input format {fmt_name}{'' if input_format else ' (detected)'}, output format {out_fmt}")
    dataset = fmt.scan(in_root)
    for note in dataset.notes:
        log(f"warning: {note}")
    if not len(dataset.items) and not dataset.problems:  # a wrong --input-format, or the wrong folder
        raise UsageError(f"no images found in {input} ({fmt_name} format"
                         f"{', as given by --input-format' if input_format else ''}); nothing to do")
    schema, class_map = plan_classes(dataset.schema, class_rename or {}, drop_classes or (), keep_classes)
    if not isinstance(dataset.items, ItemTable):  # a format that lists its Items (COCO)
        dataset.items = ItemTable.from_items(dataset.items)
    items, refused = _usable_items(dataset.items)
    if splits:
        items = assign_splits(items, splits, recipe.seed, recipe.random_key)
    items, clashes = _distinct_outputs(items, get_format(out_fmt).Writer(out_root, schema), recipe,
                                       _image_classes(fmt_name, dataset.schema, class_map), _name_max(out_root))
    refused += clashes
    all_items = items
    items = items[:limit] if limit is not None else items
    report = RunReport(input_format=fmt_name, inputs=len(items), dry_run=dry_run)
    _check_targets(recipe, schema, log)
    _check_copies_classes(recipe, schema, log)
    if fmt_name == "classify" and any(t.needs_donors for t in recipe.pipeline.leaves()):
        log("warning: mixing transforms on a classification dataset: a mixed image keeps the class of "
            "the image it started from")
    planned = len(items) * (max([recipe.copies.default, *recipe.copies.by_class.values()]) + 1)
    if planned > max_outputs:
        raise UsageError(f"this run would write up to {planned} images ({len(items)} inputs x copies), more than "
                         f"--max-outputs {max_outputs}; raise --max-outputs if that is really intended")
    options = _run_options(class_rename, drop_classes, keep_classes, splits, max_pixels)
    if dry_run:
        # the refusals a real run would make of OUTPUT (not empty, not a folder, a --resume that cannot)
        _prepare_output(out_root, out_root, overwrite, resume, recipe, fmt_name, out_fmt, check_only=True,
                        options=options)
        # each input's outputs as the run decides them (splits left unaugmented make only their
        # original); per-class copies need the labels, which a dry run does not read: "about"
        outputs = sum(len(recipe.output_copies(item.split, set())) for item in items)
        log(f"dry run: {len(items)} input images ({fmt_name}) -> about {outputs} outputs in {out_root}; "
            "nothing written")
        return report
    try:
        return _execute(recipe, dataset, items, all_items, refused, schema, class_map, report, out_root, input,
                        fmt_name, out_fmt, workers, overwrite, resume, on_error, max_pixels, log, progress, started,
                        executor, scheduler, options)
    except OSError as exc:  # the parent's own writes: manifest, spool, data.yaml, folders
        report.fatal = f"cannot write to {out_root}: {exc.strerror or exc}"
        log(f"augcli: error: {report.fatal}")
        return report


def _execute(recipe, dataset, items, all_items, refused, schema, class_map, report, out_root, input, fmt_name,
             out_fmt, workers, overwrite, resume, on_error, max_pixels, log, progress, started,
             executor_name="local", scheduler=None, options=None) -> RunReport:
    """The part of `run` that writes: the output folder, the pool, the manifest, the dataset files.

    The manifest and spool are appended to as results arrive; for a remote output they are kept
    in a local scratch folder (`state`) and put beside the outputs when the run ends."""
    import shutil
    import tempfile

    from augcli import storage
    from augcli.executor import default_workers, make_executor

    remote = storage.is_remote(out_root)
    executor = make_executor(workers or default_workers(), executor_name, scheduler, log)
    # a local OUTPUT is locked before anything there is read, deleted or written: a second run into the
    # same folder is refused at once
    lock = None if remote else _lock_output(out_root, log)
    state = Path(tempfile.mkdtemp(prefix="augcli-state-")) if remote else out_root
    try:
        return _execute_in(recipe, dataset, items, all_items, refused, schema, class_map, report, out_root, state,
                           input, fmt_name, out_fmt, workers, overwrite, resume, on_error, max_pixels, log, progress,
                           started, executor_name, options, executor)
    finally:
        _unlock_output(out_root, lock)
        if remote:
            shutil.rmtree(state, ignore_errors=True)


def _lock_output(out_root: Path, log: Callable[[str], None]) -> int | None:
    """Take OUTPUT's lock file (LOCK_NAME) for this run, or raise UsageError naming the run that holds it.

    The lock is an flock(2) on the file, which the kernel drops when its holder exits however it
    exits: the lock file a killed run (kill -9, a reboot) leaves behind holds no lock, and the next
    run simply takes it over. Its text (pid, host, start time) only serves to name the holder.
    Where locks are not supported (no fcntl, a filesystem without flock) the run goes on unlocked:
    a lock must never stop a legitimate run. Returns the open descriptor, or None."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        return None
    import errno
    import socket

    if out_root.exists() and not out_root.is_dir():
        return None  # _prepare_output refuses it
    out_root.mkdir(parents=True, exist_ok=True)
    path = out_root / LOCK_NAME
    for _ in range(10):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                log(f"warning: cannot lock {out_root} ({exc.strerror or exc}): make sure no other augcli run "
                    "writes there at the same time")
                return None
            try:
                holder = json.loads(os.read(fd, 65536) or b"{}")
            except ValueError:  # being written just now
                holder = {}
            finally:
                os.close(fd)
            who = (f" (pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started "
                   f"{holder.get('started', '?')})") if holder else ""
            raise UsageError(f"output folder {out_root} is in use by another augcli run{who}; wait for it to "
                             f"finish or choose another output folder (its lock is {path})") from None
        try:  # a run that just ended removes the file: this may be its old one, locked by nobody else
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    else:
        return None
    # not the command line: it may hold --storage-options credentials, and a killed run leaves this file
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    os.ftruncate(fd, 0)
    os.write(fd, (json.dumps(holder) + "\n").encode("utf-8", "backslashreplace"))
    return fd


def _unlock_output(out_root: Path, fd: int | None) -> None:
    """Remove the lock file and release the lock (in that order: see _lock_output's check)."""
    if fd is None:
        return
    try:
        os.unlink(out_root / LOCK_NAME)
    except OSError:  # the folder was removed, or is read-only now
        pass
    os.close(fd)


def _execute_in(recipe, dataset, items, all_items, refused, schema, class_map, report, out_root, state, input,
                fmt_name, out_fmt, workers, overwrite, resume, on_error, max_pixels, log, progress, started,
                executor_name, options, executor) -> RunReport:
    from augcli import storage
    from augcli.executor import StopOnSignal, WorkerCrashed
    from augcli.formats import get_format
    from augcli.job import ItemResult, JobSpec, Task, init_worker, run_item

    remote = state != out_root
    labels = _labels_fingerprint(dataset.schema, schema, class_map)
    previous = _prepare_output(out_root, state, overwrite, resume, recipe, fmt_name, out_fmt, options=options,
                               labels=labels)
    if not remote:
        out_root.mkdir(parents=True, exist_ok=True)
    needs_donors = any(t.needs_donors for t in recipe.pipeline.leaves())
    spec = JobSpec(recipe, fmt_name, out_fmt, str(out_root), schema, max_pixels,
                   input_schema=dataset.schema, class_map=class_map,
                   donor_items=all_items if needs_donors else None,  # all: --limit stays a prefix (a table: small)
                   parent_pid=os.getpid() if executor_name == "local" else None,  # Dask workers are not our children
                   storage_options=storage.options() or None)
    suffix = PARTIAL if previous else ""
    if not previous:
        # before the manifest and spool: a run that cannot write even this (a full disk) must leave
        # nothing, not a folder of empty state files that --resume refuses as "no augcli run to resume"
        _write_run_info(out_root, recipe, report, fmt_name, out_fmt, complete=False, options=options, labels=labels)
    manifest = JsonLines(state / (MANIFEST_NAME + suffix))
    spool = Spool(state / (SPOOL_NAME + suffix))
    held: dict[str, tuple[list[dict], list[dict]]] = {}  # the previous run's records of items in flight
    deaths_in_a_row = 0  # inputs, the last ones yielded, whose worker died twice

    def complete(item, records: list[dict]) -> bool:
        """Whether an input's records from the run being resumed are every output this recipe makes
        of it (the original and/or copies 1..n for its classes): a run killed while recording an
        item can leave only some of them, and such an item is made again, not taken as done. An input
        whose split changed (data.yaml's split folders, VOC's ImageSets) is made again too: its split
        decides where its outputs go, whether it is augmented, and the dataset files that list it."""
        first = records[0]
        if (first.get("split") or None) != (item.split or None):  # records name no split when there is none
            return False
        want = recipe.output_copies(item.split, set(first.get("classes_in") or {}) | set(first.get("image_classes") or []))
        return sorted(r.get("copy", -1) for r in records) == want

    def tasks():
        for item in items:
            old = previous.take(item.key) if previous else None
            if (old and old[0] and previous.reusable and all("output" in r and "source_sha256" in r for r in old[0])
                    and complete(item, old[0])):
                held[item.key] = old
                outputs = tuple(p for r in old[0] for p in (r["output"], r.get("label")) if p)
                yield Task(item, old[0][0]["source_sha256"], outputs)
            else:
                yield Task(item)

    def emit(records: list[dict], payloads: list) -> None:
        outputs = [r for r in records if "output" in r]
        assert len(payloads) in (len(records), len(outputs)), "one writer payload per written image"
        payload_of = dict(zip(map(id, records if len(payloads) == len(records) else outputs), payloads))
        counted_in = False  # one input's records: its objects count once, whichever outputs it made
        for rec in records:
            payload = payload_of.get(id(rec))
            manifest.write(rec)
            if "output" not in rec:
                continue
            spool.write({"image": rec["output"], "split": rec.get("split"), "payload": payload})
            report.outputs += 1
            report.objects_out += rec["objects"]["out"]
            for name, n in rec.get("classes_in", {}).items():
                report.classes_in[name] = report.classes_in.get(name, 0) + n
            for name, n in rec.get("classes", {}).items():
                report.classes_out[name] = report.classes_out.get(name, 0) + n
            if not counted_in:
                report.objects_in += rec["objects"]["in"]
                counted_in = True
            for reason, n in rec.get("dropped", {}).items():
                report.dropped[reason] = report.dropped.get(reason, 0) + n

    def consume(task, result) -> None:
        nonlocal deaths_in_a_row
        item = task.item
        report.processed += 1
        old = held.pop(item.key, None)
        crashed = isinstance(result, WorkerCrashed)
        if crashed:
            result = ItemResult(item.key, error=("worker-crashed", f"{item.key}: {result}"))
        deaths_in_a_row = deaths_in_a_row + 1 if crashed else 0
        for w in result.warnings:
            report.warnings += 1
            log(f"warning: {w}")
        if result.reused and old:
            report.reused += 1
            emit(old[0], [e.get("payload") for e in old[1]])
        elif result.error:
            reason, message = result.error
            report.skipped.append((item.key, reason, message))
            log(f"skipped: {message}")
            manifest.write({"source": item.key, "skipped": reason, "error": message})
            if on_error == "fail":
                stop.request(FAIL_FAST)
            if deaths_in_a_row == WORKER_DEATHS_TO_STOP and report.fatal is None:
                report.fatal = (f"worker processes keep dying: the last {WORKER_DEATHS_TO_STOP} inputs each "
                                "killed a fresh worker twice, so the workers cannot work here (their own "
                                "error output, if any, is above); stopped")
                log(f"augcli: error: {report.fatal}")
                stop.request("workers keep dying")
        else:
            emit(result.records, result.payloads)
        if report.processed % 32 == 0:
            spool.flush()
            manifest.flush()
            if not manifest.path.exists():  # the output folder was removed (and maybe made again) under us
                raise OutputError(f"the output folder {out_root} was removed during the run")
        if progress:
            progress(report.processed, len(items))

    with StopOnSignal() as stop:
        if on_error == "fail" and (dataset.problems or refused):
            # bad inputs found while scanning (a label without its image, names that collide or cannot
            # be carried): known before any work, so a strict run stops before it starts
            stop.request(FAIL_FAST)
        try:
            for task, result in executor.map(run_item, tasks(), init_worker, (spec,), should_stop=stop):
                with stop.critical():  # an item's records go to the manifest and spool whole, or not at all
                    consume(task, result)
        except KeyboardInterrupt:  # a second signal: stop now; atomic writes leave no partial file
            report.stopped_by = stop.signum or signal.SIGINT
        except OutputError as exc:
            report.fatal = str(exc)
            log(f"augcli: error: {exc}")
        finally:
            # inputs not reached (interrupted, or beyond --limit) keep their earlier records, unless those
            # cannot be kept at all (class names changed): a later run would take them as up to date
            if previous and previous.reusable:
                for item in all_items[report.processed:]:
                    old = held.pop(item.key, None) or previous.take(item.key)
                    if old:
                        emit(old[0], [e.get("payload") for e in old[1]])
            for key, reason, message in [*dataset.problems, *refused]:  # after the items: keeps key order
                report.skipped.append((key, reason, message))
                log(f"skipped: {message}")
                manifest.write({"source": key, "skipped": reason, "error": message})
            try:
                manifest.close()
                spool.close()
                finish_partial(state)
                if remote:  # the records so far, beside the outputs (the spool too: --resume reads it)
                    for name in (MANIFEST_NAME, SPOOL_NAME):
                        storage.put_file(state / name, out_root / name)
            except OSError as exc:
                report.fatal = report.fatal or f"cannot write to {out_root}: {exc.strerror or exc}"
                log(f"augcli: error: {report.fatal}")
        if stop.signum is not None:
            report.stopped_by = stop.signum
        report.failed_fast = stop.reason == FAIL_FAST and stop.signum is None
    if getattr(executor, "crashed", False) and not remote:
        _remove_temporaries(out_root)  # a killed worker cannot clean up after itself
    if report.fatal is None and not (state / MANIFEST_NAME).exists():  # .partial was swapped in by now
        report.fatal = f"the output folder {out_root} was removed during the run"
        log(f"augcli: error: {report.fatal}")
    if previous and previous.passed_over:
        log(f"warning: {previous.passed_over} inputs of the previous run are no longer in {input}; "
            "their outputs were left in place but are no longer in the manifest")
    if not report.interrupted and report.fatal is None and not report.failed_fast:
        final_spool = state / SPOOL_NAME  # the .partial of a resumed run was swapped in by now
        # the dataset-level files (a COCO JSON, VOC's ImageSets) are the last step: a first SIGINT or
        # SIGTERM lets it finish; a second stops it, and the writers remove their temporary files (an
        # uncaught SIGTERM would kill the process at once and leave them); the run info then still
        # says incomplete, and --resume makes these files again
        with StopOnSignal() as stop:
            try:
                # the spool stays: a later --resume reuses an unchanged input's outputs only with their entries
                get_format(out_fmt).Writer(out_root, schema).finalize(Records(final_spool))
                _write_run_info(out_root, recipe, report, fmt_name, out_fmt, complete=True, options=options,
                                labels=labels)
            except KeyboardInterrupt:
                report.stopped_by = stop.signum or signal.SIGINT
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


def _check_copies_classes(recipe: Recipe, schema, log: Callable[[str], None]) -> None:
    """Warn about `copies.by_class` names the dataset (after --class-map) has no class of: a typo there
    silently makes the default number of copies."""
    unknown = sorted(set(recipe.copies.by_class) - set(schema.names.values()))
    if unknown and schema.names:
        known = sorted(set(schema.names.values()))
        shown = ", ".join(known[:10]) + (f", ... ({len(known)} in all)" if len(known) > 10 else "")
        log(f"warning: copies.by_class names {', '.join(map(repr, unknown))}, which this dataset has no class of "
            f"(its classes: {shown}); no image gets those copies. Class names are case-sensitive")


def _write_run_info(out_root: Path, recipe: Recipe, report: RunReport, fmt: str, out_fmt: str,
                    complete: bool, options: dict[str, Any] | None = None, labels: str | None = None) -> None:
    from augcli.imageio import atomic_write_bytes

    info = {
        "augcli_version": __version__,
        "input_format": fmt,
        "output_format": out_fmt,
        "recipe_sha256": recipe.fingerprint(),
        "recipe": recipe.to_dict(),
        "options": options if options is not None else DEFAULT_RUN_OPTIONS,
        **({"labels_sha256": labels} if labels is not None else {}),
        "complete": complete,
    }
    if complete:
        info.update(inputs=report.inputs, outputs=report.outputs, skipped=report.skipped_by_reason)
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


def assign_splits(items: ItemTable, fractions: dict[str, float], seed: int,
                  group: Callable[[str], str] = lambda key: key) -> ItemTable:
    """Give every item a split, deterministically from (seed, group(key)): the same image always lands
    in the same split, whatever else is in the folder, and all its copies go with it. `group` is the
    recipe's random_key: the frames of one sequence go to one split together (near-duplicates cut
    across train and val would leak training frames into validation)."""
    import hashlib

    names = list(fractions)
    total = sum(fractions.values())
    bounds, acc = [], 0.0
    for name in names:
        acc += fractions[name] / total
        bounds.append(acc)

    def code(key: str) -> int:
        digest = hashlib.sha256(f"{seed}\0{key}".encode("utf-8", "surrogateescape")).digest()
        u = int.from_bytes(digest[:8], "little") / 2**64
        return next((i for i, b in enumerate(bounds) if u < b), len(names) - 1) + 1

    codes = np.fromiter((code(group(key)) for key in items.keys()), dtype=np.uint16, count=len(items))
    return items.with_splits((None, *names), codes)


_SPLIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


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
    _check_splits(out, "--splits")
    return out

"""Check a dataset in any supported format: counts, a class histogram, and every problem found.

Each problem names its file (and line, where the format has lines) and has a severity:

- 'error': the dataset is wrong somewhere: unreadable images, NaN or out-of-range coordinates,
  zero-size boxes, class ids not in the class list, labels without images, two images
  sharing one label file (duplicate stems), polygons with fewer than 3 points, any other
  malformed label, and scan notes saying part of the dataset will be skipped or ignored.
  A run would skip, drop or misread these. Any error makes the exit code 1.
- 'warning': readable but worth a look: coordinates slightly outside the image that a run
  clips (the format's load() warnings), other scan notes (e.g. no class names). Warnings
  never change the exit code.

YOLO label files are parsed line by line (augcli.formats.yolo.parse_labels on each line), so
every bad line is reported, not only the first of a file; COCO annotations are checked one by
one. Other formats go through their own scan() + load(), one problem per unusable item.
augcli's own files in a run's output (the manifest, augcli-run.json) are never read as data.
"""
from __future__ import annotations

import os
import re
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

from augcli import storage
from augcli.errors import InputError, UsageError
from augcli.formats.base import Item
from augcli.imageio import DEFAULT_MAX_PIXELS, MAX_LABEL_FILE_BYTES, is_image_name, read_file
from augcli.sample import image_level_classes

ERROR, WARNING = "error", "warning"
AUGCLI_FILES = frozenset({"augcli-manifest.jsonl", "augcli-run.json", ".augcli-spool.jsonl"})
_YOLO_LIST_FILES = frozenset({"classes.txt"})  # never label files
_YOLO_ROOT_LISTS = frozenset({"train.txt", "val.txt", "valid.txt", "test.txt"})  # image lists data.yaml may name
_LAYOUT_REASONS = frozenset({"stem-collision", "duplicate-stem", "label-without-image"})  # found by layout_problems
_SCAN_ERROR_WORDS = ("skipped", "ignored", "ignoring", "not usable")  # a note that part of the data will not be used
# VOC's scan note for two images of one id (a.jpg + a.png -> a.xml): the second is never read, as a
# YOLO duplicate stem's labels are misapplied, so it is the same error
_DUPLICATE_ID_NOTE = re.compile(r"(?P<key>.+): another image has the id (?P<id>.+) \((?P<first>.+)\); only that one is used")
# the value a "not a finite number" message shows: NaN or infinity is `nan`; anything else (COCO's null,
# true, "1", [1]) is not a number at all, so `bad-label`
_NON_FINITE_SHOWN = re.compile(r"(?:holds|is) [+-]?(?:nan|inf)")


@dataclass(frozen=True)
class Problem:
    """One thing wrong. `file` is relative to the dataset folder ('' for dataset-wide notes);
    `line` is 1-based when the format has lines (YOLO), else None."""

    severity: str  # 'error' | 'warning'
    kind: str  # a stable code: unreadable-image, nan, out-of-range, zero-size-box, unknown-class, ...
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}" if where else self.message


@dataclass
class CheckReport:
    root: str
    format: str
    detected: bool
    images: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    class_names: dict[int, str] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)  # class id -> objects (images, for class folders / masks)
    count_unit: str = "objects"
    unlabelled: list[str] = field(default_factory=list)  # images without any label
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(p.severity == ERROR for p in self.problems)

    @property
    def warnings(self) -> int:
        return sum(p.severity == WARNING for p in self.problems)

    @property
    def exit_code(self) -> int:
        """0 clean (warnings allowed), 1 errors found."""
        return 1 if self.errors else 0

    def class_counts(self) -> dict[str, int]:
        """Every class of the dataset (0 when unseen) plus any id seen without a name, in id order."""
        ids = sorted(set(self.class_names) | set(self.counts))
        return {self.class_names.get(i, str(i)): self.counts.get(i, 0) for i in ids}

    def to_dict(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for p in self.problems:
            kinds[p.kind] = kinds.get(p.kind, 0) + 1
        return {
            "dataset": self.root,
            "format": self.format,
            "format_detected": self.detected,
            "images": self.images,
            "splits": dict(sorted(self.splits.items())),
            "count_unit": self.count_unit,
            "objects": sum(self.counts.values()),
            "classes": self.class_counts(),
            "images_without_labels": len(self.unlabelled),
            "unlabelled_images": list(self.unlabelled),
            "errors": self.errors,
            "warnings": self.warnings,
            "problems_by_kind": dict(sorted(kinds.items())),
            "problems": [asdict(p) for p in self.problems],
            "exit_code": self.exit_code,
        }


@dataclass
class _ItemResult:
    counts: dict[int, int] = field(default_factory=dict)
    labelled: bool = False
    problems: list[Problem] = field(default_factory=list)
    lines: str | None = None  # a YOLO label file's kind: "segments" (any polygon) or "boxes"


# ---------------------------------------------------------------- classifying messages
def kind_of(message: str, reason: str = "bad-label") -> str:
    """A stable problem code for an InputError / warning message of any format."""
    if reason in ("unreadable-image", "too-large"):
        return "unreadable-image"
    m = message.lower()
    if "non-finite" in m or ("not a finite" in m and _NON_FINITE_SHOWN.search(m)):
        return "nan"
    if "fewer than 3 points" in m:
        return "short-polygon"
    if "outside" in m:
        return "out-of-range"
    if "must be positive" in m or "inverted or empty" in m or "zero width" in m:
        return "zero-size-box"
    if "not in the" in m and any(w in m for w in ("names", "categories", "class list")):
        return "unknown-class"
    return reason or "bad-label"


def _warning(text: str, default_file: str, line: int | None = None) -> Problem:
    """A load() warning 'path[:line]: message' -> Problem. Short polygons are errors whatever the
    reader did with them (COCO drops them with a warning)."""
    file, sep, message = text.partition(": ")
    if not sep:
        file, message = default_file, text
    if line is None and ":" in file:
        head, _, tail = file.rpartition(":")
        if tail.isdigit():
            file, line = head, int(tail)
    if kind_of(message) == "short-polygon":
        return Problem(ERROR, "short-polygon", file, line, message)
    # Any other load() warning is a note the run goes on past (an image's declared size differs, no
    # mask file, keypoints outside marked not labelled): `scan`, never one of the error kinds
    # (bad-label, out-of-range, ...), which the documented table gives error severity.
    return Problem(WARNING, "clipped" if "clipped" in message else "scan", file, line, message)


def _count_sized(objects, counts: dict[int, int], file: str, line: int | None,
                 what: Callable[[int], str]) -> list[Problem]:
    """Count objects by class into `counts`; a zero-size one (a run drops it) is a problem instead."""
    out = []
    for i in range(len(objects)):
        x1, y1, x2, y2 = objects.boxes[i]
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            shape = "polygon" if objects.polygons[i] is not None else "box"
            out.append(Problem(ERROR, "zero-size-box", file, line,
                               f"{what(i)}{shape} has zero width or height ({x2 - x1:g} x {y2 - y1:g} px)"))
            continue
        counts[int(objects.classes[i])] = counts.get(int(objects.classes[i]), 0) + 1
    return out


# ---------------------------------------------------------------- per item
class _Checker:
    def __init__(self, fmt, root: Path, schema, max_pixels: int, skip_labels: set[str]):
        self.fmt, self.root, self.schema, self.max_pixels = fmt, root, schema, max_pixels
        self.skip_labels = skip_labels  # items whose label file another item already checks (duplicate stems)

    def __call__(self, item: Item) -> _ItemResult:
        if self.fmt.NAME == "yolo":
            return self.yolo(item)
        if self.fmt.NAME == "coco":
            return self.coco(item)
        return self.generic(item)

    def generic(self, item: Item) -> _ItemResult:
        out = _ItemResult()
        try:
            loaded = self.fmt.load(item, self.schema, self.max_pixels)
        except InputError as exc:
            out.problems.append(Problem(ERROR, kind_of(exc.message, exc.reason), exc.path, exc.line, exc.message))
            out.labelled = True  # it has labels, just broken ones
            return out
        out.problems += [_warning(w, item.key) for w in loaded.warnings]
        sample = loaded.sample
        out.problems += _count_sized(sample.objects, out.counts, item.key, None, lambda i: f"object {i + 1}: ")
        shown = image_level_classes(sample)  # its class folder's and its mask's: counted per image
        for c in shown:
            out.counts[c] = out.counts.get(c, 0) + 1
        out.labelled = bool(len(sample.objects)) or bool(shown)
        return out

    def yolo(self, item: Item) -> _ItemResult:
        from augcli.formats import yolo

        out = _ItemResult()
        size = (1, 1)  # unreadable image: labels are still checked, in normalised units
        try:
            size = self.fmt.load(replace(item, label_rel=None), self.schema, self.max_pixels).sample.size
        except InputError as exc:
            out.problems.append(Problem(ERROR, kind_of(exc.message, exc.reason), exc.path, exc.line, exc.message))
        rel = yolo.label_relpath(item.key)
        if rel in self.skip_labels or not storage.is_file(item.label):
            return out
        try:
            text = read_file(item.label, rel, "bad-label", MAX_LABEL_FILE_BYTES).decode("utf-8-sig")
        except (InputError, UnicodeDecodeError) as exc:
            out.problems.append(Problem(ERROR, "bad-label", rel, None, f"cannot read label file: {exc}"))
            out.labelled = True
            return out
        lines = text.lstrip("\ufeff").splitlines()  # numbered as parse_labels numbers them
        kpt = self.schema.kpt_shape
        has_polygons = not kpt and any(len(ln.split()) >= 7 for ln in lines)
        box_lines = []
        for lineno, raw in enumerate(lines, start=1):
            tokens = raw.split()
            if not tokens:
                continue
            out.labelled = True
            try:
                objects, warnings = yolo.parse_labels(raw, rel, self.schema, size)
            except InputError as exc:  # parse_labels numbers its one line 1: the real number is lineno
                kind = kind_of(exc.message, exc.reason)
                if not kpt and len(tokens) == 3:
                    kind = "short-polygon"  # cls x y: one point
                out.problems.append(Problem(ERROR, kind, rel, lineno, exc.message))
                continue
            for w in warnings:
                p = _warning(w.replace(f"{rel}:1: ", "", 1), rel, lineno)
                if p not in out.problems:  # one line can be clipped twice (its size, then its edges)
                    out.problems.append(p)
            if has_polygons and len(tokens) == 5:
                box_lines.append(lineno)
            out.problems += _count_sized(objects, out.counts, rel, lineno, lambda i: "")
        if out.counts and not kpt:
            out.lines = "segments" if has_polygons else "boxes"
        if box_lines:
            shown = ", ".join(map(str, box_lines[:5])) + (" ..." if len(box_lines) > 5 else "")
            out.problems.append(Problem(
                WARNING, "mixed-boxes-polygons", rel, box_lines[0],
                f"boxes (line{'s' if len(box_lines) > 1 else ''} {shown}) in a file of polygons: augcli reads both, "
                "but Ultralytics then reads every line as a polygon, so a box's 4 numbers become a 2-point polygon"))
        return out

    def coco(self, item: Item) -> _ItemResult:
        from augcli.formats import coco

        info = item.payload
        out = _ItemResult(labelled=bool(getattr(info, "annotations", ())))
        try:
            loaded = self.fmt.load(replace(item, payload=replace(info, annotations=())), self.schema, self.max_pixels)
        except InputError as exc:
            out.problems.append(Problem(ERROR, kind_of(exc.message, exc.reason), exc.path, exc.line, exc.message))
            return out
        out.problems += [_warning(w, info.json) for w in loaded.warnings]
        size = loaded.sample.size
        for ann in info.annotations:  # one at a time, so every bad annotation is named
            try:
                objects, warnings = coco.annotations_to_objects([ann], self.schema, size, info.json, info.image_id)
            except InputError as exc:
                out.problems.append(Problem(ERROR, kind_of(exc.message, exc.reason), exc.path, exc.line, exc.message))
                continue
            out.problems += [_warning(w, info.json) for w in warnings]
            where = f"annotation {ann.get('id')!r} (image id {info.image_id!r}): "
            out.problems += _count_sized(objects, out.counts, info.json, None, lambda i: where)
        return out


# ---------------------------------------------------------------- dataset-level: layout
def _walk(root: Path, under: Path) -> Iterable[tuple[str, list[str]]]:
    """(folder relative to root, file names) below `under`; hidden entries and links to folders skipped."""
    remote = storage.is_remote(root)
    prefix = str(under)[len(str(root)):].strip("/")
    for rel, dirnames, filenames in storage.walk(under):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (
            remote or not os.path.islink(os.path.join(under, rel, d))))
        rel = "/".join(p for p in (prefix, rel) if p)
        yield rel, sorted(f for f in filenames if not f.startswith(".") and f not in AUGCLI_FILES)


def _label_key(fmt_name: str, item: Item, root: Path) -> str | None:
    """The per-image label file of an item, relative to root, for formats with one file per image."""
    if fmt_name == "yolo":
        from augcli.formats.yolo import label_relpath

        return label_relpath(item.key)
    if fmt_name == "mask" and item.label:
        return item.label_rel
    return None


def _label_files(fmt_name: str, root: Path, items: list[Item]) -> list[str]:
    """Every label file on disk that the format would pair with an image of the same stem."""
    found: list[str] = []
    if fmt_name == "yolo":
        flat_dirs = {str(PurePosixPath(it.key).parent) for it in items if "labels" not in PurePosixPath(
            _label_key(fmt_name, it, root)).parts}
        for rel_dir, files in _walk(root, root):
            parts = PurePosixPath(rel_dir).parts
            in_labels = "labels" in parts
            flat = (rel_dir or ".") in flat_dirs
            if not (in_labels or flat):
                continue
            for name in files:
                if not name.endswith(".txt") or name in _YOLO_LIST_FILES or (not rel_dir and name in _YOLO_ROOT_LISTS):
                    continue
                found.append(f"{rel_dir}/{name}" if rel_dir else name)
    elif fmt_name == "mask" and (root / "masks").is_dir():
        for rel_dir, files in _walk(root, root / "masks"):
            found += [f"{rel_dir}/{name}" for name in files if name.lower().endswith(".png")]
    return sorted(found)


def layout_problems(fmt_name: str, root: Path, items: list[Item]) -> tuple[list[Problem], set[str]]:
    """Labels without images and label files shared by several images (a.jpg + a.png -> a.txt).
    `items` should hold every image on disk, including any the format's scan set aside.

    Returns the problems and the keys of items whose shared label another item already checks."""
    problems: list[Problem] = []
    by_label: dict[str, list[str]] = {}
    for it in sorted(items, key=lambda it: it.key):
        key = _label_key(fmt_name, it, root)
        if key is not None:
            by_label.setdefault(key, []).append(it.key)
    if not by_label:
        return problems, set()
    for label in _label_files(fmt_name, root, items):
        if label not in by_label:
            problems.append(Problem(ERROR, "label-without-image", label, None,
                                    "label file with no image of the same name (a run never reads it)"))
    secondary: set[str] = set()
    for label, keys in sorted(by_label.items()):
        if len(keys) > 1:
            problems.append(Problem(ERROR, "duplicate-stem", label, None,
                                    f"one label file for {len(keys)} images ({', '.join(keys)}): a run gives every "
                                    "one of them these labels; rename all but one image"))
            secondary |= set(keys[1:])
    return problems, secondary


def _note_problem(note: str) -> Problem:
    dup = _DUPLICATE_ID_NOTE.fullmatch(note)
    if dup:
        return Problem(ERROR, "duplicate-stem", dup["key"], None,
                       f"another image has the id {dup['id']} ({dup['first']}): a run reads only that one (with the "
                       "annotation of that id) and never this image; rename all but one image")
    severity = ERROR if any(w in note.lower() for w in _SCAN_ERROR_WORDS) else WARNING
    return Problem(severity, "scan", "", None, note)


# ---------------------------------------------------------------- the check
def check_dataset(
    root: str | Path,
    input_format: str | None = None,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> CheckReport:
    """Read every item of the dataset at `root` and report counts and problems.

    Items are checked by a small thread pool (decoding releases the GIL) with a bounded
    number in flight, results consumed in path order, so memory stays flat and the report
    is the same for any worker count. `progress(done, total)` is called after each image.
    Raises UsageError when the folder is missing or its format cannot be told."""
    from augcli.formats import detect_format, get_format

    storage.configure(storage_options)
    folder = storage.location(root)
    if not folder.is_dir():
        raise UsageError(f"dataset folder {root} does not exist or is not a folder")
    resolved = folder
    fmt_name = input_format or detect_format(resolved)
    fmt = get_format(fmt_name)
    dataset = fmt.scan(resolved)
    report = CheckReport(str(root), fmt_name, input_format is None, class_names=dict(dataset.schema.names),
                         count_unit="images" if fmt_name in ("classify", "mask") else "objects")
    report.problems += [_note_problem(n) for n in dataset.notes]
    # images a format's scan set aside (VOC: a second image of one id): counted, never checked
    set_aside: list[Item] = [Item(key=p.file, root=str(resolved)) for p in report.problems
                             if p.kind == "duplicate-stem" and is_image_name(p.file)]
    # Problems a format's scan reports itself, with the images it set aside because of them. The
    # layout problems (shared label files, labels without images) are found here from the folders,
    # so they are reported once, the same way whether or not a scan also notices them.
    for path, reason, message in getattr(dataset, "problems", None) or ():
        if is_image_name(path):
            set_aside.append(Item(key=path, root=str(resolved)))
        if reason not in _LAYOUT_REASONS:
            report.problems.append(Problem(ERROR, reason, path, None, message.removeprefix(f"{path}: ")))
    layout, secondary = layout_problems(fmt_name, resolved, dataset.items + set_aside)
    report.problems += layout
    report.images = len(dataset.items) + len(set_aside)
    if not report.images:  # a wrong --input-format or folder: "clean" would let a CI gate pass on nothing
        given = "" if input_format is None else ", as given by --input-format"
        report.problems.append(Problem(ERROR, "no-images", "", None,
                                       f"no images found ({fmt_name} format{given}): is this the right folder and format?"))
    for it in dataset.items:
        name = it.split or "(no split)"
        report.splits[name] = report.splits.get(name, 0) + 1
    skip = {_label_key(fmt_name, it, resolved) for it in dataset.items if it.key in secondary}
    checker = _Checker(fmt, resolved, dataset.schema, max_pixels, {s for s in skip if s})
    total = len(dataset.items)
    n_workers = workers or min(8, os.cpu_count() or 1)
    done = 0
    box_files: list[str] = []  # YOLO: label files of boxes only (the first few) ...
    n_box_files = n_segment_files = 0  # ... and how many of each kind
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        pending: deque = deque()
        items = iter(dataset.items)
        while True:
            while len(pending) < 4 * n_workers:
                item = next(items, None)
                if item is None:
                    break
                pending.append((item, pool.submit(checker, item)))
            if not pending:
                break
            item, future = pending.popleft()
            result = future.result()
            for cls, n in result.counts.items():
                report.counts[cls] = report.counts.get(cls, 0) + n
            if not result.labelled and item.key not in secondary:
                report.unlabelled.append(item.key)
            report.problems += result.problems
            if result.lines == "segments":
                n_segment_files += 1
            elif result.lines == "boxes":
                n_box_files += 1
                if len(box_files) < 3:
                    box_files.append(_label_key(fmt_name, item, resolved) or item.key)
            done += 1
            if progress:
                progress(done, total)
    if n_segment_files and n_box_files:
        report.problems.append(Problem(
            WARNING, "mixed-dataset", box_files[0], None,
            f"{n_segment_files} label files hold polygons and {n_box_files} only boxes (e.g. {', '.join(box_files)}): "
            "Ultralytics reads such a dataset as detection and drops every polygon; `augcli run` writes it "
            "all polygons (boxes as their four corners)"))
    return report


# ---------------------------------------------------------------- text
def format_report(report: CheckReport, bar: str = "#", width: int = 30, max_listed: int = 10) -> str:
    """The human-readable report: counts, a class histogram, unlabelled images, every problem."""
    out = [f"dataset: {report.root} ({report.format}{', detected' if report.detected else ''})"]
    splits = ", ".join(f"{k} {v}" for k, v in sorted(report.splits.items()))
    out.append(f"images: {report.images}" + (f" ({splits})" if report.splits and set(report.splits) != {"(no split)"} else ""))
    counts = report.class_counts()
    total = sum(counts.values())
    unit = report.count_unit
    title = {"objects": "objects per class", "images": "images per class"}[unit]
    if report.format == "mask":
        title = "images showing each class (masks)"
    out.append(f"{title}: {total} in {sum(1 for v in counts.values() if v)} of {len(counts)} classes"
               if counts else f"objects: {total}")
    if counts:
        top = max(counts.values()) or 1
        name_w = min(24, max(len(n) for n in counts))
        num_w = len(str(top))
        for name, n in counts.items():
            shown = name if len(name) <= name_w else name[: name_w - 1] + "~"
            out.append(f"  {shown:<{name_w}} {n:>{num_w}} {bar * max(1, round(width * n / top)) if n else ''}".rstrip())
    out.append(f"images without labels: {len(report.unlabelled)}")
    for key in report.unlabelled[:max_listed]:
        out.append(f"  {key}")
    if len(report.unlabelled) > max_listed:
        out.append(f"  ... and {len(report.unlabelled) - max_listed} more (--json lists them all)")
    if not report.problems:
        out.append("problems: none")
    else:
        kinds: dict[str, int] = {}
        for p in report.problems:
            kinds[p.kind] = kinds.get(p.kind, 0) + 1
        out.append(f"problems: {report.errors} error{'s' if report.errors != 1 else ''}, "
                   f"{report.warnings} warning{'s' if report.warnings != 1 else ''} ("
                   + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + ")")
        for p in sorted(report.problems, key=lambda p: p.severity != ERROR):
            out.append(f"  {p.severity:<7} {p}  [{p.kind}]")
    verdict = "clean" if not report.problems else "no errors (warnings only)" if not report.errors else \
        f"{report.errors} error{'s' if report.errors != 1 else ''}: exit code 1"
    out.append(f"result: {verdict}")
    return "\n".join(out) + "\n"

"""What a worker does with one input item: read it, make its outputs, write them, report back.

Runs inside worker processes (or in-process for one worker). Only small records go back
to the parent: never pixel arrays."""
from __future__ import annotations

import errno
import hashlib
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from augcli import storage
from augcli.errors import InputError, OutputError
from augcli.formats import get_format
from augcli.formats.base import Item, canonical_split
from augcli.imageio import MAX_LABEL_FILE_BYTES, encode_image, output_extension, read_file, reduced_decoding, reusable_as
from augcli.recipe import Recipe
from augcli.sample import Objects, Sample, filter_objects, image_level_classes, remap_classes, written_objects
from augcli.seeding import output_rng
from augcli.transforms.base import AugmentState, GeometricTransform


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs, sent once per worker process."""

    recipe: Recipe
    input_format: str
    output_format: str
    output_root: str
    schema: Any  # the output schema (after any class mapping)
    max_pixels: int
    input_schema: Any = None  # the schema labels are read with; None = same as `schema`
    class_map: dict[int, int | None] | None = None  # old class id -> new id, None = drop
    donor_items: Sequence[Item] | None = None  # every input (an ItemTable), for transforms that mix images
    parent_pid: int | None = None  # the augcli process: workers exit when it is gone
    storage_options: dict[str, Any] | None = None  # for remote inputs / outputs (augcli.storage)


@dataclass(frozen=True)
class Task:
    """One input to process. On a resumed run, `expect` is the content hash its outputs were made
    from and `outputs` their paths: when both still hold, the item is not made again."""

    item: Item
    expect: str | None = None
    outputs: tuple[str, ...] = ()


@dataclass
class ItemResult:
    """Small, picklable: manifest records, one writer payload per record (or None), warnings, error."""

    key: str
    records: list[dict[str, Any]] = field(default_factory=list)
    payloads: list[dict[str, Any] | None] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: tuple[str, str] | None = None  # (reason code, message naming the file)
    reused: bool = False  # unchanged since the previous run: its earlier records stand


def source_digest(item: Item, image_data: bytes, pool: str = "") -> str:
    """sha256 over the input's image bytes and its labels (its label file, or the labels the
    format parsed while scanning), and `pool`, a digest of the donor images' names and splits when
    the recipe mixes images: what its outputs depend on besides the recipe. (A donor's content
    changing is not seen: such an output stays consistent with the donor it was made from.)"""
    h = hashlib.sha256(image_data)
    h.update(pool.encode())
    if item.payload is not None:
        h.update(repr(item.payload).encode("utf-8", "surrogateescape"))
    elif item.label and storage.is_file(item.label):
        h.update(read_file(item.label, item.key, "bad-label", MAX_LABEL_FILE_BYTES))
    return h.hexdigest()


def augment_sample(sample: Sample, recipe: Recipe, key: str, copy: int, donors: Any = None
                   ) -> tuple[Sample, list[dict], dict[str, int]]:
    """Make copy number `copy` (1-based) of `sample`. Returns the output sample (objects already
    filtered by the recipe's label policy), the applied ops with their sampled parameters, and
    dropped-object counts by reason. `donors(rng) -> (key, Sample)` supplies other images for
    mixing transforms."""
    rng = output_rng(recipe.seed, recipe.random_key(key), copy)
    state = AugmentState(sample, recipe.labels, donors)
    recipe.pipeline(state, rng)
    out = state.finish()
    kept, dropped = filter_objects(out.objects, recipe.labels)
    return replace(out, objects=kept), state.ops, dropped


def reduced_decode_factor(recipe: Recipe) -> Callable[[int, int], int] | None:
    """For a recipe whose first step always shrinks every copy by a map that depends on the image
    size alone (Resize, LongestMaxSize, Letterbox with p 1): (width, height) -> the largest k of
    1, 2, 4, 8 at which a JPEG of that size may be decoded (augcli.imageio.reduced_decoding),
    with that step still shrinking or keeping the decoded image, never enlarging it. None for
    any other recipe.

    The map is the same in continuous coordinates, so every label lands where it does from a
    full-size decode; the pixels come from libjpeg's DCT scaling instead of an area resize
    (as sharp, not the same bytes)."""
    children = recipe.pipeline.children
    first = children[0] if children else None
    if not isinstance(first, GeometricTransform) or not first.fixed_map or first.p < 1 or recipe.pipeline.p < 1:
        return None

    def factor(width: int, height: int) -> int:
        matrix, _ = first.matrix({}, (width, height))
        scale = max(math.hypot(matrix[0, 0], matrix[1, 0]), math.hypot(matrix[0, 1], matrix[1, 1]))
        k = 8
        while k > 1 and scale * k > 1 + 1e-9:
            k //= 2
        return k

    return factor


def _class_counts(objects: Objects, schema) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in objects.classes.tolist():
        name = schema.class_name(c)
        counts[name] = counts.get(name, 0) + 1
    return counts


class DonorPool:
    """Other images of the same split for mixing transforms (MixUp, CutMix, Mosaic, CopyPaste).

    A donor is drawn from the copy's own RNG, so the choice is the same for any worker count
    and order. An image never donates to itself, nor does any frame of its own sequence when the
    recipe groups frames into sequences: then every frame of a sequence draws from the same list,
    so all of them get the same donor (their copies share every sampled parameter). When the
    image (or its sequence) is all its split has, it may donate to itself. An unreadable donor,
    or one whose image-level class the run drops, is passed over for the next one,
    deterministically. Donors are read as they are (un-augmented), with the run's class mapping
    applied."""

    CACHE = 8
    TRIES = 8  # unreadable donors passed over before a draw gives up

    def __init__(self, job: "Job", items: Sequence[Item]):
        self.job = job
        self.by_split: dict[str | None, list[Item]] = {}
        self.position: dict[str, int] = {}
        # per split: group (sequence, or the key itself) -> its items' positions, increasing
        self.groups: dict[str | None, dict[str, list[int]]] = {}
        recipe = job.spec.recipe
        for it in items:
            split = canonical_split(it.split)
            pool = self.by_split.setdefault(split, [])
            self.position[it.key] = len(pool)
            self.groups.setdefault(split, {}).setdefault(recipe.random_key(it.key), []).append(len(pool))
            pool.append(it)
        self.cache: OrderedDict[str, Sample | None] = OrderedDict()

    def for_item(self, item: Item):
        split = canonical_split(item.split)
        pool = self.by_split.get(split, [])
        own = self.position.get(item.key)
        excluded: list[int] = []
        if own is not None:
            excluded = self.groups[split][self.job.spec.recipe.random_key(item.key)]
            if len(excluded) == len(pool):  # the sequence is the whole split: only the image itself
                excluded = [own] if len(pool) > 1 else []
        n_others = len(pool) - len(excluded)

        def pick(i: int) -> Item:  # the i-th image of the split, skipping the excluded positions
            for e in excluded:
                if e <= i:
                    i += 1
                else:
                    break
            return pool[i]

        def draw(rng: np.random.Generator) -> tuple[str, Sample]:
            if n_others == 0:
                raise InputError("no-donor", item.key, "no donor image in its split for a mixing transform")
            start = int(rng.integers(n_others))
            failures = 0
            for step in range(n_others):
                donor = pick((start + step) % n_others)
                try:
                    sample = self.load(donor)
                except InputError:
                    failures += 1
                    if failures >= self.TRIES:
                        break
                    continue
                if sample is not None:  # None: its class is dropped by this run
                    return donor.key, sample
            raise InputError("no-donor", item.key, "no readable donor image in its split for a mixing transform")

        return draw

    def load(self, item: Item) -> Sample | None:
        if item.key in self.cache:
            self.cache.move_to_end(item.key)
            return self.cache[item.key]
        sample = self.job.read(item).sample
        self.cache[item.key] = sample
        if len(self.cache) > self.CACHE:
            self.cache.popitem(last=False)
        return sample


class Job:
    def __init__(self, spec: JobSpec):
        self.spec = spec
        self.reader = get_format(spec.input_format)
        self.out_root = storage.location(spec.output_root)
        self.out_remote = storage.is_remote(self.out_root)
        self.writer = get_format(spec.output_format).Writer(self.out_root, spec.schema)
        self.donors = DonorPool(self, spec.donor_items) if spec.donor_items else None
        # inputs whose every output comes through the recipe's first step, a fixed shrink, may be
        # decoded smaller (read(reduced=True)); only from formats whose labels do not depend on it
        self.decode_factor = reduced_decode_factor(spec.recipe) if getattr(self.reader, "REDUCED_DECODE", False) else None
        # class maps written from polygons, by a recipe that covers or blends pixels: each image (and
        # donor) gets its class map when read, which then follows the pixels as a mask input's does (a
        # hole becomes background, a CutMix rectangle takes the donor's classes) instead of each polygon
        # being drawn whole at the end, over the hole
        self.class_map_first = hasattr(self.writer, "class_map") and any(
            t.remaps_class_pixels for t in spec.recipe.pipeline.leaves())
        # with mixing transforms an output also depends on which images could be donors: donors come
        # from the item's own split, so each name goes in with its split (a data.yaml that moves a folder
        # from train to val changes the donors of the images left in train)
        self.pool_digest = hashlib.sha256("\0".join(f"{it.key}\0{canonical_split(it.split) or ''}"
                                                     for it in spec.donor_items).encode(
            "utf-8", "surrogateescape")).hexdigest() if spec.donor_items else ""

    def read(self, item: Item, reduced: bool = False):
        """Load an item and apply the run's class mapping. Returns the Loaded (sample may be None
        when its image-level class was dropped). `reduced`: the caller makes nothing of the item
        but copies through the recipe, so a JPEG may be decoded at a reduced size when the recipe
        starts with a fixed shrink (self.decode_factor); labels then are in that image's pixels."""
        spec = self.spec
        with reduced_decoding(self.decode_factor if reduced else None):
            loaded = self.reader.load(item, spec.input_schema or spec.schema, spec.max_pixels)
        if spec.class_map is not None:
            had_class = loaded.sample.image_class is not None
            loaded.sample = remap_classes(loaded.sample, spec.class_map, spec.schema)
            if had_class and loaded.sample.image_class is None:
                loaded.sample = None
        if loaded.sample is not None and self.class_map_first and loaded.sample.mask is None:
            loaded.sample = replace(loaded.sample, mask=self.writer.class_map(loaded.sample, item.key))
        if loaded.sample is not None:
            # every copy starts from these pixels (and a donor's serve many items): no step may change
            # them in place; read-only, a step that tried would fail loudly instead of corrupting the
            # next copies
            for array in (loaded.sample.image, loaded.sample.mask):
                if array is not None:
                    array.flags.writeable = False
        return loaded

    def reads_reduced(self, item: Item) -> bool:
        """Whether a run reads `item` with read(reduced=True): the recipe starts with a fixed
        shrink (self.decode_factor) and no original of it (copy 0) is written, only copies made
        through the recipe."""
        recipe = self.spec.recipe
        return (self.decode_factor is not None and recipe.augments(item.split) and not recipe.keep_original
                and not recipe.is_conversion)

    def process(self, task: Task | Item) -> ItemResult:
        task = task if isinstance(task, Task) else Task(task)
        item = task.item
        if not self.out_remote and not os.path.isdir(self.spec.output_root):
            raise OutputError(f"the output folder {self.spec.output_root} has disappeared")
        try:
            if task.expect is not None:
                digest = source_digest(item, read_file(item.image, item.key), self.pool_digest)
                if digest == task.expect and all(storage.is_file(str(self.out_root / p)) for p in task.outputs):
                    return ItemResult(item.key, reused=True)
            return self._process(item)
        except InputError as exc:
            return ItemResult(item.key, error=(exc.reason, str(exc)))
        except OSError as exc:  # reading errors are InputErrors: an OSError here comes from writing
            if exc.errno == errno.ENAMETOOLONG:
                # this input's output path is longer than the file system takes (PATH_MAX: folders nested
                # deep below a long OUTPUT; too long names are refused before the run): a matter of its
                # name, not of the output, so it is skipped and the run goes on
                message = (f"{item.key}: its output path is too long for the output file system ({exc.strerror}); "
                           "shorten its folders or name, or choose a shorter output folder")
                return ItemResult(item.key, error=("bad-name", message))
            raise OutputError(f"cannot write to {self.spec.output_root}: {exc.strerror or exc} "
                              f"(while writing outputs of {item.key})") from None
        except (cv2.error, ValueError, IndexError) as exc:
            # a transform or codec failed on this one image: report it by name, keep the run going
            return ItemResult(item.key, error=("processing-failed", f"{item.key}: processing failed: "
                                               f"{exc.__class__.__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"))

    def _process(self, item: Item) -> ItemResult:
        spec, recipe = self.spec, self.spec.recipe
        reduced = self.reads_reduced(item)
        loaded = self.read(item, reduced)
        sample = loaded.sample
        result = ItemResult(item.key, warnings=loaded.warnings)
        self._digest = source_digest(item, loaded.data, self.pool_digest)
        if sample is None:
            return result  # its image-level class was dropped: left out on purpose
        self._regions_in: tuple[int, dict[str, int]] | None = None  # the input mask's regions (count, by class)
        in_ext = Path(item.image).suffix
        n_in = len(sample.objects)
        self._classes_in = _class_counts(sample.objects, spec.schema)
        # the image's own class and its mask's classes count for per-class copies too (not as objects)
        self._image_classes = [spec.schema.class_name(c) for c in image_level_classes(sample)]
        copies = recipe.output_copies(item.split, set(self._classes_in) | set(self._image_classes))
        ext = output_extension(in_ext, recipe.output.image_format)
        if 0 in copies:
            if ext.lower() == in_ext.lower() and recipe.output.image_format == "keep":
                data = loaded.data  # byte copy: the original is not re-encoded
            else:
                data = encode_image(sample.image, ext, recipe.output.jpeg_quality)
            kept, dropped = self._writable(sample, {})
            self._add(result, item, 0, self.writer.write(item, "", ext, data, kept), [], n_in, kept.objects, dropped,
                      sample)
        reusable: bool | None = None
        for copy in (c for c in copies if c):
            donors = self.donors.for_item(item) if self.donors else None
            out, ops, dropped = augment_sample(sample, recipe, item.key, copy, donors)
            untouched = out.image is sample.image
            if untouched and reusable is None:
                reusable = reusable_as(loaded.data, ext)
            if untouched and reusable and not reduced:  # (a reduced decode is never the input's bytes)
                # no transform touched the pixels: the input's own bytes are them exactly (re-encoding
                # would only lose a little more), as long as the file carries nothing a decode changes
                data = loaded.data
            else:
                data = encode_image(np.ascontiguousarray(out.image), ext, recipe.output.jpeg_quality)
            out, dropped = self._writable(out, dropped)
            written = self.writer.write(item, f"_aug{copy}", ext, data, out)
            self._add(result, item, copy, written, ops, n_in, out.objects, dropped, sample)
        return result

    def _writable(self, sample: Sample, dropped: dict[str, int]) -> tuple[Sample, dict[str, int]]:
        """The sample as the writer gets it: without COCO crowd regions (iscrowd 1) when the output
        format cannot mark them (Writer.KEEPS_CROWD), counted as dropped 'crowd'."""
        objects = sample.objects
        if getattr(self.writer, "KEEPS_CROWD", True) or not any(a.get("iscrowd") for a in objects.attrs):
            return sample, dropped
        crowd = np.array([bool(a.get("iscrowd")) for a in objects.attrs])
        return replace(sample, objects=objects.select(~crowd)), {**dropped, "crowd": int(crowd.sum())}

    def _add(self, result: ItemResult, item, copy, written, ops, n_in, objects, dropped, source: Sample) -> None:
        classes_in = self._classes_in
        if written.derived_objects is not None:
            # a mask dataset written as objects (one per mask region): count those regions, the
            # input's as the objects in and the output's as the objects written
            if self._regions_in is None:
                regions = written.derived_objects if copy == 0 else written_objects(source)
                self._regions_in = len(regions), _class_counts(regions, self.spec.schema)
            objects = written.derived_objects
            n_in, classes_in = self._regions_in
        result.records.append(self._record(item, copy, written.paths, ops, n_in, classes_in, objects, dropped))
        result.payloads.append(written.payload)

    def _record(self, item, copy, paths, ops, n_in, classes_in, objects, dropped) -> dict[str, Any]:
        return {
            "source": item.key,
            **({"split": item.split} if item.split else {}),
            "output": paths["image"],
            **({"label": paths["label"]} if "label" in paths else {}),
            "copy": copy,
            "seed": self.spec.recipe.seed,
            "source_sha256": self._digest,
            "ops": ops,
            "objects": {"in": n_in, "out": len(objects), "dropped": sum(dropped.values())},
            **({"dropped": dropped} if dropped else {}),
            "classes_in": classes_in,
            **({"image_classes": self._image_classes} if self._image_classes else {}),
            "classes": _class_counts(objects, self.spec.schema),
        }


# ---------------------------------------------------------------- worker-process entry points
_JOB: Job | None = None


def init_worker(spec: JobSpec) -> None:
    """Per-process set-up: one OpenCV thread (processes are the parallelism), ignore Ctrl-C (the parent decides)."""
    import signal

    import cv2

    cv2.setNumThreads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    storage.configure(spec.storage_options)
    if spec.parent_pid:
        _watch_parent(spec.parent_pid)
    global _JOB
    _JOB = Job(spec)


def _watch_parent(pid: int, every: float = 1.0) -> None:
    """Exit when the augcli process that started this worker is gone (a `kill -9`, the OOM killer,
    a cron timeout): nobody is left to collect results, and the workers would otherwise wait for
    work forever (they hold their task pipe's both ends, so they never see it close)."""
    import threading
    import time

    def watch() -> None:
        while True:
            time.sleep(every)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # alive, under another user (cannot happen for our own parent)
                continue

    threading.Thread(target=watch, name="augcli-parent-watch", daemon=True).start()


def run_item(task: Task | Item) -> ItemResult:
    assert _JOB is not None, "init_worker was not called"
    return _JOB.process(task)

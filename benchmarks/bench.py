#!/usr/bin/env python
"""augcli performance benchmark (issue 6): throughput against the codec floor, scaling, memory,
per-transform cost and start-up time, measured on a generated dataset.

    python benchmarks/bench.py [--images N] [--quick] [--workers 1,2] [--reps 3] [--save]

What is measured (benchmarks/README.md explains how to read the report):

- The *codec floor*: the bare loop "decode once, encode 3 copies (JPEG q95), copy the label
  file" over the same dataset, in augcli's own executor (augcli.executor.make_executor) with
  the same worker count: the same kind of pool, only the work differs.
- augcli STANDARD and LIGHT recipes, run through the `augcli run` command line entry point;
  the same two recipes as a hand-written plain-OpenCV script (no framework: one warp, a lookup
  table, pre-drawn noise) in a multiprocessing.Pool, the reference issue 6 measures against;
  and, when albumentations is importable, a hand-written Albumentations script doing the
  STANDARD work in a multiprocessing.Pool.
- Each case runs in a fresh child process (this file with --child), so peak RSS and CPU time
  belong to that case alone. Repetitions are interleaved (rep 1: every worker count and every
  case, then rep 2, ...), and ratios are taken within a repetition, so slow drift of the
  machine cancels out. Tables show medians.

Only the standard library is imported at module level: the child processes import what their
case needs, before the timer starts.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import inspect
import io
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:  # (imported from elsewhere, e.g. by a test) the floor's worker module lives here
    sys.path.insert(0, str(HERE))
from floor_loop import COPIES, JPEG_QUALITY, floor_item, init_single_thread  # noqa: E402
DEFAULT_DATA = HERE / "data"  # git-ignored: generated datasets and scratch outputs
DEFAULT_RESULTS = HERE / "results"
RESULT_MARK = "BENCH-RESULT "
TRASH = "trash"  # under the scratch folder: case outputs wait here, undeleted, until the benchmark ends
# ext4 without a journal (the development VM's disk) will not reuse an inode freed in the last 60 s
# (300 s while its inode table block is dirty, which new files in the same block make it), and every
# new file walks past each such inode: after deleting a few thousand files, each file created takes
# 0.3-0.9 ms instead of about 0.02 ms (perf: ext4's recently_deleted()), some 2-5 ms per image in a
# 300-image run, floor and augcli alike, for minutes. So outputs are moved aside, not deleted, between
# cases and removed once at the end; and before measuring, the benchmark waits until creating a file
# is cheap again (settle_file_creation), however long ago the last deletion was.
CHEAP_CREATE_US = 60.0  # median wall time to create one empty file that counts as settled
SETTLE_LIMIT_SECONDS = 330  # the longest wait; past it the benchmark measures anyway, and says so
SETTLE_POLL_SECONDS = 10

DATASET_SEED = 6
MAIN_SIZE = (1280, 720)  # (width, height) of the throughput dataset
BIG_SIZE = (1920, 1080)  # the memory row
TINY_SIZE = (64, 48)  # the parent-memory-vs-dataset-size row
CLASS_NAMES = ("box", "ellipse", "triangle")

# Targets from issue 6. Ratios are img/s of the case over img/s of the floor, same run, same workers.
TARGET_STANDARD = 0.45
TARGET_LIGHT = 0.8
TARGET_SCALING = 1.8
TARGET_WORKER_MB = 150.0
TARGET_HELP_S = 0.3
TARGET_STARTUP_S = 1.0
TARGET_PARENT_GROWTH_MB = 10.0  # "flat": our reading, parent peak RSS growth across the size range

# keep_original is false so augcli does the floor's work (3 encoded copies per input) and no more.
_RECIPE_HEAD = f"""\
version: 1
seed: 6
copies: {COPIES}
keep_original: false
labels: {{min_visibility: 0.25, min_area: 16, bbox_rotate: corners}}
output: {{image_format: keep, jpeg_quality: {JPEG_QUALITY}}}
pipeline:
"""
STANDARD_RECIPE = f"""\
# issue 6 STANDARD: a typical detection recipe
{_RECIPE_HEAD}  - {{type: HorizontalFlip, p: 0.5}}
  - {{type: Rotate, degrees: [-15, 15], p: 0.7}}
  - {{type: BrightnessContrast, brightness: [-0.2, 0.2], contrast: [-0.2, 0.2], p: 0.5}}
  - {{type: GaussianBlur, sigma: [0.3, 1.5], p: 0.3}}
  - {{type: GaussianNoise, std: [3, 12], p: 0.3}}
"""
LIGHT_RECIPE = f"""\
# issue 6 LIGHT: flip and colour only
{_RECIPE_HEAD}  - {{type: HorizontalFlip, p: 0.5}}
  - {{type: BrightnessContrast, brightness: [-0.2, 0.2], contrast: [-0.2, 0.2], p: 0.5}}
"""
# Not an issue-6 target: a recipe that starts by shrinking to a training size, for `--compare
# --recipes shrink` (no floor compares with it: its outputs are smaller than its inputs).
SHRINK_RECIPE = f"""\
# shrink to a training size first, then flip, turn and colour
{_RECIPE_HEAD}  - {{type: LongestMaxSize, max_size: 416}}
  - {{type: HorizontalFlip, p: 0.5}}
  - {{type: Rotate, degrees: [-10, 10], p: 0.7}}
  - {{type: BrightnessContrast, brightness: [-0.2, 0.2], contrast: [-0.2, 0.2], p: 0.5}}
"""
RECIPES = {"standard": STANDARD_RECIPE, "light": LIGHT_RECIPE, "shrink": SHRINK_RECIPE}
OPENCV_LABELS = {"standard": "hand-written OpenCV STANDARD", "light": "hand-written OpenCV LIGHT"}
DASK_LABEL = "augcli STANDARD (dask)"  # `augcli run --executor dask`: a LocalCluster, against the local pool
DASK_WORKERS = 2  # the only worker count the dask case runs at

# Per-transform table: parameters for transforms whose recipe needs them (REQUIRED) or whose
# defaults are a no-op (Affine's defaults are the identity). Anything else runs with its defaults.
TRANSFORM_PARAMS: dict[str, dict[str, Any]] = {
    "Resize": {"size": [640, 640]},
    "RandomResizedCrop": {"size": [640, 640]},
    "Affine": {"scale": [0.9, 1.1], "translate": [-0.05, 0.05], "rotate": [-10, 10], "shear": [-5, 5]},
    "PadIfNeeded": {"min_size": [1280, 1280]},  # letterbox 1280x720 to a square: the default would be a no-op
}
CONTAINER_CHILD = {"type": "HorizontalFlip"}  # the trivial child a container is measured with
GENERIC_REQUIRED = {"Size": [640, 640]}  # a REQUIRED parameter of this Param class, when TRANSFORM_PARAMS has none
QUIET_CORES = 0.15  # other processes using more CPU than this (in cores) count as a busy machine
RETRY_CORES = 0.2  # a timed case during which other processes used more than this is run again
RETRY_STEAL = 0.05  # ... or the hypervisor took more than this many cores from this VM (steal time)
RETRY_IDLE = 0.15  # ... or its cores sat idle more than this share of its time (see _idle_share)
IDLE_MIN_SECONDS = 1.0  # shorter cases are never judged idle: a pool's start is a real share of them


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ====================================================================== datasets
def _photo_like(index: int, size: tuple[int, int]):
    """A deterministic photo-like BGR image and its objects [(class, x1, y1, x2, y2)] in pixels.

    Smooth colour gradients, low-frequency waves and band-limited texture, 2-6 shaded shapes,
    a slight blur and mild sensor noise: JPEG sizes and codec times close to real photos."""
    import cv2
    import numpy as np

    w, h = size
    rng = np.random.default_rng([DATASET_SEED, index])
    img = cv2.resize(rng.uniform(30, 225, (2, 2, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(3):
        fx, fy = rng.uniform(0.5, 4, 2) * 2 * np.pi
        phase = rng.uniform(0, 2 * np.pi)
        amp = rng.uniform(5, 20, 3).astype(np.float32)
        img += np.sin(xx * (fx / w) + yy * (fy / h) + phase)[..., None] * amp
    for cell, amp in ((64, 12.0), (8, 8.0)):  # texture at two scales, in pixels per noise cell
        cells = rng.standard_normal((h // cell + 2, w // cell + 2, 3)).astype(np.float32)
        img += cv2.resize(cells, (w, h), interpolation=cv2.INTER_CUBIC) * amp
    objects = []
    for _ in range(int(rng.integers(2, 7))):
        bw, bh = rng.uniform(0.06, 0.35) * w, rng.uniform(0.08, 0.4) * h
        x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        colour = rng.uniform(0, 255, 3)
        kind = int(rng.integers(0, 3))
        mask = np.zeros((h, w), np.uint8)
        if kind == 0:
            cv2.rectangle(mask, (int(x0), int(y0)), (int(x0 + bw), int(y0 + bh)), 255, -1)
        elif kind == 1:
            cv2.ellipse(mask, (int(x0 + bw / 2), int(y0 + bh / 2)), (int(bw / 2), int(bh / 2)), 0, 0, 360, 255, -1)
        else:
            tri = np.array([[x0 + bw / 2, y0], [x0 + bw, y0 + bh], [x0, y0 + bh]], np.int32)
            cv2.fillPoly(mask, [tri], 255)
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            continue
        m = (mask.astype(np.float32) / 255.0)[..., None]
        shade = (1.0 + 0.3 * (yy - y0) / bh)[..., None]
        img = img * (1 - m) + m * (colour * shade)
        objects.append((kind, int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    img += rng.standard_normal(img.shape).astype(np.float32) * 2.5
    return np.clip(img, 0, 255).astype(np.uint8), objects


def _tiny(index: int, size: tuple[int, int]):
    """A deterministic tiny image with one box: for many-file runs where pixels do not matter."""
    import numpy as np

    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = np.linspace(40, 200, w, dtype=np.uint8)[None, :, None]
    x0 = 4 + index % (w // 3)
    box = (0, x0, h // 5, x0 + w // 3, h // 5 + h // 2)
    img[box[2]:box[4], box[1]:box[3]] = (index * 7) % 256
    return img, [box]


def _yolo_lines(objects, size: tuple[int, int]) -> str:
    w, h = size
    lines = []
    for cls, x1, y1, x2, y2 in objects:
        x1, x2 = max(0, x1), min(w, x2)
        y1, y2 = max(0, y1), min(h, y2)
        lines.append(f"{cls} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")
    return "\n".join(lines) + "\n"


def ensure_dataset(data_dir: Path, kind: str, n: int, size: tuple[int, int]) -> Path:
    """A YOLO detect dataset (images/, labels/, data.yaml) of n generated JPEGs; built once, then reused.

    Image i is the same in every set of the same kind and size, whatever n is."""
    root = data_dir / f"{kind}-{size[0]}x{size[1]}-n{n}"
    stamp = {"kind": kind, "n": n, "size": list(size), "seed": DATASET_SEED, "version": 1}
    mark = root / ".bench-dataset.json"
    if mark.is_file() and json.loads(mark.read_text()) == stamp:
        return root
    import cv2

    log(f"generating {root.name} ({n} images)")
    shutil.rmtree(root, ignore_errors=True)
    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    (tmp / "labels").mkdir()
    make = _photo_like if kind == "photo" else _tiny
    quality = 92 if kind == "photo" else 90
    digits = max(6, len(str(n)))
    for i in range(n):
        img, objects = make(i, size)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        stem = f"img{i:0{digits}d}"
        (tmp / "images" / f"{stem}.jpg").write_bytes(buf.tobytes())
        (tmp / "labels" / f"{stem}.txt").write_text(_yolo_lines(objects, size))
    (tmp / "data.yaml").write_text("names: [" + ", ".join(CLASS_NAMES) + "]\n")
    (tmp / ".bench-dataset.json").write_text(json.dumps(stamp))
    tmp.rename(root)
    return root


def write_recipes(data_dir: Path) -> dict[str, Path]:
    out = {}
    for name, text in RECIPES.items():
        path = data_dir / "recipes" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
        out[name] = path
    return out


# ====================================================================== memory of a process tree
def _status_kb(pid: int | str, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _pss_kb(pid: int | str) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _children(pid: int) -> list[int]:
    """Direct children of `pid` (any of its threads may have forked them)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(p) for p in f.read().split())
        except OSError:
            continue
    return out


def busy_cpu_seconds() -> tuple[float, float]:
    """(CPU seconds spent busy by the whole machine since boot, of which stolen by the hypervisor)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    hz = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / hz, steal / hz


def other_load(seconds: float = 0.5) -> float:
    """CPU used by the machine over `seconds`, in cores (call while this benchmark is idle)."""
    b0, _ = busy_cpu_seconds()
    c0 = time.process_time()
    time.sleep(seconds)
    return max(0.0, (busy_cpu_seconds()[0] - b0) - (time.process_time() - c0)) / seconds


def wait_for_quiet(max_wait: float) -> float:
    """Wait (up to max_wait seconds) until other processes use less than QUIET_CORES; returns the wait."""
    t0 = time.perf_counter()
    warned = False
    while time.perf_counter() - t0 < max_wait:
        load = other_load()
        if load < QUIET_CORES:
            break
        if not warned:
            log(f"other processes are using {load:.2f} cores: waiting up to {max_wait:.0f} s for a quiet machine")
            warned = True
        time.sleep(0.5)
    return time.perf_counter() - t0


HELPER_MARKS = (b"multiprocessing.forkserver", b"multiprocessing.resource_tracker")


def _descendants(pid: int) -> list[tuple[int, int]]:
    """(pid, parent pid) of every live descendant of `pid`, breadth first."""
    out: list[tuple[int, int]] = []
    queue = [pid]
    while queue:
        parent = queue.pop(0)
        for child in _children(parent):
            out.append((child, parent))
            queue.append(child)
    return out


def _is_helper(pid: int, parent: int, me: int) -> bool:
    """A multiprocessing helper (fork server, resource tracker) started by this process: not a worker.
    Workers forked from a fork server share its command line, but their parent is the server."""
    if parent != me:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return False
    return any(mark in cmdline for mark in HELPER_MARKS)


def _cpu_seconds_of(pid: int) -> float:
    """utime + stime of a live process plus those of its children it has reaped (cutime + cstime)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class TreeSampler(threading.Thread):
    """Samples this process and all its descendants every `interval` seconds (PSS every PSS_EVERY-th time).

    Workers may be children (fork) or grandchildren (started by a fork server): the whole tree
    is walked. Per worker it keeps VmHWM (the process's own peak RSS, so a sample any time
    before it exits sees its peak so far); over the tree, the peak of the summed PSS (shared
    pages split between the processes sharing them). Reading PSS (smaps_rollup walks each
    process's page tables) is what costs: every sample would take some 15% of a core away from
    the workers while all cores are busy, and so lower every 2-worker result; so PSS is read on
    every PSS_EVERY-th sample only, VmHWM (cheap, and a running peak anyway) on each."""

    PSS_EVERY = 10

    def __init__(self, interval: float = 0.05):
        super().__init__(daemon=True)
        self.interval = interval
        self.worker_hwm_kb: dict[int, int] = {}
        self.tree_pss_peak_kb = 0
        self._halt = threading.Event()

    def sample(self, pss: bool = True) -> None:
        me = os.getpid()
        total = (_pss_kb(me) or 0) if pss else 0
        for pid, parent in _descendants(me):
            if not _is_helper(pid, parent, me):
                hwm = _status_kb(pid, "VmHWM")
                if hwm is not None:
                    self.worker_hwm_kb[pid] = max(hwm, self.worker_hwm_kb.get(pid, 0))
            if pss:
                total += _pss_kb(pid) or 0
        self.tree_pss_peak_kb = max(self.tree_pss_peak_kb, total)

    def run(self) -> None:
        n = 0
        while not self._halt.wait(self.interval):
            n += 1
            self.sample(pss=n % self.PSS_EVERY == 0)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def descendants_cpu_seconds() -> float:
    """CPU seconds used so far by this process's live descendants (with the children they reaped)."""
    return sum(_cpu_seconds_of(pid) for pid, _ in _descendants(os.getpid()))


def tree_cpu_seconds(start: os.times_result, helpers_before: float = 0.0) -> float:
    """CPU seconds used since `start` by this process and every descendant, reaped or not.

    Waits (up to 2 s) for workers to be reaped by whoever started them, then adds: this process,
    its reaped children (os.times), and each live descendant with the children it reaped (a
    fork server's reaped workers are only visible there), less `helpers_before`: what helpers
    alive at `start` (a fork server started before the clock) had used by then."""
    me = os.getpid()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if all(_is_helper(pid, parent, me) for pid, parent in _descendants(me)):
            break
        time.sleep(0.02)
    now = os.times()
    own = (now.user - start.user) + (now.system - start.system)
    reaped = (now.children_user - start.children_user) + (now.children_system - start.children_system)
    return own + reaped + descendants_cpu_seconds() - helpers_before


# ====================================================================== child: one measured case
def _yolo_tasks(input_root: Path, output_root: Path) -> list[tuple[str, str, str, str]]:
    images = sorted((input_root / "images").glob("*.jpg"))
    return [(str(p), str(input_root / "labels" / (p.stem + ".txt")), str(output_root), p.stem) for p in images]


def _run_floor(spec: dict[str, Any]) -> int:
    """The floor loop in augcli's own executor (augcli.executor.make_executor): the same pool, the
    same start method and preloads, the same in-flight window, in-process for one worker."""
    from augcli.executor import make_executor

    out = Path(spec["output"])
    (out / "images").mkdir(parents=True)
    (out / "labels").mkdir()
    tasks = _yolo_tasks(Path(spec["input"]), out)
    executor = make_executor(spec["workers"])
    return sum(written for _, written in executor.map(floor_item, tasks, init_single_thread, ()))


def _run_augcli(spec: dict[str, Any]) -> int:
    """`augcli run` through the CLI entry point, in this process; returns the images written."""
    from augcli.cli import main as cli

    args = ["run", spec["recipe"], "-i", spec["input"], "-o", spec["output"], "-w", str(spec["workers"]), "-q"]
    args += spec.get("extra", [])
    try:
        cli.main(args=args, prog_name="augcli", standalone_mode=False)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    if code != 0:
        raise RuntimeError(f"augcli {' '.join(args)} exited with {code}")
    images = Path(spec["output"]) / "images"
    if not images.is_dir():
        return 0
    with os.scandir(images) as entries:  # one entry at a time: a glob's list of 100,000 paths would raise the peak we measure
        return sum(1 for _ in entries)


# --- the hand-written Albumentations script (optional comparison)
_ALBU: Any = None


def _albu_pipeline(recipe: str, seed: int):
    import albumentations as A
    import cv2

    bbox = A.BboxParams(format="yolo", label_fields=["classes"], min_visibility=0.25, min_area=16, clip=True)
    if recipe == "light":
        ops = [A.HorizontalFlip(p=0.5), A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5)]
    else:
        ops = [
            A.HorizontalFlip(p=0.5),
            A.Rotate(limit=(-15, 15), border_mode=cv2.BORDER_CONSTANT, fill=0, p=0.7),
            A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
            A.GaussianBlur(blur_limit=0, sigma_limit=(0.3, 1.5), p=0.3),
            A.GaussNoise(std_range=(3 / 255, 12 / 255), p=0.3),  # std as a fraction of 255
        ]
    return A.Compose(ops, bbox_params=bbox, seed=seed)


def _script_worker_setup() -> None:
    """A hand-written script's worker: one OpenCV thread, and the floor's allocator setting
    (augcli.executor.keep_freed_memory), so that the comparison is about the work, not glibc's
    defaults: without it every image-sized buffer is fresh pages, which on the development VM
    costs the OpenCV script some 5 ms per image (33.7 against 38.5 ms, STANDARD, in-process)."""
    from augcli.executor import keep_freed_memory

    init_single_thread()
    keep_freed_memory()


def _albu_init(recipe: str, seed: int) -> None:
    global _ALBU
    _script_worker_setup()
    _ALBU = _albu_pipeline(recipe, seed + os.getpid())


def _albu_item(task: tuple[str, str, str, str]) -> int:
    import cv2
    import numpy as np

    image_path, label_path, out_root, stem = task
    image = cv2.imdecode(np.fromfile(image_path, np.uint8), cv2.IMREAD_COLOR)
    classes, boxes = [], []
    with open(label_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 5:
                classes.append(int(parts[0]))
                boxes.append([float(v) for v in parts[1:]])
    for k in range(1, COPIES + 1):
        out = _ALBU(image=image, bboxes=np.array(boxes, np.float32).reshape(-1, 4), classes=classes)
        ok, buf = cv2.imencode(".jpg", out["image"], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        with open(os.path.join(out_root, "images", f"{stem}_aug{k}.jpg"), "wb") as f:
            f.write(buf.tobytes())
        lines = "".join(f"{c} {b[0]:.6f} {b[1]:.6f} {b[2]:.6f} {b[3]:.6f}\n" for c, b in zip(out["classes"], out["bboxes"]))
        with open(os.path.join(out_root, "labels", f"{stem}_aug{k}.txt"), "w") as f:
            f.write(lines)
    return COPIES


def _run_albumentations(spec: dict[str, Any]) -> int:
    return _run_pool_script(spec, _albu_init, _albu_item)


# --- the hand-written plain-OpenCV script (issue 6's "no framework at all" reference)
# What a careful engineer writes for one recipe without any framework: decode once, flip and
# rotation fused into one bilinear warp of the BGR image (a flip alone is cv2.flip), brightness and
# contrast as a lookup table, cv2.GaussianBlur, noise read at a random offset from a tile drawn
# once per worker, boxes moved by their corners, clipped and filtered as the recipe says.
_CV: dict[str, Any] = {}
_CV_NOISE_MARGIN = 64  # the noise tile is this much larger than the image: the copies' random offsets


def _opencv_init(recipe: str, seed: int) -> None:
    import numpy as np

    _script_worker_setup()
    _CV.update(standard=recipe == "standard", rng=np.random.default_rng(seed + os.getpid()), noise=None)


def _opencv_noise(h: int, w: int):
    """A (h + margin, w + margin, 3) uint8 tile of 128 + 20 * N(0, 1), drawn once per worker and size."""
    import numpy as np

    noise = _CV["noise"]
    if noise is None or noise.shape[0] < h + _CV_NOISE_MARGIN or noise.shape[1] < w + _CV_NOISE_MARGIN:
        n = np.random.default_rng(0).standard_normal((h + _CV_NOISE_MARGIN, w + _CV_NOISE_MARGIN, 3), np.float32)
        noise = _CV["noise"] = np.clip(np.rint(128.0 + 20.0 * n), 0, 255).astype(np.uint8)
    return noise


def _opencv_copy(image, boxes, rng):
    """One augmented copy: (image, boxes as (n, 4) x1 y1 x2 y2 pixels, indices of the boxes kept)."""
    import cv2
    import numpy as np

    h, w = image.shape[:2]
    m = np.eye(3)  # input -> output in continuous coordinates (pixel i covers [i, i + 1))
    flip = rng.random() < 0.5
    if flip:
        m = np.array([[-1.0, 0.0, w], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    rotate = _CV["standard"] and rng.random() < 0.7
    if rotate:
        t = np.deg2rad(rng.uniform(-15.0, 15.0))
        c, s, cx, cy = np.cos(t), np.sin(t), w / 2.0, h / 2.0
        m = np.array([[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy], [0.0, 0.0, 1.0]]) @ m
        centres = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])  # OpenCV addresses pixel centres
        out = cv2.warpAffine(image, (np.linalg.inv(centres) @ m @ centres)[:2], (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    elif flip:
        out = cv2.flip(image, 1)
    else:
        out = image
    if rng.random() < 0.5:
        brightness, contrast = rng.uniform(-0.2, 0.2, 2)
        b, g, r, _ = cv2.mean(out)
        mean = 0.114 * b + 0.587 * g + 0.299 * r
        table = np.clip(np.rint((np.arange(256) - mean) * (1.0 + contrast) + mean + 255.0 * brightness), 0, 255)
        out = cv2.LUT(out, table.astype(np.uint8))
    if _CV["standard"] and rng.random() < 0.3:
        sigma = rng.uniform(0.3, 1.5)
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma, sigmaY=sigma)
    if _CV["standard"] and rng.random() < 0.3:
        a = rng.uniform(3.0, 12.0) / 20.0
        dy, dx = rng.integers(0, _CV_NOISE_MARGIN, 2)
        out = cv2.addWeighted(out, 1.0, _opencv_noise(h, w)[dy:dy + h, dx:dx + w], a, -128.0 * a)
    # boxes: the four corners through m, their bounding box, clipped; kept when at least 25% of the
    # moved box and 16 px² remain
    x1, y1, x2, y2 = boxes.T
    corners = np.stack([np.stack([x1, y1]), np.stack([x2, y1]), np.stack([x2, y2]), np.stack([x1, y2])])  # (4, 2, n)
    xs = m[0, 0] * corners[:, 0] + m[0, 1] * corners[:, 1] + m[0, 2]
    ys = m[1, 0] * corners[:, 0] + m[1, 1] * corners[:, 1] + m[1, 2]
    moved = np.stack([xs.min(0), ys.min(0), xs.max(0), ys.max(0)], axis=1)
    clipped = np.clip(moved, 0.0, [w, h, w, h])
    area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    full = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
    keep = np.flatnonzero((area >= 16.0) & (area >= 0.25 * full))
    return out, clipped[keep], keep


def _opencv_item(task: tuple[str, str, str, str]) -> int:
    import cv2
    import numpy as np

    image_path, label_path, out_root, stem = task
    with open(image_path, "rb") as f:
        image = cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)
    h, w = image.shape[:2]
    with open(label_path) as f:
        rows = [line.split() for line in f if line.strip()]
    classes = [r[0] for r in rows]
    yolo = np.array([[float(v) for v in r[1:5]] for r in rows], np.float64).reshape(-1, 4)
    cx, cy, bw, bh = (yolo * [w, h, w, h]).T
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    for k in range(1, COPIES + 1):
        out, kept, keep = _opencv_copy(image, boxes, _CV["rng"])
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        with open(os.path.join(out_root, "images", f"{stem}_aug{k}.jpg"), "wb") as f:
            f.write(buf)
        lines = "".join(f"{classes[i]} {(b[0] + b[2]) / 2 / w:.6f} {(b[1] + b[3]) / 2 / h:.6f} "
                        f"{(b[2] - b[0]) / w:.6f} {(b[3] - b[1]) / h:.6f}\n" for i, b in zip(keep, kept))
        with open(os.path.join(out_root, "labels", f"{stem}_aug{k}.txt"), "w") as f:
            f.write(lines)
    return COPIES


def _run_pool_script(spec: dict[str, Any], init: Callable[..., None], item: Callable[..., int]) -> int:
    """A hand-written script's pool: multiprocessing.Pool (fork where there is fork), imap over the items."""
    import multiprocessing as mp

    out = Path(spec["output"])
    (out / "images").mkdir(parents=True)
    (out / "labels").mkdir()
    tasks = _yolo_tasks(Path(spec["input"]), out)
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with mp.get_context(method).Pool(spec["workers"], initializer=init, initargs=(spec["recipe"], 6)) as pool:
        written = sum(pool.imap(item, tasks))
        pool.close()
        pool.join()
    return written


def _run_opencv(spec: dict[str, Any]) -> int:
    return _run_pool_script(spec, _opencv_init, _opencv_item)


def _preimport(case: str) -> None:
    """Import what the case needs before the clock starts; forked workers inherit it, as in augcli."""
    import cv2  # noqa: F401
    import numpy  # noqa: F401

    if case == "floor":
        import augcli.executor  # noqa: F401
    elif case == "augcli":
        import numpy.random  # noqa: F401
        import PIL.Image
        import yaml  # noqa: F401

        import augcli.api  # noqa: F401
        import augcli.cli  # noqa: F401
        import augcli.executor  # noqa: F401
        import augcli.formats.yolo  # noqa: F401
        import augcli.job  # noqa: F401
        from augcli import formats
        from augcli.transforms.registry import registry

        # What `augcli run` imports lazily, as `import albumentations` imports all of Albumentations:
        # every transform family (recipe validation looks names up) and every format (detection).
        registry()
        PIL.Image.preinit()  # the image plugins augcli.imageio's first header read loads
        for name in formats.FORMATS:
            formats.get_format(name)
    elif case == "albumentations":
        import albumentations  # noqa: F401


def _start_worker_server(spec: dict[str, Any]) -> None:
    """For a pool of augcli's own executor (floor, augcli; not dask): start its fork server and
    wait until it has imported its modules, before the clock, as this process imported its own.
    The server is a fresh interpreter importing numpy, OpenCV and augcli (about 0.2 s here):
    library start-up, which the clock leaves out for every case (a 1-worker run imports in this
    process, before the clock; a forked Albumentations pool inherits its parent's imports). The
    workers' own start (fork, set-up, first-item warm-ups) stays inside the clock."""
    if spec["workers"] <= 1 or spec["case"] not in ("floor", "augcli") or "dask" in spec.get("extra", []):
        return
    import multiprocessing.context

    import augcli.executor as ex

    ctx = ex._context()  # the pool's own context (any --rev has it), whatever augcli's start-up helpers are
    if isinstance(ctx, multiprocessing.context.ForkServerContext):
        probe = ctx.Process(target=os.getpid)  # starts the server, which forks it once its imports are done
        probe.start()
        probe.join()


def _idle_share(res: dict[str, Any]) -> float | None:
    """The share of the time of the cores a case could use (`cores`: 1 for one worker, which runs in
    the case's own process, or a case pinned to one CPU) that its processes did not use: 1 − CPU ÷
    (seconds × cores). None for a case shorter than IDLE_MIN_SECONDS or a result without `cores`.

    A CPU-bound case keeps its cores busy: on the development VM 95% of 1-worker cases idled at most
    4%, of 2-worker ones 7% (the pool's start and its last items); 1.5% idled 15–55% with no steal
    and no other process busy (the same code, a repetition later, did not): the VM's cores were held
    up outside the guest's view. Such a run measures the host, not the case, and is run again."""
    cores, seconds, cpu = res.get("cores"), res.get("seconds", 0.0), res.get("cpu_seconds", 0.0)
    if not cores or seconds < IDLE_MIN_SECONDS:
        return None
    return max(0.0, 1.0 - cpu / (seconds * cores))


def _disturbed(res: dict[str, Any]) -> bool:
    """Whether something outside the case took the machine while it ran (see RETRY_CORES, RETRY_STEAL,
    RETRY_IDLE)."""
    idle = _idle_share(res)
    return res["other_cores"] > RETRY_CORES or res["steal_cores"] > RETRY_STEAL or (idle is not None and idle > RETRY_IDLE)


def set_aside(output: Path) -> None:
    """Move a case's output into the trash folder beside it (see TRASH): a rename frees no inode."""
    if not output.exists():
        return
    trash = output.parent / TRASH
    trash.mkdir(exist_ok=True)
    output.rename(trash / f"{output.name}-{os.getpid()}-{time.monotonic_ns()}")


def empty_trash(scratch: Path, settle: float) -> float | None:
    """Delete the outputs set aside; with `settle` > 0, then wait up to that many seconds until new
    files are cheap again (settle_file_creation) and return the cost of one then, in microseconds."""
    trash = scratch / TRASH
    if trash.exists():
        shutil.rmtree(trash, ignore_errors=True)
        os.sync()
    return settle_file_creation(scratch, settle) if settle > 0 else None


def file_create_us(folder: Path, files: int = 40) -> float:
    """Median wall time (µs) to create one empty file in a new folder under `folder`'s trash: the files
    stay (trash is removed at the end of the benchmark), so probing frees no inode itself."""
    probe = folder / TRASH / f"probe-{os.getpid()}-{time.monotonic_ns()}"
    probe.mkdir(parents=True)
    times = []
    for i in range(files):
        t = time.perf_counter()
        os.close(os.open(probe / f"{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def settle_file_creation(scratch: Path, limit: float = SETTLE_LIMIT_SECONDS) -> float:
    """Wait (up to `limit` seconds) until creating a file in `scratch` costs at most
    CHEAP_CREATE_US, i.e. no recently freed inodes are left to walk past (see CHEAP_CREATE_US);
    return the last cost measured, in µs."""
    start = time.monotonic()
    # an inode freed within the current second does not count as recent yet (its deletion time, in whole
    # seconds, must be before now): a probe right after deleting would find creation cheap
    time.sleep(min(2.0, SETTLE_POLL_SECONDS))
    cost = file_create_us(scratch)
    if cost > CHEAP_CREATE_US:
        log(f"creating a file costs {cost:.0f} us (files deleted recently); waiting until it is under "
            f"{CHEAP_CREATE_US:.0f} us (at most {limit:.0f} s; --settle-seconds)")
    while cost > CHEAP_CREATE_US and time.monotonic() - start < limit:
        time.sleep(SETTLE_POLL_SECONDS)
        cost = file_create_us(scratch)
    waited = time.monotonic() - start
    if cost > CHEAP_CREATE_US:
        log(f"creating a file still costs {cost:.0f} us after {waited:.0f} s: measuring anyway")
    elif waited > 1:
        log(f"creating a file costs {cost:.0f} us after {waited:.0f} s")
    return cost


def _cores_of(spec: dict[str, Any]) -> int:
    """How many CPUs a case can keep busy: its workers (one: this process), at most the CPUs this
    process may run on; one when --compare pins it to a CPU."""
    if spec.get("cpu") is not None:
        return 1
    from augcli.executor import default_workers  # the CPUs this process may run on

    return max(1, min(spec["workers"], default_workers()))


def child_main(spec: dict[str, Any]) -> None:
    """Run one case in this fresh process and print its measurements as one JSON line."""
    case = spec["case"]
    _preimport(case)
    if "dask" in spec.get("extra", []):
        import augcli.executor_dask  # noqa: F401  (dask and distributed: libraries, imported before the clock)
    if case == "augcli" and spec.get("augcli_src"):
        import augcli

        found = Path(augcli.__file__).resolve().parent.parent
        if found != Path(spec["augcli_src"]):
            raise RuntimeError(f"augcli was imported from {found}, expected {spec['augcli_src']}")
    set_aside(Path(spec["output"]))
    _start_worker_server(spec)
    helpers_before = descendants_cpu_seconds()
    run = {"floor": _run_floor, "augcli": _run_augcli, "albumentations": _run_albumentations, "opencv": _run_opencv}[case]
    rss_before = _status_kb("self", "VmRSS") or 0
    if spec.get("cpu") is not None:  # --compare: each version on its own core
        os.sched_setaffinity(0, {spec["cpu"]})
    sampler = TreeSampler()
    sampler.sample()
    if spec.get("memory", True):  # the sampling thread takes some CPU; --compare reports no memory
        sampler.start()
    busy0, steal0 = busy_cpu_seconds()
    t0, cpu0 = time.perf_counter(), os.times()
    outputs = run(spec)
    seconds = time.perf_counter() - t0
    busy1, steal1 = busy_cpu_seconds()
    cpu = tree_cpu_seconds(cpu0, helpers_before)
    own = os.times()
    sampler.sample()
    if sampler.is_alive():
        sampler.stop()
    children_maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kB on Linux: the largest child
    workers = list(sampler.worker_hwm_kb.values())
    result = {
        "seconds": seconds,
        "outputs": outputs,
        "cpu_seconds": cpu,
        "own_user_seconds": own.user - cpu0.user, "own_system_seconds": own.system - cpu0.system,  # this process only
        "other_cores": max(0.0, (busy1 - busy0) - cpu) / seconds,  # CPU other processes used meanwhile
        "steal_cores": (steal1 - steal0) / seconds,
        "parent_rss_before_kb": rss_before,
        "parent_hwm_kb": _status_kb("self", "VmHWM") or 0,
        "worker_hwm_kb": max([children_maxrss, *workers]) if (workers or children_maxrss) else None,
        "worker_processes": len(workers),
        "tree_pss_peak_kb": sampler.tree_pss_peak_kb,
        "cores": _cores_of(spec),
    }
    set_aside(Path(spec["output"]))
    if spec.get("sync", True):
        os.sync()  # write this case's files back now, outside any clock, not during the next case
    print(RESULT_MARK + json.dumps(result), flush=True)


# A case's process runs this file's main from `python -c`, not as `python bench.py`: a pool worker
# started by the fork server (or spawned) imports the main module of the process that started it
# again when that is a file, which for bench.py took 45-50 ms of every worker's start, inside the
# clock of every 2-worker floor and augcli case, where an `augcli run` worker imports only the
# command's few-line entry point; code given with -c is not imported again. The floor's worker
# function lives in floor_loop.py, the one module of the benchmark its workers import. (Forked
# pools inherit the parent's modules and never paid this; results saved before 2026-12-02 16:50
# include it.)
# (sys.path[0] is "" under -c, the current folder, which could hold another augcli than the one
# measured: it becomes this folder, as for `python bench.py`)
CHILD_ENTRY = f"import sys; sys.path[0] = {str(HERE)!r}; import bench; sys.exit(bench.main(sys.argv[1:]))"


def start_child(spec: dict[str, Any], pythonpath: Path | None = None) -> subprocess.Popen:
    """Start one case (child_main) in a fresh process; `pythonpath`: a folder its imports look in
    first (another version's snapshot), beyond this process's own PYTHONPATH."""
    env = dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1")
    if pythonpath is not None:
        env["PYTHONPATH"] = _path_first(str(pythonpath), env.get("PYTHONPATH"))
    return subprocess.Popen([sys.executable, "-c", CHILD_ENTRY, "--child", json.dumps(spec)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def child_result(proc: subprocess.Popen, what: str) -> dict[str, Any]:
    """Wait for a case started by start_child and return its measurements (RuntimeError naming
    `what`, with the end of its stderr, when it printed none)."""
    out, err = proc.communicate()
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    raise RuntimeError(f"{what} failed with exit code {proc.returncode}:\n{err[-3000:]}")


@dataclass
class Bench:
    """Where things are and how children are run: shared by every measurement."""

    data_dir: Path
    recipes: dict[str, Path]
    datasets: dict[str, Path]
    augcli_src: Path  # the folder augcli is imported from (a checkout, or a --rev snapshot)
    quiet_wait: float  # seconds to wait, at most, for other processes to go quiet before each case
    retries: int = 0  # times a timed case is run again when other processes were busy during it

    @property
    def scratch(self) -> Path:
        return self.data_dir / "scratch"

    def run_child(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Run one case in a fresh process (after waiting for a quiet machine) and return its measurements."""
        waited = wait_for_quiet(self.quiet_wait) if self.quiet_wait > 0 else 0.0
        proc = start_child({**spec, "augcli_src": str(self.augcli_src)})
        what = f"case {spec['case']} ({spec.get('recipe')}, {spec['workers']} workers)"
        return {**child_result(proc, what), "waited": waited}

    def run_timed(self, spec: dict[str, Any], label: str) -> dict[str, Any]:
        """run_child, run again (up to `retries` times) while other processes used more than
        RETRY_CORES during it, the hypervisor stole more than RETRY_STEAL cores from this VM, or its
        cores sat idle more than RETRY_IDLE of the time (_idle_share): a shared machine makes a case
        slower, not the code. The result says how many runs were discarded; the last one is kept if
        none was clean."""
        for attempt in range(self.retries + 1):
            res = self.run_child(spec)
            if not _disturbed(res):
                break
            if attempt < self.retries:
                idle = _idle_share(res)
                log(f"{label}: other processes used {res['other_cores']:.2f} cores meanwhile, the host stole "
                    f"{res['steal_cores']:.2f}, idle {'-' if idle is None else f'{idle:.0%}'}; discarded, running again")
        res["discarded"] = attempt
        return res


# ====================================================================== in-process measurements
def _median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def transform_costs(dataset: Path, repeats: int) -> dict[str, Any]:
    """ms per image for every registered transform (p=1), through augcli.job.augment_sample on a
    decoded 1280x720 sample with its boxes: sampling, pixels, labels and the label filter."""
    from dataclasses import replace

    import cv2
    import numpy as np

    from augcli.imageio import DEFAULT_MAX_PIXELS, encode_image
    from augcli.formats import get_format
    from augcli.job import augment_sample
    from augcli.recipe import load_recipe
    from augcli.transforms.base import REQUIRED
    from augcli.transforms.meta import Container
    from augcli.transforms.registry import registry

    cv2.setNumThreads(1)  # as in a worker
    fmt = get_format("yolo")
    ds = fmt.scan(dataset)
    loaded = fmt.load(ds.items[0], ds.schema, DEFAULT_MAX_PIXELS)
    sample, key = loaded.sample, ds.items[0].key
    # Mixing transforms draw other images of the dataset ("donors"), already decoded here, as a
    # run's donor pool hands them over: their cost is the mixing, not the donor's decode. Donors
    # carry their boxes as rectangle polygons too, so polygon-only mixers (CopyPaste) have work to do.
    donor_items = ds.items[1:5] or ds.items[:1]
    donor_samples = []
    for it in donor_items:
        d = fmt.load(it, ds.schema, DEFAULT_MAX_PIXELS).sample
        rects = [np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64) for x1, y1, x2, y2 in d.objects.boxes]
        donor_samples.append((it.key, replace(d, objects=replace(d.objects, polygons=rects))))
    donors = lambda rng: donor_samples[int(rng.integers(len(donor_samples)))]  # noqa: E731
    takes_donors = "donors" in inspect.signature(augment_sample).parameters

    def timed(pipeline: list[dict[str, Any]], mixes: bool = False) -> tuple[float, int]:
        """(median ms, in how many of the timed calls the output image differs from the input)."""
        recipe = load_recipe({"version": 1, "seed": 6, "copies": 1, "pipeline": pipeline})
        extra = {"donors": donors} if mixes and takes_donors else {}
        times, changed = [], 0
        for copy in range(1, repeats + 3):  # a new copy index per call: parameters vary as in a run
            t0 = time.perf_counter()
            out, _, _ = augment_sample(sample, recipe, key, copy, **extra)
            elapsed = time.perf_counter() - t0
            if copy > 2:  # two warm-up calls
                times.append(elapsed)
                changed += not (out.image.shape == sample.image.shape and np.array_equal(out.image, sample.image))
        return 1000 * statistics.median(times), changed

    reference = {
        "JPEG decode (cv2.imdecode)": _median_ms(lambda: cv2.imdecode(np.frombuffer(loaded.data, np.uint8),
                                                                      cv2.IMREAD_COLOR), repeats),
        f"JPEG encode q{JPEG_QUALITY} (augcli.imageio.encode_image)":
            _median_ms(lambda: encode_image(sample.image, ".jpg", JPEG_QUALITY), repeats),
        "augment_sample, empty pipeline": timed([])[0],
    }
    rows = []
    for name, cls in sorted(registry().items(), key=lambda kv: (kv[1].family, kv[0])):
        config: dict[str, Any] = {"type": name, "p": 1.0, **TRANSFORM_PARAMS.get(name, {})}
        if issubclass(cls, Container):
            config["transforms"] = [dict(CONTAINER_CHILD)]
        for k, spec in cls.params.items():
            if spec.default is REQUIRED and k not in config and type(spec).__name__ in GENERIC_REQUIRED:
                config[k] = GENERIC_REQUIRED[type(spec).__name__]
        missing = [k for k, spec in cls.params.items() if spec.default is REQUIRED and k not in config]
        mixes = bool(getattr(cls, "needs_donors", False))
        row = {"name": name, "family": cls.family, "donors": mixes,
               "params": {k: v for k, v in config.items() if k not in ("type", "p")}}
        if missing:
            row["error"] = f"needs {', '.join(missing)}: add it to TRANSFORM_PARAMS in bench.py"
        else:
            try:
                row["ms"], row["changed"] = timed([config], mixes)
            except Exception as exc:  # noqa: BLE001  reported in the table: a benchmark must list every transform
                row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    return {"image": f"{sample.size[0]}x{sample.size[1]}", "objects": len(sample.objects),
            "repeats": repeats, "donors": len(donor_samples), "reference": reference, "rows": rows}


def augcli_command() -> list[str]:
    exe = shutil.which("augcli")
    return [exe] if exe else [sys.executable, "-m", "augcli"]


def wall_clock(cmd: list[str], repeats: int, before: Callable[[], None] | None = None) -> list[float]:
    """Wall-clock seconds of `cmd`, once unmeasured (warm caches) then `repeats` times."""
    times = []
    for i in range(repeats + 1):
        if before:
            before()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stderr[-2000:]}")
        if i:
            times.append(elapsed)
    return times


def startup_times(bench: "Bench", repeats: int) -> dict[str, Any]:
    from augcli.executor import default_workers

    dataset, recipe = bench.datasets["main"], bench.recipes["standard"]
    exe = augcli_command()
    out = bench.scratch / "startup-out"
    clear = lambda: set_aside(out)  # noqa: E731
    run = [*exe, "run", str(recipe), "-i", str(dataset), "-o", str(out), "--limit", "10", "-q"]
    n = min(10, sum(1 for _ in (dataset / "images").glob("*.jpg")))
    result = {
        "command": exe,
        "workers": default_workers(),
        "images": n,
        "help": wall_clock([*exe, "--help"], repeats),
        "run10": wall_clock(run, repeats, before=clear),
        "dry10": wall_clock([*run, "--dry-run"], repeats, before=clear),
    }
    clear()
    return result


# ====================================================================== the benchmark
def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def throughput(bench: Bench, workers: list[int], reps: int, with_albumentations: bool, n_images: int,
               with_dask: bool = False) -> dict:
    """Every case at every worker count, `reps` times, interleaved: rep 1 of everything, then rep 2, ...
    (the dask case only at DASK_WORKERS)."""
    cases = [("floor", "floor", None), ("augcli STANDARD", "augcli", "standard"), ("augcli LIGHT", "augcli", "light"),
             (OPENCV_LABELS["standard"], "opencv", "standard"), (OPENCV_LABELS["light"], "opencv", "light")]
    if with_albumentations:
        cases.append(("albumentations STANDARD", "albumentations", "standard"))
    if with_dask:
        cases.append((DASK_LABEL, "augcli", "standard"))
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {label: {w: [] for w in workers} for label, _, _ in cases}
    for rep in range(reps):
        for w in workers:
            order = cases[rep % len(cases):] + cases[:rep % len(cases)]  # rotate: no case always runs first
            for label, case, recipe in order:
                if label == DASK_LABEL and w != DASK_WORKERS:
                    continue
                spec = {"case": case, "workers": w, "input": str(bench.datasets["main"]),
                        "output": str(bench.scratch / f"out-{case}-{recipe}-w{w}")}
                if case == "augcli":
                    spec["recipe"] = str(bench.recipes[recipe])
                    if label == DASK_LABEL:
                        spec["extra"] = ["--executor", "dask"]
                        spec["output"] += "-dask"
                elif case in ("albumentations", "opencv"):
                    spec["recipe"] = recipe
                res = bench.run_timed(spec, f"{label}, {w} worker(s)")
                expected = n_images * COPIES
                if res["outputs"] != expected:
                    raise RuntimeError(f"{label} with {w} workers wrote {res['outputs']} images, expected {expected}")
                res["rate"] = n_images / res["seconds"]
                runs[label][w].append(res)
                log(f"rep {rep + 1}/{reps}  {w} worker(s)  {label:<24} {res['rate']:7.2f} img/s  "
                    f"{res['seconds']:6.2f} s  (other processes: {res['other_cores']:.2f} cores, steal {res['steal_cores']:.2f})")
    return {"cases": [c[0] for c in cases], "runs": runs}


def memory_big(bench: Bench, workers: list[int]) -> dict:
    """Peak RSS per worker at 1920x1080, floor and STANDARD, once per worker count."""
    out: dict[str, dict[int, dict[str, Any]]] = {"floor": {}, "augcli STANDARD": {}}
    big = bench.datasets["big"]
    n = sum(1 for _ in (big / "images").glob("*.jpg"))
    for w in workers:
        for label, case in (("floor", "floor"), ("augcli STANDARD", "augcli")):
            spec = {"case": case, "workers": w, "input": str(big), "output": str(bench.scratch / "out-big")}
            if case == "augcli":
                spec["recipe"] = str(bench.recipes["standard"])
            res = bench.run_child(spec)
            res["rate"] = n / res["seconds"]
            out[label][w] = res
            peak = res["worker_hwm_kb"] or res["parent_hwm_kb"]
            log(f"{BIG_SIZE[0]}x{BIG_SIZE[1]}  {w} worker(s)  {label:<16} worker peak {_mb(peak):.0f} MB")
    return {"images": n, "rows": out}


def parent_memory(bench: Bench, sizes: list[int], workers: int) -> dict:
    """The parent's peak RSS for a run over n tiny files, for each n (LIGHT, 1 copy each), and for
    a --dry-run over the same files (scan and plan only), which tells the scan's share."""
    rows = []
    for n in sizes:
        root = ensure_dataset(bench.data_dir, "tiny", n, TINY_SIZE)
        spec = {"case": "augcli", "workers": workers, "input": str(root), "output": str(bench.scratch / "out-tiny"),
                "recipe": str(bench.recipes["light"]), "extra": ["--copies", "1"]}
        dry = bench.run_child({**spec, "extra": [*spec["extra"], "--dry-run"]})
        res = bench.run_child(spec)
        if res["outputs"] != n:
            raise RuntimeError(f"tiny run over {n} files wrote {res['outputs']} images")
        rows.append({"files": n, **res, "dry_run_hwm_kb": dry["parent_hwm_kb"], "dry_run_seconds": dry["seconds"]})
        log(f"{n} tiny files, {workers} workers: parent peak {_mb(res['parent_hwm_kb']):.1f} MB "
            f"in {res['seconds']:.1f} s (dry run: {_mb(dry['parent_hwm_kb']):.1f} MB)")
    return {"workers": workers, "rows": rows}


# ====================================================================== two versions side by side
def compare(bench: Bench, revs: list[str], srcs: list[Path], recipes: list[str], pairs: int,
            n_images: int) -> dict[str, Any]:
    """Two augcli versions, 1 worker each, run at the same time, one per core, `pairs` times per
    recipe (which one starts first alternates): CPU seconds of B over A within each pair.

    Run one after the other, two runs of the same code on the development VM differ by up to 15%
    (the host's load moves); run side by side they share whatever the host does at that moment,
    so a pair's ratio is steady to about 3% (the same commit against itself: 0.97-1.03) and a
    change of about 3% shows in the mean of 6 pairs.
    Each run also has the other's memory traffic beside it, as a worker of a 2-worker pool has."""
    rows: dict[str, list[dict[str, float]]] = {}
    cores = sorted(os.sched_getaffinity(0))[:2]  # the cores this process may use (one core: no pinning)
    for recipe in recipes:
        rows[recipe] = []
        for i in range(pairs):
            if bench.quiet_wait:
                wait_for_quiet(bench.quiet_wait)
            order = [0, 1] if i % 2 == 0 else [1, 0]  # which version starts first, and on which core
            procs = {}
            for slot, k in enumerate(order):
                spec = {"case": "augcli", "workers": 1, "input": str(bench.datasets["main"]), "sync": False,
                        "memory": False, "cpu": cores[slot] if len(cores) >= 2 else None,
                        "recipe": str(bench.recipes[recipe]), "output": str(bench.scratch / f"out-compare-{k}-{recipe}")}
                procs[k] = start_child({**spec, "augcli_src": str(srcs[k])}, pythonpath=srcs[k])
            res = {k: child_result(procs[k], f"{recipe} with augcli {revs[k]}") for k in (0, 1)}
            os.sync()  # both done: the one that ended first must not flush its files while the other runs
            for k in (0, 1):
                if res[k]["outputs"] != n_images * COPIES:
                    raise RuntimeError(f"augcli {revs[k]} wrote {res[k]['outputs']} images, expected {n_images * COPIES}")
            row = {"cpu_a": res[0]["cpu_seconds"], "cpu_b": res[1]["cpu_seconds"],
                   "wall_a": res[0]["seconds"], "wall_b": res[1]["seconds"],
                   "sys_a": res[0]["own_system_seconds"], "sys_b": res[1]["own_system_seconds"]}
            rows[recipe].append(row)
            log(f"{recipe} pair {i + 1}/{pairs}: CPU {row['cpu_a']:.2f} s (A) {row['cpu_b']:.2f} s (B), "
                f"B/A {row['cpu_b'] / row['cpu_a']:.3f}; of which system {row['sys_a']:.2f} / {row['sys_b']:.2f}")
    return {"revs": revs, "rows": rows}


def render_compare(meta: dict[str, Any], cmp: dict[str, Any]) -> str:
    a, b = cmp["revs"]
    lines = [f"# augcli A/B comparison, {meta['date']}", "",
             f"`{meta['command']}`", "",
             f"A = {a}, B = {b}; {meta['images']} images of 1280x720, {COPIES} copies each; 1 worker each, "
             "A and B running at the same time (one per core); CPU seconds of each run's process tree.", "",
             "| recipe | pairs | B/A CPU, mean | min - max | B used less CPU | B/A wall, mean |",
             "|---|---|---|---|---|---|"]
    for recipe, rows in cmp["rows"].items():
        ratios = [r["cpu_b"] / r["cpu_a"] for r in rows]
        walls = [r["wall_b"] / r["wall_a"] for r in rows]
        lines.append(f"| {recipe.upper()} | {len(rows)} | {statistics.fmean(ratios):.3f} | {min(ratios):.3f} - "
                     f"{max(ratios):.3f} | {sum(x < 1 for x in ratios)} of {len(rows)} | {statistics.fmean(walls):.3f} |")
    lines += ["", "Below 1: B is cheaper. A mean within about 0.015 of 1 over 6 pairs is no difference on the "
              "development VM; see benchmarks/README.md (Comparing two versions).", ""]
    return "\n".join(lines)


# ====================================================================== which augcli
def snapshot_rev(rev: str, data_dir: Path) -> tuple[Path, str]:
    """Extract augcli/ as committed at `rev` (git archive: reads the repository, changes nothing)
    into data_dir/src/<sha>, and return (that folder, the full sha)."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{rev}^{{commit}}"],
                         capture_output=True, text=True)
    if sha.returncode != 0:
        raise SystemExit(f"bench.py: --rev {rev}: not a commit of {ROOT}")
    full = sha.stdout.strip()
    dest = data_dir / "src" / full
    if not (dest / "augcli" / "__init__.py").is_file():
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", full, "augcli"], capture_output=True, check=True)
        tmp = dest.with_name(full + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, filter="data")
            else:
                tar.extractall(tmp)
        # byte-compile it, as `pip install` does: without this, a PYTHONDONTWRITEBYTECODE environment
        # compiles every module from source in every process, and start-up times measure the compiler
        import compileall

        compileall.compile_dir(str(tmp), quiet=1)
        tmp.rename(dest)
    return dest, full


def use_augcli_from(src: Path) -> None:
    """Make this process and every child (including the `augcli` command) import augcli from `src`."""
    sys.path.insert(0, str(src))
    os.environ["PYTHONPATH"] = _path_first(str(src), os.environ.get("PYTHONPATH"))


def _path_first(folder: str, path: str | None) -> str:
    """A PYTHONPATH value with `folder` first, then the entries of `path` (None or empty: none)."""
    return folder + (os.pathsep + path if path else "")


def augcli_source() -> Path:
    import augcli

    return Path(augcli.__file__).resolve().parent.parent


# ====================================================================== report
def _mb(kb: float | None) -> float:
    return float("nan") if kb is None else kb / 1024


def _verdict(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def _version(module: str) -> str:
    try:
        mod = __import__(module)
    except ImportError:
        return "not installed"
    return getattr(mod, "__version__", "?")


def machine(rev: str | None) -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    src = augcli_source()
    if rev:
        where = f"commit {rev[:10]} (a clean `git archive` snapshot, not the working tree)"
    elif src == ROOT:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip() or "?"
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "augcli"],
                               capture_output=True, text=True).stdout
        changed = len([ln for ln in dirty.splitlines() if ln.strip()])
        where = f"working tree at {commit}" + (f" + {changed} uncommitted file(s) under augcli/" if changed else "")
    else:
        where = f"imported from {src}"
    load1, load5, _ = os.getloadavg()
    return {
        "host": socket.gethostname(),
        "cpu": cpu,
        "cores": f"{os.cpu_count()} logical, {usable} usable by this process",
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "opencv": _version("cv2"),
        "pillow": _version("PIL"),
        "albumentations": _version("albumentations"),
        "augcli": f"{_version('augcli')}, {where}",
        "load average at the end (1 min, 5 min)": f"{load1:.2f}, {load5:.2f}",
    }


def render(meta: dict[str, Any], tp: dict[str, Any], big: dict[str, Any], parent: dict[str, Any],
           costs: dict[str, Any], start: dict[str, Any]) -> str:
    L: list[str] = []
    add = L.append
    workers = meta["workers"]
    add(f"# augcli benchmark — {meta['date']} on {meta['machine']['host']}")
    add("")
    add(f"Command: `{meta['command']}`  ")
    add(f"Dataset: {meta['images']} generated {MAIN_SIZE[0]}x{MAIN_SIZE[1]} JPEGs (q92, 2–6 YOLO boxes each), "
        f"{COPIES} copies per image, JPEG q{JPEG_QUALITY}; {meta['reps']} interleaved repetition(s); medians.")
    create = meta.get("create_us") or {}
    if create.get("start") is not None:
        add(f"Creating an empty file in the scratch folder: {create['start']:.0f} µs before the first case, "
            f"{create['end']:.0f} µs after the last (a journal-less ext4 makes it 300–900 µs for minutes after "
            "files are deleted; see CHEAP_CREATE_US in bench.py).")
    add("")
    add("## Machine")
    add("")
    for k, v in meta["machine"].items():
        add(f"- {k}: {v}")
    add("")

    runs = tp["runs"]
    floor = runs["floor"]

    def ratios(label: str, w: int) -> list[float]:
        return [r["rate"] / f["rate"] for r, f in zip(runs[label][w], floor[w])]

    def cpu_ratios(label: str, w: int) -> list[float]:
        return [f["cpu_seconds"] / r["cpu_seconds"] for r, f in zip(runs[label][w], floor[w])]

    add("## Throughput")
    add("")
    add("img/s = input images per second (each makes 3 outputs). × floor = median over repetitions of "
        "(img/s ÷ the floor's img/s in the same repetition); × floor (CPU) is the same ratio in CPU time per image "
        "(floor CPU s ÷ case CPU s), which a busy machine disturbs much less than wall clock. CPU s = user+system of the whole process tree (parent, workers, fork server). "
        "RSS/worker = largest peak RSS (VmHWM) of any worker process; with 1 worker augcli and the floor run "
        "in-process, so it is the parent's. Tree PSS = peak of the summed PSS of the whole process tree. "
        "Other = CPU used meanwhile by processes outside the benchmark, in cores (median; max in brackets): "
        "anything above ~0.1 means the machine was shared and the row is slower than it should be. "
        "Steal = CPU time the hypervisor gave to other guests while this VM's cores wanted it, in cores "
        "(median; max in brackets): above ~0.02 the host was busy, which also slows memory-bound work.")
    add("")
    all_runs = [r for label in tp["cases"] for w in workers for r in runs[label][w]]
    discarded = sum(r.get("discarded", 0) for r in all_runs)
    busy = sum(_disturbed(r) for r in all_runs)
    add(f"Runs discarded and repeated because other processes used more than {RETRY_CORES} cores during them, "
        f"the hypervisor stole more than {RETRY_STEAL} cores (steal time) from this VM, or the case's cores "
        f"sat idle more than {RETRY_IDLE:.0%} of the time (runs of {IDLE_MIN_SECONDS:.0f} s or more): "
        f"{discarded}; kept runs still above that: {busy} of {len(all_runs)}.")
    add("")
    add("| workers | case | img/s (min–max) | × floor | × floor (CPU) | CPU s | CPU ms/img | RSS/worker MB "
        "| parent MB | tree PSS MB | other | steal |")
    add("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for w in workers:
        for label in tp["cases"]:
            rs = runs[label][w]
            if not rs:  # a case run at other worker counts only (dask)
                continue
            rates = [r["rate"] for r in rs]
            cpu = _median([r["cpu_seconds"] for r in rs])
            worker_kb = max((r["worker_hwm_kb"] or r["parent_hwm_kb"]) for r in rs)
            inline = " (in-process)" if all(r["worker_hwm_kb"] is None for r in rs) else ""
            ratio = "1.00" if label == "floor" else f"{_median(ratios(label, w)):.2f}"
            cpu_ratio = "1.00" if label == "floor" else f"{_median(cpu_ratios(label, w)):.2f}"
            add(f"| {w} | {label} | {_median(rates):.1f} ({min(rates):.1f}–{max(rates):.1f}) | {ratio} | {cpu_ratio} | {cpu:.2f} | "
                f"{1000 * cpu / meta['images']:.1f} | {_mb(worker_kb):.0f}{inline} | "
                f"{_mb(max(r['parent_hwm_kb'] for r in rs)):.0f} | {_mb(max(r['tree_pss_peak_kb'] for r in rs)):.0f} | "
                f"{_median([r['other_cores'] for r in rs]):.2f} ({max(r['other_cores'] for r in rs):.2f}) | "
                f"{_median([r['steal_cores'] for r in rs]):.2f} ({max(r['steal_cores'] for r in rs):.2f}) |")
    add("")
    if DASK_LABEL in runs and runs[DASK_LABEL].get(DASK_WORKERS):
        dask = runs[DASK_LABEL][DASK_WORKERS]
        local = runs["augcli STANDARD"][DASK_WORKERS]
        rel = _median([d["rate"] / lo["rate"] for d, lo in zip(dask, local)])
        rel_cpu = _median([lo["cpu_seconds"] / d["cpu_seconds"] for d, lo in zip(dask, local)])
        add(f"Engine overhead: `--executor dask` (a LocalCluster of {DASK_WORKERS} single-threaded workers, started "
            f"and closed inside the clock) runs STANDARD at {rel:.2f}× the img/s of the local pool "
            f"({rel_cpu:.2f}× in CPU time), same repetition.")
        add("")
    elif tp.get("dask_note"):
        add(tp["dask_note"])
        add("")

    add("## Scaling")
    add("")
    base = workers[0]
    others = [w for w in workers if w != base]
    if others:
        add(f"Median over repetitions of (img/s at N workers ÷ img/s at {base} worker(s) in the same repetition). "
            f"CPU ×: the CPU time per image at N workers ÷ at {base} (the whole process tree: what the "
            "cores slow each other by, sharing caches and memory, plus the pool's parent); bound: N × "
            f"{base}-worker CPU ÷ N-worker CPU, the ratio N workers would reach with every core busy and "
            "nothing else on the machine, which a ratio above it shows the host disturbed.")
        add("")
        add("| case | " + " | ".join(f"{w}w / {base}w | CPU × | bound" for w in others) + " |")
        add("|---|" + "---:|---:|---:|" * len(others))
        for label in tp["cases"]:
            if not all(runs[label][w] for w in workers):
                continue
            cells = []
            for w in others:
                sc = [a["rate"] / b["rate"] for a, b in zip(runs[label][w], runs[label][base])]
                cpu = _median([a["cpu_seconds"] / b["cpu_seconds"] for a, b in zip(runs[label][w], runs[label][base])])
                cells += [f"{_median(sc):.2f}", f"{cpu:.2f}", f"{w / base / cpu:.2f}"]
            add(f"| {label} | " + " | ".join(cells) + " |")
    else:
        add("Only one worker count was run; pass `--workers 1,2` for the scaling row.")
    add("")

    add(f"## Memory at {BIG_SIZE[0]}x{BIG_SIZE[1]}")
    add("")
    add(f"{big['images']} generated {BIG_SIZE[0]}x{BIG_SIZE[1]} JPEGs, STANDARD recipe, one run per worker count.")
    add("")
    add("| workers | case | img/s | RSS/worker MB | parent MB | tree PSS MB |")
    add("|---:|---|---:|---:|---:|---:|")
    for w in workers:
        for label, rows in big["rows"].items():
            r = rows[w]
            inline = " (in-process)" if r["worker_hwm_kb"] is None else ""
            add(f"| {w} | {label} | {r['rate']:.1f} | {_mb(r['worker_hwm_kb'] or r['parent_hwm_kb']):.0f}{inline} | "
                f"{_mb(r['parent_hwm_kb']):.0f} | {_mb(r['tree_pss_peak_kb']):.0f} |")
    add("")

    add("## Parent memory as the dataset grows")
    add("")
    add(f"augcli LIGHT with --copies 1 over N generated {TINY_SIZE[0]}x{TINY_SIZE[1]} JPEGs, "
        f"{parent['workers']} workers: the parent's RSS just before the run (after imports) and its peak RSS "
        "(VmHWM), for the run and for a `--dry-run` over the same files (scan and plan only, nothing written).")
    add("")
    add("| files | run s | files/s | parent RSS before MB | parent peak, run MB | parent peak, dry run MB |")
    add("|---:|---:|---:|---:|---:|---:|")
    for r in parent["rows"]:
        add(f"| {r['files']} | {r['seconds']:.1f} | {r['files'] / r['seconds']:.0f} | {_mb(r['parent_rss_before_kb']):.1f} | "
            f"{_mb(r['parent_hwm_kb']):.1f} | {_mb(r['dry_run_hwm_kb']):.1f} |")
    first, last = parent["rows"][0], parent["rows"][-1]
    growth_kb = last["parent_hwm_kb"] - first["parent_hwm_kb"]
    dry_growth_kb = last["dry_run_hwm_kb"] - first["dry_run_hwm_kb"]
    extra_files = max(1, last["files"] - first["files"])
    add("")
    add(f"Growth of the parent's peak from {first['files']} to {last['files']} files: {_mb(growth_kb):.1f} MB "
        f"({1024 * growth_kb / extra_files:.0f} bytes per extra file); of a dry run: {_mb(dry_growth_kb):.1f} MB "
        f"({1024 * dry_growth_kb / extra_files:.0f} bytes per file). When the two are close, the growth is the "
        "scan (the list of items held for the run), not the run itself.")
    add("")

    add("## Per-transform cost")
    add("")
    add(f"ms per {costs['image']} image ({costs['objects']} boxes), median of {costs['repeats']} calls of "
        "`augcli.job.augment_sample` with the transform alone at p=1 (a new copy index per call, so parameters "
        "vary as in a run), in one process with one OpenCV thread. It includes drawing parameters, moving the "
        "boxes and the label filter; the empty-pipeline row is that fixed part. Containers hold one "
        f"`{CONTAINER_CHILD['type']}` child.")
    add("")
    add("| reference | ms |")
    add("|---|---:|")
    for k, v in costs["reference"].items():
        add(f"| {k} | {v:.2f} |")
    add("")
    add("Slowest first.")
    add("")
    add("| transform | family | parameters | ms | changed |")
    add("|---|---|---|---:|---:|")
    ordered = sorted(costs["rows"], key=lambda r: (0, -r["ms"]) if "ms" in r else (1, r["name"]))
    for r in ordered:
        params = ", ".join(f"{k}={json.dumps(v)}" for k, v in r["params"].items()) or "defaults"
        if r["donors"]:
            params += f" (donors: {costs['donors']} other images, boxes also as polygons)"
        if "ms" in r:
            add(f"| {r['name']} | {r['family']} | {params} | {r['ms']:.2f} | {r['changed']}/{costs['repeats']} |")
        else:
            add(f"| {r['name']} | {r['family']} | {params} | not measured: {r['error']} | |")
    add("")
    add("changed = timed calls whose output image differs from the input; fewer than all means the transform "
        "sometimes (at 0: always) left the pixels alone on this image, so its ms understates the cost of its work.")
    add("")

    add("## Start-up")
    add("")
    reps_s = len(start["help"])
    add(f"Wall clock of a fresh `{' '.join(Path(c).name for c in start['command'])}` process, median of {reps_s} "
        f"(after one unmeasured warm-up). The run uses STANDARD on the first {start['images']} "
        f"{MAIN_SIZE[0]}x{MAIN_SIZE[1]} images with the default worker count ({start['workers']}).")
    add("")
    add("| command | median s | min–max s |")
    add("|---|---:|---:|")
    for key, label in (("help", "augcli --help"), ("dry10", "augcli run … --limit 10 --dry-run"),
                       ("run10", f"augcli run … --limit 10 ({start['images']} images, 3 copies each)")):
        add(f"| {label} | {_median(start[key]):.3f} | {min(start[key]):.3f}–{max(start[key]):.3f} |")
    add("")

    add("## Targets (issue 6)")
    add("")
    add("| target | measured | verdict |")
    add("|---|---|---|")
    for w in workers:
        s = _median(ratios("augcli STANDARD", w))
        li = _median(ratios("augcli LIGHT", w))
        add(f"| STANDARD ≥ {TARGET_STANDARD}× floor, {w} worker(s) | {s:.2f}× | {_verdict(s >= TARGET_STANDARD)} |")
        add(f"| LIGHT ≥ {TARGET_LIGHT}× floor, {w} worker(s) | {li:.2f}× | {_verdict(li >= TARGET_LIGHT)} |")
    for recipe in ("standard", "light"):
        mine, script = f"augcli {recipe.upper()}", OPENCV_LABELS[recipe]
        for w in workers:
            vs = _median([a["rate"] / b["rate"] for a, b in zip(runs[mine][w], runs[script][w])])
            add(f"| (reference) {mine} against the {script} script, {w} worker(s) | "
                f"{vs:.2f}× its img/s (script: {_median(ratios(script, w)):.2f}× floor) | {_verdict(vs > 1.0)} |")
    if 1 in workers and 2 in workers:
        for label in ("augcli STANDARD", "augcli LIGHT"):
            sc = _median([a["rate"] / b["rate"] for a, b in zip(runs[label][2], runs[label][1])])
            fl = _median([a["rate"] / b["rate"] for a, b in zip(floor[2], floor[1])])
            add(f"| {label}: 2 workers ≥ {TARGET_SCALING}× 1 worker | {sc:.2f}× (floor itself: {fl:.2f}×) | "
                f"{_verdict(sc >= TARGET_SCALING)} |")
    worst = max(_mb(r["worker_hwm_kb"] or r["parent_hwm_kb"]) for r in big["rows"]["augcli STANDARD"].values())
    add(f"| ≤ {TARGET_WORKER_MB:.0f} MB RSS per worker at {BIG_SIZE[0]}x{BIG_SIZE[1]} | {worst:.0f} MB (largest) | "
        f"{_verdict(worst <= TARGET_WORKER_MB)} |")
    add(f"| parent memory flat, {first['files']} → {last['files']} files (our bar: peak grows ≤ "
        f"{TARGET_PARENT_GROWTH_MB:.0f} MB) | +{_mb(growth_kb):.1f} MB | {_verdict(_mb(growth_kb) <= TARGET_PARENT_GROWTH_MB)} |")
    h = _median(start["help"])
    r10 = _median(start["run10"])
    add(f"| `augcli --help` < {TARGET_HELP_S} s | {h:.3f} s | {_verdict(h < TARGET_HELP_S)} |")
    add(f"| run on 10 images < {TARGET_STARTUP_S} s | {r10:.3f} s | {_verdict(r10 < TARGET_STARTUP_S)} |")
    add("")
    return "\n".join(L)


def dask_case(args: argparse.Namespace) -> tuple[bool, str | None]:
    """Whether to run the dask row, and if not, the sentence that says why."""
    import importlib.util

    if args.no_dask:
        return False, "The dask row was left out (--no-dask)."
    if DASK_WORKERS not in args.workers:
        return False, f"The dask row runs at {DASK_WORKERS} workers only, which this run did not include."
    if not all(importlib.util.find_spec(m) for m in ("dask", "distributed")):
        return False, "The dask row was left out: dask and distributed are not installed (pip install 'augcli[dask]')."
    return True, None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=None, help="images in the throughput dataset [60; --quick: 5]")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 1 repetition, few timing calls, small memory datasets (numbers not meaningful)")
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts [1,2]")
    p.add_argument("--reps", type=int, default=None, help="interleaved repetitions [3; --quick: 1]")
    p.add_argument("--scale-sizes", default=None, help="file counts for the parent-memory row [1000,100000; --quick: 20,200]")
    p.add_argument("--rev", default=None,
                   help="benchmark augcli as committed at this git revision (a git archive snapshot) instead of "
                        "the importable working tree; for a stable measurement while others edit augcli/")
    p.add_argument("--quiet-wait", type=float, default=None,
                   help="before each case, wait up to this many seconds for other processes to go idle [30; --quick: 0]")
    p.add_argument("--settle-seconds", type=float, default=None,
                   help="before the first case, wait up to this many seconds until creating a file in the scratch "
                        f"folder takes under {CHEAP_CREATE_US:.0f} us (files deleted in the last minutes make it "
                        f"slow on a journal-less ext4; 0: no wait) [{SETTLE_LIMIT_SECONDS}; --quick: 0]")
    p.add_argument("--retries", type=int, default=None,
                   help="run a timed case again, up to this many times, when other processes were busy during it "
                        "[3; --quick: 0]")
    p.add_argument("--no-albumentations", action="store_true", help="skip the Albumentations row even if it is installed")
    p.add_argument("--no-dask", action="store_true", help="skip the dask row even if dask and distributed are installed")
    p.add_argument("--save", action="store_true", help="also write the report to RESULTS_DIR/<date>-<hostname>[-LABEL].md")
    p.add_argument("--label", default=None, help="suffix for the saved file names, e.g. images300")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="where datasets are generated [benchmarks/data]")
    p.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS, help="where --save writes [benchmarks/results]")
    p.add_argument("--compare", nargs=2, metavar=("REV_A", "REV_B"), default=None,
                   help="instead of the full benchmark: two committed versions side by side, 1 worker each at "
                        "the same time, each on its own core, CPU per run B over A (pairs steady to about 3%% on a noisy VM)")
    p.add_argument("--pairs", type=int, default=None, help="--compare: side-by-side runs per recipe [6; --quick: 1]")
    p.add_argument("--recipes", default="standard,light",
                   help=f"--compare: comma-separated recipes to run, of {', '.join(RECIPES)} [standard,light]; "
                        "shrink starts with LongestMaxSize 416")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.images = args.images or (5 if args.quick else 60)
    args.reps = args.reps or (1 if args.quick else 3)
    if args.quiet_wait is None:
        args.quiet_wait = 0.0 if args.quick else 30.0
    if args.retries is None:
        args.retries = 0 if args.quick else 3
    if args.settle_seconds is None:
        args.settle_seconds = 0.0 if args.quick else SETTLE_LIMIT_SECONDS
    args.pairs = args.pairs or (1 if args.quick else 6)
    args.recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    unknown = [r for r in args.recipes if r not in RECIPES]
    if unknown or not args.recipes:
        p.error(f"--recipes: unknown {', '.join(unknown) or '(none given)'}; known: {', '.join(RECIPES)}")
    args.workers = sorted({int(w) for w in args.workers.split(",") if w.strip()})
    sizes = args.scale_sizes or ("20,200" if args.quick else "1000,100000")
    args.scale_sizes = sorted({int(n) for n in sizes.split(",") if n.strip()})
    if args.images < 1 or args.reps < 1 or not args.workers or min(args.workers) < 1 or len(args.scale_sizes) < 2:
        p.error("--images, --reps and --workers must be positive, and --scale-sizes needs two sizes")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child_main(json.loads(args.child))
        return 0
    started = time.perf_counter()
    data_dir = args.data_dir.resolve()
    if args.compare:
        return main_compare(args, data_dir, started, argv)
    rev = None
    if args.rev:
        src, rev = snapshot_rev(args.rev, data_dir)
        use_augcli_from(src)
    bench = Bench(
        data_dir=data_dir,
        recipes=write_recipes(data_dir),
        datasets={
            "main": ensure_dataset(data_dir, "photo", args.images, MAIN_SIZE),
            "big": ensure_dataset(data_dir, "photo", 2 if args.quick else 8, BIG_SIZE),
        },
        augcli_src=augcli_source(),
        quiet_wait=args.quiet_wait,
        retries=args.retries,
    )
    bench.scratch.mkdir(parents=True, exist_ok=True)
    create_us = empty_trash(bench.scratch, settle=args.settle_seconds)
    log(f"augcli from {bench.augcli_src}")
    try:
        import albumentations  # noqa: F401
        with_albu = not args.no_albumentations
    except ImportError:
        with_albu = False
        log("albumentations is not installed: its comparison row is left out")
    with_dask, dask_note = dask_case(args)
    if dask_note:
        log(dask_note)
    tp = throughput(bench, args.workers, args.reps, with_albu, args.images, with_dask)
    tp["dask_note"] = dask_note
    big = memory_big(bench, args.workers)
    parent = parent_memory(bench, args.scale_sizes, max(args.workers))
    log("per-transform cost")
    if args.quiet_wait:
        wait_for_quiet(args.quiet_wait)
    costs = transform_costs(bench.datasets["main"], 3 if args.quick else 25)
    log("start-up")
    start = startup_times(bench, 1 if args.quick else 5)
    now = _dt.datetime.now()
    meta = {
        "date": now.strftime("%Y-%m-%d %H:%M"),
        "command": "python benchmarks/bench.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "images": args.images, "reps": args.reps, "workers": args.workers, "machine": machine(rev),
        "create_us": {"start": create_us, "end": None if create_us is None else file_create_us(bench.scratch)},
    }
    report = render(meta, tp, big, parent, costs, start)
    report += f"\nTotal benchmark time: {time.perf_counter() - started:.0f} s.\n"
    print(report)
    if args.save:
        save_report(args, now, "", report, {"meta": meta, "throughput": tp, "memory_big": big,
                                             "parent_memory": parent, "transform_costs": costs, "startup": start})
    empty_trash(bench.scratch, settle=0)
    return 0


def save_report(args: argparse.Namespace, now: _dt.datetime, kind: str, report: str,
                raw: dict[str, Any] | None = None) -> None:
    """Write RESULTS_DIR/<date>-<hostname><kind>[-LABEL].md, and the raw numbers as .json beside it."""
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{now.strftime('%Y-%m-%d')}-{socket.gethostname()}{kind}" + (f"-{args.label}" if args.label else "")
    (args.results_dir / f"{stem}.md").write_text(report)
    if raw is not None:
        (args.results_dir / f"{stem}.json").write_text(json.dumps(raw, indent=1, default=str) + "\n")
    log(f"saved {args.results_dir / (stem + '.md')}")


def main_compare(args: argparse.Namespace, data_dir: Path, started: float, argv: list[str] | None) -> int:
    snaps = [snapshot_rev(rev, data_dir) for rev in args.compare]
    bench = Bench(
        data_dir=data_dir,
        recipes=write_recipes(data_dir),
        datasets={"main": ensure_dataset(data_dir, "photo", args.images, MAIN_SIZE)},
        augcli_src=snaps[0][0],
        quiet_wait=args.quiet_wait,
    )
    bench.scratch.mkdir(parents=True, exist_ok=True)
    empty_trash(bench.scratch, settle=args.settle_seconds)
    revs = [f"{rev} ({sha[:7]})" for rev, (_, sha) in zip(args.compare, snaps)]
    cmp = compare(bench, revs, [src for src, _ in snaps], args.recipes, args.pairs, args.images)
    now = _dt.datetime.now()
    meta = {"date": now.strftime("%Y-%m-%d %H:%M"), "images": args.images,
            "command": "python benchmarks/bench.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    report = render_compare(meta, cmp) + f"\nTotal time: {time.perf_counter() - started:.0f} s.\n"
    print(report)
    if args.save:
        save_report(args, now, "-compare", report)
    empty_trash(bench.scratch, settle=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

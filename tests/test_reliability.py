"""Hostile input and hostile disks: every case of tests/hostile_corpus.py through the real CLI.

What every run must show (README, "Exit codes, for CI and cron"): no traceback, no hang (each
run under a timeout), the documented exit code, each skipped input named on stderr and in the
manifest, the labels of the surviving images still on their pixels, the input tree unchanged
(every name and byte), and nothing written outside OUTPUT. Write failures (disk full, read-only
output, output folder removed mid-run) end with exit 3, a message, and no half-written file.
The label parsers are fuzzed with hypothesis: any input gives a result or an InputError /
UsageError, never another exception.

Runs that could hang (FIFOs, devices, hostile files) are subprocesses with a timeout; the rest
use click's CliRunner in this process with one worker.
"""
from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import augcli.imageio
import augcli.manifest
from augcli.cli import main
from augcli.errors import InputError, UsageError
from augcli.formats import coco, voc, yolo
from augcli.imageio import TMP_MARK, decode_image
from augcli.manifest import MANIFEST_NAME
from augcli.sample import LabelSchema
from conftest import full_disk_write, write_yolo_dataset
import hostile_corpus as hc

TIMEOUT = 90  # seconds for one run of the CLI; a run that takes longer is a hang
CASES = hc.case_names()
FUZZ = settings(max_examples=int(os.environ.get("AUGCLI_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])  # AUGCLI_FUZZ_EXAMPLES=2000 for a longer search


# ---------------------------------------------------------------- running the CLI
@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    out: Path

    def manifest(self) -> list[dict]:
        path = self.out / MANIFEST_NAME
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] \
            if path.is_file() else []

    def skipped(self) -> dict[str, dict]:
        return {r["source"]: r for r in self.manifest() if "skipped" in r}

    def outputs(self, source: str) -> list[dict]:
        return [r for r in self.manifest() if r.get("source") == source and "output" in r]


def _limit_memory(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def cli(recipe: Path, src: Path, out: Path, *extra: str, cwd: Path | None = None, timeout: float = TIMEOUT,
        memory: int | None = None) -> Run:
    """`python -m augcli run RECIPE -i SRC -o OUT ...` in a subprocess, in its own session, under a timeout."""
    args = [sys.executable, "-m", "augcli", "run", str(recipe), "-i", str(src), "-o", str(out), "-q", *extra]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                            env=env, cwd=cwd or out.parent, start_new_session=True,
                            preexec_fn=_limit_memory(memory) if memory else None)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"augcli hung: still running after {timeout}s; stderr so far:\n{stderr}")
    return Run(proc.returncode, stdout, stderr, out)


def cli_inline(recipe: Path, src: Path, out: Path, *extra: str) -> Run:
    """The same command in this process (one worker): for inputs that cannot block."""
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(src), "-o", str(out), "-w", "1", "-q", *extra])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(*result.exc_info))
        return Run(result.exit_code, result.stdout, result.stderr + "\nTraceback (in process):\n" + tb, out)
    return Run(result.exit_code, result.stdout, result.stderr, out)


def assert_no_traceback(run: Run) -> None:
    assert "Traceback" not in run.stderr, run.stderr[-4000:]


def assert_complete_outputs(out: Path, all_listed: bool = True, temporaries_ok: bool = False) -> None:
    """No temporary file (unless `temporaries_ok`: hidden ones the file system refused to delete), no
    empty image, every image in the manifest on disk, and (`all_listed`) every image on disk in the
    manifest. A run stopped by an output error may leave the finished images of the input it was making
    when the disk failed: complete files, not listed, made again by --resume."""
    if not out.exists():
        return
    temps = [p for p in out.rglob("*") if p.name.endswith(TMP_MARK)]
    assert not temps or (temporaries_ok and all(p.name.startswith(".") for p in temps)), \
        f"temporary files left: {temps}"
    records = Run(0, "", "", out).manifest()
    listed = {r["output"] for r in records if "output" in r}
    for rel in listed:
        assert (out / rel).is_file(), f"{rel} is in the manifest but not on disk"
    images = [p for p in out.rglob("*") if p.is_file() and p.suffix.lower() in augcli.imageio.IMAGE_EXTENSIONS]
    empty = [p for p in images if p.stat().st_size == 0]
    assert not empty, f"zero-byte images left: {empty}"
    if not all_listed:
        return
    unlisted = sorted(p.relative_to(out).as_posix() for p in images) if not listed else \
        sorted(p.relative_to(out).as_posix() for p in images if p.relative_to(out).as_posix() not in listed)
    assert not unlisted, f"images written but not in the manifest: {unlisted[:10]}"


def named_on_stderr(stderr: str, names: list[str]) -> bool:
    lines = [ln for ln in stderr.splitlines() if ln.startswith(("skipped:", "warning:"))]
    return any(n in ln for ln in lines for n in names if n)


# ---------------------------------------------------------------- pixels vs labels
def marker_mask(image: np.ndarray, marker: tuple[int, int, int]) -> np.ndarray:
    px = image.astype(np.int32)
    if marker == hc.RED:
        return (px[:, :, 2] > 150) & (px[:, :, 1] < 100) & (px[:, :, 0] < 100)
    return px.min(axis=2) > 180


def assert_box_on_marker(image_path: Path, boxes: list[tuple[float, float, float, float]], marker, what: str) -> None:
    """The single label box covers the marker's pixels (to 2 px) and hugs them (IoU > 0.7)."""
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)  # EXIF orientation applied, as augcli reads
    assert image is not None, f"{what}: {image_path.name} does not decode"
    assert len(boxes) == 1, f"{what}: expected one label box, got {boxes}"
    ys, xs = np.nonzero(marker_mask(image, marker))
    assert len(xs) > 200, f"{what}: the coloured box is not in {image_path.name}"
    mx1, my1, mx2, my2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    x1, y1, x2, y2 = boxes[0]
    tol = 2.0
    assert x1 <= mx1 + tol and y1 <= my1 + tol and x2 >= mx2 - tol and y2 >= my2 - tol, (
        f"{what}: label box {boxes[0]} does not cover the pixels ({mx1}, {my1}, {mx2}, {my2})")
    inter = max(0, min(x2, mx2) - max(x1, mx1)) * max(0, min(y2, my2) - max(y1, my1))
    union = (x2 - x1) * (y2 - y1) + (mx2 - mx1) * (my2 - my1) - inter
    assert inter / union > 0.7, f"{what}: label box {boxes[0]} is far from the pixels ({mx1}, {my1}, {mx2}, {my2})"


def yolo_boxes(label: Path, image: Path) -> list[tuple[float, ...]]:
    h, w = cv2.imread(str(image), cv2.IMREAD_COLOR).shape[:2]
    out = []
    for line in label.read_text().splitlines():
        if line.strip():
            _, cx, cy, bw, bh = (float(v) for v in line.split())
            out.append(((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h))
    return out


def voc_boxes(xml: Path) -> list[tuple[float, ...]]:
    root = ET.fromstring(xml.read_bytes())  # written by augcli itself
    return [tuple(float(o.find(f"bndbox/{t}").text) - (1 if t in ("xmin", "ymin") else 0)
                  for t in ("xmin", "ymin", "xmax", "ymax")) for o in root.findall("object")]


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> hc.Corpus:
    return hc.build(tmp_path_factory.mktemp("hostile"))


def _listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


@dataclass
class Observed:
    run: Run
    before: dict
    after: dict
    sandbox_before: list[str]
    sandbox_after: list[str]
    cwd_after: list[str]


def observed_run(corpus: hc.Corpus, factory, src: Path, *extra: str) -> Observed:
    """Run over `src` with OUTPUT inside an empty sandbox, from an empty working folder; snapshot the
    whole corpus (every input and the outside folder) before and after."""
    sandbox, cwd = factory.mktemp("sandbox"), factory.mktemp("cwd")
    before, listing = hc.snapshot(corpus.root), _listing(sandbox)
    run = cli(corpus.recipe, src, sandbox / "out", "-w", "2", "--max-pixels", str(hc.MAX_PIXELS), *extra, cwd=cwd)
    return Observed(run, before, hc.snapshot(corpus.root), listing, _listing(sandbox), _listing(cwd))


@pytest.fixture(scope="module")
def yolo_run(corpus, tmp_path_factory) -> Observed:
    return observed_run(corpus, tmp_path_factory, corpus.yolo)


@pytest.fixture(scope="module")
def voc_run(corpus, tmp_path_factory) -> Observed:
    return observed_run(corpus, tmp_path_factory, corpus.voc)


# ---------------------------------------------------------------- the YOLO corpus: one run, every case
@pytest.mark.slow
def test_yolo_corpus_run_exits_1_and_lists_skips_by_reason(yolo_run):
    run = yolo_run.run
    assert_no_traceback(run)
    assert run.code == 1, run.stderr
    skipped = [r for r in run.manifest() if "skipped" in r]
    counts: dict[str, int] = {}
    for rec in skipped:
        counts[rec["skipped"]] = counts.get(rec["skipped"], 0) + 1
    summary = [ln for ln in run.stderr.splitlines() if ln.startswith("augcli: skipped ")]
    assert len(summary) == 1, run.stderr
    expected = f"augcli: skipped {len(skipped)} inputs (" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    assert summary[0].startswith(expected), f"{summary[0]!r} vs the manifest's {expected!r}"
    assert run.stderr.rstrip().splitlines()[-1] == summary[0], "the list of skips comes at the end"


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES["yolo"])
def test_yolo_case(yolo_run, corpus, name):
    case = next(c for c in corpus.yolo_cases if c.name == name)
    run, out = yolo_run.run, yolo_run.run.out
    assert_no_traceback(run)
    if case.expect == "ignored":
        assert not [r for r in run.manifest() if name in json.dumps(r)], f"{name} is not an input"
        return
    if case.expect == "skip":
        label = yolo.label_relpath(case.key)
        names = [case.key, label, repr(case.key)[1:-1]]
        named = named_on_stderr(run.stderr, names)
        assert named, f"{name}: no 'skipped:' line names {names}"
        rec = run.skipped().get(case.key)
        assert rec is not None, f"{name}: no manifest record {{'source': {case.key!r}, 'skipped': ...}}; " \
                                f"its outputs: {[r['output'] for r in run.outputs(case.key)]}"
        if case.reason:
            assert rec["skipped"] == case.reason, rec
        assert not run.outputs(case.key), f"{name}: skipped, yet written"
        return
    records = run.outputs(case.key)
    assert sorted(r["copy"] for r in records) == list(range(hc.COPIES + 1)), f"{name}: {records}"
    assert case.key not in run.skipped()
    if case.warning:
        assert any(case.warning in ln for ln in run.stderr.splitlines() if ln.startswith("warning:")), run.stderr
    for rec in records:
        image, label = out / rec["output"], out / rec["label"]
        if case.marker is None:
            assert label.read_text() == "", f"{name}: a background image gets an empty label file"
            assert rec["objects"]["out"] == 0
            continue
        assert_box_on_marker(image, yolo_boxes(label, image), case.marker, f"{name} copy {rec['copy']}")


@pytest.mark.slow
def test_yolo_corpus_input_unchanged_and_nothing_written_outside_output(yolo_run):
    assert yolo_run.after == yolo_run.before, "the input tree (names, modes, bytes, links) changed"
    assert yolo_run.sandbox_after == sorted(set(yolo_run.sandbox_before) | {"out"}), yolo_run.sandbox_after
    assert yolo_run.cwd_after == [], f"files written in the working folder: {yolo_run.cwd_after}"


@pytest.mark.slow
def test_yolo_corpus_outputs_are_complete(yolo_run):
    out = yolo_run.run.out
    assert_complete_outputs(out)
    for rec in yolo_run.run.manifest():
        if "output" in rec:
            assert (out / rec["label"]).is_file(), rec
    assert not (out / "labels" / "orphan.txt").exists()


@pytest.mark.slow
def test_symlink_leading_out_of_the_input_is_not_followed(yolo_run, corpus):
    """README: symlinks out of the input never make augcli read outside the input folder."""
    secret = (corpus.outside / "secret.png").read_bytes()
    copies = [p for p in yolo_run.run.out.rglob("*") if p.is_file() and p.read_bytes() == secret]
    assert not copies, f"a file from outside the input was read and written to {copies}"


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: chmod 000 does not stop root from reading a file")
def test_unreadable_file_is_skipped(corpus, yolo_run):
    rec = yolo_run.run.skipped().get("images/no_permission.png")
    assert rec is not None and rec["skipped"] == "unreadable-image"


# ---------------------------------------------------------------- EXIF orientation, decoded
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_when_decoding(orientation):
    displayed = hc.scene()
    image = decode_image(hc.exif_jpeg(orientation, displayed), f"exif{orientation}.jpg")
    assert image.shape == displayed.shape, f"orientation {orientation}: decoded {image.shape[1]}x{image.shape[0]}"
    ys, xs = np.nonzero(marker_mask(image, hc.RED))
    x1, y1, x2, y2 = hc.box_pixels()
    assert abs(xs.min() - x1) <= 1 and abs(xs.max() + 1 - x2) <= 1, orientation
    assert abs(ys.min() - y1) <= 1 and abs(ys.max() + 1 - y2) <= 1, orientation


# ---------------------------------------------------------------- VOC
@pytest.mark.slow
def test_voc_corpus_run(voc_run, corpus):
    run = voc_run.run
    assert_no_traceback(run)
    assert run.code == 1, run.stderr
    for note in corpus.voc_notes:
        assert note in run.stderr, note
    assert voc_run.after == voc_run.before, "the input tree changed"
    assert voc_run.sandbox_after == sorted(set(voc_run.sandbox_before) | {"out"})
    assert voc_run.cwd_after == []
    assert_complete_outputs(run.out)
    hostname = Path("/etc/hostname").read_bytes().strip() if Path("/etc/hostname").is_file() else b""
    for path in run.out.rglob("*"):
        if hostname and path.is_file() and path.suffix in (".xml", ".txt", ".json", ".jsonl"):
            assert hostname not in path.read_bytes(), f"an external entity was expanded into {path}"


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES["voc"])
def test_voc_case(voc_run, corpus, name):
    case = next(c for c in corpus.voc_cases if c.name == name)
    run, out = voc_run.run, voc_run.run.out
    if case.expect == "skip":
        assert named_on_stderr(run.stderr, [case.key, f"Annotations/{name}.xml"]), run.stderr
        rec = run.skipped().get(case.key)
        assert rec is not None and rec["skipped"] == case.reason, rec
        assert not run.outputs(case.key)
        return
    records = run.outputs(case.key)
    assert sorted(r["copy"] for r in records) == list(range(hc.COPIES + 1)), records
    if case.warning:
        assert any(case.warning in ln for ln in run.stderr.splitlines() if ln.startswith("warning:")), run.stderr
    for rec in records:
        assert_box_on_marker(out / rec["output"], voc_boxes(out / rec["label"]), hc.RED, f"{name} copy {rec['copy']}")


# ---------------------------------------------------------------- COCO annotation files
COCO_REFUSED = ["truncated", "not_an_object", "a_string", "empty_file", "binary", "no_images_key",
                "images_not_a_list", "deeply_nested", "huge_number"]


@pytest.mark.parametrize("name", COCO_REFUSED)
def test_coco_file_that_cannot_be_read_is_a_usage_error(corpus, tmp_path, name):
    src = corpus.coco[name]
    before = hc.snapshot(src)
    run = cli_inline(corpus.recipe, src, tmp_path / "out", "--input-format", "coco")
    assert_no_traceback(run)
    assert run.code == 2, run.stderr
    assert "augcli: error: annotations/instances.json" in run.stderr, run.stderr
    assert not (tmp_path / "out").exists(), "nothing may be written before the work starts"
    assert hc.snapshot(src) == before


def _coco_boxes(out: Path) -> dict[str, list[tuple[float, ...]]]:
    data = json.loads((out / "annotations" / "instances.json").read_text())
    by_id = {im["id"]: im["file_name"] for im in data["images"]}
    boxes: dict[str, list] = {name: [] for name in by_id.values()}
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        boxes[by_id[ann["image_id"]]].append((x, y, x + w, y + h))
    return boxes


# name -> (exit code, {skipped source: (reason, how stderr names it)}, warning substring, images with one aligned box)
COCO_RUNS = {
    "ok": (0, {}, None, ["img0.png", "img1.png"]),
    "no_annotations_key": (0, {}, "no 'annotations' list", []),
    "no_categories_key": (0, {}, "no 'categories'", ["img0.png", "img1.png"]),
    "duplicate_annotation_ids": (0, {}, None, ["img0.png", "img1.png"]),
    "annotation_for_missing_image_id": (0, {}, "annotation 9 -> image_id 99", ["img0.png", "img1.png"]),
    "gigantic": (0, {}, "(100000)", ["img0.png", "img1.png"]),
    "bad_annotation_values": (1, {"images/img1.png": ("bad-label", "annotation 2 (image id 2)"),
                                  "images/img2.png": ("bad-label", "annotation 3 (image id 3)"),
                                  "images/img3.png": ("bad-label", "annotation 4 (image id 4)")}, None, ["img0.png"]),
    "huge_int_bbox": (1, {"images/img1.png": ("bad-label", "annotation 2 (image id 2)")}, None, ["img0.png"]),
}


@pytest.mark.parametrize("name", list(COCO_RUNS))
def test_coco_case(corpus, tmp_path, name):
    code, skipped, warning, aligned = COCO_RUNS[name]
    src = corpus.coco[name]
    before = hc.snapshot(src)
    run = cli_inline(corpus.recipe, src, tmp_path / "out", "--input-format", "coco")
    assert_no_traceback(run)
    assert run.code == code, run.stderr
    assert {k: r["skipped"] for k, r in run.skipped().items()} == {k: v[0] for k, v in skipped.items()}
    for _, shown in skipped.values():
        assert named_on_stderr(run.stderr, [shown]), run.stderr
    if warning:
        assert warning in run.stderr, run.stderr
    boxes = _coco_boxes(run.out)
    for image in aligned:
        for copy in range(hc.COPIES + 1):
            file_name = image if copy == 0 else image.replace(".png", f"_aug{copy}.png")
            assert_box_on_marker(run.out / "images" / file_name, boxes[file_name], hc.RED, f"{name}: {file_name}")
    assert hc.snapshot(src) == before
    assert_complete_outputs(run.out)


@pytest.mark.parametrize("name, skipped_images", [
    ("duplicate_image_ids", {"img0.png": "image id 1", "img2.png": "image id 1"}),
    ("image_file_missing", {"not_there.png": "not_there.png"}),
    ("file_name_escapes", {"../../../../../../etc/hostname": "image id 3", "/etc/hostname": "image id 4"}),
])
def test_coco_images_skipped_while_scanning_are_reported_like_any_skip(corpus, tmp_path, name, skipped_images):
    """README: exit 1 when some inputs were skipped, each named on stderr AND in the manifest.
    `skipped_images`: file_name -> how stderr may name it."""
    run = cli_inline(corpus.recipe, corpus.coco[name], tmp_path / "out", "--input-format", "coco")
    assert_no_traceback(run)
    for shown in skipped_images.values():
        assert shown in run.stderr, run.stderr
    assert len(run.outputs("images/img1.png")) == hc.COPIES + 1, "the good image is made"
    assert run.code == 1, f"{name}: images were skipped, yet exit {run.code}:\n{run.stderr}"
    manifest_text = (run.out / MANIFEST_NAME).read_text()
    skipped = [r for r in run.manifest() if "skipped" in r]
    for file_name in skipped_images:
        assert any(file_name in json.dumps(r) for r in skipped), f"{file_name} skipped but not in the manifest:\n" \
                                                                 f"{manifest_text}"


@pytest.mark.slow
def test_coco_rle_bomb_is_refused_without_exhausting_memory(corpus, tmp_path):
    """An RLE segmentation claiming 60000 x 60000 pixels on a 160 x 120 image: refused as a bad label,
    not decoded (the run is limited to 3 GB of address space; decoding needs far more)."""
    run = cli(corpus.recipe, corpus.coco["rle_bomb"], tmp_path / "out", "-w", "1", "--input-format", "coco",
              memory=3 * 1024**3)
    assert_no_traceback(run)
    assert run.code == 1, run.stderr
    assert run.skipped().get("images/img1.png", {}).get("skipped") == "bad-label", run.stderr
    assert len(run.outputs("images/img0.png")) == hc.COPIES + 1


# ---------------------------------------------------------------- recipes: exit 2, every error, nothing written
# name -> (errors listed at least, run in a subprocess: a loader without its size / depth budget would hang)
HOSTILE_RECIPES = {
    "python_tag": (1, False), "python_name_tag": (1, False), "alias_bomb": (1, True), "nan_param": (1, False),
    "inf_param": (1, False), "absurd_params": (4, False), "copies_billion": (1, False), "huge_seed": (1, False),
    "nested_containers": (1, True), "deep_yaml": (1, True), "many_errors": (4, False), "not_a_mapping": (1, False),
    "binary": (1, False),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(HOSTILE_RECIPES))
def test_hostile_recipe_is_refused_with_every_error_and_nothing_written(corpus, tmp_path, name):
    min_errors, isolated = HOSTILE_RECIPES[name]
    recipe = corpus.recipes[name]
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    if isolated:
        run = cli(recipe, corpus.yolo, sandbox / "out", "-w", "1", timeout=30)
    else:
        run = cli_inline(recipe, corpus.yolo, sandbox / "out")
    assert_no_traceback(run)
    assert run.code == 2, run.stderr
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("augcli: recipe error: ")]
    assert len(errors) >= min_errors, run.stderr
    assert all(recipe.name in ln for ln in errors), run.stderr
    assert os.listdir(sandbox) == [], "nothing may be written for a refused recipe"
    assert not (corpus.outside / "PWNED").exists(), "a YAML tag ran code"


def test_copies_above_max_outputs_is_refused_before_any_work(corpus, tmp_path):
    run = cli_inline(corpus.recipes["copies_many"], corpus.yolo, tmp_path / "out", "--max-outputs", "1000")
    assert run.code == 2, run.stderr
    assert "--max-outputs 1000" in run.stderr, run.stderr
    assert not (tmp_path / "out").exists()


def test_copies_option_above_its_bound_is_a_usage_error(corpus, tmp_path):
    run = cli_inline(corpus.recipe, corpus.yolo, tmp_path / "out", "-n", "1000000000")
    assert run.code == 2, run.stderr
    assert "--copies" in run.stderr and "1000000000" in run.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- --on-error fail
@pytest.fixture(scope="module")
def strict_input(tmp_path_factory) -> Path:
    """30 good images, and one bad one that sorts first."""
    src = write_yolo_dataset(tmp_path_factory.mktemp("strict") / "input", n=30, size=(80, 60), ext=".jpg")
    (src / "images" / "a_bad.jpg").write_bytes(b"")
    (src / "labels" / "a_bad.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    return src


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_on_error_fail_stops_at_the_first_bad_input(corpus, strict_input, tmp_path, workers):
    run = cli(corpus.recipe, strict_input, tmp_path / "out", "-w", str(workers), "--on-error", "fail")
    assert_no_traceback(run)
    assert run.code == 1, run.stderr
    assert "stopped at the first bad input" in run.stderr
    assert run.skipped()["images/a_bad.jpg"]["skipped"] == "unreadable-image"
    assert "skipped: images/a_bad.jpg" in run.stderr
    made = {r["source"] for r in run.manifest() if "output" in r}
    assert len(made) <= (0 if workers == 1 else 4 * workers), f"went on after the bad input: {sorted(made)}"
    assert_complete_outputs(run.out)


# ---------------------------------------------------------------- hostile disks
@pytest.fixture(scope="module")
def write_input(tmp_path_factory) -> Path:
    """60 noise PNGs of 160x120 (about 58 KB each): a tiny disk fills quickly."""
    return write_yolo_dataset(tmp_path_factory.mktemp("writes") / "input", n=60, size=(160, 120))


WRITE_RECIPE = hc.OK_RECIPE


@pytest.fixture
def write_recipe_file(tmp_path) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(WRITE_RECIPE)
    return path


def _mount_tmpfs(where: Path, options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): {proc.stderr.strip()}")


@pytest.fixture
def tmpfs(tmp_path):
    """mount(options) -> a fresh tmpfs folder; unmounted at the end of the test."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        where = tmp_path / f"tmpfs{len(mounted)}"
        _mount_tmpfs(where, options)
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("size", ["256k", "700k"])
def test_disk_full_on_a_tiny_tmpfs_stops_with_exit_3(write_input, write_recipe_file, tmpfs, size):
    disk = tmpfs(f"size={size}")
    before = hc.snapshot(write_input)
    run = cli(write_recipe_file, write_input, disk / "out", "-w", "2")
    assert_no_traceback(run)
    assert run.code == 3, run.stderr
    assert "augcli: error: " in run.stderr and "No space left on device" in run.stderr, run.stderr
    assert_complete_outputs(disk / "out", all_listed=False)
    assert hc.snapshot(write_input) == before


class _FullDisk:
    """A file whose writes fail with ENOSPC once `budget` bytes went through (the first bytes are written)."""

    def __init__(self, f, budget: list[int]):
        self._f, self._budget = f, budget

    def write(self, data):
        if len(data) > self._budget[0]:
            self._f.write(data[: max(self._budget[0], 0)])
            self._budget[0] = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self._budget[0] -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="finds the temporary file of a descriptor through /proc")
def test_disk_full_in_an_output_write_stops_with_exit_3(write_input, write_recipe_file, tmp_path, monkeypatch):
    """Simulated in process (works without root): image and label writes (os.write to a temporary
    file) fail with ENOSPC after 600 KB, as a full disk does: the bytes that fit are written first."""
    full_write = full_disk_write(600_000)

    monkeypatch.setattr(augcli.imageio.os, "write", full_write)
    run = cli_inline(write_recipe_file, write_input, tmp_path / "out")
    assert_no_traceback(run)
    assert run.code == 3, run.stderr
    assert "No space left on device" in run.stderr and "augcli: error:" in run.stderr, run.stderr
    assert_complete_outputs(tmp_path / "out", all_listed=False)


def test_disk_full_while_writing_the_manifest_stops_with_exit_3(write_input, write_recipe_file, tmp_path,
                                                                monkeypatch):
    """The manifest is written by the parent: a full disk there is an output error like any other."""
    budget = [4_000]
    real_open = open

    def full_open(path, mode="r", *args, **kwargs):
        f = real_open(path, mode, *args, **kwargs)
        return _FullDisk(f, budget) if "w" in mode and Path(path).name.startswith(MANIFEST_NAME) else f

    monkeypatch.setattr(augcli.manifest, "open", full_open, raising=False)
    run = cli_inline(write_recipe_file, write_input, tmp_path / "out")
    assert_no_traceback(run)
    assert run.code == 3, run.stderr
    assert "No space left on device" in run.stderr, run.stderr


def _freeze(path: Path) -> bool:
    return subprocess.run(["chattr", "-R", "+i", str(path)], capture_output=True).returncode == 0


def _thaw(path: Path) -> None:
    subprocess.run(["chattr", "-R", "-i", str(path)], capture_output=True)


@pytest.mark.slow
def test_read_only_output_is_exit_3_with_a_message(write_input, write_recipe_file, tmpfs):
    out = tmpfs("ro,size=1m")
    run = cli(write_recipe_file, write_input, out, "-w", "2")
    assert_no_traceback(run)
    assert run.code == 3, run.stderr
    assert "augcli: error:" in run.stderr and "ead-only" in run.stderr, run.stderr
    assert os.listdir(out) == []


@pytest.mark.slow
def test_output_made_read_only_mid_run_is_exit_3(write_input, write_recipe_file, tmp_path):
    """As root a chmod'ed folder stays writable, so the output is made immutable (chattr +i) mid-run."""
    probe = tmp_path / "probe"
    probe.mkdir()
    if not _freeze(probe):
        pytest.skip("chattr +i is not available on this file system")
    _thaw(probe)
    out = tmp_path / "out"
    args = [sys.executable, "-m", "augcli", "run", str(write_recipe_file), "-i", str(write_input), "-o", str(out),
            "-w", "2", "-q"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            cwd=tmp_path)
    frozen = False
    try:
        deadline = time.monotonic() + TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline:
            if (out / "images").is_dir() and len(os.listdir(out / "images")) >= 20:
                frozen = _freeze(out)
                assert frozen
                break
            time.sleep(0.01)
        try:
            _, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
            pytest.fail("augcli hung on a read-only output")
    finally:
        _thaw(out)
    if not frozen:
        pytest.skip("the run finished before its output could be made read-only (a busy machine's timing)")
    assert "Traceback" not in err, err
    assert proc.returncode == 3, err
    assert "augcli: error:" in err, err
    # A file the freeze caught between its creation and its rename could not be deleted while the
    # folder was immutable (nobody can); it is a hidden temporary, never an output, and the next
    # run removes it. So: complete outputs apart from those, then a --resume leaves none at all.
    assert_complete_outputs(out, all_listed=False, temporaries_ok=True)
    rerun = cli(write_recipe_file, write_input, out, "--resume")
    assert rerun.code == 0, rerun.stderr
    assert_complete_outputs(out)


@pytest.mark.slow
def test_output_folder_deleted_mid_run_is_exit_3(write_input, write_recipe_file, tmp_path):
    out = tmp_path / "out"
    args = [sys.executable, "-m", "augcli", "run", str(write_recipe_file), "-i", str(write_input), "-o", str(out),
            "-w", "2", "-q"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            cwd=tmp_path)
    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        if (out / "images").is_dir() and len(os.listdir(out / "images")) >= 20:
            gone = tmp_path / "gone"
            os.rename(out, gone)  # the folder disappears at once; its content is removed afterwards
            shutil.rmtree(gone)
            break
        time.sleep(0.01)
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        pytest.fail("augcli hung after its output folder was deleted")
    assert "Traceback" not in err, err
    assert proc.returncode == 3, f"exit {proc.returncode} after the output folder was deleted mid-run:\n{err}"
    assert "augcli: error:" in err and str(out) in err, err


# ---------------------------------------------------------------- fuzzing the label parsers
SCHEMAS = [
    LabelSchema({0: "box", 1: "other"}),
    LabelSchema(),
    LabelSchema({0: "person"}, kpt_shape=(2, 3), flip_idx=(1, 0)),
    LabelSchema({0: "person"}, kpt_shape=(3, 2)),
]
SIZES = st.tuples(st.integers(1, 5000), st.integers(1, 5000))
TOKENS = st.sampled_from(["0", "1", "2", "7", "-1", "0.5", "0.25", "1.0", "1.004", "-0.004", "1e-9", "1e400",
                          "-1e400", "nan", "inf", "-inf", "NaN", "0x10", "1_0", "١", "", " ", "\t", "\u00a0", "\x00",
                          "\ufeff", "\r", "1e308", "-0", "+0.5", "3", "2.0"])
YOLO_LINES = st.lists(st.lists(TOKENS, max_size=14).map(" ".join), max_size=6).map("\n".join)


def _check_objects(objects, size) -> None:
    w, h = size
    boxes = np.asarray(objects.boxes, np.float64)
    assert np.all(np.isfinite(boxes)), boxes
    if len(boxes):
        assert np.all(boxes[:, 0] <= boxes[:, 2]) and np.all(boxes[:, 1] <= boxes[:, 3]), boxes
        assert boxes.min() >= 0 and np.all(boxes[:, [0, 2]] <= w) and np.all(boxes[:, [1, 3]] <= h), boxes


@FUZZ
@given(text=st.one_of(st.text(), YOLO_LINES), schema=st.sampled_from(SCHEMAS), size=SIZES)
def test_fuzz_yolo_parse_labels(text, schema, size):
    try:
        objects, warnings = yolo.parse_labels(text, "labels/x.txt", schema, size)
    except (InputError, UsageError):
        return
    _check_objects(objects, size)
    assert all(isinstance(w, str) for w in warnings)


@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_voc_read_xml_bytes(data):
    try:
        root = voc.read_xml(data, "Annotations/x.xml")
    except (InputError, UsageError):
        return
    try:
        objects, _ = voc.parse_annotation(root, "Annotations/x.xml", LabelSchema({0: "box"}), (160, 120))
    except (InputError, UsageError):
        return
    _check_objects(objects, (160, 120))


VOC_TEXT = st.one_of(st.sampled_from(["1", "0", "160", "120", "-5", "1e308", "nan", "inf", "1e400", "", "box",
                                      "other", "true", "2", "0.5", "5000"]), st.text(max_size=8))


@st.composite
def voc_documents(draw) -> bytes:
    def el(tag: str, text: str) -> str:
        return f"<{tag}>{escape(text)}</{tag}>"

    parts = []
    if draw(st.booleans()):
        parts.append("<size>" + "".join(el(t, draw(VOC_TEXT)) for t in ("width", "height", "depth"))
                     + "</size>")
    for _ in range(draw(st.integers(0, 3))):
        fields = [el("name", draw(VOC_TEXT))]
        for flag in ("difficult", "truncated"):
            if draw(st.booleans()):
                fields.append(el(flag, draw(VOC_TEXT)))
        if draw(st.booleans()):
            fields.append("<bndbox>" + "".join(el(t, draw(VOC_TEXT)) for t in ("xmin", "ymin", "xmax", "ymax")
                                               if draw(st.integers(0, 9)) > 0) + "</bndbox>")
        parts.append("<object>" + "".join(fields) + "</object>")
    return ("<annotation>" + "".join(parts) + "</annotation>").encode("utf-8", "surrogatepass")


@FUZZ
@given(doc=voc_documents(), size=SIZES)
def test_fuzz_voc_annotations(doc, size):
    try:
        root = voc.read_xml(doc, "Annotations/x.xml")
        objects, _ = voc.parse_annotation(root, "Annotations/x.xml", LabelSchema({0: "box", 1: "other"}), size)
    except (InputError, UsageError):
        return
    _check_objects(objects, size)


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.integers(-5, 5),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda c: st.one_of(st.lists(c, max_size=5),
                                                             st.dictionaries(st.text(max_size=8), c, max_size=5)),
                           max_leaves=30)
NUMBERS = st.one_of(st.integers(-5, 500), st.floats(-1e3, 1e3), st.sampled_from([float("nan"), float("inf"), 10**400,
                                                                                  1e308, -0.0, True]))


@st.composite
def coco_documents(draw) -> object:
    """Mostly COCO-shaped JSON whose every field may be wrong; sometimes any JSON value at all."""
    if draw(st.integers(0, 4)) == 0:
        return draw(JSON_VALUES)
    maybe = lambda good: draw(st.one_of(good, JSON_VALUES)) if draw(st.integers(0, 3)) == 0 else draw(good)  # noqa
    images = [{"id": maybe(st.integers(1, 3)), "file_name": maybe(st.sampled_from(["img0.png", "img1.png", "../x.png",
                                                                                  "/etc/hostname", "", "img0.png/."])),
               "width": maybe(NUMBERS), "height": maybe(NUMBERS)} for _ in range(draw(st.integers(0, 3)))]
    anns = []
    for _ in range(draw(st.integers(0, 4))):
        ann = {"id": maybe(st.integers(1, 9)), "image_id": maybe(st.integers(1, 3)),
               "category_id": maybe(st.integers(0, 3)),
               "bbox": maybe(st.lists(NUMBERS, min_size=4, max_size=4)), "iscrowd": maybe(st.integers(0, 1))}
        if draw(st.booleans()):
            ann["segmentation"] = draw(st.one_of(
                st.lists(st.lists(NUMBERS, max_size=10), max_size=3),
                st.fixed_dictionaries({"size": st.lists(st.integers(0, 40), min_size=2, max_size=2),
                                       "counts": st.one_of(st.lists(st.integers(0, 900), max_size=6),
                                                           st.text("0123456789:;<=>?@ABCDEFGHIJ", max_size=12))}),
                JSON_VALUES))
        if draw(st.booleans()):
            ann["keypoints"] = draw(st.lists(NUMBERS, max_size=9))
        anns.append(ann)
    cats = [{"id": maybe(st.integers(1, 3)), "name": maybe(st.sampled_from(["box", "other"])),
             **({"keypoints": maybe(st.just(["left_eye", "right_eye", "nose"])),
                 "skeleton": maybe(st.just([[1, 2], [2, 3]]))} if draw(st.booleans()) else {})}
            for _ in range(draw(st.integers(0, 2)))]
    doc = {"images": images, "annotations": anns, "categories": cats}
    for key in list(doc):
        if draw(st.integers(0, 6)) == 0:
            del doc[key]
    return doc


_COCO_PNG = hc._png(hc.scene())


@pytest.mark.slow
@FUZZ
@given(doc=coco_documents(), size=st.tuples(st.integers(1, 300), st.integers(1, 300)))
@example(doc={"images": [{"id": 1, "file_name": "img0.png"}], "categories": [{"id": 1, "name": "box"}],
              "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10**400, 0, 1, 1]}]},
         size=(160, 120))  # a whole number no float can hold (found by this test)
def test_fuzz_coco_json_loading(doc, size):
    """scan() of an annotations/instances.json holding `doc`, then every item's annotations turned into
    objects: a result or InputError / UsageError, never another exception."""
    with tempfile.TemporaryDirectory(prefix="augcli-fuzz-") as tmp:
        root = Path(tmp)
        (root / "annotations").mkdir()
        (root / "images").mkdir()
        for name in ("img0.png", "img1.png"):
            (root / "images" / name).write_bytes(_COCO_PNG)
        (root / "annotations" / "instances.json").write_text(json.dumps(doc))
        try:
            dataset = coco.scan(root)
        except (InputError, UsageError):
            return
        for item in dataset.items:
            try:
                objects, _ = coco.annotations_to_objects(item.payload.annotations, dataset.schema, size,
                                                         item.payload.json, item.payload.image_id)
            except (InputError, UsageError):
                continue
            _check_objects(objects, size)

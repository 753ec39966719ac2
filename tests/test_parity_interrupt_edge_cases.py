"""Same command, same bytes: for any --workers, on a Dask cluster, and after interruptions and --resume.

Outputs are compared as whole trees (every file's name and bytes), against a run of the same command
with one worker; labels are checked against where solid colour patches actually are, read back with
small parsers written here from the formats' specs."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import moto_s3, read_tree_bytes

from augcli.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
TMP_MARK = ".augcli-tmp"
MIXING_RECIPE = """\
version: 1
seed: 5
copies: 2
keep_original: true
augment_splits: all
pipeline:
  - {type: HorizontalFlip, p: 0.5}
  - {type: Rotate, degrees: [-15, 15], p: 0.7}
  - {type: BrightnessContrast, brightness: [-0.2, 0.2], contrast: [-0.2, 0.2], p: 0.7}
  - type: OneOf
    p: 0.9
    transforms:
      - {type: MixUp}
      - {type: CutMix}
      - {type: Mosaic, size: [256, 256]}
"""
FLIP_RECIPE = """\
version: 1
seed: 1
copies: 1
keep_original: true
pipeline:
  - {type: HorizontalFlip, p: 0.5}
"""


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["run", *args, "-q"])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


def without_run_times(tree: dict[str, bytes], summary: str) -> dict[str, bytes]:
    """The tree with the summary's timing fields (documented as run-specific) dropped."""
    doc = json.loads(tree[summary])
    for key in [k for k in doc if "second" in k or "per_s" in k or k.startswith("time")]:
        doc.pop(key)
    return {**tree, summary: json.dumps(doc, sort_keys=True).encode()}


# ---------------------------------------------------------------- a tiny dataset with coloured patches
COLOURS = {"a": (255, 0, 0), "b": (0, 255, 0), "c": (0, 0, 255)}  # BGR
BOXES = {"a": (5, 5, 20, 20), "b": (30, 10, 45, 50), "c": (50, 30, 75, 55)}  # x1 y1 x2 y2, pixels
W, H = 80, 60


def add_image(root: Path, name: str) -> None:
    """A PNG with one solid patch of its own colour, labelled with that patch's exact box (YOLO)."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    pixels = np.full((H, W, 3), 40, np.uint8)
    x1, y1, x2, y2 = BOXES[name]
    pixels[y1:y2, x1:x2] = COLOURS[name]
    assert cv2.imwrite(str(root / "images" / f"{name}.png"), pixels)
    (root / "labels" / f"{name}.txt").write_text(
        f"0 {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f}\n")
    (root / "data.yaml").write_text("names: [thing]\n")


def patch_box(path: Path) -> tuple[float, float, float, float]:
    """COCO [x, y, w, h] of the one non-background patch in an image, from its pixels."""
    pixels = cv2.imread(str(path))
    ys, xs = np.nonzero((np.abs(pixels.astype(int) - 40) > 20).any(axis=2))
    return float(xs.min()), float(ys.min()), float(xs.max() + 1 - xs.min()), float(ys.max() + 1 - ys.min())


def assert_coco_boxes_follow_the_patches(out: Path) -> None:
    doc = json.loads((out / "annotations" / "instances.json").read_text())
    names = [im["file_name"] for im in doc["images"]]
    assert len(names) == len(set(names)), f"an image listed twice: {sorted(names)}"
    on_disk = sorted(p.relative_to(out / "images").as_posix() for p in (out / "images").rglob("*.png"))
    assert sorted(names) == on_disk
    boxes: dict[int, list] = {}
    for ann in doc["annotations"]:
        boxes.setdefault(ann["image_id"], []).append(ann["bbox"])
    for im in doc["images"]:
        got = boxes.get(im["id"], [])
        assert len(got) == 1, f"{im['file_name']}: {got}"
        assert got[0] == pytest.approx(patch_box(out / "images" / im["file_name"]), abs=0.01), im["file_name"]


def test_a_spool_older_than_its_manifest_never_gives_an_image_another_inputs_labels(tmp_path):
    """A run that updates a finished one writes a new manifest and spool and swaps them in (for an
    object-store output: uploads them) one after the other; stopped between the two, the folder holds
    the new manifest beside the old spool. An input added in the middle (b between a and c) was then
    paired with c's spool entry: b's outputs were kept with c's COCO annotations, c.png was listed
    twice and b.png not at all. Now an entry that does not name its record's output makes the input again."""
    src, out, fresh = tmp_path / "in", tmp_path / "out", tmp_path / "fresh"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(FLIP_RECIPE)
    add_image(src, "a")
    add_image(src, "c")
    args = [str(recipe), "-i", str(src), "-o", str(out), "-w", "1", "--output-format", "coco"]
    assert cli(*args)[0] == 0
    old_spool = (out / ".augcli-spool.jsonl").read_bytes()
    add_image(src, "b")
    assert cli(*args, "--resume")[0] == 0
    (out / ".augcli-spool.jsonl").write_bytes(old_spool)  # the swap (upload) of the spool never happened
    code, output = cli(*args, "--resume")
    assert code == 0, output
    assert_coco_boxes_follow_the_patches(out)
    assert cli(str(recipe), "-i", str(src), "-o", str(fresh), "-w", "1", "--output-format", "coco")[0] == 0
    assert read_tree_bytes(out) == read_tree_bytes(fresh)


# ---------------------------------------------------------------- any --workers, any executor
@pytest.mark.slow
@pytest.mark.parametrize("name", ["yolo-seg", "yolo-pose", "coco", "voc", "mask", "classify"])
def test_every_format_with_mixing_is_byte_identical_for_1_2_and_3_workers(tmp_path, name):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(MIXING_RECIPE)
    trees = []
    for workers in (1, 2, 3):
        out = tmp_path / f"out{workers}"
        summary = tmp_path / f"summary{workers}.json"
        code, output = cli(str(recipe), "-i", str(SAMPLES / name), "-o", str(out), "-w", str(workers),
                           "--summary-json", str(summary))
        assert code == 0, output
        shutil.copy(summary, out / "summary.json")
        trees.append(without_run_times(read_tree_bytes(out), "summary.json"))
    assert trees[0] == trees[1] == trees[2]


# ---------------------------------------------------------------- interrupted while writing the dataset files
def write_many(root: Path, n: int) -> Path:
    """n small YOLO images, each with one patch of colour and its box."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir(parents=True)
    for i in range(n):
        pixels = np.full((36, 48, 3), 40, np.uint8)
        x, y = 4 + i % 20, 3 + i % 15
        pixels[y:y + 12, x:x + 16] = (30 + i % 200, 200, 90)
        assert cv2.imwrite(str(root / "images" / f"im{i:04d}.png"), pixels)
        (root / "labels" / f"im{i:04d}.txt").write_text(
            f"{i % 2} {(x + 8) / 48:.6f} {(y + 6) / 36:.6f} {16 / 48:.6f} {12 / 36:.6f}\n")
    (root / "data.yaml").write_text("names: [cat, dog]\n")
    return root


def run_args(recipe: Path, src: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "augcli", "run", str(recipe), "-i", str(src), "-o", str(out), "-w", "2", "-q",
            "--output-format", "coco", *extra]


def temporaries(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.name.endswith((TMP_MARK, ".partial")))


@pytest.fixture(scope="module")
def finalize_world(tmp_path_factory):
    base = tmp_path_factory.mktemp("finalize")
    src = write_many(base / "in", 300)
    recipe = base / "r.yaml"
    recipe.write_text(FLIP_RECIPE.replace("copies: 1", "copies: 2"))
    reference = base / "reference"
    code, output = cli(str(recipe), "-i", str(src), "-o", str(reference), "-w", "1", "--output-format", "coco")
    assert code == 0, output
    return recipe, src, read_tree_bytes(reference)


@pytest.mark.slow
def test_killed_while_writing_the_coco_json_resume_equals_a_clean_run(finalize_world, tmp_path):
    """SIGKILL while the COCO writer streams its annotation file (its temporary parts are on disk): the
    run is not marked complete, and --resume keeps every output, writes the file whole, leaves no
    temporary part, and ends byte for byte as the clean run."""
    recipe, src, reference = finalize_world
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(run_args(recipe, src, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    annotations = out / "annotations"
    try:
        while proc.poll() is None:  # no sleep: the parts live for some tens of milliseconds
            try:
                if any(name.endswith(TMP_MARK) for name in os.listdir(annotations)):
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
            except FileNotFoundError:
                continue
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before its COCO file was written"
    assert not (out / "annotations" / "instances.json").exists()
    assert json.loads((out / "augcli-run.json").read_text()).get("complete") is not True
    done = subprocess.run(run_args(recipe, src, out, "--resume"), check=False, capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert temporaries(out) == []
    got = read_tree_bytes(out)
    assert sorted(got) == sorted(reference)
    assert [k for k in reference if got[k] != reference[k]] == []


@pytest.mark.slow
def test_a_dask_cluster_writes_what_the_local_pool_writes_with_mixing(tmp_path):
    pytest.importorskip("distributed")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(MIXING_RECIPE)
    trees = []
    for out, extra in ((tmp_path / "local", ["-w", "2"]), (tmp_path / "dask", ["-w", "2", "--executor", "dask"])):
        code, output = cli(str(recipe), "-i", str(SAMPLES / "voc"), "-o", str(out), *extra)
        assert code == 0, output
        trees.append(read_tree_bytes(out))
    assert sorted(trees[0]) == sorted(trees[1])
    assert [k for k in trees[0] if trees[0][k] != trees[1][k]] == []


@pytest.fixture
def s3_options():
    """A moto S3 server on 127.0.0.1 (conftest.moto_s3), as --storage-options."""
    with moto_s3() as options:
        yield options


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mask", "classify"])
def test_s3_with_folder_marker_objects_and_worker_processes_equals_a_local_run(s3_options, tmp_path, name):
    """Inputs uploaded with the zero-byte `folder/` objects that S3 consoles and some sync tools make."""
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, **s3_options)
    bucket = f"parity-{name}"  # moto keeps buckets for the whole process
    fs.mkdir(bucket)
    src = SAMPLES / name
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src).as_posix()
        fs.pipe_file(f"{bucket}/raw/{rel}" + ("/" if p.is_dir() else ""), b"" if p.is_dir() else p.read_bytes())
    recipe = tmp_path / "r.yaml"
    recipe.write_text(MIXING_RECIPE)
    code, output = cli(str(recipe), "-i", f"s3://{bucket}/raw", "-o", f"s3://{bucket}/aug", "-w", "2",
                       "--storage-options", json.dumps(s3_options))
    assert code == 0, output
    code, output = cli(str(recipe), "-i", str(src), "-o", str(tmp_path / "local"), "-w", "1")
    assert code == 0, output
    fs.invalidate_cache()
    remote = {k[len(f"{bucket}/aug/"):]: fs.cat_file(k) for k in fs.find(f"{bucket}/aug")}
    local = read_tree_bytes(tmp_path / "local")
    assert sorted(remote) == sorted(local)
    assert [k for k in local if remote[k] != local[k]] == []


@pytest.mark.parametrize("signals", [1, 2])
def test_sigterm_while_writing_the_coco_json(finalize_world, tmp_path, monkeypatch, signals):
    """The dataset-level files are the run's last step. One SIGTERM there (a container stopping, with a
    grace period) lets them finish: the run completes. A second stops at once: exit 143, the COCO
    writer's temporary parts removed (an uncaught SIGTERM killed the process and left them), the run
    not marked complete, and --resume ends byte for byte as the clean run. The signals are sent from
    inside the writer, at a fixed image, so the test does not race the run."""
    from augcli.formats import coco

    recipe, src, reference = finalize_world
    out = tmp_path / "out"
    real_add = coco._SplitFile.add
    calls = []

    def add(self, payload, *args, **kwargs):
        calls.append(1)
        if 50 <= len(calls) < 50 + signals:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_add(self, payload, *args, **kwargs)

    monkeypatch.setattr(coco._SplitFile, "add", add)
    code, output = cli(str(recipe), "-i", str(src), "-o", str(out), "-w", "1", "--output-format", "coco")
    monkeypatch.setattr(coco._SplitFile, "add", real_add)
    assert temporaries(out) == []
    if signals == 1:
        assert code == 0, output
        assert read_tree_bytes(out) == reference
        return
    assert code == 143, output
    assert not (out / "annotations" / "instances.json").exists()
    assert json.loads((out / "augcli-run.json").read_text()).get("complete") is not True
    code, output = cli(str(recipe), "-i", str(src), "-o", str(out), "-w", "1", "--output-format", "coco", "--resume")
    assert code == 0, output
    assert temporaries(out) == []
    got = read_tree_bytes(out)
    assert [k for k in sorted(set(got) | set(reference)) if got.get(k) != reference.get(k)] == []

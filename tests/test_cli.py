"""The command line: exit codes, exact messages, what lands in OUTPUT, and determinism across worker counts."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from augcli import __version__
from augcli.cli import main
from augcli.manifest import MANIFEST_NAME
from augcli.transforms.registry import registry

COPIES = 2  # the `copies:` of the cli_recipe fixture
N_IMAGES = 5  # images in the yolo_dataset fixture


def run_cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def run_subprocess(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "augcli", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=env)


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines() if line.strip()]


def label_rows(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines() if line.strip()]


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- small commands
def test_version():
    result = run_cli("--version")
    assert result.exit_code == 0
    assert result.output == f"augcli, version {__version__}\n"


def test_python_m_help_in_a_subprocess():
    proc = run_subprocess("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: python -m augcli [OPTIONS] COMMAND [ARGS]...")
    for command in ("run", "transforms", "validate"):
        assert f"\n  {command} " in proc.stdout
    assert proc.stderr == ""


def test_transforms_lists_every_registered_name():
    result = run_cli("transforms")
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ") and not line.startswith("    ")}
    assert listed == set(registry())


def test_transforms_one_name_shows_its_parameters():
    result = run_cli("transforms", "Rotate")
    assert result.exit_code == 0
    cls = registry()["Rotate"]
    assert result.stdout.startswith("Rotate ")
    lo, hi = cls.params["degrees"].default
    for name, spec in cls.params.items():
        assert spec.help in result.stdout, name
        assert spec.kind() in result.stdout, name
    assert f"[{lo:g}, {hi:g}]" in result.stdout
    assert "HorizontalFlip" not in result.stdout and "Rotate90" not in result.stdout


def test_transforms_unknown_name_suggests():
    result = run_cli("transforms", "Rotat")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "augcli: error: unknown transform 'Rotat'; did you mean Rotate, Rotate90?\n"


# ---------------------------------------------------------------- a full run
def test_run_writes_images_labels_data_yaml_and_manifest(cli_recipe, yolo_dataset, tmp_path):
    out = tmp_path / "out"
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""

    images = sorted(p.relative_to(out).as_posix() for p in (out / "images").iterdir())
    expected = sorted(f"images/img{i}{suffix}.png" for i in range(N_IMAGES)
                      for suffix in ["", *(f"_aug{k}" for k in range(1, COPIES + 1))])
    assert images == expected
    labels = sorted(p.relative_to(out).as_posix() for p in (out / "labels").iterdir())
    assert labels == sorted(i.replace("images/", "labels/").replace(".png", ".txt") for i in expected)

    records = manifest(out)
    assert len(records) == N_IMAGES * (1 + COPIES)
    assert sorted(r["output"] for r in records) == expected
    for r in records:
        assert r["label"] == r["output"].replace("images/", "labels/").replace(".png", ".txt")
        assert r["objects"]["in"] == 1
        assert r["objects"]["out"] == len(label_rows(out / r["label"]))
        assert r["seed"] == 7
    assert sorted(r["copy"] for r in records) == sorted(list(range(COPIES + 1)) * N_IMAGES)

    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == {0: "cat", 1: "dog"}
    assert data["train"] == "images"


def test_run_originals_are_byte_copies_with_the_same_boxes(cli_recipe, yolo_dataset, tmp_path):
    out = tmp_path / "out"
    assert run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q").exit_code == 0
    for i in range(N_IMAGES):
        assert (out / f"images/img{i}.png").read_bytes() == (yolo_dataset / f"images/img{i}.png").read_bytes()
        (got,) = label_rows(out / f"labels/img{i}.txt")
        (want,) = label_rows(yolo_dataset / f"labels/img{i}.txt")
        assert got == pytest.approx(want, abs=1e-6)


def test_run_summary_on_stderr(cli_recipe, yolo_dataset, tmp_path):
    out = tmp_path / "out"
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1")
    assert result.exit_code == 0
    n_out = N_IMAGES * (1 + COPIES)
    assert f"augcli: {N_IMAGES}/{N_IMAGES} inputs (yolo) -> {n_out} images in {out} in " in result.stderr


def test_one_and_two_workers_write_identical_bytes(cli_recipe, yolo_dataset, tmp_path, tree_bytes):
    one, two = tmp_path / "w1", tmp_path / "w2"
    assert run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", one, "-w", "1", "-q").exit_code == 0
    proc = run_subprocess("run", cli_recipe, "-i", yolo_dataset, "-o", two, "-w", "2", "-q")
    assert proc.returncode == 0, proc.stderr
    a, b = tree_bytes(one), tree_bytes(two)
    assert len(a) == 2 * N_IMAGES * (1 + COPIES) + 4  # images + labels + data.yaml, manifest, run info, spool
    assert sorted(a) == sorted(b)
    different = [k for k in a if a[k] != b[k]]
    assert different == []


def test_limit_outputs_are_a_subset_of_the_full_run(cli_recipe, yolo_dataset, tmp_path, tree_bytes):
    full, part = tmp_path / "full", tmp_path / "part"
    assert run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", full, "-w", "1", "-q").exit_code == 0
    assert run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", part, "-w", "1", "-q", "--limit", "2").exit_code == 0
    a, b = tree_bytes(full), tree_bytes(part)
    written = {k for k in b if k.startswith(("images/", "labels/"))}
    assert len(written) == 2 * 2 * (1 + COPIES)
    assert {k.split("/")[1].split("_")[0].split(".")[0] for k in written} == {"img0", "img1"}  # first two by path
    for key in written:
        assert b[key] == a[key], key
    assert b["data.yaml"] == a["data.yaml"]
    full_lines = a[MANIFEST_NAME].decode().splitlines()
    part_lines = b[MANIFEST_NAME].decode().splitlines()
    assert part_lines == full_lines[: len(part_lines)]
    assert len(part_lines) == 2 * (1 + COPIES)


def test_copies_zero_writes_only_originals(cli_recipe, yolo_dataset, tmp_path):
    out = tmp_path / "out"
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q", "--copies", "0")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "images").iterdir()) == [f"img{i}.png" for i in range(N_IMAGES)]
    assert sorted(p.name for p in (out / "labels").iterdir()) == [f"img{i}.txt" for i in range(N_IMAGES)]
    assert [r["copy"] for r in manifest(out)] == [0] * N_IMAGES


def test_dry_run_writes_nothing(cli_recipe, yolo_dataset, tmp_path, tree_bytes):
    out = tmp_path / "out"
    before = tree_bytes(tmp_path)
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "--dry-run")
    assert result.exit_code == 0, result.output
    assert not out.exists()
    assert tree_bytes(tmp_path) == before
    assert f"dry run: {N_IMAGES} input images (yolo) -> about {N_IMAGES * (1 + COPIES)} outputs" in result.stderr
    assert "nothing written" in result.stderr


def test_dry_run_counts_unaugmented_splits_once(tmp_path):
    """Images of a split the recipe does not augment (val, by default) make only their original."""
    import cv2
    import numpy as np

    src = tmp_path / "in"
    for split, n in (("train", 3), ("val", 2)):
        (src / "images" / split).mkdir(parents=True)
        (src / "labels" / split).mkdir(parents=True)
        for i in range(n):
            assert cv2.imwrite(str(src / "images" / split / f"{split}{i}.png"), np.full((40, 60, 3), 90, np.uint8))
            (src / "labels" / split / f"{split}{i}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (src / "data.yaml").write_text("names: [thing]\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("version: 1\ncopies: 4\npipeline:\n  - {type: HorizontalFlip}\n")
    result = run_cli("run", recipe, "-i", src, "-o", tmp_path / "out", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run: 5 input images (yolo) -> about 17 outputs" in result.stderr  # 3 x (1 + 4) + 2 x 1


# ---------------------------------------------------------------- output folder safety
def test_non_empty_output_without_overwrite_is_refused(cli_recipe, yolo_dataset, tmp_path, tree_bytes):
    out = tmp_path / "out"
    assert run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q").exit_code == 0
    before = tree_bytes(out)
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"augcli: error: output folder {out} is not empty")
    assert "--overwrite" in result.stderr
    assert tree_bytes(out) == before


def test_overwrite_replaces_previous_run_without_stale_files(cli_recipe, yolo_dataset, tmp_path, tree_bytes):
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    assert run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q", "-n", "3").exit_code == 0
    assert (out / "images/img0_aug3.png").is_file()
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q", "-n", "1", "--overwrite")
    assert result.exit_code == 0, result.output
    assert run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", fresh, "-w", "1", "-q", "-n", "1").exit_code == 0
    assert tree_bytes(out) == tree_bytes(fresh)
    assert not (out / "images/img0_aug2.png").exists()
    assert not (out / "labels/img0_aug3.txt").exists()


@pytest.mark.parametrize("clutter", [".DS_Store", "Thumbs.db", ".gitkeep"])
def test_an_output_folder_holding_only_browser_or_git_clutter_counts_as_empty(cli_recipe, yolo_dataset, tmp_path,
                                                                              clutter):
    """A folder made for the output in Finder or Explorer, or kept in git by a placeholder, is used
    (and the clutter left alone), not refused as "not empty" with no way to --overwrite it."""
    out = tmp_path / "out"
    out.mkdir()
    (out / clutter).write_bytes(b"\0\1browser state")
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    assert (out / clutter).read_bytes() == b"\0\1browser state"
    assert (out / "data.yaml").is_file()


def test_overwrite_refuses_a_folder_not_written_by_augcli(cli_recipe, yolo_dataset, tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.txt").write_text("do not delete")
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "--overwrite")
    assert result.exit_code == 2
    assert f"augcli: error: output folder {out} is not empty and holds no {MANIFEST_NAME}" in result.stderr
    assert "it was not written by augcli" in result.stderr
    assert [p.name for p in out.iterdir()] == ["thesis.txt"]
    assert (out / "thesis.txt").read_text() == "do not delete"


def test_overwrite_keeps_files_it_did_not_write(cli_recipe, yolo_dataset, tmp_path):
    out = tmp_path / "out"
    assert run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q").exit_code == 0
    (out / "notes.txt").write_text("mine")
    assert run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q", "--overwrite").exit_code == 0
    assert (out / "notes.txt").read_text() == "mine"


def test_output_inside_input_is_refused(cli_recipe, yolo_dataset, tmp_path, tree_bytes):
    before = tree_bytes(yolo_dataset)
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", yolo_dataset / "out", "-w", "1")
    assert result.exit_code == 2
    assert "is inside input" in result.stderr and "choose an output folder outside the input" in result.stderr
    assert tree_bytes(yolo_dataset) == before


def test_input_inside_output_is_refused(cli_recipe, make_yolo_dataset, tmp_path):
    data = make_yolo_dataset("outer/input")
    result = run_cli("run", cli_recipe, "-i", data, "-o", tmp_path / "outer", "-w", "1")
    assert result.exit_code == 2
    assert "is inside output" in result.stderr


# ---------------------------------------------------------------- bad inputs
def test_malformed_label_skips_that_image_only(cli_recipe, yolo_dataset, tmp_path):
    (yolo_dataset / "labels/img2.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 abc 0.2\n")
    out = tmp_path / "out"
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q")
    assert result.exit_code == 1, result.output
    assert "skipped: labels/img2.txt:2: 'abc' is not a number" in result.stderr
    assert "augcli: skipped 1 inputs (bad-label: 1)" in result.stderr
    written = sorted(p.name for p in (out / "images").iterdir())
    assert not any(name.startswith("img2") for name in written)
    assert len(written) == (N_IMAGES - 1) * (1 + COPIES)
    records = manifest(out)
    skipped = [r for r in records if "skipped" in r]
    assert skipped == [{"source": "images/img2.png", "skipped": "bad-label",
                        "error": "labels/img2.txt:2: 'abc' is not a number"}]
    assert len(records) == (N_IMAGES - 1) * (1 + COPIES) + 1


def test_unreadable_image_is_skipped(cli_recipe, yolo_dataset, tmp_path):
    (yolo_dataset / "images/img4.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q")
    assert result.exit_code == 1
    assert "skipped: images/img4.png: not a readable image" in result.stderr
    assert [r["skipped"] for r in manifest(out) if "skipped" in r] == ["unreadable-image"]


def test_missing_input_folder_is_a_one_line_error(cli_recipe, tmp_path):
    missing = tmp_path / "nope"
    result = run_cli("run", cli_recipe, "-i", missing, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == f"augcli: error: input folder {missing} does not exist or is not a folder\n"
    assert not (tmp_path / "out").exists()


def test_missing_input_folder_in_a_real_process_has_no_traceback(cli_recipe, tmp_path):
    proc = run_subprocess("run", cli_recipe, "-i", tmp_path / "nope", "-o", tmp_path / "out")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("augcli: error: input folder ")


def test_folder_without_a_dataset(cli_recipe, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli("run", cli_recipe, "-i", tmp_path / "empty", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "could not recognise a dataset in" in result.stderr and "--input-format" in result.stderr


def test_recipe_error_in_run_exits_2_before_any_work(write_recipe, yolo_dataset, tmp_path):
    recipe = write_recipe("pipeline:\n  - {type: Rotate, degrees: [15, -15]}\n  - {type: GaussianBlurr}\n", "bad.yaml")
    out = tmp_path / "out"
    result = run_cli("run", recipe, "-i", yolo_dataset, "-o", out)
    assert result.exit_code == 2
    first, second = result.stderr.splitlines()
    assert first == "augcli: recipe error: bad.yaml:2 pipeline[0].degrees: expected [lo, hi] with lo <= hi, got [15, -15]"
    assert second.startswith("augcli: recipe error: bad.yaml:3 pipeline[1].type: unknown transform 'GaussianBlurr'; "
                             "did you mean GaussianBlur")
    assert not out.exists()


def test_missing_recipe_file_in_run_exits_2(yolo_dataset, tmp_path):
    result = run_cli("run", tmp_path / "nope.yaml", "-i", yolo_dataset, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == f"augcli: recipe error: {tmp_path / 'nope.yaml'}: recipe file not found\n"


def test_input_tree_is_unchanged_by_a_run(cli_recipe, yolo_dataset, tmp_path):
    (yolo_dataset / "labels/img3.txt").write_text("0 0.5 0.5 -0.2 0.2\n")  # a skipped item too
    before = tree_digest(yolo_dataset)
    mtimes = {p: p.stat().st_mtime_ns for p in yolo_dataset.rglob("*")}
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", tmp_path / "out", "-w", "1", "-q")
    assert result.exit_code == 1
    assert tree_digest(yolo_dataset) == before
    assert {p: p.stat().st_mtime_ns for p in yolo_dataset.rglob("*")} == mtimes


def test_pose_dataset_with_a_background_image(write_recipe, tmp_path):
    import cv2
    import numpy as np

    data = tmp_path / "pose"
    (data / "images").mkdir(parents=True)
    (data / "labels").mkdir()
    for i in range(2):
        assert cv2.imwrite(str(data / f"images/p{i}.png"), np.full((48, 64, 3), 100, np.uint8))
    (data / "labels/p0.txt").write_text("0 0.5 0.5 0.4 0.4 0.4 0.4 2 0.6 0.6 2\n")
    (data / "labels/p1.txt").write_text("")  # no person in this picture
    (data / "data.yaml").write_text("kpt_shape: [2, 3]\nflip_idx: [1, 0]\nnames: [person]\n")
    recipe = write_recipe("copies: 1\npipeline: [{type: HorizontalFlip}]\n", "flip.yaml")
    out = tmp_path / "out"
    result = run_cli("run", recipe, "-i", data, "-o", out, "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    assert (out / "labels/p1_aug1.txt").read_text() == ""
    (flipped,) = label_rows(out / "labels/p0_aug1.txt")
    # mirrored: x -> 1 - x, and keypoints 0 and 1 swap through flip_idx
    assert flipped == pytest.approx([0, 0.5, 0.5, 0.4, 0.4, 0.4, 0.6, 2, 0.6, 0.4, 2], abs=1e-6)


@pytest.mark.parametrize("extra, starts", [(["-w", "2"], True), (["-w", "1"], False),
                                           (["-w", "2", "--dry-run"], False)])
def test_run_starts_the_worker_server_first_only_when_a_pool_will_run(tmp_path, yolo_dataset, cli_recipe,
                                                                      monkeypatch, extra, starts):
    """The fork server's imports (some 0.2 s) overlap the command's own when it is started before
    them; a one-worker run or a dry run has no pool and starts none."""
    import augcli.api
    import augcli.executor

    calls = []
    real_run = augcli.api.run
    monkeypatch.setattr(augcli.executor, "start_worker_server", lambda: calls.append("server"))
    monkeypatch.setattr(augcli.api, "run", lambda *a, **k: calls.append("run") or real_run(*a, **k))
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", tmp_path / "out", "-q", *extra)
    assert result.exit_code == 0, result.output
    assert calls[0] == ("server" if starts else "run")
    assert ("server" in calls) is starts

"""A whole run against unusual file names, folder layouts and damaged output state.

The promises checked: a bad input is skipped by name and the rest is written with correct labels;
the input is never modified (bytes and mtimes); nothing appears outside OUTPUT; exit codes CI can
use; --resume after a crash finishes like a clean run.

Oracle: every image is flat grey with one solid red rectangle; labels are read back with a small
YOLO parser written here from the format (class cx cy w h, normalised) and compared with where the
red pixels are in the written image. Everything is generated in tmp_path.
"""
from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import full_disk_write

from augcli.cli import main

W, H = 64, 48
RED_BOX = (10, 8, 30, 30)  # x1, y1, x2, y2 in pixels (x2, y2 exclusive): asymmetric, so a flip shows
RECIPE = """\
version: 1
seed: 3
copies: 3
keep_original: true
labels: {min_visibility: 0.0, min_area: 0}
pipeline:
  - {type: HorizontalFlip, p: 0.5}
  - {type: VerticalFlip, p: 0.5}
"""
COPIES = 3


# ------------------------------------------------------------------ making inputs
def red_png(ext: str = ".png") -> bytes:
    image = np.full((H, W, 3), 96, np.uint8)
    x1, y1, x2, y2 = RED_BOX
    image[y1:y2, x1:x2] = (0, 0, 255)
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


def yolo_line() -> str:
    x1, y1, x2, y2 = RED_BOX
    return f"0 {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f}\n"


def add_yolo_image(root: Path, name: str, data: bytes | None = None) -> None:
    """images/<name> (a red box) and labels/<stem>.txt saying where the box is."""
    (root / "images" / name).parent.mkdir(parents=True, exist_ok=True)
    (root / "labels" / name).parent.mkdir(parents=True, exist_ok=True)
    (root / "images" / name).write_bytes(red_png() if data is None else data)
    (root / "labels" / (os.path.splitext(name)[0] + ".txt")).write_text(yolo_line())
    (root / "data.yaml").write_text("names: [box]\n")


def write_recipe(tmp_path: Path) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE)
    return path


# ------------------------------------------------------------------ observing
def snapshot(root: Path) -> dict[bytes, tuple]:
    """Every entry below root (names as bytes) -> (kind, content, mtime_ns); links are not followed."""
    out = {}
    top = os.fsencode(root)
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            full = os.path.join(folder, name)
            st = os.lstat(full)
            if os.path.islink(full):
                out[os.path.relpath(full, top)] = ("link", os.readlink(full), st.st_mtime_ns)
            elif os.path.isdir(full):
                out[os.path.relpath(full, top)] = ("dir", None, st.st_mtime_ns)
            else:
                with open(full, "rb") as f:
                    out[os.path.relpath(full, top)] = ("file", f.read(), st.st_mtime_ns)
    return out


def invoke(recipe: Path, src: Path, out: Path, *extra: str):
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(src), "-o", str(out), "-w", "1", "-q", *extra])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.stderr, result.stderr
    return result


def read_jsonl(path: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def red_pixels_box(path: Path) -> tuple[int, int, int, int]:
    """Pixel box (x1, y1, x2 exclusive, y2 exclusive) of the red pixels of an image file."""
    image = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, path
    red = (image[:, :, 2] > 180) & (image[:, :, 1] < 80) & (image[:, :, 0] < 80)
    ys, xs = np.nonzero(red)
    assert len(xs), f"no red pixels in {path}"
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def yolo_boxes(path: Path, size: tuple[int, int]) -> list[tuple[int, float, float, float, float]]:
    """(class, x1, y1, x2, y2 in pixels) of each line of a YOLO detect label file."""
    w, h = size
    boxes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            cls, cx, cy, bw, bh = line.split()
            cx, cy, bw, bh = float(cx) * w, float(cy) * h, float(bw) * w, float(bh) * h
            boxes.append((int(cls), cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2))
    return boxes


def assert_labels_cover_red(out: Path, image_rel: str, label_rel: str) -> None:
    height, width = cv2.imdecode(np.frombuffer((out / image_rel).read_bytes(), np.uint8), cv2.IMREAD_COLOR).shape[:2]
    (cls, *box), = yolo_boxes(out / label_rel, (width, height))
    assert cls == 0
    want = red_pixels_box(out / image_rel)
    assert max(abs(a - b) for a, b in zip(box, want)) <= 1.0, (image_rel, box, want)


def outside(tmp_path: Path, out: Path, before: set[str]) -> set[str]:
    """Entries of tmp_path (outside `out`) that were not there before."""
    now = {str(p) for p in tmp_path.rglob("*")}
    return {p for p in now - before if not (p == str(out) or p.startswith(str(out) + os.sep))}


# ------------------------------------------------------------------ names too long for the output
@pytest.mark.parametrize("long_stem", ["a" * 240, "é" * 118], ids=["ascii", "two-byte-utf8"])
def test_an_input_whose_output_names_would_be_too_long_is_skipped_by_name_and_the_rest_is_written(
        tmp_path, long_stem):
    """`<stem>_aug3.png` (and the temporary name written first) longer than the file system's 255
    bytes: that one input is skipped as bad-name before any work; the run used to stop at its first
    write with exit 3 ("File name too long"), leaving the other inputs unmade."""
    src, out = tmp_path / "in", tmp_path / "out"
    add_yolo_image(src, "ok.png")
    add_yolo_image(src, "b" * 200 + ".png")  # long, but its outputs fit
    add_yolo_image(src, long_stem + ".png")
    assert len((long_stem + ".png").encode()) <= 255  # a valid input name
    recipe = write_recipe(tmp_path)
    before_in, before_all = snapshot(src), {str(p) for p in tmp_path.rglob("*")}
    run = invoke(recipe, src, out)
    assert run.exit_code == 1, run.stderr
    skipped = [ln for ln in run.stderr.splitlines() if ln.startswith("skipped:")]
    assert len(skipped) == 1 and long_stem in skipped[0] and "shorten the file name" in skipped[0], run.stderr
    assert "bad-name: 1" in run.stderr, run.stderr
    records = read_jsonl(out / "augcli-manifest.jsonl")
    skips = [r for r in records if "output" not in r]
    assert [(r["source"], r.get("skipped")) for r in skips] == [(f"images/{long_stem}.png", "bad-name")], skips
    written = [r for r in records if "output" in r]
    assert sorted({r["source"] for r in written}) == ["images/" + "b" * 200 + ".png", "images/ok.png"]
    assert len(written) == 2 * (COPIES + 1)
    for r in written:
        assert_labels_cover_red(out, r["output"], r["label"])
    assert not any(long_stem in p.name for p in out.rglob("*"))
    assert snapshot(src) == before_in
    assert outside(tmp_path, out, before_all) == set()


def test_an_input_name_that_fits_only_without_the_temporary_name_is_skipped_in_a_conversion_too(tmp_path):
    """A conversion writes originals only (no `_aug<k>`), but every file is first written under a
    longer temporary name: a 250-byte name cannot be written, and is skipped rather than stopping the run."""
    src, out = tmp_path / "in", tmp_path / "out"
    add_yolo_image(src, "ok.png")
    add_yolo_image(src, "c" * 246 + ".png")
    recipe = tmp_path / "convert.yaml"
    recipe.write_text("version: 1\naugment_splits: all\npipeline: []\n")
    run = invoke(recipe, src, out)
    assert run.exit_code == 1, run.stderr
    records = read_jsonl(out / "augcli-manifest.jsonl")
    assert [(r["source"], r.get("skipped")) for r in records if "output" not in r] == \
        [("images/" + "c" * 246 + ".png", "bad-name")]
    assert [r["output"] for r in records if "output" in r] == ["images/ok.png"]
    assert (out / "images" / "ok.png").read_bytes() == (src / "images" / "ok.png").read_bytes()


# ------------------------------------------------------------------ damaged state in OUTPUT
def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("state", ["augcli-manifest.jsonl", ".augcli-spool.jsonl"])
def test_resume_after_the_state_was_cut_inside_a_non_ascii_character_finishes_like_a_clean_run(tmp_path, state):
    """A crash or a full disk cuts the manifest (or spool) at any byte, also inside the two bytes of
    an 'é' in a file name: --resume used to stop with a UnicodeDecodeError traceback (exit 1)."""
    src = tmp_path / "in"
    for name in ("a.png", "café.png", "zé.png"):
        add_yolo_image(src, name)
    recipe = write_recipe(tmp_path)
    assert invoke(recipe, src, tmp_path / "clean").exit_code == 0
    out = tmp_path / "out"
    assert invoke(recipe, src, out).exit_code == 0
    data = (out / state).read_bytes()
    cut = data.rfind("é".encode()) + 1  # after the first byte of the last 'é'
    assert 0 < cut < len(data)
    (out / state).write_bytes(data[:cut])
    before = snapshot(src)
    run = invoke(recipe, src, out, "--resume")
    assert run.exit_code == 0, run.stderr
    assert tree(out) == tree(tmp_path / "clean")
    assert snapshot(src) == before


@pytest.mark.parametrize("damage", [b"", b'{"augcli_version": "', b"\xff\xfe", b"[1, 2]\n"],
                         ids=["empty", "cut", "not-utf8", "not-an-object"])
def test_resume_with_a_damaged_run_info_is_a_usage_error_naming_it(tmp_path, damage):
    """augcli-run.json left empty or cut (a crash before the rename reached the disk) or otherwise
    damaged: --resume is refused with exit 2 and a sentence saying what to do, not a traceback
    (which exits 1, "some inputs skipped", to CI); nothing in OUTPUT changes."""
    src, out = tmp_path / "in", tmp_path / "out"
    add_yolo_image(src, "a.png")
    recipe = write_recipe(tmp_path)
    assert invoke(recipe, src, out).exit_code == 0
    (out / "augcli-run.json").write_bytes(damage)
    before = snapshot(out)
    run = invoke(recipe, src, out, "--resume")
    assert run.exit_code == 2, run.stderr
    assert "augcli-run.json" in run.stderr and "--overwrite" in run.stderr, run.stderr
    assert snapshot(out) == before
    again = invoke(recipe, src, out, "--overwrite")
    assert again.exit_code == 0, again.stderr


# ------------------------------------------------------------------ a full disk, then --resume
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="finds a descriptor's file through /proc")
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.95])  # 0: the very first write fails
def test_disk_full_stops_with_exit_3_leaves_no_partial_file_and_resume_finishes_like_a_clean_run(
        tmp_path, monkeypatch, fraction):
    """Writes to the output's temporary files fail with ENOSPC after `fraction` of the bytes of a clean
    run's images and labels (those that fit are
    written first, as on a full disk); the run stops with exit 3 naming the error, leaves no temporary
    or cut file, and a --resume with space again gives exactly a clean run's output."""
    import augcli.imageio
    from augcli.imageio import TMP_MARK

    src = tmp_path / "in"
    for i in range(5):
        add_yolo_image(src, f"ïmg {i}.png")
    recipe = write_recipe(tmp_path)
    assert invoke(recipe, src, tmp_path / "clean").exit_code == 0
    before = snapshot(src)
    clean = tree(tmp_path / "clean")
    full_write = full_disk_write(int(fraction * sum(len(data) for rel, data in clean.items()
                                                    if rel.startswith(("images/", "labels/")))))

    out = tmp_path / "out"
    monkeypatch.setattr(augcli.imageio.os, "write", full_write)
    run = invoke(recipe, src, out)
    monkeypatch.undo()
    assert run.exit_code == 3, run.stderr
    assert "augcli: error:" in run.stderr and "No space left on device" in run.stderr, run.stderr
    assert not [p for p in out.rglob("*") if TMP_MARK in p.name]
    for rel, data in tree(out).items():  # what is there is whole: a clean run's file, or the run's own state
        if rel in clean and rel.startswith(("images/", "labels/")):
            assert data == clean[rel], rel
    listed = read_jsonl(out / "augcli-manifest.jsonl") if (out / "augcli-manifest.jsonl").exists() else []
    for r in listed:
        assert (out / r["output"]).read_bytes() == clean[r["output"]]
    resumed = invoke(recipe, src, out, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert tree(out) == clean
    assert snapshot(src) == before


# ------------------------------------------------------------------ a hostile but valid layout
def test_unusual_names_links_and_hidden_entries_in_the_input(tmp_path):
    """Spaces, NFC and NFD spellings of one name, a backslash, names differing only in case, a PNG
    named .jpg, a link to an image and to a folder, a folder link loop, hidden files and folders,
    a zero-byte image, a label file that is a folder: every good image is written with a label that
    matches its red pixels, each bad one is skipped by name, the input is untouched and nothing is
    written outside OUTPUT."""
    src, out = tmp_path / "in", tmp_path / "out"
    good = ["plain.png", "with space.png", unicodedata.normalize("NFC", "café.png"),
            unicodedata.normalize("NFD", "café.png"), "back\\slash.png", "Case.png", "case.png"]
    for name in good:
        add_yolo_image(src, name)
    add_yolo_image(src, "lies.jpg", red_png(".png"))  # PNG bytes behind a .jpg name
    good.append("lies.jpg")
    os.symlink("plain.png", src / "images" / "linked.png")
    (src / "labels" / "linked.txt").write_text(yolo_line())
    good.append("linked.png")
    add_yolo_image(src, "sub/deep.png")
    good.append("sub/deep.png")
    os.symlink("sub", src / "images" / "sub_link")  # a linked folder: never walked
    os.symlink(".", src / "images" / "sub" / "loop")  # a loop: never walked
    for hidden in (".DS_Store", "._plain.png", ".ipynb_checkpoints/plain-checkpoint.png", ".hidden/x.png"):
        (src / "images" / hidden).parent.mkdir(parents=True, exist_ok=True)
        (src / "images" / hidden).write_bytes(red_png())
    (src / "images" / "Thumbs.db").write_bytes(b"\0" * 64)
    add_yolo_image(src, "zero.png", b"")
    (src / "images" / "label_is_folder.png").write_bytes(red_png())
    (src / "labels" / "label_is_folder.txt").mkdir()
    recipe = write_recipe(tmp_path)
    before_in, before_all = snapshot(src), {str(p) for p in tmp_path.rglob("*")}
    run = invoke(recipe, src, out)
    assert run.exit_code == 1, run.stderr
    records = read_jsonl(out / "augcli-manifest.jsonl")
    assert sorted((r["source"], r["skipped"]) for r in records if "output" not in r) == [
        ("images/label_is_folder.png", "bad-label"), ("images/zero.png", "unreadable-image")]
    written = [r for r in records if "output" in r]
    assert sorted({r["source"] for r in written}) == sorted(f"images/{n}" for n in good)
    assert len(written) == len(good) * (COPIES + 1)
    for r in written:
        assert_labels_cover_red(out, r["output"], r["label"])
    assert len({r["output"] for r in written}) == len(written)
    assert not [p for p in out.rglob("*") if any(part.startswith(".") and part not in (".augcli-spool.jsonl",)
                                                 for part in p.relative_to(out).parts)]
    assert snapshot(src) == before_in
    assert outside(tmp_path, out, before_all) == set()


# ------------------------------------------------------------------ one folder under two paths
@pytest.fixture
def bind_mount(tmp_path):
    """bind(source) -> a second path of the folder `source` (mount --bind; needs root): unmounted at the end."""
    import subprocess

    mounted: list[Path] = []

    def bind(source: Path) -> Path:
        where = tmp_path / f"bind{len(mounted)}"
        where.mkdir()
        try:
            proc = subprocess.run(["mount", "--bind", str(source), str(where)], capture_output=True, text=True,
                                  check=False, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"cannot bind-mount here: {exc}")
        if proc.returncode != 0:
            pytest.skip(f"cannot bind-mount here (needs root / CAP_SYS_ADMIN): {proc.stderr.strip()}")
        mounted.append(where)
        return where

    yield bind
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=10, check=False)


@pytest.mark.parametrize("case", ["output-inside-input", "input-inside-output"])
def test_containment_sees_one_folder_reached_by_two_paths(tmp_path, bind_mount, case):
    """The input folder also reachable under another path (a bind mount, a container volume mounted
    twice): OUTPUT given through that other path inside INPUT used to be accepted, writing the outputs
    into the input (which the next run then read as inputs). Refused before any work, like the plain case."""
    src = tmp_path / "in"
    add_yolo_image(src, "a.png")
    recipe = write_recipe(tmp_path)
    other = bind_mount(src)
    before = snapshot(src)
    if case == "output-inside-input":
        run = invoke(recipe, src, other / "aug")
        assert "is inside input" in run.stderr, run.stderr
    else:
        run = invoke(recipe, other / "images", src)
        assert "is inside output" in run.stderr, run.stderr
    assert run.exit_code == 2, run.stderr
    assert snapshot(src) == before


# ------------------------------------------------------------------ a folder that cannot be listed
@pytest.mark.parametrize("fmt", ["images", "classify"])
def test_a_folder_that_cannot_be_read_is_reported_as_skipped_not_left_out_silently(tmp_path, monkeypatch, fmt):
    """A subfolder without read permission (simulated: listing it raises EACCES, as it does for a user
    other than root) used to be passed over without a word, its images simply missing from the run
    (exit 0). It is named as skipped (reason unreadable-folder, exit code 1); the rest is written."""
    import errno

    import augcli.storage

    src, out = tmp_path / "in", tmp_path / "out"
    for rel in ("cat/a.png", "dog/b.png", "dog/locked/c.png"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(red_png())
    locked = os.path.join(src, "dog", "locked")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == locked:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(augcli.storage.os, "scandir", scandir)
    recipe = write_recipe(tmp_path)
    run = invoke(recipe, src, out, "--input-format", fmt)
    assert run.exit_code == 1, run.stderr
    skipped = [ln for ln in run.stderr.splitlines() if ln.startswith("skipped:")]
    assert len(skipped) == 1 and "dog/locked/" in skipped[0] and "Permission denied" in skipped[0], run.stderr
    records = read_jsonl(out / "augcli-manifest.jsonl")
    assert [(r["source"], r["skipped"]) for r in records if "output" not in r] == \
        [("dog/locked/", "unreadable-folder")]
    assert sorted({r["source"] for r in records if "output" in r}) == ["cat/a.png", "dog/b.png"]
    strict = invoke(recipe, src, tmp_path / "strict", "--input-format", fmt, "--on-error", "fail")
    assert strict.exit_code == 1 and "dog/locked/" in strict.stderr, strict.stderr
    assert not list((tmp_path / "strict").rglob("*.png"))


# ------------------------------------------------------------------ a path too long for the output
def test_an_input_whose_output_path_is_too_long_is_skipped_and_the_run_goes_on(tmp_path):
    """An image in folders nested so deep that, below a longer OUTPUT, its output path passes the
    4096-byte PATH_MAX: its writes fail with "File name too long", which used to stop the whole run
    (exit 3) as if the disk had failed. That one input is skipped as bad-name; the others are written."""
    src = tmp_path / "i"
    out = tmp_path / ("o" * 200) / ("o" * 200) / "x"
    deep = src
    room = 4000 - len(os.fsencode(src))  # bytes the input's relative path may take: readable, under PATH_MAX
    while room > 220:
        deep = deep / ("d" * 200)
        room -= 201
    deep = deep / ("e" * (room - 10))
    deep.mkdir(parents=True)
    (deep / "a.png").write_bytes(red_png())
    (src / "ok.png").write_bytes(red_png())
    assert 3900 < len(os.fsencode(deep / "a.png")) < 4090
    assert len(os.fsencode(out)) + len(os.fsencode(deep / "a.png")) - len(os.fsencode(src)) > 4096
    recipe = write_recipe(tmp_path)
    before = snapshot(src)
    run = invoke(recipe, src, out, "--input-format", "images")
    assert run.exit_code == 1, run.stderr
    records = read_jsonl(out / "augcli-manifest.jsonl")
    key = os.path.relpath(deep / "a.png", src).replace(os.sep, "/")
    assert [(r["source"], r["skipped"]) for r in records if "output" not in r] == [(key, "bad-name")]
    assert sorted(r["output"] for r in records if "output" in r) == ["ok.png"] + [f"ok_aug{k}.png" for k in (1, 2, 3)]
    assert snapshot(src) == before

"""Run-level behaviour: EXIF orientation, copies by class, manifest contents, the shipped sample data."""
from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import augcli
from augcli.imageio import encode_image
from augcli.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "augcli-manifest.jsonl").read_text().splitlines()]


def _rotated_camera_input(tmp_path: Path) -> tuple[Path, bytes]:
    """A YOLO input of one JPEG, cam.jpg, whose stored pixels are 60x40 with a red block at the
    stored top-left and whose EXIF orientation is 6 ('rotate 90 degrees clockwise to display');
    returns the input folder and the JPEG's bytes. The caller writes labels/cam.txt."""
    stored = np.full((40, 60, 3), 128, np.uint8)
    stored[0:20, 0:30] = (0, 0, 255)
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored[:, :, ::-1]).save(buf, "JPEG", quality=98, exif=exif.tobytes())
    src = tmp_path / "in"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    (src / "images" / "cam.jpg").write_bytes(buf.getvalue())
    return src, buf.getvalue()


def test_exif_orientation_is_applied_and_not_written(tmp_path):
    """Stored pixels are 60x40 with a red block at the stored top-left; orientation 6 means
    'rotate 90 degrees clockwise to display', so the displayed image is 40x60 with the red block
    at the displayed top-right. The label is written in displayed coordinates (as labelling tools show)."""
    src, jpeg = _rotated_camera_input(tmp_path)
    # displayed: width 40, height 60; block at x 20..40, y 0..30
    (src / "labels" / "cam.txt").write_text(f"0 {30 / 40} {15 / 60} {20 / 40} {30 / 60}\n")
    (src / "data.yaml").write_text("names: [red]\n")
    recipe = {"copies": 2, "pipeline": [{"type": "HorizontalFlip"}], "labels": {"min_area": 1}}
    report = augcli.run(recipe, src, tmp_path / "out", workers=1)
    assert report.exit_code == 0
    out = tmp_path / "out"
    for rec in _records(out):
        img = cv2.imread(str(out / rec["output"]))
        assert img.shape[:2] == (60, 40), "displayed orientation"
        cx, cy, w, h = (float(v) for v in (out / rec["label"]).read_text().split()[1:])
        x1, x2 = (cx - w / 2) * 40, (cx + w / 2) * 40
        red = np.all(np.abs(img.astype(int) - (0, 0, 255)) < 60, axis=2)
        ys, xs = np.nonzero(red)
        assert abs(xs.min() - x1) <= 1.5 and abs(xs.max() + 1 - x2) <= 1.5
        if rec["copy"] > 0:
            with Image.open(out / rec["output"]) as im:
                assert im.getexif().get(0x0112) in (None, 1), "augmented outputs carry no orientation tag"
        else:
            assert (out / rec["output"]).read_bytes() == jpeg, "the original is a byte copy"


def test_copies_by_class_gives_rare_classes_more(tmp_path):
    src = tmp_path / "in"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    for name, cls in (("common", 0), ("rare", 1), ("both", None), ("empty", "none")):
        cv2.imwrite(str(src / "images" / f"{name}.png"), np.zeros((20, 20, 3), np.uint8))
        lines = {0: "0 0.5 0.5 0.5 0.5\n", 1: "1 0.5 0.5 0.5 0.5\n", None: "0 0.5 0.5 0.5 0.5\n1 0.3 0.3 0.2 0.2\n",
                 "none": ""}[cls]
        (src / "labels" / f"{name}.txt").write_text(lines)
    (src / "data.yaml").write_text("names: [car, person]\n")
    recipe = {"copies": {"default": 1, "by_class": {"person": 4}}, "keep_original": False, "pipeline": [{"type": "HorizontalFlip"}]}
    augcli.run(recipe, src, tmp_path / "out", workers=1)
    per_source: dict[str, int] = {}
    for rec in _records(tmp_path / "out"):
        per_source[rec["source"]] = per_source.get(rec["source"], 0) + 1
    assert per_source == {"images/common.png": 1, "images/rare.png": 4, "images/both.png": 4, "images/empty.png": 1}


def test_manifest_records_ops_and_counts(tmp_path):
    out = tmp_path / "out"
    recipe = load_recipe(ROOT / "configs" / "basic.yaml")
    report = augcli.run(recipe, ROOT / "sample_data" / "yolo", out, workers=1)
    assert report.exit_code == 0
    recs = _records(out)
    # 4 train images get the original and 3 copies; the 2 val images are not augmented (augment_splits: [train])
    assert len(recs) == report.outputs == 4 * (1 + recipe.copies.default) + 2
    assert all(rec["copy"] == 0 for rec in recs if rec["split"] == "val")
    for rec in recs:
        assert (out / rec["output"]).is_file() and (out / rec["label"]).is_file()
        n_lines = len((out / rec["label"]).read_text().splitlines())
        assert rec["objects"]["out"] == n_lines
        assert rec["objects"]["in"] - rec["objects"]["out"] == rec["objects"]["dropped"]
        assert rec["seed"] == 42
        if rec["copy"] == 0:
            assert rec["ops"] == []
        for op in rec["ops"]:
            assert op["op"] in {"HorizontalFlip", "Rotate", "Affine", "BrightnessContrast", "HueSaturationValue",
                                "GaussianBlur", "GaussianNoise"}
    assert any(op["op"] == "Rotate" and "angle" in op for rec in recs for op in rec["ops"])
    data = (out / "data.yaml").read_text()
    assert "train: images/train" in data and "val: images/val" in data and str(tmp_path) not in data


@pytest.mark.parametrize("dataset", ["yolo", "yolo-seg", "yolo-pose"])
def test_shipped_sample_data_runs_clean(tmp_path, dataset):
    """Every shipped dataset runs with the shipped recipe, no warning and no skip, labels inside the image."""
    lines: list[str] = []
    report = augcli.run(ROOT / "configs" / "basic.yaml", ROOT / "sample_data" / dataset, tmp_path / "out",
                        workers=1, log=lines.append)
    assert report.exit_code == 0 and not report.skipped
    assert not [line for line in lines if line.startswith(("warning", "skipped"))], lines
    for rec in _records(tmp_path / "out"):
        for line in (tmp_path / "out" / rec["label"]).read_text().splitlines():
            vals = np.array([float(v) for v in line.split()[1:]])
            assert np.all((vals >= -1e-6) & (vals <= 2 + 1e-6))


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_a_copy_no_transform_touched_is_the_input_file_itself(tmp_path, make_yolo_dataset, ext):
    """A copy whose pipeline drew no operation shows the input's pixels exactly: its file is the
    input's own bytes (no re-encode), and every other copy is encoded from its pixels."""
    src = make_yolo_dataset(n=4, ext=ext, size=(96, 64))
    recipe = {"seed": 3, "copies": 6, "keep_original": False,
              "pipeline": [{"type": "HorizontalFlip", "p": 0.5}], "labels": {"min_area": 1}}
    assert augcli.run(recipe, src, tmp_path / "out", workers=1).exit_code == 0
    out = tmp_path / "out"
    kinds = set()
    for rec in _records(out):
        source = (src / "images" / Path(rec["source"]).name).read_bytes()
        written = (out / rec["output"]).read_bytes()
        untouched = rec["ops"] == []
        kinds.add(untouched)
        assert (written == source) is untouched, rec
        pixels = cv2.imdecode(np.frombuffer(source, np.uint8), cv2.IMREAD_COLOR)
        got = cv2.imdecode(np.frombuffer(written, np.uint8), cv2.IMREAD_COLOR)
        if untouched:
            assert np.array_equal(got, pixels)
        else:  # the flipped pixels, encoded (a JPEG re-encode of noise loses a few levels)
            want = cv2.imdecode(np.frombuffer(encode_image(np.ascontiguousarray(pixels[:, ::-1]), ext), np.uint8),
                                cv2.IMREAD_COLOR)
            assert np.array_equal(got, want)
    assert kinds == {True, False}, "the seed should give both kinds of copy"


def test_an_untouched_copy_of_an_input_with_exif_is_re_encoded(tmp_path):
    """An input carrying EXIF (here an orientation) is not reused: the copy is encoded from the
    oriented pixels, without the tag."""
    src, jpeg = _rotated_camera_input(tmp_path)
    (src / "labels" / "cam.txt").write_text("0 0.75 0.25 0.5 0.5\n")
    recipe = {"copies": 2, "keep_original": False, "pipeline": [{"type": "HorizontalFlip", "p": 0.0}]}
    assert augcli.run(recipe, src, tmp_path / "out", workers=1).exit_code == 0
    for rec in _records(tmp_path / "out"):
        assert rec["ops"] == []
        path = tmp_path / "out" / rec["output"]
        assert path.read_bytes() != jpeg
        with Image.open(path) as im:
            assert im.size == (40, 60) and im.getexif().get(0x0112) in (None, 1)


def _mask_dataset(root: Path) -> None:
    """Three 24x16 images: 'rare' paints class 2, 'common' class 1, 'blank' only background and
    the ignore value 255."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "classes.yaml").write_text("names:\n  0: background\n  1: car\n  2: person\n")
    for name, value in (("rare", 2), ("common", 1), ("blank", 255)):
        cv2.imwrite(str(root / "images" / f"{name}.png"), np.full((16, 24, 3), 90, np.uint8))
        mask = np.zeros((16, 24), np.uint8)
        mask[4:12, 6:18] = value
        cv2.imwrite(str(root / "masks" / f"{name}.png"), mask)


def _class_folder_dataset(root: Path) -> None:
    for cls, names in (("car", ("a", "b")), ("person", ("c",))):
        (root / cls).mkdir(parents=True)
        for name in names:
            cv2.imwrite(str(root / cls / f"{name}.png"), np.full((16, 24, 3), 90, np.uint8))


@pytest.mark.parametrize("make, rare_key", [(_mask_dataset, "images/rare.png"), (_class_folder_dataset, "person/c.png")])
def test_copies_by_class_counts_a_class_folder_and_the_classes_painted_in_a_mask(tmp_path, make, rare_key):
    """An image contains its class folder's class, and every class its mask paints: per-class
    copies go by them as by objects' classes (they were ignored: every image got the default).
    A resumed run takes those inputs as done."""
    src = tmp_path / "in"
    make(src)
    recipe = {"copies": {"default": 1, "by_class": {"person": 3}}, "keep_original": False,
              "pipeline": [{"type": "HorizontalFlip"}]}
    report = augcli.run(recipe, src, tmp_path / "out", workers=1)
    assert report.exit_code == 0
    per_source: dict[str, int] = {}
    for rec in _records(tmp_path / "out"):
        per_source[rec["source"]] = per_source.get(rec["source"], 0) + 1
    assert per_source[rare_key] == 3
    assert all(n == 1 for key, n in per_source.items() if key != rare_key), per_source
    assert all(rec.get("image_classes") == ["person"] for rec in _records(tmp_path / "out") if rec["source"] == rare_key)

    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.png")}
    again = augcli.run(recipe, src, tmp_path / "out", workers=1, resume=True)
    assert again.exit_code == 0
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.png")} == before, "nothing made again"

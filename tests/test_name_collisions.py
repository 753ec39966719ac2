"""Two inputs must never write the same output file: nothing is lost silently.

Each writer's `stem()` (what the parent checks before the run) is compared with the paths its
`write()` really produces, and runs that would collide are shown to refuse the later input
by name and keep every other output intact."""
from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import pytest

from augcli import api
from augcli.formats import FORMATS, get_format
from conftest import read_tree_bytes

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
QUIET = {"log": lambda line: None}


def _image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((40, 60, 3), value, np.uint8))


@pytest.mark.parametrize("out_fmt", list(FORMATS))
@pytest.mark.parametrize("sample", ["yolo", "coco", "classify"])
def test_writer_stem_is_the_written_name_without_extension(tmp_path, sample, out_fmt):
    """stem() and write() must agree, or the collision check guards the wrong names."""
    if out_fmt == "classify" and sample != "classify":
        pytest.skip("classify output needs image-level classes")
    if sample == "classify" and out_fmt not in ("classify", "images"):
        pytest.skip("a classify dataset converts only to classify or images (refused otherwise)")
    convert = ROOT / "configs" / "convert.yaml"
    report = api.run(convert, SAMPLES / sample, tmp_path / "out", workers=1, output_format=out_fmt, **QUIET)
    assert report.exit_code == 0 and report.outputs > 0
    dataset = get_format(sample).scan(SAMPLES / sample)
    writer = get_format(out_fmt).Writer(tmp_path / "out", dataset.schema)
    written = sorted(str(PurePosixPath(p).with_suffix(""))
                     for p in read_tree_bytes(tmp_path / "out") if p.lower().endswith((".jpg", ".png")))
    if out_fmt == "mask":
        written = [p for p in written if p.startswith("images/")]
    ids = {n: i for i, n in dataset.schema.names.items()}
    stems = sorted(writer.stem(it, ids.get(it.payload) if sample == "classify" else None) for it in dataset.items)
    assert stems == written


def test_same_name_in_two_splits_into_flat_voc_is_refused_not_overwritten(tmp_path):
    src = tmp_path / "in"
    for split, value in (("train", 60), ("val", 200)):
        _image(src / "images" / split / "a.jpg", value)
        (src / "labels" / split).mkdir(parents=True)
        (src / "labels" / split / "a.txt").write_text("0 0.5 0.5 0.4 0.4\n")
    (src / "data.yaml").write_text("names: [thing]\n")
    report = api.run(ROOT / "configs" / "convert.yaml", src, tmp_path / "voc", workers=1, output_format="voc",
                     **QUIET)
    assert report.exit_code == 1
    assert [(k, r) for k, r, _ in report.skipped] == [("images/val/a.jpg", "name-collision")]
    assert "images/train/a.jpg" in report.skipped[0][2]
    written = cv2.imread(str(tmp_path / "voc" / "JPEGImages" / "a.jpg"))
    assert abs(int(written.mean()) - 60) <= 2  # the train image, not overwritten by the val one
    ids = (tmp_path / "voc" / "ImageSets" / "Main")
    assert (ids / "train.txt").read_text().split() == ["a"]
    assert not (ids / "val.txt").exists() or (ids / "val.txt").read_text().split() == []


def test_same_stem_two_extensions_into_yolo_is_refused(tmp_path):
    """a.jpg and a.png in a bare folder would share labels/a.txt in YOLO."""
    src = tmp_path / "in"
    _image(src / "a.jpg", 50)
    _image(src / "a.png", 150)
    _image(src / "b.jpg", 90)
    report = api.run(ROOT / "configs" / "convert.yaml", src, tmp_path / "out", workers=1, output_format="yolo",
                     input_format="images", **QUIET)
    assert [(k, r) for k, r, _ in report.skipped] == [("a.png", "name-collision")]
    assert sorted(p for p in read_tree_bytes(tmp_path / "out") if p.startswith(("images/", "labels/"))) == [
        "images/a.jpg", "images/b.jpg", "labels/a.txt", "labels/b.txt"]


def test_an_input_named_like_an_augmented_copy_is_refused(tmp_path, write_recipe):
    src = tmp_path / "in"
    shutil.copytree(SAMPLES / "images", src)
    first = sorted(p for p in src.iterdir() if p.suffix == ".jpg")[0]
    shutil.copy(first, src / f"{first.stem}_aug2.jpg")  # e.g. an earlier output fed back in
    shutil.copy(first, src / f"{first.stem}_aug9.jpg")  # beyond the copies made: no clash
    recipe = write_recipe("""
        seed: 3
        copies: 2
        pipeline:
          - {type: GaussianNoise, std: [3, 6]}
    """)
    report = api.run(recipe, src, tmp_path / "out", workers=1, **QUIET)
    assert [(k, r) for k, r, _ in report.skipped] == [(f"{first.stem}_aug2.jpg", "name-collision")]
    out = read_tree_bytes(tmp_path / "out")
    assert out[f"{first.stem}_aug2.jpg"] != first.read_bytes()  # the real copy 2, not the input's bytes
    assert out[f"{first.stem}_aug9.jpg"] == first.read_bytes()  # kept: an original, byte for byte


def test_classes_merged_by_class_map_into_one_folder_do_not_overwrite(tmp_path):
    src = tmp_path / "in"
    _image(src / "cat" / "x.jpg", 40)
    _image(src / "kitten" / "x.jpg", 220)
    _image(src / "kitten" / "y.jpg", 120)
    report = api.run(ROOT / "configs" / "convert.yaml", src, tmp_path / "out", workers=1, input_format="classify",
                     class_rename={"kitten": "cat"}, **QUIET)
    assert [(k, r) for k, r, _ in report.skipped] == [("kitten/x.jpg", "name-collision")]
    assert sorted(read_tree_bytes(tmp_path / "out")) == [
        ".augcli-spool.jsonl", "augcli-manifest.jsonl", "augcli-run.json", "cat/x.jpg", "cat/y.jpg"]
    assert abs(int(cv2.imread(str(tmp_path / "out" / "cat" / "x.jpg")).mean()) - 40) <= 2

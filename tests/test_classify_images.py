"""Class folders (classify) and bare image folders (images): layouts read, outputs placed, class
names kept, pixels-only transforms, detection confidences, and nothing read outside the root."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import augcli.api
import augcli.formats
from augcli.errors import InputError
from augcli.formats import classify, images
from augcli.formats.base import Item
from augcli.sample import LabelSchema

W, H = 24, 16  # pixels
FLIP = {"seed": 2, "copies": 1, "keep_original": True, "pipeline": [{"type": "HorizontalFlip", "p": 1.0}]}


@pytest.fixture(autouse=True)
def formats_registered(monkeypatch):
    monkeypatch.setitem(augcli.formats.FORMATS, "classify", "augcli.formats.classify")
    monkeypatch.setitem(augcli.formats.FORMATS, "images", "augcli.formats.images")


def put_image(path: Path, seed: int = 0) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), pixels)
    return pixels


def make_tree(root: Path, rels: list[str]) -> Path:
    for i, rel in enumerate(rels):
        put_image(root / rel, i)
    return root


def run(src: Path, out: Path, recipe: dict, fmt: str, out_fmt: str | None = None):
    logs: list[str] = []
    report = augcli.api.run(recipe, src, out, workers=1, input_format=fmt, output_format=out_fmt or fmt,
                            log=logs.append)
    return report, logs


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "augcli-manifest.jsonl").read_text().splitlines()]


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and "augcli" not in p.name)


# ---------------------------------------------------------------- classify: reading
def test_classify_without_splits(tmp_path):
    src = make_tree(tmp_path / "in", ["dog/b.png", "cat/a.png", "cat/deep/c.png", "loose.png", ".hidden/x.png",
                                      "cat/.x.png"])
    dataset = classify.scan(src)
    assert dataset.schema.names == {0: "cat", 1: "dog"}
    assert dataset.schema.zero_based_ids
    assert [(i.key, i.split, i.payload) for i in dataset.items] == [
        ("cat/a.png", None, "cat"), ("cat/deep/c.png", None, "cat"), ("dog/b.png", None, "dog")]
    assert any("not inside a class folder" in n and "loose.png" in n for n in dataset.notes)
    loaded = classify.load(dataset.items[0], dataset.schema, 10**8)
    assert len(loaded.sample.objects) == 0  # the class is image-level, never a box
    assert loaded.sample.image.shape == (H, W, 3)


def test_classify_with_splits_takes_the_union_of_class_names(tmp_path):
    src = make_tree(tmp_path / "in", ["train/cat/a.png", "train/dog/b.png", "val/cat/c.png", "val/bird/d.png",
                                      "test/dog/e.png"])
    dataset = classify.scan(src)
    assert dataset.schema.names == {0: "bird", 1: "cat", 2: "dog"}
    assert [(i.key, i.split, i.payload) for i in dataset.items] == [
        ("test/dog/e.png", "test", "dog"), ("train/cat/a.png", "train", "cat"), ("train/dog/b.png", "train", "dog"),
        ("val/bird/d.png", "val", "bird"), ("val/cat/c.png", "val", "cat")]


def test_a_class_named_like_a_split_is_still_a_class(tmp_path):
    src = make_tree(tmp_path / "in", ["test/a.png", "cat/b.png"])  # `test` holds images, not class folders
    dataset = classify.scan(src)
    assert dataset.schema.names == {0: "cat", 1: "test"}
    assert [i.split for i in dataset.items] == [None, None]


# ---------------------------------------------------------------- classify: writing
def test_classify_run_places_outputs_in_their_class_folders(tmp_path):
    src = make_tree(tmp_path / "in", ["cat/a.png", "cat/deep/c.png", "dog/b.png"])
    report, _ = run(src, tmp_path / "out", FLIP, "classify")
    assert report.exit_code == 0 and report.outputs == 6
    assert files(tmp_path / "out") == ["cat/a.png", "cat/a_aug1.png", "cat/deep/c.png", "cat/deep/c_aug1.png",
                                       "dog/b.png", "dog/b_aug1.png"]
    flipped = cv2.imread(str(tmp_path / "out" / "cat" / "a_aug1.png"))
    assert np.array_equal(flipped, cv2.imread(str(src / "cat" / "a.png"))[:, ::-1])  # pixels only, moved
    assert classify.scan(tmp_path / "out").schema.names == {0: "cat", 1: "dog"}
    assert all("label" not in rec for rec in manifest(tmp_path / "out"))


def test_classify_run_with_splits_keeps_splits_and_every_class_folder(tmp_path):
    src = make_tree(tmp_path / "in", ["train/cat/a.png", "train/dog/b.png", "val/cat/c.png", "val/bird/d.png"])
    report, _ = run(src, tmp_path / "out", FLIP, "classify")
    assert report.exit_code == 0
    for rec in manifest(tmp_path / "out"):
        split, cls = Path(rec["source"]).parts[:2]
        assert Path(rec["output"]).parts[:2] == (split, cls)
        assert rec["split"] == split
    out = tmp_path / "out"
    assert "train/cat/a_aug1.png" in files(out) and "val/bird/d.png" in files(out)
    for split in ("train", "val"):  # empty class folders too, so ids by sorted folder name stay the same
        assert sorted(p.name for p in (out / split).iterdir()) == ["bird", "cat", "dog"]
    again = classify.scan(out)
    assert again.schema.names == {0: "bird", 1: "cat", 2: "dog"}


def test_classify_writer_needs_an_image_level_class(tmp_path):
    src = make_tree(tmp_path / "in", ["a.png", "b.png"])
    report, logs = run(src, tmp_path / "out", {"pipeline": []}, "images", "classify")
    assert report.exit_code == 1
    assert [r for _, r, _ in report.skipped] == ["no-class", "no-class"]
    assert any("--input-format classify" in line for line in logs)


@pytest.mark.parametrize("out_fmt", ["yolo", "coco", "voc", "mask"])
def test_classify_to_an_object_format_is_refused_before_writing(tmp_path, out_fmt):
    """Class folders hold no objects: as YOLO/COCO/VOC/mask every image would be a background image."""
    from augcli.errors import UsageError

    src = make_tree(tmp_path / "in", ["cat/a.png", "dog/b.png"])
    with pytest.raises(UsageError, match=f"written as {out_fmt}, every image would get an empty label"):
        run(src, tmp_path / "out", {"pipeline": []}, "classify", out_fmt)
    assert not (tmp_path / "out").exists()


def test_classify_to_images_is_allowed(tmp_path):
    src = make_tree(tmp_path / "in", ["cat/a.png", "dog/b.png"])
    report, _ = run(src, tmp_path / "out", {"pipeline": []}, "classify", "images")
    assert report.exit_code == 0
    assert files(tmp_path / "out") == ["cat/a.png", "dog/b.png"]


def test_output_relpath_strips_split_and_class():
    schema = LabelSchema({0: "cat", 1: "train"})
    item = Item("valid/cat/x/y.jpg", "/in", split="valid", payload="cat")
    assert classify.output_relpath(item, "_aug2", ".png", schema) == "valid/cat/x/y_aug2.png"
    moved = Item("valid/cat/y.jpg", "/in", split="test", payload="cat")  # a re-assigned split
    assert classify.output_relpath(moved, "", ".jpg", schema) == "test/cat/y.jpg"
    unsplit = Item("cat/y.jpg", "/in", split="train", payload="cat")
    assert classify.output_relpath(unsplit, "", ".jpg", schema) == "train/cat/y.jpg"
    named_like_split = Item("train/a.jpg", "/in", payload="train")
    assert classify.output_relpath(named_like_split, "", ".jpg", schema) == "train/a.jpg"
    for payload in (None, "masks/a.png", {"cat": 1}):  # no class, or something that is not one of the classes
        with pytest.raises(InputError):
            classify.output_relpath(Item("a.jpg", "/in", payload=payload), "", ".jpg", schema)


# ---------------------------------------------------------------- images
def test_images_scan_is_recursive_sorted_and_skips_hidden(tmp_path):
    src = make_tree(tmp_path / "in", ["b.png", "sub/a.jpg", "a.png", ".cache/z.png", "sub/.y.png"])
    (src / "notes.txt").write_text("not an image")
    dataset = images.scan(src)
    assert [i.key for i in dataset.items] == ["a.png", "b.png", "sub/a.jpg"]
    assert dataset.schema.names == {}
    loaded = images.load(dataset.items[2], dataset.schema, 10**8)
    assert len(loaded.sample.objects) == 0


def test_images_run_mirrors_paths(tmp_path):
    src = make_tree(tmp_path / "in", ["a.png", "sub/deeper/b.jpg"])
    report, _ = run(src, tmp_path / "out", {**FLIP, "copies": 2}, "images")
    assert report.exit_code == 0
    assert files(tmp_path / "out") == ["a.png", "a_aug1.png", "a_aug2.png", "sub/deeper/b.jpg",
                                       "sub/deeper/b_aug1.jpg", "sub/deeper/b_aug2.jpg"]
    assert (tmp_path / "out" / "a.png").read_bytes() == (src / "a.png").read_bytes()


# ---------------------------------------------------------------- detection
def test_detect_confidences(tmp_path, yolo_dataset):
    flat = make_tree(tmp_path / "flat", ["a.png", "b/c.png"])
    classes = make_tree(tmp_path / "classes", ["cat/a.png", "dog/b.png"])
    split = make_tree(tmp_path / "split", ["train/cat/a.png", "val/dog/b.png"])
    only_images = make_tree(tmp_path / "only_images", ["images/a.png"])
    labelled = make_tree(tmp_path / "labelled", ["cat/a.png"])
    (labelled / "annotations").mkdir()
    split_labelled = make_tree(tmp_path / "split_labelled", ["train/images/a.png"])
    (split_labelled / "train" / "labels").mkdir()
    assert classify.detect(classes) == 0.5 and classify.detect(split) == 0.5
    for root in (flat, only_images, labelled, split_labelled, yolo_dataset, tmp_path / "missing"):
        assert classify.detect(root) == 0.0, root
    assert images.detect(flat) == 0.1 and images.detect(classes) == 0.1
    assert images.detect(tmp_path / "missing") == 0.0
    (tmp_path / "empty").mkdir()
    assert images.detect(tmp_path / "empty") == 0.0
    assert augcli.formats.detect_format(classes) == "classify"
    assert augcli.formats.detect_format(split) == "classify"
    assert augcli.formats.detect_format(flat) == "images"
    assert augcli.formats.detect_format(yolo_dataset) == "yolo"


# ---------------------------------------------------------------- never outside the root
def test_symlinks_escaping_the_root_are_skipped(tmp_path):
    outside = make_tree(tmp_path / "outside", ["secret.png", "cat/s.png"])
    src = make_tree(tmp_path / "in", ["cat/a.png", "dog/b.png"])
    (src / "cat" / "leak.png").symlink_to(outside / "secret.png")
    (src / "dog" / "inside.png").symlink_to(src / "cat" / "a.png")  # inside the root: fine
    (src / "bird").symlink_to(outside / "cat", target_is_directory=True)
    (src / "cat" / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    for scan in (classify.scan, images.scan):
        dataset = scan(src)
        keys = [i.key for i in dataset.items]
        assert keys == ["cat/a.png", "dog/b.png", "dog/inside.png"]
        assert any(n.startswith("cat/leak.png:") and "outside" in n for n in dataset.notes)
        assert any(n.startswith("cat/dangling.png:") for n in dataset.notes)
        assert any(n.startswith("bird/:") and "outside" in n for n in dataset.notes)
    assert classify.scan(src).schema.names == {0: "cat", 1: "dog"}
    report, logs = run(src, tmp_path / "out", {"pipeline": []}, "classify")
    assert report.exit_code == 0
    assert files(tmp_path / "out") == ["cat/a.png", "dog/b.png", "dog/inside.png"]
    assert any("leak.png" in line for line in logs)


def test_linked_folders_inside_the_root_are_not_walked(tmp_path):
    src = make_tree(tmp_path / "in", ["a/x.png"])
    (src / "a" / "loop").symlink_to(src, target_is_directory=True)
    notes: list[str] = []
    assert images.list_files(src, notes=notes) == ["a/x.png"]
    assert notes == ["a/loop/: symbolic link to a folder inside the input folder; not followed "
                     "(linked folders are never walked)"]

"""Class folders and copy counts at their edges: a `copies.by_class` value below the default, and a
class folder that holds no image (still a class: ids by sorted folder name must not shift)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

import augcli
from augcli.formats import classify
from augcli.recipe import load_recipe

FLIP = [{"type": "HorizontalFlip", "p": 1.0}]


def put_image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((32, 48, 3), 90, np.uint8))


def outputs_by_source(out: Path) -> dict[str, list[int]]:
    by_source: dict[str, list[int]] = {}
    for line in (out / "augcli-manifest.jsonl").read_text().splitlines():
        rec = json.loads(line)
        by_source.setdefault(rec["source"], []).append(rec["copy"])
    return {k: sorted(v) for k, v in by_source.items()}


def test_a_by_class_value_below_the_default_is_what_the_image_gets():
    """docs/recipes.md: an image gets the largest by_class value among the classes it contains, or
    `default` when none is listed. A listed class with fewer copies than the default got the default."""
    recipe = load_recipe({"copies": {"default": 3, "by_class": {"background": 0, "cat": 1, "dog": 5}},
                          "pipeline": []})
    assert recipe.copies.for_classes({"background"}) == 0
    assert recipe.copies.for_classes({"cat"}) == 1
    assert recipe.copies.for_classes({"cat", "background"}) == 1  # the largest listed value
    assert recipe.copies.for_classes({"cat", "dog"}) == 5
    assert recipe.copies.for_classes({"bird"}) == 3  # none listed: the default
    assert recipe.copies.for_classes(set()) == 3


def test_by_class_zero_gives_a_class_folder_no_augmented_copies(tmp_path):
    src = tmp_path / "in"
    for rel in ("background/b.png", "cat/a.png"):
        put_image(src / rel)
    recipe = {"copies": {"default": 2, "by_class": {"background": 0}}, "keep_original": True, "pipeline": FLIP}
    report = augcli.run(recipe, src, tmp_path / "out", workers=1)
    assert report.exit_code == 0
    assert outputs_by_source(tmp_path / "out") == {"background/b.png": [0], "cat/a.png": [0, 1, 2]}
    assert not (tmp_path / "out" / "background" / "b_aug1.png").exists()


def test_an_empty_class_folder_is_still_a_class(tmp_path):
    """Ultralytics numbers classes by the sorted folder names of train/, empty ones included: dropping
    `train/bird/` (no image yet) renumbered cat and dog, and the output lost the folder."""
    src = tmp_path / "in"
    for rel in ("train/cat/a.png", "train/dog/b.png", "val/cat/c.png"):
        put_image(src / rel)
    (src / "train" / "bird").mkdir()
    assert classify.scan(src).schema.names == {0: "bird", 1: "cat", 2: "dog"}
    report = augcli.run({"copies": 1, "pipeline": FLIP}, src, tmp_path / "out", workers=1)
    assert report.exit_code == 0
    for split in ("train", "val"):
        assert sorted(p.name for p in (tmp_path / "out" / split).iterdir()) == ["bird", "cat", "dog"]
    assert classify.scan(tmp_path / "out").schema.names == {0: "bird", 1: "cat", 2: "dog"}


def test_an_empty_class_folder_without_split_folders_is_still_a_class(tmp_path):
    src = tmp_path / "in"
    put_image(src / "cat" / "a.png")
    (src / "zebra").mkdir()
    (src / ".hidden").mkdir()
    assert classify.scan(src).schema.names == {0: "cat", 1: "zebra"}
    report = augcli.run({"copies": 1, "pipeline": FLIP}, src, tmp_path / "out", workers=1)
    assert report.exit_code == 0
    assert (tmp_path / "out" / "zebra").is_dir() and not (tmp_path / "out" / ".hidden").exists()


def test_a_bare_folder_of_images_in_split_folders_is_not_read_as_classes_named_train_and_val(tmp_path):
    """`train/a.png` + `val/b.png` (no class folders) was detected as classify with classes 'train' and
    'val' and no splits, so the val images got augmented copies (augment_splits defaults to [train])."""
    from augcli.formats import detect_format, images

    src = tmp_path / "in"
    for rel in ("train/a.png", "val/b.png"):
        put_image(src / rel)
    assert classify.detect(src) == 0.0 and detect_format(src) == "images"
    assert images.detect(src) == 0.1
    report = augcli.run({"copies": 1, "pipeline": FLIP}, src, tmp_path / "out", workers=1)
    assert report.exit_code == 0
    assert outputs_by_source(tmp_path / "out") == {"train/a.png": [0, 1], "val/b.png": [0]}
    # a class named like a split inside a split folder is still a class
    put_image(tmp_path / "nested" / "train" / "val" / "x.png")
    assert classify.detect(tmp_path / "nested") == 0.5

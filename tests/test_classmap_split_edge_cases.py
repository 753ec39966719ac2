"""Class maps, splits and dataset layouts at their edges, checked against generated data.

Every dataset here is painted: each object is a patch whose colour says its class, so the
written labels are checked against the pixels (an oracle independent of augcli's readers),
and the written files are read with small parsers of the formats' own specs."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from augcli import api
from augcli.cli import main

ROOT = Path(__file__).resolve().parent.parent
CONVERT = ROOT / "configs" / "convert.yaml"
QUIET = {"log": lambda line: None}
W, H = 48, 32  # pixels
COLOURS = {"a": (0, 0, 255), "b": (0, 255, 0), "c": (255, 0, 0)}  # BGR: the class of a patch
NAMES = list(COLOURS)


def _objects(i: int) -> list[tuple[str, int, int, int, int]]:
    """Image i's objects: (class, x1, y1, x2, y2) in whole pixels, side by side."""
    return [(NAMES[(i + j) % len(NAMES)], 2 + 15 * j, 4 + i % 3, 14 + 15 * j, 20 + i % 3) for j in range(3)]


def _paint(objects) -> np.ndarray:
    image = np.full((H, W, 3), 128, np.uint8)
    for name, x1, y1, x2, y2 in objects:
        image[y1:y2, x1:x2] = COLOURS[name]
    return image


def _colour_class(image: np.ndarray, box) -> str | None:
    x1, y1, x2, y2 = box
    pixel = image[int((y1 + y2) / 2), int((x1 + x2) / 2)].astype(int)
    return next((n for n, c in COLOURS.items() if np.abs(pixel - c).max() < 40), None)


def _voc_input(root: Path, image_sets: dict[str, list[int]], n: int = 4) -> Path:
    """JPEGImages/ + Annotations/ (1-based inclusive boxes) + labelmap.txt + ImageSets/Main lists."""
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        objects = _objects(i)
        assert cv2.imwrite(str(root / "JPEGImages" / f"img{i}.png"), _paint(objects))
        body = "".join(f"<object><name>{c}</name><bndbox><xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin><xmax>{x2}</xmax>"
                       f"<ymax>{y2}</ymax></bndbox></object>" for c, x1, y1, x2, y2 in objects)
        (root / "Annotations" / f"img{i}.xml").write_text(f"<annotation><filename>img{i}.png</filename>{body}</annotation>")
    (root / "labelmap.txt").write_text("".join(f"{n}:::\n" for n in NAMES))
    for split, ids in image_sets.items():
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"img{i}\n" for i in ids))
    return root


def _yolo_split_images(out: Path) -> dict[str, set[str]]:
    """data.yaml's train / val / test -> every image file Ultralytics would take for it (a folder
    entry means every image below that folder, recursively)."""
    data = yaml.safe_load((out / "data.yaml").read_text())
    found: dict[str, set[str]] = {}
    for split in ("train", "val", "test"):
        entries = data.get(split) or []
        for entry in entries if isinstance(entries, list) else [entries]:
            found.setdefault(split, set()).update(
                p.relative_to(out).as_posix() for p in (out / entry).rglob("*.png"))
    return found


def test_voc_trainval_and_test_written_as_yolo_keep_test_images_out_of_train(tmp_path):
    """VOC's trainval has no YOLO folder name: its images go to images/trainval/, and data.yaml must
    name that folder for train, not all of images/, which also holds images/test/."""
    src = _voc_input(tmp_path / "voc", {"trainval": [0, 1, 2], "test": [3]})
    report = api.run(CONVERT, src, tmp_path / "out", workers=1, output_format="yolo", **QUIET)
    assert report.exit_code == 0
    splits = _yolo_split_images(tmp_path / "out")
    test_images = {p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("img3.png")}
    assert test_images and splits["test"] == test_images
    assert not splits["train"] & test_images, f"test images trained on: {sorted(splits['train'] & test_images)}"
    assert not splits["val"] & test_images
    assert len(splits["train"]) == 3


@pytest.mark.parametrize("name", ["../../escaped", "a/b", "..", ".hidden", "x\\y", " "])
def test_a_split_name_never_leads_outside_the_output_folder(tmp_path, name):
    """--splits names become folders and files (images/<split>/, ImageSets/Main/<split>.txt): a
    name that is not one plain folder name is refused before the run (exit 2), not followed out
    of OUTPUT (before, '../../escaped' wrote images beside OUTPUT)."""
    src = _voc_input(tmp_path / "voc", {})
    box = tmp_path / "box"
    box.mkdir()
    result = CliRunner().invoke(main, ["run", str(CONVERT), "-i", str(src),
                                       "-o", str(box / "out"), "--output-format", "yolo",
                                       "--splits", f"{name}=0.5,train=0.5"])
    assert result.exit_code == 2, result.output
    assert not any(box.rglob("*")) and sorted(p.name for p in tmp_path.iterdir()) == ["box", "voc"]


def test_plain_split_names_are_accepted():
    assert api.parse_splits("train=0.7,val=0.2,hold-out_2.b=0.1") == {"train": 0.7, "val": 0.2, "hold-out_2.b": 0.1}


def _listed_images(out: Path, entry: str) -> set[str]:
    """The images an Ultralytics data.yaml entry names: every image below a folder, or the lines of
    an image list (.txt; a line starting ./ is relative to the list's folder)."""
    if entry.endswith(".txt"):
        lines = [ln.strip() for ln in (out / entry).read_text().splitlines() if ln.strip()]
        assert all(ln.startswith("./") for ln in lines)
        return {(out / entry).parent.joinpath(ln[2:]).relative_to(out).as_posix() for ln in lines}
    return {p.relative_to(out).as_posix() for p in (out / entry).rglob("*.png")}


def test_images_in_no_split_beside_val_and_test_are_trained_on_alone(tmp_path):
    """A VOC input with val.txt and test.txt but no train list: its other images have no split and
    are written to images/, which holds images/val/ and images/test/ too. data.yaml's train must
    name those images only (before: train: images, so the val and test images were trained on)."""
    src = _voc_input(tmp_path / "voc", {"val": [0], "test": [1]})
    out = tmp_path / "out"
    report = api.run(CONVERT, src, out, workers=1, output_format="yolo", **QUIET)
    assert report.exit_code == 0
    data = yaml.safe_load((out / "data.yaml").read_text())
    train, val, test = (_listed_images(out, data[k]) for k in ("train", "val", "test"))
    assert {Path(p).stem for p in train} == {"img2", "img3"}
    assert {Path(p).stem for p in val} == {"img0"} and {Path(p).stem for p in test} == {"img1"}
    for rel in train:
        assert (out / rel).is_file()
        assert (out / rel.replace("images/", "labels/", 1)).with_suffix(".txt").is_file()
    # and a later run whose input has a train split leaves no stale list behind
    (src / "ImageSets" / "Main" / "train.txt").write_text("img2\nimg3\n")
    assert api.run(CONVERT, src, out, workers=1, output_format="yolo", overwrite=True, **QUIET).exit_code == 0
    assert not (out / "train.txt").exists()

"""Are the datasets augcli writes what the trainers read? Each object is a solid colour patch; the
outputs are checked with the consumers' own rules (pycocotools' COCO and COCOeval, as Detectron2 and
MMDetection use them) and against where the colours are, never with augcli's own readers."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import yaml
from click.testing import CliRunner
from pycocotools import mask as mask_api
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from augcli.cli import main

W, H = 64, 48
RED, GREEN = (0, 0, 255), (0, 255, 0)  # BGR
TRIANGLE = [(4.0, 4.0), (30.0, 6.0), (8.0, 28.0)]  # pixels, class 0 (a polygon)
BOX = (40, 30, 56, 42)  # x1 y1 x2 y2, end exclusive, class 1 (a box only)
CONVERT = "version: 1\naugment_splits: all\npipeline: []\n"


def _run(tmp_path: Path, recipe: str, src: Path, out: Path, *args: str):
    path = tmp_path / f"{out.name}.yaml"
    path.write_text(recipe)
    return CliRunner().invoke(main, ["run", str(path), "-i", str(src), "-o", str(out), "-w", "1", "-q", *args])


def _quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def _coco_ap(path: Path, iou_type: str) -> float:
    """COCOeval of the file against itself (every annotation a detection with score 1): AP@[.5:.95]."""
    gt = _quiet(COCO, str(path))
    dets = [dict(a, score=1.0) for a in json.loads(path.read_text())["annotations"]]
    ev = COCOeval(gt, _quiet(gt.loadRes, dets), iou_type)
    _quiet(ev.evaluate)
    _quiet(ev.accumulate)
    _quiet(ev.summarize)
    return float(ev.stats[0])


def _yolo_mixed(root: Path) -> None:
    """images/train: a.png holds a polygon and a box, b.png only a box (a plain `cls cx cy w h` file)."""
    for split in ("train",):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    x1, y1, x2, y2 = BOX
    box_line = f"1 {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f}"
    for stem, with_polygon in (("a", True), ("b", False)):
        image = np.zeros((H, W, 3), np.uint8)
        image[y1:y2, x1:x2] = GREEN
        lines = [box_line]
        if with_polygon:
            cv2.fillPoly(image, [np.array(TRIANGLE, np.int32)], RED)
            lines.insert(0, "0 " + " ".join(f"{x / W:.6f} {y / H:.6f}" for x, y in TRIANGLE))
        assert cv2.imwrite(str(root / "images/train" / f"{stem}.png"), image)
        (root / "labels/train" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text("train: images/train\nval: images/train\nnames: [tri, box]\n")


def test_coco_from_mixed_polygons_and_boxes_gives_every_annotation_a_segmentation(tmp_path):
    """Detectron2 and MMDetection train masks from every annotation's `segmentation` (a missing one
    is a KeyError there) and COCOeval's segm cannot rasterise an annotation without one: so a dataset
    that holds polygons must give its box-only objects one too, their box, as its YOLO output does."""
    src, out = tmp_path / "src", tmp_path / "out"
    _yolo_mixed(src)
    result = _run(tmp_path, CONVERT, src, out, "--output-format", "coco")
    assert result.exit_code == 0, result.output
    path = out / "annotations/instances_train.json"
    data = json.loads(path.read_text())
    assert len(data["images"]) == 2 and len(data["annotations"]) == 3
    images = {im["id"]: im for im in data["images"]}
    for ann in data["annotations"]:
        assert "segmentation" in ann, ann
        im = images[ann["image_id"]]
        picture = cv2.imread(str(out / "images/train" / im["file_name"]), cv2.IMREAD_COLOR)
        colour = np.all(picture == (RED if ann["category_id"] == 1 else GREEN), axis=2)
        rle = mask_api.merge(mask_api.frPyObjects(ann["segmentation"], im["height"], im["width"]))
        drawn = mask_api.decode(rle).astype(bool)
        assert (drawn & colour).sum() / (drawn | colour).sum() > 0.85, ann
        assert abs(ann["area"] - float(mask_api.area(rle))) <= 0.1 * ann["area"], ann
    assert _coco_ap(path, "bbox") == 1.0
    assert _coco_ap(path, "segm") == 1.0


IMAGE_SUFFIXES = {".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"}


def _ultralytics_split_images(out: Path, data: dict, key: str) -> list[Path]:
    """The images Ultralytics reads for data.yaml's `key` (folders read recursively, .txt lists of
    paths relative to the list), resolved against `path` (the yaml's folder when absent)."""
    base = out / str(data.get("path") or ".")
    entries = data[key] if isinstance(data[key], list) else [data[key]]
    images = []
    for entry in entries:
        where = base / entry
        if where.is_dir():
            images += [p for p in where.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
        else:
            assert where.suffix == ".txt" and where.is_file(), (key, entry)
            images += [where.parent / ln.strip() for ln in where.read_text().splitlines() if ln.strip()]
    return images


def _ultralytics_label(image: Path) -> Path:
    """img2label_paths: the last /images/ becomes /labels/, the extension .txt."""
    head, sep, tail = str(image).rpartition("/images/")
    assert sep, image
    return Path(head + "/labels/" + tail.rpartition(".")[0] + ".txt")


def test_yolo_output_of_a_val_only_input_names_a_train_split(tmp_path):
    """Ultralytics' check_det_dataset refuses a data.yaml without `train` ('train' and 'val' are
    required); an input that holds only a val split (COCO's val2017 alone, a YOLO images/val/) must
    still be trainable: train names the images there are, and every listed image has its label twin."""
    src, out = tmp_path / "src", tmp_path / "out"
    _yolo_mixed(src)
    (src / "images/train").rename(src / "images/val")
    (src / "labels/train").rename(src / "labels/val")
    (src / "data.yaml").write_text("val: images/val\nnames: [tri, box]\n")
    result = _run(tmp_path, CONVERT, src, out)
    assert result.exit_code == 0, result.output
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["nc"] == len(data["names"]) == 2
    for key in ("train", "val"):
        images = _ultralytics_split_images(out, data, key)
        assert sorted(p.name for p in images) == ["a.png", "b.png"], key
        for image in images:
            label = _ultralytics_label(image)
            rows = [ln.split() for ln in label.read_text().splitlines() if ln.strip()]
            assert rows and all(0 <= int(r[0]) < data["nc"] for r in rows)
            assert all(0.0 <= float(v) <= 1.0 for r in rows for v in r[1:])
    # read back by augcli, the images stay val images: `train` naming their folder too makes it no
    # split's folder, and the folder name decides (they are not augmented as train images would be)
    again = tmp_path / "again"
    augment_train = "version: 1\nseed: 1\ncopies: 1\npipeline:\n  - {type: HorizontalFlip, p: 1}\n"
    result = _run(tmp_path, augment_train, out, again)
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(again).as_posix() for p in again.rglob("*.png")) == ["images/val/a.png",
                                                                                     "images/val/b.png"]

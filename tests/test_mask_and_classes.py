"""Mask format, conversion between formats, class renames/filters and splits."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import augcli
from augcli.cli import main
from augcli.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "augcli-manifest.jsonl").read_text().splitlines()]


def _mask_dataset(root: Path, n: int = 3) -> None:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        img = np.full((60, 80, 3), 100, np.uint8)
        mask = np.zeros((60, 80), np.uint8)
        img[10:30, 10:40] = (0, 0, 255)
        mask[10:30, 10:40] = 1
        cv2.circle(img, (60 - i, 40), 10, (0, 255, 0), -1)
        cv2.circle(mask, (60 - i, 40), 10, 2, -1)
        mask[0:3, :] = 255  # an "ignore" band
        cv2.imwrite(str(root / "images" / f"m{i}.png"), img)
        cv2.imwrite(str(root / "masks" / f"m{i}.png"), mask)
    (root / "classes.yaml").write_text("names: {0: background, 1: box, 2: disc}\n")


def test_mask_moves_with_pixels_nearest_only(tmp_path):
    _mask_dataset(tmp_path / "in")
    recipe = {"copies": 3, "pipeline": [{"type": "Rotate", "degrees": [-40, 40]}, {"type": "GaussianBlur", "sigma": 2.0},
                                        {"type": "BrightnessContrast"}]}
    report = augcli.run(recipe, tmp_path / "in", tmp_path / "out", workers=1)
    assert report.exit_code == 0 and report.input_format == "mask"
    for rec in _records(tmp_path / "out"):
        img = cv2.imread(str(tmp_path / "out" / rec["output"]))
        mask = cv2.imread(str(tmp_path / "out" / rec["label"]), cv2.IMREAD_UNCHANGED)
        assert mask.shape == img.shape[:2]
        assert set(np.unique(mask)) <= {0, 1, 2, 255}, "no interpolated in-between values"
        # the mask agrees with the pixels: where the image is clearly red the mask says class 1 (interior pixels)
        red = (img[..., 2] > 150) & (img[..., 1] < 80) & (img[..., 0] < 80)
        inner = cv2.erode(red.astype(np.uint8), np.ones((9, 9), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
        if inner.any():
            assert np.mean(mask[inner] == 1) > 0.98
        green = (img[..., 1] > 150) & (img[..., 2] < 80)
        inner = cv2.erode(green.astype(np.uint8), np.ones((9, 9), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
        if inner.any():
            assert np.mean(mask[inner] == 2) > 0.98
    names = yaml.safe_load((tmp_path / "out" / "classes.yaml").read_text())["names"]
    assert names == {0: "background", 1: "box", 2: "disc"}


def test_mask_to_yolo_to_mask_round_trip(tmp_path):
    _mask_dataset(tmp_path / "in")
    conv = {"pipeline": []}
    assert augcli.run(conv, tmp_path / "in", tmp_path / "yolo", output_format="yolo", workers=1).exit_code == 0
    data = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    assert data["names"] == {0: "box", 1: "disc"}
    assert augcli.run(conv, tmp_path / "yolo", tmp_path / "back", output_format="mask", workers=1).exit_code == 0
    for i in range(3):
        src = cv2.imread(str(tmp_path / "in" / "masks" / f"m{i}.png"), cv2.IMREAD_UNCHANGED)
        back = cv2.imread(str(tmp_path / "back" / "masks" / f"m{i}.png"), cv2.IMREAD_UNCHANGED)
        for value in (1, 2):
            a, b = src == value, back == value
            iou = (a & b).sum() / (a | b).sum()
            assert iou > 0.95, f"class {value}: IoU {iou:.3f} after mask -> polygons -> mask"
    assert yaml.safe_load((tmp_path / "back" / "classes.yaml").read_text())["names"] == {0: "background", 1: "box", 2: "disc"}


def test_yolo_seg_to_mask_and_back_keeps_polygons_within_a_pixel(tmp_path):
    conv = {"pipeline": []}
    src = ROOT / "sample_data" / "yolo-seg"
    augcli.run(conv, src, tmp_path / "mask", output_format="mask", workers=1)
    augcli.run(conv, tmp_path / "mask", tmp_path / "yolo", output_format="yolo", workers=1)
    for label in sorted((src / "labels").glob("*.txt")):
        img = cv2.imread(str(src / "images" / (label.stem + ".jpg")))
        h, w = img.shape[:2]
        orig = [np.array(line.split()[1:], float).reshape(-1, 2) * (w, h) for line in label.read_text().splitlines()]
        again = [np.array(line.split()[1:], float).reshape(-1, 2) * (w, h)
                 for line in (tmp_path / "yolo" / "labels" / label.name).read_text().splitlines()]
        boxes_a = sorted(tuple(np.round([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()], 1)) for p in orig)
        boxes_b = sorted(tuple(np.round([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()], 1)) for p in again)
        assert len(boxes_a) == len(boxes_b)
        for a, b in zip(boxes_a, boxes_b):
            assert np.max(np.abs(np.array(a) - np.array(b))) <= 1.0, (label.name, a, b)


def test_class_map_merges_and_drop_filters(tmp_path):
    src = ROOT / "sample_data" / "yolo"
    report = augcli.run({"pipeline": []}, src, tmp_path / "out", workers=1,
                        class_rename={"cup": "tableware", "coin": "tableware"}, drop_classes=["flag"])
    assert report.exit_code == 0
    names = yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())["names"]
    assert sorted(names.values()) == ["camera", "cat", "helmet", "person", "rocket", "tableware"]
    assert sorted(names) == list(range(6))
    tableware = [k for k, v in names.items() if v == "tableware"][0]
    coins = (tmp_path / "out" / "labels" / "val" / "coins.txt").read_text().splitlines()
    src_coins = (src / "labels" / "val" / "coins.txt").read_text().splitlines()
    assert len(coins) == len(src_coins) and all(line.split()[0] == str(tableware) for line in coins)
    astro = (tmp_path / "out" / "labels" / "train" / "astronaut.txt").read_text()
    assert len(astro.splitlines()) == len((src / "labels" / "train" / "astronaut.txt").read_text().splitlines()) - 1


def test_keep_class_and_unknown_class_name(tmp_path):
    src = ROOT / "sample_data" / "yolo"
    augcli.run({"pipeline": []}, src, tmp_path / "out", workers=1, keep_classes=["cat"])
    names = yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())["names"]
    assert names == {0: "cat"}
    for f in (tmp_path / "out" / "labels").rglob("*.txt"):
        assert all(line.split()[0] == "0" for line in f.read_text().splitlines())
    with pytest.raises(UsageError, match="unknown class name"):
        augcli.run({"pipeline": []}, src, tmp_path / "out2", keep_classes=["dragon"])


def test_splits_are_deterministic_grouped_and_proportional(tmp_path):
    src = tmp_path / "in"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    for i in range(60):
        cv2.imwrite(str(src / "images" / f"f{i:02d}.png"), np.full((8, 8, 3), i, np.uint8))
        (src / "labels" / f"f{i:02d}.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (src / "data.yaml").write_text("names: [thing]\n")
    recipe = {"copies": 2, "pipeline": [{"type": "HorizontalFlip"}], "augment_splits": "all"}
    splits = {"train": 0.75, "val": 0.25}
    augcli.run(recipe, src, tmp_path / "a", workers=1, splits=splits)
    augcli.run(recipe, src, tmp_path / "b", workers=2, splits=splits)
    recs = _records(tmp_path / "a")
    assert recs == _records(tmp_path / "b")
    by_source: dict[str, set] = {}
    for rec in recs:
        by_source.setdefault(rec["source"], set()).add(rec["output"].split("/")[1])
    assert all(len(s) == 1 for s in by_source.values()), "all copies of an image stay in one split"
    n_val = sum(s == {"val"} for s in by_source.values())
    assert 7 <= n_val <= 23, n_val  # 25% of 60 = 15, loosely
    data = yaml.safe_load((tmp_path / "a" / "data.yaml").read_text())
    assert data["train"] == "images/train" and data["val"] == "images/val"


def test_existing_splits_only_train_augmented_by_default(tmp_path):
    report = augcli.run(ROOT / "configs" / "basic.yaml", ROOT / "sample_data" / "yolo", tmp_path / "out", workers=1)
    assert report.exit_code == 0
    for rec in _records(tmp_path / "out"):
        if rec["split"] == "val":
            assert rec["copy"] == 0
    assert any(rec["copy"] > 0 for rec in _records(tmp_path / "out") if rec["split"] == "train")


def test_cli_conversion_and_bad_options(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["run", str(ROOT / "configs" / "convert.yaml"), "-i", str(ROOT / "sample_data" / "yolo"),
                               "-o", str(tmp_path / "m"), "--output-format", "mask", "-q"])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "m" / "masks").rglob("*.png"))) == 6
    res = runner.invoke(main, ["run", str(ROOT / "configs" / "convert.yaml"), "-i", str(ROOT / "sample_data" / "yolo"),
                               "-o", str(tmp_path / "x"), "--splits", "train=0.8,val=0.3"])
    assert res.exit_code == 2 and "add up to 1" in res.output
    res = runner.invoke(main, ["run", str(ROOT / "configs" / "convert.yaml"), "-i", str(ROOT / "sample_data" / "yolo"),
                               "-o", str(tmp_path / "y"), "--class-map", "cup"])
    assert res.exit_code == 2 and "old=new" in res.output
    res = runner.invoke(main, ["run", str(ROOT / "configs" / "convert.yaml"), "-i", str(ROOT / "sample_data" / "yolo"),
                               "-o", str(tmp_path / "z"), "--output-format", "tiff"])
    assert res.exit_code == 2 and "unknown format" in res.output


def test_mask_to_coco_to_mask_round_trip(tmp_path):
    """Masks become COCO polygons (one per region) and come back as the same class maps."""
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO

    _mask_dataset(tmp_path / "in")
    conv = {"pipeline": []}
    assert augcli.run(conv, tmp_path / "in", tmp_path / "coco", output_format="coco", workers=1).exit_code == 0
    api = COCO(str(next((tmp_path / "coco" / "annotations").glob("*.json"))))
    assert {c["name"] for c in api.loadCats(api.getCatIds())} == {"box", "disc"}
    assert len(api.getAnnIds()) == 3 * 2  # one region per class per image
    assert augcli.run(conv, tmp_path / "coco", tmp_path / "back", output_format="mask", workers=1).exit_code == 0
    for i in range(3):
        src = cv2.imread(str(tmp_path / "in" / "masks" / f"m{i}.png"), cv2.IMREAD_UNCHANGED)
        back = cv2.imread(str(next((tmp_path / "back" / "masks").rglob(f"m{i}.png"))), cv2.IMREAD_UNCHANGED)
        names_back = yaml.safe_load((tmp_path / "back" / "classes.yaml").read_text())["names"]
        for value, name in ((1, "box"), (2, "disc")):
            value_back = [k for k, v in names_back.items() if v == name][0]
            a, b = src == value, back == value_back
            assert (a & b).sum() / (a | b).sum() > 0.95, (i, name)


def _objects_in_label_files(out: Path, fmt: str) -> dict[str, int]:
    """Output image (relative path) -> objects its labels hold, read from the written files."""
    if fmt == "yolo":
        return {str(p.relative_to(out)).replace("labels/", "images/").replace(".txt", ".png"):
                len(p.read_text().splitlines()) for p in (out / "labels").rglob("*.txt")}
    if fmt == "voc":
        return {f"JPEGImages/{p.stem}.png": p.read_text().count("<object>") for p in (out / "Annotations").glob("*.xml")}
    coco = json.loads(next((out / "annotations").glob("*.json")).read_text())
    names = {im["id"]: im["file_name"] for im in coco["images"]}
    counts = dict.fromkeys(names.values(), 0)
    for a in coco["annotations"]:
        counts[names[a["image_id"]]] += 1
    return {f"images/{k}" if not k.startswith("images/") else k: v for k, v in counts.items()}


@pytest.mark.parametrize("fmt", ["yolo", "voc", "coco"])
def test_mask_dataset_written_as_objects_counts_the_regions_it_writes(tmp_path, fmt):
    """A mask dataset written to an object format gets one object per mask region. The records
    and the run's totals count those objects: written as the label files hold, in as the input
    mask's regions (they said 0 and 0)."""
    _mask_dataset(tmp_path / "in")
    recipe = {"copies": 2, "seed": 3, "pipeline": [{"type": "Rotate", "degrees": [-20, 20]}, {"type": "HorizontalFlip"}]}
    out = tmp_path / "out"
    report = augcli.run(recipe, tmp_path / "in", out, output_format=fmt, workers=1)
    assert report.exit_code == 0
    held = _objects_in_label_files(out, fmt)
    records = _records(out)
    assert len(records) == 9 and sum(held.values()) > 0
    for rec in records:
        image_rel = rec["output"] if fmt != "coco" else "images/" + Path(rec["output"]).name
        assert rec["objects"]["out"] == held[image_rel], rec
        source = cv2.imread(str(tmp_path / "in" / "masks" / Path(rec["source"]).name), cv2.IMREAD_UNCHANGED)
        regions = {v: cv2.connectedComponents((source == v).astype(np.uint8))[0] - 1 for v in (1, 2)}
        assert rec["objects"]["in"] == sum(regions.values())
        assert rec["classes_in"] == {"box": regions[1], "disc": regions[2]}
        assert sum(rec["classes"].values()) == rec["objects"]["out"]
    assert report.objects_out == sum(held.values())
    assert report.objects_in == sum({r["source"]: r["objects"]["in"] for r in records}.values()), "once per input"


def _ring_mask(h: int = 60, w: int = 80) -> np.ndarray:
    """A filled disc with a round hole, a square hole and, inside the square hole, an island."""
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, (40, 30), 26, 1, -1)
    cv2.circle(m, (30, 30), 7, 0, -1)
    m[22:38, 44:58] = 0
    m[27:33, 49:53] = 1  # an island in the square hole: a region of its own
    return m.astype(bool)


def test_mask_outlines_keep_holes_exactly():
    """Every pixel comes back: a region's polygon carries its holes (the other way round, joined by
    zero-width bridges), so an even-odd fill leaves them empty and its area is the region's."""
    from augcli.geometry import polygon_area
    from augcli.kernels.masks import mask_to_polygons, polygons_to_mask

    rng = np.random.default_rng(5)
    masks = [_ring_mask()]
    for _ in range(20):  # random blobs full of holes
        blob = cv2.GaussianBlur(rng.random((40, 50)), (0, 0), 2.0)
        masks.append(blob > np.quantile(blob, 0.45))
    for m in masks:
        polys = mask_to_polygons(m)
        assert np.array_equal(polygons_to_mask(polys, m.shape[1], m.shape[0]), m)
        assert sum(polygon_area(p) for p in polys) == pytest.approx(m.sum(), rel=1e-3)  # pinches: miters are capped
        filled = np.zeros(m.shape, np.uint8)  # as Ultralytics rasterises a YOLO segment
        cv2.fillPoly(filled, [np.round(p).astype(np.int32) for p in polys], 1)
        assert not filled[m == 0][cv2.erode((~m).astype(np.uint8), np.ones((3, 3)))[m == 0] > 0].any(), \
            "cv2.fillPoly leaves the inside of every hole empty"
    assert len(mask_to_polygons(masks[0])) == 2, "the disc (with its two holes) and the island"


def test_a_hole_in_a_mask_region_survives_a_conversion_to_polygons_and_back(tmp_path):
    """mask -> YOLO segments (augmented) -> mask: the hole is still a hole (it was filled)."""
    root = tmp_path / "in"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    ring = _ring_mask()
    image = np.full(ring.shape + (3,), 90, np.uint8)
    image[ring] = (0, 0, 255)
    cv2.imwrite(str(root / "images" / "ring.png"), image)
    cv2.imwrite(str(root / "masks" / "ring.png"), ring.astype(np.uint8))
    (root / "classes.yaml").write_text("names: {0: background, 1: ring}\n")
    recipe = {"copies": 1, "seed": 2, "pipeline": [{"type": "Rotate", "degrees": [-10, 10]}]}
    assert augcli.run(recipe, root, tmp_path / "yolo", output_format="yolo", workers=1).exit_code == 0
    assert augcli.run({"pipeline": []}, tmp_path / "yolo", tmp_path / "back", output_format="mask",
                      workers=1).exit_code == 0
    for out_image in (tmp_path / "back" / "images").glob("*.png"):
        pixels = cv2.imread(str(out_image))
        red = (pixels[..., 2] > 200) & (pixels[..., 1] < 60)  # the ring as drawn, moved with the image
        grey = (np.abs(pixels.astype(int) - 90) < 20).all(axis=2)  # background, the holes included
        labelled = cv2.imread(str(tmp_path / "back" / "masks" / out_image.name), cv2.IMREAD_UNCHANGED) == 1
        core = cv2.erode(red.astype(np.uint8), np.ones((3, 3))) > 0
        background = cv2.erode(grey.astype(np.uint8), np.ones((3, 3))) > 0
        assert labelled[core].mean() > 0.99, "the ring is labelled"
        assert labelled[background].mean() < 0.01, f"{out_image.name}: the holes are not labelled"

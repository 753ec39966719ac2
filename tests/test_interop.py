"""Outputs load in the readers users have (pycocotools, supervision), and format round trips
yolo -> coco -> voc -> yolo keep every box within a pixel and every class name."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

import augcli

ROOT = Path(__file__).resolve().parents[1]
CONVERT = {"pipeline": [], "augment_splits": "all"}


def _yolo_boxes(root: Path) -> dict[str, list[tuple[str, np.ndarray]]]:
    """{image stem: [(class name, x1 y1 x2 y2 pixels)]} read straight from YOLO files (no augcli code)."""
    names = yaml.safe_load((root / "data.yaml").read_text())["names"]
    if isinstance(names, list):
        names = dict(enumerate(names))
    out = {}
    for label in sorted((root / "labels").rglob("*.txt")):
        img_rel = label.relative_to(root / "labels").with_suffix("")
        image = next((root / "images" / img_rel.parent).glob(img_rel.name + ".*"))
        h, w = cv2.imread(str(image)).shape[:2]
        rows = []
        for line in label.read_text().splitlines():
            c, cx, cy, bw, bh = (float(v) for v in line.split()[:5])
            rows.append((names[int(c)], np.array([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h])))
        out[img_rel.name] = sorted(rows, key=lambda r: (r[0], *np.round(r[1], 1)))
    return out


def _generated(root: Path) -> None:
    rng = np.random.default_rng(5)
    names = ["car", "person", "traffic light"]
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(4):
            w, h = 160 + 16 * i, 120
            cv2.imwrite(str(root / "images" / split / f"{split}{i}.jpg"), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
            lines = []
            for _ in range(3):
                x1, y1 = rng.uniform(0, w - 30), rng.uniform(0, h - 30)
                bw, bh = rng.uniform(5, 30), rng.uniform(5, 30)
                lines.append(f"{rng.integers(0, 3)} {(x1 + bw / 2) / w:.6f} {(y1 + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}")
            (root / "labels" / split / f"{split}{i}.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text(yaml.safe_dump({"train": "images/train", "val": "images/val", "names": names}))


def test_yolo_coco_voc_yolo_round_trip_within_a_pixel(tmp_path):
    _generated(tmp_path / "src")
    steps = [("src", "coco"), ("coco", "voc"), ("voc", "yolo")]
    for src, fmt in steps:
        report = augcli.run(CONVERT, tmp_path / src, tmp_path / fmt, output_format=fmt, workers=1, log=lambda line: None)
        assert report.exit_code == 0, report.skipped
    before, after = _yolo_boxes(tmp_path / "src"), _yolo_boxes(tmp_path / "yolo")
    assert before.keys() == after.keys()
    for stem in before:
        assert [n for n, _ in before[stem]] == [n for n, _ in after[stem]], stem
        for (_, a), (_, b) in zip(before[stem], after[stem]):
            assert np.max(np.abs(a - b)) <= 1.0, (stem, a, b)
    names = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())["names"]
    assert sorted(names.values()) == ["car", "person", "traffic light"]


def test_coco_output_loads_in_pycocotools(tmp_path):
    coco_api = pytest.importorskip("pycocotools.coco")
    report = augcli.run(ROOT / "configs" / "basic.yaml", ROOT / "sample_data" / "yolo", tmp_path / "out",
                        output_format="coco", workers=1)
    assert report.exit_code == 0
    manifest = [json.loads(line) for line in (tmp_path / "out" / "augcli-manifest.jsonl").read_text().splitlines()]
    for split in ("train", "val"):
        api = coco_api.COCO(str(tmp_path / "out" / "annotations" / f"instances_{split}.json"))
        recs = [r for r in manifest if r.get("split") == split]
        assert len(api.getImgIds()) == len(recs)
        assert len(api.getAnnIds()) == sum(r["objects"]["out"] for r in recs)
        assert {c["name"] for c in api.loadCats(api.getCatIds())} == {"person", "cat", "cup", "rocket", "coin", "flag",
                                                                      "helmet", "camera"}
        for img in api.loadImgs(api.getImgIds()):
            assert (tmp_path / "out" / "images" / split / img["file_name"]).is_file() or \
                   (tmp_path / "out" / "images" / img["file_name"]).is_file()


@pytest.mark.parametrize("fmt", ["yolo", "coco", "voc"])
def test_outputs_load_in_supervision(tmp_path, fmt):
    sv = pytest.importorskip("supervision")
    out = tmp_path / fmt
    report = augcli.run(ROOT / "configs" / "basic.yaml", ROOT / "sample_data" / "yolo", out, output_format=fmt,
                        workers=1, log=lambda line: None)
    assert report.exit_code == 0
    manifest = [json.loads(line) for line in (out / "augcli-manifest.jsonl").read_text().splitlines()]
    expected = {Path(r["output"]).name: r["objects"]["out"] for r in manifest if r.get("split") == "train"}
    if fmt == "yolo":
        ds = sv.DetectionDataset.from_yolo(str(out / "images" / "train"), str(out / "labels" / "train"), str(out / "data.yaml"))
    elif fmt == "coco":
        ds = sv.DetectionDataset.from_coco(str(out / "images" / "train"), str(out / "annotations" / "instances_train.json"))
    else:
        train = set((out / "ImageSets" / "Main" / "train.txt").read_text().split())
        ds = sv.DetectionDataset.from_pascal_voc(str(out / "JPEGImages"), str(out / "Annotations"))
        expected = {k: v for k, v in expected.items() if Path(k).stem in train}
    assert expected, "the comparison must not be vacuous"
    got = {Path(path).name: len(det) for path, _, det in ds}
    if fmt == "voc":
        got = {k: v for k, v in got.items() if k in expected}
    assert got == expected
    assert set(ds.classes) >= {"person", "cat", "cup"}

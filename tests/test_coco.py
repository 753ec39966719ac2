"""COCO format at the edge: RLE against pycocotools, scanning and loading (pixels, ids, keypoint
layout), writing back (round trip, pycocotools loads it), an augmenting run checked against the
pixels, and hostile inputs (paths leaving the root, missing files, broken JSON)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

from augcli import geometry as g
import pytest

import augcli.formats
from augcli import api
from augcli.errors import InputError, UsageError
from augcli.formats import coco
from augcli.formats.base import Item
from augcli.imageio import TMP_MARK
from augcli.kernels.masks import polygons_to_mask
from augcli.sample import LabelSchema, Objects, Sample

W, H = 160, 120  # generated images, pixels
CATEGORIES = [
    {"id": 3, "name": "cat", "supercategory": "animal"},
    {"id": 7, "name": "dog", "supercategory": "animal"},
    {"id": 12, "name": "person", "supercategory": "person",
     "keypoints": ["nose", "left_eye", "right_eye"], "skeleton": [[1, 2], [1, 3], [2, 3]]},
]
QUIET = {"log": lambda line: None}


@pytest.fixture
def coco_format(monkeypatch):
    monkeypatch.setitem(augcli.formats.FORMATS, "coco", "augcli.formats.coco")


def _png(path: Path, size=(W, H), seed: int = 0, image: np.ndarray | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if image is None:
        image = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), image)


def _json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _rect_mask(x1, y1, x2, y2, size=(W, H)) -> np.ndarray:
    m = np.zeros((size[1], size[0]), np.uint8)
    m[y1:y2, x1:x2] = 1
    return m


def _rich_dataset(root: Path) -> dict:
    """train: sub/a.png (polygon, box, keypoints), b.png (two RLE forms, a crowd), c.png (no labels);
    val: d.png (one box). Category ids 3, 7, 12 (person with keypoints)."""
    rle_b = coco.rle_encode(_rect_mask(20, 5, 50, 15))
    rle_b2 = coco.rle_encode(_rect_mask(60, 70, 100, 110), compressed=False)
    train = {
        "info": {"year": 2024},
        "images": [
            {"id": 10, "file_name": "sub/a.png", "width": W, "height": H},
            {"id": 11, "file_name": "b.png", "width": W, "height": H},
            {"id": 12, "file_name": "c.png", "width": W, "height": H},
        ],
        "annotations": [
            {"id": 101, "image_id": 10, "category_id": 3, "bbox": [10, 20, 30, 40], "area": 1200, "iscrowd": 0,
             "segmentation": [[10, 20, 40, 20, 40, 60, 10, 60]]},
            {"id": 102, "image_id": 10, "category_id": 7, "bbox": [50.5, 10.25, 20, 15], "area": 300, "iscrowd": 0},
            {"id": 103, "image_id": 10, "category_id": 12, "bbox": [80, 30, 40, 60], "area": 2400, "iscrowd": 0,
             "segmentation": [], "keypoints": [100, 40, 2, 110, 45, 1, 0, 0, 0], "num_keypoints": 2},
            {"id": 104, "image_id": 11, "category_id": 7, "bbox": [20, 5, 30, 10], "area": 300, "iscrowd": 1,
             "segmentation": rle_b},
            {"id": 105, "image_id": 11, "category_id": 3, "bbox": [60, 70, 40, 40], "area": 1600, "iscrowd": 0,
             "segmentation": rle_b2},
        ],
        "categories": CATEGORIES,
    }
    val = {
        "images": [{"id": 1, "file_name": "d.png", "width": W, "height": H}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0}],
        "categories": CATEGORIES,
    }
    _json(root / "annotations/instances_train.json", train)
    _json(root / "annotations/instances_val.json", val)
    for i, name in enumerate(["train/sub/a.png", "train/b.png", "train/c.png", "val/d.png"]):
        _png(root / "images" / name, seed=i)
    return {"train": train, "val": val}


def _loaded(dataset, key):
    item = next(it for it in dataset.items if it.key == key)
    return coco.load(item, dataset.schema, 10**8)


def _xyxy(bbox):
    x, y, w, h = bbox
    return [x, y, x + w, y + h]


# ---------------------------------------------------------------- RLE
def _random_masks():
    rng = np.random.default_rng(1)
    for t in range(60):
        h, w = (int(v) for v in rng.integers(1, 90, 2))
        kind = t % 4
        if kind == 0:
            m = rng.random((h, w)) < rng.random()
        elif kind == 1:  # a few big blobs: long runs, counts far apart (multi-group and negative deltas)
            m = np.zeros((h, w), bool)
            for _ in range(3):
                y, x = rng.integers(0, h), rng.integers(0, w)
                m[y:y + rng.integers(1, h + 1), x:x + rng.integers(1, w + 1)] = True
        elif kind == 2:
            m = np.full((h, w), bool(t % 8 == 2))
        else:
            m = np.zeros((h, w), bool)
            m[rng.integers(0, h), rng.integers(0, w)] = True
        yield m
    yield np.ones((400, 700), bool)  # one run longer than 2^16
    big = np.zeros((300, 500), bool)
    big[10:290, 7:480] = True
    big[100:120, 100:300] = False
    yield big


def test_rle_encode_decode_match_pycocotools():
    mask_api = pytest.importorskip("pycocotools.mask")
    for m in _random_masks():
        ref = mask_api.encode(np.asfortranarray(m.astype(np.uint8)))
        mine = coco.rle_encode(m)
        assert mine["size"] == list(ref["size"])
        assert mine["counts"] == ref["counts"].decode("ascii")
        assert np.array_equal(coco.rle_decode({"size": ref["size"], "counts": ref["counts"].decode()}), m)
        assert np.array_equal(coco.rle_decode(mine), mask_api.decode(ref).astype(bool))
        unc = coco.rle_encode(m, compressed=False)
        assert np.array_equal(coco.rle_decode(unc), m)
        # pycocotools' own reading of the uncompressed form agrees with ours
        assert mask_api.frPyObjects(unc, *unc["size"])["counts"] == ref["counts"]
        assert coco.rle_counts_from_string(mine["counts"]) == unc["counts"]


@pytest.mark.parametrize("rle,message", [
    ({"size": [2, 2], "counts": [1, 2]}, "add up to 3"),
    ({"size": [2, 2], "counts": [1, -1, 4]}, "negative"),
    ({"size": [2], "counts": [4]}, "size"),
    ({"size": [2, 2], "counts": "4" + chr(0x20 + 48)}, "ends in the middle"),
    ({"size": [2, 2], "counts": " "}, "cannot occur"),
    ({"size": [2, 2], "counts": [1.5, 2.5]}, "whole numbers"),
])
def test_rle_decode_refuses_malformed(rle, message):
    with pytest.raises(ValueError, match=message):
        coco.rle_decode(rle)


def test_flip_index_pairs_left_and_right():
    assert coco.flip_index(("nose", "left_eye", "right_eye", "Left_Ear", "Right_Ear", "tail")) == (0, 2, 1, 4, 3, 5)
    assert coco.flip_index(("left_hand", "right_hand", "left_foot")) == (1, 0, 2)  # no right_foot: stays


# ---------------------------------------------------------------- scan and load
def test_detect(tmp_path):
    root = tmp_path / "ds"
    assert coco.detect(root) == 0.0
    root.mkdir()
    assert coco.detect(root) == 0.0
    (root / "annotations").mkdir()
    (root / "annotations" / "notes.json").write_text("[1, 2]")
    assert coco.detect(root) == 0.0
    (root / "annotations" / "instances_train.json").write_text('\ufeff  {"images": []}')
    assert coco.detect(root) == 0.9
    rf = tmp_path / "rf"
    _json(rf / "train" / "_annotations.coco.json", {"images": [], "annotations": []})
    assert coco.detect(rf) == 0.9


def test_scan_schema_and_items(tmp_path):
    _rich_dataset(tmp_path)
    ds = coco.scan(tmp_path)
    assert ds.notes == []
    s = ds.schema
    assert s.names == {3: "cat", 7: "dog", 12: "person"}
    assert s.zero_based_ids is False
    assert s.kpt_shape == (3, 3)
    assert s.keypoint_names == ("nose", "left_eye", "right_eye")
    assert s.flip_idx == (0, 2, 1)
    assert s.skeleton == ((0, 1), (0, 2), (1, 2))
    assert [(it.key, it.split) for it in ds.items] == [
        ("images/train/b.png", "train"), ("images/train/c.png", "train"),
        ("images/train/sub/a.png", "train"), ("images/val/d.png", "val")]
    assert all(Path(it.image).is_file() for it in ds.items)


def test_load_boxes_polygons_keypoints_in_pixels(tmp_path):
    data = _rich_dataset(tmp_path)
    ds = coco.scan(tmp_path)
    loaded = _loaded(ds, "images/train/sub/a.png")
    assert loaded.warnings == []
    obj = loaded.sample.objects
    anns = [a for a in data["train"]["annotations"] if a["image_id"] == 10]
    assert obj.classes.tolist() == [3, 7, 12]
    assert obj.boxes.tolist() == [_xyxy(a["bbox"]) for a in anns]
    assert obj.polygons[0].tolist() == [[10, 20], [40, 20], [40, 60], [10, 60]]
    assert obj.polygons[1] is None and obj.polygons[2] is None
    assert obj.keypoints.shape == (3, 3, 3)
    assert obj.keypoints[2].tolist() == [[100, 40, 2], [110, 45, 1], [0, 0, 0]]
    assert obj.keypoints[0].tolist() == [[0, 0, 0]] * 3  # a cat: no keypoints
    assert [a["coco_id"] for a in obj.attrs] == [101, 102, 103]
    assert [a["iscrowd"] for a in obj.attrs] == [0, 0, 0]
    assert loaded.sample.image.shape == (H, W, 3)
    assert loaded.data == (tmp_path / "images/train/sub/a.png").read_bytes()


def test_load_rle_both_forms(tmp_path):
    _rich_dataset(tmp_path)
    ds = coco.scan(tmp_path)
    obj = _loaded(ds, "images/train/b.png").sample.objects
    assert obj.classes.tolist() == [7, 3]
    assert obj.boxes.tolist() == [[20, 5, 50, 15], [60, 70, 100, 110]]
    assert [a["iscrowd"] for a in obj.attrs] == [1, 0]
    for poly, rect in zip(obj.polygons, [(20, 5, 50, 15), (60, 70, 100, 110)]):
        assert np.array_equal(polygons_to_mask([poly], W, H), _rect_mask(*rect).astype(bool))
    empty = _loaded(ds, "images/train/c.png").sample.objects
    assert len(empty) == 0 and empty.keypoints.shape == (0, 3, 3)


def test_split_names_from_standard_coco_and_roboflow(tmp_path):
    std = tmp_path / "std"
    for split in ("train2017", "val2017"):
        _json(std / f"annotations/instances_{split}.json",
              {"images": [{"id": 1, "file_name": "000001.png"}], "annotations": [], "categories": [{"id": 1, "name": "a"}]})
        _png(std / split / "000001.png")
    _json(std / "annotations/captions_train2017.json", {"images": [], "annotations": []})
    ds = coco.scan(std)
    assert [(it.key, it.split) for it in ds.items] == [("train2017/000001.png", "train"), ("val2017/000001.png", "val")]
    assert any("captions_train2017.json" in n for n in ds.notes)

    rf = tmp_path / "rf"
    for folder in ("train", "valid"):
        _json(rf / folder / "_annotations.coco.json",
              {"images": [{"id": 0, "file_name": "x.jpg"}], "annotations": [],
               "categories": [{"id": 0, "name": "objects"}, {"id": 1, "name": "a"}]})
        _png(rf / folder / "x.jpg")
    ds = coco.scan(rf)
    assert [(it.key, it.split) for it in ds.items] == [("train/x.jpg", "train"), ("valid/x.jpg", "val")]
    assert ds.schema.names == {0: "objects", 1: "a"}


def test_two_files_for_one_split_read_the_instances_one(tmp_path):
    img = {"images": [{"id": 1, "file_name": "a.png"}], "annotations": []}
    _json(tmp_path / "annotations/instances_train.json", {**img, "categories": [{"id": 1, "name": "person"}]})
    _json(tmp_path / "annotations/person_keypoints_train.json",
          {**img, "categories": [{"id": 1, "name": "person", "keypoints": ["a"]}]})
    _png(tmp_path / "images/train/a.png")
    ds = coco.scan(tmp_path)
    assert [it.key for it in ds.items] == ["images/train/a.png"]
    assert ds.schema.kpt_shape is None
    assert any("person_keypoints_train.json: not read" in n for n in ds.notes)


def _one_image(tmp_path: Path, anns: list[dict], image=None, record=None) -> tuple:
    rec = {"id": 1, "file_name": "a.png", "width": W, "height": H, **(record or {})}
    _json(tmp_path / "annotations/instances_train.json",
          {"images": [rec], "annotations": [{"image_id": 1, **a} for a in anns], "categories": CATEGORIES[:2]})
    _png(tmp_path / "images/train/a.png", image=image)
    ds = coco.scan(tmp_path)
    return ds, ds.items[0]


@pytest.mark.parametrize("ann,message", [
    ({"bbox": [1, 2, float("nan"), 4]}, "not a finite number"),
    ({"bbox": [1, 2, float("inf"), 4]}, "not a finite number"),
    ({"bbox": [1, 2, -3, 4]}, "must not be negative"),
    ({"bbox": [1, 2, 3]}, "bbox must be"),
    ({"bbox": "1 2 3 4"}, "bbox must be a list"),
    ({"bbox": [1, 2, 3, 4], "category_id": 5}, "category_id 5 is not in the categories"),
    ({"bbox": [1, 2, 3, 4], "category_id": "cat"}, "not a whole number"),
    ({"bbox": [1, 2, 3, 4], "iscrowd": 2}, "iscrowd"),
    ({"segmentation": [[1, 2, 3, 4, 5]]}, "odd number"),
    ({"segmentation": {"size": [H, W], "counts": [5]}}, "RLE"),
    ({"segmentation": 7}, "list of polygons or an RLE"),
    ({}, "neither a bbox nor a segmentation"),
])
def test_bad_annotation_is_an_input_error_naming_json_and_id(tmp_path, ann, message):
    ds, item = _one_image(tmp_path, [{"id": 77, "category_id": 3, **ann}])
    with pytest.raises(InputError) as info:
        coco.load(item, ds.schema, 10**8)
    assert info.value.reason == "bad-label"
    assert info.value.path == "annotations/instances_train.json"
    assert "annotation 77" in str(info.value) and message in str(info.value)


def test_bad_keypoints_are_input_errors(tmp_path):
    schema = LabelSchema({12: "person"}, (3, 3), (0, 2, 1), zero_based_ids=False)
    for kp, message in [([1, 2, 2], "must hold 9 numbers"), ([1, 2, 3] * 3, "visibility")]:
        with pytest.raises(InputError, match=message):
            coco.annotations_to_objects([{"id": 5, "category_id": 12, "bbox": [0, 0, 5, 5], "keypoints": kp}],
                                        schema, (W, H), "x.json")


def test_size_mismatch_multi_part_polygon_and_clipping_warn(tmp_path):
    ds, item = _one_image(tmp_path, [
        {"id": 1, "category_id": 3, "bbox": [0, 0, 50, 50],
         "segmentation": [[0, 0, 10, 0, 10, 10], [20, 20, 50, 20, 50, 50, 20, 50]]},
        {"id": 2, "category_id": 7, "bbox": [150, 100, 20, 30]},
    ], record={"width": 640, "height": 480})
    loaded = coco.load(item, ds.schema, 10**8)
    text = "\n".join(loaded.warnings)
    assert "640x480" in text and f"{W}x{H}" in text
    assert "annotation 2 " in text and "clipped" in text
    obj = loaded.sample.objects
    # both parts are kept as one polygon: its area is the sum of the parts' areas, its extent covers both
    assert abs(g.polygon_area(obj.polygons[0]) - (50 + 900)) < 1e-9
    assert g.tight_box(obj.polygons[0]).tolist() == [0, 0, 50, 50]
    assert obj.boxes.tolist() == [[0, 0, 50, 50], [150, 100, W, H]]


# ---------------------------------------------------------------- writing
def test_round_trip_with_an_empty_pipeline(tmp_path, coco_format):
    coco_api = pytest.importorskip("pycocotools.coco")
    src, out = tmp_path / "in", tmp_path / "out"
    data = _rich_dataset(src)
    report = api.run({"pipeline": []}, src, out, workers=1, input_format="coco", output_format="coco", **QUIET)
    assert report.exit_code == 0 and report.outputs == 4
    for split, n_images in (("train", 3), ("val", 1)):
        path = out / f"annotations/instances_{split}.json"
        written = json.loads(path.read_text())
        src_json = data[split]
        assert [c["id"] for c in written["categories"]] == [3, 7, 12]
        assert [c["name"] for c in written["categories"]] == ["cat", "dog", "person"]
        assert written["categories"][2]["skeleton"] == [[1, 2], [1, 3], [2, 3]]
        assert written["categories"][2]["keypoints"] == ["nose", "left_eye", "right_eye"]
        assert [im["id"] for im in written["images"]] == list(range(1, n_images + 1))
        assert [a["id"] for a in written["annotations"]] == list(range(1, len(src_json["annotations"]) + 1))
        for im in written["images"]:
            assert (out / "images" / split / im["file_name"]).is_file()
            assert (im["width"], im["height"]) == (W, H)
        # annotations come back in input order, image by image (images sorted by path)
        src_images = {im["id"]: im["file_name"] for im in src_json["images"]}
        out_images = {im["id"]: im["file_name"] for im in written["images"]}
        by_name = {}
        for a in src_json["annotations"]:
            by_name.setdefault(src_images[a["image_id"]], []).append(a)
        expected = [a for name in sorted(by_name, key=lambda n: f"images/{split}/{n}") for a in by_name[name]]
        assert len(written["annotations"]) == len(expected)
        for got, want in zip(written["annotations"], expected):
            assert out_images[got["image_id"]] == src_images[want["image_id"]]
            assert got["category_id"] == want["category_id"]
            assert got["bbox"] == pytest.approx(want["bbox"], abs=0.01)
            assert got["iscrowd"] == want["iscrowd"]
            if "segmentation" in got:
                (flat,) = got["segmentation"]
                pts = np.array(flat).reshape(-1, 2)
                x, y = pts[:, 0], pts[:, 1]
                shoelace = abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2
                assert got["area"] == pytest.approx(shoelace, abs=0.01)
            else:
                assert got["area"] == pytest.approx(want["bbox"][2] * want["bbox"][3], abs=0.01)
            assert got["keypoints"] == pytest.approx(want.get("keypoints", [0] * 9))
            assert got["num_keypoints"] == sum(v > 0 for v in got["keypoints"][2::3])
        api_coco = coco_api.COCO(str(path))
        assert len(api_coco.getAnnIds()) == len(src_json["annotations"])
        assert len(api_coco.getImgIds()) == n_images
        for ann in api_coco.loadAnns(api_coco.getAnnIds()):
            if "segmentation" in ann:
                assert api_coco.annToMask(ann).sum() > 0
    # the RLE objects come back as polygons covering the same pixels
    rle_polys = [a for a in json.loads((out / "annotations/instances_train.json").read_text())["annotations"]
                 if a["category_id"] in (3, 7) and a["iscrowd"] == 1]
    assert len(rle_polys) == 1 and "segmentation" in rle_polys[0]
    # the output reads back as the same objects
    again = coco.scan(out)
    assert again.notes == [] and again.schema == coco.scan(src).schema
    for key in ("images/train/sub/a.png", "images/train/b.png"):
        a, b = _loaded(coco.scan(src), key).sample.objects, _loaded(again, key).sample.objects
        assert np.allclose(a.boxes, b.boxes, atol=0.01) and a.classes.tolist() == b.classes.tolist()
    assert not list(out.rglob(f"*{TMP_MARK}"))


def test_output_is_identical_with_one_or_two_workers(tmp_path, coco_format):
    src = tmp_path / "in"
    _rich_dataset(src)
    recipe = {"seed": 3, "copies": 2, "pipeline": [{"type": "Rotate", "degrees": [-20, 20]}]}
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        api.run(recipe, src, out, workers=workers, input_format="coco", output_format="coco", **QUIET)
        outs.append({p: (out / p).read_bytes() for p in ("annotations/instances_train.json",
                                                          "annotations/instances_val.json")})
    assert outs[0] == outs[1]
    written = json.loads(outs[0]["annotations/instances_train.json"])
    assert [im["file_name"] for im in written["images"]] == [
        "b.png", "b_aug1.png", "b_aug2.png", "c.png", "c_aug1.png", "c_aug2.png",
        "sub/a.png", "sub/a_aug1.png", "sub/a_aug2.png"]


def test_writer_zero_based_schema_and_mask_samples(tmp_path):
    schema = LabelSchema({0: "cat", 1: "dog"})  # 0-based ids, as YOLO reads them
    writer = coco.Writer(tmp_path, schema)
    item = Item(key="images/val/x/a.jpg", root="unused", split="valid")
    objects = Objects([1, 0], [[1, 2, 11, 22], [0, 0, 4, 4]], [None, np.array([[0, 0], [4, 0], [0, 4.0]])])
    written = writer.write(item, "_aug3", ".png", b"png bytes", Sample(np.zeros((30, 40, 3), np.uint8), objects, schema))
    assert written.paths == {"image": "images/val/x/a_aug3.png"}
    assert (tmp_path / "images/val/x/a_aug3.png").read_bytes() == b"png bytes"
    p = written.payload
    assert (p["file_name"], p["width"], p["height"]) == ("x/a_aug3.png", 40, 30)
    assert [a["category_id"] for a in p["annotations"]] == [2, 1]
    assert p["annotations"][0] == {"category_id": 2, "bbox": [1.0, 2.0, 10.0, 20.0], "area": 200.0, "iscrowd": 0}
    assert p["annotations"][1]["segmentation"] == [[0.0, 0.0, 4.0, 0.0, 0.0, 4.0]]
    assert p["annotations"][1]["area"] == 8.0

    mask = np.zeros((30, 40), np.uint8)
    mask[2:8, 3:9] = 4
    mask[20:25, 20:30] = 4
    mask[10:12, 30:35] = 2
    mask_schema = LabelSchema({2: "road", 4: "car"}, zero_based_ids=False)
    mw = coco.Writer(tmp_path / "m", mask_schema)
    got = mw.write(Item(key="images/a.png", root="unused"), "", ".png", b"x",
                   Sample(np.zeros((30, 40, 3), np.uint8), Objects.empty(), mask_schema, mask)).payload
    assert sorted(a["category_id"] for a in got["annotations"]) == [2, 4, 4]
    assert all("segmentation" in a for a in got["annotations"])
    mw.finalize([{"image": "images/a.png", "split": None, "payload": got}])
    written = json.loads((tmp_path / "m/annotations/instances.json").read_text())
    assert written["categories"] == [{"id": 2, "name": "road"}, {"id": 4, "name": "car"}]

    writer.finalize([{"image": written_path, "split": "valid", "payload": p}
                     for written_path in ("images/val/x/a_aug3.png",)])
    out = json.loads((tmp_path / "annotations/instances_val.json").read_text())
    assert out["categories"] == [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
    assert [a["id"] for a in out["annotations"]] == [1, 2] and out["annotations"][0]["image_id"] == 1


# ---------------------------------------------------------------- oracle: a flip moves labels where the pixels went
PALETTE = {3: (0, 0, 255), 7: (0, 255, 0), 12: (255, 0, 0)}
DOT_COLOURS = [(0, 255, 255), (255, 0, 255), (255, 255, 0)]  # nose, left_eye, right_eye
DOT = 5
TOL = 40


def _raster(pts: np.ndarray, w: int, h: int, sub: int = 8) -> np.ndarray:
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [np.round((np.asarray(pts) - 0.5) * sub).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=3)
    return canvas.astype(bool)


def _core(img, colour) -> np.ndarray:
    return np.all(np.abs(img.astype(np.int16) - np.array(colour, np.int16)) <= TOL, axis=2)


def _pixel_box(mask):
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


def _oracle_dataset(root: Path) -> None:
    images, anns = [], []
    for n, dx in enumerate([0, 17]):
        img = np.full((H, W, 3), 128, np.uint8)
        x1, y1, x2, y2 = 10 + dx, 15, 45 + dx, 50  # a dog box
        img[y1:y2, x1:x2] = PALETTE[7]
        anns.append({"id": len(anns) + 1, "image_id": n + 1, "category_id": 7, "bbox": [x1, y1, x2 - x1, y2 - y1]})
        tri = np.array([[60 + dx, 70], [110 + dx, 80], [75 + dx, 115]], np.float64)  # a cat triangle
        img[_raster(tri, W, H)] = PALETTE[3]
        ys, xs = np.nonzero(_raster(tri, W, H))
        anns.append({"id": len(anns) + 1, "image_id": n + 1, "category_id": 3,
                     "bbox": [float(xs.min()), float(ys.min()), float(xs.max() + 1 - xs.min()), float(ys.max() + 1 - ys.min())],
                     "segmentation": [tri.ravel().tolist()]})
        px1, py1, px2, py2 = 100 + dx // 2, 10, 140 + dx // 2, 60  # a person, eyes: person's left = image right
        img[py1:py2, px1:px2] = PALETTE[12]
        kps = []
        for j, (kx, ky) in enumerate([(118, 20), (128, 30), (108, 30)]):
            kx += dx // 2
            img[ky:ky + DOT, kx:kx + DOT] = DOT_COLOURS[j]
            kps += [kx + DOT / 2, ky + DOT / 2, 2]
        anns.append({"id": len(anns) + 1, "image_id": n + 1, "category_id": 12, "bbox": [px1, py1, px2 - px1, py2 - py1],
                     "keypoints": kps, "num_keypoints": 3})
        _png(root / "images" / f"scene{n}.png", image=img)
        images.append({"id": n + 1, "file_name": f"scene{n}.png", "width": W, "height": H})
    _json(root / "annotations/instances.json", {"images": images, "annotations": anns, "categories": CATEGORIES})


def test_horizontal_flip_labels_follow_the_pixels(tmp_path, coco_format):
    src, out = tmp_path / "in", tmp_path / "out"
    _oracle_dataset(src)
    report = api.run({"seed": 1, "copies": 1, "pipeline": [{"type": "HorizontalFlip", "p": 1}],
                      "labels": {"min_visibility": 0.0, "min_area": 1}},
                     src, out, workers=1, input_format="coco", output_format="coco", **QUIET)
    assert report.exit_code == 0
    written = json.loads((out / "annotations/instances.json").read_text())
    source = json.loads((src / "annotations/instances.json").read_text())
    src_anns = {(im["file_name"], a["category_id"]): a for im in source["images"]
                for a in source["annotations"] if a["image_id"] == im["id"]}
    images = {im["id"]: im for im in written["images"]}
    assert len(images) == 4
    checked = 0
    for ann in written["annotations"]:
        im = images[ann["image_id"]]
        flipped = "_aug1" in im["file_name"]
        img = cv2.imread(str(out / "images" / im["file_name"]))
        colour_box = _pixel_box(_core(img, PALETTE[ann["category_id"]]))
        x, y, w, h = ann["bbox"]
        label = np.array([x, y, x + w, y + h])
        assert np.all(np.abs(label - colour_box) <= 1.0), (im["file_name"], ann["category_id"], label, colour_box)
        src_ann = src_anns[(im["file_name"].replace("_aug1", ""), ann["category_id"])]
        sx, sy, sw, sh = src_ann["bbox"]
        if flipped and "segmentation" in src_ann:  # a moved polygon's box is the polygon's own extent
            pts = np.array(src_ann["segmentation"][0]).reshape(-1, 2)
            sx, sy = pts.min(axis=0)
            sw, sh = pts.max(axis=0) - (sx, sy)
        expect = [W - sx - sw, sy, sw, sh] if flipped else [sx, sy, sw, sh]
        assert ann["bbox"] == pytest.approx(expect, abs=0.01)
        if "segmentation" in ann:
            label_mask = _raster(np.array(ann["segmentation"][0]).reshape(-1, 2), W, H)
            colour = _core(img, PALETTE[ann["category_id"]])
            assert (label_mask & colour).sum() / (label_mask | colour).sum() > 0.9
        if ann["category_id"] == 12:
            kps = np.array(ann["keypoints"]).reshape(3, 3)
            for j in range(3):  # after a mirror the dot drawn as keypoint j is labelled flip_idx[j]
                slot = (0, 2, 1)[j] if flipped else j
                ys, xs = np.nonzero(_core(img, DOT_COLOURS[j]))
                centre = np.array([xs.mean() + 0.5, ys.mean() + 0.5])
                assert np.hypot(*(centre - kps[slot, :2])) < 1.0 and kps[slot, 2] == 2
        checked += 1
    assert checked == 4 * 3


# ---------------------------------------------------------------- hostile inputs
_WATCH: list | None = None


def _audit(event, args):
    if _WATCH is not None and event == "open" and args and isinstance(args[0], (str, bytes, Path)):
        _WATCH.append(str(args[0] if not isinstance(args[0], bytes) else args[0].decode(errors="replace")))


sys.addaudithook(_audit)


def test_hostile_paths_are_skipped_without_reading_outside(tmp_path):
    global _WATCH
    root, outside = tmp_path / "in", tmp_path / "outside"
    _png(outside / "secret.png")
    _png(outside / "dir" / "x.png")
    for name in ("good.png", "dup1.png", "dup2.png"):
        _png(root / "images/train" / name)
    (root / "images/train/link.png").symlink_to(outside / "secret.png")
    (root / "images/train/linkdir").symlink_to(outside / "dir")
    images = [
        {"id": 1, "file_name": "good.png"},
        {"id": 2, "file_name": "../../../outside/secret.png"},
        {"id": 3, "file_name": str(outside / "secret.png")},
        {"id": 4, "file_name": "missing.png"},
        {"id": 5, "file_name": "link.png"},
        {"id": 6, "file_name": "dup1.png"},
        {"id": 6, "file_name": "dup2.png"},
        {"id": 8, "file_name": "linkdir/x.png"},
        {"id": 9, "file_name": "..\\..\\outside\\secret.png"},
    ]
    anns = [{"id": 50, "image_id": 1, "category_id": 3, "bbox": [1, 1, 5, 5]},
            {"id": 51, "image_id": 999, "category_id": 3, "bbox": [1, 1, 5, 5]},
            {"id": 52, "image_id": 6, "category_id": 3, "bbox": [1, 1, 5, 5]},
            {"id": 53, "image_id": 2, "category_id": 3, "bbox": [1, 1, 5, 5]}]
    _json(root / "annotations/instances_train.json", {"images": images, "annotations": anns, "categories": CATEGORIES})
    _WATCH = []
    try:
        ds = coco.scan(root)
        loaded = [coco.load(item, ds.schema, 10**8) for item in ds.items]
        opened = list(_WATCH)
    finally:
        _WATCH = None
    assert [it.key for it in ds.items] == ["images/train/good.png"]
    assert [len(x.sample.objects) for x in loaded] == [1]
    assert not [p for p in opened if str(outside) in p], opened
    # skipped images are reported as problems (skips in the manifest, exit code 1), the rest as notes
    notes = "\n".join(ds.notes + [message for _, _, message in ds.problems])
    assert all(n.startswith("annotations/instances_train.json: ") for n in ds.notes)
    assert {reason for _, reason, _ in ds.problems} == {"outside-input", "missing-image", "duplicate-id"}
    for fragment in ["image id 2", "'..'", "image id 3", "absolute path", "image id 4 'missing.png': not found",
                     "image id 5 'link.png'", "image id 8 'linkdir/x.png'", "outside the input folder",
                     "image id 9", "image id 6 appears 2 times", "annotation 51 -> image_id 999"]:
        assert fragment in notes, fragment


@pytest.mark.parametrize("text,message", [
    ('{"images": [{"id": 1, "file_na', "not valid JSON"),
    ("[]", "expected a JSON object"),
    ('{"annotations": []}', "no 'images' list"),
    ('{"images": [], "annotations": {}}', "'annotations' must be a list"),
    ('{"images": [], "categories": [{"name": "x"}]}', "categories[0]"),
    (b"\xff\xfe{", "not valid JSON"),
])
def test_broken_json_is_a_usage_error_naming_the_file(tmp_path, text, message):
    path = tmp_path / "annotations/instances_train.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(UsageError) as info:
        coco.scan(tmp_path)
    assert "annotations/instances_train.json" in str(info.value) and message in str(info.value)


def test_conflicting_categories_and_no_annotations_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no COCO annotations"):
        coco.scan(tmp_path)
    _json(tmp_path / "annotations/instances_train.json", {"images": [], "categories": [{"id": 1, "name": "a"}]})
    _json(tmp_path / "annotations/instances_val.json", {"images": [], "categories": [{"id": 1, "name": "b"}]})
    with pytest.raises(UsageError, match="category id 1 is 'a' in annotations/instances_train.json but 'b'"):
        coco.scan(tmp_path)


# ---------------------------------------------------------------- degenerate boxes: never read, never written
@pytest.mark.parametrize("ann,message", [
    ({"bbox": [10, 10, 0, 5]}, "must be positive, got 0 x 5"),
    ({"bbox": [10, 10, 5, 0]}, "must be positive, got 5 x 0"),
    ({"bbox": [200, 200, 5, 5]}, f"lies wholly outside the {W}x{H} image"),
    ({"bbox": [W, 10, 5, 5]}, "wholly outside"),  # touches the right edge from outside: nothing inside
    ({"bbox": [-10, -10, 10, 10]}, "wholly outside"),
    ({"segmentation": [[200, 10, 220, 10, 220, 30]]}, "wholly outside"),
    ({"segmentation": [[155, -20, 200, -20, 200, 10]]}, "wholly outside"),  # its extent reaches the corner, it does not
    ({"segmentation": [[5, 5, 5, 10, 5, 15]]}, "zero width"),  # a vertical line: no box
])
def test_degenerate_box_is_an_input_error_naming_json_and_id(tmp_path, ann, message):
    from augcli.check import kind_of

    ds, item = _one_image(tmp_path, [{"id": 1, "category_id": 3, "bbox": [1, 2, 3, 4]},
                                     {"id": 77, "category_id": 3, **ann}])
    with pytest.raises(InputError) as info:
        coco.load(item, ds.schema, 10**8)
    assert info.value.reason == "bad-label"
    assert info.value.path == "annotations/instances_train.json"
    assert "annotation 77 (image id 1)" in str(info.value) and message in str(info.value)
    # `augcli check` files them with the VOC and YOLO equivalents
    assert kind_of(info.value.message) == ("out-of-range" if "outside" in message else "zero-size-box")


def test_polygon_partly_outside_gets_the_box_of_its_part_inside(tmp_path):
    """Without a bbox the box is the tight box of the clipped polygon, not the clipped extent
    (which would take in image corners the object does not reach)."""
    ds, item = _one_image(tmp_path, [{"id": 5, "category_id": 3, "segmentation": [[150, 10, 170, 10, 170, 30]]}])
    loaded = coco.load(item, ds.schema, 10**8)
    assert any("annotation 5 " in w and "clipped" in w for w in loaded.warnings)
    obj = loaded.sample.objects
    assert obj.boxes.tolist() == [[150, 10, W, 20]]
    assert g.tight_box(obj.polygons[0]).tolist() == [150, 10, W, 20]


def test_degenerate_box_skips_its_image_and_writes_no_empty_box(tmp_path, coco_format):
    """The audit's case: an 80x50 image with bbox [200, 200, 5, 5] beside a good one, and one
    with a zero-width box. Both are skipped by name; no writer gets an empty box."""
    src = tmp_path / "in"
    images = [{"id": i, "file_name": f"{n}.png", "width": 80, "height": 50} for i, n in ((1, "good"), (2, "o"), (3, "z"))]
    anns = [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [70.5, 40, 10, 10.6]},  # partly outside: clipped
            {"id": 2, "image_id": 2, "category_id": 3, "bbox": [10, 10, 20, 20]},
            {"id": 10, "image_id": 2, "category_id": 3, "bbox": [200, 200, 5, 5]},
            {"id": 11, "image_id": 3, "category_id": 3, "bbox": [10, 10, 0, 5]}]
    _json(src / "annotations/instances.json", {"images": images, "annotations": anns, "categories": CATEGORIES[:2]})
    for i, im in enumerate(images):
        _png(src / "images" / im["file_name"], size=(80, 50), seed=i)
    for fmt in ("coco", "yolo"):
        out = tmp_path / fmt
        report = api.run({"pipeline": []}, src, out, workers=1, input_format="coco", output_format=fmt, **QUIET)
        assert report.exit_code == 1 and report.outputs == 1
        skipped = {key: (reason, message) for key, reason, message in report.skipped}
        assert set(skipped) == {"images/o.png", "images/z.png"}
        assert skipped["images/o.png"][0] == "bad-label"
        assert "annotation 10 (image id 2)" in skipped["images/o.png"][1] and "wholly outside" in skipped["images/o.png"][1]
        assert "annotation 11 (image id 3)" in skipped["images/z.png"][1] and "must be positive" in skipped["images/z.png"][1]
    written = json.loads((tmp_path / "coco/annotations/instances.json").read_text())
    assert [a["bbox"] for a in written["annotations"]] == [[70.5, 40.0, 9.5, 10.0]]
    assert (tmp_path / "yolo/labels/good.txt").read_text().split()[3:] == ["0.118750", "0.200000"]
    again = api.run({"pipeline": []}, tmp_path / "yolo", tmp_path / "again", workers=1, input_format="yolo",
                    output_format="coco", **QUIET)
    assert again.exit_code == 0 and again.outputs == 1


def test_writer_never_rounds_a_thin_box_to_nothing(tmp_path):
    """Two decimals would make a box 0.004 px wide 0.0 wide: such a box keeps its digits."""
    schema = LabelSchema({3: "cat"}, zero_based_ids=False)
    objects = Objects([3, 3], [[79.996, 10, 80, 20], [10.004, 20, 30, 40.003]], [None, None])
    anns = coco.objects_to_annotations(objects, schema)
    assert anns[1]["bbox"] == [10.0, 20.0, 20.0, 20.0]  # an ordinary box: two decimals
    x, y, w, h = anns[0]["bbox"]
    assert w > 0 and h == 10.0 and x + w == pytest.approx(80) and anns[0]["area"] > 0
    back, warnings = coco.annotations_to_objects([{"id": 1, "category_id": 3, **a} for a in anns], schema, (80, 50), "x.json")
    assert warnings == [] and np.all(back.boxes[:, 2:] > back.boxes[:, :2])


def test_object_clipped_to_a_sliver_is_dropped_not_written(tmp_path, coco_format):
    """min_visibility 0 and min_area 0 keep every object a transform leaves in view, but a box
    moved to 0.001 px inside the edge is nothing: it is dropped and counted (out_of_view)."""
    src = tmp_path / "in"
    _json(src / "annotations/instances.json", {
        "images": [{"id": 1, "file_name": "a.png", "width": W, "height": H}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [100, 10, 20, 20]},
                        {"id": 2, "image_id": 1, "category_id": 7, "bbox": [10, 10, 20, 20],
                         "segmentation": [[10, 10, 30, 10, 30, 30, 10, 30]]},
                        {"id": 3, "image_id": 1, "category_id": 7, "bbox": [100, 50, 20, 20],
                         "segmentation": [[100, 50, 120, 50, 120, 70, 100, 70]]}],
        "categories": CATEGORIES[:2]})
    _png(src / "images/a.png")
    shift = (W - 100 - 0.001) / W  # the box's left edge lands 0.001 px inside the right edge
    recipe = {"seed": 1, "copies": 1, "keep_original": False, "labels": {"min_visibility": 0.0, "min_area": 0},
              "pipeline": [{"type": "Affine", "translate": [shift, shift], "p": 1}]}
    for fmt in ("coco", "yolo"):
        out = tmp_path / fmt
        report = api.run(recipe, src, out, workers=1, input_format="coco", output_format=fmt, **QUIET)
        assert report.exit_code == 0 and report.dropped == {"out_of_view": 2}
    written = json.loads((tmp_path / "coco/annotations/instances.json").read_text())
    assert [a["category_id"] for a in written["annotations"]] == [7]
    assert all(a["bbox"][2] > 0 and a["bbox"][3] > 0 and a["area"] > 0 for a in written["annotations"])
    (label,) = (tmp_path / "yolo").rglob("*.txt")
    assert len(label.read_text().splitlines()) == 1


# ---------------------------------------------------------------- keypoint flips through COCO's names
def _yolo_pose(root: Path, flip_idx: list[int]) -> np.ndarray:
    """images/train/a.png with one person whose keypoints lie at distinct places; returns them in pixels."""
    k = len(flip_idx)
    kps = np.array([[20 + 25 * i, 30 + 10 * i, 2] for i in range(k)], np.float64)
    (root / "data.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(f"names: [person]\nkpt_shape: [{k}, 3]\nflip_idx: {flip_idx}\n")
    _png(root / "images/train/a.png")
    cols = [f"{x / W:.6f} {y / H:.6f} {int(v)}" for x, y, v in kps]
    (root / "labels/train").mkdir(parents=True)
    (root / "labels/train/a.txt").write_text("0 0.5 0.5 0.9 0.9 " + " ".join(cols) + "\n")
    return kps


def test_yolo_pose_flip_idx_survives_coco(tmp_path, coco_format):
    """YOLO's flip_idx has no names: the COCO writer names the pairs left_/right_ so that reading
    the COCO back (and a flip of it) swaps the same keypoints; self-paired points keep plain names."""
    import yaml

    layouts = [([0, 2, 1], ["kp0", "left_kp1", "right_kp1"]),
               ([3, 2, 1, 0, 4], ["left_kp0", "left_kp1", "right_kp1", "right_kp0", "kp4"]),
               ([0, 1, 2], ["kp0", "kp1", "kp2"])]
    for n, (flip_idx, names) in enumerate(layouts):
        base = tmp_path / str(n)
        kps = _yolo_pose(base / "yolo", flip_idx)
        c = base / "coco"
        assert api.run({"pipeline": []}, base / "yolo", c, workers=1, input_format="yolo",
                       output_format="coco", **QUIET).exit_code == 0
        (cat,) = json.loads((c / "annotations/instances_train.json").read_text())["categories"]
        assert cat["keypoints"] == names
        assert coco.scan(c).schema.flip_idx == tuple(flip_idx)
        # back to YOLO: data.yaml has the same flip_idx
        assert api.run({"pipeline": []}, c, base / "yolo2", workers=1, input_format="coco",
                       output_format="yolo", **QUIET).exit_code == 0
        assert yaml.safe_load((base / "yolo2/data.yaml").read_text())["flip_idx"] == flip_idx
        # a flip of the COCO copy swaps the pairs: keypoint i is where keypoint flip_idx[i] was, mirrored
        flipped = base / "flipped"
        assert api.run({"seed": 1, "copies": 1, "keep_original": False,
                        "pipeline": [{"type": "HorizontalFlip", "p": 1}]}, c, flipped,
                       workers=1, input_format="coco", output_format="coco", **QUIET).exit_code == 0
        (ann,) = json.loads((flipped / "annotations/instances_train.json").read_text())["annotations"]
        got = np.array(ann["keypoints"]).reshape(-1, 3)
        assert np.allclose(got, kps[flip_idx] * [-1, 1, 1] + [W, 0, 0], atol=0.01), flip_idx


def test_coco_keypoint_names_survive_yolo_and_back(tmp_path, coco_format):
    """COCO names -> YOLO flip_idx [0, 2, 1] -> COCO: the pairs come back (as left_/right_ names);
    a COCO -> COCO run keeps the real names."""
    import yaml

    src = tmp_path / "in"
    _rich_dataset(src)
    y = tmp_path / "yolo"
    api.run({"pipeline": []}, src, y, workers=1, input_format="coco", output_format="yolo", **QUIET)
    data = yaml.safe_load((y / "data.yaml").read_text())
    assert data["kpt_shape"] == [3, 3] and data["flip_idx"] == [0, 2, 1]
    back = tmp_path / "back"
    api.run({"pipeline": []}, y, back, workers=1, input_format="yolo", output_format="coco", **QUIET)
    assert coco.scan(back).schema.flip_idx == (0, 2, 1)
    same = tmp_path / "same"
    api.run({"pipeline": []}, src, same, workers=1, input_format="coco", output_format="coco", **QUIET)
    cats = json.loads((same / "annotations/instances_train.json").read_text())["categories"]
    assert [c["keypoints"] for c in cats] == [["nose", "left_eye", "right_eye"]] * 3


def test_writer_refuses_a_flip_idx_that_is_not_pairs(tmp_path):
    """[1, 2, 0] mirrored twice is not the identity: no left/right names can say it, so the run
    stops before writing rather than write a layout that flips differently."""
    with pytest.raises(UsageError, match=r"flip_idx \[1, 2, 0\]"):
        coco.Writer(tmp_path, LabelSchema({0: "p"}, (3, 3), (1, 2, 0)))

"""Datasets shaped like real exports (Label Studio, FiftyOne, CVAT, LabelImg) read by `augcli run` and
converted between formats. Each object is a solid colour patch in a PNG; the output labels are read back
with small parsers written here from the published formats (never augcli's own readers) and checked
against where the colour actually is in the output image."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from augcli.cli import main
from augcli.formats import detect_format

W, H = 64, 48
RED, GREEN = (0, 0, 255), (0, 255, 0)  # BGR
# (BGR colour, (x1, y1, x2, y2) in pixels, end exclusive)
PATCHES = [(RED, (5, 10, 25, 20)), (GREEN, (40, 30, 61, 43))]

FLIP = ("version: 1\nseed: 1\ncopies: 1\nkeep_original: false\naugment_splits: all\n"
        "pipeline:\n  - {type: HorizontalFlip, p: 1}\n")
CONVERT = "version: 1\naugment_splits: all\npipeline: []\n"


# ---------------------------------------------------------------- helpers (independent of augcli)
def _paint(path: Path) -> None:
    image = np.zeros((H, W, 3), np.uint8)
    for colour, (x1, y1, x2, y2) in PATCHES:
        image[y1:y2, x1:x2] = colour
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def _colour_box(image_path: Path, colour: tuple[int, int, int]) -> tuple[float, float, float, float]:
    """Where the colour is in the image: (x1, y1, x2, y2), pixel edges (end exclusive)."""
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    ys, xs = np.nonzero(np.all(image == colour, axis=2))
    assert len(xs), f"{colour} not in {image_path}"
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def _run(tmp_path: Path, recipe: str, src: Path, out: Path, *args: str):
    path = tmp_path / f"{out.name}.yaml"
    path.write_text(recipe)
    return CliRunner().invoke(main, ["run", str(path), "-i", str(src), "-o", str(out), "-w", "1", "-q", *args])


def _yolo_objects(label: Path) -> list[tuple[int, tuple[float, ...]]]:
    """YOLO text -> [(class, (x1, y1, x2, y2) in pixels)]: `cls cx cy w h`, or `cls x1 y1 x2 y2 ...` (a
    polygon, taken by its extent), normalised to the W x H image."""
    rows = []
    for line in label.read_text().splitlines():
        fields = line.split()
        if not fields:
            continue
        cls, vals = int(fields[0]), [float(v) for v in fields[1:]]
        if len(vals) == 4:
            cx, cy, bw, bh = vals
            box = ((cx - bw / 2) * W, (cy - bh / 2) * H, (cx + bw / 2) * W, (cy + bh / 2) * H)
        else:
            xs, ys = [v * W for v in vals[0::2]], [v * H for v in vals[1::2]]
            box = (min(xs), min(ys), max(xs), max(ys))
        rows.append((cls, box))
    return rows


def _yolo_names(data_yaml: Path) -> dict[int, str]:
    names = yaml.safe_load(data_yaml.read_text())["names"]
    return dict(enumerate(names)) if isinstance(names, list) else {int(k): v for k, v in names.items()}


def _near(a, b, tol: float = 0.5) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def _check_yolo_output(out: Path, expected: dict[tuple[int, int, int], str]) -> None:
    """Every output label file holds one object per colour, on that colour's pixels, named as expected."""
    labels = sorted(p for p in out.rglob("*.txt") if "labels" in p.relative_to(out).parts)
    assert labels, sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    names = _yolo_names(out / "data.yaml")
    for label in labels:
        rel = label.relative_to(out)
        parts = ["images" if p == "labels" else p for p in rel.parts]
        image = (out / Path(*parts)).with_suffix(".png")
        objects = _yolo_objects(label)
        assert len(objects) == len(expected), (rel, objects)
        for colour, name in expected.items():
            truth = _colour_box(image, colour)
            hits = [names[cls] for cls, box in objects if _near(box, truth)]
            assert hits == [name], (rel, colour, truth, objects, names)


def _coco_dataset(annotations: list[dict], categories: list[dict], file_name: str = "a.png",
                  image_id: int = 0) -> dict:
    return {"images": [{"id": image_id, "file_name": file_name, "width": W, "height": H}],
            "categories": categories, "annotations": annotations}


def _boxes_of_patches(cat_ids: list[int]) -> list[dict]:
    """One COCO annotation ([x, y, w, h] pixels) per patch, with the given category ids."""
    out = []
    for i, ((_, (x1, y1, x2, y2)), cid) in enumerate(zip(PATCHES, cat_ids)):
        out.append({"id": 100 + i, "image_id": 0, "category_id": cid, "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1), "iscrowd": 0, "segmentation": []})
    return out


# ---------------------------------------------------------------- exports with one JSON at the root
def test_label_studio_coco_export_is_read_not_taken_for_bare_images(tmp_path):
    """Label Studio's COCO export is result.json beside images/ (file_name 'images/<name>', ids from 0).
    It was detected as a bare image folder: every label silently dropped, exit code 0."""
    src = tmp_path / "label-studio"
    _paint(src / "images" / "a.png")
    cats = [{"id": 0, "name": "red box"}, {"id": 1, "name": "green thing"}]
    data = _coco_dataset(_boxes_of_patches([0, 1]), cats, file_name="images/a.png")
    data["info"] = {"year": 2024, "version": "1.0", "contributor": "Label Studio"}
    (src / "result.json").write_text(json.dumps(data))
    out = tmp_path / "out"
    result = _run(tmp_path, FLIP, src, out, "--output-format", "yolo")
    assert result.exit_code == 0, result.output
    _check_yolo_output(out, {RED: "red box", GREEN: "green thing"})


def test_fiftyone_coco_export_is_read_not_taken_for_a_class_folder(tmp_path):
    """FiftyOne's COCODetectionDataset export is labels.json beside data/. It was detected as a class
    folder 'data' (the default output wrote no boxes at all, exit code 0)."""
    src = tmp_path / "fiftyone"
    _paint(src / "data" / "a.png")
    cats = [{"id": 1, "name": "red", "supercategory": "none"}, {"id": 3, "name": "green", "supercategory": "none"}]
    data = {"info": {"description": "Exported from FiftyOne"}, "licenses": [],
            **_coco_dataset(_boxes_of_patches([1, 3]), cats)}
    (src / "labels.json").write_text(json.dumps(data))
    out = tmp_path / "out"
    result = _run(tmp_path, FLIP, src, out)  # the output format is the input's: COCO
    assert result.exit_code == 0, result.output
    files = sorted((out / "annotations").glob("*.json"))
    assert len(files) == 1, files
    written = json.loads(files[0].read_text())
    names = {c["id"]: c["name"] for c in written["categories"]}
    assert names == {1: "red", 3: "green"}
    (image,) = written["images"]
    image_path = next(p for p in out.rglob(image["file_name"].rpartition("/")[2]) if p.is_file())
    anns = [a for a in written["annotations"] if a["image_id"] == image["id"]]
    assert len(anns) == 2
    for colour, name in ((RED, "red"), (GREEN, "green")):
        x1, y1, x2, y2 = _colour_box(image_path, colour)
        hits = [a for a in anns if names[a["category_id"]] == name]
        assert len(hits) == 1 and _near(hits[0]["bbox"], (x1, y1, x2 - x1, y2 - y1)), (name, hits)


def test_a_root_json_that_is_not_coco_does_not_make_the_folder_coco(tmp_path):
    """A labels.json of some other tool beside plain images is no COCO dataset; and a root JSON is
    ignored when the folder has COCO's own annotations/ (it may be anything there)."""
    plain = tmp_path / "plain"
    _paint(plain / "a.png")
    (plain / "labels.json").write_text('{"a.png": "cat"}')
    assert detect_format(plain) == "images"
    coco = tmp_path / "coco"
    _paint(coco / "images" / "a.png")
    (coco / "annotations").mkdir()
    (coco / "annotations" / "instances.json").write_text(json.dumps(
        _coco_dataset(_boxes_of_patches([1, 2]), [{"id": 1, "name": "r"}, {"id": 2, "name": "g"}])))
    (coco / "result.json").write_text('["not", "coco"]')
    out = tmp_path / "out"
    result = _run(tmp_path, CONVERT, coco, out, "--output-format", "yolo")
    assert result.exit_code == 0, result.output
    _check_yolo_output(out, {RED: "r", GREEN: "g"})


# ---------------------------------------------------------------- CVAT's YOLO 1.1 (darknet) export
def test_cvat_yolo_1_1_export_is_read_as_yolo(tmp_path):
    """CVAT's "YOLO 1.1" export: obj.data, obj.names, train.txt and obj_train_data/ holding each image
    beside its .txt. It was detected as a class folder 'obj_train_data': the labels were not written."""
    src = tmp_path / "cvat-yolo"
    _paint(src / "obj_train_data" / "a.png")
    lines = []
    for cls, (_, (x1, y1, x2, y2)) in enumerate(PATCHES):
        lines.append(f"{cls} {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f}")
    (src / "obj_train_data" / "a.txt").write_text("\n".join(lines) + "\n")
    (src / "obj.names").write_text("red car\ngreen car\n")
    (src / "obj.data").write_text("classes = 2\ntrain = data/train.txt\nnames = data/obj.names\nbackup = backup/\n")
    (src / "train.txt").write_text("data/obj_train_data/a.png\n")
    out = tmp_path / "out"
    result = _run(tmp_path, FLIP, src, out)
    assert result.exit_code == 0, result.output
    _check_yolo_output(out, {RED: "red car", GREEN: "green car"})


def test_roboflow_yolo_darknet_export_is_read_with_its_splits_and_names(tmp_path):
    """Roboflow's "YOLO Darknet" export: train/ and valid/ each hold the images beside their .txt files
    and a _darknet.labels (one class name a line). It was detected as bare images (labels silently
    dropped); read as YOLO, the two a.png no longer collide, and the names come from _darknet.labels."""
    src = tmp_path / "roboflow-darknet"
    for split in ("train", "valid"):
        _paint(src / split / "a.png")
        lines = [f"{cls} {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f}"
                 for cls, (_, (x1, y1, x2, y2)) in enumerate(PATCHES)]
        (src / split / "a.txt").write_text("\r\n".join(lines) + "\r\n")
        (src / split / "_darknet.labels").write_text("red car\ngreen car\n")
    out = tmp_path / "out"
    result = _run(tmp_path, FLIP, src, out)
    assert result.exit_code == 0, result.output
    labels = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt"))
    assert len(labels) == 2 and labels[0] != labels[1], labels
    assert {"train", "valid"} <= {part for label in labels for part in label.split("/")}, labels
    _check_yolo_output(out, {RED: "red car", GREEN: "green car"})
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert "train" in str(data["train"]) and "valid" in str(data["val"]), data


# ---------------------------------------------------------------- COCO records as exporters write them
def test_coco_size_written_as_text_is_no_size_mismatch(tmp_path):
    """width / height written as text ("64") name the file's own size: no 'listed as 64x48 but the
    file is 64x48' warning. A size that really differs is still reported."""
    for listed, warned in (((str(W), str(H)), False), ((str(2 * W), str(2 * H)), True)):
        src = tmp_path / f"coco-{listed[0]}"
        _paint(src / "images" / "a.png")
        data = _coco_dataset(_boxes_of_patches([1, 2]), [{"id": 1, "name": "r"}, {"id": 2, "name": "g"}])
        data["images"][0].update(width=listed[0], height=listed[1])
        (src / "annotations").mkdir()
        (src / "annotations" / "instances.json").write_text(json.dumps(data))
        out = tmp_path / f"out-{listed[0]}"
        result = _run(tmp_path, CONVERT, src, out, "--output-format", "yolo")
        assert result.exit_code == 0, result.output
        assert ("listed as" in result.output) is warned, result.output
        _check_yolo_output(out, {RED: "r", GREEN: "g"})


def test_coco_category_with_a_null_name_is_named_by_its_id(tmp_path):
    """A category {"id": 7, "name": null} is named '7' (as one without a name), not 'None'."""
    src = tmp_path / "coco"
    _paint(src / "images" / "a.png")
    data = _coco_dataset(_boxes_of_patches([7, 9]), [{"id": 7, "name": None}, {"id": 9, "name": "green"}])
    (src / "annotations").mkdir()
    (src / "annotations" / "instances.json").write_text(json.dumps(data))
    out = tmp_path / "out"
    result = _run(tmp_path, FLIP, src, out, "--output-format", "yolo")
    assert result.exit_code == 0, result.output
    _check_yolo_output(out, {RED: "7", GREEN: "green"})


def _rle_counts(mask: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE: run lengths over the mask read column by column, zeros first."""
    flat = mask.ravel(order="F").astype(np.uint8)
    counts, value, run = [], 0, 0
    for v in flat:
        if v != value:
            counts.append(run)
            value, run = v, 0
        run += 1
    return counts + [run]


def test_coco_rle_size_written_as_text_is_named_as_the_problem(tmp_path):
    """An RLE whose size is text (["48", "64"]) skips its image with a message saying the size must be
    [height, width], not the puzzle "size ['48', '64'] is not the image's size [48, 64]"; the
    same RLE with a proper size is read, and lands on its patch after the flip."""
    src = tmp_path / "coco"
    _paint(src / "images" / "a.png")
    _paint(src / "images" / "b.png")
    mask = np.zeros((H, W), bool)
    x1, y1, x2, y2 = PATCHES[0][1]
    mask[y1:y2, x1:x2] = True
    counts = _rle_counts(mask)
    data = {"images": [{"id": 1, "file_name": "a.png", "width": W, "height": H},
                       {"id": 2, "file_name": "b.png", "width": W, "height": H}],
            "categories": [{"id": 1, "name": "red"}],
            "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "iscrowd": 0,
                             "segmentation": {"size": [str(H), str(W)], "counts": counts}},
                            {"id": 6, "image_id": 2, "category_id": 1, "iscrowd": 0,
                             "segmentation": {"size": [H, W], "counts": counts}}]}
    (src / "annotations").mkdir()
    (src / "annotations" / "instances.json").write_text(json.dumps(data))
    out = tmp_path / "out"
    result = _run(tmp_path, FLIP, src, out, "--output-format", "yolo")
    assert result.exit_code == 1, result.output
    assert "annotations/instances.json: annotation 5 (image id 1)" in result.output
    assert "RLE size must be [height, width], got ['48', '64']" in result.output, result.output
    assert "is not the image's size" not in result.output
    assert not list(out.rglob("a_aug1.txt"))
    (label,) = out.rglob("b_aug1.txt")
    ((_, box),) = _yolo_objects(label)
    assert _near(box, _colour_box(next(out.rglob("b_aug1.png")), RED))


# ---------------------------------------------------------------- VOC -> COCO -> YOLO -> VOC
def _voc_objects(xml: Path) -> list[tuple[str, tuple[int, int, int, int]]]:
    """[(name, (xmin, ymin, xmax, ymax))]: VOC's 1-based inclusive pixels, as the file says."""
    rows = []
    for obj in ET.parse(xml).getroot().findall("object"):
        box = obj.find("bndbox")
        coords = tuple(int(float(box.findtext(t))) for t in ("xmin", "ymin", "xmax", "ymax"))
        rows.append((obj.findtext("name"), coords))
    return rows


@pytest.mark.parametrize("images_dir,xml_dir", [("", ""), ("cam1", "cam1"), ("images", "Annotations"),
                                                  ("data", "labels/sub")],
                         ids=["labelimg", "labelimg-in-a-folder", "label-studio", "fiftyone"])
def test_voc_layouts_of_other_tools_are_read_as_voc(tmp_path, images_dir, xml_dir):
    """LabelImg saves a.xml beside a.jpg; Label Studio's VOC export is images/ + Annotations/;
    FiftyOne's is data/ + labels/ (mirroring data/'s subfolders). Each was detected as bare images:
    the boxes were silently dropped (exit code 0). An image without an .xml is a background image."""
    src = tmp_path / "export"
    sub = xml_dir.partition("/")[2]
    image_folder = src / images_dir / sub
    _paint(image_folder / "a.png")
    _paint(image_folder / "b.png")
    objects = "".join(
        f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>"
        f"<bndbox><xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        for name, (_, (x1, y1, x2, y2)) in zip(("red car", "green car"), PATCHES))
    (src / xml_dir).mkdir(parents=True, exist_ok=True)
    (src / xml_dir / "a.xml").write_text(
        f"<annotation><folder>labelimg</folder><filename>a.png</filename><path>/home/me/labelimg/a.png</path>"
        f"<source><database>Unknown</database></source><size><width>{W}</width><height>{H}</height>"
        f"<depth>3</depth></size><segmented>0</segmented>{objects}</annotation>")
    assert detect_format(src) == "voc"
    out = tmp_path / "out"
    result = _run(tmp_path, FLIP, src, out, "--output-format", "yolo")
    assert result.exit_code == 0, result.output
    (background,) = out.rglob("b_aug1.txt")
    assert background.read_text().strip() == ""
    background.unlink()
    _check_yolo_output(out, {RED: "red car", GREEN: "green car"})


def test_labelimg_voc_through_coco_and_yolo_back_to_voc_keeps_boxes_and_names(tmp_path):
    """A LabelImg / CVAT style VOC file (float bndbox values, a <part>, <filename> naming another file,
    flags present and absent, UTF-8 names with spaces and a ':') flipped, then converted to COCO, YOLO
    and VOC again: every box on its patch's pixels within a pixel, every class name kept."""
    src = tmp_path / "voc"
    _paint(src / "JPEGImages" / "a b.png")
    names = ["красная машина", "green: car"]
    objects = []
    part = "<part><name>wheel</name><bndbox><xmin>7</xmin><ymin>17</ymin><xmax>9</xmax><ymax>19</ymax></bndbox></part>"
    extras = ("<difficult>0</difficult><truncated>0</truncated>" + part, "<occluded>1</occluded>")
    for (_, (x1, y1, x2, y2)), name, extra in zip(PATCHES, names, extras):
        objects.append(f"<object><name>{name}</name><pose>Unspecified</pose>{extra}<bndbox><xmin>{x1 + 1}.0</xmin>"
                       f"<ymin>{y1 + 1}.0</ymin><xmax>{x2}.0</xmax><ymax>{y2}.0</ymax></bndbox></object>")
    (src / "Annotations").mkdir()
    (src / "Annotations" / "a b.xml").write_text(
        "<annotation><folder>images</folder><filename>IMG_0001.jpg</filename><path>C:\\x\\IMG_0001.jpg</path>"
        f"<size><width>{W}</width><height>{H}</height><depth>3</depth></size><segmented>0</segmented>"
        + "".join(objects) + "</annotation>", encoding="utf-8")
    # LabelImg writes no class list: the names come from the XML files
    steps = [("flipped", FLIP, "voc"), ("coco", CONVERT, "coco"), ("yolo", CONVERT, "yolo"), ("back", CONVERT, "voc")]
    prev = src
    for name, recipe, fmt in steps:
        out = tmp_path / name
        result = _run(tmp_path, recipe, prev, out, "--output-format", fmt)
        assert result.exit_code == 0, (name, result.output)
        prev = out
    (xml,) = sorted((prev / "Annotations").rglob("*.xml"))
    image = next((prev / "JPEGImages").rglob(xml.stem + ".*"))
    found = _voc_objects(xml)
    assert sorted(n for n, _ in found) == sorted(names)
    for (colour, _), name in zip(PATCHES, names):
        x1, y1, x2, y2 = _colour_box(image, colour)
        truth = (x1 + 1, y1 + 1, x2, y2)  # the patch's pixels, 1-based inclusive
        (box,) = [b for n, b in found if n == name]
        assert _near(box, truth, 1.0), (name, box, truth)

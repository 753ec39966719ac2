"""`augcli check` and `augcli preview` on the layouts of other tools' exports (CVAT YOLO 1.1,
Roboflow YOLO Darknet, Label Studio and FiftyOne COCO / VOC, LabelImg VOC, palette masks).

Oracle: each object is a solid green patch drawn here; labels are written here from the formats'
specs; check's JSON and the preview sheet's pixels are read back and compared with the patches."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from augcli.cli import main

W, H = 64, 48
PATCH = (10, 8, 30, 28)  # x1, y1, x2, y2 in pixels, x2/y2 exclusive; off-centre so a flip moves it
GREEN = (0, 220, 0)  # BGR


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def patch_image(path: Path, box=PATCH) -> None:
    a = np.zeros((H, W, 3), np.uint8)
    x1, y1, x2, y2 = box
    a[y1:y2, x1:x2] = GREEN
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), a)


def yolo_line(box=PATCH, cls=0) -> str:
    x1, y1, x2, y2 = box
    return f"{cls} {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f}\n"


def voc_xml(filename: str, box=PATCH, name="cat") -> str:
    x1, y1, x2, y2 = box  # VOC: 1-based inclusive pixel corners
    return (f"<annotation><filename>{filename}</filename><size><width>{W}</width><height>{H}</height>"
            f"<depth>3</depth></size><object><name>{name}</name><difficult>0</difficult>"
            f"<occluded>1</occluded><bndbox><xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin><xmax>{x2}</xmax>"
            f"<ymax>{y2}</ymax></bndbox></object></annotation>")


def coco_json(names: list[str]) -> dict:
    x1, y1, x2, y2 = PATCH
    return {"categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
            "images": [{"id": i + 1, "file_name": n, "width": W, "height": H} for i, n in enumerate(names)],
            "annotations": [{"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                             "area": (x2 - x1) * (y2 - y1), "iscrowd": 0} for i in range(len(names))]}


# ---------------------------------------------------------------- the layouts, each with two images
def cvat_yolo11(root: Path) -> None:
    (root / "obj.names").parent.mkdir(parents=True, exist_ok=True)
    (root / "obj.names").write_text("cat\ndog\n")
    (root / "obj.data").write_text("classes = 2\ntrain = data/train.txt\nnames = data/obj.names\nbackup = backup/\n")
    (root / "train.txt").write_text("data/obj_train_data/a.png\ndata/obj_train_data/b.png\n")
    for s in "ab":
        patch_image(root / f"obj_train_data/{s}.png")
        (root / f"obj_train_data/{s}.txt").write_text(yolo_line())


def roboflow_darknet(root: Path) -> None:
    for split in ("train", "valid"):
        (root / split).mkdir(parents=True)
        (root / split / "_darknet.labels").write_text("cat\ndog\n")
        patch_image(root / split / f"{split[0]}.jpg")
        (root / split / f"{split[0]}.txt").write_text(yolo_line())


def label_studio_coco(root: Path) -> None:
    for s in "ab":
        patch_image(root / f"images/{s}.png")
    (root / "result.json").write_text(json.dumps(coco_json(["images/a.png", "images/b.png"])))


def fiftyone_coco(root: Path) -> None:
    for s in "ab":
        patch_image(root / f"data/{s}.png")
    (root / "labels.json").write_text(json.dumps(coco_json(["a.png", "b.png"])))


def voc_layout(images: str, xmls: str):
    def make(root: Path) -> None:
        for s in "ab":
            patch_image(root / images / f"{s}.png")
            (root / xmls).mkdir(parents=True, exist_ok=True)
            (root / xmls / f"{s}.xml").write_text(voc_xml(f"{s}.png"))
    return make


LAYOUTS = {
    "cvat-yolo11": (cvat_yolo11, "yolo"),
    "roboflow-darknet": (roboflow_darknet, "yolo"),
    "labelstudio-coco": (label_studio_coco, "coco"),
    "fiftyone-coco": (fiftyone_coco, "coco"),
    "labelimg-voc": (voc_layout(".", "."), "voc"),
    "labelstudio-voc": (voc_layout("images", "Annotations"), "voc"),
    "fiftyone-voc": (voc_layout("data", "labels"), "voc"),
}


def check_json(root: Path) -> dict:
    res = invoke("check", root, "--json", "-w", "1")
    report = json.loads(res.output)
    assert res.exit_code == report["exit_code"], res.output
    return report


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_clean_export_layouts_check_clean(tmp_path, layout):
    make, fmt = LAYOUTS[layout]
    make(tmp_path / "d")
    report = check_json(tmp_path / "d")
    assert (report["format"], report["exit_code"], report["problems"]) == (fmt, 0, [])
    assert (report["images"], report["objects"], report["images_without_labels"]) == (2, 2, 0)
    assert report["classes"]["cat"] == 2


# ---------------------------------------------------------------- VOC: two images of one id
@pytest.mark.parametrize("layout", ["labelimg-voc", "labelstudio-voc", "fiftyone-voc"])
def test_voc_two_images_one_id_is_a_duplicate_stem_error(tmp_path, layout):
    """a.png + a.jpg with one a.xml: a run reads only one of them, so check must fail (as YOLO's and
    masks' a.jpg + a.png -> one label file do), and count both images on disk."""
    make, _ = LAYOUTS[layout]
    root = tmp_path / "d"
    make(root)
    folder = {"labelimg-voc": root, "labelstudio-voc": root / "images", "fiftyone-voc": root / "data"}[layout]
    patch_image(folder / "a.jpg")
    report = check_json(root)
    assert report["exit_code"] == 1
    assert report["images"] == 3  # every image file on disk
    (dup,) = [p for p in report["problems"] if p["kind"] == "duplicate-stem"]
    assert dup["severity"] == "error"
    assert dup["file"] == str((folder / "a.png").relative_to(root).as_posix())
    assert "a.jpg" in dup["message"]


# ---------------------------------------------------------------- preview: outlines on the patches
def green_components(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (x1, y1, x2, y2 exclusive) of the green patches in a sheet (RGB)."""
    green = ((rgb[..., 1] > 150) & (rgb[..., 0] < 90) & (rgb[..., 2] < 90)).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(green, connectivity=8)
    return [(x, y, x + w, y + h) for x, y, w, h, area in stats[1:] if area > 400]


def outline_hugs(rgb: np.ndarray, box: tuple[int, int, int, int], slack: int = 4) -> bool:
    """An outline is drawn on every edge of the patch: on the middle row and column, a pixel that is
    neither the patch's green nor the black background lies within `slack` px of each edge, and the
    patch's middle is untouched (a box is outlined, not filled)."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) // 2, (y1 + y2) // 2

    def ink(y, x):
        r, g, b = (int(v) for v in rgb[y, x])
        return not (g > 150 and r < 90 and b < 90) and max(r, g, b) > 120

    left = any(ink(cy, x) for x in range(x1 - slack, x1 + slack))
    right = any(ink(cy, x) for x in range(x2 - slack, x2 + slack))
    top = any(ink(y, cx) for y in range(y1 - slack, y1 + slack))
    bottom = any(ink(y, cx) for y in range(y2 - slack, y2 + slack))
    middle_clean = not any(ink(cy, x) for x in range(x1 + slack + 2, x2 - slack - 2))
    return left and right and top and bottom and middle_clean


FLIP = "version: 1\nseed: 3\ncopies: 1\nkeep_original: false\naugment_splits: [train, val, test]\n" \
       "pipeline:\n  - {type: HorizontalFlip, p: 1.0}\n"


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_preview_outlines_sit_on_the_patches(tmp_path, layout):
    make, _ = LAYOUTS[layout]
    make(tmp_path / "d")
    recipe = tmp_path / "flip.yaml"
    recipe.write_text(FLIP)
    sheet = tmp_path / "sheet.png"
    res = invoke("preview", recipe, tmp_path / "d", "-o", sheet, "-n", 2, "--tile-height", 144)
    assert res.exit_code == 0, res.output
    rgb = np.asarray(Image.open(sheet).convert("RGB"))
    boxes = green_components(rgb)
    assert len(boxes) == 4  # 2 rows: the original and its flipped copy
    for box in boxes:
        assert outline_hugs(rgb, box), (layout, box)
    # in each row the copy's patch is the original's mirrored inside its tile: the patch spans
    # image x 10..30 of 64, so mirrored it starts 34/64 of a tile in, to the right of the original's
    scale = 144 / H
    rows: dict[int, list] = {}
    for b in boxes:
        rows.setdefault(b[1] // 10, []).append(b)
    for row in rows.values():
        orig, copy = sorted(row)
        tile_x0 = orig[0] - round(PATCH[0] * scale)
        copy_tile_x0 = copy[0] - round((W - PATCH[2]) * scale)
        assert copy_tile_x0 - tile_x0 > W * scale  # the copy is in the next tile


# ---------------------------------------------------------------- Roboflow darknet: one names list per split
def test_darknet_split_names_that_differ_are_refused_by_check_and_run(tmp_path):
    """valid/_darknet.labels lists the classes in another order than train's: one list numbers every
    split's ids, so valid's objects would get the wrong class names. Both commands refuse the dataset
    (exit 2), naming the file."""
    root = tmp_path / "d"
    roboflow_darknet(root)
    (root / "valid" / "_darknet.labels").write_text("dog\ncat\n")
    res = invoke("check", root, "-w", "1")
    assert res.exit_code == 2, res.output
    assert "_darknet.labels" in res.output and "differ" in res.output
    recipe = tmp_path / "r.yaml"
    recipe.write_text("version: 1\npipeline: [{type: HorizontalFlip}]\n")
    res = invoke("run", recipe, "-i", root, "-o", tmp_path / "out", "-w", "1")
    assert res.exit_code == 2, res.output
    assert "_darknet.labels" in res.output and not (tmp_path / "out" / "data.yaml").exists()


def test_darknet_split_names_equal_up_to_line_endings_are_clean(tmp_path):
    root = tmp_path / "d"
    roboflow_darknet(root)
    (root / "valid" / "_darknet.labels").write_bytes(b"\xef\xbb\xbfcat\r\ndog\r\n\r\n")
    assert check_json(root)["problems"] == []

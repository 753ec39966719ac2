"""Label bugs found in the format readers / writers, each checked against an independent oracle:
solid colour patches drawn into the images, and the output labels read back with small parsers
written here from the published formats (never augcli's own readers)."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import yaml

import augcli

CONVERT = {"pipeline": [], "augment_splits": "all"}


def _run(src: Path, out: Path, fmt: str) -> None:
    logs: list[str] = []
    report = augcli.run(CONVERT, src, out, output_format=fmt, workers=1, log=logs.append)
    assert report.exit_code == 0, (report.skipped, logs)


def _voc_boxes(xml: Path) -> list[tuple[str, tuple[int, int, int, int]]]:
    """[(name, (xmin, ymin, xmax, ymax))] as the file says (VOC: 1-based inclusive pixels)."""
    rows = []
    for obj in ET.parse(xml).getroot().findall("object"):
        box = obj.find("bndbox")
        rows.append((obj.findtext("name"), tuple(int(box.findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax"))))
    return sorted(rows)


def _patch_box(image: np.ndarray, colour: tuple[int, int, int]) -> tuple[int, int, int, int]:
    """The pixels of one colour as a VOC box: 1-based inclusive (xmin, ymin, xmax, ymax)."""
    ys, xs = np.nonzero(np.all(image == colour, axis=2))
    return int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1, int(ys.max()) + 1


# ---------------------------------------------------------------- VOC boxes through YOLO's 6-decimal text
PATCHES = [("cat", (0, 0, 255), (7, 3, 40, 22)), ("dog", (0, 255, 0), (36, 19, 51, 39)),
           ("cat", (255, 0, 0), (60, 40, 93, 59))]  # (name, BGR, (x1, y1, x2, y2) 0-based, end exclusive)
W, H = 97, 61  # sizes whose fractions are not exact in 6 decimals


def _painted() -> np.ndarray:
    image = np.zeros((H, W, 3), np.uint8)
    for _, colour, (x1, y1, x2, y2) in PATCHES:
        image[y1:y2, x1:x2] = colour
    return image


def test_yolo_to_voc_box_is_the_patch_not_a_pixel_more(tmp_path):
    """A YOLO box written (6 decimals) around whole pixels becomes the VOC box of exactly those
    pixels: the text's rounding (an edge at 50.99998 or 36.00002 px) is not a pixel of object."""
    src = tmp_path / "yolo"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    image = _painted()
    assert cv2.imwrite(str(src / "images" / "a.png"), image)
    names = ["cat", "dog"]
    lines = [f"{names.index(n)} {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f}"
             for n, _, (x1, y1, x2, y2) in PATCHES]
    (src / "labels" / "a.txt").write_text("\n".join(lines) + "\n")
    (src / "data.yaml").write_text(yaml.safe_dump({"names": names}))
    _run(src, tmp_path / "voc", "voc")
    expected = sorted((n, _patch_box(image, colour)) for n, colour, _ in PATCHES)
    assert _voc_boxes(tmp_path / "voc" / "Annotations" / "a.xml") == expected


def test_voc_to_yolo_to_voc_gives_the_same_boxes(tmp_path):
    """VOC -> YOLO -> VOC is the identity on boxes (each VOC box is whole pixels)."""
    src = tmp_path / "voc"
    (src / "JPEGImages").mkdir(parents=True)
    (src / "Annotations").mkdir()
    image = _painted()
    assert cv2.imwrite(str(src / "JPEGImages" / "a.png"), image)
    objects = "".join(
        f"<object><name>{n}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax>"
        f"</bndbox></object>" for n, b in ((n, _patch_box(image, c)) for n, c, _ in PATCHES))
    (src / "Annotations" / "a.xml").write_text(
        f"<annotation><filename>a.png</filename><size><width>{W}</width><height>{H}</height><depth>3</depth></size>"
        f"{objects}</annotation>")
    _run(src, tmp_path / "yolo", "yolo")
    _run(tmp_path / "yolo", tmp_path / "back", "voc")
    assert _voc_boxes(tmp_path / "back" / "Annotations" / "a.xml") == _voc_boxes(src / "Annotations" / "a.xml")


# ---------------------------------------------------------------- COCO category ids a mask cannot hold as they are
def test_coco_to_mask_keeps_category_ids_0_255_and_beyond_apart(tmp_path):
    """COCO category ids 0 (background in a mask), 255 (ignore) and 300 (past uint8) each get a
    mask value of their own that classes.yaml names: no object vanishes into the background or
    the ignore value, and the run does not crash."""
    src = tmp_path / "coco"
    (src / "annotations").mkdir(parents=True)
    (src / "images").mkdir()
    squares = {0: (2, 2, 12, 12), 255: (20, 2, 30, 12), 300: (2, 20, 12, 30), 4: (20, 20, 30, 30)}  # id -> x1 y1 x2 y2
    assert cv2.imwrite(str(src / "images" / "a.png"), np.zeros((40, 40, 3), np.uint8))
    anns = [{"id": i + 1, "image_id": 1, "category_id": cid, "bbox": [x1, y1, x2 - x1, y2 - y1], "iscrowd": 0,
             "segmentation": [[x1, y1, x2, y1, x2, y2, x1, y2]]} for i, (cid, (x1, y1, x2, y2)) in enumerate(squares.items())]
    (src / "annotations" / "instances.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 40}], "annotations": anns,
        "categories": [{"id": cid, "name": f"cat{cid}"} for cid in squares]}))
    _run(src, tmp_path / "mask", "mask")
    names = yaml.safe_load((tmp_path / "mask" / "classes.yaml").read_text())["names"]
    mask = cv2.imread(str(tmp_path / "mask" / "masks" / "a.png"), cv2.IMREAD_UNCHANGED)
    seen = set()
    for cid, (x1, y1, x2, y2) in squares.items():
        values = np.unique(mask[y1:y2, x1:x2])
        assert len(values) == 1 and 0 < values[0] < 255, (cid, values)
        assert names[int(values[0])] == f"cat{cid}"
        seen.add(int(values[0]))
    assert len(seen) == len(squares)
    assert np.count_nonzero(mask) == sum((x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in squares.values())


# ---------------------------------------------------------------- classes.txt: line i names class i
def test_classes_txt_blank_line_does_not_shift_the_classes_after_it(tmp_path):
    """darknet's obj.names and labelImg's classes.txt name class i on line i; a blank line in the
    list (a class removed by hand) leaves that id unnamed and does not rename every later class."""
    src = tmp_path / "yolo"
    src.mkdir()
    image = np.zeros((40, 60, 3), np.uint8)
    boxes = {"cat": (5, 5, 20, 20), "dog": (30, 10, 55, 35)}
    (src / "classes.txt").write_text("cat\n\ndog\n")
    lines = []
    for cls, (name, (x1, y1, x2, y2)) in zip((0, 2), boxes.items()):
        lines.append(f"{cls} {(x1 + x2) / 120:.6f} {(y1 + y2) / 80:.6f} {(x2 - x1) / 60:.6f} {(y2 - y1) / 40:.6f}")
    assert cv2.imwrite(str(src / "a.png"), image)
    (src / "a.txt").write_text("\n".join(lines) + "\n")
    _run(src, tmp_path / "coco", "coco")
    data = json.loads((tmp_path / "coco" / "annotations" / "instances.json").read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    got = sorted((names[a["category_id"]], tuple(round(v) for v in a["bbox"])) for a in data["annotations"])
    assert got == sorted((n, (x1, y1, x2 - x1, y2 - y1)) for n, (x1, y1, x2, y2) in boxes.items())


# ---------------------------------------------------------------- COCO crowd regions in other formats
def _coco_with_crowd(src: Path) -> None:
    """One person (a polygon) and one crowd region (iscrowd 1, RLE) in a 60x40 image."""
    (src / "annotations").mkdir(parents=True)
    (src / "images").mkdir()
    assert cv2.imwrite(str(src / "images" / "a.png"), np.zeros((40, 60, 3), np.uint8))
    crowd = np.zeros((40, 60), np.uint8)
    crowd[10:30, 30:55] = 1
    column_major = crowd.flatten(order="F")  # COCO RLE: run lengths over the mask read column by column
    changes = np.flatnonzero(np.diff(column_major)) + 1
    counts = np.diff(np.concatenate([[0], changes, [column_major.size]])).tolist()
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 20, 30], "iscrowd": 0,
             "segmentation": [[2, 2, 22, 2, 22, 32, 2, 32]]},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [30, 10, 25, 20], "iscrowd": 1,
             "segmentation": {"size": [40, 60], "counts": counts}}]
    (src / "annotations" / "instances.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 60, "height": 40}], "annotations": anns,
        "categories": [{"id": 1, "name": "person"}]}))


def test_coco_crowd_regions_are_left_out_of_yolo_and_difficult_in_voc(tmp_path):
    """YOLO has no crowd flag: a crowd region written there would train as one big person
    (Ultralytics' COCO converter leaves crowds out); VOC marks it difficult, the flag its
    evaluation ignores; COCO keeps it a crowd. The manifest counts what YOLO left out."""
    src = tmp_path / "coco"
    _coco_with_crowd(src)
    _run(src, tmp_path / "yolo", "yolo")
    lines = (tmp_path / "yolo" / "labels" / "a.txt").read_text().split("\n")
    rows = [[float(v) for v in ln.split()] for ln in lines if ln.strip()]
    assert len(rows) == 1
    xs, ys = np.array(rows[0][1::2]) * 60, np.array(rows[0][2::2]) * 40  # the person, not the crowd
    assert xs.max() <= 22 + 1e-3 and ys.min() >= 2 - 1e-3
    record = json.loads((tmp_path / "yolo" / "augcli-manifest.jsonl").read_text().splitlines()[0])
    assert record["objects"] == {"in": 2, "out": 1, "dropped": 1} and record["dropped"] == {"crowd": 1}

    _run(src, tmp_path / "voc", "voc")
    xml = next((tmp_path / "voc" / "Annotations").rglob("*.xml"))
    flags = sorted((int(o.find("bndbox").findtext("xmin")), int(o.findtext("difficult")))
                   for o in ET.parse(xml).getroot().findall("object"))
    assert flags == [(3, 0), (31, 1)]  # VOC is 1-based: the person from x 2, the crowd from x 30

    _run(src, tmp_path / "coco-out", "coco")
    written = json.loads(next((tmp_path / "coco-out" / "annotations").glob("*.json")).read_text())
    assert sorted(a["iscrowd"] for a in written["annotations"]) == [0, 1]

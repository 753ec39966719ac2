"""Pascal VOC at the edge: 1-based inclusive boxes checked against painted pixels, exact round trips,
flips followed by the pixels, hostile XML refused, size and clipping rules, ImageSets and class lists."""
from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

import augcli.api
import augcli.formats
from augcli.errors import InputError, UsageError
from augcli.formats import voc
from augcli.formats.base import Item
from augcli.sample import LabelSchema

W, H = 40, 30  # pixels
GREY = (128, 128, 128)
COLOURS = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255)]  # BGR, one per object
NAMES = ("cat", "dog")

# (name, xmin, ymin, xmax, ymax, extra tags): 1-based inclusive; the whole image, a single pixel, and edges
OBJECTS = [
    ("dog", 3, 4, 12, 9, {"difficult": 1, "truncated": 0, "pose": "Left"}),
    ("cat", 20, 15, 20, 15, {"difficult": 0, "truncated": 1, "occluded": 1}),  # one pixel
    ("cat", 30, 1, 40, 8, {}),  # touches the top and right edges
    ("dog", 1, 20, 6, 30, {"difficult": 0, "truncated": 0}),  # touches the left and bottom edges
]


@pytest.fixture(autouse=True)
def voc_registered(monkeypatch):
    monkeypatch.setitem(augcli.formats.FORMATS, "voc", "augcli.formats.voc")


def object_xml(name, xmin, ymin, xmax, ymax, extra) -> str:
    tags = "".join(f"<{k}>{v}</{k}>" for k, v in extra.items())
    return (f"<object><name>{name}</name>{tags}<bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
            f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>")


def annotation_xml(filename: str, objects, size: tuple[int, int] | None = (W, H)) -> str:
    size_xml = f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>" if size else ""
    body = "".join(object_xml(*o) for o in objects)
    return f"<annotation><folder>VOC</folder><filename>{filename}</filename>{size_xml}<segmented>0</segmented>{body}</annotation>"


def paint(objects, size=(W, H)) -> np.ndarray:
    """Grey image; object i fills 0-based pixels [xmin-1, xmax) x [ymin-1, ymax) with COLOURS[i]."""
    image = np.full((size[1], size[0], 3), GREY, np.uint8)
    for i, (_, xmin, ymin, xmax, ymax, _) in enumerate(objects):
        image[ymin - 1:ymax, xmin - 1:xmax] = COLOURS[i]
    return image


def colour_box(image: np.ndarray, colour) -> tuple[int, int, int, int]:
    """Oracle: the continuous pixel box (x1, y1, x2, y2) that exactly covers the pixels of `colour`."""
    ys, xs = np.nonzero(np.all(image == np.array(colour, np.uint8), axis=2))
    assert len(xs), f"colour {colour} not found"
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def write_voc(root: Path, images: dict[str, list], *, sizes: dict[str, tuple[int, int] | None] | None = None,
              xml: dict[str, str] | None = None, names: str | None = None) -> Path:
    """JPEGImages/<id>.png painted per `images`, Annotations/<id>.xml; `xml` overrides an annotation's text."""
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    sizes = sizes or {}
    for image_id, objects in images.items():
        assert cv2.imwrite(str(root / "JPEGImages" / f"{image_id}.png"), paint(objects))
        text = (xml or {}).get(image_id) or annotation_xml(f"{image_id}.png", objects, sizes.get(image_id, (W, H)))
        (root / "Annotations" / f"{image_id}.xml").write_text(text, encoding="utf-8")
    if names is not None:
        (root / "labelmap.txt").write_text(names, encoding="utf-8")
    return root


def load_item(root: Path, key: str):
    dataset = voc.scan(root)
    item = next(i for i in dataset.items if i.key == key)
    return voc.load(item, dataset.schema, 10**8), dataset


def run(src: Path, out: Path, recipe: dict, **kwargs):
    logs: list[str] = []
    report = augcli.api.run(recipe, src, out, workers=kwargs.pop("workers", 1), input_format="voc",
                            output_format="voc", log=logs.append, **kwargs)
    return report, logs


def read_manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "augcli-manifest.jsonl").read_text().splitlines()]


def bndboxes(xml_path: Path) -> list[dict[str, str]]:
    out = []
    for obj in ET.parse(xml_path).getroot().findall("object"):
        row = {t: obj.findtext(f"bndbox/{t}") for t in ("xmin", "ymin", "xmax", "ymax")}
        row.update({t: obj.findtext(t) for t in ("name", "difficult", "truncated", "occluded", "pose")})
        out.append(row)
    return out


CONVERT = {"pipeline": []}
FLIP = {"seed": 1, "copies": 1, "keep_original": False, "pipeline": [{"type": "HorizontalFlip", "p": 1.0}]}


# ---------------------------------------------------------------- detect and scan
def test_detect(tmp_path):
    src = write_voc(tmp_path / "in", {"a": OBJECTS})
    assert voc.detect(src) == 0.9
    assert voc.detect(tmp_path) == 0.0
    assert augcli.formats.detect_format(src) == "voc"


def test_scan_items_classes_and_background_image(tmp_path):
    src = write_voc(tmp_path / "in", {"a": OBJECTS, "b": OBJECTS[:1]})
    assert cv2.imwrite(str(src / "JPEGImages" / "bg.png"), paint([]))
    dataset = voc.scan(src)
    assert [i.key for i in dataset.items] == ["JPEGImages/a.png", "JPEGImages/b.png", "JPEGImages/bg.png"]
    assert dataset.schema.names == {0: "cat", 1: "dog"}  # sorted names from the XMLs
    assert dataset.schema.zero_based_ids
    assert dataset.items[0].label == str(src / "Annotations" / "a.xml")
    assert dataset.items[2].label is None
    loaded = voc.load(dataset.items[2], dataset.schema, 10**8)
    assert len(loaded.sample.objects) == 0 and loaded.warnings == []


def test_unmatched_annotation_and_shared_stem_are_noted(tmp_path):
    src = write_voc(tmp_path / "in", {"a": OBJECTS})
    (src / "Annotations" / "ghost.xml").write_text(annotation_xml("ghost.png", OBJECTS[:1]))
    assert cv2.imwrite(str(src / "JPEGImages" / "a.jpg"), paint([]))
    dataset = voc.scan(src)
    assert [i.key for i in dataset.items] == ["JPEGImages/a.jpg"]
    assert any("ghost.xml" in n and "no image" in n for n in dataset.notes)
    assert any("a.png" in n and "only that one" in n for n in dataset.notes)


# ---------------------------------------------------------------- 1-based inclusive boxes against the pixels
def test_boxes_are_one_based_inclusive_against_painted_pixels(tmp_path):
    src = write_voc(tmp_path / "in", {"a": OBJECTS})
    loaded, dataset = load_item(src, "JPEGImages/a.png")
    assert loaded.warnings == []
    objects = loaded.sample.objects
    assert [dataset.schema.names[c] for c in objects.classes] == [o[0] for o in OBJECTS]
    for i in range(len(OBJECTS)):
        assert objects.boxes[i].tolist() == list(colour_box(loaded.sample.image, COLOURS[i]))
    assert objects.boxes[1].tolist() == [19, 14, 20, 15]  # xmin = xmax = 20: one pixel wide


def test_whole_image_box_spans_the_canvas(tmp_path):
    src = write_voc(tmp_path / "in", {"a": [("cat", 1, 1, W, H, {})]})
    loaded, _ = load_item(src, "JPEGImages/a.png")
    assert loaded.sample.objects.boxes[0].tolist() == [0, 0, W, H]
    assert loaded.warnings == []


def test_object_flags_and_pose_are_kept(tmp_path):
    src = write_voc(tmp_path / "in", {"a": OBJECTS})
    loaded, _ = load_item(src, "JPEGImages/a.png")
    assert loaded.sample.objects.attrs == [
        {"difficult": 1, "truncated": 0, "pose": "Left"},
        {"difficult": 0, "truncated": 1, "occluded": 1},
        {},
        {"difficult": 0, "truncated": 0},
    ]


@pytest.mark.parametrize("op, pose", [
    ({"type": "HorizontalFlip"}, "Right"),      # mirrored left-right: it now faces right
    ({"type": "VerticalFlip"}, "Left"),         # upside down, still facing left
    ({"type": "Rotate90", "k": 2}, "Right"),    # a half turn faces the other way
    ({"type": "Rotate90", "k": 1}, "Unspecified"),  # a quarter turn: it faces up or down
    ({"type": "Rotate", "degrees": [10, 10]}, "Left"),
])
def test_pose_follows_the_geometry(tmp_path, op, pose):
    src = write_voc(tmp_path / "in", {"a": OBJECTS})
    recipe = {"seed": 1, "copies": 1, "keep_original": False, "pipeline": [{**op, "p": 1.0}]}
    report, logs = run(src, tmp_path / "out", recipe)
    assert report.exit_code == 0, logs
    rows = bndboxes(tmp_path / "out" / "Annotations" / "a_aug1.xml")
    assert [r["pose"] for r in rows if r["difficult"] == "1"] == [pose]  # the one object with a pose
    assert {r["pose"] for r in rows if r["difficult"] != "1"} == {"Unspecified"}  # had none: still none


# ---------------------------------------------------------------- round trips through a run
def test_conversion_round_trip_reproduces_every_bndbox(tmp_path):
    images = {"a": OBJECTS, "b": OBJECTS[1:3]}
    src = write_voc(tmp_path / "in", images)
    report, _ = run(src, tmp_path / "out", CONVERT)
    assert report.exit_code == 0 and report.outputs == 2
    for image_id in images:
        before = bndboxes(src / "Annotations" / f"{image_id}.xml")
        after = bndboxes(tmp_path / "out" / "Annotations" / f"{image_id}.xml")
        for b, a in zip(before, after, strict=True):
            for tag in ("name", "xmin", "ymin", "xmax", "ymax", "occluded"):
                assert a[tag] == b[tag]
            assert a["difficult"] == (b["difficult"] or "0") and a["truncated"] == (b["truncated"] or "0")
            assert a["pose"] == (b["pose"] or "Unspecified")
        assert (tmp_path / "out" / "JPEGImages" / f"{image_id}.png").read_bytes() == \
            (src / "JPEGImages" / f"{image_id}.png").read_bytes()
    root = ET.parse(tmp_path / "out" / "Annotations" / "a.xml").getroot()
    assert root.findtext("filename") == "a.png"
    assert [root.findtext(f"size/{t}") for t in ("width", "height", "depth")] == [str(W), str(H), "3"]
    assert root.findtext("segmented") == "0"
    labelmap = (tmp_path / "out" / "labelmap.txt").read_text().splitlines()
    assert labelmap[1:] == ["cat:::", "dog:::"]


def test_output_is_read_back_identically(tmp_path):
    src = write_voc(tmp_path / "in", {"a": OBJECTS})
    run(src, tmp_path / "out", CONVERT)
    first, _ = load_item(src, "JPEGImages/a.png")
    again, _ = load_item(tmp_path / "out", "JPEGImages/a.png")
    assert again.sample.objects.boxes.tolist() == first.sample.objects.boxes.tolist()
    assert again.sample.objects.classes.tolist() == first.sample.objects.classes.tolist()


def test_horizontal_flip_moves_boxes_with_the_pixels(tmp_path):
    src = write_voc(tmp_path / "in", {"a": OBJECTS})
    report, _ = run(src, tmp_path / "out", {**FLIP, "labels": {"min_area": 1}})
    assert report.exit_code == 0 and report.outputs == 1
    image = cv2.imread(str(tmp_path / "out" / "JPEGImages" / "a_aug1.png"))
    boxes = bndboxes(tmp_path / "out" / "Annotations" / "a_aug1.xml")
    assert len(boxes) == len(OBJECTS)
    for i, row in enumerate(boxes):
        x1, y1, x2, y2 = colour_box(image, COLOURS[i])
        assert [int(row[t]) for t in ("xmin", "ymin", "xmax", "ymax")] == [x1 + 1, y1 + 1, x2, y2]
        assert row["name"] == OBJECTS[i][0]
    assert boxes[0]["difficult"] == "1" and boxes[1]["truncated"] == "1"


def test_writing_is_deterministic_across_runs_and_workers(tmp_path):
    src = write_voc(tmp_path / "in", {"a": OBJECTS, "b": OBJECTS[:2], "c": OBJECTS[2:]})
    recipe = {"seed": 3, "copies": 2, "pipeline": [{"type": "HorizontalFlip", "p": 0.5}]}
    run(src, tmp_path / "one", recipe)
    run(src, tmp_path / "two", recipe, workers=2)
    xmls = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.xml"))
    assert len(xmls) == 9
    for rel in xmls:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()


def test_crop_out_of_view_sets_truncated():
    schema = LabelSchema({0: "cat"})
    objects = voc.Objects(np.array([0]), np.array([[0.0, 2.0, 10.0, 12.0]]), [None], visibility=np.array([0.6]),
                          attrs=[{"truncated": 0}])
    xml = ET.fromstring(voc.format_annotation("JPEGImages/a.png", objects, schema, (20, 20)))
    assert xml.findtext("object/truncated") == "1"


@pytest.mark.parametrize("box, expected", [
    ([0.0, 0.0, 40.0, 30.0], (1, 1, 40, 30)),
    ([2.5, 3.2, 7.5, 9.01], (3, 4, 8, 10)),  # partial pixels are covered, never cut
    ([4.0, 5.0, 6.0, 7.0], (5, 6, 6, 7)),
    ([3.9999999999, 5.0000000001, 6.0000000001, 6.9999999999], (5, 6, 6, 7)),  # float noise snaps
])
def test_voc_box_covers_the_continuous_box(box, expected):
    assert voc.voc_box(np.array(box)) == expected


# ---------------------------------------------------------------- hostile XML
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<annotation><filename>bomb.png</filename><object><name>&lol9;</name>
<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>
"""


def external_entity_xml(secret: Path) -> str:
    return f"""<?xml version="1.0"?>
<!DOCTYPE annotation [ <!ENTITY xxe SYSTEM "file://{secret}"> ]>
<annotation><filename>xxe.png</filename><object><name>&xxe;</name>
<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>
"""


def test_entity_bomb_and_external_entity_are_refused_and_skipped(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("cat")  # a valid class name: would be accepted if the entity were resolved
    src = write_voc(tmp_path / "in", {"bomb": OBJECTS[:1], "good": OBJECTS, "xxe": OBJECTS[:1]},
                    xml={"bomb": BILLION_LAUGHS, "xxe": external_entity_xml(secret)})
    started = time.monotonic()
    report, logs = run(src, tmp_path / "out", CONVERT)
    assert time.monotonic() - started < 20
    assert report.exit_code == 1
    assert report.outputs == 1
    assert sorted(k for k, _, _ in report.skipped) == ["JPEGImages/bomb.png", "JPEGImages/xxe.png"]
    for key, reason, message in report.skipped:
        assert reason == "bad-label"
        assert message.startswith(f"Annotations/{Path(key).stem}.xml: refused:")
        assert "DOCTYPE" in message
    assert any("bomb.xml" in line and "refused" in line for line in logs if line.startswith("warning:"))
    assert (tmp_path / "out" / "Annotations" / "good.xml").is_file()
    assert not (tmp_path / "out" / "Annotations" / "xxe.xml").exists()


@pytest.mark.parametrize("text, words", [
    ('<!DOCTYPE annotation SYSTEM "http://example.invalid/voc.dtd"><annotation/>', "DOCTYPE"),
    ("<annotation><object></annotation>", "not well-formed"),
])
def test_read_xml_refuses_dtds_and_reports_malformed(text, words):
    with pytest.raises(InputError) as info:
        voc.read_xml(text.encode(), "Annotations/x.xml")
    assert info.value.reason == "bad-label" and info.value.path == "Annotations/x.xml"
    assert words in info.value.message


def test_unparseable_annotation_is_noted_at_scan_and_raised_at_load(tmp_path):
    src = write_voc(tmp_path / "in", {"a": OBJECTS, "broken": OBJECTS[:1]}, xml={"broken": "<annotation><object>"})
    dataset = voc.scan(src)
    assert dataset.schema.names == {0: "cat", 1: "dog"}
    assert any("Annotations/broken.xml" in n and "skipped" in n for n in dataset.notes)
    item = next(i for i in dataset.items if i.key == "JPEGImages/broken.png")
    with pytest.raises(InputError, match="not well-formed"):
        voc.load(item, dataset.schema, 10**8)


# ---------------------------------------------------------------- size and box rules
def test_missing_size_uses_the_decoded_image(tmp_path):
    src = write_voc(tmp_path / "in", {"a": OBJECTS}, sizes={"a": None})
    loaded, _ = load_item(src, "JPEGImages/a.png")
    assert loaded.warnings == []
    assert loaded.sample.objects.boxes[0].tolist() == list(colour_box(loaded.sample.image, COLOURS[0]))


def test_size_that_disagrees_warns(tmp_path):
    src = write_voc(tmp_path / "in", {"a": OBJECTS}, sizes={"a": (W * 2, H)})
    loaded, _ = load_item(src, "JPEGImages/a.png")
    assert len(loaded.warnings) == 1
    assert loaded.warnings[0].startswith("Annotations/a.xml: <size> says 80x30 but the image is 40x30")


def test_box_partly_outside_is_clipped_with_a_warning(tmp_path):
    objects = [("cat", 35, 0, 45, 10, {})]  # xmax beyond W, ymin 0 (a 0-based tool) above the top
    src = write_voc(tmp_path / "in", {"a": OBJECTS[:1]}, xml={"a": annotation_xml("a.png", objects)})
    loaded, _ = load_item(src, "JPEGImages/a.png")
    assert loaded.sample.objects.boxes[0].tolist() == [34, 0, W, 10]
    assert len(loaded.warnings) == 1 and "object 1 (cat)" in loaded.warnings[0] and "clipped" in loaded.warnings[0]


@pytest.mark.parametrize("obj, words", [
    (("cat", 50, 1, 60, 5, {}), "wholly outside"),
    (("cat", 1, -20, 5, 0, {}), "wholly outside"),
    (("cat", 10, 1, 5, 5, {}), "inverted"),
    (("cat", 1, 1, "nan", 5, {}), "<xmax> is nan"),
    (("cat", 1, 1, "", 5, {}), "<xmax> is missing"),
    (("cat", 1, 1, "x", 5, {}), "'x' is not a number"),
    (("bird", 1, 1, 5, 5, {}), "class 'bird' is not in the class list"),
    (("cat", 1, 1, 5, 5, {"difficult": "maybe"}), "<difficult> is 'maybe'"),
])
def test_bad_objects_name_the_file_and_object(tmp_path, obj, words):
    text = annotation_xml("a.png", [("dog", 2, 2, 4, 4, {}), obj])
    src = write_voc(tmp_path / "in", {"a": OBJECTS[:1]}, xml={"a": text}, names="cat\ndog\n")
    dataset = voc.scan(src)
    with pytest.raises(InputError) as info:
        voc.load(dataset.items[0], dataset.schema, 10**8)
    assert info.value.path == "Annotations/a.xml"
    assert info.value.message.startswith("object 2")
    assert words in info.value.message


def test_bad_object_skips_only_that_item_in_a_run(tmp_path):
    bad = annotation_xml("b.png", [("cat", 10, 1, 5, 5, {})])
    src = write_voc(tmp_path / "in", {"a": OBJECTS, "b": OBJECTS[:1]}, xml={"b": bad})
    report, logs = run(src, tmp_path / "out", CONVERT)
    assert report.exit_code == 1 and report.outputs == 1
    assert report.skipped[0][:2] == ("JPEGImages/b.png", "bad-label")
    assert any(line.startswith("skipped: Annotations/b.xml: object 1 (cat): inverted") for line in logs)


# ---------------------------------------------------------------- class lists
def test_cvat_labelmap_gives_the_class_list(tmp_path):
    labelmap = "# label:color_rgb:parts:actions\nbackground:0,0,0::\ndog:128,0,0::\ncat:0,128,0::\n"
    src = write_voc(tmp_path / "in", {"a": OBJECTS}, names=labelmap)
    loaded, dataset = load_item(src, "JPEGImages/a.png")
    assert dataset.schema.names == {0: "background", 1: "dog", 2: "cat"}
    assert loaded.sample.objects.classes.tolist() == [1, 2, 2, 1]
    run(src, tmp_path / "out", CONVERT)
    assert voc.scan(tmp_path / "out").schema.names == dataset.schema.names


def test_classes_txt_gives_the_class_list(tmp_path):
    src = write_voc(tmp_path / "in", {"a": OBJECTS})
    (src / "classes.txt").write_text("dog\ncat\nbird\n")
    assert voc.scan(src).schema.names == {0: "dog", 1: "cat", 2: "bird"}


def test_class_names_with_colons_survive_through_classes_txt(tmp_path):
    """labelmap.txt (name:color:parts:actions) cannot hold 'car:red': the list goes to classes.txt,
    and a labelmap.txt left by an earlier run into the same folder goes away (it would be read first)."""
    out = tmp_path / "out"
    plain = write_voc(tmp_path / "plain", {"a": OBJECTS})
    assert run(plain, out, CONVERT)[0].exit_code == 0
    assert (out / "labelmap.txt").is_file()
    objects = [("car:red", 3, 4, 12, 9, {}), ("car:blue", 20, 15, 20, 15, {}), ("bus", 30, 1, 40, 8, {})]
    src = write_voc(tmp_path / "in", {"a": objects})
    (src / "classes.txt").write_text("car:red\ncar:blue\nbus\n")
    report, logs = run(src, out, CONVERT, overwrite=True)
    assert report.exit_code == 0, logs
    assert not (out / "labelmap.txt").exists()
    assert (out / "classes.txt").read_text() == "car:red\ncar:blue\nbus\n"
    assert [r["name"] for r in bndboxes(out / "Annotations" / "a.xml")] == ["car:red", "car:blue", "bus"]
    loaded, dataset = load_item(out, "JPEGImages/a.png")
    assert dataset.schema.names == {0: "car:red", 1: "car:blue", 2: "bus"}
    assert [dataset.schema.names[c] for c in loaded.sample.objects.classes] == ["car:red", "car:blue", "bus"]
    assert run(plain, out, CONVERT, overwrite=True)[0].exit_code == 0  # and back: a labelmap, no classes.txt
    assert (out / "labelmap.txt").is_file() and not (out / "classes.txt").exists()


def test_class_name_voc_cannot_keep_is_refused_before_writing(tmp_path):
    src = write_voc(tmp_path / "in", {"a": [("#tag", 3, 4, 12, 9, {}), ("dog", 20, 15, 20, 15, {})]})
    with pytest.raises(UsageError, match="class '#tag' cannot be written to VOC"):
        run(src, tmp_path / "out", CONVERT)  # labelmap.txt and classes.txt both read '#tag' as a comment
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", [" car", "car ", "", "a\nb", "a\u2028b", "#x", "a\x01b"])
def test_writer_refuses_class_names_voc_cannot_keep(tmp_path, name):
    with pytest.raises(UsageError, match=re.escape(f"class {name!r} cannot be written to VOC")):
        voc.Writer(tmp_path, LabelSchema({0: "cat", 1: name}, zero_based_ids=True))


# ---------------------------------------------------------------- ImageSets
def test_imagesets_splits_are_read_and_written(tmp_path):
    src = write_voc(tmp_path / "in", {"a": OBJECTS, "b": OBJECTS[:1], "c": OBJECTS[1:], "d": OBJECTS[2:]})
    sets = src / "ImageSets" / "Main"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("a\nc\n")
    (sets / "val.txt").write_text("b\n")
    (sets / "trainval.txt").write_text("a\nb\nc\nd\n")  # ignored: train/val files exist
    (sets / "cat_train.txt").write_text("a  1\nc -1\n")  # per-class lists are not splits
    dataset = voc.scan(src)
    assert {i.key: i.split for i in dataset.items} == {
        "JPEGImages/a.png": "train", "JPEGImages/b.png": "val", "JPEGImages/c.png": "train", "JPEGImages/d.png": None}
    assert any("1 image(s) are in no" in n for n in dataset.notes)
    recipe = {"copies": 1, "pipeline": [{"type": "HorizontalFlip", "p": 1.0}], "labels": {"min_area": 1}}
    report, _ = run(src, tmp_path / "out", recipe)
    assert report.exit_code == 0
    out_sets = tmp_path / "out" / "ImageSets" / "Main"
    listed: dict[str, list[str]] = {}  # what each split file must hold: the outputs of that split, in order
    for rec in read_manifest(tmp_path / "out"):
        if rec.get("split"):
            listed.setdefault(rec["split"], []).append(Path(rec["output"]).stem)
    assert listed["train"] == ["a", "a_aug1", "c", "c_aug1"]
    assert (out_sets / "train.txt").read_text() == "".join(i + "\n" for i in listed["train"])
    assert (out_sets / "val.txt").read_text() == "".join(i + "\n" for i in listed["val"])
    assert (out_sets / "trainval.txt").read_text() == "".join(i + "\n" for i in listed["train"] + listed["val"])
    assert not (out_sets / "test.txt").exists()
    again = voc.scan(tmp_path / "out")
    assert {i.key: i.split for i in again.items}["JPEGImages/c_aug1.png"] == "train"


def test_trainval_is_used_when_there_is_no_train_or_val(tmp_path):
    src = write_voc(tmp_path / "in", {"a": OBJECTS, "b": OBJECTS[:1]})
    (src / "ImageSets" / "Main").mkdir(parents=True)
    (src / "ImageSets" / "Main" / "trainval.txt").write_text("a\nb\nzzz\n")
    (src / "ImageSets" / "Main" / "test.txt").write_text("a\n")
    dataset = voc.scan(src)
    assert [i.split for i in dataset.items] == ["trainval", "trainval"]  # the first list naming an id wins
    assert any("zzz" not in n and "1 id(s) have no image" in n for n in dataset.notes)
    assert any("a is already in trainval" in n for n in dataset.notes)


def test_no_imagesets_without_splits(tmp_path):
    src = write_voc(tmp_path / "in", {"a": OBJECTS})
    run(src, tmp_path / "out", CONVERT)
    assert not (tmp_path / "out" / "ImageSets").exists()


def test_imagesets_line_is_the_whole_id(tmp_path):
    """An id may hold spaces ('my cat é'); stray blank space around a line is ignored, an id that
    begins or ends with a space is read as written, and the class-specific form `id  1` / `id -1`
    still names `id` (unless the whole line is an id itself)."""
    ids = ["my cat é", "a", "b", "c", "d", "d 1", " lead", "trail "]
    src = write_voc(tmp_path / "in", {i: OBJECTS[:1] for i in ids})
    sets = src / "ImageSets" / "Main"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("my cat é\n  a \t\nb  1\nc -1\nd 1\n lead\ntrail \n", encoding="utf-8")
    (sets / "val.txt").write_text("d\n")
    dataset = voc.scan(src)
    expected = {f"JPEGImages/{i}.png": "val" if i == "d" else "train" for i in ids}
    assert {i.key: i.split for i in dataset.items} == expected
    assert not [n for n in dataset.notes if "ImageSets" in n]
    report, logs = run(src, tmp_path / "out", CONVERT)
    assert report.exit_code == 0, logs
    train = (tmp_path / "out" / "ImageSets" / "Main" / "train.txt").read_text(encoding="utf-8").splitlines()
    assert sorted(train) == sorted(i for i in ids if i != "d")
    again = voc.scan(tmp_path / "out")
    assert {i.key: i.split for i in again.items} == expected
    assert not [n for n in again.notes if "ImageSets" in n]


@pytest.mark.parametrize("stem, words", [("a\u2028b", "line break"), ("a\x85b", "line break"), (" ", "blank space")])
def test_id_that_cannot_be_an_imagesets_line_is_refused(tmp_path, stem, words):
    src = write_voc(tmp_path / "in", {"ok": OBJECTS[:1], stem: OBJECTS[:1]})
    report, _ = run(src, tmp_path / "out", CONVERT, splits={"train": 1.0})
    assert report.exit_code == 1 and report.outputs == 1
    [(key, reason, message)] = report.skipped
    assert (key, reason) == (f"JPEGImages/{stem}.png", "bad-name")
    assert message.startswith(f"JPEGImages/{stem}.png: ") and "ImageSets/Main/train.txt" in message and words in message
    assert not (tmp_path / "out" / "Annotations" / f"{stem}.xml").exists()
    assert (tmp_path / "out" / "ImageSets" / "Main" / "train.txt").read_text() == "ok\n"
    report, _ = run(src, tmp_path / "flat", CONVERT)  # no split: it is in no list, and is written
    assert report.exit_code == 0 and report.outputs == 2


# ---------------------------------------------------------------- layout and safety
def test_subfolders_below_jpegimages_are_kept(tmp_path):
    src = write_voc(tmp_path / "in", {})
    (src / "JPEGImages" / "cam1").mkdir()
    (src / "Annotations" / "cam1").mkdir()
    assert cv2.imwrite(str(src / "JPEGImages" / "cam1" / "f.png"), paint(OBJECTS))
    (src / "Annotations" / "cam1" / "f.xml").write_text(annotation_xml("f.png", OBJECTS))
    report, _ = run(src, tmp_path / "out", {**FLIP, "labels": {"min_area": 1}})
    assert report.exit_code == 0
    assert (tmp_path / "out" / "JPEGImages" / "cam1" / "f_aug1.png").is_file()
    assert len(bndboxes(tmp_path / "out" / "Annotations" / "cam1" / "f_aug1.xml")) == 4
    assert voc.image_id("JPEGImages/cam1/f_aug1.png") == "cam1/f_aug1"


def test_links_out_of_the_root_are_not_read(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    assert cv2.imwrite(str(outside / "x.png"), paint([]))
    (outside / "x.xml").write_text(annotation_xml("x.png", OBJECTS))
    src = write_voc(tmp_path / "in", {"a": OBJECTS})
    (src / "JPEGImages" / "x.png").symlink_to(outside / "x.png")
    (src / "Annotations" / "a.xml").unlink()
    (src / "Annotations" / "a.xml").symlink_to(outside / "x.xml")
    dataset = voc.scan(src)
    assert [i.key for i in dataset.items] == ["JPEGImages/a.png"]
    assert dataset.items[0].label is None
    assert any("JPEGImages/x.png" in n and "outside" in n for n in dataset.notes)
    assert any("Annotations/a.xml" in n and "outside" in n for n in dataset.notes)


def test_load_refuses_an_annotation_outside_the_root(tmp_path):
    outside = tmp_path / "x.xml"
    outside.write_text(annotation_xml("a.png", OBJECTS))
    src = write_voc(tmp_path / "in", {"a": OBJECTS})
    (src / "Annotations" / "a.xml").unlink()
    (src / "Annotations" / "a.xml").symlink_to(outside)  # a link leading out of the dataset
    item = Item("JPEGImages/a.png", str(src), label_rel="Annotations/a.xml")
    with pytest.raises(InputError, match="outside the input folder"):
        voc.load(item, LabelSchema({0: "cat", 1: "dog"}), 10**8)


def test_yolo_to_voc_boxes_cover_the_yolo_boxes(tmp_path, yolo_dataset):
    logs: list[str] = []
    report = augcli.api.run(CONVERT, yolo_dataset, tmp_path / "out", workers=1, input_format="yolo",
                            output_format="voc", log=logs.append)
    assert report.exit_code == 0
    assert (tmp_path / "out" / "labelmap.txt").read_text().splitlines()[1:] == ["cat:::", "dog:::"]
    manifest = read_manifest(tmp_path / "out")
    assert manifest[0]["output"] == "JPEGImages/img0.png" and manifest[0]["label"] == "Annotations/img0.xml"
    cx, cy, bw, bh = (float(v) for v in (yolo_dataset / "labels" / "img0.txt").read_text().split()[1:])
    row = bndboxes(tmp_path / "out" / "Annotations" / "img0.xml")[0]
    w, h = 64, 48
    assert int(row["xmin"]) - 1 <= (cx - bw / 2) * w < int(row["xmin"])
    assert int(row["xmax"]) - 1 < (cx + bw / 2) * w <= int(row["xmax"])
    assert int(row["ymin"]) - 1 <= (cy - bh / 2) * h < int(row["ymin"])
    assert int(row["ymax"]) - 1 < (cy + bh / 2) * h <= int(row["ymax"])


def test_mask_to_voc_writes_a_tight_box_per_region(tmp_path):
    """A box-only target gets one box per connected region of each class value of a mask
    (255 = ignore gives none), covering exactly that region's pixels."""
    src = tmp_path / "in"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    mask = np.zeros((H, W), np.uint8)
    regions = [("road", 1, (2, 3, 15, 9)), ("car", 2, (20, 4, 24, 25)), ("car", 2, (30, 20, 38, 28)),
               ("road", 1, (39, 0, 40, 1))]  # (name, value, (x1, y1, x2, y2) 0-based, end exclusive); one pixel
    for _, value, (x1, y1, x2, y2) in regions:
        mask[y1:y2, x1:x2] = value
    mask[26:30, 0:10] = 255  # ignore
    assert cv2.imwrite(str(src / "images" / "m.png"), paint([]))
    assert cv2.imwrite(str(src / "masks" / "m.png"), mask)
    (src / "classes.yaml").write_text("names:\n  0: background\n  1: road\n  2: car\n")
    logs: list[str] = []
    report = augcli.api.run(CONVERT, src, tmp_path / "out", workers=1, input_format="mask", output_format="voc",
                            log=logs.append)
    assert report.exit_code == 0, logs
    rows = bndboxes(tmp_path / "out" / "Annotations" / "m.xml")
    got = sorted((r["name"], *(int(r[t]) for t in ("xmin", "ymin", "xmax", "ymax"))) for r in rows)
    assert got == sorted((name, x1 + 1, y1 + 1, x2, y2) for name, _, (x1, y1, x2, y2) in regions)
    loaded, dataset = load_item(tmp_path / "out", "JPEGImages/m.png")
    assert sorted(dataset.schema.names[c] for c in loaded.sample.objects.classes) == ["car", "car", "road", "road"]

"""YOLO format at the edge: label parsing (pixels out, errors naming file:line), writing back, folder layouts, data.yaml."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from augcli.errors import AugcliError, InputError
from augcli.formats import detect_format, yolo
from augcli.sample import LabelSchema

SIZE = (64, 48)  # (width, height) pixels
W, H = SIZE
NAMES = LabelSchema({0: "cat", 1: "dog", 2: "bird"})
POSE_17_3 = LabelSchema({0: "person"}, (17, 3))
POSE_4_2 = LabelSchema({0: "hand"}, (4, 2))


def parse(text: str, schema: LabelSchema = NAMES, size=SIZE):
    return yolo.parse_labels(text, "labels/a.txt", schema, size)


def parse_error(text: str, schema: LabelSchema = NAMES) -> InputError:
    with pytest.raises(InputError) as info:
        parse(text, schema)
    assert info.value.reason == "bad-label"
    assert info.value.path == "labels/a.txt"
    return info.value


def rows(text: str) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in text.splitlines() if line.strip()]


def pose_line(k: int, d: int, cls: int = 0) -> tuple[str, np.ndarray]:
    """A pose row with k keypoints of d values; the last keypoint is unlabelled (0 0 [0])."""
    kp = []
    for j in range(k):
        if j == k - 1:
            kp.append([0.0, 0.0] + ([0.0] if d == 3 else []))
        else:
            kp.append([0.3 + 0.02 * j, 0.35 + 0.015 * j] + ([float(1 + j % 2)] if d == 3 else []))
    values = [cls, 0.5, 0.5, 0.6, 0.7] + [v for p in kp for v in p]
    return " ".join(f"{v:g}" for v in values) + "\n", np.array(kp)


# ---------------------------------------------------------------- parse_labels: the three kinds
def test_detect_line_to_pixels():
    objects, warnings = parse("1 0.5 0.25 0.5 0.25\n")
    assert warnings == []
    assert objects.classes.tolist() == [1]
    assert objects.boxes[0] == pytest.approx([0.25 * W, 0.125 * H, 0.75 * W, 0.375 * H])
    assert objects.polygons == [None]
    assert objects.keypoints is None


def test_polygon_line_to_pixels():
    objects, warnings = parse("2 0.1 0.1 0.9 0.1 0.5 0.9\n")
    assert warnings == []
    assert objects.classes.tolist() == [2]
    assert objects.polygons[0] == pytest.approx(np.array([[0.1 * W, 0.1 * H], [0.9 * W, 0.1 * H], [0.5 * W, 0.9 * H]]))
    assert objects.boxes[0] == pytest.approx([0.1 * W, 0.1 * H, 0.9 * W, 0.9 * H])


def test_mixed_detect_and_polygon_lines():
    objects, _ = parse("0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.2 0.1 0.2 0.2 0.1 0.2\n")
    assert objects.classes.tolist() == [0, 1]
    assert objects.polygons[0] is None and objects.polygons[1].shape == (4, 2)


def test_pose_line_17x3():
    line, kp = pose_line(17, 3)
    objects, warnings = parse(line, POSE_17_3)
    assert warnings == []
    assert objects.keypoints.shape == (1, 17, 3)
    assert objects.keypoints[0, :, 0] == pytest.approx(kp[:, 0] * W)
    assert objects.keypoints[0, :, 1] == pytest.approx(kp[:, 1] * H)
    assert objects.keypoints[0, :, 2].tolist() == kp[:, 2].tolist()
    assert objects.boxes[0] == pytest.approx([0.2 * W, 0.15 * H, 0.8 * W, 0.85 * H])


def test_pose_line_4x2_infers_visibility():
    line, kp = pose_line(4, 2)
    objects, _ = parse(line, POSE_4_2)
    assert objects.keypoints.shape == (1, 4, 3)
    assert objects.keypoints[0, :3, :2] == pytest.approx(kp[:3] * [W, H])
    assert objects.keypoints[0, :, 2].tolist() == [2.0, 2.0, 2.0, 0.0]  # (0, 0) means not labelled


def test_empty_file_gives_no_objects():
    objects, warnings = parse("\n\n")
    assert len(objects) == 0 and warnings == []
    assert objects.boxes.shape == (0, 4)


@pytest.mark.parametrize("schema", [POSE_17_3, POSE_4_2], ids=["17x3", "4x2"])
def test_empty_pose_file_gives_no_objects(schema):
    objects, warnings = parse("", schema)
    assert len(objects) == 0 and warnings == []
    assert objects.keypoints.shape == (0, schema.kpt_shape[0], 3)


def test_crlf_bom_blank_and_trailing_lines():
    text = "\ufeff0 0.5 0.5 0.2 0.2\r\n\r\n   \r\n1 0.25 0.25 0.1 0.1\r\n\r\n\r\n"
    objects, warnings = parse(text)
    assert warnings == []
    assert objects.classes.tolist() == [0, 1]
    assert objects.boxes[1] == pytest.approx([0.2 * W, 0.2 * H, 0.3 * W, 0.3 * H])


def test_line_numbers_count_blank_lines():
    err = parse_error("0 0.5 0.5 0.2 0.2\r\n\r\n\r\n0 0.5 0.5 0.2\r\n")
    assert err.line == 4
    assert str(err).startswith("labels/a.txt:4: ")


def test_coordinate_just_above_one_is_clipped_with_a_warning():
    objects, warnings = parse("0 0.1 0.1 1.0000001 0.1 0.5 0.9\n")
    assert warnings == ["labels/a.txt:1: coordinates slightly outside [0, 1] clipped"]
    assert objects.polygons[0][:, 0].max() == W
    objects, warnings = parse("0 0.5 0.5 1.0000001 0.2\n0 0.5 0.5 0.2 0.2\n")
    assert warnings == ["labels/a.txt:1: coordinates slightly outside [0, 1] clipped"]
    assert objects.boxes[0][[0, 2]] == pytest.approx([0.0, W])


def test_slightly_negative_coordinate_is_clipped_with_a_warning():
    objects, warnings = parse("0 0.5 0.5 0.2 0.2\n0 -0.0000001 0.1 0.9 0.1 0.5 0.9\n")
    assert warnings == ["labels/a.txt:2: coordinates slightly outside [0, 1] clipped"]
    assert objects.polygons[1][:, 0].min() == 0.0


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("0 0.1 0.1 1.5 0.1 0.5 0.9\n", 1, "coordinate 1.5 is outside [0, 1]"),
        ("0 0.5 0.5 0.2 0.2\n0 1.5 0.5 0.2 0.2\n", 2, "is outside [0, 1]"),
        ("0 0.5 0.5 0.2 0.2\n0 0.5 nan 0.2 0.2\n", 2, "non-finite value nan"),
        ("0 0.5 0.5 inf 0.2\n", 1, "non-finite value inf"),
        ("0 0.5 0.5 0.2 0.2\n\n0 0.5 0.5 -0.2 0.2\n", 3, "box width and height must be positive"),
        ("0 0.5 0.5 0 0.2\n", 1, "box width and height must be positive"),
        ("0 0.5 0.5 0.2\n", 1, "expected 5 columns"),
        ("0 0.5 0.5 0.2 0.2 0.3\n", 1, "got 6"),
        ("0 0.1 0.1 0.2 0.2 0.3 0.3 0.4\n", 1, "got 8"),
        ("0\n", 1, "got 1"),
        ("0 0.5 0.5 0.2 0.2\n3 0.5 0.5 0.2 0.2\n", 2, "class id 3 is not in the dataset's names (0..2)"),
        ("1.5 0.5 0.5 0.2 0.2\n", 1, "class id '1.5' is not a non-negative whole number"),
        ("-1 0.5 0.5 0.2 0.2\n", 1, "class id '-1' is not a non-negative whole number"),
        ("cat 0.5 0.5 0.2 0.2\n", 1, "class id 'cat' is not a number"),
        ("0 0.5 0.5 abc 0.2\n", 1, "'abc' is not a number"),
        ("0 0.5 0.5 0.2 0.2\n0 1.005 0.5 0.008 0.2\n", 2, "box has zero width or height inside the image"),  # past the edge
        ("0 0.3 0.1 0.3 0.5 0.3 0.9\n", 1, "polygon has zero width or height inside the image"),  # a polygon on one line
    ],
)
def test_malformed_lines_name_the_line(text, line, fragment):
    err = parse_error(text)
    assert err.line == line
    assert str(err).startswith(f"labels/a.txt:{line}: ")
    assert fragment in err.message, err.message


def test_whole_number_class_written_as_float_is_accepted():
    objects, _ = parse("2.0 0.5 0.5 0.2 0.2\n")
    assert objects.classes.tolist() == [2]


def test_any_class_id_accepted_without_names():
    objects, _ = parse("41 0.5 0.5 0.2 0.2\n", LabelSchema())
    assert objects.classes.tolist() == [41]


@pytest.mark.parametrize(
    "schema, text, fragment",
    [
        (POSE_17_3, "0 0.5 0.5 0.2 0.2\n", "expected 56 columns"),
        (POSE_4_2, "0 0.5 0.5 0.2 0.2 0.1 0.1 0.2 0.2 0.3 0.3\n", "expected 13 columns"),
        (LabelSchema({0: "p"}, (2, 3)), "0 0.5 0.5 0.2 0.2 0.1 0.1 2 0.2 0.2 5\n", "visibility must be 0, 1 or 2"),
        (LabelSchema({0: "p"}, (2, 3)), "0 0.5 0.5 0.2 0.2 0.1 0.1 2 1.2 0.2 2\n", "outside [0, 1]"),
    ],
)
def test_malformed_pose_lines(schema, text, fragment):
    err = parse_error(text, schema)
    assert err.line == 1
    assert fragment in err.message, err.message


# ---------------------------------------------------------------- format_labels round trip
@pytest.mark.parametrize(
    "schema, text",
    [
        (NAMES, "0 0.5 0.5 0.2 0.2\n1 0.123456 0.654321 0.111111 0.222222\n2 0.000001 0.5 0.000002 0.999999\n"),
        (NAMES, "0 0.1 0.1 0.9 0.1 0.5 0.9\n2 0.123457 0.2 0.3 0.345678 0.999999 0.000001 0.5 0.5\n"),
        (POSE_17_3, pose_line(17, 3)[0] + pose_line(17, 3, cls=0)[0]),
        (POSE_4_2, pose_line(4, 2)[0]),
    ],
    ids=["detect", "polygon", "pose17x3", "pose4x2"],
)
@pytest.mark.parametrize("size", [SIZE, (641, 479)])
def test_format_labels_round_trips(schema, text, size):
    objects, _ = yolo.parse_labels(text, "a.txt", schema, size)
    out = yolo.format_labels(objects, schema, size)
    got, want = rows(out), rows(text)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert len(g) == len(w)
        assert g[0] == w[0]
        assert g == pytest.approx(w, abs=1e-6)
    assert out.endswith("\n") and "\r" not in out


def test_box_objects_in_a_file_with_polygons_are_written_as_corner_polygons():
    """Ultralytics reads a whole file as segments once one line is a polygon: a plain box line
    there would become a two-point polygon. Written as four corners, the box survives."""
    objects, _ = parse("0 0.5 0.5 0.25 0.5\n1 0.1 0.1 0.9 0.1 0.5 0.9\n")
    text = yolo.format_labels(objects, NAMES, SIZE)
    box_line, poly_line = rows(text)
    assert len(box_line) == 9  # class + 4 corners
    xs, ys = box_line[1::2], box_line[2::2]
    assert (min(xs), max(xs), min(ys), max(ys)) == pytest.approx((0.375, 0.625, 0.25, 0.75))
    assert poly_line == pytest.approx([1, 0.1, 0.1, 0.9, 0.1, 0.5, 0.9])
    again, _ = parse(text)
    assert again.boxes == pytest.approx(objects.boxes)
    only_boxes, _ = parse("0 0.5 0.5 0.25 0.5\n")
    assert len(rows(yolo.format_labels(only_boxes, NAMES, SIZE))[0]) == 5  # a detect file stays detect


def test_format_labels_then_parse_is_stable():
    objects, _ = parse("0 0.1 0.2 0.3 0.4 0.5 0.6\n1 0.3 0.3 0.1 0.1\n")
    once = yolo.format_labels(objects, NAMES, SIZE)
    again, _ = parse(once)
    assert yolo.format_labels(again, NAMES, SIZE) == once


# ---------------------------------------------------------------- layouts and scan
def touch_image(path: Path) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.zeros((4, 6, 3), np.uint8))


def touch_label(path: Path, text: str = "0 0.5 0.5 0.2 0.2\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    "image_rel, label_rel",
    [
        ("images/train/a.jpg", "labels/train/a.txt"),
        ("images/a.png", "labels/a.txt"),
        ("train/images/a.jpeg", "train/labels/a.txt"),
        ("a.jpg", "a.txt"),
        ("sub/a.b.jpg", "sub/a.b.txt"),
        ("images/x/images/a.jpg", "images/x/labels/a.txt"),  # only the last images/ component
    ],
)
def test_label_relpath(image_rel, label_rel):
    assert yolo.label_relpath(image_rel) == label_rel


def test_scan_images_split_layout(tmp_path):
    for split in ("train", "val"):
        for stem in ("b", "a"):
            touch_image(tmp_path / f"images/{split}/{stem}.jpg")
            touch_label(tmp_path / f"labels/{split}/{stem}.txt")
    (tmp_path / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [cat, dog]\n")
    assert yolo.detect(tmp_path) == pytest.approx(0.9)
    assert detect_format(tmp_path) == "yolo"
    ds = yolo.scan(tmp_path)
    assert [i.key for i in ds.items] == ["images/train/a.jpg", "images/train/b.jpg", "images/val/a.jpg", "images/val/b.jpg"]
    assert [i.split for i in ds.items] == ["train", "train", "val", "val"]
    assert ds.items[0].label == str(tmp_path / "labels/train/a.txt")
    assert ds.items[0].image == str(tmp_path / "images/train/a.jpg")
    assert ds.schema.names == {0: "cat", 1: "dog"}
    assert ds.notes == []


def _coco_style_splits(root: Path, yaml_text: str) -> None:
    """images/train2017, images/val2017 and images/extra: split names data.yaml alone knows."""
    for folder, stems in (("train2017", ("a", "b")), ("val2017", ("c",)), ("extra", ("d",))):
        for stem in stems:
            touch_image(root / f"images/{folder}/{stem}.jpg")
            touch_label(root / f"labels/{folder}/{stem}.txt")
    (root / "data.yaml").write_text(yaml_text)


def test_scan_takes_splits_from_data_yaml_folders(tmp_path):
    _coco_style_splits(tmp_path, "path: ../datasets/coco\ntrain: [images/train2017, ./images/extra]\n"
                                 "val: images/val2017\nnames: [cat]\n")
    ds = yolo.scan(tmp_path)
    assert {i.key: i.split for i in ds.items} == {
        "images/train2017/a.jpg": "train", "images/train2017/b.jpg": "train",
        "images/val2017/c.jpg": "val", "images/extra/d.jpg": "train"}
    assert ds.notes == []


def test_scan_data_yaml_roboflow_paths_and_unusable_entries(tmp_path):
    for split in ("train", "valid"):
        touch_image(tmp_path / f"{split}/images/x.png")
        touch_label(tmp_path / f"{split}/labels/x.txt")
    touch_image(tmp_path / "other/images/y.png")
    touch_label(tmp_path / "other/labels/y.txt")
    (tmp_path / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\n"
                                        "test: [/abs/test/images, lists/test.txt, nowhere/images]\nnames: [cat]\n")
    ds = yolo.scan(tmp_path)
    assert {i.key: i.split for i in ds.items} == {
        "train/images/x.png": "train", "valid/images/x.png": "val", "other/images/y.png": None}
    assert len(ds.notes) == 3 and all("is not an image folder inside the input" in n for n in ds.notes)


def test_scan_one_folder_named_for_two_splits_falls_back_to_folder_names(tmp_path):
    _coco_style_splits(tmp_path, "train: images/train2017\nval: images/train2017\nnames: [cat]\n")
    ds = yolo.scan(tmp_path)
    assert {i.split for i in ds.items} == {None}
    assert ds.notes == []  # a common way to say "no separate val": nothing to warn about


def test_run_keeps_data_yaml_splits_apart(tmp_path):
    """Val images named by data.yaml alone are not augmented, and the output data.yaml's folders
    hold exactly the images of each split (Ultralytics reads folders recursively)."""
    from click.testing import CliRunner

    from augcli.cli import main

    src = tmp_path / "in"
    _coco_style_splits(src, "train: [images/train2017, images/extra]\nval: images/val2017\nnames: [cat]\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("version: 1\ncopies: 2\npipeline:\n  - {type: HorizontalFlip}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(src), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load((out / "data.yaml").read_text())

    def stems(entry) -> set[str]:
        folders = entry if isinstance(entry, list) else [entry]
        return {p.stem for f in folders for p in (out / f).rglob("*.jpg")}

    assert stems(data["train"]) == {"a", "a_aug1", "a_aug2", "b", "b_aug1", "b_aug2", "d", "d_aug1", "d_aug2"}
    assert stems(data["val"]) == {"c"}
    for image in out.rglob("*.jpg"):  # every image has its label file
        assert (out / yolo.label_relpath(image.relative_to(out).as_posix())).is_file()


def test_scan_roboflow_layout(tmp_path):
    for split in ("train", "valid", "test"):
        touch_image(tmp_path / f"{split}/images/x.png")
        touch_label(tmp_path / f"{split}/labels/x.txt")
    (tmp_path / "data.yaml").write_text("names: {0: cat, 1: dog}\n")
    assert detect_format(tmp_path) == "yolo"
    ds = yolo.scan(tmp_path)
    assert [i.key for i in ds.items] == ["test/images/x.png", "train/images/x.png", "valid/images/x.png"]
    assert [i.split for i in ds.items] == ["test", "train", "valid"]
    assert [Path(i.label).relative_to(tmp_path).as_posix() for i in ds.items] == [
        "test/labels/x.txt", "train/labels/x.txt", "valid/labels/x.txt"]
    assert ds.schema.names == {0: "cat", 1: "dog"}


def test_scan_flat_layout(tmp_path):
    for stem in ("b", "a"):
        touch_image(tmp_path / f"{stem}.jpg")
        touch_label(tmp_path / f"{stem}.txt")
    (tmp_path / "classes.txt").write_text("cat\ndog\n\n")
    assert yolo.detect(tmp_path) == pytest.approx(0.6)
    ds = yolo.scan(tmp_path)
    assert [i.key for i in ds.items] == ["a.jpg", "b.jpg"]
    assert [i.split for i in ds.items] == [None, None]
    assert ds.items[0].label == str(tmp_path / "a.txt")
    assert ds.schema.names == {0: "cat", 1: "dog"}


def test_scan_ignores_hidden_and_labels_folders(tmp_path):
    touch_image(tmp_path / "images/a.jpg")
    touch_image(tmp_path / "images/.hidden.jpg")
    touch_image(tmp_path / ".cache/images/c.jpg")
    touch_image(tmp_path / "labels/stray.jpg")
    touch_label(tmp_path / "labels/a.txt")
    (tmp_path / "data.yaml").write_text("names: [cat]\n")
    assert [i.key for i in yolo.scan(tmp_path).items] == ["images/a.jpg"]


def test_names_as_dict_with_gaps(tmp_path):
    touch_image(tmp_path / "images/a.jpg")
    (tmp_path / "labels").mkdir()
    (tmp_path / "data.yaml").write_text("names:\n  0: cat\n  5: dog\n")
    assert yolo.scan(tmp_path).schema.names == {0: "cat", 5: "dog"}


@pytest.mark.parametrize("text", ["names: [cat, null, dog]\n", "names:\n  - cat\n  -\n  - dog\n", "names:\n  0: cat\n  1:\n  2: dog\n"])
def test_an_empty_name_keeps_its_index_not_none(tmp_path, text):
    """A data.yaml entry left empty (an unused class slot) is named by its index, as a class
    without a name is elsewhere, not by Python's 'None'."""
    touch_image(tmp_path / "images/a.jpg")
    (tmp_path / "labels").mkdir()
    (tmp_path / "data.yaml").write_text(text)
    assert yolo.scan(tmp_path).schema.names == {0: "cat", 1: "1", 2: "dog"}


def test_names_from_dataset_yaml_with_pose_layout(tmp_path):
    touch_image(tmp_path / "images/a.jpg")
    (tmp_path / "labels").mkdir()
    (tmp_path / "dataset.yaml").write_text("kpt_shape: [4, 2]\nflip_idx: [1, 0, 3, 2]\nnames: [hand]\n")
    schema = yolo.scan(tmp_path).schema
    assert schema == LabelSchema({0: "hand"}, (4, 2), (1, 0, 3, 2))


def test_bad_flip_idx_is_dropped_with_a_note(tmp_path):
    (tmp_path / "data.yaml").write_text("kpt_shape: [3, 3]\nflip_idx: [0, 0, 1]\nnames: [p]\n")
    schema, notes, _ = yolo.read_schema(tmp_path)
    assert schema.kpt_shape == (3, 3) and schema.flip_idx is None
    assert notes == ["data.yaml: flip_idx is not a permutation of 0..2; ignoring it"]


def test_no_names_anywhere_gives_a_note(tmp_path):
    touch_image(tmp_path / "images/a.jpg")
    touch_label(tmp_path / "labels/a.txt", "7 0.5 0.5 0.2 0.2\n")
    ds = yolo.scan(tmp_path)
    assert ds.schema.names == {}
    assert len(ds.notes) == 1
    assert "no data.yaml with `names` and no classes.txt; class ids are kept as numbers" in ds.notes[0]


def test_data_yaml_without_names_falls_back_to_classes_txt(tmp_path):
    (tmp_path / "data.yaml").write_text("train: images\n")
    (tmp_path / "classes.txt").write_text("\ufeffa\r\nb\r\n")
    schema, notes, _ = yolo.read_schema(tmp_path)
    assert schema.names == {0: "a", 1: "b"} and notes == []


@pytest.mark.parametrize("data_yaml", ["names: {a: cat}\n", "names: [p]\nkpt_shape: [17, x]\n", "names: [p]\nflip_idx: [x]\n"])
def test_malformed_data_yaml_is_not_a_crash(tmp_path, data_yaml):
    # a typo in data.yaml must become a note or an augcli error naming the file, never a bare ValueError
    (tmp_path / "data.yaml").write_text(data_yaml)
    try:
        _, notes, _ = yolo.read_schema(tmp_path)
    except AugcliError as exc:
        assert "data.yaml" in str(exc)
    else:
        assert any(n.startswith("data.yaml:") for n in notes), notes


def test_load_reads_labels_in_pixels(tmp_path):
    touch_image(tmp_path / "images/a.png")  # 6x4 pixels
    touch_label(tmp_path / "labels/a.txt", "1 0.5 0.5 0.5 0.5\n")
    (tmp_path / "data.yaml").write_text("names: [cat, dog]\n")
    ds = yolo.scan(tmp_path)
    loaded = yolo.load(ds.items[0], ds.schema, 10**6)
    assert loaded.sample.objects.boxes[0] == pytest.approx([1.5, 1.0, 4.5, 3.0])
    assert loaded.data == (tmp_path / "images/a.png").read_bytes()


def test_load_without_label_file_gives_no_objects(tmp_path):
    touch_image(tmp_path / "images/a.png")
    (tmp_path / "labels").mkdir()
    ds = yolo.scan(tmp_path)
    assert len(yolo.load(ds.items[0], ds.schema, 10**6).sample.objects) == 0


@pytest.mark.parametrize("label_text", [None, ""], ids=["no-label-file", "empty-label-file"])
def test_load_pose_background_image_gives_no_objects(tmp_path, label_text):
    # background images (no people) are normal in pose datasets
    touch_image(tmp_path / "images/a.png")
    (tmp_path / "labels").mkdir()
    if label_text is not None:
        touch_label(tmp_path / "labels/a.txt", label_text)
    (tmp_path / "data.yaml").write_text("kpt_shape: [17, 3]\nnames: [person]\n")
    ds = yolo.scan(tmp_path)
    objects = yolo.load(ds.items[0], ds.schema, 10**6).sample.objects
    assert len(objects) == 0
    assert objects.keypoints.shape == (0, 17, 3)


# ---------------------------------------------------------------- Writer
def finalize(root: Path, schema: LabelSchema, images: list[str]) -> tuple[str, dict]:
    """Writer.finalize over records of written images ({'image': relpath, 'label': relpath}); returns data.yaml."""
    yolo.Writer(root, schema).finalize([{"image": rel, "label": yolo.label_relpath(rel)} for rel in images])
    text = (root / "data.yaml").read_text()
    return text, yaml.safe_load(text)


def test_finalize_relative_paths_and_names(tmp_path):
    out = tmp_path / "out"
    text, data = finalize(out, NAMES, ["images/train/a.jpg", "images/train/a_aug1.jpg", "images/val/b.jpg"])
    assert data["train"] == "images/train"
    assert data["val"] == "images/val"
    assert "test" not in data
    assert data["names"] == {0: "cat", 1: "dog", 2: "bird"}
    assert data["nc"] == 3
    assert str(tmp_path) not in text and "path:" not in text
    assert not any(isinstance(v, str) and v.startswith("/") for v in data.values())


def test_finalize_roboflow_splits_map_valid_to_val(tmp_path):
    _, data = finalize(tmp_path, NAMES, ["train/images/a.jpg", "valid/images/b.jpg", "test/images/c.jpg"])
    assert (data["train"], data["val"], data["test"]) == ("train/images", "valid/images", "test/images")


def test_finalize_without_splits_uses_images_for_train_and_val(tmp_path):
    text, data = finalize(tmp_path, NAMES, ["images/a.jpg", "images/sub/b.jpg"])
    assert data["train"] == "images" and data["val"] == "images"
    for folder in ([data["train"]] if isinstance(data["train"], str) else data["train"]):
        assert not Path(folder).is_absolute()


def test_finalize_pose_keeps_kpt_shape_and_flip_idx(tmp_path):
    flip = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
    schema = LabelSchema({0: "person"}, (17, 3), flip)
    text, data = finalize(tmp_path, schema, ["images/train/a.jpg"])
    assert data["kpt_shape"] == [17, 3]
    assert data["flip_idx"] == list(flip)
    assert data["names"] == {0: "person"}
    # what augcli writes it reads back the same
    assert yolo.read_schema(tmp_path)[0] == schema


def test_finalize_pose_without_flip_idx(tmp_path):
    _, data = finalize(tmp_path, LabelSchema({0: "hand"}, (4, 2)), ["images/a.jpg"])
    assert data["kpt_shape"] == [4, 2] and "flip_idx" not in data


def test_finalize_without_names_writes_no_names(tmp_path):
    _, data = finalize(tmp_path, LabelSchema(), ["images/a.jpg"])
    assert "names" not in data and "nc" not in data


@pytest.mark.parametrize("name", ["traffic light", "a: b", "#hash", "ünïcödé", "it's", "yes", "no", "null", "true", "7", "1.5", "0x1F"])
def test_finalize_preserves_any_class_name_as_a_string(tmp_path, name):
    names = {0: "person", 1: name}
    _, data = finalize(tmp_path, LabelSchema(names), ["images/a.jpg"])
    assert data["names"] == names
    assert yolo.read_schema(tmp_path)[0].names == names


def _coco_with_a_bbox_only_annotation(root: Path) -> None:
    """Two 64x48 images: a.png's object has a polygon, b.png's only a bbox (x 10..30, y 8..28)."""
    import json

    import cv2

    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(root / "images" / name), np.full((H, W, 3), 120, np.uint8))
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": W, "height": H},
                   {"id": 2, "file_name": "b.png", "width": W, "height": H}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 20], "area": 200, "iscrowd": 0,
             "segmentation": [[5, 5, 25, 5, 5, 25]]},
            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [10, 8, 20, 20], "area": 400, "iscrowd": 0},
        ],
    }
    (root / "annotations" / "instances.json").write_text(json.dumps(coco))


def test_a_dataset_of_segments_and_boxes_is_written_all_segments(tmp_path):
    """Ultralytics drops every segment of a dataset whose label files mix segment files and box
    files (box and segment counts differ): a box-only image among segment images gets its boxes
    as four-corner polygons, the same box; a second run over it (--resume) changes nothing."""
    import augcli

    _coco_with_a_bbox_only_annotation(tmp_path / "in")
    out = tmp_path / "out"
    recipe = {"pipeline": []}
    assert augcli.run(recipe, tmp_path / "in", out, output_format="yolo", workers=1).exit_code == 0
    files = {p.name: p.read_text() for p in (out / "labels").rglob("*.txt")}
    assert set(files) == {"a.txt", "b.txt"}
    assert all(len(line.split()) > 5 for text in files.values() for line in text.splitlines()), files
    corners = np.array([float(v) for v in files["b.txt"].split()[1:]]).reshape(-1, 2) * (W, H)
    assert corners.min(axis=0) == pytest.approx((10, 8), abs=1e-3) and corners.max(axis=0) == pytest.approx((30, 28), abs=1e-3)
    assert len(corners) == 4
    again = augcli.run(recipe, tmp_path / "in", out, output_format="yolo", workers=1, resume=True)
    assert again.exit_code == 0
    assert {p.name: p.read_text() for p in (out / "labels").rglob("*.txt")} == files


def test_a_dataset_of_boxes_only_stays_boxes(tmp_path):
    import json

    import augcli

    _coco_with_a_bbox_only_annotation(tmp_path / "in")
    coco_path = tmp_path / "in" / "annotations" / "instances.json"
    coco = json.loads(coco_path.read_text())
    del coco["annotations"][0]["segmentation"]
    coco_path.write_text(json.dumps(coco))
    assert augcli.run({"pipeline": []}, tmp_path / "in", tmp_path / "out", output_format="yolo", workers=1).exit_code == 0
    lines = [line for p in (tmp_path / "out" / "labels").rglob("*.txt") for line in p.read_text().splitlines()]
    assert len(lines) == 2 and all(len(line.split()) == 5 for line in lines)

"""`augcli check` (every problem named with file:line, exit 0 / 1 / 2, JSON) and `augcli validate`."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from augcli.check import check_dataset
from augcli.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted(p for p in (ROOT / "sample_data").iterdir() if p.is_dir())
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def grey(path: Path, size=(100, 50)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((size[1], size[0], 3), 128, np.uint8))


# ---------------------------------------------------------------- a broken YOLO dataset
BAD_LINES = {  # labels/a.txt: line -> (kind, text expected in the message); blank line 4 is fine
    1: None,  # a good box
    2: ("nan", "non-finite value nan"),
    3: ("out-of-range", "coordinate 1.7 is outside [0, 1]"),
    5: ("zero-size-box", "box width and height must be positive"),
    6: ("unknown-class", "class id 7 is not in the dataset's names"),
    7: ("short-polygon", "got 3"),  # cls x y: a polygon of one point
    8: ("zero-size-box", "polygon has zero width or height"),  # three points on one line
}
A_TXT = ("0 0.5 0.5 0.2 0.2\n0 nan 0.5 0.2 0.2\n0 0.5 1.7 0.2 0.2\n\n0 0.5 0.5 0 0.2\n7 0.5 0.5 0.2 0.2\n"
         "1 0.5 0.5\n1 0.1 0.5 0.2 0.5 0.3 0.5\n0 0.5 0.5 0.2 1.004\n")


@pytest.fixture
def broken_yolo(tmp_path) -> Path:
    root = tmp_path / "broken"
    for stem in ("a", "good", "nolabel", "dup"):
        grey(root / "images" / f"{stem}.png")
    grey(root / "images" / "dup.jpg")  # dup.jpg + dup.png share labels/dup.txt
    (root / "images" / "broken.png").write_bytes(b"\x89PNG but not really")
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text(A_TXT)
    (root / "labels" / "good.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.2 0.3 0.1 0.1\n")
    (root / "labels" / "dup.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "labels" / "broken.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "labels" / "orphan.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text("names: [cat, dog]\n")
    return root


def test_check_names_every_problem_kind_with_file_and_line(broken_yolo):
    result = invoke("check", broken_yolo)
    assert result.exit_code == 1, result.output
    out = result.stdout
    for line, expected in BAD_LINES.items():
        if expected is None:
            assert not [r for r in out.splitlines() if f"labels/a.txt:{line}: " in r and "error" in r]
            continue
        kind, text = expected
        (row,) = [r for r in out.splitlines() if f"labels/a.txt:{line}: " in r and r.strip().startswith("error")]
        assert text in row and row.endswith(f"[{kind}]"), row
    assert "labels/orphan.txt: label file with no image of the same name" in out
    assert "[label-without-image]" in out
    (dup,) = [r for r in out.splitlines() if "[duplicate-stem]" in r]
    assert "labels/dup.txt:" in dup and "images/dup.jpg" in dup and "images/dup.png" in dup
    (bad_image,) = [r for r in out.splitlines() if "[unreadable-image]" in r]
    assert "images/broken.png: not a readable image" in bad_image
    # a slightly-out coordinate is clipped by a run: a warning, with its line, reported once
    assert [r for r in out.splitlines() if "[clipped]" in r] == [
        "  warning labels/a.txt:9: coordinates slightly outside [0, 1] clipped  [clipped]"]
    # boxes beside polygons (line 8) in one file: Ultralytics would misread the boxes
    assert "  warning labels/a.txt:1: boxes (lines 1, 9) in a file of polygons" in out
    assert "images without labels: 1\n  images/nolabel.png\n" in out
    assert "images: 6\n" in out
    assert out.rstrip().endswith("result: 9 errors: exit code 1")


def test_check_report_is_the_same_for_any_worker_count(broken_yolo):
    one, many = check_dataset(broken_yolo, workers=1), check_dataset(broken_yolo, workers=4)
    assert one.to_dict() == many.to_dict()
    assert one.errors == 9 and one.warnings == 3  # clipped, boxes among polygons, and a.txt's polygons among box files
    assert one.counts == {0: 4, 1: 1}  # usable objects only: a.txt 1 and 9, good.txt 1, broken.txt 1; good.txt 2


def test_check_json_is_valid_and_has_counts_and_problems(broken_yolo):
    result = invoke("check", broken_yolo, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["format"] == "yolo" and data["format_detected"] is True
    assert data["images"] == 6 and data["images_without_labels"] == 1
    assert data["classes"] == {"cat": 4, "dog": 1} and data["objects"] == 5
    assert data["errors"] == 9 and data["warnings"] == 3 and data["exit_code"] == 1
    assert data["problems_by_kind"]["mixed-dataset"] == 1
    assert data["problems_by_kind"]["zero-size-box"] == 2
    first = {(p["file"], p["line"]): p for p in data["problems"]}
    assert first[("labels/a.txt", 2)] == {"severity": "error", "kind": "nan", "file": "labels/a.txt", "line": 2,
                                          "message": "non-finite value nan"}
    assert result.stderr == ""  # no progress bar when stderr is not a terminal


def test_mixed_boxes_and_polygons_is_a_warning_only(tmp_path):
    root = tmp_path / "mixed"
    grey(root / "images" / "a.png")
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.1 0.1 0.3 0.1 0.2 0.4\n")
    (root / "data.yaml").write_text("names: [cat]\n")
    result = invoke("check", root)
    assert result.exit_code == 0, result.output
    assert "warning labels/a.txt:1: boxes (line 1) in a file of polygons" in result.stdout
    assert "result: no errors (warnings only)" in result.stdout


def test_flat_yolo_layout_finds_labels_without_images(tmp_path):
    root = tmp_path / "flat"
    grey(root / "a.png")
    (root / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "b.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "classes.txt").write_text("cat\n")
    (root / "train.txt").write_text("a.png\n")  # an image list, not a label
    report = check_dataset(root)
    assert [(p.kind, p.file) for p in report.problems] == [("label-without-image", "b.txt")]


# ---------------------------------------------------------------- other formats
def test_coco_every_bad_annotation_is_named(tmp_path):
    root = tmp_path / "coco"
    grey(root / "images" / "a.png")
    grey(root / "images" / "b.png")
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20]},
        {"id": 2, "image_id": 1, "category_id": 9, "bbox": [10, 10, 20, 20]},
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [10, 10, 0, 20]},
        {"id": 4, "image_id": 1, "category_id": 1, "bbox": [float("nan"), 10, 5, 5]},
        {"id": 5, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 5, 5]], "bbox": [1, 1, 4, 4]},
        {"id": 6, "image_id": 2, "category_id": 1, "bbox": [90, 40, 30, 30]},
        {"id": 7, "image_id": 99, "category_id": 1, "bbox": [1, 1, 2, 2]},
    ]
    images = [{"id": 1, "file_name": "a.png", "width": 100, "height": 50},
              {"id": 2, "file_name": "b.png", "width": 100, "height": 50},
              {"id": 3, "file_name": "missing.png", "width": 100, "height": 50}]
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_train.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "cat"}]}))
    report = check_dataset(root)
    kinds = {(p.kind, p.severity) for p in report.problems}
    assert {("unknown-class", "error"), ("zero-size-box", "error"), ("nan", "error"), ("short-polygon", "error"),
            ("clipped", "warning")} <= kinds
    by_kind = {p.kind: p for p in report.problems}
    assert by_kind["unknown-class"].file == "annotations/instances_train.json"
    assert "annotation 2" in by_kind["unknown-class"].message
    assert "annotation 3" in by_kind["zero-size-box"].message
    notes = " ".join(p.message for p in report.problems if p.kind == "scan" and p.severity == "error")
    assert "image_id 99" in notes  # labels without an image
    missing = [p for p in report.problems if p.kind == "missing-image"]  # an image without a file
    assert len(missing) == 1 and "missing.png" in missing[0].message and missing[0].severity == "error"
    assert report.counts == {1: 3}  # annotations 1, 5 (its box) and 6
    assert report.exit_code == 1


def test_mask_labels_without_images(tmp_path):
    root = tmp_path / "mask"
    grey(root / "images" / "a.png")
    (root / "masks").mkdir()
    cv2.imwrite(str(root / "masks" / "a.png"), np.zeros((50, 100), np.uint8))
    cv2.imwrite(str(root / "masks" / "lost.png"), np.zeros((50, 100), np.uint8))
    (root / "classes.yaml").write_text("{1: cat}\n")
    report = check_dataset(root)
    assert [(p.kind, p.file) for p in report.problems] == [("label-without-image", "masks/lost.png")]
    assert report.unlabelled == ["images/a.png"]  # an all-background mask


def test_voc_unknown_class_is_an_error(tmp_path):
    root = tmp_path / "voc"
    grey(root / "JPEGImages" / "a.jpg")
    (root / "Annotations").mkdir()
    (root / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>100</width><height>50</height><depth>3</depth></size>"
        "<object><name>zebra</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>10</ymax></bndbox>"
        "</object></annotation>")
    (root / "labelmap.txt").write_text("background\ncat\n")
    result = invoke("check", root, "--input-format", "voc")
    assert result.exit_code == 1, result.output
    assert "Annotations/a.xml: object 1" in result.stdout and "zebra" in result.stdout


# ---------------------------------------------------------------- clean datasets pass
@pytest.mark.parametrize("dataset", SAMPLES, ids=[p.name for p in SAMPLES])
def test_every_shipped_sample_dataset_is_clean(dataset):
    result = invoke("check", dataset)
    assert result.exit_code == 0, result.output
    assert "problems: none" in result.stdout


@pytest.mark.parametrize("output_format", ["yolo", "coco"])
def test_a_run_output_is_clean(tmp_path, output_format):
    out = tmp_path / "out"
    run = invoke("run", ROOT / "configs" / "basic.yaml", "-i", ROOT / "sample_data" / "yolo", "-o", out, "-w", "1",
                 "-q", "--output-format", output_format)
    assert run.exit_code == 0, run.output
    assert (out / "augcli-manifest.jsonl").is_file() and (out / "augcli-run.json").is_file()
    result = invoke("check", out, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["problems"] == [] and data["images"] == 4 * 4 + 2  # train: original + 3 copies; val: original


def test_usage_errors_exit_2(tmp_path):
    missing = invoke("check", tmp_path / "nope")
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    unknown = invoke("check", ROOT / "sample_data" / "yolo", "--input-format", "nope")
    assert unknown.exit_code == 2 and "unknown format 'nope'" in unknown.stderr
    (tmp_path / "empty").mkdir()
    empty = invoke("check", tmp_path / "empty")
    assert empty.exit_code == 2 and "could not recognise a dataset" in empty.stderr


# ---------------------------------------------------------------- validate
BAD_RECIPE = """\
seed: -3
copies: many
labels: {min_visiblity: 0.3}
output: {image_format: gif}
pipeline:
  - {type: HorizontalFlp, p: 0.5}
  - {type: Rotate, degrees: [-15, 15], p: 1.5}
  - type: OneOf
    transforms:
      - {type: GaussianBlur, sigma: [3, 1]}
"""


def test_validate_lists_each_mistake_with_its_line_and_exits_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_RECIPE)
    result = invoke("validate", path)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    expected = ["bad.yaml:1 seed:", "bad.yaml:2 copies:", "bad.yaml:3 labels.min_visiblity: unknown key",
                "bad.yaml:4 output.image_format:", "bad.yaml:6 pipeline[0].type: unknown transform 'HorizontalFlp'",
                "bad.yaml:7 pipeline[1].p:", "bad.yaml:10 pipeline[2].transforms[0].sigma:"]
    assert len(lines) == len(expected)
    for line, start in zip(lines, expected):
        assert line.startswith(f"augcli: recipe error: {start}"), line


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_validate_every_shipped_config(config):
    result = invoke("validate", config)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"# {config}: valid; resolved with every default:\n")
    assert "min_visibility:" in result.stdout and "jpeg_quality:" in result.stdout  # defaults filled in


@pytest.mark.parametrize("b_txt, warned", [("0 0.5 0.5 0.2 0.2\n", True), ("0 0.1 0.1 0.4 0.1 0.4 0.4\n", False)])
def test_a_yolo_dataset_mixing_segment_and_box_files_is_warned_about(tmp_path, b_txt, warned):
    """Ultralytics trains a dataset of segment files and box files as detection, dropping every
    polygon: check says so, once, naming a box file; a dataset of segments alone is not warned about."""
    for name in ("a", "b"):
        grey(tmp_path / "images" / f"{name}.png")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5 0.1 0.5\n")
    (tmp_path / "labels" / "b.txt").write_text(b_txt)
    (tmp_path / "data.yaml").write_text("names: [cat]\n")
    report = check_dataset(tmp_path)
    mixed = [p for p in report.problems if p.kind == "mixed-dataset"]
    assert report.exit_code == 0
    if warned:
        assert len(mixed) == 1 and mixed[0].file == "labels/b.txt", mixed
        assert "1 label files hold polygons and 1 only boxes" in mixed[0].message
    else:
        assert mixed == [], mixed

"""Edge cases of the pixel-only transforms (tiny, flat and thin images) and of `augcli check`
(the kind and severity of each planted problem, per format)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from augcli.check import check_dataset
from augcli.job import augment_sample
from augcli.recipe import Recipe
from augcli.sample import LabelPolicy, LabelSchema, Objects, Sample
from augcli.transforms.base import GeometricTransform
from augcli.transforms.meta import Sequential
from augcli.transforms.registry import registry

PIXEL_FAMILIES = ("color", "blur_noise", "weather", "camera")
PIXEL_ONLY = sorted(name for name, cls in registry().items()
                    if cls.family in PIXEL_FAMILIES and not issubclass(cls, GeometricTransform))
# documented in docs/checking.md as error kinds: a warning must never carry one of them
ERROR_KINDS = {"no-images", "unreadable-image", "nan", "out-of-range", "zero-size-box", "unknown-class",
               "label-without-image", "duplicate-stem", "short-polygon", "bad-label"}


# ---------------------------------------------------------------- pixel-only transforms
def _odd_images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    shapes = {"1x1": (1, 1), "2x2": (2, 2), "1x9": (9, 1), "9x1": (1, 9), "wide": (3, 700)}
    out = {name: rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for name, (h, w) in shapes.items()}
    out["black"] = np.zeros((12, 20, 3), np.uint8)
    out["white"] = np.full((12, 20, 3), 255, np.uint8)
    return out


@pytest.mark.parametrize("name", PIXEL_ONLY)
def test_pixel_only_transform_keeps_size_labels_mask_and_input_on_odd_images(name):
    transform = registry()[name]()
    recipe = Recipe(pipeline=Sequential(transforms=[transform]), seed=4,
                    labels=LabelPolicy(min_visibility=0.0, min_area=0.0))
    for label, image in _odd_images().items():
        h, w = image.shape[:2]
        mask = np.zeros((h, w), np.uint8)
        mask[: (h + 1) // 2] = 1
        objects = Objects(np.array([0]), np.array([[0.0, 0.0, w, h]]), [np.array([[0.0, 0.0], [w, 0.0], [w, h]])])
        before = image.copy()
        sample = Sample(image, objects, LabelSchema({0: "a"}), mask=mask.copy())
        out, ops, _ = augment_sample(sample, recipe, "a/b.png", 1)
        again, ops_again, _ = augment_sample(sample, recipe, "a/b.png", 1)
        assert out.image.shape == image.shape and out.image.dtype == np.uint8, label
        np.testing.assert_array_equal(image, before, err_msg=f"{name} changed its input ({label})")
        np.testing.assert_array_equal(out.mask, mask, err_msg=label)
        np.testing.assert_array_equal(out.objects.boxes, objects.boxes, err_msg=label)
        np.testing.assert_array_equal(out.objects.polygons[0], objects.polygons[0], err_msg=label)
        np.testing.assert_array_equal(out.image, again.image, err_msg=label)
        assert ops == ops_again


@pytest.mark.parametrize("name", ["Rain", "Snow"])
def test_precipitation_at_density_zero_is_none(name):
    """`density` is documented '0 none': at 0 no streak or flake may be drawn, whatever else is drawn."""
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    recipe = Recipe(pipeline=Sequential(transforms=[registry()[name](density=0)]), seed=0)
    for copy in (1, 2, 3):
        out, ops, _ = augment_sample(Sample(image, Objects.empty(), LabelSchema()), recipe, "a.png", copy)
        assert [op["op"] for op in ops] == [name]
        np.testing.assert_array_equal(out.image, image, err_msg=f"{name} density 0, copy {copy}: {ops}")


# ---------------------------------------------------------------- augcli check
def _grey(path: Path, size=(100, 50)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((size[1], size[0], 3), 128, np.uint8))


def _coco(root: Path, bbox_json: str) -> Path:
    """One image with one annotation whose bbox is `bbox_json` (raw JSON, so null and NaN can be written)."""
    _grey(root / "images" / "a.png")
    (root / "annotations").mkdir(parents=True)
    data = json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 50}],
                       "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": "BBOX"}],
                       "categories": [{"id": 1, "name": "cat"}]})
    (root / "annotations" / "instances_train.json").write_text(data.replace('"BBOX"', bbox_json))
    return root


@pytest.mark.parametrize("value, kind", [
    ("NaN", "nan"), ("Infinity", "nan"), ("-Infinity", "nan"),
    ("null", "bad-label"), ('"7"', "bad-label"), ("true", "bad-label"), ("[1]", "bad-label"),
])
def test_coco_coordinate_that_is_not_a_number_is_bad_label_not_nan(tmp_path, value, kind):
    report = check_dataset(_coco(tmp_path / "coco", f"[10, {value}, 5, 5]"), workers=1)
    (problem,) = report.problems
    assert (problem.severity, problem.kind) == ("error", kind), problem
    assert problem.file == "annotations/instances_train.json" and "annotation 1" in problem.message
    assert report.exit_code == 1


def _voc_declared_size(root: Path) -> Path:
    _grey(root / "JPEGImages" / "a.jpg", (100, 50))
    (root / "Annotations").mkdir(parents=True)
    (root / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>200</width><height>50</height><depth>3</depth></size>"
        "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>10</ymax></bndbox>"
        "</object></annotation>")
    (root / "labelmap.txt").write_text("background\ncat\n")
    return root


def _coco_declared_size(root: Path) -> Path:
    _grey(root / "images" / "a.png", (100, 50))
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_train.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 200, "height": 50}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 5, 5]}],
        "categories": [{"id": 1, "name": "cat"}]}))
    return root


def _coco_keypoint_outside(root: Path) -> Path:
    _grey(root / "images" / "a.png", (100, 50))
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_train.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 50}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20],
                         "keypoints": [15, 15, 2, 400, 15, 2], "num_keypoints": 2}],
        "categories": [{"id": 1, "name": "person", "keypoints": ["a", "b"], "skeleton": []}]}))
    return root


def _mask_missing(root: Path) -> Path:
    _grey(root / "images" / "a.png")
    (root / "masks").mkdir(parents=True)
    (root / "classes.yaml").write_text("{1: cat}\n")
    return root


@pytest.mark.parametrize("make, fmt", [
    (_voc_declared_size, "voc"), (_coco_declared_size, "coco"), (_coco_keypoint_outside, "coco"),
    (_mask_missing, "mask"),
], ids=["voc-declared-size", "coco-declared-size", "coco-keypoint-outside", "mask-missing"])
def test_a_load_warning_is_never_given_an_error_kind(tmp_path, make, fmt):
    report = check_dataset(make(tmp_path / "ds"), fmt, workers=1)
    assert report.exit_code == 0, report.problems
    assert report.problems, "the planted oddity should be reported"
    for problem in report.problems:
        assert problem.severity == "warning", problem
        assert problem.kind not in ERROR_KINDS, problem
    assert not set(report.to_dict()["problems_by_kind"]) & ERROR_KINDS

"""Edge cases of the Python API (augcli.load_recipe / augment / run / RunReport), checked against
an independent oracle: objects are drawn as solid colour patches, and the labels that come back
must sit where those colours actually are."""
from __future__ import annotations

import numpy as np
import pytest

import augcli
from augcli.errors import RecipeError, UsageError
from augcli.sample import LabelSchema, Objects, Sample

RED = (0, 0, 255)  # BGR
GREEN = (0, 255, 0)


def _geo_recipe(pipeline: list[dict], seed: int = 7) -> dict:
    return {"version": 1, "seed": seed, "copies": 2, "keep_original": False,
            "labels": {"min_visibility": 0.0, "min_area": 0}, "output": {"image_format": "png"},
            "pipeline": pipeline}


def _patch_sample(w: int = 120, h: int = 90) -> Sample:
    """A black image with a red box-only object and a green polygon object (a rectangle)."""
    image = np.zeros((h, w, 3), np.uint8)
    image[10:40, 20:50] = RED          # box 20,10 - 50,40 (pixels, x2/y2 exclusive edges)
    image[50:80, 70:110] = GREEN       # polygon rectangle 70,50 - 110,80
    poly = np.array([[70, 50], [110, 50], [110, 80], [70, 80]], np.float64)
    kps = np.array([[[35, 25, 2]], [[90, 65, 2]]], np.float64)  # each object's centre
    objects = Objects(classes=[0, 1], boxes=[[20, 10, 50, 40], [70, 50, 110, 80]], polygons=[None, poly], keypoints=kps)
    mask = np.zeros((h, w), np.uint8)
    mask[50:80, 70:110] = 2
    return Sample(image, objects, LabelSchema({0: "red", 1: "green"}, kpt_shape=(1, 3), flip_idx=(0,)), mask=mask)


def _extent(hit: np.ndarray) -> np.ndarray:
    """x1 y1 x2 y2 (pixel edges) of the True pixels."""
    ys, xs = np.nonzero(hit)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


def _colour(image: np.ndarray, bgr) -> np.ndarray:
    return np.abs(image.astype(int) - np.array(bgr)).sum(axis=2) < 60


@pytest.mark.parametrize("pipeline", [
    [{"type": "HorizontalFlip", "p": 1.0}],
    [{"type": "VerticalFlip", "p": 1.0}],
    [{"type": "Rotate90", "p": 1.0}],
    [{"type": "Affine", "translate": [0.1, 0.1], "p": 1.0}],
])
def test_augment_labels_follow_the_coloured_pixels(pipeline):
    sample = _patch_sample()
    out, ops = augcli.augment(sample, _geo_recipe(pipeline), key="a/frame.png", copy=1)
    assert len(out.objects) == 2
    red, green = _colour(out.image, RED), _colour(out.image, GREEN)
    np.testing.assert_allclose(out.objects.boxes[0], _extent(red), atol=1.0)
    np.testing.assert_allclose(out.objects.boxes[1], _extent(green), atol=1.0)
    poly = out.objects.polygons[1]
    tight = np.array([poly[:, 0].min(), poly[:, 1].min(), poly[:, 0].max(), poly[:, 1].max()])
    np.testing.assert_allclose(tight, _extent(green), atol=1.0)
    for i, hit in enumerate((red, green)):  # each keypoint is at its patch's centre
        ex = _extent(hit)
        np.testing.assert_allclose(out.objects.keypoints[i, 0, :2], [(ex[0] + ex[2]) / 2, (ex[1] + ex[3]) / 2], atol=1.0)
    assert out.mask.shape == out.image.shape[:2]
    assert np.array_equal(out.mask == 2, green)


def test_augment_leaves_the_callers_arrays_alone_and_repeats_for_a_seed():
    sample = _patch_sample()
    before = (sample.image.copy(), sample.mask.copy(), sample.objects.boxes.copy(),
              sample.objects.polygons[1].copy(), sample.objects.keypoints.copy())
    recipe = _geo_recipe([{"type": "Rotate", "degrees": [-30, 30], "p": 1.0},
                          {"type": "BrightnessContrast", "p": 1.0}, {"type": "CoarseDropout", "p": 1.0}])
    a, ops_a = augcli.augment(sample, recipe, key="x.png", copy=2)
    b, ops_b = augcli.augment(sample, augcli.load_recipe(recipe), key="x.png", copy=2)
    after = (sample.image, sample.mask, sample.objects.boxes, sample.objects.polygons[1], sample.objects.keypoints)
    for x, y in zip(before, after):
        assert np.array_equal(x, y)
    assert ops_a == ops_b and np.array_equal(a.image, b.image) and np.array_equal(a.objects.boxes, b.objects.boxes)


@pytest.mark.parametrize("image, words", [
    (np.zeros((40, 50), np.uint8), "(H, W, 3)"),            # greyscale
    (np.zeros((40, 50, 4), np.uint8), "(H, W, 3)"),         # BGRA
    (np.zeros((40,), np.uint8), "(H, W, 3)"),
    (np.zeros((40, 50, 3), np.float32), "uint8"),           # a float image in 0..1 would come back wrong
    (np.zeros((40, 50, 3), np.uint16), "uint8"),
    (np.zeros((40, 50, 3), bool), "uint8"),
    (np.zeros((0, 50, 3), np.uint8), "empty"),
])
def test_augment_refuses_images_a_run_never_makes(image, words):
    sample = Sample(image, Objects(classes=[0], boxes=[[1, 1, 5, 5]], polygons=[None]), LabelSchema({0: "a"}))
    with pytest.raises(UsageError, match="sample.image") as info:
        augcli.augment(sample, _geo_recipe([{"type": "HorizontalFlip", "p": 1.0}]))
    assert words in str(info.value)


@pytest.mark.parametrize("mask", [np.zeros((10, 10), np.uint8), np.zeros((40, 50, 3), np.uint8),
                                  np.zeros((40, 50), np.float32), np.zeros((50, 40), np.uint8)])
def test_augment_refuses_a_mask_that_does_not_fit_the_image(mask):
    # a mask of another size would be moved by a different matrix than the image: a wrong label
    sample = Sample(np.zeros((40, 50, 3), np.uint8), Objects.empty(), LabelSchema({1: "a"}), mask=mask)
    with pytest.raises(UsageError, match="sample.mask"):
        augcli.augment(sample, _geo_recipe([{"type": "Rotate90", "p": 1.0}]))


@pytest.mark.parametrize("box, polygon, words", [
    ([np.nan, 1, 5, 5], None, "finite"),
    ([1, 1, np.inf, 5], None, "finite"),
    ([30, 1, 10, 5], None, "x1 <= x2"),      # corners swapped: a flip would silently 'repair' it
    ([1, 9, 5, 2], None, "x1 <= x2"),
    ([1, 1, 5, 5], np.array([1.0, 2.0, 3.0]), "polygons[0]"),
    ([1, 1, 5, 5], np.array([[1, 1], [5, 1], [np.nan, 5]]), "polygons[0]"),
])
def test_augment_refuses_bad_coordinates(box, polygon, words):
    sample = Sample(np.zeros((40, 50, 3), np.uint8), Objects(classes=[0], boxes=[box], polygons=[polygon]),
                    LabelSchema({0: "a"}))
    with pytest.raises(UsageError) as info:
        augcli.augment(sample, _geo_recipe([{"type": "HorizontalFlip", "p": 1.0}]))
    assert words in str(info.value)


@pytest.mark.parametrize("kwargs, words", [
    ({"copy": 0}, "copy"), ({"copy": -1}, "copy"), ({"copy": "1"}, "copy"), ({"copy": True}, "copy"),
    ({"key": None}, "key"), ({"recipe": 5}, "recipe"), ({"recipe": None}, "recipe"),
    ({"sample": np.zeros((4, 4, 3), np.uint8)}, "Sample"),
])
def test_augment_refuses_bad_arguments_with_a_usage_error(kwargs, words):
    args = {"sample": _patch_sample(), "recipe": _geo_recipe([{"type": "HorizontalFlip", "p": 1.0}]),
            "key": "k.png", "copy": 1}
    args.update(kwargs)
    with pytest.raises(UsageError) as info:
        augcli.augment(args.pop("sample"), args.pop("recipe"), **args)
    assert words in str(info.value)


def test_augment_unknown_recipe_key_is_a_recipe_error():
    with pytest.raises(RecipeError, match="pipelin"):
        augcli.augment(_patch_sample(), {"version": 1, "pipelin": []})


# ---------------------------------------------------------------- run: keyword arguments and the report
def _yolo_dataset(root, n: int = 4):
    """A YOLO dataset of PNGs, each with one red patch labelled as class 0 (a different place per image)."""
    import cv2

    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    (root / "data.yaml").write_text("train: images/train\nval: images/val\nnames:\n  0: red\n  1: green\n")
    boxes = {}
    for i in range(n):
        split = "val" if i == n - 1 else "train"
        image = np.zeros((90, 120, 3), np.uint8)
        x1, y1 = 10 + 7 * i, 12 + 5 * i
        image[y1:y1 + 30, x1:x1 + 40] = RED
        cv2.imwrite(str(root / "images" / split / f"f{i}.png"), image)
        (root / "labels" / split / f"f{i}.txt").write_text(f"0 {(x1 + 20) / 120} {(y1 + 15) / 90} {40 / 120} {30 / 90}\n")
        boxes[f"images/{split}/f{i}.png"] = [x1, y1, x1 + 40, y1 + 30]
    return boxes


def test_augment_matches_what_run_writes_for_the_same_key_and_copy(tmp_path):
    import cv2

    boxes = _yolo_dataset(tmp_path / "in")
    recipe = _geo_recipe([{"type": "Rotate", "degrees": [-40, 40], "p": 1.0}, {"type": "HorizontalFlip", "p": 0.5}])
    report = augcli.run(recipe, tmp_path / "in", tmp_path / "out", workers=1, log=lambda line: None)
    assert report.exit_code == 0
    key = "images/train/f1.png"
    image = cv2.imread(str(tmp_path / "in" / key))
    sample = Sample(image, Objects(classes=[0], boxes=[boxes[key]], polygons=[None]), LabelSchema({0: "red", 1: "green"}))
    for copy in (1, 2):
        out, _ = augcli.augment(sample, recipe, key=key, copy=copy)
        written = cv2.imread(str(tmp_path / "out" / "images" / "train" / f"f1_aug{copy}.png"))
        assert np.array_equal(written, out.image)
        row = (tmp_path / "out" / "labels" / "train" / f"f1_aug{copy}.txt").read_text().split()
        cx, cy, w, h = (float(v) for v in row[1:5])
        np.testing.assert_allclose([(cx - w / 2) * 120, (cy - h / 2) * 90, (cx + w / 2) * 120, (cy + h / 2) * 90],
                                   out.objects.boxes[0], atol=0.01)
        # and the label holds the red pixels (corners rotate loosely, so the box may be larger, never smaller)
        ex = _extent(_colour(out.image, RED))
        assert (out.objects.boxes[0][:2] <= ex[:2] + 1).all() and (out.objects.boxes[0][2:] >= ex[2:] - 1).all()


def test_run_report_agrees_with_the_files_written(tmp_path):
    _yolo_dataset(tmp_path / "in", n=5)
    recipe = _geo_recipe([{"type": "HorizontalFlip", "p": 1.0}])  # copies 2, originals not kept, train only
    report = augcli.run(recipe, tmp_path / "in", tmp_path / "out", workers=1, limit=4, log=lambda line: None)
    images = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out" / "images").rglob("*.png"))
    assert report.inputs == report.processed == 4 and report.exit_code == 0
    assert report.outputs == len(images)
    labels = list((tmp_path / "out" / "labels").rglob("*.txt"))
    assert report.objects_out == sum(len(p.read_text().splitlines()) for p in labels)
    dry = augcli.run(recipe, tmp_path / "in", tmp_path / "dry", workers=1, dry_run=True, log=lambda line: None)
    assert dry.dry_run and dry.outputs == 0 and not (tmp_path / "dry" / "images").exists()


@pytest.mark.parametrize("kwargs, words", [
    ({"limit": -1}, "limit"),            # was a Python slice: silently dropped the last input
    ({"workers": 0}, "workers"),         # was silently the CPU count
    ({"workers": -2}, "workers"),
    ({"workers": "2"}, "workers"),       # was a TypeError from a comparison
    ({"copies": -1}, "copies"),          # was silently 'no copies'
    ({"on_error": "stop"}, "on_error"),  # was silently 'skip'
    ({"executor": "threads"}, "executor"),
    ({"max_outputs": 0}, "max_outputs"),
    ({"max_pixels": -5}, "max_pixels"),
    ({"splits": {"../escape": 1.0}}, "split name"),   # a split name becomes a folder in OUTPUT
    ({"splits": {"a/b": 1.0}}, "split name"),
    ({"splits": {"train": float("nan")}}, "fraction"),
    ({"splits": {"train": 1.5, "val": -0.5}}, "fraction"),
    ({"splits": {"train": 0.5, "val": 0.2}}, "add up to 1"),
    ({"splits": "train=0.8,val=0.2"}, "dict"),
])
def test_run_refuses_arguments_its_cli_flags_refuse(tmp_path, kwargs, words):
    _yolo_dataset(tmp_path / "in")
    recipe = _geo_recipe([{"type": "HorizontalFlip", "p": 1.0}])
    with pytest.raises(UsageError) as info:
        augcli.run(recipe, tmp_path / "in", tmp_path / "out", **{"workers": 1, **kwargs}, log=lambda line: None)
    assert words in str(info.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape").exists()


def test_the_documented_names_are_exported():
    namespace: dict = {}
    exec("from augcli import *", namespace)
    for name in ("load_recipe", "run", "augment", "RunReport"):  # README: the Python API and its report
        assert namespace[name] is getattr(augcli.api, name)


def _kp_sample(keypoints, schema=None, classes=(0,)) -> Sample:
    objects = Objects(classes=list(classes), boxes=[[10, 10, 30, 40]], polygons=[None], keypoints=keypoints)
    return Sample(np.zeros((50, 60, 3), np.uint8), objects, schema or LabelSchema({0: "a"}))


@pytest.mark.parametrize("sample, words", [
    (_kp_sample(None, classes=(-1,)), "class id -1"),
    (_kp_sample(None, classes=(7,)), "class id 7"),   # the format readers refuse an id outside data.yaml's names
    (_kp_sample(np.array([[[12.0, 12.0], [20, 20], [25, 25]]])), "(N, K, 3)"),
    (_kp_sample(np.array([[[np.nan, 12.0, 2]]])), "NaN"),   # came back as an unlabelled (0, 0, 0)
    (_kp_sample(np.array([[[12.0, 12.0, 5]]])), "visibility"),
    (_kp_sample(np.array([[[12.0, 12.0, 2]]]), LabelSchema({0: "a"}, kpt_shape=(2, 3), flip_idx=(1, 0))), "kpt_shape"),
    (_kp_sample(np.array([[[12.0, 12.0, 2]]]), LabelSchema({0: "a"}, kpt_shape=(1, 3), flip_idx=(3,))), "flip_idx"),
])
def test_augment_refuses_bad_classes_and_keypoints(sample, words):
    with pytest.raises(UsageError) as info:
        augcli.augment(sample, _geo_recipe([{"type": "HorizontalFlip", "p": 1.0}]))
    assert words in str(info.value)


def test_augment_keeps_an_unlabelled_keypoint_without_coordinates():
    # v = 0 means 'not labelled': its coordinates mean nothing, so NaN there is fine
    out, _ = augcli.augment(_kp_sample(np.array([[[np.nan, np.nan, 0]]])), _geo_recipe([{"type": "HorizontalFlip", "p": 1.0}]))
    assert out.objects.keypoints[0, 0, 2] == 0

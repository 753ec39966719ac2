"""Segmentation masks through the transform catalogue and odd mask files, against a pixel oracle.

Every class is painted as one solid colour in the image and as its class id in the mask, at
exactly the same pixels. After a real CLI run, each output mask must say, at every pixel away
from an edge, the class whose colour the image shows there; pixels with no source must be
background (0), and no value may appear that was not a class id.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from augcli.cli import main

BGR = {0: (128, 128, 128), 1: (0, 0, 255), 2: (0, 255, 0), 3: (255, 0, 0), 255: (0, 255, 255)}
FILLS = ((0, 0, 0), (114, 114, 114))  # the transforms' default border colours: no source, so background
W, H = 97, 71  # odd sizes on purpose


def _class_map(i: int) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[8:30, 10 + i:45] = 1
    cv2.circle(m, (65 - i, 45), 14, 2, -1)
    cv2.fillPoly(m, [np.array([[15, 60], [40, 40], [45, 68]])], 3)
    m[:, W - 4:] = 255  # a void border, as VOC has
    return m


def _paint(m: np.ndarray) -> np.ndarray:
    img = np.zeros(m.shape + (3,), np.uint8)
    for value, colour in BGR.items():
        img[m == value] = colour
    return img


def _dataset(root: Path, n: int = 3, palette: list[int] | None = None) -> None:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        m = _class_map(i)
        cv2.imwrite(str(root / "images" / f"m{i}.png"), _paint(m))
        im = Image.fromarray(m)
        if palette is not None:
            im.putpalette(palette)  # an L image with a palette is saved as a palette PNG
        im.save(root / "masks" / f"m{i}.png")
    (root / "classes.yaml").write_text("names: {1: box, 2: disc, 3: tri}\n")


def _run(tmp_path: Path, pipeline: list, src: Path, *extra: str, copies: int = 3) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"version": 1, "seed": 5, "copies": copies, "pipeline": pipeline}))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(src), "-o", str(out), "-w", "1", "-q", *extra])
    assert result.exit_code == 0, (result.output, result.exception)
    return out


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "augcli-manifest.jsonl").read_text().splitlines()]


def _colour_classes(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: the class whose colour is nearest (fills count as background), and that distance."""
    colours = list(BGR.items()) + [(0, f) for f in FILLS]
    dist = np.stack([np.abs(img.astype(np.int32) - np.array(c)).sum(axis=2) for _, c in colours])
    values = np.array([v for v, _ in colours], np.uint8)
    return values[dist.argmin(axis=0)], dist.min(axis=0)


def _assert_mask_follows_pixels(img: np.ndarray, mask: np.ndarray, where: str) -> None:
    assert mask.shape == img.shape[:2], where
    assert set(np.unique(mask).tolist()) <= set(BGR), f"{where}: values {np.unique(mask)} (interpolated ids?)"
    seen, dist = _colour_classes(img)
    kernel = np.ones((3, 3), np.uint8)  # a 1 px band at every edge of either map may disagree
    edge = np.zeros(mask.shape, bool)
    for arr in (seen, mask):
        edge |= cv2.dilate(arr, kernel) != cv2.erode(arr, kernel)
    sure = ~edge & (dist < 60)
    wrong = sure & (seen != mask)
    assert not wrong.any(), f"{where}: {int(wrong.sum())} pixels disagree, e.g. (colour, mask) " \
                            f"{sorted(set(zip(seen[wrong].tolist(), mask[wrong].tolist())))[:5]}"


PIPELINES = {
    "Affine-shear": [{"type": "Affine", "scale": [0.7, 1.3], "shear": [-20, 20], "rotate": [-20, 20],
                      "translate": [-0.1, 0.1]}],
    "Perspective": [{"type": "Perspective", "scale": [0.05, 0.15]}],
    "LensDistortion": [{"type": "LensDistortion"}],
    "Rotate": [{"type": "Rotate", "degrees": [-40, 40]}],
    "RandomResizedCrop": [{"type": "RandomResizedCrop", "size": [50, 61]}],
    "RandomSizedBBoxSafeCrop": [{"type": "RandomSizedBBoxSafeCrop", "size": [50, 61]}],
    "Letterbox": [{"type": "Letterbox", "size": [64, 64]}],
    "LongestMaxSize": [{"type": "LongestMaxSize", "max_size": 150}],
    "PadIfNeeded": [{"type": "PadIfNeeded", "min_size": [100, 111]}],
    "Rotate90+flips": [{"type": "Rotate90"}, {"type": "HorizontalFlip"}, {"type": "VerticalFlip", "p": 0.5}],
    "CenterCrop": [{"type": "CenterCrop", "size": [90, 51]}],
    "chain": [{"type": "Rotate", "degrees": [-30, 30]}, {"type": "RandomResizedCrop", "size": [50, 60]},
              {"type": "Affine", "shear": [-10, 10]}, {"type": "LensDistortion"}, {"type": "Rotate90"}],
    "Mosaic": [{"type": "Mosaic", "size": [80, 90]}],
    "CutMix": [{"type": "CutMix"}],
    "CoarseDropout": [{"type": "CoarseDropout", "holes": [2, 4], "size": [0.1, 0.3]}],
}


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_mask_follows_the_pixels_through_the_catalogue(tmp_path, name):
    _dataset(tmp_path / "in")
    out = _run(tmp_path, PIPELINES[name], tmp_path / "in", copies=2)
    records = [r for r in _records(out) if "output" in r]
    assert len(records) == 9
    for rec in records:
        img = cv2.imread(str(out / rec["output"]))
        mask = np.array(Image.open(out / rec["label"]))
        _assert_mask_follows_pixels(img, mask, rec["output"])


# ---------------------------------------------------------------- palette masks (VOC SegmentationClass)
def _voc_palette() -> list[int]:
    """The PASCAL VOC colour map: index bits spread over the high bits of R, G and B."""
    out = []
    for i in range(256):
        r = g = b = 0
        c = i
        for bit in range(8):
            r |= (c & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        out += [r, g, b]
    return out


def test_palette_masks_keep_their_palette_and_indices(tmp_path):
    """A VOC-style palette mask (255 = void, drawn cream by every viewer) is written back as a
    palette PNG with the same colours, its indices still the class ids and on their pixels; it
    used to come out as a grey PNG, nearly black to look at, its palette gone."""
    palette = _voc_palette()
    _dataset(tmp_path / "in", palette=palette)
    out = _run(tmp_path, [{"type": "Rotate", "degrees": [-30, 30]}, {"type": "Mosaic", "size": [80, 90]}],
               tmp_path / "in")
    records = [r for r in _records(out) if "output" in r]
    assert len(records) == 12
    for rec in records:
        with Image.open(out / rec["label"]) as im:
            assert im.mode == "P", rec["label"]
            got = im.getpalette()
            mask = np.array(im)
        used = int(mask.max()) + 1
        assert got[:3 * used] == palette[:3 * used], rec["label"]
        _assert_mask_follows_pixels(cv2.imread(str(out / rec["output"])), mask, rec["output"])
    # and the regions still convert to polygons of the right classes
    coco = _run(tmp_path / "c", [], out, "--output-format", "coco")
    data = json.loads(next((coco / "annotations").glob("*.json")).read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    assert {names[a["category_id"]] for a in data["annotations"]} == {"box", "disc", "tri"}


# ---------------------------------------------------------------- odd mask files
def test_one_bit_mask_png_is_read_as_class_one(tmp_path):
    """A binary mask saved from a bool array (PIL writes a 1-bit PNG) was refused as 'not a
    single-channel PNG'; its set pixels are value 1, as PIL and numpy read them."""
    root = tmp_path / "in"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    m = np.zeros((H, W), bool)
    m[10:40, 20:70] = True
    cv2.imwrite(str(root / "images" / "a.png"), _paint(m.astype(np.uint8)))
    Image.fromarray(m).save(root / "masks" / "a.png")
    with Image.open(root / "masks" / "a.png") as im:
        assert im.mode == "1"
    (root / "classes.yaml").write_text("names: {1: box}\n")
    out = _run(tmp_path, [{"type": "Rotate", "degrees": [-30, 30]}], root)
    records = _records(out)
    assert [r for r in records if "output" in r] and all("output" in r for r in records)
    for rec in records:
        mask = np.array(Image.open(out / rec["label"]))
        assert set(np.unique(mask).tolist()) == {0, 1}
        _assert_mask_follows_pixels(cv2.imread(str(out / rec["output"])), mask, rec["output"])


@pytest.mark.parametrize("text", ["names: {background: 0, box: 1}\n", "{1: box, two: 2}\n"])
def test_classes_yaml_with_names_as_keys_is_a_warning_not_a_crash(tmp_path, text):
    """classes.yaml written name -> value (the wrong way round) crashed the run with a ValueError
    traceback; now the values are kept as numbers, with a warning naming the file."""
    _dataset(tmp_path / "in", n=1)
    (tmp_path / "in" / "classes.yaml").write_text(text)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"version": 1, "pipeline": []}))
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                       "-w", "1", "-q"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "classes.yaml" in result.stderr and "mask value to name" in result.stderr
    mask = np.array(Image.open(tmp_path / "out" / "masks" / "m0.png"))
    assert np.array_equal(mask, _class_map(0))


def test_labelmap_not_utf8_is_a_warning_not_a_crash(tmp_path):
    _dataset(tmp_path / "in", n=1)
    (tmp_path / "in" / "classes.yaml").unlink()
    (tmp_path / "in" / "labelmap.txt").write_bytes("background\nbo\xeete\ndisc\ntri\n".encode("latin-1"))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"version": 1, "pipeline": []}))
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                       "-w", "1", "-q"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "labelmap.txt" in result.stderr
    assert np.array_equal(np.array(Image.open(tmp_path / "out" / "masks" / "m0.png")), _class_map(0))


def test_odd_mask_files_are_read_exactly_or_skipped_by_name(tmp_path):
    """A 16-bit mask whose values fit in 0..255 and a grey RGB one are read as their values; a
    mask of another size than its image, a 16-bit one with values past 255 and a colour-coded RGB
    one are each skipped with a message naming the mask, and the run goes on."""
    root = tmp_path / "in"
    _dataset(root, n=6)
    m = _class_map(0)
    cv2.imwrite(str(root / "masks" / "m0.png"), m.astype(np.uint16))  # 16-bit, values <= 255
    cv2.imwrite(str(root / "masks" / "m1.png"), np.dstack([_class_map(1)] * 3))  # grey RGB
    cv2.imwrite(str(root / "masks" / "m2.png"), _class_map(2)[:-1])  # one row short
    big = _class_map(3).astype(np.uint16)
    big[big == 2] = 300
    cv2.imwrite(str(root / "masks" / "m3.png"), big)
    cv2.imwrite(str(root / "masks" / "m4.png"), _paint(_class_map(4)))  # colour-coded
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"version": 1, "pipeline": [{"type": "HorizontalFlip"}], "copies": 1}))
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(root), "-o", str(tmp_path / "out"), "-w", "1",
                                       "-q"])
    assert result.exit_code == 1, (result.output, result.exception)
    for i in (2, 3, 4):
        assert f"masks/m{i}.png" in result.stderr
    assert "97x70" in result.stderr and "300" in result.stderr
    out = tmp_path / "out"
    for i in (0, 1, 5):
        assert np.array_equal(np.array(Image.open(out / "masks" / f"m{i}.png")), _class_map(i))
        flipped = np.array(Image.open(out / "masks" / f"m{i}_aug1.png"))
        assert np.array_equal(flipped, _class_map(i)[:, ::-1])
    for i in (2, 3, 4):
        assert not (out / "masks" / f"m{i}.png").exists() and not (out / "images" / f"m{i}.png").exists()

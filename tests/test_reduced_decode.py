"""JPEGs decoded at a reduced size (augcli.imageio.reduced_decoding) for recipes that start with a
fixed shrink and write no originals (augcli.job.reduced_decode_factor), from YOLO (labels in
fractions of the size) and from COCO and VOC (labels in the file's pixels, scaled).

The labels are checked against the picture (test_oracle's colour patches, its oracle and
tolerances), and against the same run with full-size decoding: the same labels, nearly the same
pixels. Which inputs are decoded smaller is seen at the decoder (cv2.imdecode's flags)."""
from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

import augcli.imageio as imageio
import augcli.job as job
from augcli.cli import main
from tests.test_oracle import BOXES, _check_boxes, _read_labels, _records, _write_dataset, _yolo_box

REDUCED = {cv2.IMREAD_REDUCED_COLOR_2: 2, cv2.IMREAD_REDUCED_COLOR_4: 4, cv2.IMREAD_REDUCED_COLOR_8: 8}


def _jpeg_dataset(root: Path, extra_width: int = 0) -> None:
    """test_oracle's three detection scenes at twice the size (nearest: the patches stay solid), as
    JPEGs; YOLO labels are fractions of the size, so they hold as written. `extra_width` widens the
    last scene by that many grey columns (its labels rescaled to match)."""
    _write_dataset(root, "detect")
    for n in range(3):
        png = root / "images" / f"scene{n}.png"
        img = cv2.imread(str(png))
        big = cv2.resize(img, (img.shape[1] * 2, img.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
        if n == 2 and extra_width:
            w = big.shape[1]
            big = cv2.copyMakeBorder(big, 0, 0, 0, extra_width, cv2.BORDER_CONSTANT, value=(128, 128, 128))
            label = root / "labels" / f"scene{n}.txt"
            rows = [line.split() for line in label.read_text().splitlines()]
            label.write_text("".join(f"{c} {float(x) * w / (w + extra_width):.6f} {y} {float(bw) * w / (w + extra_width):.6f} {bh}\n"
                                     for c, x, y, bw, bh in rows))
        cv2.imwrite(str(root / "images" / f"scene{n}.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 97])
        png.unlink()


def _run(tmp_path: Path, name: str, pipeline: list, monkeypatch, keep_original: bool = False,
         extra_width: int = 0, reduce: bool = True, src: Path | None = None) -> tuple[Path, list[int]]:
    """Run the CLI in this process (one worker) on a fresh JPEG dataset (or `src`), writing YOLO;
    returns the output folder and the reduction factor of every JPEG decode (1: full size)."""
    out = tmp_path / f"{name}-out"
    if src is None:
        src = tmp_path / f"{name}-in"
        if not src.exists():
            _jpeg_dataset(src, extra_width)
    recipe = {"version": 1, "seed": 7, "copies": 4, "keep_original": keep_original, "pipeline": pipeline,
              "labels": {"min_visibility": 0.0, "min_area": 1}}
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(recipe))
    factors: list[int] = []
    real = cv2.imdecode

    def imdecode(buf, flags):
        factors.append(REDUCED.get(flags, 1))
        return real(buf, flags)

    monkeypatch.setattr(imageio.cv2, "imdecode", imdecode)
    if not reduce:
        monkeypatch.setattr(job, "reduced_decode_factor", lambda recipe: None)
    try:
        res = CliRunner().invoke(main, ["run", str(tmp_path / f"{name}.yaml"), "-i", str(src), "-o", str(out), "-w", "1", "-q",
                                        "--output-format", "yolo"])
    finally:
        monkeypatch.undo()
    assert res.exit_code == 0, res.output
    return out, factors


def _boxes(out: Path, rec: dict) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    img = cv2.imread(str(out / rec["output"]))
    h, w = img.shape[:2]
    return img, {cls: _yolo_box(vals, w, h) for cls, vals in _read_labels(out / rec["label"], w, h)}


@pytest.mark.parametrize("first,factor", [
    ({"type": "LongestMaxSize", "max_size": 200}, 2),  # 480x360 -> 200x150: decoded at 240x180
    ({"type": "LongestMaxSize", "max_size": 100}, 4),  # -> 100x75: decoded at 120x90
    ({"type": "Resize", "size": [80, 110]}, 4),  # 110/480 and 80/360: both at most 1/4
    ({"type": "Letterbox", "size": [160, 160]}, 2),  # fits 160x120 in 160x160, padded
])
def test_a_fixed_shrink_first_decodes_smaller_and_labels_still_cover_their_colour(tmp_path, monkeypatch, first, factor):
    pipeline = [first, {"type": "HorizontalFlip", "p": 0.5}, {"type": "Rotate", "degrees": [-15, 15], "p": 0.7}]
    out, factors = _run(tmp_path, "reduced", pipeline, monkeypatch)
    assert factors == [factor] * 3
    full, full_factors = _run(tmp_path, "full", pipeline, monkeypatch, reduce=False)
    assert full_factors == [1] * 3
    records, full_records = _records(out), _records(full)
    assert len(records) == 12 and [r["ops"] for r in records] == [r["ops"] for r in full_records]
    for rec, full_rec in zip(records, full_records):
        img, boxes = _boxes(out, rec)
        _check_boxes(img, boxes, 3.0, len(BOXES))
        full_img, full_boxes = _boxes(full, full_rec)
        assert img.shape == full_img.shape and boxes.keys() == full_boxes.keys()
        for cls in boxes:  # the same map from the same picture: the same labels (to their 6 decimals)
            assert np.allclose(boxes[cls], full_boxes[cls], atol=2e-6 * max(img.shape)), cls
        # the pixels differ by the filter only (DCT scaling against an area resize)
        diff = np.abs(img.astype(np.int16) - full_img)
        assert diff.mean() < 3.0, diff.mean()


@pytest.mark.parametrize("fmt", ["coco", "voc"])
def test_labels_in_the_files_pixels_are_scaled_to_a_reduced_decode(tmp_path, monkeypatch, fmt):
    """COCO and VOC give boxes in the file's pixels: read at the file's size and scaled to the
    smaller decode, they land as from a full-size decode and still cover their colour."""
    src = tmp_path / "yolo-in"
    _jpeg_dataset(src)
    converted = tmp_path / f"{fmt}-in"
    (tmp_path / "convert.yaml").write_text(yaml.safe_dump({"version": 1, "pipeline": []}))  # a conversion
    res = CliRunner().invoke(main, ["run", str(tmp_path / "convert.yaml"), "-i", str(src), "-o", str(converted),
                                    "--output-format", fmt, "-w", "1", "-q"])
    assert res.exit_code == 0, res.output
    pipeline = [{"type": "LongestMaxSize", "max_size": 100}, {"type": "Rotate", "degrees": [-15, 15], "p": 0.7}]
    out, factors = _run(tmp_path, "reduced", pipeline, monkeypatch, src=converted)
    assert factors == [4] * 3
    full, _ = _run(tmp_path, "full", pipeline, monkeypatch, src=converted, reduce=False)
    compared = 0
    for rec, full_rec in zip(_records(out), _records(full)):
        img, boxes = _boxes(out, rec)
        _check_boxes(img, boxes, 3.0, len(BOXES))
        _, full_boxes = _boxes(full, full_rec)
        assert boxes.keys() == full_boxes.keys() and len(boxes) == len(BOXES)
        for cls in boxes:
            assert np.allclose(boxes[cls], full_boxes[cls], atol=2e-6 * max(img.shape)), cls
        compared += 1
    assert compared == 12


def test_inputs_keep_their_full_size_decode_when_a_reduced_one_would_not_be_exact(tmp_path, monkeypatch):
    """An original kept (copy 0 is the input itself), a side that the factor does not divide, a
    first step that enlarges or is drawn, or a shrink too small for a factor: full-size decodes."""
    shrink = [{"type": "LongestMaxSize", "max_size": 200}, {"type": "HorizontalFlip", "p": 0.5}]
    assert _run(tmp_path, "original", shrink, monkeypatch, keep_original=True)[1] == [1, 1, 1]
    # the last scene is 483 px wide: 2 does not divide it
    assert _run(tmp_path, "odd", shrink, monkeypatch, extra_width=3)[1] == [2, 2, 1]
    assert _run(tmp_path, "slight", [{"type": "LongestMaxSize", "max_size": 300}], monkeypatch)[1] == [1, 1, 1]
    assert _run(tmp_path, "drawn", [{"type": "LongestMaxSize", "max_size": 200, "p": 0.9}], monkeypatch)[1] == [1, 1, 1]
    assert _run(tmp_path, "later", [{"type": "HorizontalFlip", "p": 0.5},
                                     {"type": "LongestMaxSize", "max_size": 100}], monkeypatch)[1] == [1, 1, 1]


def test_a_reduced_decode_keeps_the_exif_orientation():
    """A JPEG stored 480x360 with EXIF orientation 6 (turn 90 degrees clockwise) shows 360x480; at
    half size it must show the same picture at 180x240 (the factor is asked for the size shown)."""
    rng = np.random.default_rng(3)
    stored = cv2.resize(rng.integers(0, 256, (9, 12, 3), dtype=np.uint8), (480, 360), interpolation=cv2.INTER_LINEAR)
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored[..., ::-1]).save(buf, "JPEG", quality=95, exif=exif)
    data = buf.getvalue()
    asked = []
    full = imageio.decode_image(data, "turned.jpg")
    with imageio.reduced_decoding(lambda w, h: asked.append((w, h)) or 2):
        half = imageio.decode_image(data, "turned.jpg")
    assert asked == [(360, 480)] and full.shape == (480, 360, 3) and half.shape == (240, 180, 3)
    expected = cv2.resize(full, (180, 240), interpolation=cv2.INTER_AREA)
    assert np.abs(half.astype(np.int16) - expected).mean() < 3.0
    with imageio.reduced_decoding(lambda w, h: 16):  # not a factor the decoder has: full size
        assert imageio.decode_image(data, "turned.jpg").shape == full.shape


def test_preview_makes_the_copies_from_the_reduced_decode_the_run_uses(tmp_path, monkeypatch):
    """`augcli preview` shows the original at full size and the copies as the run writes them:
    each copy, encoded as the run encodes it, is the run's output byte for byte."""
    from augcli.imageio import encode_image
    from augcli.preview import make_preview

    pipeline = [{"type": "LongestMaxSize", "max_size": 200}, {"type": "Rotate", "degrees": [-15, 15], "p": 0.7}]
    out, factors = _run(tmp_path, "run", pipeline, monkeypatch)
    assert factors == [2, 2, 2]
    preview = make_preview(tmp_path / "run.yaml", tmp_path / "run-in", n=3, copies=4)
    outputs = {(r["source"], r["copy"]): (out / r["output"]).read_bytes() for r in _records(out)}
    compared = 0
    for row in preview.rows:
        assert row.tiles[0].sample.size == (480, 360)  # the original, decoded whole
        for tile in row.tiles[1:]:
            assert encode_image(tile.sample.image, ".jpg") == outputs[(row.key, tile.copy)]
            compared += 1
    assert compared == 12


def test_objects_scaled_moves_every_coordinate_and_nothing_else():
    from augcli.sample import Objects

    objects = Objects(np.array([0, 1]), np.array([[4.0, 8.0, 40.0, 20.0], [0.0, 0.0, 8.0, 8.0]]),
                      [np.array([[4.0, 8.0], [40.0, 8.0], [40.0, 20.0]]), None],
                      np.array([[[10.0, 12.0, 2.0], [0.0, 0.0, 0.0]], [[2.0, 6.0, 1.0], [4.0, 4.0, 2.0]]]),
                      attrs=[{"difficult": 1}, {}])
    half = objects.scaled(0.5)
    assert np.array_equal(half.boxes, objects.boxes / 2) and half.polygons[1] is None
    assert np.array_equal(half.polygons[0], objects.polygons[0] / 2)
    assert np.array_equal(half.keypoints[..., :2], objects.keypoints[..., :2] / 2)
    assert np.array_equal(half.keypoints[..., 2], objects.keypoints[..., 2])  # visibility flags kept
    assert half.attrs == objects.attrs and np.array_equal(half.classes, objects.classes)
    assert objects.boxes[0, 2] == 40.0  # the input is not changed
    covered = Objects(np.array([0]), np.array([[0.0, 0.0, 4.0, 4.0]]), [None],
                      covered=[(0, 0, np.ones((2, 2), bool))])
    with pytest.raises(ValueError):
        covered.scaled(0.5)

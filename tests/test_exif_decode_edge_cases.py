"""EXIF orientation end to end: labels drawn on the image as displayed (EXIF applied, as CVAT /
Label Studio / Roboflow show it) must cover the same pixels in every output as an EXIF-aware
reader (Pillow's ImageOps.exif_transpose, which Ultralytics uses) displays it. Regression
guards; the oracle is a red patch painted in the displayed image."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

W, H = 64, 48
BOX = (8, 16, 32, 40)  # x1, y1, x2, y2 of the red patch in the displayed image
# stored = inverse of what exif_transpose applies for each orientation
INVERSE = {2: Image.FLIP_LEFT_RIGHT, 3: Image.ROTATE_180, 4: Image.FLIP_TOP_BOTTOM, 5: Image.TRANSPOSE,
           6: Image.ROTATE_90, 7: Image.TRANSVERSE, 8: Image.ROTATE_270}


def _write_rotated_jpeg(path: Path, orientation: int) -> None:
    a = np.full((H, W, 3), 128, np.uint8)
    x1, y1, x2, y2 = BOX
    a[y1:y2, x1:x2] = (255, 0, 0)
    im = Image.fromarray(a).transpose(INVERSE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, "JPEG", quality=95, exif=exif.tobytes())


def _displayed(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.array(ImageOps.exif_transpose(im).convert("RGB")).astype(int)


def _covers_red(path: Path, box) -> bool:
    a = _displayed(path)
    red = (a[..., 0] > 180) & (a[..., 1] < 80) & (a[..., 2] < 80)
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    inside = red[max(y1, 0):y2, max(x1, 0):x2]
    return red.sum() > 0 and inside.sum() / red.sum() > 0.97 and inside.mean() > 0.8


def _run(recipe: Path, inp: Path, out: Path, *extra: str) -> None:
    cp = subprocess.run([sys.executable, "-m", "augcli", "run", str(recipe), "-i", str(inp), "-o", str(out),
                         "-w", "1", "-q", *extra], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr


RECIPE = """version: 1
seed: 1
copies: 2
keep_original: true
augment_splits: all
output: {image_format: keep}
pipeline: [{type: HorizontalFlip, p: 0.5}]
"""


@pytest.fixture
def rotated_yolo(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "data.yaml").write_text("names: [red]\n")
    x1, y1, x2, y2 = BOX
    for o in range(2, 9):
        _write_rotated_jpeg(root / "images" / f"img{o}.jpg", o)
        (root / "labels" / f"img{o}.txt").write_text(
            f"0 {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f}\n")
    return root


def test_yolo_exif_rotated_outputs_match_labels_as_displayed(tmp_path, rotated_yolo):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    out = tmp_path / "out"
    _run(recipe, rotated_yolo, out)
    images = sorted((out / "images").glob("*.jpg"))
    assert len(images) == 7 * 3
    for p in images:
        with Image.open(p) as im:
            tag = im.getexif().get(0x0112)
            w, h = ImageOps.exif_transpose(im).size
        # originals are byte copies (their EXIF tag kept); encoded copies carry no orientation tag
        assert (tag is None) == ("_aug" in p.name), p.name
        assert (w, h) == (W, H), p.name
        _, cx, cy, bw, bh = (float(v) for v in (out / "labels" / f"{p.stem}.txt").read_text().split())
        assert _covers_red(p, ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)), p.name


def test_coco_exif_rotated_sizes_are_the_displayed_sizes(tmp_path, rotated_yolo):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    out = tmp_path / "out"
    _run(recipe, rotated_yolo, out, "--output-format", "coco")
    (ann,) = (out / "annotations").glob("*.json")
    data = json.loads(ann.read_text())
    assert len(data["images"]) == 7 * 3
    for rec in data["images"]:
        (p,) = [q for q in out.rglob(rec["file_name"].split("/")[-1]) if q.is_file()]
        with Image.open(p) as im:
            assert ImageOps.exif_transpose(im).size == (rec["width"], rec["height"]) == (W, H)
        (a,) = [a for a in data["annotations"] if a["image_id"] == rec["id"]]
        x, y, bw, bh = a["bbox"]
        assert _covers_red(p, (x, y, x + bw, y + bh)), p.name

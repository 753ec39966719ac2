"""`augcli preview` edge cases: the same pictures as `run` when run refuses inputs, text that fits,
labels drawn on their patches at any image shape and tile height.

All data is generated; the oracles are the run's own output (pixels, ops) and the label geometry."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from augcli.cli import main
from augcli.manifest import MANIFEST_NAME
from augcli.preview import (
    CAPTION_SIZE, GAP, PAD, PALETTE, ROW_TITLE_SIZE, TITLE_SIZE, draw_sample, make_preview, render_sheet, text_width,
)
from augcli.sample import LabelSchema, Objects, Sample


def write_flat_dataset(root: Path, stems: list[str], size=(60, 40)) -> Path:
    """A YOLO dataset: one flat-coloured PNG per stem (a different grey each), one box each."""
    w, h = size
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i, stem in enumerate(stems):
        cv2.imwrite(str(root / "images" / f"{stem}.png"), np.full((h, w, 3), 20 + 30 * i, np.uint8))
        (root / "labels" / f"{stem}.txt").write_text("0 0.5 0.5 0.3 0.3\n")
    (root / "data.yaml").write_text("names: [cat]\n")
    return root


def run_records(recipe: Path, data: Path, out: Path, exit_code: int = 0) -> dict[tuple[str, int], dict]:
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(data), "-o", str(out), "-w", "1", "-q"])
    assert result.exit_code == exit_code, result.output
    lines = (out / MANIFEST_NAME).read_text().splitlines()
    return {(r["source"], r["copy"]): r for r in map(json.loads, lines) if "copy" in r}


# ---------------------------------------------------------------- preview == run
def test_mixing_copies_equal_run_when_run_refuses_a_colliding_input(tmp_path):
    """run refuses a_aug1.png (named like a.png's copy 1) and so never draws it as a MixUp donor;
    preview must draw donors from the same inputs, and show that row as skipped."""
    data = write_flat_dataset(tmp_path / "in", ["a", "a_aug1", "b", "c", "d", "e"])
    recipe = tmp_path / "r.yaml"
    recipe.write_text(json.dumps({"seed": 3, "copies": 2, "pipeline": [{"type": "MixUp", "p": 1.0}]}))
    records = run_records(recipe, data, tmp_path / "out", exit_code=1)  # 1: an input was skipped
    assert not any(src == "images/a_aug1.png" for src, _ in records)
    preview = make_preview(recipe, data, n=10)
    compared = 0
    for row in preview.rows:
        if row.key == "images/a_aug1.png":
            assert row.tiles == [] and "run would skip this input" in row.note and "a_aug1" in row.note
            continue
        for tile in row.tiles[1:]:
            rec = records[(row.key, tile.copy)]
            written = cv2.imread(str(tmp_path / "out" / rec["output"]), cv2.IMREAD_UNCHANGED)
            assert tile.ops == rec["ops"], (row.key, tile.copy)
            assert np.array_equal(tile.sample.image, written), (row.key, tile.copy)
            compared += 1
    assert compared == 10


# ---------------------------------------------------------------- text that fits
@pytest.mark.parametrize("tile_height", [48, 64])
def test_copy_titles_fit_their_column_at_small_tile_heights(tmp_path, tile_height):
    """The title line under a picture ('copy 1  (_aug1)') is not wrapped: its column must hold it, or
    the next column's background covers its end."""
    data = write_flat_dataset(tmp_path / "in", ["a"])
    preview = make_preview({"seed": 1, "copies": 3, "pipeline": [{"type": "HorizontalFlip", "p": 1.0}]}, data, n=1)
    sheet, layout = render_sheet(preview, tile_height)
    tiles = preview.rows[0].tiles
    assert [b.copy for b in layout] == [t.copy for t in tiles]
    for box, nxt, tile in zip(layout, layout[1:], tiles):
        room = nxt.x - GAP - box.x  # this tile's column
        assert PAD + text_width(tile.title, TITLE_SIZE) <= room, (tile.title, room)
    assert layout[-1].x + PAD + text_width(tiles[-1].title, TITLE_SIZE) <= sheet.shape[1]


def test_row_title_and_note_fit_the_sheet(tmp_path):
    """A long input name, and the note of an input run skips (naming it), are drawn on one line each:
    the sheet must be wide enough to show them whole."""
    long = "frame_" + "x" * 150
    data = write_flat_dataset(tmp_path / "in", [long])
    (data / "images" / f"{long}_broken.png").write_bytes(b"not a png")
    preview = make_preview({"seed": 1, "copies": 1, "pipeline": [{"type": "HorizontalFlip", "p": 1.0}]}, data, n=2)
    skipped = [r for r in preview.rows if r.note]
    assert len(skipped) == 1 and not skipped[0].tiles
    sheet, _ = render_sheet(preview, 64)
    for row in preview.rows:
        title = f"{row.key}   (split {row.split})" if row.split else row.key
        assert GAP + text_width(title, ROW_TITLE_SIZE) <= sheet.shape[1]
        if row.note:
            assert GAP + text_width(row.note, CAPTION_SIZE) <= sheet.shape[1]


# ---------------------------------------------------------------- labels on their patches
@pytest.mark.parametrize("size,tile_height", [
    ((160, 100), 288), ((100, 160), 97), ((7, 5), 288), ((3000, 2000), 97), ((1000, 50), 288),  # wider than 2.5:1
    ((37, 501), 288), ((641, 479), 33), ((5, 300), 500)])
@pytest.mark.parametrize("as_polygon", [False, True])
def test_outline_lies_on_the_label_edges_for_any_shape_and_scale(size, tile_height, as_polygon):
    """Oracle: the right and bottom edges of a label (away from the name tag) are drawn within 1 px of
    where the label's edge lands in the scaled tile (per axis, as the picture itself is scaled)."""
    w_img, h_img = size
    x1, y1, x2, y2 = 0.2 * w_img, 0.3 * h_img, 0.7 * w_img, 0.8 * h_img
    poly = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]]) if as_polygon else None
    sample = Sample(np.zeros((h_img, w_img, 3), np.uint8), Objects(classes=[1], boxes=[[x1, y1, x2, y2]],
                                                                   polygons=[poly]), LabelSchema(names={0: "a", 1: "b"}))
    tile, _ = draw_sample(sample, tile_height)
    h, w = tile.shape[:2]
    sx, sy = w / w_img, h / h_img
    ink = np.linalg.norm(tile.astype(float) - np.array(PALETTE[1], float), axis=-1) < 40
    errors = []
    for r in range(int(np.ceil((y1 + 0.6 * (y2 - y1)) * sy)), min(h, int(y2 * sy))):
        xs = np.nonzero(ink[r])[0]
        errors.append(abs(xs.max() - (x2 * sx - 0.5)) if len(xs) else np.inf)
    for c in range(int(np.ceil((x1 + 0.6 * (x2 - x1)) * sx)), min(w, int(x2 * sx))):
        ys = np.nonzero(ink[:, c])[0]
        errors.append(abs(ys.max() - (y2 * sy - 0.5)) if len(ys) else np.inf)
    assert errors and max(errors) <= 2.0  # a 2-px line centred on the edge: its far side is 1 px out, +1 px slack

"""`augcli preview`: labels drawn where they are, the same pictures and ops as `run`, a readable sheet, an offline gallery.

Pixel checks look up tile pixels through the layout render_sheet returns: a label point (x, y)
in image pixels lands at tile pixel (x * scale - 0.5, y * scale - 0.5) (pixel centres)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from augcli.cli import main
from augcli.formats.yolo import format_labels
from augcli.manifest import MANIFEST_NAME
from augcli.preview import (
    LEFT_COLOUR, PALETTE, RIGHT_COLOUR, choose_items, class_colour, draw_sample, format_ops, make_preview,
    render_sheet,
)

ROOT = Path(__file__).resolve().parents[1]
GREY = 128
NAMES = ("cat", "dog")


def colour_near(sheet: np.ndarray, x: float, y: float, colour, radius: int = 2, tol: float = 60.0) -> bool:
    """Whether a pixel within `radius` of sheet position (x, y) is within `tol` (RGB distance) of `colour`."""
    xi, yi = int(round(x)), int(round(y))
    patch = sheet[max(0, yi - radius): yi + radius + 1, max(0, xi - radius): xi + radius + 1].astype(float)
    return bool((np.linalg.norm(patch - np.array(colour, float), axis=-1) < tol).any())


def edge_points(box, n: int = 5):
    """Points along the left, right and bottom edges and the right half of the top edge of an
    x1 y1 x2 y2 box (image pixels); the class-name tag sits on the top-left corner."""
    x1, y1, x2, y2 = box
    ts = np.linspace(0.15, 0.85, n)
    pts = [(x1, y1 + t * (y2 - y1)) for t in ts] + [(x2, y1 + t * (y2 - y1)) for t in ts]
    pts += [(x1 + t * (x2 - x1), y2) for t in ts] + [(x1 + (0.6 + 0.3 * t) * (x2 - x1), y1) for t in ts]
    return pts


def to_sheet(tb, x: float, y: float) -> tuple[float, float]:
    return tb.x + x * tb.scale - 0.5, tb.y + y * tb.scale - 0.5


def write_grey_dataset(root: Path, boxes: dict[str, list[tuple[int, tuple[float, float, float, float]]]],
                       size=(160, 100)) -> Path:
    """Flat grey PNGs with the given boxes: {stem: [(cls, (x1, y1, x2, y2) pixels), ...]}."""
    w, h = size
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for stem, objs in boxes.items():
        cv2.imwrite(str(root / "images" / f"{stem}.png"), np.full((h, w, 3), GREY, np.uint8))
        lines = [f"{c} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
                 for c, (x1, y1, x2, y2) in objs]
        (root / "labels" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text("names: [cat, dog]\n")
    return root


# ---------------------------------------------------------------- labels drawn where they are
def test_boxes_are_drawn_at_their_scaled_positions_in_original_and_flipped_copy(tmp_path):
    boxes = {"a": [(0, (20, 15, 90, 70)), (1, (100, 30, 150, 90))]}
    data = write_grey_dataset(tmp_path / "in", boxes)
    recipe = {"seed": 1, "copies": 1, "pipeline": [{"type": "HorizontalFlip", "p": 1.0}]}
    preview = make_preview(recipe, data, n=1)
    sheet, layout = render_sheet(preview, tile_height=250)
    (original, copy) = layout
    assert (original.copy, copy.copy) == (0, 1)
    assert original.scale == pytest.approx(2.5) and original.height == 250 and original.width == 400
    w = 160
    for cls, box in boxes["a"]:
        colour = PALETTE[cls]
        flipped = (w - box[2], box[1], w - box[0], box[3])
        for tb, b in ((original, box), (copy, flipped)):
            missing = [p for p in edge_points(b) if not colour_near(sheet, *to_sheet(tb, *p), colour)]
            assert not missing, (tb.copy, cls, missing)
            # the inside of a box is not painted: the grey image shows through
            cx, cy = to_sheet(tb, (b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
            assert np.abs(sheet[int(cy), int(cx)].astype(int) - GREY).max() <= 2
    # the other class's colour is not on this box: colours tell classes apart
    assert not colour_near(sheet, *to_sheet(original, 20, 40), PALETTE[1], radius=1, tol=40)
    assert class_colour(0, preview.schema) == PALETTE[0]


def test_sample_data_sheet_has_every_box_on_its_tile(tmp_path):
    """configs/basic.yaml on sample_data/yolo: each tile shows each of its boxes along its edges,
    and the PNG the command writes is exactly that sheet."""
    recipe, data = ROOT / "configs" / "basic.yaml", ROOT / "sample_data" / "yolo"
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(main, ["preview", str(recipe), str(data), "-n", "2", "--copies", "2", "-o", str(out),
                                       "--tile-height", "200"])
    assert result.exit_code == 0, result.output
    assert f"written to {out}" in result.stderr
    written = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    preview = make_preview(recipe, data, n=2, copies=2)
    sheet, layout = render_sheet(preview, tile_height=200)
    assert np.array_equal(written, sheet)
    assert len(layout) == 2 * 3
    tiles = [t for row in preview.rows for t in row.tiles]
    checked = 0
    for tb, tile in zip(layout, tiles):
        objects = tile.sample.objects
        assert len(objects) > 0
        for i in range(len(objects)):
            colour = class_colour(objects.classes[i], preview.schema)
            pts = edge_points(objects.boxes[i])
            hits = sum(colour_near(sheet, *to_sheet(tb, *p), colour) for p in pts)
            assert hits >= 0.75 * len(pts), (tile.copy, i, hits)  # other boxes may cross a few points
            checked += 1
    assert checked >= 6


def test_keypoints_are_drawn_with_left_and_right_colours():
    preview = make_preview(ROOT / "configs" / "basic.yaml", ROOT / "sample_data" / "yolo-pose", n=1, copies=1)
    tile = preview.rows[0].tiles[0]
    pic, scale = draw_sample(tile.sample, 300)
    kp = tile.sample.objects.keypoints[0]
    names = ("nose", "left_eye", "right_eye", "left_ear", "right_ear") + ("left", "right") * 6
    hits = total = 0
    for (x, y, v), name in zip(kp, names):
        if v == 2:
            total += 1
            expected = LEFT_COLOUR if "left" in name else RIGHT_COLOUR if "right" in name else (255, 255, 255)
            hits += colour_near(pic, x * scale - 0.5, y * scale - 0.5, expected, radius=1, tol=40)
    assert total >= 5 and hits >= 0.8 * total


def test_mask_overlay_tints_only_labelled_pixels():
    preview = make_preview(ROOT / "configs" / "basic.yaml", ROOT / "sample_data" / "mask", n=1, copies=0)
    sample = preview.rows[0].tiles[0].sample
    pic, scale = draw_sample(sample, sample.size[1])  # scale 1: mask and tile align pixel for pixel
    assert scale == 1.0
    plain = cv2.cvtColor(sample.image, cv2.COLOR_BGR2RGB).astype(int)
    mask = sample.mask
    labelled = cv2.erode(((mask != 0) & (mask != 255)).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    background = cv2.erode((mask == 0).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    labelled[:40] = background[:40] = False  # class-name tags sit at the top of regions
    diff = np.abs(pic.astype(int) - plain).max(axis=-1)
    assert np.median(diff[labelled]) > 20
    assert np.percentile(diff[background], 99) <= 1


def test_classify_tiles_name_the_image_class(tmp_path):
    preview = make_preview(ROOT / "configs" / "basic.yaml", ROOT / "sample_data" / "classify", n=2, copies=1)
    for row in preview.rows:
        cls = row.tiles[0].sample.image_class
        assert cls is not None and preview.schema.names[cls] == row.key.split("/")[1]
        pic, _ = draw_sample(row.tiles[1].sample, 200)
        assert colour_near(pic, 3, 3, class_colour(cls, preview.schema), radius=1, tol=10)  # the tag, top-left


# ---------------------------------------------------------------- preview == run
def test_preview_pictures_labels_and_ops_equal_what_run_writes(make_yolo_dataset, cli_recipe, tmp_path):
    data = make_yolo_dataset(n=5, ext=".png")  # PNG in, PNG out: lossless, so pixels compare exactly
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(cli_recipe), "-i", str(data), "-o", str(out), "-w", "1",
                                       "--seed", "99", "-q"])
    assert result.exit_code == 0, result.output
    records = {(r["source"], r["copy"]): r for r in
               (json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines())}
    preview = make_preview(cli_recipe, data, n=5, seed=99)
    assert preview.seed == 99 and len(preview.rows) == 5
    compared = 0
    for row in preview.rows:
        assert [t.copy for t in row.tiles] == [0, 1, 2]  # the recipe's 2 copies, as run writes them
        for tile in row.tiles[1:]:
            rec = records[(row.key, tile.copy)]
            written = cv2.imread(str(out / rec["output"]), cv2.IMREAD_UNCHANGED)
            assert np.array_equal(tile.sample.image, written), rec["output"]
            assert tile.ops == rec["ops"]
            label = (out / rec["label"]).read_text()
            assert format_labels(tile.sample.objects, preview.schema, tile.sample.size) == label
            compared += 1
    assert compared == 10
    # the text under each copy is the manifest's ops, one line per op
    sheet_tile = preview.rows[0].tiles[1]
    assert format_ops(records[(preview.rows[0].key, 1)]["ops"]) == format_ops(sheet_tile.ops)
    from augcli.preview import _caption

    caption = [text.strip() for text, _, _ in _caption(sheet_tile, preview.schema, 2000)]
    assert caption[2:] == format_ops(records[(preview.rows[0].key, 1)]["ops"])


def test_format_ops_is_readable():
    ops = [{"op": "HorizontalFlip"}, {"op": "Rotate", "angle": -3.623603},
           {"op": "Affine", "scale": 0.908193, "tx": -0.036479, "ty": 0.0, "angle": 0.0}]
    assert format_ops(ops) == ["HorizontalFlip", "Rotate angle=-3.62", "Affine scale=0.908 tx=-0.0365"]
    assert format_ops([]) == ["no op applied (every p missed)"]


def test_choose_items_is_evenly_spaced_and_deterministic():
    items = list(range(10))
    assert choose_items(items, 4) == [1, 3, 6, 8]
    assert choose_items(items, 1) == [5]
    assert choose_items(items, 20) == items


def test_preview_chooses_from_augmented_splits_and_says_so():
    preview = make_preview(ROOT / "configs" / "basic.yaml", ROOT / "sample_data" / "yolo", n=6, copies=0)
    assert [r.split for r in preview.rows] == ["train"] * 4  # basic.yaml augments train only
    assert "4 of 6 input images (chosen among the 4 in splits the recipe augments)" in preview.selection()


def test_preview_class_map_matches_run_class_mapping():
    preview = make_preview(ROOT / "configs" / "basic.yaml", ROOT / "sample_data" / "yolo", n=4, copies=1,
                           class_rename={"cup": "tableware"}, drop_classes=("flag",))
    names = set(preview.schema.names.values())
    assert "tableware" in names and "cup" not in names and "flag" not in names
    for row in preview.rows:
        for t in row.tiles:
            assert all(preview.schema.names[int(c)] != "flag" for c in t.sample.objects.classes)


# ---------------------------------------------------------------- command line, gallery
def test_preview_html_gallery_is_offline_and_complete(tmp_path):
    gallery = tmp_path / "gallery"
    result = CliRunner().invoke(main, ["preview", str(ROOT / "configs" / "basic.yaml"), str(ROOT / "sample_data" / "yolo"),
                                       "-n", "2", "--copies", "1", "-o", str(tmp_path / "s.png"), "--html", str(gallery),
                                       "--tile-height", "96"])
    assert result.exit_code == 0, result.output
    page = (gallery / "index.html").read_text()
    assert not re.search(r"(https?:)?//", page.replace("<!doctype html>", ""))  # no network resources
    sources = re.findall(r"<img src='([^']+)'", page)
    assert len(sources) == 4 and all((gallery / s).is_file() for s in sources)
    assert "Rotate" in page or "HorizontalFlip" in page or "no op applied" in page
    assert "configs/basic.yaml" in page and "seed <b>42</b>" in page


def test_preview_bad_recipe_lists_every_problem_and_exits_2(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("copies: -1\npipeline:\n  - {type: Rotat}\n")
    result = CliRunner().invoke(main, ["preview", str(recipe), str(ROOT / "sample_data" / "yolo"), "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert len([ln for ln in result.stderr.splitlines() if ln.startswith("augcli: recipe error: bad.yaml:")]) == 2
    assert not (tmp_path / "x.png").exists()


def test_preview_missing_input_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["preview", str(ROOT / "configs" / "basic.yaml"), str(tmp_path / "nope"),
                                       "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_unreadable_input_becomes_a_row_with_a_note(tmp_path):
    data = write_grey_dataset(tmp_path / "in", {"a": [(0, (10, 10, 50, 50))]})
    (data / "images" / "b.png").write_bytes(b"not a png")
    preview = make_preview({"copies": 1, "pipeline": [{"type": "HorizontalFlip"}]}, data, n=2)
    bad = [r for r in preview.rows if r.key == "images/b.png"][0]
    assert bad.tiles == [] and "run would skip this input" in bad.note
    sheet, layout = render_sheet(preview, 64)
    assert len(layout) == 2

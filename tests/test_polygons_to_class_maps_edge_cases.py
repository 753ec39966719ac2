"""Class maps written from polygons (`--output-format mask`) by recipes that cover or blend pixels
follow the pixels as a mask input's do: under a CoarseDropout hole the class map is background,
not the object whose polygon still spans it. Oracle: the object is a solid red patch, the hole is
black (fill 0), and the written class map is compared with the written picture pixel by pixel."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml
from click.testing import CliRunner

from augcli.cli import main

W, H = 96, 72
X1, Y1, X2, Y2 = 16, 12, 80, 60  # the object: a red rectangle, exclusive end


def _yolo_seg(root: Path) -> None:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for name in ("a", "b", "c"):
        img = np.full((H, W, 3), 128, np.uint8)
        img[Y1:Y2, X1:X2] = (0, 0, 255)
        cv2.imwrite(str(root / "images" / f"{name}.png"), img)
        pts = [(X1, Y1), (X2, Y1), (X2, Y2), (X1, Y2)]
        (root / "labels" / f"{name}.txt").write_text("0 " + " ".join(f"{x / W:.6f} {y / H:.6f}" for x, y in pts) + "\n")
    (root / "data.yaml").write_text("names: [thing]\n")


def _run(tmp_path: Path, pipeline: list[dict]) -> list[tuple[np.ndarray, np.ndarray]]:
    src, out = tmp_path / "in", tmp_path / "out"
    _yolo_seg(src)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"version": 1, "seed": 5, "copies": 4, "keep_original": False,
                                      "labels": {"min_visibility": 0.0},
                                      "output": {"image_format": "png"}, "pipeline": pipeline}))
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(src), "-o", str(out), "-w", "1", "-q",
                                       "--output-format", "mask"])
    assert result.exit_code == 0, result.output
    pairs = []
    for image_path in sorted((out / "images").rglob("*.png")):
        mask_path = out / "masks" / image_path.relative_to(out / "images")
        pairs.append((cv2.imread(str(image_path)), cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)))
    assert len(pairs) == 12
    return pairs


def test_a_hole_over_a_polygon_is_background_in_the_class_map(tmp_path):
    pairs = _run(tmp_path, [{"type": "CoarseDropout", "holes": [1, 2], "size": [0.2, 0.4], "fill": 0}])
    holes_seen = 0
    for image, mask in pairs:
        red = (image[..., 2] > 200) & (image[..., 1] < 60) & (image[..., 0] < 60)
        black = image.max(axis=2) < 30
        assert mask[red].min() > 0  # what shows of the object is the object
        assert not mask[black].any()  # a hole is background, even inside the polygon
        holes_seen += int((black[Y1:Y2, X1:X2]).sum() > 0)
    assert holes_seen > 0  # some hole did fall on the object


def test_without_covers_polygons_are_still_drawn_from_their_moved_outline(tmp_path):
    """A recipe that only moves pixels keeps drawing each polygon at the end (exact outlines)."""
    for image, mask in _run(tmp_path, [{"type": "Rotate", "degrees": [-20, 20]}]):
        red = (image[..., 2] > 200) & (image[..., 1] < 60) & (image[..., 0] < 60)
        grey = (np.abs(image.astype(int) - 128).max(axis=2) < 20)
        assert mask[red].min() > 0 and not mask[grey].any()

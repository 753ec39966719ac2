"""A recipe whose sizes would make enormous images (a typo: 65536 for 6553) skips each input by name
before any such buffer is made, instead of asking every worker for gigabytes (and getting it killed,
or the machine swapping); sizes within the limit still work."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from augcli.cli import main


def _images(root: Path) -> None:
    (root / "images").mkdir(parents=True)
    for name in ("a", "b"):
        cv2.imwrite(str(root / "images" / f"{name}.png"), np.full((30, 40, 3), 100, np.uint8))


@pytest.mark.parametrize("step", [
    {"type": "Resize", "size": [65536, 65536]},
    {"type": "PadIfNeeded", "min_size": [40000, 40000]},
    {"type": "Mosaic", "size": [65536, 65536]},
])
def test_an_enormous_canvas_skips_each_input_by_name(tmp_path, step):
    _images(tmp_path / "in")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"version": 1, "pipeline": [step]}))
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                       "-w", "1", "--input-format", "images"])
    assert result.exit_code == 1, result.output
    assert result.output.count("check the recipe's sizes") == 2, result.output
    assert "images/a.png" in result.output and "images/b.png" in result.output


def test_a_large_but_sane_canvas_is_made(tmp_path):
    _images(tmp_path / "in")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"version": 1, "pipeline": [{"type": "Resize", "size": [300, 400]}]}))
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                       "-w", "1", "-q", "--input-format", "images"])
    assert result.exit_code == 0, result.output
    out = cv2.imread(str(tmp_path / "out" / "images" / "a_aug1.png"))
    assert out.shape[:2] == (300, 400)

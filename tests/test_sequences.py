"""Sequences: every frame of a group gets the same sampled parameters for copy k."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import augcli
from augcli.errors import RecipeError
from augcli.recipe import load_recipe

PIPELINE = [{"type": "HorizontalFlip", "p": 0.5}, {"type": "Rotate", "degrees": [-30, 30]},
            {"type": "GaussianNoise"}, {"type": "BrightnessContrast", "p": 0.5}]


def _frames(root: Path, names: list[str]) -> None:
    for name in names:
        path = root / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((40, 60, 3), 90, np.uint8))


def _ops_by_source(out: Path) -> dict[tuple[str, int], list]:
    recs = [json.loads(line) for line in (out / "augcli-manifest.jsonl").read_text().splitlines()]
    return {(r["source"], r["copy"]): r["ops"] for r in recs if "copy" in r}


def test_pattern_groups_share_parameters(tmp_path):
    names = [f"cam1_{i:03d}.png" for i in range(4)] + [f"cam2_{i:03d}.png" for i in range(4)] + ["still.png"]
    _frames(tmp_path / "in", names)
    recipe = {"copies": 3, "keep_original": False, "sequences": {"pattern": r"^(?P<seq>.+)_\d+$"}, "pipeline": PIPELINE}
    augcli.run(recipe, tmp_path / "in", tmp_path / "out", workers=2)
    ops = _ops_by_source(tmp_path / "out")
    for cam in ("cam1", "cam2"):
        for k in (1, 2, 3):
            group = [ops[(f"images/{cam}_{i:03d}.png", k)] for i in range(4)]
            assert all(g == group[0] for g in group), f"{cam} copy {k}: frames differ"
    assert any(ops[("images/cam1_000.png", k)] != ops[("images/cam2_000.png", k)] for k in (1, 2, 3))
    assert ops[("images/cam1_000.png", 1)] != ops[("images/cam1_000.png", 2)], "copies still differ"


def test_folder_groups_and_pixels_match(tmp_path):
    names = [f"alarm1/f{i}.png" for i in range(3)] + [f"alarm2/f{i}.png" for i in range(3)]
    _frames(tmp_path / "in", names)
    recipe = {"copies": 2, "keep_original": False, "sequences": {"group_by": "folder"}, "pipeline": PIPELINE}
    augcli.run(recipe, tmp_path / "in", tmp_path / "out", workers=1)
    ops = _ops_by_source(tmp_path / "out")
    for k in (1, 2):
        assert ops[("images/alarm1/f0.png", k)] == ops[("images/alarm1/f2.png", k)]
    # identical frames in one sequence give identical pixels: the same rain, the same flip, the same noise
    a = cv2.imread(str(tmp_path / "out" / "images" / "alarm1" / "f0_aug1.png"))
    b = cv2.imread(str(tmp_path / "out" / "images" / "alarm1" / "f1_aug1.png"))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("bad, message", [
    ({"pattern": "^(.+)_\\d+$"}, "named group"),
    ({"pattern": "(?P<seq>"}, "not a valid regular expression"),
    ({"group_by": "camera"}, "expected folder"),
    ("folder", "expected {group_by: folder}"),
])
def test_bad_sequence_settings(bad, message):
    with pytest.raises(RecipeError, match="sequences") as err:
        load_recipe({"sequences": bad, "pipeline": []})
    assert message in str(err.value)

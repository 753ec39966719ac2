"""A label reached through a symbolic link that leads out of the input folder is never read, as
for images and VOC annotations: the input is skipped by name (exit 1), and nothing of the file
outside reaches the output."""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from augcli.cli import main

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((24, 32, 3), 90, np.uint8))


def _run(tmp_path: Path, src: Path, *extra: str):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"version": 1, "seed": 1, "copies": 1, "pipeline": [{"type": "HorizontalFlip"}]}))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(src), "-o", str(out), "-w", "1", *extra])
    records = [json.loads(line) for line in (out / "augcli-manifest.jsonl").read_text().splitlines()]
    return result, out, records


@pytest.mark.parametrize("linked", ["file", "folder"])
def test_yolo_label_linked_outside_the_input_is_not_read(tmp_path, linked):
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    (secret / "a.txt").write_text("7 0.123456 0.5 0.2 0.2\n")
    src = tmp_path / "in"
    _image(src / "images" / "a.png")
    _image(src / "images" / "b.png")
    if linked == "folder":
        (secret / "b.txt").write_text("")
        (src / "labels").symlink_to(secret, target_is_directory=True)
    else:
        (src / "labels").mkdir()
        (src / "labels" / "a.txt").symlink_to(secret / "a.txt")
        (src / "labels" / "b.txt").write_text("")
    result, out, records = _run(tmp_path, src, "--input-format", "yolo")
    assert result.exit_code == 1, result.output
    skipped = {r["source"]: r for r in records if r.get("skipped")}
    assert "images/a.png" in skipped and "outside the input" in skipped["images/a.png"]["error"]
    for label in out.rglob("*.txt"):
        assert "0.123456" not in label.read_text() and not label.read_text().startswith("7 ")


def test_mask_linked_outside_the_input_is_not_read(tmp_path):
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    cv2.imwrite(str(secret / "a.png"), np.full((24, 32), 3, np.uint8))
    src = tmp_path / "in"
    _image(src / "images" / "a.jpg")
    (src / "masks").mkdir(parents=True)
    (src / "masks" / "a.png").symlink_to(secret / "a.png")
    result, out, records = _run(tmp_path, src, "--input-format", "mask")
    assert result.exit_code == 1, result.output
    skipped = {r["source"]: r for r in records if r.get("skipped")}
    assert "images/a.jpg" in skipped and "outside the input" in skipped["images/a.jpg"]["error"]
    assert not list(out.rglob("masks/*.png"))

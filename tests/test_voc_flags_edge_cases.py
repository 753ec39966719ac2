"""VOC's per-object flags after augmentation, judged from the pixels: `truncated` says the box does
not show all of the object (cut off at the image's edge), `occluded` that something covers part of
it (a cut-out hole) while the box still spans all of it. Objects are solid red patches on grey; the
written XML is read with ElementTree, not augcli's reader."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import yaml
from click.testing import CliRunner

from augcli.cli import main

W, H = 120, 90
BOX = (40, 30, 80, 60)  # x1, y1, x2, y2 pixels, exclusive end: 40 x 30 = 1200 red pixels
RED = (0, 0, 255)


def _voc(root: Path) -> None:
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    img = np.full((H, W, 3), 128, np.uint8)
    x1, y1, x2, y2 = BOX
    img[y1:y2, x1:x2] = RED
    cv2.imwrite(str(root / "JPEGImages" / "a.png"), img)
    (root / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.png</filename><size><width>120</width><height>90</height><depth>3</depth></size>"
        f"<object><name>thing</name><truncated>0</truncated><difficult>0</difficult><bndbox><xmin>{x1 + 1}</xmin>"
        f"<ymin>{y1 + 1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object></annotation>")


def _run(tmp_path: Path, pipeline: list[dict], copies: int = 12) -> list[tuple[np.ndarray, dict[str, int]]]:
    src, out = tmp_path / "in", tmp_path / "out"
    _voc(src)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"version": 1, "seed": 3, "copies": copies, "keep_original": False,
                                      "labels": {"min_visibility": 0.0, "min_area": 1},
                                      "output": {"image_format": "png"}, "pipeline": pipeline}))
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(src), "-o", str(out), "-w", "1", "-q"])
    assert result.exit_code == 0, result.output
    got = []
    for xml in sorted((out / "Annotations").glob("*.xml")):
        image = cv2.imread(str(out / "JPEGImages" / (xml.stem + ".png")))
        objects = ET.parse(xml).getroot().findall("object")
        assert len(objects) == 1, xml
        flags = {tag: int(objects[0].findtext(tag, "0")) for tag in ("truncated", "occluded")}
        got.append((image, flags))
    assert len(got) == copies
    return got


def _red(image: np.ndarray) -> np.ndarray:
    return (image[..., 2] > 200) & (image[..., 1] < 60) & (image[..., 0] < 60)


def test_an_object_under_a_hole_is_occluded_not_truncated(tmp_path):
    got = _run(tmp_path, [{"type": "CoarseDropout", "holes": [1, 1], "size": [0.25, 0.35], "fill": 0}])
    full = (BOX[2] - BOX[0]) * (BOX[3] - BOX[1])
    covered = 0
    for image, flags in got:
        shown = int(_red(image).sum())
        assert flags["truncated"] == 0, flags  # the whole object is still inside its box
        assert flags["occluded"] == (1 if shown < full else 0), (shown, flags)
        covered += shown < full
    assert 0 < covered < len(got)  # both cases were seen


def test_an_object_cut_off_at_the_edge_is_truncated(tmp_path):
    got = _run(tmp_path, [{"type": "RandomCrop", "size": [50, 60]}])
    full = (BOX[2] - BOX[0]) * (BOX[3] - BOX[1])
    cut = 0
    for image, flags in got:
        shown = int(_red(image).sum())
        assert flags["truncated"] == (1 if shown < full else 0), (shown, flags)
        assert flags["occluded"] == 0, flags
        cut += shown < full
    assert 0 < cut < len(got)  # both cases were seen

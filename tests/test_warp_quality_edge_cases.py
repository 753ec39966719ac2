"""A warp that shrinks the picture a lot (Resize or LongestMaxSize followed by Rotate or Perspective:
the two fuse into one resampling) must average what it shrinks, not skip it: fine stripes come out
as the even grey an area resize gives, not as moire. Reference: OpenCV's area resize, then the
rotation."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from augcli.cli import main

H, W = 800, 1200


def _stripes() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    grey = ((np.sin(xx * 2.6 + yy * 0.3) * 0.5 + 0.5) * 255).astype(np.uint8)  # a period under 2.5 px
    return cv2.merge([grey, grey, grey])


def _run(tmp_path: Path, pipeline: list[dict]) -> np.ndarray:
    (tmp_path / "in" / "images").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "in" / "images" / "a.png"), _stripes())
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"version": 1, "copies": 1, "keep_original": False,
                                      "output": {"image_format": "png"}, "pipeline": pipeline}))
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                       "-w", "1", "-q", "--input-format", "images"])
    assert result.exit_code == 0, result.output
    return cv2.imread(str(tmp_path / "out" / "images" / "a_aug1.png"), cv2.IMREAD_GRAYSCALE).astype(float)


def test_resize_then_rotate_averages_fine_texture_instead_of_aliasing_it(tmp_path):
    out = _run(tmp_path, [{"type": "Resize", "size": [200, 300]}, {"type": "Rotate", "degrees": [10, 10]}])
    small = cv2.resize(_stripes(), (300, 200), interpolation=cv2.INTER_AREA)
    inner = (slice(50, 150), slice(75, 225))  # away from the rotated corners
    # the reference's texture is nearly flat; moire would swing over most of 0..255
    references = []
    for angle in (10, -10):  # either sense of rotation: the point is the texture, not the angle's sign
        m = cv2.getRotationMatrix2D((150 - 0.5, 100 - 0.5), angle, 1.0)
        references.append(cv2.warpAffine(small, m, (300, 200), flags=cv2.INTER_LINEAR)[..., 0].astype(float))
    assert max(ref[inner].std() for ref in references) < 20
    assert out[inner].std() < 20, out[inner].std()
    assert min(np.abs(out - ref)[inner].mean() for ref in references) < 3


@pytest.mark.parametrize("second", [{"type": "Rotate", "degrees": [-30, 30]}, {"type": "Perspective", "scale": [0.05, 0.12]}])
def test_boxes_still_follow_their_colour_when_the_warp_shrinks_first(tmp_path, second):
    """The area resize the big shrink does first changes how pixels are sampled, not where they go:
    a red patch's box, moved by the same map, still frames the red pixels written."""
    src = tmp_path / "in"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    img = np.full((H, W, 3), 128, np.uint8)
    x1, y1, x2, y2 = 500, 300, 740, 460
    img[y1:y2, x1:x2] = (0, 0, 255)
    cv2.imwrite(str(src / "images" / "a.png"), img)
    (src / "labels" / "a.txt").write_text(f"0 {(x1 + x2) / 2 / W} {(y1 + y2) / 2 / H} {(x2 - x1) / W} {(y2 - y1) / H}\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"version": 1, "copies": 6, "keep_original": False, "seed": 4,
                                      "output": {"image_format": "png"},
                                      "pipeline": [{"type": "Resize", "size": [160, 240]}, second]}))
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(src), "-o", str(tmp_path / "out"), "-w", "1", "-q"])
    assert result.exit_code == 0, result.output
    for k in range(1, 7):
        out = cv2.imread(str(tmp_path / "out" / "images" / f"a_aug{k}.png"))
        oh, ow = out.shape[:2]
        red = (out[..., 2] > 180) & (out[..., 1] < 80) & (out[..., 0] < 80)
        ys, xs = np.nonzero(red)
        _, cx, cy, bw, bh = map(float, (tmp_path / "out" / "labels" / f"a_aug{k}.txt").read_text().split())
        bx1, bx2, by1, by2 = (cx - bw / 2) * ow, (cx + bw / 2) * ow, (cy - bh / 2) * oh, (cy + bh / 2) * oh
        assert xs.min() >= bx1 - 1 and xs.max() + 1 <= bx2 + 1 and ys.min() >= by1 - 1 and ys.max() + 1 <= by2 + 1
        assert xs.min() <= bx1 + 2 and xs.max() + 1 >= bx2 - 2 and ys.min() <= by1 + 2 and ys.max() + 1 >= by2 - 2


def test_resize_then_perspective_averages_fine_texture_instead_of_aliasing_it(tmp_path):
    """A perspective map shrinks by a different amount at each place; fused with a big Resize it
    must still average what it shrinks (by the least shrinking place's scale), not skip it."""
    out = _run(tmp_path, [{"type": "Resize", "size": [200, 300]}, {"type": "Perspective", "scale": [0.1, 0.12]}])
    inner = (slice(50, 150), slice(75, 225))  # away from the moved corners
    small = cv2.resize(_stripes(), (300, 200), interpolation=cv2.INTER_AREA)[..., 0].astype(float)
    assert small[inner].std() < 20  # what an area resize makes of the stripes: nearly flat
    assert out[inner].std() < 20, out[inner].std()
    assert abs(out[inner].mean() - small[inner].mean()) < 6

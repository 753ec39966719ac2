"""Objects with holes and several parts through warps and crops, against mask oracles."""
import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
from augcli import geometry as g  # noqa: E402
from augcli.kernels.masks import mask_to_polygons, polygons_to_mask  # noqa: E402
from augcli.sample import Objects, transform_objects  # noqa: E402


def _mask(rng, h, w):
    m = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        c, r = (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(5, 18))
        cv2.circle(m, c, r, 1, -1)
        cv2.circle(m, c, int(r * rng.uniform(0.3, 0.7)), 0, -1)
        if rng.random() < 0.5:
            cv2.circle(m, c, int(r * rng.uniform(0.0, 0.25)), 1, -1)
    return m.astype(bool)


def test_crop_of_multi_part_object_box_is_tight_box_of_visible_pixels():
    """A crop that cuts a bridge between parts used to leave a zero-area path along the border out
    to where the bridge crossed it (not a single-vertex spike), stretching the tight box over
    background: seed 0, 238th draw, crop (22, 12, 44, 34), box reached y=34 for pixels up to y=23."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        m = _mask(rng, 60, 72)
        regions = mask_to_polygons(m)
        if not regions:
            continue
        joined = g.join_parts(regions) if len(regions) > 1 else regions[0]
        x0, y0 = int(rng.integers(0, 50)), int(rng.integers(0, 40))
        cw, ch = int(rng.integers(5, 72 - x0 + 1)), int(rng.integers(5, 60 - y0 + 1))
        t = transform_objects(Objects(np.array([1]), g.tight_box(joined)[None], [joined]), g.translation(-x0, -y0), (cw, ch))
        sub = m[y0:y0 + ch, x0:x0 + cw]
        if t.polygons[0] is not None and len(t.polygons[0]) >= 3:  # holes stay empty, parts stay apart
            assert np.array_equal(polygons_to_mask([t.polygons[0]], cw, ch), sub)
        assert t.visibility[0] == pytest.approx(sub.sum() / m.sum(), abs=1e-9)
        ys, xs = np.nonzero(sub)
        if len(xs):
            assert np.allclose(t.boxes[0], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], atol=1e-6)

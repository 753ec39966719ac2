"""Objects with holes and several parts, as trainers' rasterisers (pycocotools) read augcli's output."""
import numpy as np
import pytest

from augcli.kernels.masks import mask_to_polygons, polygons_to_mask
from augcli.sample import objects_from_mask

mask_api = pytest.importorskip("pycocotools.mask")


def _grid(rows):
    return np.array([[c == "1" for c in r] for r in rows])


def _coco_pixels(polys, h, w):
    segs = [np.round(np.asarray(p, np.float64), 2).ravel().tolist() for p in polys]
    return mask_api.decode(mask_api.merge(mask_api.frPyObjects(segs, h, w))).astype(bool)


PINCHES = {
    "two one-pixel holes touching diagonally": ["000000", "011110", "010110", "011010", "011110", "000000"],
    "four holes round a pixel": ["11111", "11011", "10101", "11011", "11111"],
    "hole touching the outside diagonally": ["0001111", "0001111", "0010111", "1001111", "0000011"],
}


@pytest.mark.parametrize("name", sorted(PINCHES))
@pytest.mark.parametrize("tolerance", [0.0, 0.5])
def test_pinched_holes_stay_empty(name, tolerance):
    """Holes whose pixels touch other background only at a corner: traced outlines used to cut
    the pinch corner, so a one-pixel hole fell under min_area and was filled."""
    m = _grid(PINCHES[name])
    polys = mask_to_polygons(m, tolerance=tolerance)
    h, w = m.shape
    assert np.array_equal(polygons_to_mask(polys, w, h), m)
    assert np.array_equal(_coco_pixels(polys, h, w), m)


def test_random_masks_with_holes_and_islands_read_back_exactly_by_pycocotools():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(7)
    h, w = 48, 56
    for _ in range(60):
        m = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            c, r = (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(3, 16))
            cv2.circle(m, c, r, 1, -1)
            cv2.circle(m, c, int(r * rng.uniform(0.2, 0.8)), 0, -1)
            if rng.random() < 0.5:
                cv2.circle(m, c, int(r * rng.uniform(0.0, 0.3)), 1, -1)
        m |= (rng.random((h, w)) < 0.04).astype(np.uint8)
        mask = m.astype(bool)
        objects = objects_from_mask(mask.astype(np.uint8))  # as a mask dataset is written to COCO
        assert np.array_equal(_coco_pixels(objects.polygons, h, w), mask)

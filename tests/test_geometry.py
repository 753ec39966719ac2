"""Property tests of the pure geometry (augcli.geometry, augcli.sample.transform_objects)
and the image-warp kernels (augcli.kernels.geometric).

Oracles are independent of the code under test: numpy flips/rot90, OpenCV's own warps and
rotation matrices, rasterised areas, intersection rectangles, and where a bright blob's
pixels actually land. Coordinates follow augcli.geometry: the image spans [0, W] x [0, H]
and pixel centres sit at +0.5."""
from __future__ import annotations


import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from augcli import geometry as g
from augcli.kernels.geometric import _to_opencv_convention, warp_image
from augcli.sample import Objects, transform_objects

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

sizes = st.integers(min_value=1, max_value=64)
coords = st.floats(min_value=-300, max_value=300, allow_nan=False, allow_infinity=False)
angles = st.floats(min_value=-360, max_value=360, allow_nan=False, allow_infinity=False)


@st.composite
def images(draw, min_side: int = 1, max_side: int = 48, channels: int | None = None):
    h = draw(st.integers(min_side, max_side))
    w = draw(st.integers(min_side, max_side))
    c = draw(st.sampled_from([1, 3])) if channels is None else channels
    seed = draw(st.integers(0, 2**32 - 1))
    img = np.random.default_rng(seed).integers(0, 256, size=(h, w, c), dtype=np.uint8)
    return img[..., 0].copy() if c == 1 else img


@st.composite
def star_polygons(draw, span: float = 200.0, min_r: float = 0.5, max_r: float = 120.0):
    """A simple polygon: vertices sorted by angle around a centre, consecutive angles < pi apart."""
    n = draw(st.integers(5, 12))
    cx = draw(st.floats(-span / 2, span))
    cy = draw(st.floats(-span / 2, span))
    jit = draw(st.lists(st.floats(0, 0.999), min_size=n, max_size=n))
    radii = draw(st.lists(st.floats(min_r, max_r), min_size=n, max_size=n))
    t = 2 * np.pi * (np.arange(n) + np.array(jit)) / n
    r = np.array(radii)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


@st.composite
def convex_polygons(draw, lo: float = 0.0, hi: float = 100.0, min_r: float = 10.0):
    """Points on an ellipse, sorted by angle: convex."""
    n = draw(st.integers(5, 10))
    rx = draw(st.floats(min_r, (hi - lo) / 2))
    ry = draw(st.floats(min_r, (hi - lo) / 2))
    cx = draw(st.floats(lo + rx, hi - rx))
    cy = draw(st.floats(lo + ry, hi - ry))
    jit = draw(st.lists(st.floats(0, 0.5), min_size=n, max_size=n))  # no sliver polygons
    t = 2 * np.pi * (np.arange(n) + np.array(jit)) / n
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


@st.composite
def affine_matrices(draw, allow_reflection: bool = True):
    """Random similarity/affine maps of moderate size, optionally with a mirror."""
    m = g.rotation_about(draw(angles), draw(coords), draw(coords))
    m = g.scaling(draw(st.floats(0.2, 5)), draw(st.floats(0.2, 5))) @ m
    m = g.translation(draw(coords), draw(coords)) @ m
    if allow_reflection and draw(st.booleans()):
        m = g.hflip_matrix(draw(st.floats(0, 200))) @ m
    return m


def _inside(points: np.ndarray, w: float, h: float) -> bool:
    p = np.asarray(points).reshape(-1, 2)
    return bool(np.all((p[:, 0] >= 0) & (p[:, 0] <= w) & (p[:, 1] >= 0) & (p[:, 1] <= h)))


def _rasterised_area(poly: np.ndarray, scale: int = 16) -> float:
    """Area by counting pixels of cv2.fillPoly on a grid `scale` times finer (sub-pixel vertices via shift)."""
    shift = 4
    pts = np.round(poly * scale * (1 << shift)).astype(np.int32)
    hi = int(np.ceil(poly.max() * scale)) + 2
    canvas = np.zeros((hi, hi), np.uint8)
    # fillPoly's integer grid puts pixel centres on integers; a half-pixel shift makes centres +0.5.
    pts = pts - (1 << shift) // 2
    cv2.fillPoly(canvas, [pts.reshape(-1, 1, 2)], 1, lineType=cv2.LINE_8, shift=shift)
    return float(canvas.sum()) / scale**2


# ---------------------------------------------------------------- flips, rotations: points
@SETTINGS
@given(st.lists(st.tuples(coords, coords), min_size=1, max_size=20), st.floats(1, 500), st.floats(1, 500))
def test_flip_twice_is_identity_on_points(pts, w, h):
    p = np.array(pts)
    for m in (g.hflip_matrix(w), g.vflip_matrix(h)):
        once = g.apply_to_points(m, p)
        np.testing.assert_allclose(g.apply_to_points(m, once), p, atol=1e-9)


@SETTINGS
@given(st.lists(st.tuples(coords, coords), min_size=1, max_size=20), st.floats(1, 500), st.floats(1, 500))
def test_flips_move_points_where_a_mirror_would(pts, w, h):
    p = np.array(pts)
    np.testing.assert_allclose(g.apply_to_points(g.hflip_matrix(w), p), np.stack([w - p[:, 0], p[:, 1]], 1), atol=1e-9)
    np.testing.assert_allclose(g.apply_to_points(g.vflip_matrix(h), p), np.stack([p[:, 0], h - p[:, 1]], 1), atol=1e-9)


@SETTINGS
@given(st.integers(1, 300), st.integers(1, 300), st.integers(0, 3))
def test_rot90_matrix_maps_canvas_corners_onto_new_canvas(w, h, k):
    m, (nw, nh) = g.rot90_matrix(k, w, h)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    moved = g.apply_to_points(m, corners)
    # the canvas lands exactly on the new canvas (same four corners, in some order)
    assert sorted(map(tuple, np.round(moved, 9))) == sorted([(0, 0), (nw, 0), (nw, nh), (0, nh)])
    assert (nw, nh) == ((w, h) if k % 2 == 0 else (h, w))
    # counter-clockwise as displayed: a quarter turn sends the top-right corner to the top-left
    if k == 1:
        np.testing.assert_allclose(moved[1], [0, 0], atol=1e-12)


@SETTINGS
@given(st.lists(st.tuples(coords, coords), min_size=1, max_size=20), st.integers(1, 300), st.integers(1, 300),
       st.integers(0, 3))
def test_rot90_k_then_4_minus_k_is_identity_on_points(pts, w, h, k):
    p = np.array(pts)
    m1, (nw, nh) = g.rot90_matrix(k, w, h)
    m2, back = g.rot90_matrix(4 - k, nw, nh)
    assert back == (w, h)
    np.testing.assert_allclose(g.apply_to_points(m2, g.apply_to_points(m1, p)), p, atol=1e-9)


@SETTINGS
@given(st.lists(st.tuples(coords, coords), min_size=1, max_size=20), angles, coords, coords)
def test_rotate_then_unrotate_is_identity_on_points(pts, a, cx, cy):
    p = np.array(pts)
    there = g.apply_to_points(g.rotation_about(a, cx, cy), p)
    back = g.apply_to_points(g.rotation_about(-a, cx, cy), there)
    np.testing.assert_allclose(back, p, atol=1e-9)
    # a rotation keeps distances to the centre
    np.testing.assert_allclose(np.hypot(*(there - [cx, cy]).T), np.hypot(*(p - [cx, cy]).T), atol=1e-9)


@SETTINGS
@given(angles, st.integers(1, 400), st.integers(1, 400))
def test_rotation_about_centre_matches_opencv_getRotationMatrix2D(a, w, h):
    """Positive angles turn counter-clockwise as displayed, exactly like OpenCV (after the half-pixel shift)."""
    ours = _to_opencv_convention(g.rotation_about(a, w / 2, h / 2))[:2]
    theirs = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), a, 1.0)
    np.testing.assert_allclose(ours, theirs, atol=1e-9)


def test_is_reflection():
    assert g.is_reflection(g.hflip_matrix(10))
    assert g.is_reflection(g.vflip_matrix(10))
    assert not g.is_reflection(g.hflip_matrix(10) @ g.vflip_matrix(10))
    assert not g.is_reflection(g.rotation_about(37, 3, 4))
    assert not g.is_reflection(g.rot90_matrix(1, 10, 20)[0])


# ---------------------------------------------------------------- areas and clipping
@settings(max_examples=30, deadline=None)
@given(convex_polygons())
def test_polygon_area_matches_rasterised_area_convex(poly):
    area = g.polygon_area(poly)
    assert area == pytest.approx(_rasterised_area(poly), rel=0.04)


@settings(max_examples=30, deadline=None)
@given(star_polygons(span=0, min_r=15, max_r=45))
def test_polygon_area_matches_rasterised_area_star(poly):
    poly = poly + 50.0  # centre at (50, 50), everything in [5, 95]
    assert g.polygon_area(poly) == pytest.approx(_rasterised_area(poly), rel=0.05)


def test_polygon_area_known_values():
    assert g.polygon_area(np.array([[0, 0], [4, 0], [4, 3], [0, 3]], float)) == 12.0
    assert g.polygon_area(np.array([[0, 0], [0, 3], [4, 3], [4, 0]], float)) == 12.0  # orientation-free
    assert g.polygon_area(np.array([[0, 0], [4, 0], [0, 3]], float)) == 6.0
    assert g.polygon_area(np.zeros((2, 2))) == 0.0


@SETTINGS
@given(star_polygons(), st.integers(1, 200), st.integers(1, 200))
def test_clip_polygon_stays_inside_and_never_grows(poly, w, h):
    clipped = g.clip_polygon(poly, w, h)
    assert clipped.ndim == 2 and clipped.shape[1] == 2
    assert _inside(clipped, w, h), clipped[~((clipped >= 0) & (clipped <= [w, h])).all(1)]
    assert g.polygon_area(clipped) <= g.polygon_area(poly) + 1e-6
    assert g.polygon_area(clipped) <= w * h + 1e-6


@SETTINGS
@given(star_polygons(span=0, min_r=0.5, max_r=10), st.integers(1, 100), st.integers(1, 100))
def test_clip_polygon_leaves_inside_polygon_unchanged(poly, w, h):
    poly = poly + [w / 2, h / 2]
    assume(_inside(poly, w, h))
    np.testing.assert_array_equal(g.clip_polygon(poly, w, h), poly)


@SETTINGS
@given(coords, coords, st.floats(0.5, 300), st.floats(0.5, 300), st.integers(1, 200), st.integers(1, 200))
def test_clip_box_polygon_is_intersection_rectangle(x1, y1, bw, bh, w, h):
    box = np.array([x1, y1, x1 + bw, y1 + bh])
    ix1, iy1 = max(box[0], 0.0), max(box[1], 0.0)
    ix2, iy2 = min(box[2], float(w)), min(box[3], float(h))
    clipped = g.drop_repeated_vertices(g.clip_polygon(g.box_corners(box), w, h))
    if ix2 > ix1 and iy2 > iy1:
        np.testing.assert_allclose(g.tight_box(clipped), [ix1, iy1, ix2, iy2], atol=1e-9)
        assert g.polygon_area(clipped) == pytest.approx((ix2 - ix1) * (iy2 - iy1), rel=1e-9, abs=1e-9)
    else:
        assert g.polygon_area(clipped) == pytest.approx(0.0, abs=1e-9)


def test_clip_polygon_fully_outside_is_empty():
    out = g.clip_polygon(np.array([[-10, -10], [-5, -10], [-5, -5]], float), 10, 10)
    assert out.shape == (0, 2)


# ---------------------------------------------------------------- transform_objects
@st.composite
def objects_on_canvas(draw, k: int = 3):
    w = draw(st.integers(4, 200))
    h = draw(st.integers(4, 200))
    n = draw(st.integers(1, 4))  # zero objects with keypoints: see test_objects_with_keypoints_can_be_empty
    classes, boxes, polys, kps = [], [], [], []
    for i in range(n):
        x1 = draw(st.floats(0, w - 1))
        y1 = draw(st.floats(0, h - 1))
        x2 = draw(st.floats(x1 + 0.5, w))
        y2 = draw(st.floats(y1 + 0.5, h))
        classes.append(i)
        boxes.append([x1, y1, x2, y2])
        if draw(st.booleans()):
            polys.append(np.array([[x1, y1], [x2, (y1 + y2) / 2], [(x1 + x2) / 2, y2], [x1, y2]]))
        else:
            polys.append(None)
        obj_kps = []
        for _ in range(k):
            v = draw(st.sampled_from([0.0, 1.0, 2.0]))
            obj_kps.append([draw(st.floats(0, w)), draw(st.floats(0, h)), v])
        kps.append(obj_kps)
    kp = np.array(kps, float).reshape(n, k, 3)
    return Objects(np.array(classes), np.array(boxes, float).reshape(n, 4), polys, kp), (w, h)


@settings(max_examples=100, deadline=None)
@given(objects_on_canvas(), affine_matrices(), st.integers(1, 200), st.integers(1, 200),
       st.sampled_from(["corners", "ellipse"]))
def test_transform_objects_keeps_everything_on_canvas(objs_size, m, ow, oh, box_shape):
    objs, _ = objs_size
    out = transform_objects(objs, m, (ow, oh), flip_idx=(1, 0, 2), box_shape=box_shape)
    n = len(objs)
    assert len(out) == n  # nothing dropped here
    np.testing.assert_array_equal(out.classes, objs.classes)
    assert out.keypoints.shape == objs.keypoints.shape
    for arr in (out.boxes, out.keypoints, out.visibility):
        assert np.all(np.isfinite(arr))
    assert np.all((out.visibility >= 0) & (out.visibility <= 1))
    # boxes: ordered and on the canvas
    assert np.all(out.boxes[:, 0] <= out.boxes[:, 2]) and np.all(out.boxes[:, 1] <= out.boxes[:, 3])
    assert _inside(out.boxes.reshape(-1, 2), ow, oh), out.boxes
    for p_in, p_out in zip(objs.polygons, out.polygons):
        assert (p_in is None) == (p_out is None)
        if p_out is not None:
            assert _inside(p_out, ow, oh), p_out
    # keypoints: a labelled point is on the canvas; an unlabelled one is exactly (0, 0, 0)
    kp = out.keypoints
    labelled = kp[..., 2] > 0
    assert _inside(kp[labelled][:, :2], ow, oh)
    np.testing.assert_array_equal(kp[~labelled], 0.0)
    assert set(np.unique(kp[..., 2])) <= {0.0, 1.0, 2.0}


@settings(max_examples=100, deadline=None)
@given(objects_on_canvas(), affine_matrices(allow_reflection=False), st.integers(1, 200), st.integers(1, 200))
def test_transform_objects_keypoint_visibility_follows_position(objs_size, m, ow, oh):
    """Without a mirror, keypoint j stays keypoint j: labelled and landing on the canvas -> moved, same v;
    unlabelled or leaving the canvas -> v = 0 at (0, 0). The landing spot is computed here by hand."""
    objs, _ = objs_size
    out = transform_objects(objs, m, (ow, oh), flip_idx=(1, 0, 2))
    src = objs.keypoints
    homo = np.concatenate([src[..., :2], np.ones(src.shape[:2] + (1,))], axis=-1)
    dest = np.einsum("ij,nkj->nki", m, homo)[..., :2]
    on_canvas = (dest[..., 0] >= 0) & (dest[..., 0] <= ow) & (dest[..., 1] >= 0) & (dest[..., 1] <= oh)
    # stay away from the border itself, where rounding may decide either way
    margin = np.minimum.reduce([dest[..., 0], ow - dest[..., 0], dest[..., 1], oh - dest[..., 1]])
    clear = np.abs(margin) > 1e-6
    keep = (src[..., 2] > 0) & on_canvas
    np.testing.assert_array_equal(out.keypoints[..., 2][clear & keep], src[..., 2][clear & keep])
    np.testing.assert_allclose(out.keypoints[..., :2][clear & keep], dest[clear & keep], atol=1e-6)
    np.testing.assert_array_equal(out.keypoints[clear & ~keep], 0.0)


def test_objects_with_keypoints_can_be_empty():
    """A pose dataset image may have no objects, or lose them all to a crop."""
    empty = Objects.empty(3)
    assert len(empty) == 0 and empty.keypoints.shape == (0, 3, 3)
    one = Objects(np.array([0]), np.array([[0.0, 0.0, 10.0, 10.0]]), [None], np.zeros((1, 3, 3)))
    none_left = one.select(np.array([False]))
    assert len(none_left) == 0 and none_left.keypoints.shape == (0, 3, 3)


def _left_right_person(w: float = 100, h: float = 100) -> Objects:
    """One object with a 'left' keypoint (index 0) at x=20 and a 'right' one (index 1) at x=80."""
    kp = np.array([[[20.0, 40.0, 2.0], [80.0, 60.0, 1.0]]])
    return Objects(np.array([0]), np.array([[10.0, 10.0, 90.0, 90.0]]), [None], kp)


def test_reflection_swaps_keypoints_through_flip_idx():
    objs = _left_right_person()
    out = transform_objects(objs, g.hflip_matrix(100), (100, 100), flip_idx=(1, 0))
    # the old 'right' point (80, 60, v=1) is mirrored to x=20 and becomes the new index 0, and vice versa
    np.testing.assert_allclose(out.keypoints[0], [[20.0, 60.0, 1.0], [80.0, 40.0, 2.0]])
    out_v = transform_objects(objs, g.vflip_matrix(100), (100, 100), flip_idx=(1, 0))
    np.testing.assert_allclose(out_v.keypoints[0], [[80.0, 40.0, 1.0], [20.0, 60.0, 2.0]])
    # without flip_idx the order is kept
    out_no = transform_objects(objs, g.hflip_matrix(100), (100, 100))
    np.testing.assert_allclose(out_no.keypoints[0], [[80.0, 40.0, 2.0], [20.0, 60.0, 1.0]])


@pytest.mark.parametrize("matrix", [
    g.rotation_about(180, 50, 50),
    g.rotation_about(30, 50, 50),
    g.rot90_matrix(1, 100, 100)[0],
    g.hflip_matrix(100) @ g.vflip_matrix(100),  # two mirrors make a half turn: no swap
])
def test_rotation_never_swaps_keypoints(matrix):
    objs = _left_right_person()
    out = transform_objects(objs, matrix, (100, 100), flip_idx=(1, 0))
    expected = np.array([matrix @ [20, 40, 1], matrix @ [80, 60, 1]])[:, :2]
    np.testing.assert_allclose(out.keypoints[0, :, :2], expected, atol=1e-9)
    np.testing.assert_array_equal(out.keypoints[0, :, 2], [2.0, 1.0])


def test_keypoint_leaving_the_canvas_is_zeroed():
    objs = _left_right_person()
    out = transform_objects(objs, g.translation(30, 0), (100, 100), flip_idx=(1, 0))
    np.testing.assert_allclose(out.keypoints[0], [[50.0, 40.0, 2.0], [0.0, 0.0, 0.0]])
    # the box is cut at the border and its visibility is the share left: x 40..100 of 40..120
    np.testing.assert_allclose(out.boxes[0], [40, 10, 100, 90])
    assert out.visibility[0] == pytest.approx(60 / 80)


def test_object_moved_off_canvas_has_zero_visibility():
    objs = _left_right_person()
    out = transform_objects(objs, g.translation(500, 0), (100, 100))
    assert out.visibility[0] == 0.0
    assert _inside(out.boxes.reshape(-1, 2), 100, 100)


# ---------------------------------------------------------------- warp_image: round trips
def _rot90(k: int, img: np.ndarray):
    h, w = img.shape[:2]
    return g.rot90_matrix(k, w, h)


@SETTINGS
@given(images())
def test_warp_flip_twice_is_exact_identity(img):
    h, w = img.shape[:2]
    for m in (g.hflip_matrix(w), g.vflip_matrix(h)):
        once = warp_image(img, m, (w, h))
        assert once.shape == img.shape
        np.testing.assert_array_equal(warp_image(once, m, (w, h)), img)


@SETTINGS
@given(images(), st.integers(0, 3))
def test_warp_rot90_then_back_is_exact_identity(img, k):
    h, w = img.shape[:2]
    m1, size1 = _rot90(k, img)
    once = warp_image(img, m1, size1)
    assert once.shape[1::-1] == size1
    m2, size2 = g.rot90_matrix(4 - k, *size1)
    np.testing.assert_array_equal(warp_image(once, m2, size2), img)


@SETTINGS
@given(images(), st.integers(0, 3))
def test_warp_flips_and_rot90_match_numpy(img, k):
    h, w = img.shape[:2]
    np.testing.assert_array_equal(warp_image(img, g.hflip_matrix(w), (w, h)), img[:, ::-1])
    np.testing.assert_array_equal(warp_image(img, g.vflip_matrix(h), (w, h)), img[::-1])
    m, size = _rot90(k, img)
    np.testing.assert_array_equal(warp_image(img, m, size), np.rot90(img, k))


# ---------------------------------------------------------------- warp_image: fast paths == general path
def _opencv_warp(img: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    out = cv2.warpAffine(img, _to_opencv_convention(m)[:2], size, flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(out.shape[:2] + img.shape[2:])


@SETTINGS
@given(images(), st.integers(0, 3), st.sampled_from(["h", "v", "hv", "none"]))
def test_permutation_fast_path_equals_opencv_warp(img, k, flips):
    h, w = img.shape[:2]
    m, size = _rot90(k, img)
    if "h" in flips:
        m = g.hflip_matrix(size[0]) @ m
    if "v" in flips:
        m = g.vflip_matrix(size[1]) @ m
    np.testing.assert_array_equal(warp_image(img, m, size), _opencv_warp(img, m, size))


def test_permutation_fast_path_serves_all_eight_maps_and_nothing_near_them():
    """The flip / quarter-turn check takes every one of the eight exact maps (else they would fall
    through to a general warp: same pixels, ten times the cost), and refuses a map that differs
    from one by a pixel's shift, a hair of scale or the wrong canvas."""
    from augcli.kernels.geometric import _try_permutation

    img = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    maps = []
    for k in range(4):
        m, size = _rot90(k, img)
        for flip in (False, True):
            mm = g.hflip_matrix(size[0]) @ m if flip else m
            maps.append((mm, size))
            got = _try_permutation(img, mm, size)
            assert got is not None, f"quarter turns {k}, flip {flip}: not taken"
            np.testing.assert_array_equal(got, _opencv_warp(img, mm, size))
    for mm, size in maps:
        shifted = mm.copy()
        shifted[0, 2] += 1.0
        scaled = mm.copy()
        scaled[:2, :2] *= 1.000001
        projective = mm.copy()
        projective[2, 0] = 1e-5
        for bad, bad_size in ((shifted, size), (scaled, size), (projective, size), (mm, size[::-1])):
            assert _try_permutation(img, bad, bad_size) is None


@SETTINGS
@given(images(min_side=2), st.data())
def test_integer_crop_fast_path_equals_opencv_warp(img, data):
    h, w = img.shape[:2]
    x0 = data.draw(st.integers(0, w - 1))
    y0 = data.draw(st.integers(0, h - 1))
    cw = data.draw(st.integers(1, w - x0))
    ch = data.draw(st.integers(1, h - y0))
    m = g.translation(-x0, -y0)
    out = warp_image(img, m, (cw, ch))
    np.testing.assert_array_equal(out, img[y0:y0 + ch, x0:x0 + cw])
    np.testing.assert_array_equal(out, _opencv_warp(img, m, (cw, ch)))


@SETTINGS
@given(images(min_side=4, channels=3), st.data())
def test_crop_and_half_scale_is_close_to_resized_crop(img, data):
    h, w = img.shape[:2]
    cw = 2 * data.draw(st.integers(1, w // 2))
    ch = 2 * data.draw(st.integers(1, h // 2))
    x0 = data.draw(st.integers(0, w - cw))
    y0 = data.draw(st.integers(0, h - ch))
    m = g.scaling(0.5, 0.5) @ g.translation(-x0, -y0)
    size = (cw // 2, ch // 2)
    out = warp_image(img, m, size)
    assert out.shape == (ch // 2, cw // 2, 3)
    crop = img[y0:y0 + ch, x0:x0 + cw]
    expected = cv2.resize(crop, size, interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(out.astype(int) - expected).max() <= 1
    # an exact 2x shrink samples between pixel pairs, so the general bilinear warp agrees too
    assert np.abs(out.astype(int) - _opencv_warp(img, m, size).astype(int)).max() <= 1


# ---------------------------------------------------------------- pixels and points agree
def _blob_image(w: int, h: int, px: float, py: float, sigma: float = 2.0) -> np.ndarray:
    xs = np.arange(w) + 0.5
    ys = np.arange(h) + 0.5
    g2 = np.exp(-((xs[None, :] - px) ** 2 + (ys[:, None] - py) ** 2) / (2 * sigma**2))
    return np.clip(np.rint(g2 * 250), 0, 255).astype(np.uint8)


def _centroid(img: np.ndarray) -> np.ndarray:
    wgt = img.astype(float)
    ys, xs = np.mgrid[: img.shape[0], : img.shape[1]] + 0.5
    return np.array([(wgt * xs).sum() / wgt.sum(), (wgt * ys).sum() / wgt.sum()])


@settings(max_examples=40, deadline=None)
@given(st.floats(-180, 180), st.floats(0.7, 1.5), st.floats(-8, 8), st.floats(-8, 8), st.floats(30, 50),
       st.floats(30, 50), st.booleans())
def test_warped_pixels_land_where_the_matrix_sends_the_point(a, s, tx, ty, px, py, mirror):
    """The half-pixel convention: a blob centred at (px, py) ends up centred at M(px, py)."""
    w = h = 80
    img = _blob_image(w, h, px, py)
    m = g.translation(tx, ty) @ g.rotation_about(a, w / 2, h / 2) @ g.translation(w / 2, h / 2) @ \
        g.scaling(s, s) @ g.translation(-w / 2, -h / 2)
    if mirror:
        m = g.hflip_matrix(w) @ m
    out = warp_image(img, m, (w, h))
    np.testing.assert_allclose(_centroid(out), g.apply_to_points(m, np.array([px, py])), atol=0.15)


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_rot90_pixels_land_where_the_matrix_sends_the_point(k):
    w, h = 60, 40
    img = _blob_image(w, h, 17.3, 11.8)
    m, size = g.rot90_matrix(k, w, h)
    np.testing.assert_allclose(_centroid(warp_image(img, m, size)), g.apply_to_points(m, np.array([17.3, 11.8])),
                               atol=0.05)


@pytest.mark.parametrize("ow,oh", [(40, 30), (20, 15), (53, 17), (120, 90)])
def test_resize_fast_path_pixels_land_where_the_matrix_sends_the_point(ow, oh):
    w, h = 80, 60
    px, py = 33.0, 27.0
    img = _blob_image(w, h, px, py, sigma=4.0)
    m = g.scaling(ow / w, oh / h)
    out = warp_image(img, m, (ow, oh))
    assert out.shape == (oh, ow)
    np.testing.assert_allclose(_centroid(out), g.apply_to_points(m, np.array([px, py])), atol=0.15)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_box_fast_path_gives_what_the_general_path_gives(seed):
    """transform_objects moves box-only objects that stay inside the canvas all at once; the result
    must be exactly what the general per-object path (clip, areas) gives, for any affine map."""
    import augcli.sample as sm

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 8))
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(0, 60, (n, 2)) * (rng.random((n, 2)) > 0.1)  # some degenerate boxes
    boxes = np.concatenate([xy, xy + wh], axis=1)
    polygons = [g.box_corners(b) * 1.0 if rng.random() < 0.2 else None for b in boxes]
    objects = Objects(np.arange(n), boxes, polygons, visibility=rng.uniform(0.3, 1, n))
    a = np.deg2rad(rng.uniform(-30, 30)) * (rng.random() < 0.7)
    s = rng.uniform(0.7, 1.3)
    matrix = np.array([[s * np.cos(a), -s * np.sin(a), rng.uniform(-30, 30)],
                       [s * np.sin(a), s * np.cos(a), rng.uniform(-30, 30)], [0.0, 0.0, 1.0]])
    if rng.random() < 0.3:
        matrix = np.array([[-1.0, 0.0, 260.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ matrix
    out_size = (int(rng.integers(150, 300)), int(rng.integers(150, 300)))
    fast = transform_objects(objects, matrix, out_size)
    original = sm._boxes_staying_inside
    sm._boxes_staying_inside = lambda *args: None
    try:
        slow = transform_objects(objects, matrix, out_size)
    finally:
        sm._boxes_staying_inside = original
    assert np.array_equal(fast.boxes, slow.boxes)
    assert np.array_equal(fast.visibility, slow.visibility)
    for got, want in zip(fast.outlines + fast.polygons, slow.outlines + slow.polygons):
        assert (got is None and want is None) or np.array_equal(got, want)


def test_drop_spikes_removes_out_and_back_runs_only():
    # an L's stem with a zero-width strip run out along y = 0 and back (a clip along an edge)
    spur = np.array([(200, 0), (200, 0), (145, 0), (145, 51), (97, 51), (97, 0)], float)
    assert g.drop_spikes(spur).tolist() == [[145, 0], [145, 51], [97, 51], [97, 0]]
    square = np.array([(0, 0), (10, 0), (10, 10), (0, 10)], float)
    assert g.drop_spikes(square).tolist() == square.tolist()
    straight = np.array([(0, 0), (5, 0), (10, 0), (10, 10), (0, 10)], float)  # a vertex mid-edge is no spike
    assert g.drop_spikes(straight).tolist() == straight.tolist()
    assert len(g.drop_spikes(np.array([(0, 0), (10, 0), (5, 0)], float))) < 3  # folded onto a line: no area


def test_clip_outline_leaves_no_sliver_just_inside_the_border():
    # 6-decimal text puts an edge meant for y = 34 at 34.00002; cropped at 34, no 0.00002-px sliver stays
    poly = np.array([(117, 7), (225, 7), (225, 34.00002), (165, 34.00002), (165, 85), (117, 85)], float)
    moved = poly - (20, 34)
    clipped = g.clip_outline(moved, 200, 112)
    assert g.tight_box(clipped).tolist() == pytest.approx([97, 0, 145, 51])

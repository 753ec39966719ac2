"""Unusual but valid images through the pixel-only transforms, run through the real CLI: tiny and
flat images under CLAHE, where Downscale's enlargement puts the picture, an image too wide for
JPEG, and unusual encodings (grey, RGBA, palette, 16-bit, CMYK, progressive) through the colour,
blur and camera transforms. Inputs are drawn in tmp_path; outputs are read back with Pillow and
checked against where the pixels must be."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from click.testing import CliRunner
from PIL import Image

from augcli.cli import main


def _run(tmp_path: Path, pipeline: list[dict], images: dict[str, np.ndarray], workers: int = 1,
         name: str = "out") -> Path:
    """Write `images` (name -> (H, W, 3) RGB uint8) as PNGs, run the recipe over them as a bare
    image folder, one copy each, and return the output folder."""
    src = tmp_path / "in"
    if not src.exists():
        src.mkdir()
        for stem, rgb in images.items():
            Image.fromarray(rgb, "RGB").save(src / f"{stem}.png")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"seed": 3, "copies": 1, "keep_original": False, "pipeline": pipeline}))
    out = tmp_path / name
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(src), "-o", str(out), "-q",
                                       "-w", str(workers), "--input-format", "images"])
    assert result.exit_code == 0, result.output
    return out


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).astype(int)


def test_clahe_keeps_a_flat_image_of_any_size_near_its_level(tmp_path):
    """A flat picture has no contrast for CLAHE to raise: with a gentle clip limit (1, the low end
    of the default range) every level stays within 20 of where it was (on a 480x640 image: within
    3), and a darker image stays darker, whatever the image size. OpenCV's CLAHE on tiles of a few
    pixels turned a flat black 3x2 image white and a flat 100x100 level 200 image to 255."""
    sizes = [(1, 1), (3, 2), (2, 3), (20, 12), (1, 40), (100, 1), (100, 100), (64, 48)]  # (width, height)
    levels = [0, 40, 120, 200]
    images = {f"s{w}x{h}_v{v}": np.full((h, w, 3), v, np.uint8) for w, h in sizes for v in levels}
    out = _run(tmp_path, [{"type": "CLAHE", "clip_limit": 1.0}], images)
    for w, h in sizes:
        got = []
        for v in levels:
            img = _read_rgb(out / f"s{w}x{h}_v{v}_aug1.png")
            assert img.shape == (h, w, 3)
            assert np.ptp(img) <= 2, f"{w}x{h} level {v}: a flat image came out uneven"
            assert abs(img.mean() - v) <= 20, f"{w}x{h}: flat level {v} became {img.mean():.0f}"
            got.append(img.mean())
        assert got == sorted(got), f"{w}x{h}: CLAHE reversed the order of flat levels: {got}"


def test_clahe_on_tiny_coloured_patches_keeps_their_order_of_lightness(tmp_path):
    """A 3x2 image of two dark and four light pixels: CLAHE may stretch them apart but must not
    make the dark ones lighter than the light ones or blow the dark ones up to near white."""
    rgb = np.full((2, 3, 3), 200, np.uint8)
    rgb[0, :2] = 30
    out = _run(tmp_path, [{"type": "CLAHE", "clip_limit": 2.0}], {"tiny": rgb})
    img = _read_rgb(out / "tiny_aug1.png")
    dark, light = img[0, :2].mean(), np.concatenate([img[0, 2:], img[1]]).mean()
    assert dark < light - 100, (dark, light)
    assert dark < 80, f"dark pixels became {dark:.0f}"


def _centroid(img: np.ndarray) -> tuple[float, float]:
    """Brightness-weighted centre (x, y) in pixel-index units (pixel i has its centre at i)."""
    g = img[..., 1].astype(float)
    ys, xs = np.mgrid[: g.shape[0], : g.shape[1]]
    return float((g * xs).sum() / g.sum()), float((g * ys).sum() / g.sum())


def test_downscale_nearest_does_not_slide_the_picture(tmp_path):
    """Downscale is pixel-only (labels stay put), so its enlargement must put the picture back where
    it was: a square centred on the canvas stays centred with `nearest` as with `linear`. OpenCV's
    plain INTER_NEAREST takes source pixel floor(x * scale), not the one under the pixel centre,
    which slid the picture right and down by up to a pixel at non-whole scales."""
    w, h = 300, 200
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[80:120, 120:180] = 255  # centred: its centroid is at ((w - 1) / 2, (h - 1) / 2)
    for scale in (0.9, 0.7, 0.45):
        out = _run(tmp_path, [{"type": "Downscale", "scale": scale, "interpolation": "nearest"}],
                   {"square": rgb}, name=f"out{scale}")
        img = _read_rgb(out / "square_aug1.png")
        assert img.shape == (h, w, 3)
        cx, cy = _centroid(img)
        assert abs(cx - (w - 1) / 2) <= 0.15 and abs(cy - (h - 1) / 2) <= 0.15, (scale, cx, cy)
        # mirror symmetry: the left half is the right half flipped (up to rounding of the shrink)
        assert np.abs(img - img[:, ::-1]).max() <= 2, scale
        assert np.abs(img - img[::-1]).max() <= 2, scale


def test_an_image_too_wide_for_jpeg_is_skipped_by_name_not_a_stopped_run(tmp_path):
    """A 65501x2 PNG is a valid image well under --max-pixels, but JPEG holds at most 65500 pixels a
    side. With `output.image_format: jpg` that one input is skipped by name (exit 1) and the others
    are written; the encoder's refusal was reported as a write failure of the output folder and
    stopped the whole run (exit 3)."""
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.full((2, 65501, 3), 90, np.uint8), "RGB").save(src / "long.png")
    Image.fromarray(np.full((8, 12, 3), 90, np.uint8), "RGB").save(src / "small.png")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"seed": 1, "copies": 1, "output": {"image_format": "jpg"},
                                      "pipeline": [{"type": "GaussianNoise"}]}))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(src), "-o", str(out), "-q",
                                       "-w", "1", "--input-format", "images"])
    assert result.exit_code == 1, result.output
    assert "long.png" in result.output and "65500" in result.output
    assert sorted(p.name for p in out.glob("*.jpg")) == ["small.jpg", "small_aug1.jpg"]
    with Image.open(out / "small_aug1.jpg") as im:
        assert im.format == "JPEG" and im.size == (12, 8)


def test_unusual_encodings_keep_their_size_and_give_the_same_bytes_with_one_or_two_workers(tmp_path):
    """Grey, grey+alpha, RGBA, palette, 16-bit, CMYK and progressive inputs, and 1-pixel-thin ones,
    through a chain of pixel-only transforms: each output has its input's size, three 8-bit
    channels and the extension `keep` gives it, and -w 1 and -w 2 write the same bytes."""
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(rgb).convert("L").save(src / "grey.png")
    Image.fromarray(rgb).convert("LA").save(src / "grey_alpha.png")
    Image.fromarray(rgb).convert("RGBA").save(src / "rgba.png")
    Image.fromarray(rgb).convert("P").save(src / "palette.png")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(src / "deep.png")  # 16-bit grey
    Image.fromarray(rgb).convert("CMYK").save(src / "cmyk.jpg")
    Image.fromarray(rgb).save(src / "progressive.jpg", progressive=True)
    Image.fromarray(rgb).convert("L").save(src / "grey_jpeg.jpg")
    Image.fromarray(rng.integers(0, 256, (1, 300, 3), dtype=np.uint8)).save(src / "row.png")
    Image.fromarray(rng.integers(0, 256, (300, 1, 3), dtype=np.uint8)).save(src / "column.jpg")
    names = [p.name for p in src.iterdir()]
    pipeline = [{"type": "CLAHE"}, {"type": "Equalize"},
                {"type": "BrightnessContrast", "brightness": [-1, 1], "contrast": [-1, 10]},
                {"type": "Posterize", "bits": [1, 8]}, {"type": "GaussianNoise", "std": [0, 255]},
                {"type": "Downscale", "scale": [0.01, 1], "interpolation": "nearest"},
                {"type": "MotionBlur", "length": 0.5},
                {"type": "RandAugment", "magnitude": [0, 30], "n": 2}]
    outs = [_run(tmp_path, pipeline, {}, workers=w, name=f"w{w}") for w in (1, 2)]
    for name in names:
        stem, ext = name.rsplit(".", 1)
        a, b = (o / f"{stem}_aug1.{ext}" for o in outs)
        assert a.read_bytes() == b.read_bytes(), name
        with Image.open(src / name) as im_in, Image.open(a) as im_out:
            assert im_out.size == im_in.size and im_out.mode == "RGB", (name, im_out.mode)
            assert im_out.format == ("JPEG" if ext == "jpg" else "PNG"), name

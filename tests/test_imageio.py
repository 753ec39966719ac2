"""The decode guards' fast paths give the same answers as the slow ones they short-cut."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from augcli.errors import InputError
from augcli.imageio import _jpeg_or_png_size, check_complete, image_size_from_header


def _encoded(fmt: str, mode: str = "RGB", size=(53, 37), **kw) -> bytes:
    rng = np.random.default_rng(7)
    arr = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
    im = Image.fromarray(arr).convert(mode)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _with_exif_thumbnail() -> bytes:
    """A JPEG whose APP1 holds a whole JPEG thumbnail (its own SOI, SOF, SOS and EOI) before the frame."""
    thumb = _encoded("JPEG", size=(16, 12))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the size in the header is still the stored one
    app1 = b"Exif\0\0" + exif.tobytes()[6:] + thumb
    main = _encoded("JPEG", size=(64, 48))
    segment = b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1
    return main[:2] + segment + main[2:]


CASES = {
    "baseline": _encoded("JPEG"),
    "progressive": _encoded("JPEG", progressive=True),
    "restart markers": _encoded("JPEG", size=(300, 200), quality=90),
    "grey": _encoded("JPEG", "L"),
    "cmyk": _encoded("JPEG", "CMYK"),
    "exif thumbnail": _with_exif_thumbnail(),
    "png rgb": _encoded("PNG"),
    "png 16-bit grey": _encoded("PNG", "I;16"),
    "png palette": _encoded("PNG", "P"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_header_size_matches_pillow(name):
    data = CASES[name]
    with Image.open(io.BytesIO(data)) as im:
        assert image_size_from_header(data, name) == im.size
        fast = _jpeg_or_png_size(data)
        assert fast is None or fast == im.size


@pytest.mark.parametrize("name", [n for n in CASES if not n.startswith("png")])
def test_truncation_is_caught_at_every_cut_near_the_end_and_beyond(name):
    data = CASES[name]
    check_complete(data, name)
    check_complete(data + b"\0" * 40, name)  # trailing padding after the end marker is fine
    for cut in [*range(len(data) - 70, len(data)), len(data) // 2, len(data) // 3]:
        with pytest.raises(InputError):
            check_complete(data[:cut], name)


def test_an_end_marker_only_inside_the_thumbnail_is_not_an_end():
    data = _with_exif_thumbnail()
    cut = data[: len(data) - 2]  # the frame's own EOI removed; the thumbnail's is still early in the file
    with pytest.raises(InputError, match="truncated"):
        check_complete(cut, "x")


def test_not_an_image_is_refused_by_name():
    with pytest.raises(InputError, match="not a readable image"):
        image_size_from_header(b"\xff\xd8\xff\xe0garbage", "x.jpg")
    with pytest.raises(InputError, match="not a readable image"):
        image_size_from_header(b"hello", "x.png")


def _with_app1(jpeg: bytes, payload: bytes = b"Exif\0\0MM\0*\0\0\0\x08\0\0") -> bytes:
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


@pytest.mark.parametrize("name, ext, reusable", [
    ("baseline", ".jpg", True), ("progressive", ".jpeg", True), ("grey", ".jpg", True),
    ("cmyk", ".jpg", False),  # decoded to BGR through a colour conversion: the file is not its pixels
    ("exif thumbnail", ".jpg", False),  # EXIF (orientation, and metadata a written copy drops)
    ("baseline", ".png", False),  # another codec
    ("png rgb", ".png", True), ("png rgb", ".jpg", False),
    ("png 16-bit grey", ".png", False), ("png palette", ".png", False),
])
def test_an_input_is_reused_as_an_output_only_when_its_bytes_are_its_pixels(name, ext, reusable):
    from augcli.imageio import reusable_as

    assert reusable_as(CASES[name], ext) is reusable


def test_metadata_and_colour_profiles_stop_reuse():
    from augcli.imageio import reusable_as

    assert not reusable_as(_with_app1(CASES["baseline"]), ".jpg")
    assert not reusable_as(_encoded("JPEG", icc_profile=b"\0" * 200), ".jpg")  # APP2 ICC profile
    assert reusable_as(_encoded("JPEG", comment=b"made by a camera"), ".jpg")  # a COM segment is harmless
    assert not reusable_as(_encoded("PNG", pnginfo=_png_text("Author", "someone")), ".png")
    assert not reusable_as(_encoded("PNG", "RGBA"), ".png")
    assert not reusable_as(CASES["baseline"][:200], ".jpg")  # cut inside its headers


def _png_text(key: str, value: str):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(key, value)
    return info


def test_atomic_write_finishes_a_partial_write_and_refuses_a_stalled_one(tmp_path, monkeypatch):
    """os.write may take fewer bytes than given: the rest is written; if it takes none, the write
    fails naming the file, and neither the file nor its temporary is left behind."""
    import os

    from augcli import imageio

    real_write = os.write
    data = bytes(range(256)) * 40
    monkeypatch.setattr(imageio.os, "write", lambda fd, buf: real_write(fd, bytes(buf[:1000])))
    imageio.atomic_write_bytes(tmp_path / "a.jpg", data)
    assert (tmp_path / "a.jpg").read_bytes() == data

    monkeypatch.setattr(imageio.os, "write", lambda fd, buf: 0)
    with pytest.raises(OSError, match="short write to .*b.jpg"):
        imageio.atomic_write_bytes(tmp_path / "b.jpg", data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]

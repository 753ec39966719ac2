"""Decode/encode policy and atomic writes.

Images are decoded to 8-bit BGR with the EXIF orientation applied (what labelling tools
show) and written without an orientation tag. Every file is written under a temporary
name in its final folder and renamed into place, so a killed run never leaves half a file.
"""
from __future__ import annotations

import contextlib
import contextvars
import io
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from augcli import storage
from augcli.errors import InputError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_MAX_PIXELS = 100_000_000  # 100 megapixels: checked from the header, before decoding
_ENCODE_EXT = {".jpg": ".jpg", ".jpeg": ".jpg", ".png": ".png", ".bmp": ".bmp", ".tif": ".tif", ".tiff": ".tif", ".webp": ".webp"}
TMP_MARK = ".augcli-tmp"


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


MAX_LABEL_FILE_BYTES = 256 * 1024 * 1024  # a label / annotation file larger than this is refused


def read_file(path: str | os.PathLike, name: str, reason: str = "unreadable-image",
              max_bytes: int | None = None) -> bytes:
    """The bytes of a regular file, safely: opened non-blocking and checked with fstat, so a FIFO,
    a device or a folder is refused without ever blocking; symlink loops and permission problems
    become InputError(reason, name, ...). A URL string is read from its object store (augcli.storage)."""
    if not isinstance(path, Path) and storage.is_remote(path):
        return storage.read_bytes(str(path), name, reason, max_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputError(reason, name, f"cannot open: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
            raise InputError(reason, name, f"{kind}, not a file: skipped without reading")
        if max_bytes is not None and st.st_size > max_bytes:
            raise InputError(reason, name, f"{st.st_size} bytes is more than the {max_bytes} allowed")
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            return f.read()
    except OSError as exc:
        raise InputError(reason, name, f"cannot read: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)


def read_image_file(path: str | os.PathLike, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[bytes, np.ndarray]:
    """(raw bytes, decoded BGR image) of an input image; InputError naming it when unusable."""
    data = read_file(path, name)
    return data, decode_image(data, name, max_pixels)


def check_complete(data: bytes, path: str) -> None:
    """Refuse a JPEG or PNG that was cut short: some OpenCV builds decode those as partly grey
    without a word. A JPEG needs an end-of-image marker after its last scan; a PNG its IEND chunk."""
    if data[:3] == b"\xff\xd8\xff":
        if _jpeg_walk(data)[1]:
            raise InputError("truncated-image", path, "truncated JPEG (it ends inside its headers)")
        # fast path, same verdict: an end-of-image marker near the end with no scan after it and a
        # scan before it (entropy-coded data never holds FF D9, so a cut-short file has none there)
        eoi = data.rfind(b"\xff\xd9", max(0, len(data) - 64))
        if eoi >= 0 and data.find(b"\xff\xda", eoi) < 0 and 0 <= data.find(b"\xff\xda") < eoi:
            return
        sos = data.rfind(b"\xff\xda")
        if sos < 0 or data.find(b"\xff\xd9", sos) < 0:
            raise InputError("truncated-image", path, "truncated JPEG (no end-of-image marker after the image data)")
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        if data.rfind(b"IEND") < 0:
            raise InputError("truncated-image", path, "truncated PNG (no IEND chunk)")


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)


def _jpeg_headers(data: bytes) -> tuple[list[tuple[int, int, int]], str]:
    """Walk a JPEG's header segments (APPn, DQT, DHT, SOFn, ...) up to its first scan, each
    skipped by its length (so a thumbnail inside APP1 is passed over whole). Returns the segments
    as (marker, offset, length) and how the walk ended: "scan" (headers complete), "cut" (the
    data ends inside them), "bad-frame" (the last segment is a frame header too short to read)
    or "odd" (fill bytes, unknown layouts: callers then use slower paths)."""
    segments: list[tuple[int, int, int]] = []
    i, n = 2, len(data)
    for _ in range(256):
        if i + 4 > n:
            return segments, "cut"
        if data[i] != 0xFF:
            return segments, "odd"
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xDA:  # the first scan: headers are complete
            return segments, "scan"
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker == 0xD9 or length < 2:
            return segments, "odd"
        segments.append((marker, i, length))
        if marker in _SOF and (i + 9 > n or length < 8):
            return segments, "bad-frame"
        i += 2 + length
    return segments, "odd"


def _jpeg_walk(data: bytes) -> tuple[tuple[int, int] | None, bool]:
    """The frame's (width, height) from a JPEG's headers (None when unusual), and whether the data
    ended inside the headers (cut short)."""
    segments, end = _jpeg_headers(data)
    if end == "odd":
        return None, False
    if end == "bad-frame":
        return None, segments[-1][1] + 9 > len(data)
    size = None
    for marker, i, _ in segments:
        if marker in _SOF:
            h, w = int.from_bytes(data[i + 5:i + 7], "big"), int.from_bytes(data[i + 7:i + 9], "big")
            size = (w, h) if w > 0 and h > 0 else None
    return size, end == "cut"


def _jpeg_or_png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a JPEG (from its frame header) or a PNG (IHDR), read directly; None
    when the data is anything else or looks unusual (Pillow then decides)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return (w, h) if w > 0 and h > 0 else None
    if data[:2] != b"\xff\xd8":
        return None
    return _jpeg_walk(data)[0]


_PNG_PLAIN_CHUNKS = frozenset({b"IHDR", b"IDAT", b"IEND", b"pHYs", b"tIME"})


def reusable_as(data: bytes, ext: str) -> bool:
    """Whether an input file's own bytes can stand for an output of its decoded pixels with
    extension `ext`: the same codec, and nothing in the file that the decode changes or a
    written image would not carry: a JPEG with 1 or 3 components and no APP1-APP15 segments
    (no EXIF orientation, ICC profile, Adobe colour transform or other metadata); an 8-bit grey
    or RGB PNG with no chunks besides IHDR, IDAT, IEND, pHYs and tIME. Anything unusual: False
    (the caller encodes)."""
    codec = _ENCODE_EXT.get(ext.lower())
    if codec == ".jpg" and data[:3] == b"\xff\xd8\xff":
        return _jpeg_is_plain(data)
    if codec == ".png" and data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png_is_plain(data)
    return False


def _jpeg_is_plain(data: bytes) -> bool:
    segments, end = _jpeg_headers(data)
    return end == "scan" and not any(
        0xE1 <= marker <= 0xEF or (marker in _SOF and (i + 10 > len(data) or data[i + 9] not in (1, 3)))
        for marker, i, _ in segments)


def _png_is_plain(data: bytes) -> bool:
    if data[12:16] != b"IHDR" or len(data) < 29 or data[24] != 8 or data[25] not in (0, 2):
        return False  # bit depth 8, colour type grey or RGB
    i, n = 8, len(data)
    while i + 8 <= n:
        length, kind = int.from_bytes(data[i:i + 4], "big"), data[i + 4:i + 8]
        if kind not in _PNG_PLAIN_CHUNKS:
            return False
        if kind == b"IEND":
            return True
        i += 12 + length
    return False


def image_size_from_header(data: bytes, path: str) -> tuple[int, int]:
    """(width, height) read from the file header without decoding the pixels."""
    fast = _jpeg_or_png_size(data)
    if fast is not None:
        return fast
    from PIL import Image, UnidentifiedImageError

    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # augcli applies its own --max-pixels limit to the header's size
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputError("unreadable-image", path, f"not a readable image ({exc.__class__.__name__})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def decode_image(data: bytes, path: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Bytes -> (H, W, 3) uint8 BGR with EXIF orientation applied.

    Raises InputError for empty, oversized or undecodable data."""
    if not data:
        raise InputError("unreadable-image", path, "empty file (0 bytes)")
    w, h = image_size_from_header(data, path)
    if w * h > max_pixels:
        raise InputError("too-large", path, f"{w}x{h} = {w * h} pixels exceeds --max-pixels {max_pixels}")
    check_complete(data, path)
    image = _decode_reduced(data, w, h)
    if image is None:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError("unreadable-image", path, "OpenCV could not decode this image")
    return image


# (width, height) from the header -> the factor to decode at (1, 2, 4 or 8); None: full size
_REDUCTION: contextvars.ContextVar[Callable[[int, int], int] | None] = contextvars.ContextVar("reduction", default=None)
_REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


@contextlib.contextmanager
def reduced_decoding(factor: Callable[[int, int], int] | None) -> Iterator[None]:
    """Within this block, decode_image decodes a JPEG of (width, height) (as shown: its EXIF
    orientation applied) at 1/factor(width, height) of its size when that factor is 2, 4 or 8 and
    divides both sides:
    libjpeg's DCT scaling, which skips most of the decoder's work (a 1920x1080 JPEG: 7.7 ms at
    full size, 5.9 at half, 4.6 at a quarter). The smaller image covers the same picture, pixel
    (x, y) being the k x k block at (k x, k y), so a label in fractions of the image size is
    exact on it. augcli.job.Job decides when that is so (augcli.job.reduced_decode_factor)."""
    token = _REDUCTION.set(factor)
    try:
        yield
    finally:
        _REDUCTION.reset(token)


def _decode_reduced(data: bytes, w: int, h: int) -> np.ndarray | None:
    """The JPEG `data` (header size w x h) decoded at the factor reduced_decoding set, or None for a
    full-size decode (no factor, not a JPEG, a factor that does not divide both sides, or a
    decoder that did not give exactly 1/factor of each side)."""
    factor = _REDUCTION.get()
    if factor is None or data[:3] != b"\xff\xd8\xff":
        return None
    shown = _shown_size(data, w, h)
    k = 1 if shown is None else factor(*shown)
    if k not in _REDUCED_FLAGS or w % k or h % k:
        return None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED_FLAGS[k])
    if image is None or image.shape[:2] != (shown[1] // k, shown[0] // k):
        return None
    return image


def decoded_factor(data: bytes, image: np.ndarray) -> int:
    """How many times smaller than the file `data` the decode_image result `image` is along each
    side: 1, or the factor of a reduced decode (within reduced_decoding). A reader whose labels
    are in the file's pixels reads them at the file's size and scales them by 1/factor."""
    if _REDUCTION.get() is None or data[:3] != b"\xff\xd8\xff":
        return 1
    w, h = image_size_from_header(data, "")
    k = max(w, h) // max(image.shape[:2])  # (an EXIF orientation may have turned the picture)
    return k if k in _REDUCED_FLAGS else 1


def _shown_size(data: bytes, w: int, h: int) -> tuple[int, int] | None:
    """A JPEG's (width, height) as decoded: its header's, turned when an EXIF orientation of 5-8
    turns the picture a quarter. None when its EXIF cannot be read."""
    segments, _ = _jpeg_headers(data)
    if not any(marker == 0xE1 for marker, _, _ in segments):  # no APP1: no EXIF
        return w, h
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            orientation = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - any EXIF PIL cannot read: decode at full size, as always
        return None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def output_extension(input_ext: str, image_format: str) -> str:
    """Extension for an encoded output: the input's own for 'keep', else .jpg / .png."""
    if image_format == "jpg":
        return ".jpg"
    if image_format == "png":
        return ".png"
    return input_ext if input_ext.lower() in _ENCODE_EXT else ".png"


_MAX_SIDE = {".jpg": 65500, ".webp": 16383}  # pixels a side the JPEG and WebP encoders can write


def encode_image(image: np.ndarray, ext: str, jpeg_quality: int = 95) -> bytes:
    """The image encoded for extension `ext` (unknown ones as PNG). An image this codec cannot
    hold (wider or taller than its limit) or that it fails to encode raises ValueError: a fault of
    this one image, which the run skips by name, not an OSError (a write failure stops the run)."""
    enc_ext = _ENCODE_EXT.get(ext.lower(), ".png")
    h, w = image.shape[:2]
    limit = _MAX_SIDE.get(enc_ext)
    if limit is not None and max(w, h) > limit:
        raise ValueError(f"a {w}x{h} image cannot be written as {enc_ext}: the format holds at most "
                         f"{limit} pixels a side (write it as png: output.image_format)")
    params: list[int] = []
    if enc_ext == ".jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    elif enc_ext == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(enc_ext, image, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {w}x{h} image as {enc_ext}")
    return buf.tobytes()


def _tmp_name(folder: str, name: str) -> str:
    return os.path.join(folder, f".{name}.{os.getpid()}{TMP_MARK}")


_FOLDERS_MADE: set[str] = set()  # output folders this process made or found (a mkdir per write costs a syscall or two)


_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _write_all(fd: int, data: bytes, path: str) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(f"short write to {path}")
        view = view[n:]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, then rename
    (a remote path: one whole-object put). Plain file descriptors, no buffered file object, and
    the path handled as one string (os.path, not pathlib's objects): this runs for six files per
    input image."""
    if not isinstance(path, Path):
        storage.write_bytes(path, data)
        return
    target = os.fspath(path)
    folder, name = os.path.split(target)
    folder = folder or "."
    if folder not in _FOLDERS_MADE:
        os.makedirs(folder, exist_ok=True)
        _FOLDERS_MADE.add(folder)
    tmp = _tmp_name(folder, name)
    try:
        try:
            fd = os.open(tmp, _WRITE_FLAGS, 0o666)
        except FileNotFoundError:  # the folder was removed since: make it again, once
            _FOLDERS_MADE.discard(folder)
            os.makedirs(folder, exist_ok=True)
            fd = os.open(tmp, _WRITE_FLAGS, 0o666)
        try:
            _write_all(fd, data, target)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


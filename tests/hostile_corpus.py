"""A corpus of broken and hostile inputs, generated on demand: nothing binary is checked in.

    corpus = build(tmp_path / "corpus")

writes, under the given root:

    yolo/      one YOLO dataset holding every per-image case (broken, exotic and hostile images,
               broken and quirky label files) beside good images that carry a coloured box
    voc/       one VOC dataset with hostile XML (billion laughs, external entities, DTDs) and
               boxes partly / wholly outside the image
    coco/<case>/  one COCO dataset per annotation-file case (most break the whole file)
    recipes/   one recipe per hostile recipe case, plus `ok.yaml`, the recipe the datasets run with
    outside/   an image outside every dataset, the target of a symbolic link that leads out

and returns a Corpus saying what a run must do with each case. Every "good" image has a
solid box of MARKER colour (red; white on grey images) on a flat grey background, and its
label is exactly that box, so a test can check the written labels still cover the pixels.

Cases that cannot be made on this machine (a device file without CAP_MKNOD, a file root can
still read after chmod 000) are listed in `Corpus.not_made` with the reason.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import struct
import textwrap
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

NAMES = ("box", "other")
SIZE = (160, 120)  # (width, height) of the good images, pixels
BACKGROUND = 96  # grey level of the flat background
RED = (0, 0, 255)  # BGR
WHITE = (235, 235, 235)
BOX = (0.15, 0.2, 0.5, 0.6)  # x1, y1, x2, y2 as fractions of the width / height: asymmetric, so flips show

# Recipe every dataset of the corpus is run with: geometry only (colours stay recognisable),
# label filter off, so every box survives and can be checked against its pixels.
OK_RECIPE = """\
version: 1
seed: 5
copies: 2
keep_original: true
labels: {min_visibility: 0.0, min_area: 0}
pipeline:
  - {type: HorizontalFlip, p: 0.5}
  - {type: VerticalFlip, p: 0.5}
  - {type: Rotate, degrees: [-10, 10], p: 0.7}
"""
COPIES = 2
MAX_PIXELS = 5_000_000  # the corpus runs pass --max-pixels this: the zlib bomb (16 MP) is over it


@dataclass(frozen=True)
class Case:
    """What a run must do with one input.

    expect: 'ok' (original + COPIES copies written), 'skip' (named on stderr and in the manifest
    with `reason`) or 'ignored' (not an input: nothing written, nothing skipped)."""

    name: str
    key: str  # the manifest's `source` for it ('' for ignored entries)
    expect: str
    reason: str | None = None
    warning: str | None = None  # a substring of the warning line the run must print
    marker: tuple[int, int, int] | None = None  # colour of its one labelled box; None: no object (background)


@dataclass
class Corpus:
    root: Path
    yolo: Path
    voc: Path
    outside: Path
    recipe: Path
    yolo_cases: list[Case] = field(default_factory=list)
    voc_cases: list[Case] = field(default_factory=list)
    voc_notes: list[str] = field(default_factory=list)  # substrings of warnings the VOC run must print
    coco: dict[str, Path] = field(default_factory=dict)
    recipes: dict[str, Path] = field(default_factory=dict)
    not_made: dict[str, str] = field(default_factory=dict)  # case -> why it could not be made here


# ------------------------------------------------------------------ pixels
def box_pixels(size: tuple[int, int] = SIZE, box: tuple[float, ...] = BOX) -> tuple[int, int, int, int]:
    w, h = size
    return round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)


def scene(size: tuple[int, int] = SIZE, marker: tuple[int, int, int] = RED,
          box: tuple[float, ...] = BOX) -> np.ndarray:
    """(H, W, 3) BGR: flat grey with a solid `marker` box at `box` (fractions)."""
    w, h = size
    image = np.full((h, w, 3), BACKGROUND, np.uint8)
    x1, y1, x2, y2 = box_pixels(size, box)
    image[y1:y2, x1:x2] = marker
    return image


def yolo_line(size: tuple[int, int] = SIZE, box: tuple[float, ...] = BOX, cls: int = 0) -> str:
    w, h = size
    x1, y1, x2, y2 = box_pixels(size, box)
    return f"{cls} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def _jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buf.tobytes()


def _pil(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _rgb(image: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(image[:, :, ::-1]))


def cmyk_jpeg(ycck: bool = False) -> bytes:
    """A CMYK JPEG (Pillow writes an Adobe APP14 marker, transform 0) of the red-box scene, or a
    YCCK one: the same file with transform 2, its channels holding the YCbCr of the inverted
    colours, so a correct YCCK decoder shows the same red box on grey."""

    def want(c: int, m: int, y: int, k: int) -> tuple[int, ...]:
        if not ycck:
            return c, m, y, k
        r, g, b = 255 - c, 255 - m, 255 - y  # YCCK = YCbCr of the inverted C, M, Y
        yy = 0.299 * r + 0.587 * g + 0.114 * b
        cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
        cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
        return tuple(int(round(min(255.0, max(0.0, v)))) for v in (yy, cb, cr)) + (k,)

    grey = 255 - BACKGROUND
    image = Image.new("CMYK", SIZE, want(0, 0, 0, grey))
    x1, y1, x2, y2 = box_pixels()
    image.paste(want(0, 255, 255, 0), (x1, y1, x2, y2))
    data = bytearray(_pil(image, "JPEG", quality=95))
    at = data.find(b"Adobe")
    assert at > 0, "Pillow wrote no Adobe marker"
    if ycck:
        data[at + 11] = 2  # 'Adobe' version(2) flags0(2) flags1(2) transform(1)
    return bytes(data)


# EXIF orientation o: the stored pixels are the displayed image transposed by the inverse of
# what a viewer applies (Pillow's ImageOps.exif_transpose table).
_INVERSE_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def exif_jpeg(orientation: int, displayed: np.ndarray) -> bytes:
    """A JPEG whose stored pixels, once `orientation` (1..8) is applied, show `displayed` (BGR)."""
    image = _rgb(displayed)
    if orientation != 1:
        image = image.transpose(_INVERSE_TRANSPOSE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _pil(image, "JPEG", quality=95, exif=exif.tobytes())


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (8-bit grey) with a few bytes of pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def zlib_bomb_png(side: int = 4000) -> bytes:
    """A real side x side black PNG: a few KB on disk, side**2 pixels once decoded."""
    return _pil(Image.new("L", (side, side), 0), "PNG", optimize=True)


# ------------------------------------------------------------------ the YOLO dataset
def _write(path: Path | bytes, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def build_yolo(root: Path, outside: Path, corpus: Corpus) -> None:
    images, labels = root / "images", root / "labels"
    images.mkdir(parents=True)
    labels.mkdir()
    (root / "data.yaml").write_text("names: [" + ", ".join(NAMES) + "]\n")
    cases = corpus.yolo_cases
    line = yolo_line() + "\n"

    def good(name: str, data: bytes, label: str | None = line, marker=RED, warning: str | None = None) -> None:
        _write(images / name, data)
        if label is not None:
            (labels / (Path(name).stem + ".txt")).write_bytes(label.encode("utf-8"))
        cases.append(Case(name, f"images/{name}", "ok", marker=marker, warning=warning))

    def bad(name: str, reason: str, data: bytes | None = None, label: str | None = line) -> None:
        if data is not None:
            _write(images / name, data)
        if label is not None:
            (labels / (Path(name).stem + ".txt")).write_text(label)
        cases.append(Case(name, f"images/{name}", "skip", reason=reason))

    red = scene()
    # good images, in every encoding that must decode to the same picture
    good("good_png.png", _png(red))
    good("good_jpg.jpg", _jpeg(red))
    good("cmyk.jpg", cmyk_jpeg())
    good("ycck.jpg", cmyk_jpeg(ycck=True))
    grey = scene(marker=WHITE)[:, :, 0]
    good("grey.png", _pil(Image.fromarray(grey, "L"), "PNG"), marker=WHITE)
    good("grey16.png", _pil(Image.fromarray(grey.astype(np.uint16) * 257), "PNG"), marker=WHITE)
    good("rgb16.png", _png(red.astype(np.uint16) * 257))
    good("palette.png", _pil(_rgb(red).convert("P", palette=Image.Palette.ADAPTIVE, colors=4), "PNG"))
    rgba = _rgb(red).convert("RGBA")
    rgba.putalpha(Image.fromarray(np.where(grey > BACKGROUND, 255, 64).astype(np.uint8)))
    good("rgba.png", _pil(rgba, "PNG"))
    la = Image.fromarray(grey, "L").convert("LA")
    good("grey_alpha.png", _pil(la, "PNG"), marker=WHITE)
    for o in range(1, 9):
        good(f"exif{o}.jpg", exif_jpeg(o, red))
    # label-file quirks that are fine
    good("background.png", _png(scene(box=(0, 0, 0, 0))), label=None, marker=None)
    good("crlf.png", _png(red), label=yolo_line() + "\r\n")
    good("bom.png", _png(red), label="\ufeff" + line)
    good("blank_lines.png", _png(red), label="\n" + line + "\n\n   \n\t\n")
    edge = (0.6, 0.3, 1.0, 0.7)  # a box touching the right edge, labelled 0.4 % past it (x2 = 1.004)
    good("slightly_outside.png", _png(scene(box=edge)),
         label=f"0 {0.802:.6f} {0.5:.6f} {0.404:.6f} {0.4:.6f}\n", warning="slightly outside [0, 1] clipped")
    # broken images
    jpg, png = _jpeg(red), _png(red)
    bad("zero.jpg", "unreadable-image", b"")
    bad("truncated_jpg.jpg", "truncated-image", jpg[: len(jpg) * 2 // 3])
    bad("truncated_png.png", "truncated-image", png[: len(png) * 2 // 3])
    bad("not_an_image.jpg", "unreadable-image", b"<html><body>404 Not Found</body></html>\n" * 20)
    bad("text_as.png", "unreadable-image", b"0 0.5 0.5 0.2 0.2\n")
    bad("bomb_header.png", "too-large", png_claiming(100_000, 100_000))
    bad("bomb_zlib.png", "too-large", zlib_bomb_png())
    bad("zero_size.png", "unreadable-image", png_claiming(0, 0))
    (images / "folder.jpg").mkdir()  # a folder with an image name: not an input at all
    cases.append(Case("folder.jpg", "", "ignored"))
    good("strip.png", _png(np.full((2, 4000, 3), BACKGROUND, np.uint8)), label=None, marker=None)
    # things that are not regular files
    os.mkfifo(images / "fifo.jpg")
    bad("fifo.jpg", "unreadable-image")
    try:
        os.mknod(images / "dev_zero.jpg", stat.S_IFCHR | 0o644, os.makedev(1, 5))  # like /dev/zero: endless
        bad("dev_zero.jpg", "unreadable-image")
    except OSError as exc:
        corpus.not_made["device file"] = f"mknod refused: {exc.strerror}"
    os.symlink("loop_b.jpg", images / "loop_a.jpg")
    os.symlink("loop_a.jpg", images / "loop_b.jpg")
    os.symlink("loop_self.jpg", images / "loop_self.jpg")
    for name in ("loop_a.jpg", "loop_b.jpg", "loop_self.jpg"):
        bad(name, "unreadable-image")
    os.symlink(".", images / "loop_dir")  # a folder link back to its own folder: never walked
    cases.append(Case("loop_dir", "", "ignored"))
    # a link to a good image outside the input folder: must not be read (README: never read outside)
    _write(outside / "secret.png", _png(scene(marker=(0, 255, 0), box=(0.3, 0.3, 0.7, 0.7))))  # unique bytes
    os.symlink(os.path.relpath(outside / "secret.png", images), images / "escape.png")
    (labels / "escape.txt").write_text(line)
    cases.append(Case("escape.png", "images/escape.png", "skip", reason=None))
    if os.geteuid() != 0:
        _write(images / "no_permission.png", png)
        (labels / "no_permission.txt").write_text(line)
        os.chmod(images / "no_permission.png", 0)
        cases.append(Case("no_permission.png", "images/no_permission.png", "skip", reason="unreadable-image"))
    else:
        corpus.not_made["unreadable file"] = "running as root: chmod 000 does not stop root from reading"
    # names
    bad_name = os.fsencode(images) + b"/bad_\xff_name.png"
    _write(bad_name, png)
    _write(os.fsencode(labels) + b"/bad_\xff_name.txt", line.encode())
    cases.append(Case("non-utf8 name", "images/bad_\\udcff_name.png", "skip", reason="bad-name"))
    _write(images / "new\nline.png", png)
    (labels / "new\nline.txt").write_text(line)
    cases.append(Case("newline name", "images/new\nline.png", "skip", reason="bad-name"))
    _write(images / "twin.jpg", jpg)
    _write(images / "twin.png", png)
    (labels / "twin.txt").write_text(line)
    cases.append(Case("twin.jpg", "images/twin.jpg", "skip", reason="stem-collision"))
    cases.append(Case("twin.png", "images/twin.png", "skip", reason="stem-collision"))
    # broken labels on good images
    for name, text in (
        ("label_nan", "0 nan 0.5 0.2 0.2\n"),
        ("label_inf", "0 0.5 inf 0.2 0.2\n"),
        ("label_neg_inf", "0 0.5 0.5 -inf 0.2\n"),
        ("label_negative_size", "0 0.5 0.5 -0.2 0.2\n"),
        ("label_zero_size", "0 0.5 0.5 0 0.2\n"),
        ("label_class_out_of_range", "7 0.5 0.5 0.2 0.2\n"),
        ("label_negative_class", "-1 0.5 0.5 0.2 0.2\n"),
        ("label_fractional_class", "0.5 0.5 0.5 0.2 0.2\n"),
        ("label_huge_class", "1e400 0.5 0.5 0.2 0.2\n"),
        ("label_too_few_columns", "0 0.5 0.5 0.2\n"),
        ("label_too_many_columns", "0 0.5 0.5 0.2 0.2 0.1\n"),
        ("label_far_outside", "0 1.5 0.5 0.2 0.2\n"),
        ("label_word", "0 0.5 0.5 wide 0.2\n"),
        ("label_second_line_bad", line + "1 0.5 0.5 0.2\n"),
    ):
        bad(f"{name}.png", "bad-label", png, label=text)
    _write(images / "label_not_utf8.png", png)
    (labels / "label_not_utf8.txt").write_bytes("0 0.5 0.5 0.2 0.2\n".encode("utf-16"))
    cases.append(Case("label_not_utf8.png", "images/label_not_utf8.png", "skip", reason="bad-label"))
    _write(images / "label_fifo.png", png)
    os.mkfifo(labels / "label_fifo.txt")
    cases.append(Case("label_fifo.png", "images/label_fifo.png", "skip", reason="bad-label"))
    (labels / "orphan.txt").write_text(line)
    cases.append(Case("orphan.txt", "labels/orphan.txt", "skip", reason="label-without-image"))


# ------------------------------------------------------------------ VOC
def voc_xml(name: str, box: tuple[int, int, int, int] | None, size: tuple[int, int] | None = SIZE,
            prolog: str = "", cls: str = "box") -> str:
    """An annotation with one object; `box` in continuous pixels (x1, y1, x2, y2), written 1-based inclusive."""
    size_el = f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>" if size else ""
    obj = ""
    if box is not None:
        x1, y1, x2, y2 = box
        obj = (f"<object><name>{cls}</name><difficult>0</difficult><bndbox><xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin>"
               f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>")
    return f"{prolog}<annotation><filename>{name}</filename>{size_el}{obj}</annotation>\n"


BILLION_LAUGHS = '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n' + "".join(
    f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10)) + "]>\n"
XXE = '<?xml version="1.0"?>\n<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>\n'


def build_voc(root: Path, corpus: Corpus) -> None:
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    jpg = _jpeg(scene())
    box = box_pixels()
    laughs = voc_xml("laughs.jpg", box, prolog=BILLION_LAUGHS).replace("<filename>laughs.jpg", "<filename>&lol9;")
    xxe = voc_xml("xxe.jpg", box, prolog=XXE).replace("<filename>xxe.jpg", "<filename>&xxe;")
    external_dtd = '<?xml version="1.0"?>\n<!DOCTYPE annotation SYSTEM "http://127.0.0.1:9/x.dtd">\n'
    dtd = voc_xml("dtd.jpg", box, prolog=external_dtd)
    w, h = SIZE
    cases = [
        ("ok", voc_xml("ok.jpg", box), "ok", None, None),
        ("no_size", voc_xml("no_size.jpg", box, size=None), "ok", None, None),
        ("wrong_size", voc_xml("wrong_size.jpg", box, size=(640, 480)), "ok", None, "<size> says 640x480"),
        ("partly_outside", voc_xml("partly_outside.jpg", (box[0], box[1], w + 30, box[3])), "ok", None, "clipped"),
        ("wholly_outside", voc_xml("wholly_outside.jpg", (w + 10, 5, w + 40, 30)), "skip", "bad-label", None),
        ("inverted", voc_xml("inverted.jpg", (60, 20, 30, 50)), "skip", "bad-label", None),
        ("nan_box", voc_xml("nan_box.jpg", box).replace(f"<xmax>{box[2]}</xmax>", "<xmax>nan</xmax>"),
         "skip", "bad-label", None),
        ("unknown_class", voc_xml("unknown_class.jpg", box, cls="<![CDATA[zebra]]>"), "skip", "bad-label", None),
        ("billion_laughs", laughs, "skip", "bad-label", None),
        ("external_entity", xxe, "skip", "bad-label", None),
        ("external_dtd", dtd, "skip", "bad-label", None),
        ("not_xml", "this is { not xml", "skip", "bad-label", None),
        ("wrong_root", "<html><body/></html>", "skip", "bad-label", None),
    ]
    reaching = _jpeg(scene(box=(BOX[0], BOX[1], 1.0, BOX[3])))  # its box runs to the right edge
    for name, xml, expect, reason, warning in cases:
        _write(root / "JPEGImages" / f"{name}.jpg", reaching if name == "partly_outside" else jpg)
        (root / "Annotations" / f"{name}.xml").write_text(xml)
        corpus.voc_cases.append(Case(name, f"JPEGImages/{name}.jpg", expect, reason=reason, warning=warning,
                                     marker=RED if expect == "ok" else None))
    (root / "Annotations" / "orphan.xml").write_text(voc_xml("orphan.jpg", box))
    corpus.voc_notes.append("Annotations/orphan.xml: no image")
    (root / "labelmap.txt").write_text("# label:color_rgb:parts:actions\nbox:255,0,0::\n")


# ------------------------------------------------------------------ COCO
def _coco_ok(n: int = 2) -> dict:
    x1, y1, x2, y2 = box_pixels()
    return {
        "images": [{"id": i + 1, "file_name": f"img{i}.png", "width": SIZE[0], "height": SIZE[1]} for i in range(n)],
        "annotations": [{"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                         "area": (x2 - x1) * (y2 - y1), "iscrowd": 0} for i in range(n)],
        "categories": [{"id": 1, "name": "box"}],
    }


def build_coco(root: Path, corpus: Corpus) -> None:
    """One dataset per case: images/img0.png, img1.png (+ extras) and annotations/instances.json."""
    png = _png(scene())

    def dataset(name: str, text: str | bytes, extra_images: tuple[str, ...] = ()) -> None:
        d = root / name
        (d / "images").mkdir(parents=True)
        (d / "annotations").mkdir()
        for i in range(2):
            _write(d / "images" / f"img{i}.png", png)
        for extra in extra_images:
            _write(d / "images" / extra, png)
        _write(d / "annotations" / "instances.json", text if isinstance(text, bytes) else text.encode())
        corpus.coco[name] = d

    ok = json.dumps(_coco_ok())
    dataset("ok", ok)
    dataset("truncated", ok[: len(ok) // 2])
    dataset("not_an_object", "[1, 2, 3]")
    dataset("a_string", '"images"')
    dataset("empty_file", "")
    dataset("binary", bytes(range(256)) * 4)
    dataset("no_images_key", json.dumps({"annotations": [], "categories": []}))
    dataset("images_not_a_list", json.dumps({"images": {"1": "img0.png"}, "annotations": []}))
    no_ann = _coco_ok()
    del no_ann["annotations"]
    dataset("no_annotations_key", json.dumps(no_ann))
    no_cat = _coco_ok()
    del no_cat["categories"]
    dataset("no_categories_key", json.dumps(no_cat))
    dup = _coco_ok()
    dup["images"].append({"id": 1, "file_name": "img2.png", "width": SIZE[0], "height": SIZE[1]})
    dataset("duplicate_image_ids", json.dumps(dup), extra_images=("img2.png",))
    dup_ann = _coco_ok()
    dup_ann["annotations"][1]["id"] = 1
    dataset("duplicate_annotation_ids", json.dumps(dup_ann))
    dangling = _coco_ok()
    dangling["annotations"].append({"id": 9, "image_id": 99, "category_id": 1, "bbox": [1, 1, 5, 5]})
    dataset("annotation_for_missing_image_id", json.dumps(dangling))
    missing = _coco_ok()
    missing["images"].append({"id": 3, "file_name": "not_there.png", "width": 10, "height": 10})
    dataset("image_file_missing", json.dumps(missing))
    escape = _coco_ok()
    escape["images"] += [{"id": 3, "file_name": "../../../../../../etc/hostname"},
                         {"id": 4, "file_name": "/etc/hostname"}]
    dataset("file_name_escapes", json.dumps(escape))
    bad_values = _coco_ok(4)
    bad_values["annotations"][1]["bbox"] = [float("nan"), 1, 2, 3]  # json.dumps writes NaN; json.loads reads it
    bad_values["annotations"][2]["bbox"] = [10, 10, -5, 3]
    bad_values["annotations"][3]["category_id"] = 42
    dataset("bad_annotation_values", json.dumps(bad_values), extra_images=("img2.png", "img3.png"))
    huge_int = _coco_ok()
    huge_int["annotations"][1]["bbox"] = [10**400, 1, 2, 3]  # a whole number no float can hold
    dataset("huge_int_bbox", json.dumps(huge_int))
    rle_bomb = _coco_ok()
    rle_bomb["annotations"][1]["segmentation"] = {"size": [60_000, 60_000], "counts": [0, 3_600_000_000]}
    dataset("rle_bomb", json.dumps(rle_bomb))
    big = _coco_ok()
    big["info"] = {"description": "x" * 8_000_000}
    big["annotations"] += [{"id": 100 + i, "image_id": 1_000_000 + i, "category_id": 1, "bbox": [1, 1, 2, 2]}
                           for i in range(100_000)]
    dataset("gigantic", json.dumps(big))
    deep = json.dumps(_coco_ok())[:-1] + ', "deep": ' + "[" * 200_000 + "]" * 200_000 + "}"
    dataset("deeply_nested", deep)
    huge_number = json.dumps(_coco_ok()).replace('"width": 160', '"width": ' + "9" * 5000, 1)
    dataset("huge_number", huge_number)


# ------------------------------------------------------------------ recipes
def build_recipes(root: Path, canary: Path, corpus: Corpus) -> None:
    root.mkdir(parents=True)

    def recipe(name: str, text: str) -> None:
        path = root / f"{name}.yaml"
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        corpus.recipes[name] = path

    recipe("ok", OK_RECIPE)
    recipe("python_tag", f"""
        seed: !!python/object/apply:os.system ["touch {canary}"]
        pipeline: [{{type: HorizontalFlip}}]
        """)
    recipe("python_name_tag", """
        pipeline:
          - !!python/name:os.system {type: HorizontalFlip}
        """)
    laughs = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        laughs.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    recipe("alias_bomb", "\n".join(laughs) + "\npipeline: [{type: HorizontalFlip}]\n")
    recipe("nan_param", """
        pipeline:
          - {type: Rotate, degrees: [.nan, 10]}
        """)
    recipe("inf_param", """
        pipeline:
          - {type: GaussianBlur, sigma: [.inf, .inf]}
        """)
    recipe("absurd_params", """
        pipeline:
          - {type: GaussianBlur, sigma: [1e300, 1e300]}
          - {type: Rotate, degrees: [-1e308, 1e308], p: 7}
          - {type: Resize, width: 100000000, height: 100000000}
        output: {jpeg_quality: 1000}
        """)
    recipe("copies_billion", """
        copies: 1000000000
        pipeline: [{type: HorizontalFlip}]
        """)
    recipe("copies_many", """
        copies: 50000
        pipeline: [{type: HorizontalFlip}]
        """)
    recipe("huge_seed", """
        seed: 1000000000000000000000000000000000000
        pipeline: [{type: HorizontalFlip}]
        """)
    nested = "{type: HorizontalFlip}"
    for _ in range(30):
        nested = "{type: Sequential, transforms: [" + nested + "]}"
    recipe("nested_containers", f"pipeline: [{nested}]\n")
    deep = "[" * 500 + "]" * 500
    recipe("deep_yaml", f"pipeline: [{{type: HorizontalFlip}}]\nextra: {deep}\n")
    recipe("many_errors", """
        copies: -3
        keep_original: maybe
        pipeline:
          - {type: NoSuchTransform}
          - {type: Rotate, degrees: [10, -10, 3]}
        """)
    recipe("not_a_mapping", "- just\n- a list\n")
    recipe("binary", "\x00\x01\x02 not yaml \xff")


# ------------------------------------------------------------------ entry point
def case_names() -> dict[str, list[str]]:
    """The case names of each per-item dataset, for test ids at collection time (built in a
    throwaway folder: the cases depend on what this machine allows)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="augcli-cases-") as tmp:
        corpus = Corpus(Path(tmp), Path(tmp) / "yolo", Path(tmp) / "voc", Path(tmp) / "outside", Path(tmp))
        corpus.outside.mkdir()
        build_yolo(corpus.yolo, corpus.outside, corpus)
        build_voc(corpus.voc, corpus)
        return {"yolo": [c.name for c in corpus.yolo_cases], "voc": [c.name for c in corpus.voc_cases]}



def build(root: Path) -> Corpus:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    outside = root / "outside"
    outside.mkdir()
    corpus = Corpus(root, root / "yolo", root / "voc", outside, root / "recipes" / "ok.yaml")
    build_yolo(corpus.yolo, outside, corpus)
    build_voc(corpus.voc, corpus)
    build_coco(root / "coco", corpus)
    build_recipes(root / "recipes", outside / "PWNED", corpus)
    return corpus


# ------------------------------------------------------------------ observing a tree without disturbing it
def snapshot(root: Path | str) -> dict[bytes, tuple]:
    """Every entry below `root` (names as bytes, so any name works) -> (kind, mode, content).

    Regular files are hashed; links give their target; FIFOs and devices are never opened."""
    out: dict[bytes, tuple] = {}
    top = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, top)
            st = os.lstat(full)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", mode, os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", mode, None)
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    out[rel] = ("file", mode, hashlib.sha256(f.read()).hexdigest())
            else:
                out[rel] = ("special", mode, (stat.S_IFMT(st.st_mode), st.st_rdev))
    return out

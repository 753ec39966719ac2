"""data.yaml split entries that are image lists (.txt, one image path a line: Ultralytics, darknet).

Every dataset here is generated, and the split each image must land in is written down next to
it, from how Ultralytics resolves a list (a line starting ./ is relative to the list's folder;
other relative lines are taken relative to the dataset root), not from augcli's reader."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml
from click.testing import CliRunner

from augcli import api
from augcli.cli import main
from augcli.formats import yolo

ROOT = Path(__file__).resolve().parent.parent
CONVERT = ROOT / "configs" / "convert.yaml"
QUIET = {"log": lambda line: None}


def _image(root: Path, rel: str, label: bool = True) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((8, 12, 3), 90, np.uint8))
    if label:
        parts = rel.split("/")
        i = len(parts) - 2 - parts[-2::-1].index("images")
        parts[i] = "labels"
        label_path = (root / "/".join(parts)).with_suffix(".txt")
        label_path.parent.mkdir(parents=True, exist_ok=True)
        label_path.write_text("0 0.5 0.5 0.25 0.25\n")


def _splits(root: Path) -> dict[str, str | None]:
    return {item.key: item.split for item in yolo.scan(root).items}


def test_images_listed_get_their_lists_split_and_the_others_their_folders(tmp_path):
    expected = {
        "images/a.jpg": "train",       # ./images/a.jpg in train.txt: relative to the list's folder (the root)
        "images/b.jpg": "train",       # images/b.jpg: relative to the dataset root
        "images/c.jpg": "train",       # an absolute path inside the root
        "images/d.jpg": "val",         # ./../images/d.jpg in lists/val.txt: relative to lists/
        "images/e.jpg": "test",        # lists/test.txt, named with a leading ./ in data.yaml
        "images/f.jpg": None,          # listed nowhere, in a folder named for no split
        "images/val/v.jpg": "val",     # the folder data.yaml names for val, beside the list
        "images/test/t.jpg": "test",   # listed nowhere: its folder's name
        "images/sub/g.png": "train",   # ./images/sub/../sub/g.png: normalised
        "images/train/h.jpg": "val",   # listed for val: the list names the image itself
    }
    for rel in expected:
        _image(tmp_path, rel)
    (tmp_path / "outside.jpg").write_bytes(b"")
    (tmp_path / "train.txt").write_text(
        "./images/a.jpg\r\nimages/b.jpg\r\n\r\n" + str(tmp_path / "images" / "c.jpg") + "\r\n"
        "./images/sub/../sub/g.png\r\n../outside.jpg\r\n./images/missing.jpg\r\n/elsewhere/images/f.jpg\r\n")
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "val.txt").write_text("./../images/d.jpg\nimages/train/h.jpg\n")
    (tmp_path / "lists" / "test.txt").write_text("  images/e.jpg  \n")
    (tmp_path / "data.yaml").write_text(
        "path: .\ntrain: train.txt\nval: [images/val, lists/val.txt]\ntest: ./lists/test.txt\nnames: [cat]\n")
    ds = yolo.scan(tmp_path)
    assert {i.key: i.split for i in ds.items} == expected
    assert ds.notes == [] and ds.problems == []


def test_an_image_listed_for_two_splits_decides_none_as_a_folder_does(tmp_path):
    for rel in ("images/train/x.jpg", "images/y.jpg", "images/z.jpg", "images/w.jpg"):
        _image(tmp_path, rel)
    (tmp_path / "train.txt").write_text("./images/train/x.jpg\n./images/y.jpg\n./images/z.jpg\n")
    (tmp_path / "val.txt").write_text("images/train/x.jpg\nimages/y.jpg\n./images/w.jpg\n")
    (tmp_path / "data.yaml").write_text("train: train.txt\nval: val.txt\nnames: [cat]\n")
    # x and y are named for train and for val: their folder names decide (images/train, images/)
    assert _splits(tmp_path) == {"images/train/x.jpg": "train", "images/y.jpg": None,
                                 "images/z.jpg": "train", "images/w.jpg": "val"}
    # one list named for two splits (what augcli writes as `val: train.txt  # same as train`)
    (tmp_path / "data.yaml").write_text("train: train.txt\nval: train.txt\nnames: [cat]\n")
    ds = yolo.scan(tmp_path)
    assert {i.key: i.split for i in ds.items} == {"images/train/x.jpg": "train", "images/y.jpg": None,
                                                  "images/z.jpg": None, "images/w.jpg": None}
    assert ds.notes == []
    # and the same rule for a folder named twice, listed images kept
    (tmp_path / "data.yaml").write_text("train: [images, val.txt]\nval: images\nnames: [cat]\n")
    assert _splits(tmp_path) == {"images/train/x.jpg": "train", "images/y.jpg": "train",
                                 "images/z.jpg": None, "images/w.jpg": "train"}


def test_unusable_lists_are_noted_and_left_out(tmp_path):
    for rel in ("images/train/x.jpg", "images/val/y.jpg", "images/z.jpg"):
        _image(tmp_path, rel)
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00images/z.jpg\n")  # not UTF-8
    (tmp_path / "ok.txt").write_text("images/z.jpg\n")
    (tmp_path / "data.yaml").write_text(
        f"train: [missing.txt, {tmp_path / 'ok.txt'}]\nval: bad.txt\ntest: ok.txt\nnames: [cat]\n")
    ds = yolo.scan(tmp_path)
    assert {i.key: i.split for i in ds.items} == {
        "images/train/x.jpg": "train", "images/val/y.jpg": "val", "images/z.jpg": "test"}
    assert len(ds.notes) == 3
    assert all("is not an image folder inside the input" in n for n in ds.notes)
    assert [n.split("'")[1] for n in ds.notes] == ["missing.txt", str(tmp_path / "ok.txt"), "bad.txt"]
    folders, listed, notes = yolo.yaml_splits(yaml.safe_load((tmp_path / "data.yaml").read_text()), tmp_path)
    assert folders == [] and listed == {"images/z.jpg": "test"} and notes == ds.notes


def _voc(root: Path, sets: dict[str, list[int]], n: int = 4) -> None:
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        assert cv2.imwrite(str(root / "JPEGImages" / f"img{i}.png"), np.full((32, 48, 3), 128, np.uint8))
        (root / "Annotations" / f"img{i}.xml").write_text(
            f"<annotation><filename>img{i}.png</filename><object><name>cat</name><bndbox><xmin>5</xmin>"
            f"<ymin>5</ymin><xmax>20</xmax><ymax>20</ymax></bndbox></object></annotation>")
    for split, ids in sets.items():
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"img{i}\n" for i in ids))


def test_yolo_written_with_a_train_list_reads_back_with_its_splits(tmp_path):
    """VOC with val.txt and test.txt only: the other images are written to images/ and listed
    in train.txt (`train: train.txt`), so read back they are train; nothing is noted."""
    _voc(tmp_path / "voc", {"val": [0], "test": [1]})
    out = tmp_path / "out"
    assert api.run(CONVERT, tmp_path / "voc", out, workers=1, output_format="yolo", **QUIET).exit_code == 0
    assert yaml.safe_load((out / "data.yaml").read_text())["train"] == "train.txt"
    ds = yolo.scan(out)
    stems = {Path(i.key).stem: i.split for i in ds.items}
    assert stems == {"img0": "val", "img1": "test", "img2": "train", "img3": "train"}
    assert ds.notes == [] and ds.problems == []
    result = CliRunner().invoke(main, ["check", str(out)])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output.lower() and "data.yaml" not in result.output
    assert "images: 4 (test 1, train 2, val 1)" in result.output and "result: clean" in result.output
    back = tmp_path / "back"
    result = CliRunner().invoke(main, ["run", str(CONVERT), "-i", str(out), "-o", str(back), "-w", "1"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output.lower()
    written = {p.relative_to(back).as_posix() for p in (back / "images").rglob("*.png")}
    assert written == {"images/val/img0.png", "images/test/img1.png", "images/train/img2.png",
                       "images/train/img3.png"}
    assert yaml.safe_load((back / "data.yaml").read_text())["train"] == "images/train"

"""The parent's per-file structures stay compact and give the same answers as plain lists did.

A run holds every input in an ItemTable (augcli.formats.table), finds equal names through a
HashIndex (hashes, confirmed exactly) and walks folders a name at a time. Each is compared here
with the straightforward list-and-dict code it replaced, kept below as `_reference_*`, on small
generated trees and on names chosen to be awkward (non-UTF-8 bytes, prefixes, long names), and
with every hash forced equal so the exact confirmations are what decides."""
from __future__ import annotations

import os
import pickle
import random
import re
from dataclasses import replace
from pathlib import Path, PurePosixPath

import numpy as np
import pytest

from augcli import api, storage
from augcli.formats import get_format, images, table, voc, yolo
from augcli.formats.base import Item, unusable_name
from augcli.formats.table import HashIndex, ItemTable, ItemTableBuilder, key_order
from augcli.recipe import load_recipe

AWKWARD = ["a", "b", "/", ".", "-", "_", "é", "ß", "中", "😀", "\udcff", "\udc80", "Z", "0", " ", "\x7f"]


def _random_keys(rng: random.Random, n: int) -> list[str]:
    keys = {"".join(rng.choice(AWKWARD) for _ in range(rng.choice([1, 2, 3, 4, 5, 8, 9, 16, 17, 40])))
            for _ in range(n)}
    keys = sorted(keys)
    rng.shuffle(keys)
    return keys


def _same_hash(monkeypatch) -> None:
    """Every value hashes alike: only the exact comparisons can tell names apart."""
    monkeypatch.setattr(table, "value_hash", lambda value: 0)


# ---------------------------------------------------------------- the table itself
@pytest.mark.parametrize("seed", range(20))
def test_table_keys_sort_as_python_sorts_strings(seed):
    rng = random.Random(seed)
    keys = _random_keys(rng, rng.randint(0, 400))
    builder = ItemTableBuilder("/data", label_of=lambda k: k + ".txt")  # a lambda: the table is not pickled here
    splits = {k: rng.choice([None, "train", "val"]) for k in keys}
    for k in keys:
        builder.add(k, splits[k], labelled=len(k) % 3 != 0)
    got = builder.build()
    assert list(got.keys()) == sorted(keys)
    assert list(got) == [Item(k, "/data", k + ".txt" if len(k) % 3 else None, splits[k]) for k in sorted(keys)]


def test_key_order_is_stable_and_takes_nul_bytes_and_long_keys():
    keys = [b"b", b"a", b"b", b"a\x00", b"a", b"x" * 100 + b"2", b"x" * 100 + b"1", b"x" * 100]
    blob = b"".join(keys) + bytes(8)
    ends = np.cumsum([len(k) for k in keys])
    starts = ends - [len(k) for k in keys]
    order = key_order(blob, starts, ends)
    assert order.tolist() == sorted(range(len(keys)), key=lambda i: keys[i])
    plain = [k for k in keys if b"\x00" not in k]
    blob = b"".join(plain) + bytes(8)
    ends = np.cumsum([len(k) for k in plain])
    order = key_order(blob, ends - [len(k) for k in plain], ends)
    assert order.tolist() == sorted(range(len(plain)), key=lambda i: plain[i])  # equal keys keep their order


def test_table_slices_selects_pickles_and_adds_like_a_list():
    items = [Item(f"images/{name}.jpg", "/in", f"labels/{name}.txt", split, payload)
             for name, split, payload in [("c", "val", None), ("a", "train", {"n": 1}), ("b", None, "cat"),
                                          ("d", "train", None)]]
    t = ItemTable.from_items(items)
    expected = sorted(items, key=lambda it: it.key)
    assert list(t) == expected and len(t) == 4 and t[-1] == expected[-1] and t[1] == expected[1]
    assert list(t[1:3]) == expected[1:3] and list(t[::-1]) == expected[::-1] and list(t[:0]) == []
    assert not t[:0] and t
    with pytest.raises(IndexError):
        t[4]
    assert list(t.select(np.array([True, False, True, False]))) == [expected[0], expected[2]]
    assert t.select(np.ones(4, bool)) is t
    resplit = t.with_splits((None, "x", "y"), np.array([1, 0, 2, 1]))
    assert [it.split for it in resplit] == ["x", None, "y", "x"] and [it.split for it in t] == [
        it.split for it in expected]
    again = pickle.loads(pickle.dumps(t))
    assert list(again) == expected and again.root == "/in"
    assert t + [items[0]] == [*expected, items[0]] and [items[0]] + t == [items[0], *expected]
    assert all(it.root is t.root for it in t)  # one root string shared by every item


def test_table_of_a_scan_pickles_with_its_label_rule(tmp_path):
    root = tmp_path / "in"
    for rel in ("images/train/a.jpg", "images/val/b.jpg"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    items = yolo.scan(root).items
    assert isinstance(items, ItemTable)
    assert list(pickle.loads(pickle.dumps(items))) == list(items)
    assert [it.label_rel for it in items] == ["labels/train/a.txt", "labels/val/b.txt"]


def test_table_is_compact():
    builder = ItemTableBuilder("/data", yolo.label_relpath)
    for i in range(20_000):
        builder.add(f"images/train/img{i:06d}.jpg", "train")
    t = builder.build()
    assert len(t) == 20_000
    assert t.nbytes / len(t) < 40  # a list of Items held some 250 bytes a file


# ---------------------------------------------------------------- HashIndex
@pytest.mark.parametrize("forced", [False, True], ids=["hashes", "one-hash"])
def test_hash_index_confirms_equal_values_exactly(monkeypatch, forced):
    if forced:
        _same_hash(monkeypatch)
    values = ["a", "b", "a", None, None, "b", "c", "a"]
    for index in (HashIndex.of(values, len(values)),):
        assert index.repeats(values.__getitem__) == [(2, 0), (5, 1), (7, 0)]  # None equals nothing
        assert index.first("b", values.__getitem__) == 1 and index.first("zz", values.__getitem__) is None
    empty = HashIndex.of([], 0)
    assert empty.repeats(lambda i: None) == [] and empty.first("a", lambda i: None) is None


# ---------------------------------------------------------------- the folder walk
def test_walk_files_finds_what_os_walk_finds(tmp_path):
    root = tmp_path / "t"
    for rel in ("a.jpg", "sub/b.jpg", "sub/deeper/c.txt", ".hidden/d.jpg", "e/f/g/h.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    (root / "link.jpg").symlink_to(root / "a.jpg")
    (root / "dirlink").symlink_to(root / "sub", target_is_directory=True)
    expected = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = os.path.relpath(dirpath, root)
        expected |= {(("" if rel == "." else rel), name) for name in filenames}
    entered = []
    got = list(storage.walk_files(root, lambda rel, d, link: entered.append((rel, d, link)) or not d.startswith(".")))
    assert {(rel, name) for rel, name, _ in got} == expected
    assert {name for _, name, link in got if link} == {"link.jpg"}
    assert ("", "dirlink", True) in entered  # offered, never walked
    assert sorted(storage.entry_names(root)) == sorted(os.listdir(root))


# ---------------------------------------------------------------- YOLO scan, against the list code
def _reference_yolo_scan(root: Path):
    found = []
    for rel_dir, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "labels")
        rel_dir = os.path.relpath(rel_dir, root)
        rel_dir = "" if rel_dir == "." else rel_dir
        found += [f"{rel_dir}/{n}" if rel_dir else n for n in filenames if not n.startswith(".")
                  and n.lower().endswith((".jpg", ".png"))]
    if any("images" in r.split("/")[:-1] for r in found):
        found = [r for r in found if "images" in r.split("/")[:-1]]
    real_root = os.path.realpath(root)
    problems, image_rels = [], []
    for rel in sorted(found):
        if os.path.commonpath([real_root, os.path.realpath(root / rel)]) != real_root:
            problems.append((rel, "outside-input", f"{rel}: a link leading outside the input folder; not read"))
        else:
            image_rels.append(rel)
    owner, shared, items = {}, {}, []
    for rel in image_rels:
        label = yolo.label_relpath(rel)
        if label in owner:
            shared.setdefault(label, [owner[label]]).append(rel)
        else:
            owner[label] = rel
    for rel in image_rels:
        label = yolo.label_relpath(rel)
        if label in shared:
            others = ", ".join(r for r in shared[label] if r != rel)
            problems.append((rel, "stem-collision", f"{rel}: shares its label file {label} with {others}; rename one"))
            continue
        items.append(Item(rel, str(root), label, yolo._split_of(rel)))
    labels = []
    for rel_dir, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = os.path.relpath(rel_dir, root)
        if "labels" in rel_dir.split("/"):
            labels += [f"{rel_dir}/{n}" for n in filenames if n.endswith(".txt") and n != "classes.txt"
                       and not n.startswith(".")]
    for label in sorted(l for l in labels if l not in owner):
        problems.append((label, "label-without-image", f"{label}: label file with no image of the same name"))
    return items, problems


def _random_yolo_tree(root: Path, rng: random.Random) -> None:
    stems = ["a", "b", "a.b", "a-b", "img_001", "é", "x" * 30, "a_aug1"]
    for split in ("train", "val", ""):
        for stem in rng.sample(stems, rng.randint(1, len(stems))):
            for ext in rng.sample([".jpg", ".png"], rng.choice([1, 1, 2])):
                rel = "/".join(p for p in ("images", split, stem + ext) if p)
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(b"x")
            if rng.random() < 0.7:
                label = root / "/".join(p for p in ("labels", split, stem + ".txt") if p)
                label.parent.mkdir(parents=True, exist_ok=True)
                label.write_text("0 0.5 0.5 0.1 0.1\n")
        if rng.random() < 0.5:  # a label with no image
            (root / "labels" / split / "orphan.txt").parent.mkdir(parents=True, exist_ok=True)
            (root / "labels" / split / "orphan.txt").write_text("")
    (root / "stray.jpg").write_bytes(b"x")  # outside images/: not the dataset's
    (root / "images" / ".hidden.jpg").write_bytes(b"x")
    outside = root.parent / "outside.jpg"
    outside.write_bytes(b"x")
    (root / "images" / "leak.jpg").symlink_to(outside)
    (root / "images" / "inside.jpg").symlink_to(root / "stray.jpg")


@pytest.mark.parametrize("forced", [False, True], ids=["hashes", "one-hash"])
@pytest.mark.parametrize("seed", range(6))
def test_yolo_scan_matches_the_list_code(tmp_path, monkeypatch, seed, forced):
    if forced:
        _same_hash(monkeypatch)
    root = tmp_path / "in"
    _random_yolo_tree(root, random.Random(seed))
    items, problems = _reference_yolo_scan(root)
    got = yolo.scan(root)
    assert list(got.items) == items
    assert got.problems == problems


# ---------------------------------------------------------------- VOC scan, against the list code
def _reference_voc_scan(root: Path):
    notes: list[str] = []
    by_id: dict[str, str] = {}
    for rel in images.list_files(root, voc.IMAGES, notes=notes):
        key = voc.image_id(rel)
        if key in by_id:
            notes.append(f"{rel}: another image has the id {key} ({by_id[key]}); only that one is used")
            continue
        by_id[key] = rel
    xml_of: dict[str, str] = {}
    for rel in images.list_files(root, voc.ANNOTATIONS, accept=lambda n: n.lower().endswith(".xml"), notes=notes):
        key = str(PurePosixPath(*PurePosixPath(rel).parts[1:]).with_suffix(""))
        if key in by_id:
            xml_of[key] = rel
        else:
            notes.append(f"{rel}: no image {voc.IMAGES}/{key}.* for this annotation; ignored")
    split_of: dict[str, str] = {}
    folder = root / voc.IMAGE_SETS
    for split in [s for s in voc.SPLIT_FILES if (folder / f"{s}.txt").is_file()]:
        for line in (folder / f"{split}.txt").read_text().splitlines():
            tokens = line.split()
            if tokens and tokens[0] in by_id and tokens[0] not in split_of:
                split_of[tokens[0]] = split
    return sorted((Item(rel, str(root), xml_of.get(key), split_of.get(key)) for key, rel in by_id.items()),
                  key=lambda it: it.key), notes


@pytest.mark.parametrize("forced", [False, True], ids=["hashes", "one-hash"])
def test_voc_scan_matches_the_list_code(tmp_path, monkeypatch, forced):
    if forced:
        _same_hash(monkeypatch)
    root = tmp_path / "voc"
    xml = "<annotation><object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>4</xmax><ymax>4</ymax>" \
          "</bndbox></object></annotation>"
    for rel in ("JPEGImages/a.jpg", "JPEGImages/a.png", "JPEGImages/b.jpg", "JPEGImages/sub/c.jpg",
                "JPEGImages/d.e.jpg", "Annotations/a.xml", "Annotations/b.XML", "Annotations/b.xml",
                "Annotations/sub/c.xml", "Annotations/nobody.xml", "Annotations/d.e.xml"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(xml.encode() if rel.endswith(("xml", "XML")) else b"x")
    (root / voc.IMAGE_SETS).mkdir(parents=True)
    (root / voc.IMAGE_SETS / "train.txt").write_text("a\nsub/c\nmissing\n")
    (root / voc.IMAGE_SETS / "val.txt").write_text("b\na\n")
    items, notes = _reference_voc_scan(root)
    got = voc.scan(root)
    assert list(got.items) == items
    assert [n for n in got.notes if n in notes] == notes  # the same notes, in the same order (and split notes)
    assert [it.label_rel for it in got.items] == ["Annotations/a.xml", "Annotations/b.xml", "Annotations/d.e.xml",
                                                  "Annotations/sub/c.xml"]


# ---------------------------------------------------------------- the run's checks, against the list code
def _reference_usable(items):
    refused, usable = [], []
    for item in items:
        why = unusable_name(item.key)
        if why:
            shown = item.key.encode("utf-8", "backslashreplace").decode("utf-8")
            refused.append((shown, "bad-name", f"{shown!r}: {why}; rename it to include it"))
        else:
            usable.append(item)
    return usable, refused


def _reference_distinct(items, writer, recipe, image_class):
    owner, kept, refused = {}, [], []
    for item in items:
        stem = writer.stem(item, image_class(item))
        if stem is None:
            kept.append(item)
        elif stem in owner:
            refused.append((item.key, "name-collision", f"{item.key}: its outputs would be named {stem}.* like "
                            f"those of {owner[stem].key}, which would be overwritten; rename one of them"))
        else:
            owner[stem] = item
            kept.append(item)
    if recipe.is_conversion:
        return kept, refused
    most = max([recipe.copies.default, *recipe.copies.by_class.values()])
    pattern = re.compile(r"(.+)_aug([1-9][0-9]*)")
    taken = {}
    for stem, item in owner.items():
        m = pattern.fullmatch(stem)
        base = owner.get(m.group(1)) if m else None
        if base is not None and int(m.group(2)) <= most and recipe.augments(base.split):
            taken[item.key] = (f"{item.key}: its outputs would be named {stem}.*, the name of augmented copy "
                               f"{m.group(2)} of {base.key}; rename it (is it an earlier augcli output?)")
    if taken:
        kept = [item for item in kept if item.key not in taken]
        refused += [(key, "name-collision", why) for key, why in taken.items()]
        refused.sort(key=lambda r: r[0])
    return kept, refused


def _reference_splits(items, fractions, seed):
    import hashlib

    names, bounds, acc = list(fractions), [], 0.0
    for name in names:
        acc += fractions[name] / sum(fractions.values())
        bounds.append(acc)
    out = []
    for item in items:
        u = int.from_bytes(hashlib.sha256(f"{seed}\0{item.key}".encode("utf-8", "surrogateescape")).digest()[:8],
                           "little") / 2**64
        out.append(replace(item, split=next((n for n, b in zip(names, bounds) if u < b), names[-1])))
    return out


@pytest.mark.parametrize("forced", [False, True], ids=["hashes", "one-hash"])
@pytest.mark.parametrize("out_fmt", ["yolo", "voc", "images", "mask"])
@pytest.mark.parametrize("seed", range(4))
def test_run_checks_match_the_list_code(tmp_path, monkeypatch, seed, out_fmt, forced):
    if forced:
        _same_hash(monkeypatch)
    rng = random.Random(seed)
    names = ["a", "b", "a_aug1", "a_aug2", "a_aug9", "b_aug1_aug1", "c_aug0", "sub/a", "sub/a_aug1", "d\udcff",
             "e\x01", "x_aug3"]
    keys = sorted({f"images/{rng.choice(['train/', 'val/', ''])}{n}{rng.choice(['.jpg', '.png'])}"
                   for n in names for _ in range(2)} | {"images/train/a.jpg", "images/train/a.png",
                                                        "images/train/a_aug1.jpg"})
    items = [Item(k, "/in", yolo.label_relpath(k), yolo._split_of(k)) for k in keys]
    recipe = load_recipe({"version": 1, "seed": 3, "copies": rng.choice([1, 2, 3]),
                          "pipeline": [{"type": "HorizontalFlip", "p": 0.5}]})
    writer = get_format(out_fmt).Writer(tmp_path / "out", get_format("yolo").scan(tmp_path).schema)
    usable, refused = _reference_usable(items)
    got, got_refused = api._usable_items(ItemTable.from_items(items))
    assert list(got) == usable and got_refused == refused
    if seed % 2:
        usable = _reference_splits(usable, {"train": 0.5, "val": 0.3, "test": 0.2}, 7)
        got = api.assign_splits(got, {"train": 0.5, "val": 0.3, "test": 0.2}, 7)
        assert list(got) == usable
    for rec in (recipe, load_recipe({"version": 1, "seed": 3, "pipeline": []})):
        kept, clashes = _reference_distinct(usable, writer, rec, lambda item: None)
        got_kept, got_clashes = api._distinct_outputs(got, writer, rec, lambda item: None)
        assert list(got_kept) == kept and got_clashes == clashes
        assert clashes  # a.jpg and a.png at least: the names above are chosen to collide
        if rec is recipe and not seed % 2:  # train/a_aug1.jpg is named like a copy of train/a.jpg
            assert any("the name of augmented copy 1 of images/train/a.jpg" in why for _, _, why in clashes)

"""--resume as a nightly update when something besides an input's own bytes changed, and the Python
API's dict recipes.

Each resume test compares the resumed output, file by file, with a fresh run over the changed input
(the README's promise) and reads the written labels with a small parser of its own."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

import augcli
from augcli.errors import RecipeError

W, H = 64, 48
RECIPE = {"seed": 5, "copies": 2, "augment_splits": "all",
          "pipeline": [{"type": "HorizontalFlip", "p": 0.5}, {"type": "Rotate", "degrees": [-20, 20]}]}


def _write_images(root: Path, folder: str, indices, n_classes: int = 2) -> None:
    """YOLO images/<folder>/img<i>.png with labels/<folder>/img<i>.txt: one or two coloured patches,
    each a box of class (i + j) % n_classes."""
    (root / "images" / folder).mkdir(parents=True, exist_ok=True)
    (root / "labels" / folder).mkdir(parents=True, exist_ok=True)
    for i in indices:
        image = np.random.default_rng(i).integers(60, 120, (H, W, 3), dtype=np.uint8)
        lines = []
        for j in range(1 + i % 2):
            x1, y1 = 4 + (7 * i + 20 * j) % 30, 4 + (5 * i + 9 * j) % 20
            x2, y2 = x1 + 16, y1 + 12
            image[y1:y2, x1:x2] = (40 * j, 255, 80 * i % 256)
            lines.append(f"{(i + j) % n_classes} {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} "
                         f"{(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f}\n")
        assert cv2.imwrite(str(root / "images" / folder / f"img{i}.png"), image)
        (root / "labels" / folder / f"img{i}.txt").write_text("".join(lines))


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "augcli-manifest.jsonl").read_text().splitlines()]


def _run(recipe, src: Path, out: Path, **kw) -> augcli.api.RunReport:
    return augcli.run(recipe, src, out, workers=1, log=lambda line: None, **kw)


def test_resume_after_class_names_change_rewrites_every_output_that_holds_a_name(tmp_path):
    """data.yaml's names edited between two runs: the images and label files are unchanged, but VOC
    annotations and the manifest hold the names. --resume kept the old outputs (cat / dog in every
    XML and manifest record) and only the dataset-level class list was new."""
    src, out, fresh = tmp_path / "in", tmp_path / "out", tmp_path / "fresh"
    _write_images(src, "", range(3))
    (src / "data.yaml").write_text("names: [cat, dog]\n")
    assert _run(RECIPE, src, out, output_format="voc").exit_code == 0
    (src / "data.yaml").write_text("names: [lion, wolf]\n")
    report = _run(RECIPE, src, out, output_format="voc", resume=True)
    assert report.exit_code == 0
    assert _run(RECIPE, src, fresh, output_format="voc").exit_code == 0
    got, want = _tree(out), _tree(fresh)
    assert sorted(got) == sorted(want)
    assert [k for k in got if got[k] != want[k]] == []
    names = {o.findtext("name") for xml in (out / "Annotations").glob("*.xml")
             for o in ET.parse(xml).getroot().iter("object")}
    assert names == {"lion", "wolf"}
    written = {n for rec in _manifest(out) for n in rec["classes"]}
    assert written == {"lion", "wolf"}
    assert set(report.classes_out) == {"lion", "wolf"}


def test_resume_with_class_names_changed_and_a_limit_keeps_no_stale_record(tmp_path):
    """A --limit resume after a rename makes the inputs it reaches; the others must not stay in the
    manifest with their old names as if up to date, or the next full --resume keeps them."""
    src, out, fresh = tmp_path / "in", tmp_path / "out", tmp_path / "fresh"
    _write_images(src, "", range(4))
    (src / "data.yaml").write_text("names: [cat, dog]\n")
    assert _run(RECIPE, src, out, output_format="voc").exit_code == 0
    (src / "data.yaml").write_text("names: [lion, wolf]\n")
    assert _run(RECIPE, src, out, output_format="voc", resume=True, limit=2).exit_code == 0
    assert _run(RECIPE, src, out, output_format="voc", resume=True).exit_code == 0
    assert _run(RECIPE, src, fresh, output_format="voc").exit_code == 0
    got, want = _tree(out), _tree(fresh)
    assert [k for k in want if got.get(k) != want[k]] == []


def test_resume_after_an_input_moves_to_another_split_remakes_it(tmp_path):
    """data.yaml's split folders swapped: every image keeps its bytes and labels but changes split,
    which decides its output folder. --resume kept them in their old split."""
    src, out, fresh = tmp_path / "in", tmp_path / "out", tmp_path / "fresh"
    _write_images(src, "a", range(2))
    _write_images(src, "b", range(2, 4))
    (src / "data.yaml").write_text("train: images/a\nval: images/b\nnames: [cat, dog]\n")
    assert _run(RECIPE, src, out).exit_code == 0
    (src / "data.yaml").write_text("train: images/b\nval: images/a\nnames: [cat, dog]\n")
    report = _run(RECIPE, src, out, resume=True)
    assert report.exit_code == 0 and report.reused == 0
    assert _run(RECIPE, src, fresh).exit_code == 0
    got, want = _tree(out), _tree(fresh)
    assert [k for k in want if got.get(k) != want[k]] == []  # the old split's files are left in place
    want_split = {"a": "val", "b": "train"}
    for rec in _manifest(out):
        folder = rec["source"].split("/")[1]
        assert rec["split"] == want_split[folder] and rec["output"].startswith(f"images/{want_split[folder]}/")
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["train"] == "images/train" and data["val"] == "images/val"


def test_resume_remakes_mixed_copies_whose_donor_split_changed(tmp_path):
    """MixUp draws donors from the image's own split. Moving folder c from train to val changes the
    donors of the images left in train (folder a), though their own bytes, labels and split are the
    same: --resume kept their old copies, mixed with images of c."""
    recipe = {"seed": 2, "copies": 2, "augment_splits": "all", "pipeline": [{"type": "MixUp"}]}
    src, out, fresh = tmp_path / "in", tmp_path / "out", tmp_path / "fresh"
    for folder, indices in (("a", range(2)), ("b", range(2, 4)), ("c", range(4, 6))):
        _write_images(src, folder, indices)
    (src / "data.yaml").write_text("train: [images/a, images/c]\nval: images/b\nnames: [cat, dog]\n")
    assert _run(recipe, src, out).exit_code == 0
    (src / "data.yaml").write_text("train: images/a\nval: [images/b, images/c]\nnames: [cat, dog]\n")
    assert _run(recipe, src, out, resume=True).exit_code == 0
    assert _run(recipe, src, fresh).exit_code == 0
    got, want = _tree(out), _tree(fresh)
    assert [k for k in want if got.get(k) != want[k]] == []


@pytest.mark.parametrize("recipe", [
    {1: 2, "pipeline": []},
    {"pipeline": [{"type": "Rotate", 5: 3}]},
    {"labels": {0.5: 1}, "pipeline": []},
])
def test_a_dict_recipe_with_a_key_that_is_not_a_string_is_a_recipe_error_as_in_yaml(tmp_path, recipe):
    """YAML turns such keys into strings and reports them as unknown; a dict raised a bare TypeError."""
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError) as from_yaml:
        augcli.load_recipe(path)
    with pytest.raises(RecipeError) as from_dict:
        augcli.load_recipe(recipe)
    shown = lambda exc: [(i.path, i.message) for i in exc.value.issues]  # noqa: E731
    assert shown(from_dict) == shown(from_yaml)


def test_resume_after_a_split_is_emptied_leaves_no_coco_file_for_it(tmp_path):
    """Every val image deleted between two runs: the resumed COCO output must not keep an
    instances_val.json listing the images that are gone (a fresh run writes none)."""
    src, out, fresh = tmp_path / "in", tmp_path / "out", tmp_path / "fresh"
    _write_images(src, "a", range(2))
    _write_images(src, "b", range(2, 4))
    (src / "data.yaml").write_text("train: images/a\nval: images/b\nnames: [cat, dog]\n")
    assert _run(RECIPE, src, out, output_format="coco").exit_code == 0
    assert (out / "annotations" / "instances_val.json").is_file()
    for folder in ("images", "labels"):
        for p in (src / folder / "b").iterdir():
            p.unlink()
    (src / "data.yaml").write_text("train: images/a\nnames: [cat, dog]\n")
    assert _run(RECIPE, src, out, output_format="coco", resume=True).exit_code == 0
    assert _run(RECIPE, src, fresh, output_format="coco").exit_code == 0
    assert sorted(p.name for p in (out / "annotations").iterdir()) == sorted(p.name for p in (fresh / "annotations").iterdir())
    listed = {img["file_name"] for f in (out / "annotations").glob("*.json") for img in json.loads(f.read_text())["images"]}
    assert listed and not any("/b/" in name or name.startswith("b/") for name in listed)

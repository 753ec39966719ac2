"""`run --summary-json` and `--fail-on-drop-rate`: a machine-readable verdict for CI."""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from augcli.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, recipe: dict, *extra: str):
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    return CliRunner().invoke(main, ["run", str(tmp_path / "r.yaml"), "-i", str(ROOT / "sample_data" / "yolo"),
                                     "-o", str(tmp_path / "out"), "-w", "1", "-q",
                                     "--summary-json", str(tmp_path / "s.json"), *extra])


def test_summary_counts_match_the_manifest(tmp_path):
    res = _run(tmp_path, {"copies": 2, "pipeline": [{"type": "Affine", "translate": [-0.4, 0.4]}]})
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "s.json").read_text())
    recs = [json.loads(line) for line in (tmp_path / "out" / "augcli-manifest.jsonl").read_text().splitlines()]
    assert summary["outputs"] == len(recs) and summary["inputs"] == 6 and summary["exit_code"] == 0
    assert summary["objects"]["out"] == sum(r["objects"]["out"] for r in recs)
    assert summary["objects"]["in"] == sum(r["objects"]["in"] for r in recs)
    assert summary["objects"]["dropped"] == sum(c["dropped"] for c in summary["classes"].values())
    assert summary["objects"]["dropped"] > 0, "a 40% shift pushes some objects out of view"
    assert summary["classes"]["coin"]["in"] >= summary["classes"]["coin"]["out"]
    assert abs(summary["objects"]["drop_rate"] - summary["objects"]["dropped"] / summary["objects"]["in"]) < 1e-6
    assert summary["recipe_sha256"] and summary["augcli_version"] and summary["seconds"] >= 0


def test_fail_on_drop_rate(tmp_path):
    recipe = {"copies": 2, "pipeline": [{"type": "Affine", "translate": [-0.4, 0.4]}]}
    res = _run(tmp_path, recipe, "--fail-on-drop-rate", "0.001")
    assert res.exit_code == 1 and "too aggressive" in res.output
    assert json.loads((tmp_path / "s.json").read_text())["exit_code"] == 1
    res = _run(tmp_path, recipe, "--fail-on-drop-rate", "0.99", "--overwrite")
    assert res.exit_code == 0, res.output


def test_objects_in_counts_each_input_once_without_originals(tmp_path):
    """The closing line's "objects in" is the inputs' objects, also when no original is written."""
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(
        {"copies": 3, "keep_original": False, "augment_splits": "all", "pipeline": [{"type": "HorizontalFlip"}]}))
    res = CliRunner().invoke(main, ["run", str(tmp_path / "r.yaml"), "-i", str(ROOT / "sample_data" / "yolo"),
                                    "-o", str(tmp_path / "out"), "-w", "1"])
    assert res.exit_code == 0, res.output
    labels = (ROOT / "sample_data" / "yolo" / "labels").rglob("*.txt")
    objects = sum(1 for f in labels for line in f.read_text().splitlines() if line.strip())
    assert f"objects in {objects}, written {3 * objects}" in res.output

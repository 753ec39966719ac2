"""Command-line promises found broken while using augcli from the shell (exit codes, messages,
--summary-json, --dry-run, empty inputs, preview copies). Small generated data only."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from augcli.cli import main
from augcli.recipe import load_recipe


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- --summary-json
def test_summary_json_records_the_seed_and_recipe_the_run_used(cli_recipe, yolo_dataset, tmp_path):
    """--seed and -n override the recipe: the summary must name what the run did (as augcli-run.json
    does), not the recipe file's own seed and hash."""
    out, summary = tmp_path / "out", tmp_path / "s.json"
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q",
                     "--seed", "123", "-n", "1", "--summary-json", summary)
    assert result.exit_code == 0, result.stderr
    got = json.loads(summary.read_text())
    info = json.loads((out / "augcli-run.json").read_text())
    assert got["seed"] == 123
    assert got["recipe_sha256"] == info["recipe_sha256"]
    assert got["recipe_sha256"] == load_recipe(cli_recipe).with_overrides(seed=123, copies=1).fingerprint()


def test_summary_json_in_a_missing_folder_is_refused_before_any_work(cli_recipe, yolo_dataset, tmp_path):
    out = tmp_path / "out"
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q",
                     "--summary-json", tmp_path / "no" / "such" / "s.json")
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert "--summary-json" in result.stderr and "no such folder" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert not out.exists(), "nothing written when a usage error is found"


# ---------------------------------------------------------------- --dry-run
def test_dry_run_refuses_a_non_empty_output_like_the_run_would(cli_recipe, yolo_dataset, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    real = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q")
    dry = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q", "--dry-run")
    assert real.exit_code == 2
    assert dry.exit_code == 2, dry.stderr
    assert "is not empty" in dry.stderr
    assert files_under(out) == {"keep.txt": b"mine"}


def test_dry_run_refuses_an_output_that_is_a_file(cli_recipe, yolo_dataset, tmp_path):
    out = tmp_path / "out"
    out.write_text("a file")
    dry = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-q", "--dry-run")
    assert dry.exit_code == 2, dry.stderr
    assert "is not a folder" in dry.stderr


def test_dry_run_refuses_a_resume_with_another_seed(cli_recipe, yolo_dataset, tmp_path, tree_bytes):
    out = tmp_path / "out"
    assert run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q").exit_code == 0
    before = tree_bytes(out)
    dry = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-q", "--resume", "--seed", "99", "--dry-run")
    assert dry.exit_code == 2, dry.stderr
    assert "--resume: the seed differ" in dry.stderr
    ok = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-q", "--resume", "--dry-run")
    assert ok.exit_code == 0, ok.stderr
    assert tree_bytes(out) == before, "a dry run changes nothing in OUTPUT"


def test_dry_run_with_overwrite_deletes_nothing(cli_recipe, yolo_dataset, tmp_path, tree_bytes):
    out = tmp_path / "out"
    assert run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q").exit_code == 0
    before = tree_bytes(out)
    dry = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-q", "--overwrite", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert tree_bytes(out) == before


def test_resume_and_overwrite_together_is_a_usage_error(cli_recipe, yolo_dataset, tmp_path, tree_bytes):
    out = tmp_path / "out"
    assert run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q").exit_code == 0
    before = tree_bytes(out)
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-q", "--resume", "--overwrite")
    assert result.exit_code == 2, result.stderr
    assert "--resume" in result.stderr and "--overwrite" in result.stderr
    assert tree_bytes(out) == before


# ---------------------------------------------------------------- an input with no images
def test_run_on_a_folder_without_images_of_the_given_format_is_exit_2(cli_recipe, yolo_dataset, tmp_path):
    """A YOLO folder read as VOC (a wrong --input-format) has no images: exit 0 with an empty
    output would pass CI; preview already refuses this with the same words."""
    out = tmp_path / "out"
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-q", "--input-format", "voc")
    assert result.exit_code == 2, result.stderr
    assert "no images found" in result.stderr and "voc" in result.stderr
    assert not out.exists()


def test_check_of_a_folder_without_images_of_the_given_format_is_an_error(yolo_dataset):
    result = run_cli("check", yolo_dataset, "--input-format", "voc")
    assert result.exit_code == 1, result.output
    assert "no images found" in result.output


# ---------------------------------------------------------------- preview: copies per class
def test_preview_shows_as_many_copies_as_run_writes_for_a_class_folder(write_recipe, tmp_path):
    """copies.by_class counts an image's class folder in run; preview must show the same copies."""
    src = tmp_path / "cls"
    for cls in ("cat", "dog"):
        (src / cls).mkdir(parents=True)
        pixels = np.random.default_rng(len(cls)).integers(0, 256, (32, 40, 3), dtype=np.uint8)
        assert cv2.imwrite(str(src / cls / f"{cls}0.png"), pixels)
    recipe = write_recipe("""
        copies: {default: 1, by_class: {cat: 3}}
        pipeline: [{type: HorizontalFlip}]
    """)
    from augcli.preview import make_preview

    rows = {r.key: [t.copy for t in r.tiles] for r in make_preview(recipe, src, n=2, input_format="classify").rows}
    assert rows == {"cat/cat0.png": [0, 1, 2, 3], "dog/dog0.png": [0, 1]}
    out = tmp_path / "out"
    assert run_cli("run", recipe, "-i", src, "-o", out, "-w", "1", "-q").exit_code == 0
    assert sorted(p.name for p in (out / "cat").iterdir()) == ["cat0.png", "cat0_aug1.png", "cat0_aug2.png",
                                                               "cat0_aug3.png"]


# ---------------------------------------------------------------- --resume with other class / split options
def test_resume_with_another_class_map_is_refused(cli_recipe, yolo_dataset, tmp_path, tree_bytes):
    """Outputs kept by --resume were labelled with the first run's --class-map: resuming without it
    used to keep them (class 0 = 'animal') beside a data.yaml naming 0 'cat' and 1 'dog'."""
    out = tmp_path / "out"
    first = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q", "--class-map", "cat=animal,dog=animal")
    assert first.exit_code == 0, first.stderr
    before = tree_bytes(out)
    again = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q", "--resume")
    assert again.exit_code == 2, again.stderr
    assert "--resume: the --class-map differ(s)" in again.stderr and "--overwrite" in again.stderr
    assert tree_bytes(out) == before
    same = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q", "--resume",
                   "--class-map", "dog=animal,cat=animal")
    assert same.exit_code == 0, same.stderr
    assert tree_bytes(out) == before


def test_resume_with_other_splits_or_class_filters_is_refused(cli_recipe, yolo_dataset, tmp_path):
    out = tmp_path / "out"
    assert run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q",
                   "--splits", "train=0.6,val=0.4").exit_code == 0
    for extra, flag in ((["--splits", "val=0.4,train=0.6"], "--splits"),
                        (["--splits", "train=0.6,val=0.4", "--drop-class", "dog"], "--drop-class"),
                        (["--splits", "train=0.6,val=0.4", "--keep-class", "cat"], "--keep-class"),
                        (["--splits", "train=0.6,val=0.4", "--max-pixels", "1000"], "--max-pixels")):
        result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-q", "--resume", *extra)
        assert result.exit_code == 2, (extra, result.stderr)
        assert f"the {flag} differ" in result.stderr


def test_resume_of_a_run_recorded_without_options_still_works(cli_recipe, yolo_dataset, tmp_path, tree_bytes):
    """augcli-run.json written before the options were recorded: taken as the defaults."""
    out = tmp_path / "out"
    assert run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q").exit_code == 0
    info = json.loads((out / "augcli-run.json").read_text())
    del info["options"]
    (out / "augcli-run.json").write_text(json.dumps(info, indent=2) + "\n")
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q", "--resume")
    assert result.exit_code == 0, result.stderr
    assert "inputs unchanged since the previous run were kept" in result.stderr


def test_copies_by_class_naming_no_class_of_the_dataset_is_warned(write_recipe, yolo_dataset, tmp_path):
    """by_class: {Cat: 3} on a dataset whose class is 'cat' silently made 2 copies of every image."""
    recipe = write_recipe("""
        copies: {default: 1, by_class: {Cat: 3, dog: 2}}
        pipeline: [{type: HorizontalFlip}]
    """)
    result = run_cli("run", recipe, "-i", yolo_dataset, "-o", tmp_path / "out", "-w", "1", "-q")
    assert result.exit_code == 0, result.stderr
    assert "warning: copies.by_class names 'Cat', which this dataset has no class of (its classes: cat, dog)" \
        in result.stderr
    assert "'dog'" not in result.stderr


def test_on_error_fail_stops_before_any_work_for_a_bad_input_found_while_scanning(cli_recipe, yolo_dataset, tmp_path):
    """A label file without its image is known before the first image is made: --on-error fail
    used to process the whole dataset anyway (and finish it as complete)."""
    (yolo_dataset / "labels" / "orphan.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    out = tmp_path / "out"
    result = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q", "--on-error", "fail")
    assert result.exit_code == 1, result.stderr
    assert "skipped: labels/orphan.txt: label file with no image" in result.stderr
    assert "stopped at the first bad input (--on-error fail)" in result.stderr
    records = [json.loads(line) for line in (out / "augcli-manifest.jsonl").read_text().splitlines()]
    assert [r.get("skipped") for r in records] == ["label-without-image"]
    assert not (out / "images").exists() and not (out / "data.yaml").exists()
    (yolo_dataset / "labels" / "orphan.txt").unlink()
    again = run_cli("run", cli_recipe, "-i", yolo_dataset, "-o", out, "-w", "1", "-q", "--resume", "--on-error", "fail")
    assert again.exit_code == 0, again.stderr
    assert (out / "data.yaml").is_file()


@pytest.mark.parametrize("which", ["-i", "-o"])
def test_an_empty_input_or_output_name_is_refused(tmp_path, which):
    """`-i ""` (an unset shell variable) must not quietly mean the current folder."""
    paths = {"-i": str(tmp_path / "in"), "-o": str(tmp_path / "out")}
    (tmp_path / "in").mkdir()
    paths[which] = ""
    recipe = str(Path(__file__).resolve().parents[1] / "configs" / "basic.yaml")
    result = CliRunner().invoke(main, ["run", recipe, "-i", paths["-i"], "-o", paths["-o"]])
    assert result.exit_code == 2
    assert "empty name" in result.output
    assert not (tmp_path / "out").exists()


def _registered():
    from augcli.transforms.registry import registry

    return sorted(registry().items())


@pytest.mark.parametrize("name", [n for n, c in _registered() if c.family != "meta"])
def test_transforms_name_shows_the_whole_description_and_a_line_a_recipe_takes(name, tmp_path):
    """`augcli transforms NAME` shows the transform in full (docs/transforms.md's text, not its
    first line cut mid-sentence), and its "In a recipe" line, pasted under `pipeline:`, validates
    whenever the transform has no required parameter (before: `alpha: none`, an unquoted
    `format: %Y-...` did not)."""
    import yaml

    from augcli.recipe import load_recipe
    from augcli.transforms.base import REQUIRED
    from augcli.transforms.registry import registry

    cls = registry()[name]
    result = CliRunner().invoke(main, ["transforms", name])
    assert result.exit_code == 0
    head = result.output.split("\nParameters:")[0]
    assert " ".join(cls.__doc__.split()) in " ".join(head.split())
    line = result.output.split("In a recipe:\n")[1].strip()
    if any(spec.default is REQUIRED for spec in cls.params.values()):
        return
    (tmp_path / "r.yaml").write_text("version: 1\npipeline:\n  " + line + "\n")
    recipe = load_recipe(tmp_path / "r.yaml")
    (step,) = yaml.safe_load((tmp_path / "r.yaml").read_text())["pipeline"]
    assert step["type"] == name and recipe is not None


def test_a_ctrl_c_while_the_run_starts_up_is_exit_130_not_click_aborted(tmp_path, monkeypatch):
    """README: an interrupted run exits 130. A Ctrl-C in the first fraction of a second (the fork
    server starting, augcli's modules importing) was click's "Aborted!", exit 1: to CI, "some inputs
    were skipped"."""
    import augcli.executor

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(augcli.executor, "start_worker_server", interrupted)
    monkeypatch.setattr(augcli.executor, "starts_a_pool", lambda *a, **k: True)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("version: 1\npipeline: [{type: HorizontalFlip}]\n")
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(tmp_path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 130, result.output
    assert "Aborted" not in result.output

"""Recipe loading and validation: every problem at once, each with file:line key.path, and hostile YAML refused."""
from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from augcli.cli import main
from augcli.errors import RecipeError
from augcli.recipe import MAX_COPIES, OutputPolicy, Recipe, load_recipe
from augcli.sample import LabelPolicy
from augcli.transforms import registry

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def issues_of(source, **kwargs) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe(source, **kwargs)
    assert info.value.issues, "a RecipeError must list at least one issue"
    return [str(i) for i in info.value.issues]


def line_of(text: str, fragment: str) -> int:
    """1-based line of the only line containing `fragment` (independent of augcli's YAML walk)."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if fragment in line]
    assert len(hits) == 1, (fragment, hits)
    return hits[0]


# ---------------------------------------------------------------- every mistake, with file:line key.path
BAD = """\
version: 1
seed: 42
copeis: 3
labels:
  min_visibility: 1.5
pipeline:
  - {type: HorizontalFlip, p: 0.5}
  - {type: Rotate, degrees: [15, -15]}
  - {type: Rotat}
  - type: OneOf
    transforms:
      - {type: HorizontalFlip}
      - {type: GaussianBlur, sigam: [1, 2]}
output:
  jpeg_quality: 0
"""


def test_every_mistake_reported_at_once_with_file_line_and_path(write_recipe):
    path = write_recipe(BAD, "bad.yaml")
    got = issues_of(path)
    expected = [
        (line_of(BAD, "copeis"), "copeis: unknown key (did you mean copies?)"),
        (line_of(BAD, "min_visibility"), "labels.min_visibility: expected a fraction: a number in [0, 1], got 1.5"),
        (line_of(BAD, "[15, -15]"), "pipeline[1].degrees: expected [lo, hi] with lo <= hi, got [15, -15]"),
        (line_of(BAD, "Rotat}"), "pipeline[2].type: unknown transform 'Rotat'; did you mean Rotate"),
        (line_of(BAD, "sigam"), "pipeline[3].transforms[1].sigam: unknown parameter for GaussianBlur (did you mean sigma?)"),
        (line_of(BAD, "jpeg_quality"), "output.jpeg_quality: expected a JPEG quality: a whole number in [1, 100], got 0"),
    ]
    assert len(got) == len(expected), got
    for (line, fragment), issue in zip(sorted(expected), got):
        assert issue.startswith(f"bad.yaml:{line} {fragment}"), (issue, line, fragment)


def test_issue_example_from_the_docs_has_exact_format(write_recipe):
    text = "version: 1\nseed: 1\ncopies: 2\nkeep_original: true\npipeline:\n  - {type: HorizontalFlip}\n  - {type: Rotate, degrees: [15, -15]}\n"
    assert line_of(text, "[15, -15]") == 7
    (issue,) = issues_of(write_recipe(text, "bad.yaml"))
    assert issue == "bad.yaml:7 pipeline[1].degrees: expected [lo, hi] with lo <= hi, got [15, -15]"


def test_issues_are_exposed_as_structured_records(write_recipe):
    path = write_recipe("pipeline:\n  - {type: Rotate, degrees: [15, -15]}\n", "r.yaml")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    (issue,) = info.value.issues
    assert (issue.file, issue.line, issue.path) == ("r.yaml", 2, "pipeline[0].degrees")
    assert "lo <= hi" in issue.message


def test_duplicate_key_does_not_hide_other_mistakes(write_recipe):
    # "every problem is reported at once": a repeated key is a problem, not a reason to stop looking
    text = "seed: 1\nseed: 2\ncopies: -1\npipeline: [{type: Rotat}]\n"
    got = issues_of(write_recipe(text, "dup.yaml"))
    assert any(i.startswith("dup.yaml:2 seed: key given twice") for i in got), got
    assert any(i.startswith("dup.yaml:3 copies:") for i in got), got
    assert any(i.startswith("dup.yaml:4 pipeline[0].type: unknown transform 'Rotat'") for i in got), got


# ---------------------------------------------------------------- unknown names and keys
def test_misspelt_pipeline_is_unknown_and_missing(write_recipe):
    got = issues_of(write_recipe("seed: 1\npipline: []\n", "t.yaml"))
    assert len(got) == 2
    assert any(i.startswith("t.yaml:2 pipline: unknown key (did you mean pipeline?)") for i in got), got
    assert any(" pipeline: missing: list the transforms to apply" in i for i in got), got


def test_unknown_transform_suggests_nearest_name(write_recipe):
    (issue,) = issues_of(write_recipe("pipeline:\n  - type: HorizantalFlip\n", "t.yaml"))
    assert issue.startswith("t.yaml:2 pipeline[0].type: unknown transform 'HorizantalFlip'; did you mean HorizontalFlip")


def test_unknown_transform_case_insensitive_suggestion(write_recipe):
    (issue,) = issues_of(write_recipe("pipeline: [{type: rotate90}]\n", "t.yaml"))
    assert "did you mean Rotate90?" in issue


def test_unknown_transform_far_from_everything_has_no_suggestion(write_recipe):
    (issue,) = issues_of(write_recipe("pipeline: [{type: Qwxyz}]\n", "t.yaml"))
    assert "unknown transform 'Qwxyz'" in issue
    assert "did you mean" not in issue


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("pipeline: []\nlabels: {min_visiblity: 0.3}\n", "t.yaml:2 labels.min_visiblity: unknown key (did you mean min_visibility?)"),
        ("pipeline: []\noutput:\n  jpeg_qualty: 90\n", "t.yaml:3 output.jpeg_qualty: unknown key (did you mean jpeg_quality?)"),
        ("pipeline:\n  - {type: Rotate, degree: 5}\n", "t.yaml:2 pipeline[0].degree: unknown parameter for Rotate (did you mean degrees"),
        ("pipeline: []\ncopies: {defualt: 2}\n", "t.yaml:2 copies.defualt: unknown key (did you mean default?)"),
    ],
)
def test_unknown_keys_are_errors_with_suggestion(write_recipe, text, fragment):
    (issue,) = issues_of(write_recipe(text, "t.yaml"))
    assert issue.startswith(fragment), issue


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("pipeline: []\nzzz: 1\n", "t.yaml:2 zzz: unknown key; expected one of: version, seed, copies"),
        ("pipeline: []\nlabels: {zzz: 1}\n", "t.yaml:2 labels.zzz: unknown key; expected one of: min_visibility"),
        ("pipeline: [{type: Rotate, zzz: 1}]\n", "t.yaml:1 pipeline[0].zzz: unknown parameter for Rotate; known: degrees, fill, p"),
    ],
)
def test_unknown_keys_without_close_match_list_the_known_ones(write_recipe, text, fragment):
    (issue,) = issues_of(write_recipe(text, "t.yaml"))
    assert issue.startswith(fragment), issue
    assert "did you mean" not in issue


# ---------------------------------------------------------------- hostile or broken YAML
def test_python_object_tag_is_refused_and_nothing_runs(write_recipe, tmp_path):
    marker = tmp_path / "pwned"
    text = f'pipeline:\n  - !!python/object/apply:os.system ["touch {marker}"]\n'
    (issue,) = issues_of(write_recipe(text, "tag.yaml"))
    assert issue.startswith("tag.yaml:2 pipeline[0]: YAML tag tag:yaml.org,2002:python/object/apply:os.system is not allowed")
    assert not marker.exists()


@pytest.mark.parametrize("value", ["!!binary aGVsbG8=", "!!set {a, b}", "2019-01-01", "!!python/name:os.system"])
def test_non_plain_values_are_refused(write_recipe, value):
    (issue,) = issues_of(write_recipe(f"seed: {value}\npipeline: []\n", "t.yaml"))
    assert issue.startswith("t.yaml:1 seed: YAML tag ")
    assert "is not allowed in a recipe (plain values only)" in issue


def test_alias_bomb_fails_fast(write_recipe):
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    prev = "a"
    for name in "bcdefghij":  # 9 ** 10 leaves if expanded
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
        prev = name
    lines += ["pipeline: []", f"seed: *{prev}"]
    path = write_recipe("\n".join(lines) + "\n", "bomb.yaml")
    started = time.monotonic()
    (issue,) = issues_of(path)
    assert time.monotonic() - started < 5
    assert "recipe too large" in issue and "alias" in issue
    assert issue.startswith("bomb.yaml:")


def _nested_one_of(depth: int) -> str:
    return "{type: HorizontalFlip}" if depth == 0 else "{type: OneOf, transforms: [" + _nested_one_of(depth - 1) + "]}"


def test_containers_nested_40_deep_are_refused(write_recipe):
    got = issues_of(write_recipe("pipeline: [" + _nested_one_of(40) + "]\n", "deep.yaml"))
    assert len(got) == 1
    assert got[0].startswith("deep.yaml:1")
    assert "nested deeper than" in got[0]


def test_container_nesting_limit_is_reported_with_its_path(write_recipe):
    from augcli.recipe import MAX_NESTING

    load_recipe(write_recipe("pipeline: [" + _nested_one_of(MAX_NESTING) + "]\n", "ok.yaml"))
    (issue,) = issues_of(write_recipe("pipeline: [" + _nested_one_of(MAX_NESTING + 1) + "]\n", "deep.yaml"))
    assert issue.startswith("deep.yaml:1 pipeline[0]" + ".transforms[0]" * MAX_NESTING + ": containers nested deeper than")


@pytest.mark.parametrize("depth", [1000])
def test_very_deep_yaml_nesting_is_a_recipe_error(write_recipe, depth):
    # a few thousand brackets must not reach Python's recursion limit inside the YAML parser
    path = write_recipe("pipeline: " + "[" * depth + "]" * depth + "\n", "deep.yaml")
    (issue, *_) = issues_of(path)
    assert issue.startswith("deep.yaml")
    assert "deep" in issue


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("pipeline: [{type: Rotate, degrees: [.nan, 5]}]\n", "pipeline[0].degrees: expected a finite number, got nan"),
        ("pipeline: [{type: Rotate, degrees: [-.inf, .inf]}]\n", "pipeline[0].degrees: expected a finite number, got -inf"),
        ("pipeline: [{type: Rotate, p: .nan}]\n", "pipeline[0].p: expected a finite number, got nan"),
        ("pipeline: [{type: GaussianBlur, sigma: .inf}]\n", "pipeline[0].sigma: expected a finite number, got inf"),
        ("labels: {min_area: .inf}\npipeline: []\n", "labels.min_area: expected an area in pixels"),
        ("labels: {min_visibility: .nan}\npipeline: []\n", "labels.min_visibility: expected a fraction"),
    ],
)
def test_nan_and_inf_parameters_are_refused(write_recipe, text, fragment):
    (issue,) = issues_of(write_recipe(text, "t.yaml"))
    assert fragment in issue, issue
    assert issue.startswith("t.yaml:")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("pipeline: [{type: Rotate, p: 1" + "0" * 400 + "}]\n", "pipeline[0].p:"),
        ("labels: {min_area: 1" + "0" * 400 + "}\npipeline: []\n", "labels.min_area:"),
        ("pipeline: [{type: Rotate90, k: 1" + "0" * 400 + "}]\n", "pipeline[0].k:"),
    ],
)
def test_huge_integers_are_refused_not_crashing(write_recipe, text, fragment):
    (issue,) = issues_of(write_recipe(text, "t.yaml"))
    assert fragment in issue


def test_reserved_word_as_transform_parameter_is_a_recipe_error(write_recipe):
    # `self` is just an unknown parameter name to the user
    (issue,) = issues_of(write_recipe("pipeline: [{type: Rotate, self: 1}]\n", "t.yaml"))
    assert issue.startswith("t.yaml:1 pipeline[0].self: unknown parameter for Rotate")


def test_huge_copies_refused(write_recipe):
    (issue,) = issues_of(write_recipe("copies: 1000000000\npipeline: []\n", "t.yaml"))
    assert issue == f"t.yaml:1 copies: expected copies per image: a whole number in [0, {MAX_COPIES}], got 1000000000"


@pytest.mark.parametrize("value", ["-1", "1.5", "true", "'3'"])
def test_copies_must_be_a_whole_number(write_recipe, value):
    (issue,) = issues_of(write_recipe(f"copies: {value}\npipeline: []\n", "t.yaml"))
    assert issue.startswith("t.yaml:1 copies: expected copies per image: a whole number in [0, ")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file_is_a_recipe_error(write_recipe, text):
    (issue,) = issues_of(write_recipe(text, "empty.yaml"))
    assert issue.startswith("empty.yaml")
    assert "expected a mapping with at least `pipeline:`" in issue


def test_list_document_is_a_recipe_error(write_recipe):
    (issue,) = issues_of(write_recipe("- {type: Rotate}\n- {type: HorizontalFlip}\n", "list.yaml"))
    assert issue == "list.yaml:1: expected a mapping with at least `pipeline:` (see docs/recipes.md)"


def test_duplicate_key_is_an_error(write_recipe):
    (issue,) = issues_of(write_recipe("pipeline: []\nseed: 1\nseed: 2\n", "dup.yaml"))
    assert issue == "dup.yaml:3 seed: key given twice"


def test_missing_pipeline_is_an_error(write_recipe):
    (issue,) = issues_of(write_recipe("seed: 3\n", "t.yaml"))
    assert "pipeline: missing" in issue


def test_invalid_yaml_syntax_names_the_line(write_recipe):
    (issue,) = issues_of(write_recipe("seed: 1\npipeline: [\n  {type: Rotate\n", "t.yaml"))
    assert issue.startswith("t.yaml:") and "not valid YAML" in issue


def test_missing_recipe_file(tmp_path):
    (issue,) = issues_of(tmp_path / "nope.yaml")
    assert issue.endswith("nope.yaml: recipe file not found")


def test_non_utf8_recipe_file(tmp_path):
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\xff\xfe\x00pipeline: []")
    (issue,) = issues_of(path)
    assert "cannot read recipe" in issue


def test_nul_character_is_a_recipe_error(write_recipe):
    (issue,) = issues_of(write_recipe("pipeline: []\x00\n", "t.yaml"))
    assert issue.startswith("t.yaml") and "not valid YAML" in issue


# ---------------------------------------------------------------- defaults
def test_minimal_recipe_resolves_to_registry_defaults(write_recipe):
    recipe = load_recipe(write_recipe("pipeline: [{type: Rotate}]\n"))
    specs = registry.get("Rotate").params
    d = recipe.to_dict()
    (rotate,) = d["pipeline"]
    assert rotate["type"] == "Rotate"
    assert rotate["p"] == 1.0
    assert set(rotate) == {"type", "p", *specs}
    for key, spec in specs.items():
        assert rotate[key] == spec.to_plain(spec.default), key
    assert tuple(rotate["degrees"]) == tuple(specs["degrees"].default)
    assert d["labels"] == {
        "min_visibility": LabelPolicy().min_visibility,
        "min_area": LabelPolicy().min_area,
        "bbox_rotate": LabelPolicy().bbox_rotate,
    }
    assert d["output"] == {"image_format": OutputPolicy().image_format, "jpeg_quality": OutputPolicy().jpeg_quality}
    assert (d["seed"], d["copies"], d["keep_original"]) == (0, 1, True)


@pytest.mark.parametrize("name", sorted(n for n, c in registry.registry().items() if c.family != "meta"))
def test_every_leaf_transform_fills_its_defaults(name):
    from augcli.transforms.base import REQUIRED

    cls = registry.get(name)
    required = {k: s for k, s in cls.params.items() if s.default is REQUIRED}
    given = {"size": [32, 40]} if "size" in required else {}
    assert set(required) <= set(given), f"test does not know how to fill {set(required) - set(given)}"
    recipe = load_recipe({"pipeline": [{"type": name, **given}]})
    (entry,) = recipe.to_dict()["pipeline"]
    for key, spec in cls.params.items():
        expected = given[key] if key in given else spec.to_plain(spec.default)
        assert entry[key] == (list(expected) if isinstance(expected, tuple) else expected), key


def test_validate_prints_resolved_recipe_that_reloads_identically(write_recipe, tmp_path):
    path = write_recipe("pipeline: [{type: Rotate}]\n", "min.yaml")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"# {path}: valid; resolved with every default:\n")
    assert yaml.safe_load(result.stdout)["pipeline"][0]["degrees"] == list(registry.get("Rotate").params["degrees"].default)
    again = tmp_path / "resolved.yaml"
    again.write_text(result.stdout)
    assert load_recipe(again).to_dict() == load_recipe(path).to_dict()


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_every_shipped_config_validates_and_round_trips(config, tmp_path):
    assert CONFIGS, "configs/ holds no recipes"
    result = CliRunner().invoke(main, ["validate", str(config)])
    assert result.exit_code == 0, result.output
    again = tmp_path / "resolved.yaml"
    again.write_text(result.stdout)
    assert load_recipe(again).to_dict() == load_recipe(config).to_dict()


def test_validate_bad_recipe_exits_2_listing_every_problem(write_recipe):
    path = write_recipe(BAD, "bad.yaml")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 6, lines
    assert all(line.startswith("augcli: recipe error: bad.yaml:") for line in lines)
    assert f"augcli: recipe error: bad.yaml:{line_of(BAD, '[15, -15]')} pipeline[1].degrees: expected [lo, hi] with lo <= hi, got [15, -15]" in lines
    assert "Traceback" not in result.output


def test_validate_missing_file_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "recipe file not found" in result.stderr


# ---------------------------------------------------------------- containers
def test_one_of_weights_count_mismatch(write_recipe):
    text = "pipeline:\n  - type: OneOf\n    weights: [1, 2, 3]\n    transforms: [{type: HorizontalFlip}, {type: VerticalFlip}]\n"
    (issue,) = issues_of(write_recipe(text, "w.yaml"))
    assert issue == "w.yaml:3 pipeline[0].weights: expected 2 weights (one per transform), got 3"


def test_one_of_weights_matching_count_load():
    recipe = load_recipe({"pipeline": [{"type": "OneOf", "weights": [1, 3],
                                        "transforms": [{"type": "HorizontalFlip"}, {"type": "VerticalFlip"}]}]})
    (entry,) = recipe.to_dict()["pipeline"]
    assert entry["weights"] == [1.0, 3.0]
    assert [t["type"] for t in entry["transforms"]] == ["HorizontalFlip", "VerticalFlip"]


@pytest.mark.parametrize("weights, fragment", [("[0, 0]", "positive sum"), ("[-1, 2]", "non-negative"), ("[]", "non-negative numbers")])
def test_one_of_bad_weights(write_recipe, weights, fragment):
    text = f"pipeline:\n  - type: OneOf\n    weights: {weights}\n    transforms: [{{type: HorizontalFlip}}, {{type: VerticalFlip}}]\n"
    (issue,) = issues_of(write_recipe(text, "w.yaml"))
    assert issue.startswith("w.yaml:3 pipeline[0].weights: expected ") and fragment in issue


def test_container_without_transforms(write_recipe):
    (issue,) = issues_of(write_recipe("pipeline: [{type: OneOf}]\n", "c.yaml"))
    assert issue == "c.yaml:1 pipeline[0]: OneOf needs `transforms:`, a list of transforms"


@pytest.mark.parametrize("n, expected", [(2, [2, 2]), ("[0, 3]", [0, 3])])
def test_some_of_n(write_recipe, n, expected):
    text = f"pipeline:\n  - type: SomeOf\n    n: {n}\n    transforms: [{{type: HorizontalFlip}}, {{type: VerticalFlip}}]\n"
    (entry,) = load_recipe(write_recipe(text)).to_dict()["pipeline"]
    assert entry["n"] == expected


def test_some_of_default_n_comes_from_registry():
    recipe = load_recipe({"pipeline": [{"type": "SomeOf", "transforms": [{"type": "HorizontalFlip"}]}]})
    assert recipe.to_dict()["pipeline"][0]["n"] == list(registry.get("SomeOf").params["n"].default)


@pytest.mark.parametrize("n, fragment", [("[3, 1]", "lo <= hi"), ("-1", "within [0, 1000]"), ("1.5", "whole number")])
def test_some_of_bad_n(write_recipe, n, fragment):
    text = f"pipeline:\n  - type: SomeOf\n    n: {n}\n    transforms: [{{type: HorizontalFlip}}]\n"
    (issue,) = issues_of(write_recipe(text, "s.yaml"))
    assert issue.startswith("s.yaml:3 pipeline[0].n: ") and fragment in issue


def test_child_error_inside_container_has_full_path_and_line(write_recipe):
    text = "pipeline:\n  - type: SomeOf\n    transforms:\n      - {type: HorizontalFlip}\n      - {type: Rotate, degrees: 999}\n"
    (issue,) = issues_of(write_recipe(text, "c.yaml"))
    assert issue.startswith("c.yaml:5 pipeline[0].transforms[1].degrees: expected values within [-360, 360]")


# ---------------------------------------------------------------- dict input
def test_dict_input_works():
    recipe = load_recipe({"seed": 5, "copies": 2, "pipeline": [{"type": "HorizontalFlip", "p": 0.5}]})
    assert isinstance(recipe, Recipe)
    assert (recipe.seed, recipe.copies.default, recipe.keep_original) == (5, 2, True)
    assert recipe.to_dict()["pipeline"] == [{"type": "HorizontalFlip", "p": 0.5}]


def test_dict_input_errors_have_path_but_no_line():
    with pytest.raises(RecipeError) as info:
        load_recipe({"pipeline": [{"type": "Rotate", "degrees": [15, -15]}], "sede": 1}, name="inline")
    assert [(i.file, i.line, i.path) for i in info.value.issues] == [
        ("inline", None, "sede"), ("inline", None, "pipeline[0].degrees")]
    first, second = (str(i) for i in info.value.issues)
    assert first.startswith("inline sede: unknown key (did you mean seed?); expected one of: version, seed, ")
    assert second == "inline pipeline[0].degrees: expected [lo, hi] with lo <= hi, got [15, -15]"


def test_copies_by_class():
    recipe = load_recipe({"copies": {"default": 1, "by_class": {"dog": 4}}, "pipeline": []})
    assert recipe.copies.for_classes({"cat"}) == 1
    assert recipe.copies.for_classes({"cat", "dog"}) == 4
    assert recipe.to_dict()["copies"] == {"default": 1, "by_class": {"dog": 4}}


# ---------------------------------------------------------------- never any other exception
FUZZ = dict(deadline=None, database=None, phases=[Phase.explicit, Phase.generate, Phase.shrink])
def _load_or_recipe_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.yaml"
        path.write_bytes(data)
        try:
            result = load_recipe(path)
        except RecipeError as exc:
            assert exc.issues
            assert all("fuzz.yaml" in str(i) for i in exc.issues)
        else:
            assert isinstance(result, Recipe)


@settings(max_examples=100, **FUZZ)
@given(st.text())
def test_arbitrary_text_gives_recipe_or_recipe_error(text):
    _load_or_recipe_error(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=100, **FUZZ)
@given(st.binary())
def test_arbitrary_bytes_give_recipe_or_recipe_error(data):
    _load_or_recipe_error(data)


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["Rotate", "OneOf", "SomeOf", "HorizontalFlip", "Resize", "p", "degrees", "transforms", "type"]),
    st.text(max_size=8),
)
_keys = st.sampled_from(["type", "p", "degrees", "transforms", "weights", "n", "size", "seed", "copies", "pipeline",
                         "labels", "output", "keep_original", "min_area", "fill", "by_class", "default"])
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
                       max_leaves=20)


@settings(max_examples=60, **FUZZ)
@given(st.dictionaries(_keys, _values, max_size=6))
def test_arbitrary_recipe_shaped_yaml_gives_recipe_or_recipe_error(data):
    _load_or_recipe_error(yaml.safe_dump(data, allow_unicode=True).encode())


@settings(max_examples=60, **FUZZ)
@given(st.dictionaries(_keys, _values, max_size=6))
def test_arbitrary_dict_gives_recipe_or_recipe_error(data):
    try:
        result = load_recipe(data)
    except RecipeError as exc:
        assert exc.issues
    else:
        assert isinstance(result, Recipe)
        assert not any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(result.to_dict()))


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value

"""Recipe edge cases a user writing YAML by hand meets: each is refused before any work with
file:line key.path, or accepted exactly as written (and `augcli validate` output validates again)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from augcli.cli import main
from augcli.errors import RecipeError
from augcli.recipe import dump_recipe, load_recipe


def issues_of(source) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe(source)
    return [str(i) for i in info.value.issues]


def test_validated_mixup_with_default_alpha_validates_again(write_recipe, tmp_path):
    # MixUp's alpha defaults to null; `augcli validate` prints `alpha: null`, which must read back
    recipe = load_recipe(write_recipe("pipeline: [{type: MixUp}]\n"))
    assert recipe.to_dict()["pipeline"][0]["alpha"] is None
    again = tmp_path / "again.yaml"
    again.write_text(dump_recipe(recipe))
    assert load_recipe(again).fingerprint() == recipe.fingerprint()
    assert load_recipe(write_recipe("pipeline: [{type: MixUp, alpha: null}]\n")).to_dict() == recipe.to_dict()


def test_validate_output_of_mixup_exits_0_when_validated_again(write_recipe, tmp_path):
    result = CliRunner().invoke(main, ["validate", str(write_recipe("pipeline: [{type: MixUp, p: 0.5}]\n"))])
    assert result.exit_code == 0, result.output
    again = tmp_path / "again.yaml"
    again.write_text(result.stdout)
    second = CliRunner().invoke(main, ["validate", str(again)])
    assert second.exit_code == 0, second.output


@pytest.mark.parametrize("text", ["augment_splits: [all]\npipeline: []\n", "augment_splits: [train, all]\npipeline: []\n"])
def test_all_inside_a_list_is_refused(write_recipe, text):
    # it used to be accepted and then augmented no split at all
    assert issues_of(write_recipe(text, "s.yaml")) == [
        f"s.yaml:1 augment_splits: `all` is not a split name: write `augment_splits: all` (not in a list), "
        f"got {load_yaml_list(text)!r}"
    ]


def load_yaml_list(text: str) -> list[str]:
    import yaml

    return yaml.safe_load(text)["augment_splits"]


def test_trainval_in_augment_splits_augments_voc_trainval(write_recipe):
    # Recipe.augments maps a `trainval` split to `train`; the recipe's own `trainval` must mean the same
    recipe = load_recipe(write_recipe("augment_splits: [trainval]\npipeline: [{type: HorizontalFlip}]\n"))
    assert recipe.augments("trainval") and recipe.augments("train")
    assert not recipe.augments("val")


def test_by_class_names_that_yaml_would_read_as_bool_null_or_octal_are_kept(write_recipe):
    text = "copies:\n  default: 1\n  by_class: {no: 3, on: 4, null: 5, 007: 6, 1: 7}\npipeline: []\n"
    recipe = load_recipe(write_recipe(text))
    assert recipe.copies.by_class == {"no": 3, "on": 4, "null": 5, "007": 6, "1": 7}
    assert recipe.copies.for_classes({"no"}) == 3


def test_unknown_key_read_as_bool_is_named_as_written(write_recipe):
    (issue,) = issues_of(write_recipe("pipeline: []\non: 1\n", "k.yaml"))
    assert issue.startswith("k.yaml:2 on: unknown key")


@pytest.mark.parametrize("value", ["true", "yes", "on"])
def test_version_true_is_not_version_1(write_recipe, value):
    assert issues_of(write_recipe(f"version: {value}\npipeline: []\n", "v.yaml")) == [
        "v.yaml:1 version: this augcli reads recipe schema version 1, got True"
    ]


def test_merge_key_is_refused_with_a_hint(write_recipe):
    text = "pipeline:\n  - {<<: {p: 0.5}, type: HorizontalFlip}\n"
    assert issues_of(write_recipe(text, "m.yaml")) == [
        "m.yaml:2 pipeline[0]: YAML merge keys (<<) are not supported in a recipe: write the keys out "
        "(an alias of a whole value, *name, works)"
    ]


def test_container_without_transforms_reports_its_other_errors_too(write_recipe):
    text = "pipeline:\n  - {type: OneOf, p: 2, bogus: 1}\n"
    assert issues_of(write_recipe(text, "c.yaml")) == [
        "c.yaml:2 pipeline[0]: OneOf needs `transforms:`, a list of transforms",
        "c.yaml:2 pipeline[0].p: expected a number in [0, 1], got 2",
        "c.yaml:2 pipeline[0].bogus: unknown parameter for OneOf; known: weights, p",
    ]


def test_bad_weights_reported_together_with_a_child_error(write_recipe):
    text = ("pipeline:\n  - type: OneOf\n    weights: [0, 0]\n"
            "    transforms: [{type: HorizontalFlip, colour: 1}, {type: VerticalFlip}]\n")
    assert issues_of(write_recipe(text, "w.yaml")) == [
        "w.yaml:3 pipeline[0].weights: expected non-negative weights with a positive sum, got [0, 0]",
        "w.yaml:4 pipeline[0].transforms[0].colour: unknown parameter for HorizontalFlip; known: p",
    ]


def test_weight_count_not_blamed_on_a_child_error(write_recipe):
    text = ("pipeline:\n  - type: OneOf\n    weights: [1, 2]\n"
            "    transforms: [{type: HorizontalFlip, colour: 1}, {type: VerticalFlip}]\n")
    (issue,) = issues_of(write_recipe(text, "w.yaml"))
    assert issue.startswith("w.yaml:4 pipeline[0].transforms[0].colour:")


def test_some_of_n_that_can_never_be_drawn_is_refused(write_recipe):
    text = "pipeline:\n  - type: SomeOf\n    n: [3, 5]\n    transforms: [{type: HorizontalFlip}, {type: VerticalFlip}]\n"
    assert issues_of(write_recipe(text, "s.yaml")) == [
        "s.yaml:3 pipeline[0].n: expected n with lo <= 2 (the number of transforms), got [3, 5]"
    ]
    result = CliRunner().invoke(main, ["validate", str(write_recipe(text, "s.yaml"))])
    assert result.exit_code == 2


def test_some_of_n_not_blamed_on_a_child_error(write_recipe):
    text = "pipeline:\n  - type: SomeOf\n    n: 2\n    transforms: [{type: HorizontalFlip, x: 1}, {type: VerticalFlip}]\n"
    (issue,) = issues_of(write_recipe(text, "s.yaml"))
    assert issue.startswith("s.yaml:4 pipeline[0].transforms[0].x:")


def test_weights_whose_sum_overflows_are_refused(write_recipe):
    # [1e308, 1e308] sums to inf: every normalised weight became 0 and the run crashed in rng.choice
    text = "pipeline:\n  - {type: OneOf, weights: [1.0e+308, 1.0e+308], transforms: [{type: HorizontalFlip}, {type: VerticalFlip}]}\n"
    (issue,) = issues_of(write_recipe(text, "w.yaml"))
    assert issue.startswith("w.yaml:2 pipeline[0].weights: expected non-negative weights with a positive sum")


def test_one_of_without_transforms_says_so_even_with_weights(write_recipe):
    """With no transforms listed, the mistake is the empty list, not the number of weights."""
    message = " ".join(issues_of(write_recipe("pipeline:\n  - {type: OneOf, weights: [1], transforms: []}\n")))
    assert "OneOf needs at least one transform" in message
    assert "weights" not in message


@pytest.mark.parametrize("source", [["pipeline: []"], None, b"pipeline: []"])
def test_load_recipe_refuses_what_is_neither_a_path_nor_a_dict(source):
    """A list, None or bytes was a TypeError from pathlib; now the RecipeError the API documents."""
    (message,) = issues_of(source)
    assert "expected a YAML file path or a dict" in message


def test_load_recipe_given_yaml_text_says_how_to_pass_it():
    (message,) = issues_of("version: 1\npipeline:\n  - {type: HorizontalFlip}\n")
    assert "recipe file not found" in message and "yaml.safe_load" in message


def test_a_dict_recipe_with_numpy_numbers_is_the_recipe_with_plain_ones():
    """A script computing a recipe hands numpy numbers (np.int64 seed, np.float32 ranges): they were
    refused ("expected a number, got 10.0"); they mean what the plain numbers mean."""
    import numpy as np

    plain = load_recipe({"seed": 3, "copies": 2, "pipeline": [
        {"type": "Rotate", "degrees": [-10.0, 10.0], "p": 0.5}, {"type": "GaussianNoise", "per_channel": False}]})
    from_numpy = load_recipe({"seed": np.int64(3), "copies": np.int32(2), "pipeline": [
        {"type": "Rotate", "degrees": (np.float32(-10), np.float64(10)), "p": np.float32(0.5)},
        {"type": "GaussianNoise", "per_channel": np.bool_(False)}]})
    assert from_numpy.to_dict() == plain.to_dict()
    assert from_numpy.fingerprint() == plain.fingerprint()

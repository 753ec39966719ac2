"""Sequences (`sequences:` in a recipe) and the seeding model, checked against the pixels.

docs/recipes.md: copy k of every frame of a sequence draws the same parameters; an output's randomness
depends only on (seed, the input's path relative to the input folder or its sequence, copy index);
the same command gives byte-identical outputs for any --workers; seeds are whole numbers in
[0, 2**63 - 1]. The oracle draws solid colour patches, runs the real CLI / API and finds the patches
again in the outputs with the small readers below (not augcli's)."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import augcli
from augcli.cli import main
from augcli.errors import UsageError
from augcli.seeding import output_rng

W, H = 96, 64  # frame size, pixels
GREY = (100, 100, 100)
BLUE, GREEN, RED = (255, 0, 0), (0, 255, 0), (0, 0, 255)  # BGR, as cv2 writes
BLUE_AT, GREEN_AT = (22, 14), (66, 40)  # fixed markers (x, y of the top-left corner), 8x8 pixels
OBJECT = 14  # side of the moving red object, pixels


def _frame(obj_at: tuple[int, int] | None) -> np.ndarray:
    img = np.full((H, W, 3), GREY, np.uint8)
    for (x, y), colour in ((BLUE_AT, BLUE), (GREEN_AT, GREEN)):
        img[y:y + 8, x:x + 8] = colour
    if obj_at is not None:
        x, y = obj_at
        img[y:y + OBJECT, x:x + OBJECT] = RED
    return img


def _write_yolo(root: Path, frames: dict[str, tuple[int, int] | None]) -> None:
    """images/<name>.png + labels/<name>.txt (one red box, YOLO cx cy w h normalised) + classes.txt."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir(parents=True)
    (root / "classes.txt").write_text("thing\n")
    for name, at in frames.items():
        (root / "images" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "labels" / name).parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(root / "images" / f"{name}.png"), _frame(at))
        line = ""
        if at is not None:
            x, y = at
            line = f"0 {(x + OBJECT / 2) / W:.6f} {(y + OBJECT / 2) / H:.6f} {OBJECT / W:.6f} {OBJECT / H:.6f}\n"
        (root / "labels" / f"{name}.txt").write_text(line)


def _colour_mask(img: np.ndarray, channel: int) -> np.ndarray:
    """Pixels where one BGR channel clearly dominates the other two (half-way on a blended edge counts)."""
    c = img.astype(int)
    others = [c[..., i] for i in range(3) if i != channel]
    return (c[..., channel] > others[0] + 80) & (c[..., channel] > others[1] + 80)


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    assert len(xs), "marker not found in the output"
    return np.array([xs.mean(), ys.mean()])


def _yolo_boxes(path: Path, w: int, h: int) -> list[tuple[float, float, float, float]]:
    """Pixel boxes (x1, y1, x2, y2) from a YOLO detect label file (class cx cy w h, normalised)."""
    out = []
    for line in path.read_text().split("\n"):
        if line.strip():
            _, cx, cy, bw, bh = (float(v) for v in line.split())
            out.append(((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h))
    return out


def _images(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.parts[len(out.parts)] in ("images", "labels")}


def test_frames_of_a_sequence_get_one_transform_per_copy(tmp_path):
    """Frames that differ only by where an object is get the same flip, angle and brightness in copy k
    (the fixed markers land on the same pixels), each frame's label box is where its red pixels went,
    an identical frame gives identical pixels and labels, and another clip or copy draws differently."""
    frames = {"camA_001": (36, 24), "camA_002": (48, 30), "camA_003": (36, 24), "camA_004": None,
              "camB_001": (36, 24), "camB_002": (48, 30)}
    _write_yolo(tmp_path / "in", frames)
    recipe = {"seed": 11, "copies": 3, "keep_original": False, "labels": {"min_visibility": 0.0, "min_area": 0},
              "sequences": {"pattern": r"^(?P<seq>cam[A-Z])_\d+$"},
              "pipeline": [{"type": "HorizontalFlip", "p": 0.5}, {"type": "Rotate", "degrees": [-15, 15]},
                           {"type": "BrightnessContrast", "brightness": [-0.1, 0.1], "contrast": [-0.1, 0.1]}]}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    result = CliRunner().invoke(main, ["run", str(tmp_path / "r.yaml"), "-i", str(tmp_path / "in"),
                                       "-o", str(tmp_path / "out"), "-w", "1", "-q"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"

    def markers(name: str, k: int) -> np.ndarray:
        img = cv2.imread(str(out / "images" / f"{name}_aug{k}.png"))
        return np.concatenate([_centroid(_colour_mask(img, 0)), _centroid(_colour_mask(img, 1))])

    for k in (1, 2, 3):
        a = markers("camA_001", k)
        for other in ("camA_002", "camA_003", "camA_004"):
            assert np.abs(markers(other, k) - a).max() < 0.05, f"copy {k}: {other} moved unlike camA_001"
        assert (out / "images" / f"camA_003_aug{k}.png").read_bytes() == \
            (out / "images" / f"camA_001_aug{k}.png").read_bytes(), "identical frames, different pixels"
        assert (out / "labels" / f"camA_003_aug{k}.txt").read_text() == \
            (out / "labels" / f"camA_001_aug{k}.txt").read_text()
        assert np.abs(markers("camB_002", k) - markers("camB_001", k)).max() < 0.05
        for name in ("camA_001", "camA_002", "camB_001", "camB_002"):
            img = cv2.imread(str(out / "images" / f"{name}_aug{k}.png"))
            ys, xs = np.nonzero(_colour_mask(img, 2))
            (box,) = _yolo_boxes(out / "labels" / f"{name}_aug{k}.txt", W, H)
            seen = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            assert np.abs(np.subtract(box, seen)).max() <= 1.5, f"{name} copy {k}: label {box}, red pixels {seen}"
        assert _yolo_boxes(out / "labels" / f"camA_004_aug{k}.txt", W, H) == []
    assert any(np.abs(markers("camA_001", k) - markers("camB_001", k)).max() > 0.5 for k in (1, 2, 3)), \
        "two clips drew the same parameters"
    assert np.abs(markers("camA_001", 1) - markers("camA_001", 2)).max() > 0.5, "copies 1 and 2 alike"


def _run_cli(recipe: Path, src: Path, out: Path, *args: str) -> None:
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(src), "-o", str(out), "-q", *args])
    assert result.exit_code == 0, result.output


def test_seeds_bytes_across_workers_root_names_and_extremes(tmp_path):
    """The same seed gives the same bytes with -w 1 and -w 2 and from a renamed copy of the input folder
    (keys are relative, sequences too); seeds 0 and 2**63 - 1 both work and differ; a --limit run is a
    prefix of the full run."""
    frames = {f"clip/f{i}": (38 + 3 * i, 22) for i in range(4)}
    _write_yolo(tmp_path / "in", frames)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"copies": 2, "sequences": {"group_by": "folder"},
                                      "pipeline": [{"type": "Rotate", "degrees": [-20, 20]}, {"type": "GaussianNoise"}]}))
    _run_cli(recipe, tmp_path / "in", tmp_path / "a", "--seed", "0", "-w", "1")
    shutil.copytree(tmp_path / "in", tmp_path / "renamed root")
    _run_cli(recipe, tmp_path / "renamed root", tmp_path / "b", "--seed", "0", "-w", "2")
    top = str(2**63 - 1)
    _run_cli(recipe, tmp_path / "in", tmp_path / "c", "--seed", top, "-w", "1")
    _run_cli(recipe, tmp_path / "in", tmp_path / "d", "--seed", top, "-w", "1", "--limit", "2")
    a, b, c, d = (_images(tmp_path / n) for n in "abcd")
    assert a == b
    augmented = [n for n in a if n.startswith("images/") and "_aug" in n]
    assert len(augmented) == 8
    assert all(a[n] != c[n] for n in augmented), "seed 0 and seed 2**63 - 1 gave the same copy"
    assert d and all(c[n] == v for n, v in d.items())
    # frames of the folder-sequence got one rotation per copy: identical backgrounds where no object is
    img0, img3 = (cv2.imread(str(tmp_path / "c" / "images" / "clip" / f"f{i}_aug1.png")) for i in (0, 3))
    assert np.abs(_centroid(_colour_mask(img0, 0)) - _centroid(_colour_mask(img3, 0))).max() < 0.05


def _write_plain(root: Path, names: list[str]) -> None:
    """A bare image folder: every frame the same picture (a gradient with a marker), so any two outputs
    differ only if their sampled parameters do."""
    root.mkdir(parents=True)
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 1] = np.linspace(0, 255, W, dtype=np.uint8)[None, :]
    img[10:20, 10:20] = RED
    for name in names:
        assert cv2.imwrite(str(root / f"{name}.png"), img)


def test_frames_whose_optional_seq_group_is_unmatched_stand_alone(tmp_path):
    """docs/recipes.md: frames the pattern does not match stand alone. With an optional `seq` group, a
    frame whose name gives no sequence name was keyed as the sequence "None": every such frame of the
    folder drew the same parameters, and the same as a real clip named None."""
    _write_plain(tmp_path / "in", ["None_001", "None_002", "0001", "0002"])
    recipe = {"seed": 3, "copies": 3, "keep_original": False,
              "sequences": {"pattern": r"^(?:(?P<seq>[A-Za-z]+)_)?\d+$"},
              "pipeline": [{"type": "Rotate", "degrees": [-40, 40]}]}
    augcli.run(recipe, tmp_path / "in", tmp_path / "out", workers=1, log=lambda line: None)

    def pixels(name: str, k: int) -> bytes:
        return cv2.imread(str(tmp_path / "out" / f"{name}_aug{k}.png")).tobytes()

    for k in (1, 2, 3):
        assert pixels("None_001", k) == pixels("None_002", k), "the clip None lost its coherence"
    assert any(pixels("0001", k) != pixels("None_001", k) for k in (1, 2, 3)), "a lone frame joined clip None"
    assert any(pixels("0001", k) != pixels("0002", k) for k in (1, 2, 3)), "two lone frames share parameters"


@pytest.mark.parametrize("seed", [-1, 2**63, 2**64 + 5, 1.5, True])
def test_api_seed_outside_the_documented_range_is_refused(tmp_path, seed):
    """--seed takes [0, 2**63 - 1], and so does `seed:` in a recipe. The Python API's seed= took
    anything: 2**64 + 5 silently gave seed 5's outputs, -1 those of 2**64 - 1, 1.5 a TypeError
    traceback from inside a worker."""
    _write_plain(tmp_path / "in", ["a"])
    recipe = {"copies": 1, "pipeline": [{"type": "Rotate"}]}
    with pytest.raises(UsageError, match=r"--seed: expected a whole number in \[0, 9223372036854775807\]"):
        augcli.run(recipe, tmp_path / "in", tmp_path / "out", workers=1, seed=seed, log=lambda line: None)
    assert not (tmp_path / "out").exists()


def test_output_rng_refuses_seeds_it_would_wrap():
    """The RNG key holds 64 bits of the seed: a Recipe built in Python with a larger or negative seed
    must not quietly draw another seed's numbers."""
    for seed in (-1, 2**64, 2**64 + 5):
        with pytest.raises(ValueError, match="seed"):
            output_rng(seed, "a.png", 1)
    assert output_rng(2**63 - 1, "a.png", 1).random() != output_rng(0, "a.png", 1).random()


def test_api_seed_as_numpy_integer_is_the_same_seed(tmp_path):
    _write_plain(tmp_path / "in", ["a"])
    recipe = {"copies": 1, "keep_original": False, "pipeline": [{"type": "Rotate", "degrees": [-40, 40]}]}
    augcli.run(recipe, tmp_path / "in", tmp_path / "x", workers=1, seed=np.int64(5), log=lambda line: None)
    augcli.run(recipe, tmp_path / "in", tmp_path / "y", workers=1, seed=5, log=lambda line: None)
    assert (tmp_path / "x" / "a_aug1.png").read_bytes() == (tmp_path / "y" / "a_aug1.png").read_bytes()


@pytest.mark.parametrize("body, where", [
    # a misspelt key beside a good one was reported as the whole `sequences:` being wrong, unnamed
    ("sequences:\n  group_by: folder\n  patern: '^(?P<seq>.+)_\\d+$'\n",
     "r.yaml:5 sequences.patern: unknown key (did you mean pattern?)"),
    ("sequences:\n  group_by: folder\n  pattern: '^(?P<seq>.+)_\\d+$'\n",
     "r.yaml:3 sequences: give either group_by or pattern, not both"),
    ("sequences:\n  pattern: '^(?P<clip>.+)_\\d+$'\n", "r.yaml:4 sequences.pattern: expected a regular expression"),
    ("sequences:\n  group_by: camera\n", "r.yaml:4 sequences.group_by: expected folder"),
    ("sequences: {}\n", "r.yaml:3 sequences: expected {group_by: folder}"),
])
def test_bad_sequences_settings_name_the_yaml_line(tmp_path, body, where):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("seed: 1\npipeline: []\n" + body)
    result = CliRunner().invoke(main, ["validate", str(recipe)])
    assert result.exit_code == 2
    assert where in result.output, result.output


def _quarter_turns(img: np.ndarray) -> int:
    """Counter-clockwise quarter turns of a picture whose blue channel grew left to right: which output
    side holds the most blue (right 0, top 1, left 2, bottom 3)."""
    b = img[..., 0].astype(float)
    sides = [b[:, -4:].mean(), b[:4, :].mean(), b[:, :4].mean(), b[-4:, :].mean()]
    return int(np.argmax(sides))


def test_an_object_at_the_edge_does_not_change_later_draws_of_its_sequence(tmp_path):
    """A person walking in from the left edge: RandomSizedBBoxSafeCrop's window legitimately follows the
    object, but the quarter turn after it must be the clip's, in every frame (docs/recipes.md:
    copy k of every frame gets the same flip, angle, ...)."""
    root = tmp_path / "in"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir(parents=True)
    (root / "classes.txt").write_text("person\n")
    for name, x in (("cam_001", 0), ("cam_002", 20), ("cam_003", 40)):
        img = np.zeros((H, W, 3), np.uint8)
        img[..., 0] = (np.arange(W) * 2)[None, :]  # blue grows left to right: shows the turn
        img[20:34, x:x + OBJECT] = RED
        assert cv2.imwrite(str(root / "images" / f"{name}.png"), img)
        (root / "labels" / f"{name}.txt").write_text(
            f"0 {(x + OBJECT / 2) / W:.6f} {27 / H:.6f} {OBJECT / W:.6f} {OBJECT / H:.6f}\n")
    recipe = {"seed": 0, "copies": 6, "keep_original": False, "sequences": {"pattern": r"^(?P<seq>.+)_\d+$"},
              "pipeline": [{"type": "RandomSizedBBoxSafeCrop", "size": [H, W]}, {"type": "Rotate90", "k": [0, 3]}]}
    augcli.run(recipe, root, tmp_path / "out", workers=1, log=lambda line: None)
    for k in range(1, 7):
        turns = {name: _quarter_turns(cv2.imread(str(tmp_path / "out" / "images" / f"{name}_aug{k}.png")))
                 for name in ("cam_001", "cam_002", "cam_003")}
        assert len(set(turns.values())) == 1, f"copy {k}: quarter turns {turns}"


def test_splits_keep_each_sequence_whole(tmp_path):
    """--splits with sequences: the frames of one clip are near-duplicates, so a clip cut across train and
    val leaks training frames into validation (and only its train frames get augmented copies)."""
    frames = {f"clip{c}_{i:03d}": (30, 20) for c in "AB" for i in range(8)}
    _write_yolo(tmp_path / "in", frames)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"copies": 1, "sequences": {"pattern": r"^(?P<seq>.+)_\d+$"},
                                      "pipeline": [{"type": "HorizontalFlip"}]}))
    _run_cli(recipe, tmp_path / "in", tmp_path / "out", "-w", "1", "--splits", "train=0.5,val=0.5")
    for clip in "AB":
        splits = {p.parent.name for p in (tmp_path / "out" / "images").rglob(f"clip{clip}_*.png")}
        assert len(splits) == 1, f"clip{clip} written to {sorted(splits)}"


@pytest.mark.parametrize("seed, key, copy", [(6, "images/a.jpg", 1), (2**64 - 1, "x/ü é.png", 3), (0, "", 0),
                                             (123456789012, "a" * 300, 2**32 - 1), (7, "b.png", 2**32 + 5)])
def test_output_rng_is_the_seed_sequence_of_its_documented_words(seed, key, copy):
    """output_rng hands SeedSequence its 32-bit words as an array (faster); the generator must be
    the one the plain list of ints makes: seed low and high word, the key's sha256 as four
    little-endian words, the copy index."""
    import hashlib

    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    expected = np.random.default_rng(np.random.SeedSequence([seed % 2**32, seed // 2**32, *words, copy]))
    got = output_rng(seed, key, copy)
    assert got.bit_generator.state == expected.bit_generator.state
    assert got.integers(0, 2**63, 8).tolist() == expected.integers(0, 2**63, 8).tolist()

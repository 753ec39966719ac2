"""YAML recipe -> validated Recipe. Every problem is reported at once, with file, line and key path.

Only plain YAML is read: mappings, lists, strings, numbers, booleans and null. Tags such
as !!python/object are refused, and the document is walked with a size and depth budget
so an alias bomb cannot blow up memory.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import math
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from augcli.errors import ParamError, RecipeError, RecipeIssue, UsageError
from augcli.sample import BOX_SHAPES, LabelPolicy

SCHEMA_VERSION = 1
MAX_NODES = 100_000
MAX_DEPTH = 64
MAX_NESTING = 16  # containers inside containers
MAX_COPIES = 100_000
MAX_SEED = 2**63 - 1  # what `seed:` and --seed accept
# split names as `augment_splits` compares them, in the recipe and in the data: VOC's trainval trains
_AUGMENT_SPLITS = {"valid": "val", "validation": "val", "trainval": "train"}
IMAGE_FORMATS = ("keep", "jpg", "png")
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map")}

Path_ = tuple  # key path: str keys and int list indices


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True)
class OutputPolicy:
    """How augmented images are encoded. 'keep' reuses the input's extension."""

    image_format: str = "keep"
    jpeg_quality: int = 95


@dataclass(frozen=True)
class Sequences:
    """Frames grouped into sequences (CCTV alarm bursts): `group_by: folder` (the frame's folder)
    or `pattern`, a regex with a named group `seq` matched against the file name without extension."""

    group_by: str = "folder"
    pattern: str | None = None

    def group(self, key: str) -> str:
        path = PurePosixPath(key)
        if self.pattern is None:
            return "seq:" + str(path.parent)
        match = re.match(self.pattern, path.stem)
        if not match or match.group("seq") is None:
            # a frame outside any sequence is on its own: that includes a match whose optional `seq`
            # group took no part, which would otherwise join every such frame of the folder, and a
            # clip literally named "None", into one sequence
            return key
        return f"seq:{path.parent}/{match.group('seq')}"

    def to_plain(self) -> dict[str, str]:
        return {"pattern": self.pattern} if self.pattern else {"group_by": self.group_by}


@dataclass(frozen=True)
class Copies:
    """Augmented copies per input image: `default`, or the largest `by_class` value among the classes it contains."""

    default: int = 1
    by_class: dict[str, int] = field(default_factory=dict)

    def for_classes(self, names: set[str]) -> int:
        values = [self.by_class[n] for n in names if n in self.by_class]
        return max(values) if values else self.default  # a listed class decides, even below the default

    def to_plain(self) -> Any:
        return {"default": self.default, "by_class": dict(self.by_class)} if self.by_class else self.default


@dataclass(frozen=True)
class Recipe:
    """A validated recipe. `pipeline` is the root transform (a Sequential of the recipe's list)."""

    pipeline: Any
    seed: int = 0
    copies: Copies = field(default_factory=Copies)
    keep_original: bool = True
    labels: LabelPolicy = field(default_factory=LabelPolicy)
    output: OutputPolicy = field(default_factory=OutputPolicy)
    augment_splits: tuple[str, ...] | None = ("train",)  # None = every split
    sequences: "Sequences | None" = None
    source: str = "<recipe>"

    def random_key(self, key: str) -> str:
        """What an output's randomness is keyed by: the input's own path, or its sequence's name
        when frames are grouped into sequences (so copy k of every frame draws the same parameters)."""
        return self.sequences.group(key) if self.sequences else key

    def augments(self, split: str | None) -> bool:
        """Whether images of this split get augmented copies (images without a split always do)."""
        if split is None or self.augment_splits is None:
            return True
        name = _AUGMENT_SPLITS.get(split, split)
        return name in self.augment_splits

    def output_copies(self, split: str | None, classes: set[str]) -> list[int]:
        """The copy indices a run writes of one input of this split holding objects of these class
        names: 0 for the original (kept, or the only output of a conversion or of an input that is
        not augmented), then 1..n augmented copies."""
        augment = not self.is_conversion and self.augments(split)
        original = [0] if not augment or self.keep_original else []
        return original + (list(range(1, self.copies.for_classes(classes) + 1)) if augment else [])

    @property
    def is_conversion(self) -> bool:
        """An empty pipeline: each image is written once, converted, with no augmented copies."""
        return not self.pipeline.children

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe: every default filled in (what `augcli validate` prints)."""
        return {
            "version": SCHEMA_VERSION,
            "seed": self.seed,
            "copies": self.copies.to_plain(),
            "keep_original": self.keep_original,
            "labels": {
                "min_visibility": self.labels.min_visibility,
                "min_area": self.labels.min_area,
                "bbox_rotate": self.labels.bbox_rotate,
            },
            "output": {"image_format": self.output.image_format, "jpeg_quality": self.output.jpeg_quality},
            "augment_splits": "all" if self.augment_splits is None else list(self.augment_splits),
            **({"sequences": self.sequences.to_plain()} if self.sequences else {}),
            "pipeline": [c.to_config() for c in self.pipeline.children],
        }

    def fingerprint(self) -> str:
        """sha256 of the resolved recipe minus the seed: what outputs depend on besides seed and input."""
        d = self.to_dict()
        d.pop("seed")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()

    def with_overrides(self, *, seed: int | None = None, copies: int | None = None) -> "Recipe":
        """The recipe with `--seed` / `--copies` applied. A seed is checked like the recipe's own
        `seed:` (a whole number in [0, 2**63 - 1]; UsageError otherwise): the RNG key holds 64 bits of
        it, so a larger or negative one would silently give the outputs of another seed (2**64 + 5
        those of 5)."""
        from dataclasses import replace

        out = self
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_SEED:
                raise UsageError(f"--seed: expected a whole number in [0, {MAX_SEED}], got {seed!r}")
            out = replace(out, seed=int(seed))  # a numpy integer too, as a plain int for the manifest
        if copies is not None:
            out = replace(out, copies=Copies(copies, {}))
        return out


# ---------------------------------------------------------------- YAML with line numbers
class _Composer:
    def __init__(self, filename: str):
        self.filename = filename
        self.lines: dict[Path_, int] = {}
        self.issues: list[RecipeIssue] = []
        self.visited = 0

    def issue(self, line: int | None, path: Path_, message: str) -> None:
        self.issues.append(RecipeIssue(self.filename, line, format_path(path), message))

    def load(self, text: str) -> Any:
        import yaml

        loader = None
        try:
            loader = yaml.SafeLoader(text)  # its reader already refuses control characters
            node = loader.get_single_node()
            if node is None:
                return None
            return self.walk(loader, node, (), 0)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            self.issue(mark.line + 1 if mark else None, (), f"not valid YAML: {exc.problem or exc.context}")
            return None
        except yaml.YAMLError as exc:
            self.issue(None, (), f"not valid YAML: {exc}")
            return None
        except _TooBig as exc:
            self.issue(exc.line, (), str(exc))
            return None
        except RecursionError:
            self.issue(None, (), f"recipe nested too deeply (more than {MAX_DEPTH} levels)")
            return None
        finally:
            if loader is not None:
                loader.dispose()

    def walk(self, loader: Any, node: Any, path: Path_, depth: int) -> Any:
        import yaml

        self.visited += 1
        line = node.start_mark.line + 1
        if self.visited > MAX_NODES:
            raise _TooBig(line, f"recipe too large: more than {MAX_NODES} YAML nodes (alias expansion?)")
        if depth > MAX_DEPTH:
            raise _TooBig(line, f"recipe nested deeper than {MAX_DEPTH} levels")
        self.lines.setdefault(path, line)
        if node.tag not in _PLAIN_TAGS:
            self.issue(line, path, f"YAML tag {node.tag} is not allowed in a recipe (plain values only)")
            return None
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.issue(key_node.start_mark.line + 1, path, "YAML merge keys (<<) are not supported in a recipe: "
                                                                   "write the keys out (an alias of a whole value, *name, works)")
                    continue
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _PLAIN_TAGS:
                    self.issue(key_node.start_mark.line + 1, path, "mapping keys must be plain names")
                    continue
                key = loader.construct_object(key_node)
                if not isinstance(key, str):
                    key = key_node.value  # as written: a class named `no`, `on`, `null` or `007` keeps its name
                sub = path + (key,)
                if key in out:
                    self.issue(key_node.start_mark.line + 1, sub, "key given twice")
                self.lines[sub] = key_node.start_mark.line + 1
                out[key] = self.walk(loader, value_node, sub, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(loader, item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        return loader.construct_object(node)


class _TooBig(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


# ---------------------------------------------------------------- validation
class _Validator:
    TOP_KEYS = ("version", "seed", "copies", "keep_original", "labels", "output", "augment_splits", "sequences",
                "pipeline")

    def __init__(self, filename: str, lines: dict[Path_, int]):
        self.filename = filename
        self.lines = lines
        self.issues: list[RecipeIssue] = []

    def line_of(self, path: Path_) -> int | None:
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]

    def err(self, path: Path_, message: str) -> None:
        self.issues.append(RecipeIssue(self.filename, self.line_of(path), format_path(path), message))

    def unknown_keys(self, data: dict, known: tuple[str, ...], path: Path_) -> None:
        for key in data:
            if key not in known:
                near = difflib.get_close_matches(key, known, n=2, cutoff=0.6)
                hint = f" (did you mean {' or '.join(near)}?)" if near else ""
                self.err(path + (key,), f"unknown key{hint}; expected one of: {', '.join(known)}")

    def integer(self, value: Any, path: Path_, lo: int, hi: int, what: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.err(path, f"expected {what}: a whole number in [{lo}, {hi}], got {value!r}")
            return None
        return value

    def number(self, value: Any, path: Path_, lo: float, hi: float, what: str) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value) or not lo <= value <= hi:
            self.err(path, f"expected {what}: a number in [{lo:g}, {hi:g}], got {value!r}")
            return None
        return float(value)

    def recipe(self, data: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if not isinstance(data, dict):
            self.err((), "expected a mapping with at least `pipeline:` (see docs/recipes.md)")
            return out
        self.unknown_keys(data, self.TOP_KEYS, ())
        version = data.get("version", SCHEMA_VERSION)
        if isinstance(version, bool) or version != SCHEMA_VERSION:
            self.err(("version",), f"this augcli reads recipe schema version {SCHEMA_VERSION}, got {version!r}")
        if "seed" in data:
            out["seed"] = self.integer(data["seed"], ("seed",), 0, MAX_SEED, "a seed")
        if "copies" in data:
            out["copies"] = self.copies(data["copies"], ("copies",))
        if "keep_original" in data:
            if isinstance(data["keep_original"], bool):
                out["keep_original"] = data["keep_original"]
            else:
                self.err(("keep_original",), f"expected true or false, got {data['keep_original']!r}")
        if "sequences" in data:
            out["sequences"] = self.sequences(data["sequences"], ("sequences",))
        if "augment_splits" in data:
            out["augment_splits"] = self.splits(data["augment_splits"], ("augment_splits",))
        out["labels"] = self.labels(data.get("labels", {}), ("labels",))
        out["output"] = self.output(data.get("output", {}), ("output",))
        if "pipeline" not in data:
            self.err(("pipeline",), "missing: list the transforms to apply (use `pipeline: []` to convert only)")
        else:
            out["pipeline"] = self.transform_list(data["pipeline"], ("pipeline",), 0)
        return out

    def sequences(self, value: Any, path: Path_) -> Sequences | None:
        if not isinstance(value, dict) or not value:
            self.err(path, "expected {group_by: folder} or {pattern: '^(?P<seq>.+)_\\d+$'}")
            return None
        self.unknown_keys(value, ("group_by", "pattern"), path)  # a misspelt key is named, at its own line
        if "group_by" in value and "pattern" in value:
            self.err(path, "give either group_by or pattern, not both (a pattern already groups within each folder)")
            return None
        if "group_by" in value:
            if value["group_by"] != "folder":
                self.err(path + ("group_by",), f"expected folder, got {value['group_by']!r}")
                return None
            return Sequences()
        if "pattern" in value:
            pattern = value["pattern"]
            try:
                compiled = re.compile(pattern) if isinstance(pattern, str) else None
            except re.error as exc:
                self.err(path + ("pattern",), f"not a valid regular expression: {exc}")
                return None
            if compiled is None or "seq" not in compiled.groupindex:
                self.err(path + ("pattern",), "expected a regular expression with a named group (?P<seq>...), "
                                              f"got {pattern!r}")
                return None
            return Sequences("pattern", pattern)
        return None

    def splits(self, value: Any, path: Path_) -> tuple[str, ...] | None:
        if value == "all":
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.err(path, f"expected a list of split names such as [train] or `all`, got {value!r}")
            return ("train",)
        if "all" in value:
            self.err(path, f"`all` is not a split name: write `augment_splits: all` (not in a list), got {value!r}")
            return ("train",)
        # the same names as Recipe.augments gives a split: VOC's trainval counts as train
        return tuple(_AUGMENT_SPLITS.get(v, v) for v in value)

    def copies(self, value: Any, path: Path_) -> Copies | None:
        if isinstance(value, dict):
            self.unknown_keys(value, ("default", "by_class"), path)
            default = self.integer(value.get("default", 1), path + ("default",), 0, MAX_COPIES, "copies")
            by_class = value.get("by_class", {})
            parsed: dict[str, int] = {}
            if not isinstance(by_class, dict):
                self.err(path + ("by_class",), f"expected a mapping class name -> copies, got {by_class!r}")
            else:
                for name, n in by_class.items():
                    v = self.integer(n, path + ("by_class", name), 0, MAX_COPIES, "copies")
                    if v is not None:
                        parsed[str(name)] = v
            return Copies(default, parsed) if default is not None else None
        n = self.integer(value, path, 0, MAX_COPIES, "copies per image")
        return Copies(n) if n is not None else None

    def labels(self, value: Any, path: Path_) -> LabelPolicy:
        if not isinstance(value, dict):
            self.err(path, f"expected a mapping (min_visibility, min_area, bbox_rotate), got {value!r}")
            return LabelPolicy()
        self.unknown_keys(value, ("min_visibility", "min_area", "bbox_rotate"), path)
        d = LabelPolicy()
        mv = self.number(value.get("min_visibility", d.min_visibility), path + ("min_visibility",), 0, 1, "a fraction")
        ma = self.number(value.get("min_area", d.min_area), path + ("min_area",), 0, 1e12, "an area in pixels")
        br = value.get("bbox_rotate", d.bbox_rotate)
        if br not in BOX_SHAPES:
            self.err(path + ("bbox_rotate",), f"expected one of {', '.join(BOX_SHAPES)}, got {br!r}")
            br = d.bbox_rotate
        return LabelPolicy(d.min_visibility if mv is None else mv, d.min_area if ma is None else ma, br)

    def output(self, value: Any, path: Path_) -> OutputPolicy:
        if not isinstance(value, dict):
            self.err(path, f"expected a mapping (image_format, jpeg_quality), got {value!r}")
            return OutputPolicy()
        self.unknown_keys(value, ("image_format", "jpeg_quality"), path)
        d = OutputPolicy()
        fmt = value.get("image_format", d.image_format)
        if fmt not in IMAGE_FORMATS:
            self.err(path + ("image_format",), f"expected one of {', '.join(IMAGE_FORMATS)}, got {fmt!r}")
            fmt = d.image_format
        q = self.integer(value.get("jpeg_quality", d.jpeg_quality), path + ("jpeg_quality",), 1, 100, "a JPEG quality")
        return OutputPolicy(fmt, d.jpeg_quality if q is None else q)

    def transform_list(self, value: Any, path: Path_, nesting: int) -> list[Any]:
        if not isinstance(value, list):
            self.err(path, f"expected a list of transforms, got {type(value).__name__}")
            return []
        built = [self.transform(entry, path + (i,), nesting) for i, entry in enumerate(value)]
        return [t for t in built if t is not None]

    def transform(self, entry: Any, path: Path_, nesting: int) -> Any:
        from augcli.transforms import registry
        from augcli.transforms.meta import Container

        if not isinstance(entry, dict):
            self.err(path, f"expected a mapping like {{type: HorizontalFlip, p: 0.5}}, got {entry!r}")
            return None
        name = entry.get("type")
        if not isinstance(name, str):
            self.err(path + ("type",) if "type" in entry else path, "every transform needs `type:` naming it (see `augcli transforms`)")
            return None
        try:
            cls = registry.get(name)
        except KeyError:
            near = registry.suggest(name)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            self.err(path + ("type",), f"unknown transform {name!r}{hint} (`augcli transforms` lists them all)")
            return None
        kwargs = {k: v for k, v in entry.items() if k != "type"}
        children_failed = False
        if issubclass(cls, Container):
            if nesting >= MAX_NESTING:
                self.err(path, f"containers nested deeper than {MAX_NESTING} levels")
                return None
            before = len(self.issues)
            if "transforms" not in kwargs:
                self.err(path, f"{name} needs `transforms:`, a list of transforms")
                kwargs["transforms"] = []  # still check the container's other keys, so all errors come at once
            else:
                kwargs["transforms"] = self.transform_list(kwargs["transforms"], path + ("transforms",), nesting + 1)
            children_failed = len(self.issues) > before
        try:
            return cls(**kwargs)
        except ParamError as exc:
            for key, message in exc.problems:
                if children_failed and key in ("weights", "transforms", "n") and _parses(cls, key, kwargs):
                    continue  # a count that no longer matches the children left: caused by the child errors
                self.err(path + (key,) if key else path, message)
            return None


def _parses(cls: Any, key: str, kwargs: dict[str, Any]) -> bool:
    """Whether a container's parameter is valid on its own (its problem is then only about the children)."""
    spec = cls.params.get(key)
    if spec is None or key not in kwargs:
        return True
    try:
        spec.parse(kwargs[key])
    except ValueError:
        return False
    return True


def _string_keys(value: Any) -> Any:
    """A copy of a dict recipe with every mapping key a string, as YAML's are made (_Composer.walk): a
    key such as 1 or 0.5 is then reported as unknown, not a TypeError; the caller's dict is not touched.
    Numbers from numpy (np.int64(3), np.float32(0.5), as a script computing a recipe makes them) become
    the plain ones YAML would give, and tuples lists."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_string_keys(v) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()  # a numpy scalar (a bool_ too, which YAML's true is)
    return value


def load_recipe(source: str | Path | dict[str, Any], *, name: str | None = None) -> Recipe:
    """Load and validate a recipe from a YAML file path or from a plain dict (as YAML would give).

    Raises RecipeError listing every problem (file:line key.path: message)."""
    if isinstance(source, dict):
        filename, data, lines, issues = name or "<recipe>", _string_keys(source), {}, []
    else:
        if not isinstance(source, (str, Path)):  # (a list, None, bytes: a TypeError deep in pathlib before)
            raise RecipeError([RecipeIssue(name or "<recipe>", None, "", "expected a YAML file path or a dict, got "
                                           f"{type(source).__name__}")])
        path = Path(source)
        filename = name or path.name
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            hint = "; for YAML text, pass yaml.safe_load(text)" if "\n" in str(source) or ": " in str(source) else ""
            where = "<recipe text>" if "\n" in str(source) else str(path)
            raise RecipeError([RecipeIssue(where, None, "", f"recipe file not found{hint}")]) from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL in the path
            raise RecipeError([RecipeIssue(str(path)[:200], None, "", f"cannot read recipe: {exc}")]) from None
        composer = _Composer(filename)
        data = composer.load(text)
        lines, issues = composer.lines, composer.issues
        if issues and data is None:  # not YAML at all: nothing further to check
            raise RecipeError(issues)
    v = _Validator(filename, lines)
    fields = v.recipe(data)
    if issues or v.issues:
        seen = {i.path for i in issues}  # a refused tag already explains the value it left empty
        merged = issues + [i for i in v.issues if i.path not in seen]
        raise RecipeError(sorted(merged, key=lambda i: i.line or 0))
    from augcli.transforms.meta import Sequential

    return Recipe(
        pipeline=Sequential(transforms=fields["pipeline"]),
        seed=fields.get("seed") or 0,
        copies=fields.get("copies") or Copies(),
        keep_original=fields.get("keep_original", True),
        labels=fields["labels"],
        output=fields["output"],
        augment_splits=fields.get("augment_splits", ("train",)),
        sequences=fields.get("sequences"),
        source=filename,
    )


def dump_recipe(recipe: Recipe) -> str:
    """The resolved recipe as YAML, every default visible."""
    import yaml

    return yaml.safe_dump(recipe.to_dict(), sort_keys=False, default_flow_style=None, width=100)

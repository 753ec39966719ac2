"""Every example in the documentation works as written, and every number it states is the code's.

Commands, recipes and Python blocks are taken from the Markdown itself (not copied here), run in a
temporary copy of configs/ and sample_data/, so a doc edit that breaks an example fails this file.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from augcli.cli import main as cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "docs/recipes.md", "docs/checking.md", "docs/cctv.md", "docs/transforms.md", "benchmarks/README.md"]
FENCE = re.compile(r"^[ \t]*```(\w*)[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)

# Commands that need what a sandbox does not have: object storage, a Dask cluster, an input folder
# that only exists on the reader's machine.
NEEDS_ELSEWHERE = re.compile(r"s3://|gs://|az://|--executor\s+dask|--scheduler|(?:-i|--input)\s+(?:/|data/)|recipe\.yaml")


def _blocks(lang: str) -> list[tuple[str, int, str]]:
    """(doc, block index, text) of every fenced block in `lang` across the docs."""
    found = []
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        for i, m in enumerate(FENCE.finditer(text)):
            if m.group(1) == lang:
                found.append((doc, i, m.group(2)))
    return found


def _commands(block: str) -> list[str]:
    """The `augcli ...` lines of a shell block (after `&&`), comments stripped."""
    out = []
    for line in block.splitlines():
        for part in line.split("&&"):
            part = part.strip()
            if part.startswith("augcli "):
                out.append(part.split("  #")[0].split(" # ")[0].strip())
    return out


def _ids(value) -> str:
    """Test ids: the doc and the block's index, not its whole text."""
    return value if isinstance(value, str) and "\n" not in value else str(value) if isinstance(value, int) else "block"


def _runnable_blocks() -> list[tuple[str, int, list[str]]]:
    return [
        (doc, i, cmds)
        for doc, i, text in _blocks("bash")
        if (cmds := [c for c in _commands(text) if not NEEDS_ELSEWHERE.search(c)])
    ]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A scratch copy of what the examples name, so relative output paths land in tmp_path."""
    for name in ("configs", "sample_data"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


def _augcli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "augcli", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _expected_exit(cmd: str) -> int:
    """The docs give 0 as the clean outcome of every command (`exit 0 / 2`, `exit 0 / 1 / 2`, the exit
    code table), and the shipped sample data is clean."""
    return 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "doc,index,commands", _runnable_blocks(), ids=_ids
)
def test_shell_examples_run(doc: str, index: int, commands: list[str], workspace: Path):
    assert commands
    for cmd in commands:
        args = shlex.split(cmd)[1:]
        if args[0] == "check" and not (workspace / args[1]).exists():
            # `augcli check out/` is the step after a run: make that run's output first
            setup = _augcli(["run", "configs/basic.yaml", "-i", "sample_data/yolo", "-o", args[1], "-q"], workspace)
            assert setup.returncode == 0, setup.stderr
        result = _augcli(args, workspace)
        assert result.returncode == _expected_exit(cmd), f"{doc}: {cmd}\n{result.stdout}\n{result.stderr}"
        if args[0] == "run":
            out = workspace / args[args.index("-o") + 1]
            assert (out / "augcli-manifest.jsonl").is_file(), cmd
            fmt = args[args.index("--output-format") + 1] if "--output-format" in args else None
            if fmt == "coco":
                assert list((out / "annotations").glob("*.json")), cmd
            if fmt == "yolo":
                assert (out / "data.yaml").is_file(), cmd
            if "--class-map" in args or "--drop-class" in args:
                _assert_class_filters(args, out)
        if args[0] == "preview":
            target = args[args.index("-o") + 1] if "-o" in args else "preview.png"
            assert (workspace / target).is_file(), cmd
            assert f"written to {target}" in result.stderr + result.stdout
        if args[0] == "validate":
            resolved = workspace / "resolved.yaml"
            resolved.write_text(result.stdout, encoding="utf-8")
            # "the output is itself a valid recipe"
            again = _augcli(["validate", str(resolved)], workspace)
            assert again.returncode == 0, again.stderr
        if args[0] == "check":
            assert "result: clean" in result.stdout


def _assert_class_filters(args: list[str], out: Path) -> None:
    """`--class-map old=new` renames or merges and `--drop-class` removes, in whatever format was written."""
    written = set()
    for ann in (out / "annotations").glob("*.json"):
        written |= {c["name"] for c in json.loads(ann.read_text())["categories"]}
    if (out / "data.yaml").is_file():
        written |= set(yaml.safe_load((out / "data.yaml").read_text())["names"].values())
    assert written, out
    if "--class-map" in args:
        for pair in args[args.index("--class-map") + 1].split(","):
            old, new = pair.split("=")
            assert new in written and old not in written, (pair, written)
    for i, word in enumerate(args):
        if word == "--drop-class":
            assert args[i + 1] not in written, written


@pytest.mark.slow
def test_readme_main_run_writes_what_it_says(workspace: Path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    cmd = _commands(FENCE.search(readme).group(2))[0]
    args = shlex.split(cmd)[1:]
    assert _augcli(args, workspace).returncode == 0
    out = workspace / args[args.index("-o") + 1]
    copies = int(re.search(r"each original, (\d+) augmented copies of each `train`", readme).group(1))
    for train in (workspace / "sample_data/yolo/images/train").iterdir():
        for k in range(1, copies + 1):
            assert (out / "images/train" / f"{train.stem}_aug{k}{train.suffix}").is_file()
            assert (out / "labels/train" / f"{train.stem}_aug{k}.txt").is_file()
        assert not (out / "images/train" / f"{train.stem}_aug{copies + 1}{train.suffix}").exists()
    vals = sorted(p.name for p in (workspace / "sample_data/yolo/images/val").iterdir())
    words = {"two": 2, "three": 3}
    assert len(vals) == words[re.search(r"the sample's (\w+) `val` images are copied once", readme).group(1)]
    assert sorted(p.name for p in (out / "images/val").iterdir()) == vals
    for name in ("data.yaml", "augcli-manifest.jsonl", "augcli-run.json"):
        assert (out / name).is_file(), name
    # "Run it again into the same folder with `--overwrite`"
    assert _augcli(args, workspace).returncode == 2
    assert _augcli([*args, "--overwrite"], workspace).returncode == 0


# --- recipes -------------------------------------------------------------------------------------

def _inline_recipe_lines() -> list[tuple[str, str]]:
    """`- {type: X, ...}` and `{type: X, ...}` recipe entries written inline in the prose."""
    found = []
    for doc in DOCS:
        text = FENCE.sub("", (ROOT / doc).read_text(encoding="utf-8"))
        for m in re.finditer(r"`(-?\s*\{type: [^`]*\})`", text):
            found.append((doc, m.group(1).lstrip("- ").strip()))
    return found


def _yaml_blocks() -> list[tuple[str, int, str]]:
    return _blocks("yaml")


@pytest.mark.parametrize("doc,index,text", _yaml_blocks(), ids=_ids)
def test_yaml_recipe_blocks_validate(doc: str, index: int, text: str, tmp_path: Path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(recipe)])
    assert result.exit_code == 0, f"{doc} block {index}:\n{result.output}"


def test_inline_recipe_entries_validate(tmp_path: Path):
    entries = _inline_recipe_lines()
    if not entries:
        pytest.skip("no inline `- {type: ...}` entries in the docs today (fragments: test_recipe_fragments_in_prose_validate)")
    for doc, entry in entries:
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text(f"pipeline:\n  - {entry}\n", encoding="utf-8")
        result = CliRunner().invoke(cli, ["validate", str(recipe)])
        assert result.exit_code == 0, f"{doc}: {entry}\n{result.output}"


def test_recipe_doc_table_defaults_are_what_validate_fills_in(tmp_path: Path):
    text = (ROOT / "docs/recipes.md").read_text(encoding="utf-8").split("## Transforms", 1)[0]
    table = dict(re.findall(r"^\| `([\w.]+)` \| `([^`]*)` \|", text, re.M))
    recipe = tmp_path / "r.yaml"
    recipe.write_text("pipeline: []\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(recipe)])
    resolved = yaml.safe_load(result.output.split("\n", 1)[1])
    assert len(table) >= 9, table
    for key, documented in table.items():
        value = resolved
        for part in key.split("."):
            value = value[part]
        assert yaml.safe_load(documented) == value, (key, documented, value)


def test_documented_recipe_errors_are_the_real_messages(tmp_path: Path):
    """The sample error lines in recipes.md and checking.md come out of `augcli validate` as shown."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "pipeline:\n  - type: OneOf\n    transforms:\n      - {type: BrightnesContrast}\n"
        "  - {type: Rotate, degrees: [15, -15]}\n  - {type: HorizontalFlp}\n"
        "labels: {min_visiblity: 0.3}\n",
        encoding="utf-8",
    )
    result = _augcli(["validate", "bad.yaml"], tmp_path)
    assert result.returncode == 2
    real = [re.sub(r"bad\.yaml:\d+ pipeline\[\d+\]", "bad.yaml:N pipeline[i]", line) for line in result.stderr.splitlines()]
    real = [re.sub(r"bad\.yaml:\d+ ", "bad.yaml:N ", line) for line in real]
    for doc in ("docs/recipes.md", "docs/checking.md"):
        for line in re.findall(r"^augcli: recipe error: .*$", (ROOT / doc).read_text(encoding="utf-8"), re.M):
            if "expected [lo, hi]" in line:
                continue  # covered by the degrees line below, same shape
            shown = re.sub(r"bad\.yaml:\d+ pipeline\[\d+\]", "bad.yaml:N pipeline[i]", line)
            shown = re.sub(r"bad\.yaml:\d+ ", "bad.yaml:N ", shown)
            prefix = shown.split("...")[0].rstrip("; ,")
            assert any(r.startswith(prefix) or prefix in r for r in real), f"{doc}: {line}\nreal:\n{result.stderr}"
    assert any("degrees: expected [lo, hi] with lo <= hi, got [15, -15]" in r for r in real), result.stderr


# --- Python ----------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("doc,index,text", _blocks("python"), ids=_ids)
def test_python_blocks_run(doc: str, index: int, text: str, workspace: Path):
    script = workspace / "example.py"
    script.write_text(text.replace('"out/"', repr(str(workspace / "py-out"))), encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], cwd=workspace, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{doc} block {index}:\n{result.stderr}"
    assert (workspace / "py-out" / "augcli-manifest.jsonl").is_file()


# --- options and their defaults --------------------------------------------------------------------

def _help(*command: str) -> str:
    result = CliRunner().invoke(cli, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    return " ".join(result.output.split())


def _synopses() -> list[tuple[str, str]]:
    """(command, synopsis) for each `augcli CMD RECIPE ... [--opt]` usage block (plain fences)."""
    out = []
    for doc in DOCS:
        for m in FENCE.finditer((ROOT / doc).read_text(encoding="utf-8")):
            body = m.group(2)
            if m.group(1) == "" and body.startswith("augcli ") and "[" in body:
                out.append((body.split()[1], body))
    return out


def test_usage_synopses_name_real_options_with_real_defaults():
    synopses = _synopses()
    assert {cmd for cmd, _ in synopses} >= {"run", "preview", "check"}
    for cmd, synopsis in synopses:
        helptext = _help(cmd)
        for opt in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", synopsis):
            assert re.search(rf"(?<![\w-]){re.escape(opt)}\b", helptext), (cmd, opt)
        for opt, value in re.findall(r"\[(--?[\w-]+) (\d+|[\w-]+\.[a-z]+)\]", synopsis):
            # "[-n 4]" / "[--tile-height 288]" / "[-o preview.png]" show the default
            options = helptext.split("Options:", 1)[1]
            option_help = options[re.search(rf"(?<![\w-]){re.escape(opt)}\b", options).end():][:400]
            assert re.search(rf"default: {value}\b", option_help), (cmd, opt, value, option_help)


def test_stated_limits_match_run_help():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    helptext = _help("run")
    stated = dict(re.findall(r"`(--max-[\w-]+)` \(default\s+([\d,]+)\)", readme))
    assert set(stated) == {"--max-pixels", "--max-outputs"}, stated
    for opt, value in stated.items():
        option_help = helptext.split(opt, 1)[1][:300]
        assert f"default: {value}]" in option_help, (opt, value, option_help)


def test_worker_defaults_match_help():
    checking = (ROOT / "docs/checking.md").read_text(encoding="utf-8")
    m = re.search(r"\(`-w`, default ([^)]*)\)", checking)
    assert m and f"[default: {m.group(1)}]" in _help("check"), m
    # README: pinning applies with "the default `--workers`", one worker per CPU
    assert "[default: CPU count]" in _help("run")
    assert re.search(r"one worker per CPU the run may use \(the default `--workers`", (ROOT / "README.md").read_text(encoding="utf-8"))


# --- transforms and their defaults -----------------------------------------------------------------

def _cli_defaults(name: str) -> dict[str, str]:
    result = CliRunner().invoke(cli, ["transforms", name], terminal_width=400)
    assert result.exit_code == 0, result.output
    params: dict[str, str] = {}
    current = None
    for line in result.output.split("In a recipe:")[0].splitlines():
        head = re.match(r"^  (\w+)(?:\s|$)", line)
        if head and not line.startswith("   "):
            current = head.group(1)
        m = re.search(r"; default (.*)$", line) or re.search(r"; (required)$", line)
        if current and m:
            params[current] = m.group(1).strip()
    return params


def _same(documented: str, real: str) -> bool:
    if documented == real:
        return True
    try:
        a, b = yaml.safe_load(documented), yaml.safe_load(real)
    except yaml.YAMLError:
        return False
    if isinstance(a, str) and a == "None" and b == "none":
        return True  # see test_transforms_md_shows_yaml_not_python_none
    return a == b or _close(a, b)


def _close(a, b) -> bool:
    """Equal, numbers to the 5 significant digits the CLI prints."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-5 * max(1.0, abs(a), abs(b))
    return a == b


def _transforms_md() -> dict[str, dict[str, str]]:
    text = (ROOT / "docs/transforms.md").read_text(encoding="utf-8")
    sections = re.split(r"^### (\w+)\n", text, flags=re.M)
    tables = {}
    for name, body in zip(sections[1::2], sections[2::2]):
        tables[name] = dict(re.findall(r"^\| `(\w+)` \| `?([^`|]*?)`? \|", body, re.M))
    return tables


def test_transforms_md_defaults_match_cli():
    tables = _transforms_md()
    listing = CliRunner().invoke(cli, ["transforms"]).output
    assert len(tables) >= 50
    for name, table in tables.items():
        assert name in listing, name
        real = _cli_defaults(name)
        assert set(table) == set(real) - {"transforms"}, (name, set(table) ^ set(real))  # containers: prose
        for param, documented in table.items():
            if param in ("transforms",) or documented == "required":
                continue
            assert param in real, (name, param)
            assert _same(documented, real[param]), (name, param, documented, real[param])


def test_readme_catalogue_is_the_registry():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    catalogue = readme.split("### The transform catalogue", 1)[1].split("`sequences:", 1)[0]
    tables = _transforms_md()
    count = int(re.search(r"^(\d+) transforms", catalogue, re.M).group(1))
    assert count == len(tables)
    named = set()
    for line in re.findall(r"^- \*\*[^*]+\*\*[^\n]*(?:\n  [^\n]*)*", catalogue, re.M):
        named |= set(re.findall(r"\b([A-Z][A-Za-z0-9]+)\b", line)) & set(tables)
    assert named == set(tables), set(tables) ^ named


def _cctv_tables() -> list[tuple[str, str, str]]:
    """(transform, parameter, documented default) from docs/cctv.md's tables."""
    text = (ROOT / "docs/cctv.md").read_text(encoding="utf-8")
    rows = []
    for name, cell in re.findall(r"^\| `(\w+)` \| [^|]* \| ([^|]*) \|$", text, re.M):
        for param, value in re.findall(r"`(\w+)` (\[[^\]]*\]|\"[^\"]*\"|[-\w.]+)", cell):
            rows.append((name, param, value))
    return rows


def test_cctv_doc_defaults_match_cli():
    rows = _cctv_tables()
    assert len(rows) >= 45
    cache: dict[str, dict[str, str]] = {}
    for name, param, documented in rows:
        real = cache.setdefault(name, _cli_defaults(name))
        assert param in real, (name, param)
        shown = documented.strip('"')
        assert _same(shown, real[param]) or shown == real[param], (name, param, documented, real[param])


def test_cctv_opacity_in_prose_matches_default():
    text = (ROOT / "docs/cctv.md").read_text(encoding="utf-8")
    lo, hi = re.search(r"`opacity`, default ([\d.]+)[–-]([\d.]+)", text).groups()
    assert yaml.safe_load(_cli_defaults("LensInsect")["opacity"]) == [float(lo), float(hi)]


def test_recipes_md_examples_of_defaults():
    """'`augcli transforms Rotate` shows one in full' and 'p ... (default 1.0)'."""
    assert _cli_defaults("Rotate")["p"] in ("1", "1.0")
    text = (ROOT / "docs/recipes.md").read_text(encoding="utf-8")
    assert "(default 1.0)" in text


def test_benchmark_commands_name_real_options():
    """benchmarks/README.md's commands are not run here (minutes each), but each option exists."""
    text = (ROOT / "benchmarks/README.md").read_text(encoding="utf-8")
    source = (ROOT / "benchmarks/bench.py").read_text(encoding="utf-8")
    opts = set()
    for _, _, block in [b for b in _blocks("bash") if b[0] == "benchmarks/README.md"]:
        opts |= set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", re.sub(r"#.*", "", block)))
    opts |= set(re.findall(r"^\| `(--[\w-]+)", text, re.M))
    assert opts
    for opt in opts:
        assert f'"{opt}"' in source, opt


def test_transforms_md_shows_yaml_not_python_none():
    """A default copied from docs/transforms.md into a recipe must read back as that default: Python's
    None / True / False would be taken as text (MixUp `alpha: None` is refused)."""
    text = (ROOT / "docs/transforms.md").read_text(encoding="utf-8")
    for word in ("None", "True", "False"):
        assert f"| `{word}` |" not in text


def test_cctv_tables_list_every_parameter():
    documented: dict[str, set[str]] = {}
    for name, param, _ in _cctv_tables():
        documented.setdefault(name, set()).add(param)
    for name, params in documented.items():
        assert params == set(_cli_defaults(name)) - {"p"}, name


def test_recipe_fragments_in_prose_validate(tmp_path: Path):
    """Inline `key: value` recipe fragments, and `{...}` values in recipes.md's key table."""
    fragments = []
    top = "version|seed|copies|keep_original|labels|output|augment_splits|sequences|pipeline"
    for doc in DOCS[:4]:
        text = FENCE.sub("", (ROOT / doc).read_text(encoding="utf-8"))
        fragments += re.findall(rf"`((?:{top}): [^`]+)`", text)
    recipes = (ROOT / "docs/recipes.md").read_text(encoding="utf-8")
    for key, cell in re.findall(r"^\| `(\w+)` \| [^|]* \| (.*) \|$", recipes.split("## Transforms")[0], re.M):
        fragments += [f"{key}: {span}" for span in re.findall(r"`(\{[^`]*\}|\[[^`]*\])`", cell)]
    assert len(fragments) >= 6, fragments
    for fragment in fragments:
        recipe = tmp_path / "fragment.yaml"
        body = fragment if fragment.startswith("pipeline:") else f"{fragment}\npipeline: []"
        recipe.write_text(body + "\n", encoding="utf-8")
        result = CliRunner().invoke(cli, ["validate", str(recipe)])
        assert result.exit_code == 0, f"{fragment}\n{result.output}"
    # "a scalar means that fixed value (`degrees: 10` always rotates by 10°)"
    scalar = re.search(r"`(degrees: [\d.]+)` always rotates", recipes).group(1)
    recipe = tmp_path / "scalar.yaml"
    recipe.write_text(f"pipeline:\n  - {{type: Rotate, {scalar}}}\n", encoding="utf-8")
    assert CliRunner().invoke(cli, ["validate", str(recipe)]).exit_code == 0


def test_every_documented_command_line_uses_real_options():
    """Also the commands that cannot run here (S3, Dask, the reader's own folders)."""
    for doc, _, block in _blocks("bash"):
        for cmd in _commands(block):
            words = shlex.split(cmd)
            helptext = _help(words[1])
            for opt in [w.split("=")[0] for w in words[2:] if w.startswith("-")]:
                assert re.search(rf"(?<![\w-]){re.escape(opt)}\b", helptext), (doc, cmd, opt)


@pytest.mark.slow
def test_readme_classify_conversion_claims(workspace: Path):
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    reason = re.search(r"`--output-format classify` needs one class per image: from any other format every image is "
                       r"skipped as `([\w-]+)`[^)]*exit code (\d)\)", readme)
    assert reason, "README's classify paragraph changed"
    result = _augcli(["run", "configs/convert.yaml", "-i", "sample_data/yolo", "-o", "to-classify",
                      "--output-format", "classify", "-q"], workspace)
    assert result.returncode == int(reason.group(2)), result.stderr
    assert f"({reason.group(1)}: 6)" in result.stderr
    records = [json.loads(line) for line in (workspace / "to-classify/augcli-manifest.jsonl").read_text().splitlines()]
    assert {r.get("skipped") for r in records} == {reason.group(1)}, records[:1]
    # "asking for an object format is refused before anything is written"
    refused = _augcli(["run", "configs/convert.yaml", "-i", "sample_data/classify", "-o", "from-classify",
                       "--output-format", "yolo", "-q"], workspace)
    assert refused.returncode == 2 and not (workspace / "from-classify").exists()


def test_benchmark_option_defaults_match_bench_py():
    """The option table in benchmarks/README.md against the `[default; --quick: value]` in bench.py's help."""
    text = (ROOT / "benchmarks/README.md").read_text(encoding="utf-8")
    source = (ROOT / "benchmarks/bench.py").read_text(encoding="utf-8")
    real = {}
    for call in source.split("add_argument(")[1:]:
        m = re.match(r'"(--[\w-]+)".*?\[([^;\]]+)(?:; --quick: ([^\]]+))?\]"', call, re.S)
        if m:
            real[m.group(1)] = (m.group(2).strip(), (m.group(3) or "").strip())
    rows = re.findall(r"^\| `(--[\w-]+)[^`]*` \| `?([\d,]+)`?(?: \(`--quick`: `?([\d,]+)`?\))? \|", text, re.M)
    assert len(rows) >= 6, rows
    for opt, default, quick in rows:
        assert opt in real, opt
        assert (default, quick) == real[opt], (opt, default, quick, real[opt])


def test_check_json_keys_and_problem_line_are_as_documented(workspace: Path):
    text = " ".join((ROOT / "docs/checking.md").read_text(encoding="utf-8").split())
    listed = text.split("`--json` prints the same report as JSON:", 1)[1].split("A run's output", 1)[0]
    problem = listed.partition("(each with")[2]
    keys = re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", listed))  # asides name values and fields
    dataset = workspace / "sample_data/yolo"
    label = dataset / "labels/train/coffee.txt"
    lines = label.read_text().splitlines()
    # the doc's example: line 3 names a class id outside data.yaml's names
    m = re.search(r"`labels/train/a\.txt:(\d+): class id (\d+) is not in the dataset's names \(0\.\.(\d+)\)`", text)
    line_no = int(m.group(1))
    names = len(yaml.safe_load((dataset / "data.yaml").read_text())["names"])
    bad_id = names + 1
    lines = (lines + [lines[0]] * line_no)[: line_no - 1] + [f"{bad_id} 0.5 0.5 0.1 0.1"]
    label.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(cli, ["check", str(dataset), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert keys == list(report), (keys, list(report))
    assert re.findall(r"`(\w+)`", problem.split(")")[0]) == list(report["problems"][0])
    shown = re.sub(r"\(0\.\.\d+\)", f"(0..{names - 1})", m.group(0).strip("`"))
    shown = shown.replace("a.txt", "coffee.txt").replace(f"class id {m.group(2)}", f"class id {bad_id}")
    human = CliRunner().invoke(cli, ["check", str(dataset)])
    assert shown in human.output, (shown, human.output)


def test_cctv_doc_recipe_is_the_shipped_config():
    """docs/cctv.md shows configs/cctv.yaml's pipeline; the two must not drift apart."""
    block = next(text for doc, _, text in _blocks("yaml") if doc == "docs/cctv.md")
    config = yaml.safe_load((ROOT / "configs/cctv.yaml").read_text(encoding="utf-8"))
    assert yaml.safe_load(block)["pipeline"] == config["pipeline"]


def test_recipes_md_container_parameters_exist():
    text = (ROOT / "docs/recipes.md").read_text(encoding="utf-8")
    section = text.split("### Containers", 1)[1].split("###", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]*) \|", section, re.M)
    assert {name for name, _ in rows} == {"Sequential", "OneOf", "SomeOf", "RandomOrder"}
    for name, cell in rows:
        real = _cli_defaults(name)
        for param, default in re.findall(r"`(\w+)(?:: ([^`]*))?`", cell):
            assert param in real, (name, param)
            if default:
                assert _same(default.replace("lo", "1").replace("hi", "2"), real[param]) or default == "[lo, hi]", (name, param)


@pytest.mark.slow
def test_readme_splits_example_does_what_the_text_says(workspace: Path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    text = " ".join(readme.split())
    cmd = next(c for _, _, b in _blocks("bash") for c in _commands(b) if "--splits" in c and "sample_data/voc" in c)
    claim = re.search(r"with `configs/basic\.yaml`'s seed all six `sample_data/voc` images land in `(\w+)`", text)
    assert claim and "configs/basic.yaml" in cmd
    args = shlex.split(cmd)[1:]
    assert _augcli([*args, "-q"], workspace).returncode == 0
    out = workspace / args[args.index("-o") + 1]
    assert sorted(p.name for p in (out / "images").iterdir()) == [claim.group(1)]
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["val"] == data["train"] == f"images/{claim.group(1)}"


@pytest.mark.slow
def test_readme_commands_on_the_readers_own_folders(workspace: Path):
    """The nightly `--resume` job and the summary/drop-rate gate name the reader's folders; with the
    sample data as input they work as the text says: the first night and every later one exit 0, and
    the summary holds counts by reason and class, the drop rate and the timing."""
    commands = [c for _, _, b in _blocks("bash") for c in _commands(b)
                if re.search(r"-i\s+(/data/|data/)", c) and "--executor" not in c]
    assert len(commands) >= 2, commands
    for cmd in commands:
        args = shlex.split(re.sub(r"-i\s+\S+", "-i sample_data/yolo", cmd))[1:]
        out = args[args.index("-o") + 1]
        args[args.index("-o") + 1] = out = "outputs/" + out.strip("/").replace("/", "_")
        if "--summary-json" in args:
            args[args.index("--summary-json") + 1] = "outputs/summary.json"
        for _night in range(2 if "--resume" in args else 1):
            result = _augcli(args, workspace)
            assert result.returncode == 0, (cmd, result.stderr)
        if "--summary-json" in args:
            summary = json.loads((workspace / "outputs/summary.json").read_text())
            assert {"skipped_by_reason", "classes", "seconds"} <= set(summary)
            assert "drop_rate" in summary["objects"]


def _bench_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("augcli_bench_doc", ROOT / "benchmarks" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def test_benchmark_recipes_are_as_described(tmp_path: Path):
    """'HorizontalFlip 0.5, Rotate ±15° 0.7, …, 3 copies, JPEG q95' and LIGHT 'only' flip and colour;
    both with keep_original false; and both valid recipes."""
    text = " ".join((ROOT / "benchmarks/README.md").read_text(encoding="utf-8").split())
    bench = _bench_module()
    standard = re.search(r"\| augcli STANDARD \| `[^`]*` through the CLI entry point: ([^|]*) \|", text).group(1)
    light = re.search(r"\| augcli LIGHT \| the same with ([^|]*) only \|", text).group(1)
    assert "keep_original: false" in text.replace("`", "")
    for name, described in (("standard", standard), ("light", light)):
        recipe = yaml.safe_load(bench.RECIPES[name])
        ops = [(op["type"], op.get("p", 1.0)) for op in recipe["pipeline"]]
        assert ops == [(t, float(p)) for t, p in re.findall(r"([A-Z]\w+)(?: ±[\d.]+°)? ([\d.]+)", described)], (name, ops)
        assert recipe["keep_original"] is False
        if name == "standard":
            assert f"{recipe['copies']} copies" in described and f"JPEG q{recipe['output']['jpeg_quality']}" in described
            lo, hi = recipe["pipeline"][1]["degrees"]
            assert f"Rotate ±{hi}°" in described and lo == -hi
        path = tmp_path / f"{name}.yaml"
        path.write_text(bench.RECIPES[name], encoding="utf-8")
        assert CliRunner().invoke(cli, ["validate", str(path)]).exit_code == 0


@pytest.mark.parametrize("recipe,says", [
    ("pipeline:\n  - {type: Rotate, degrees: [.nan, 1]}\n", "finite"),
    ("pipeline:\n  - {type: Rotate, degrees: .inf}\n", "finite"),
    ("seed: !!python/object:os.system x\npipeline: []\n", "not allowed"),
    ("labels: {min_visiblity: 0.3}\npipeline: []\n", "did you mean min_visibility"),
])
def test_recipes_md_validation_promises(recipe: str, says: str, tmp_path: Path):
    """'tags such as `!!python/object` are refused', 'NaN and infinite numbers are refused', 'a misspelt
    `min_visiblity`' is an error: exit 2, and nothing written."""
    text = " ".join((ROOT / "docs/recipes.md").read_text(encoding="utf-8").split())
    assert "NaN and infinite numbers are refused" in text and "`!!python/object` are refused" in text
    path = tmp_path / "bad.yaml"
    path.write_text(recipe, encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2 and says in result.output, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def _saved_result(label: str) -> Path:
    """The one saved benchmark result of a README list entry (a commit, maybe with a suffix)."""
    (result,) = (ROOT / "benchmarks/results").glob(f"*-vm-images300-*at-{label}.md")
    return result


def _throughput_rows(result: Path) -> list[tuple[str, str, float, float]]:
    """(workers, case, × floor, × floor (CPU)) of each row of a result's throughput table."""
    table = result.read_text().split("| workers | case | img/s", 1)[1].split("\n\n", 1)[0]
    return [(w, case, float(ratio), float(ratio_cpu)) for w, case, ratio, ratio_cpu in re.findall(
        r"^\| ([12]) \| ([^|]+?) \| [^|]+ \| ([\d.]+) \| ([\d.]+) \|", table, re.M)]


def _targets_met(results: list[Path]) -> dict[str, int]:
    """How many of the results' STANDARD and LIGHT × floor targets (1 and 2 workers) say 'met'."""
    met = {"STANDARD": 0, "LIGHT": 0}
    for result in results:
        for recipe, verdict in re.findall(
                r"^\| (STANDARD|LIGHT) ≥ [\d.]+× floor, [12] worker\(s\) \| [^|]+ \| ([^|]+) \|", result.read_text(), re.M):
            met[recipe] += verdict.strip() == "met"
    return met


def test_readme_performance_table_is_the_saved_results():
    """The README's `× floor` ranges are min–max over the result files it names."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    hashes = re.search(r"at-\{([0-9a-f,]+)\}\.md", readme).group(1).split(",")
    words = {"eleven": 11, "twelve": 12, "ten": 10}
    assert len(hashes) == words[re.search(r"in the (\w+) runs since workers are pinned", readme).group(1)]
    ratios: dict[tuple[str, str], list[float]] = {}
    for h in hashes:
        for workers, case, ratio, _ in _throughput_rows(_saved_result(h)):
            ratios.setdefault((case, workers), []).append(ratio)
    columns = {"augcli": "augcli {}", "hand-written OpenCV": "hand-written OpenCV {}", "Albumentations": "albumentations {}"}
    for recipe, cells in re.findall(r"^\| (standard|light) \| ≥ [\d.]+× \| (.*) \|$", readme, re.M):
        for (label, case), cell in zip(columns.items(), cells.split(" | ")):
            if cell.strip() == "—":
                continue
            for workers, shown in zip("12", cell.split(" / ")):
                values = ratios[(case.format(recipe.upper()), workers)]
                assert len(values) == len(hashes)
                assert shown.strip() == f"{min(values):.2f}–{max(values):.2f}", (recipe, label, workers, sorted(values))


def test_readme_tiled_warp_table_is_the_saved_results():
    """The runs since the tiled warps: 'at-2cb68ef{,-b,-c,-d}.md' and their table of `× floor` and
    `× floor (CPU)` ranges (1 worker / 2 workers), min–max over those result files."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    base, suffixes = re.search(r"images300-at-([0-9a-f]+)\{([^}]*)\}\.md", readme).groups()
    files = [_saved_result(base + s) for s in suffixes.split(",")]
    assert len(files) >= 3
    wall: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    for result in files:
        for workers, case, ratio, ratio_cpu in _throughput_rows(result):
            wall.setdefault((case, workers), []).append(ratio)
            cpu.setdefault((case, workers), []).append(ratio_cpu)
    rows = re.findall(r"^\| (STANDARD|LIGHT) \| ≥ [\d.]+× \| (.*) \|$", readme, re.M)
    assert [r for r, _ in rows] == ["STANDARD", "LIGHT"]
    columns = ("augcli {}", "augcli {}", "hand-written OpenCV {}", "albumentations {}")
    for recipe, cells in rows:
        for column, (case, cell) in enumerate(zip(columns, cells.split(" | "))):
            if cell.strip() == "—":
                continue
            source = cpu if column == 1 else wall
            for workers, shown in zip("12", cell.split(" / ")):
                values = source[(case.format(recipe), workers)]
                assert len(values) == len(files)
                assert shown.strip() == f"{min(values):.2f}–{max(values):.2f}", (recipe, column, workers, sorted(values))
    met = _targets_met(files)
    said = re.search(r"The standard recipe meets 0.45× in (\d+) of these (\d+) measurements and the light one 0.8× in "
                     r"(\d+) of (\d+);", " ".join(readme.split()))
    assert said and [int(v) for v in said.groups()] == [met["STANDARD"], 2 * len(files), met["LIGHT"], 2 * len(files)]


def _check_runs_paragraph(start: str, end: str) -> tuple[str, list[str]]:
    """A README paragraph on two benchmark runs (from `start` to `end`): each `× floor` it quotes
    (augcli standard and light, the script's standard; 1 worker / 2 workers) is its result
    file's, and the per-repetition range it gives is the one in their JSON. Returns the
    paragraph and the result files it names."""
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    para = readme[readme.index(start):readme.index(end)]
    names = re.findall(r"`benchmarks/results/(\S+\.md)`", para)
    assert len(names) == 2
    pair = r"([\d.]+) / ([\d.]+)"
    m = re.search(rf"standard recipe at {pair} and {pair}× the floor, the light one at {pair} and {pair}×, "
                  rf"and the hand-written OpenCV script's standard recipe at {pair} and {pair}×", para)
    assert m, "README's sentence on the two runs changed"
    shown = [float(v) for v in m.groups()]
    cases = ("augcli STANDARD", "augcli LIGHT", "hand-written OpenCV STANDARD")
    expected = []
    for case in cases:
        for name in names:
            rows = {(w, c): r for w, c, r, _ in _throughput_rows(ROOT / "benchmarks/results" / name)}
            expected += [rows[("1", case)], rows[("2", case)]]
    assert shown == expected
    per_rep = []
    for name in names:
        runs = json.loads((ROOT / "benchmarks/results" / name).with_suffix(".json").read_text())
        runs = runs.get("throughput", runs)["runs"]
        for w in ("1", "2"):
            per_rep += [round(a["rate"] / b["rate"], 2) for a, b in zip(runs["augcli STANDARD"][w], runs["floor"][w])]
    m = re.search(r"moved between ([\d.]+) and ([\d.]+) from one repetition to the next", para)
    assert m and (float(m.group(1)), float(m.group(2))) == (min(per_rep), max(per_rep))
    return para, names


def test_readme_opencv51_runs_are_the_saved_results():
    _check_runs_paragraph("With OpenCV 5.1.0", "Since 8cf9fd1 the benchmark waits")


def test_readme_settled_runs_are_the_saved_results():
    """The paragraph on the runs since the benchmark settles file creation first: its ratios, and
    the 2-worker scaling it quotes is each result's scaling table."""
    para, names = _check_runs_paragraph("Since 8cf9fd1 the benchmark waits", "Since d829be8 the benchmark also runs")
    _check_scaling_sentence(para, names)
    for name in names:  # both were measured after the settle: the report gives the cost it found
        assert "Creating an empty file in the scratch folder:" in (ROOT / "benchmarks/results" / name).read_text()


def _check_scaling_sentence(para: str, names: list[str]) -> None:
    """The 2-worker scaling a runs paragraph quotes is each of its result files' scaling table."""
    m = re.search(r"2 workers made ([\d.]+) and ([\d.]+)× the img/s of 1 worker with the standard recipe and "
                  r"([\d.]+) and ([\d.]+)× with the light one, the floor itself ([\d.]+) and ([\d.]+)×", para)
    assert m, "README's scaling sentence changed"
    expected = []
    for case in ("augcli STANDARD", "augcli LIGHT", "floor"):
        for name in names:
            table = (ROOT / "benchmarks/results" / name).read_text().split("| case | 2w / 1w |", 1)[1]
            expected.append(float(re.search(rf"^\| {case} \| ([\d.]+) \|", table, re.M).group(1)))
    assert [float(v) for v in m.groups()] == expected


def test_readme_idle_filter_runs_are_the_saved_results():
    """The paragraph on the runs since the idle rerun and the pipe pool: its ratios and scaling are
    its two result files', and the busier run it quotes between them is d829be8's `-b` result."""
    para, names = _check_runs_paragraph("Since d829be8 the benchmark also runs", "Since 54b94ec the pool hands")
    _check_scaling_sentence(para, names)
    busier = ROOT / "benchmarks/results/2026-12-02-vm-images300-at-d829be8-b.md"
    rows = {(w, c): r for w, c, r, _ in _throughput_rows(busier)}
    m = re.search(r"read ([\d.]+) / ([\d.]+) and ([\d.]+) / ([\d.]+)×, with the light recipe's 2 workers at ([\d.]+)× of 1", para)
    assert m, "README's sentence on the busier run changed"
    scaling = float(re.search(r"^\| augcli LIGHT \| ([\d.]+) \|", busier.read_text().split("| case | 2w / 1w |", 1)[1], re.M).group(1))
    assert [float(v) for v in m.groups()] == [rows[("1", "augcli STANDARD")], rows[("2", "augcli STANDARD")],
                                              rows[("1", "augcli LIGHT")], rows[("2", "augcli LIGHT")], scaling]
    discarded = re.search(r"Runs discarded and repeated .*?: (\d+); kept runs", busier.read_text()).group(1)
    assert re.search(r"three of its cases rerun for idling", para) and discarded == "3"


def test_readme_guided_chunk_runs_are_the_saved_results():
    """The paragraph on the runs since the pool's guided chunks and the benchmark's `python -c` cases:
    its ratios, scaling, the script comparison and the two medians under the line are its result files'."""
    para, names = _check_runs_paragraph("Since 54b94ec the pool hands", "A longer run of the same code, 7 repetitions")
    _check_scaling_sentence(para, names)
    against: dict[str, list[float]] = {"STANDARD": [], "LIGHT": []}
    medians = []
    for name in names:
        text = (ROOT / "benchmarks/results" / name).read_text()
        for recipe, times in re.findall(r"augcli (STANDARD|LIGHT) against the hand-written OpenCV \1 script, "
                                        r"\d worker\(s\) \| ([\d.]+)× its img/s", text):
            against[recipe].append(float(times))
        runs = json.loads((ROOT / "benchmarks/results" / name).with_suffix(".json").read_text())["throughput"]["runs"]
        for w in ("1", "2"):
            medians.append(statistics.median(a["rate"] / b["rate"] for a, b in zip(runs["augcli STANDARD"][w], runs["floor"][w])))
    m = re.search(r"augcli made ([\d.]+)–([\d.]+)× the script's img/s on the standard recipe and ([\d.]+)–([\d.]+)× on "
                  r"the light one", para)
    assert m and [float(v) for v in m.groups()] == [min(against["STANDARD"]), max(against["STANDARD"]),
                                                    min(against["LIGHT"]), max(against["LIGHT"])]
    under = sorted(round(v, 3) for v in medians if v < 0.45)
    m = re.search(r"two of its four medians fell just under the line \(([\d.]+) both times\)", para)
    assert m and under == [float(m.group(1))] * 2, under


def test_readme_seven_repetition_run_is_the_saved_result():
    """The paragraph on the 7-repetition run: its ratios, per-repetition ranges, scaling and the other
    targets' values are that result's, every target there says met, and the pooled 2-worker figures
    are over the repetitions of it and the two runs of the paragraph before."""
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    para = readme[readme.index("A longer run of the same code, 7 repetitions"):
                  readme.index("Recipes that shrink to a training size first")]
    (name,) = re.findall(r"`benchmarks/results/(\S+\.md)`", para)
    result = ROOT / "benchmarks/results" / name
    text = result.read_text()
    runs = json.loads(result.with_suffix(".json").read_text())["throughput"]["runs"]
    assert len(runs["floor"]["1"]) == 7 and "--reps 7" in text
    rows = {(w, c): r for w, c, r, _ in _throughput_rows(result)}
    ratios = {w: [a["rate"] / b["rate"] for a, b in zip(runs["augcli STANDARD"][w], runs["floor"][w])] for w in "12"}
    m = re.search(r"standard recipe at ([\d.]+) / ([\d.]+)× the floor \(per repetition ([\d.]+)–([\d.]+) and "
                  r"([\d.]+)–([\d.]+)\), the light one at ([\d.]+) / ([\d.]+)×, 2 workers at ([\d.]+) and ([\d.]+)× the "
                  r"img/s of 1 \(the floor ([\d.]+)×\), (\d+) MB per worker at 1920×1080, the parent \+([\d.]+) MB from "
                  r"1,000 to 100,000 files, `augcli --help` in ([\d.]+) s and a 10-image run in ([\d.]+) s", para)
    assert m, "README's sentence on the 7-repetition run changed"
    scaling = {c: float(v) for c, v in re.findall(r"^\| (floor|augcli STANDARD|augcli LIGHT) \| ([\d.]+) \|",
                                                  text.split("| case | 2w / 1w |", 1)[1], re.M)}
    others = [re.search(pattern, text, re.M).group(1) for pattern in (
        r"^\| ≤ 150 MB RSS per worker at 1920x1080 \| (\d+) MB", r"^\| parent memory flat.* \| \+([\d.]+) MB \|",
        r"^\| `augcli --help` < 0.3 s \| ([\d.]+) s \|", r"^\| run on 10 images < 1.0 s \| ([\d.]+) s \|")]
    expected = [rows[("1", "augcli STANDARD")], rows[("2", "augcli STANDARD")],
                round(min(ratios["1"]), 2), round(max(ratios["1"]), 2), round(min(ratios["2"]), 2), round(max(ratios["2"]), 2),
                rows[("1", "augcli LIGHT")], rows[("2", "augcli LIGHT")],
                scaling["augcli STANDARD"], scaling["augcli LIGHT"], scaling["floor"], *map(float, others)]
    assert [float(v) for v in m.groups()] == expected
    verdicts = re.findall(r"^\| [^|]+ \| [^|]+ \| (met|\*\*MISSED\*\*) \|$", text.split("## Targets", 1)[1], re.M)
    assert len(verdicts) >= 10 and set(verdicts) == {"met"}
    pooled = list(ratios["2"])
    for before in ("20c1c18", "20c1c18-b"):
        old = json.loads(_saved_result(before).with_suffix(".json").read_text())["throughput"]["runs"]
        pooled += [a["rate"] / b["rate"] for a, b in zip(old["augcli STANDARD"]["2"], old["floor"]["2"])]
    m = re.search(r"over the (\d+) repetitions of these three runs its ratio was ([\d.]+)–([\d.]+), median (\d\.\d+)", para)
    assert m and [float(v) for v in m.groups()] == [len(pooled), round(min(pooled), 2), round(max(pooled), 2),
                                                     round(statistics.median(pooled), 2)]


def test_readme_latest_run_is_the_saved_result():
    """The performance section's opening names the last run and its ratios, and every target in it says met."""
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    m = re.search(r"and so did a 3-repetition run at the final commit of that session \(`benchmarks/results/(\S+\.md)`: "
                  r"the standard recipe at ([\d.]+) / ([\d.]+)×, the light one at ([\d.]+) / ([\d.]+)×\)", readme)
    assert m, "README's sentence on the latest run changed"
    result = ROOT / "benchmarks/results" / m.group(1)
    rows = {(w, c): r for w, c, r, _ in _throughput_rows(result)}
    assert [float(v) for v in m.groups()[1:]] == [rows[("1", "augcli STANDARD")], rows[("2", "augcli STANDARD")],
                                                  rows[("1", "augcli LIGHT")], rows[("2", "augcli LIGHT")]]
    verdicts = re.findall(r"^\| [^|]+ \| [^|]+ \| (met|\*\*MISSED\*\*) \|$", result.read_text().split("## Targets", 1)[1], re.M)
    assert len(verdicts) >= 10 and set(verdicts) == {"met"}


def test_readme_shrink_comparison_is_the_saved_result():
    """The README's side-by-side numbers for recipes that shrink first are the saved --compare
    report's rows (mean, min–max and the count of cheaper pairs)."""
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    name = re.search(r"`benchmarks/results/(\S+-compare-shrink-\S+\.md)`", readme).group(1)
    report = (ROOT / "benchmarks/results" / name).read_text()
    rows = {recipe: (mean, lo, hi, cheaper, pairs) for recipe, pairs, mean, lo, hi, cheaper in re.findall(
        r"^\| (\w+) \| (\d+) \| ([\d.]+) \| ([\d.]+) - ([\d.]+) \| (\d+) of \d+ \|", report, re.M)}
    m = re.search(r"SHRINK recipe \(.*?\) used ([\d.]+)× the CPU \(([\d.]+)–([\d.]+), (\d+) of (\d+) pairs cheaper\), "
                  r"the standard recipe ([\d.]+)×", readme)
    assert m, "README's shrink comparison sentence changed"
    mean, lo, hi, cheaper, pairs, standard = m.groups()
    got_mean, got_lo, got_hi, got_cheaper, got_pairs = rows["SHRINK"]
    assert (float(mean), float(lo), float(hi)) == (round(float(got_mean), 2), round(float(got_lo), 2), round(float(got_hi), 2))
    assert (cheaper, pairs) == (got_cheaper, got_pairs)
    assert float(standard) == round(float(rows["STANDARD"][0]), 2)


def test_readme_scaling_ranges_are_the_saved_results():
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    hashes = re.search(r"at-\{([0-9a-f,]+)\}\.md", readme).group(1).split(",")
    scaling: dict[str, list[float]] = {}
    for h in hashes:
        table = _saved_result(h).read_text().split("| case | 2w / 1w |", 1)[1].split("\n\n", 1)[0]
        for case, value in re.findall(r"^\| ([^|]+?) \| ([\d.]+) \|", table, re.M):
            scaling.setdefault(case, []).append(float(value))
    m = re.search(r"2 workers give ([\d.]+)–([\d.]+)× the throughput of 1 on the standard recipe and "
                  r"([\d.]+)–([\d.]+)× on the light one \(target [\d.]+×; the floor itself ([\d.]+)–([\d.]+)×\)", readme)
    assert m, "README's scaling sentence changed"
    shown = [float(v) for v in m.groups()]
    for case, (lo, hi) in zip(("augcli STANDARD", "augcli LIGHT", "floor"), zip(shown[::2], shown[1::2])):
        assert (min(scaling[case]), max(scaling[case])) == (lo, hi), (case, sorted(scaling[case]))


def test_readme_target_counts_are_the_saved_verdicts():
    """'the light recipe in 17 of 22 measurements … the standard recipe in 7 of 22': the results' own verdicts."""
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    hashes = re.search(r"at-\{([0-9a-f,]+)\}\.md", readme).group(1).split(",")
    met = _targets_met([_saved_result(h) for h in hashes])
    light = re.search(r"the light recipe in (\d+) of (\d+) measurements", readme)
    standard = re.search(r"the standard recipe in (\d+) of (\d+)\.", readme)
    assert (int(light.group(1)), int(light.group(2))) == (met["LIGHT"], 2 * len(hashes))
    assert (int(standard.group(1)), int(standard.group(2))) == (met["STANDARD"], 2 * len(hashes))

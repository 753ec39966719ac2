"""Command line: parse, call augcli.api, print, exit codes. No image logic here.

Exit codes: 0 everything processed; 1 finished but some inputs were skipped; 2 usage,
recipe or input error before any work; 130 / 143 stopped by SIGINT (Ctrl-C) / SIGTERM.
Heavy modules (numpy, OpenCV) are imported inside commands so `--help` stays fast."""
from __future__ import annotations

import sys
import time

import click

from augcli import __version__

EXIT_OK, EXIT_SKIPPED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"augcli: error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="augcli")
def main() -> None:
    """Grow a labelled image dataset offline: a YAML recipe names transforms and how many
    augmented copies to make; augcli writes the images with their labels moved exactly.

    \b
    Start here:
      augcli run configs/basic.yaml -i sample_data/yolo -o out/      augment a YOLO dataset
      augcli transforms                                              list every transform
      augcli transforms Rotate                                       one transform in full
      augcli validate configs/basic.yaml                             check a recipe, show defaults

    Recipes are documented in docs/recipes.md.
    """


class _Progress:
    """tqdm on a terminal; a plain line every few seconds otherwise (cron and CI logs)."""

    def __init__(self, quiet: bool, every: float = 10.0):
        self.quiet = quiet
        self.every = every
        self.bar = None
        self.started = time.monotonic()
        self.last = self.started

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if sys.stderr.isatty():
            if self.bar is None:
                from tqdm import tqdm

                tqdm.monitor_interval = 0
                self.bar = tqdm(total=total, unit="img", file=sys.stderr, dynamic_ncols=True)
            self.bar.update(done - self.bar.n)
            return
        now = time.monotonic()
        if now - self.last >= self.every or done == total:
            self.last = now
            rate = done / max(now - self.started, 1e-9)
            eta = (total - done) / rate if rate > 0 else 0
            click.echo(f"augcli: {done}/{total} images ({100 * done / max(total, 1):.0f}%), "
                       f"{rate:.1f} img/s, eta {eta:.0f}s", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("-i", "--input", "input_", required=True, type=click.Path(), help="Input dataset folder.")
@click.option("-o", "--output", required=True, type=click.Path(), help="Output folder (must be empty, see --overwrite).")
@click.option("-w", "--workers", type=click.IntRange(1, 512), default=None, help="Worker processes [default: CPU count].")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None, help="Override the recipe's seed.")
@click.option("-n", "--copies", type=click.IntRange(0, 100_000), default=None, help="Override the recipe's copies per image.")
@click.option("--limit", type=click.IntRange(0), default=None, help="Only the first N input images (sorted by path).")
@click.option("--input-format", default=None, help="Input format [default: detected from the folder].")
@click.option("--output-format", default=None, help="Output format [default: the input's].")
@click.option("--splits", default=None, metavar="NAME=FRAC,...",
              help="Re-split deterministically, e.g. train=0.8,val=0.2 (all copies of an image stay together).")
@click.option("--class-map", default=None, metavar="OLD=NEW,...", help="Rename or merge classes.")
@click.option("--drop-class", multiple=True, metavar="NAME", help="Drop a class (repeatable).")
@click.option("--keep-class", multiple=True, metavar="NAME", help="Keep only these classes (repeatable).")
@click.option("--dry-run", is_flag=True, help="Validate and count; write nothing.")
@click.option("--overwrite", is_flag=True, help="Replace a previous augcli run in OUTPUT (files listed in its manifest).")
@click.option("-q", "--quiet", is_flag=True, help="No progress, only warnings and errors.")
def run(recipe, input_, output, workers, seed, copies, limit, input_format, output_format, splits, class_map,
        drop_class, keep_class, dry_run, overwrite, quiet):
    """Augment the dataset in INPUT into OUTPUT following RECIPE.

    OUTPUT mirrors the input layout: each original (byte copy, unless the recipe sets
    keep_original: false), N augmented copies named <stem>_aug<k>, a label file for every
    image, data.yaml, and augcli-manifest.jsonl recording every applied op.

    \b
    Examples:
      augcli run configs/basic.yaml -i sample_data/yolo -o out/ -w 4
      augcli run configs/convert.yaml -i sample_data/yolo -o out-coco/ --output-format coco
    """
    from augcli import api
    from augcli.errors import AugcliError, RecipeError

    progress = _Progress(quiet)
    try:
        rename = _parse_pairs(class_map, "--class-map") if class_map else None
        report = api.run(recipe, input_, output, workers=workers, seed=seed, copies=copies, limit=limit,
                         dry_run=dry_run, overwrite=overwrite, input_format=input_format,
                         output_format=output_format, splits=api.parse_splits(splits) if splits else None,
                         class_rename=rename, drop_classes=drop_class, keep_classes=keep_class or None,
                         progress=progress, log=(lambda line: None if quiet and line.startswith("augcli: input format")
                                                 else click.echo(line, err=True)))
    except RecipeError as exc:
        progress.close()
        for issue in exc.issues:
            click.echo(f"augcli: recipe error: {issue}", err=True)
        sys.exit(EXIT_USAGE)
    except AugcliError as exc:
        progress.close()
        _fail(str(exc))
    progress.close()
    if dry_run:
        sys.exit(EXIT_OK)
    summary = (f"augcli: {report.processed}/{report.inputs} inputs ({report.input_format}) -> "
               f"{report.outputs} images in {output} in {report.seconds:.1f}s; "
               f"objects in {report.objects_in}, written {report.objects_out}")
    if report.dropped:
        summary += " (dropped: " + ", ".join(f"{k} {v}" for k, v in sorted(report.dropped.items())) + ")"
    if not quiet or report.skipped:
        click.echo(summary, err=True)
    if report.skipped:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(report.skipped_by_reason.items()))
        click.echo(f"augcli: skipped {len(report.skipped)} inputs ({reasons}); see the messages above "
                   "and the manifest", err=True)
    if report.interrupted:
        click.echo("augcli: interrupted; finished outputs are listed in the manifest", err=True)
    sys.exit(report.exit_code)


@main.command()
@click.argument("name", required=False)
def transforms(name):
    """List every transform with its parameters and defaults, or show one in full."""
    from augcli.transforms.base import REQUIRED
    from augcli.transforms.registry import FAMILIES, FAMILY_TITLES, registry, suggest

    reg = registry()
    if name:
        if name not in reg:
            near = suggest(name)
            _fail(f"unknown transform {name!r}" + (f"; did you mean {', '.join(near)}?" if near else ""))
        reg = {name: reg[name]}
    for family in FAMILIES:
        members = sorted((n, c) for n, c in reg.items() if c.family == family)
        if not members:
            continue
        if not name:
            click.echo(f"{FAMILY_TITLES[family]}:")
        for tname, cls in members:
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            params = [(k, s.default, s.help, s.kind()) for k, s in cls.params.items()]
            if family == "meta":
                params.insert(0, ("transforms", REQUIRED, "the child transforms", "list of transforms"))
            params.append(("p", 1.0, "probability of applying the transform", "float in [0, 1]"))
            if name:
                click.echo(f"{tname} ({FAMILY_TITLES[family]})\n  {doc}\n\nParameters:")
                for pname, default, help_, kind in params:
                    shown = "required" if default is REQUIRED else f"default {_show_default(default)}"
                    click.echo(f"  {pname:<12} {help_}\n  {'':<12} {kind}; {shown}")
                example = {k: ("..." if d is REQUIRED else _show_default(d)) for k, d, _, _ in params if k != "p"}
                click.echo("\nIn a recipe:\n  - {type: " + tname + "".join(f", {k}: {v}" for k, v in example.items())
                           + ", p: 1.0}")
                continue
            click.echo(f"  {tname:<20} {doc}")
            inline = "  ".join(f"{k}={'REQUIRED' if d is REQUIRED else _show_default(d)}" for k, d, _, _ in params)
            click.echo(f"  {'':<20} {inline}")
        if not name:
            click.echo("")
    if not name:
        click.echo("Ranges are [lo, hi] sampled uniformly, or a single fixed value. "
                   "`augcli transforms NAME` shows one in full.")


def _parse_pairs(text: str, option: str) -> dict[str, str]:
    from augcli.errors import UsageError

    out = {}
    for part in text.split(","):
        old, sep, new = part.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise UsageError(f"{option}: expected old=new pairs separated by commas, got {text!r}")
        out[old.strip()] = new.strip()
    return out


def _show_default(value) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) + "]"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
def validate(recipe):
    """Check RECIPE without touching data and print it with every default filled in.

    Exit code 0 when valid, 2 when not (every problem is listed)."""
    from augcli.errors import RecipeError
    from augcli.recipe import dump_recipe, load_recipe

    try:
        r = load_recipe(recipe)
    except RecipeError as exc:
        for issue in exc.issues:
            click.echo(f"augcli: recipe error: {issue}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"# {recipe}: valid; resolved with every default:")
    click.echo(dump_recipe(r), nl=False)

"""Command line: parse, call augcli.api, print, exit codes. No image logic here.

Exit codes: 0 everything processed; 1 finished but some inputs were skipped (or stopped at the
first one with --on-error fail); 2 usage, recipe or input error before any work; 3 an output
error stopped the run (disk full, read-only, output folder removed); 130 / 143 stopped by
SIGINT (Ctrl-C) / SIGTERM.
Heavy modules (numpy, OpenCV) are imported inside commands so `--help` stays fast."""
from __future__ import annotations

import os
import sys
import textwrap
import time

import click

from augcli import __version__

EXIT_OK, EXIT_SKIPPED, EXIT_USAGE, EXIT_OUTPUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _say(line: str) -> None:
    """A line for the user on stderr. A stderr that leads nowhere (its reader gone: `2>&1 | head -1`, a
    log collector that died; or closed: `2>&-`) must not stop a run half-way, with exit code 1 and no
    dataset files: the run goes on and ends as it would, its outcome in the exit code, the manifest and
    --summary-json; the lines left are dropped (sys.stderr becomes os.devnull)."""
    try:
        click.echo(line, err=True)
    except (OSError, ValueError):  # BrokenPipeError, EBADF; ValueError: stderr closed by other code
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (stays open: the new stderr)


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    _say(f"augcli: error: {message}")
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="augcli")
def main() -> None:
    """Grow a labelled image dataset offline: a YAML recipe names transforms and how many
    augmented copies to make; augcli writes the images with their labels moved exactly.

    \b
    Start here:
      augcli run configs/basic.yaml -i sample_data/yolo -o out/     augment a YOLO dataset
      augcli transforms                                             list every transform
      augcli transforms Rotate                                      one transform in full
      augcli validate configs/basic.yaml                            check a recipe, show defaults
      augcli preview configs/basic.yaml sample_data/yolo            draw what a run would make
      augcli check out/                                             check a dataset (e.g. the output)

    Recipes are documented in docs/recipes.md; preview and check in docs/checking.md.
    """
    from augcli.executor import BLAS_THREADS_ENV

    # before numpy is imported by any command: see augcli.executor.single_threaded_blas
    os.environ.setdefault(BLAS_THREADS_ENV, "1")


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
            _say(f"augcli: {done}/{total} images ({100 * done / max(total, 1):.0f}%), "
                 f"{rate:.1f} img/s, eta {eta:.0f}s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("-i", "--input", "input_", required=True, type=click.Path(),
              help="Input dataset folder, or a URL: s3://bucket/raw, gs://..., az://..., memory://...")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Output folder or URL (must be empty, see --overwrite and --resume).")
@click.option("-w", "--workers", type=click.IntRange(1, 512), default=None, help="Worker processes [default: CPU count].")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="local: a process pool; dask: a Dask cluster (a LocalCluster of -w workers, or --scheduler).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="With --executor dask: an existing Dask scheduler, e.g. tcp://host:8786 (workers must "
                   "see the input and output at the same paths).")
@click.option("--storage-options", default=None, metavar="JSON",
              help='Options for s3:// gs:// az:// inputs and outputs, as a JSON object, e.g. '
                   '\'{"endpoint_url": "http://minio:9000"}\' [default: credentials and endpoints from the '
                   "environment: AWS_*, GOOGLE_APPLICATION_CREDENTIALS, ...].")
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
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run in OUTPUT, or update a finished one: only new or changed "
                   "inputs are made (the result equals a fresh run). Refused if the recipe changed.")
@click.option("--on-error", type=click.Choice(["skip", "fail"]), default="skip", show_default=True,
              help="skip: report a bad input and go on; fail: stop at the first one (strict CI).")
@click.option("--max-pixels", type=click.IntRange(1), default=None,
              help="Refuse images larger than this many pixels, read from the header before decoding "
                   "[default: 100,000,000].")
@click.option("--max-outputs", type=click.IntRange(1), default=None,
              help="Refuse a run planned to write more images than this [default: 10,000,000].")
@click.option("--summary-json", type=click.Path(dir_okay=False), default=None,
              help="Write a machine-readable summary (counts by reason and class, drop rate, timing) to FILE.")
@click.option("--fail-on-drop-rate", type=click.FloatRange(0, 1), default=None, metavar="RATE",
              help="Exit 1 when more than this share of objects was dropped (a recipe too aggressive for the data).")
@click.option("-q", "--quiet", is_flag=True, help="No progress, only warnings and errors.")
def run(recipe, input_, output, workers, executor, scheduler, storage_options, seed, copies, limit, input_format, output_format,
        splits, class_map, drop_class, keep_class, dry_run, overwrite, resume, on_error, max_pixels, max_outputs,
        summary_json, fail_on_drop_rate, quiet):
    """Augment the dataset in INPUT into OUTPUT following RECIPE.

    OUTPUT mirrors the input layout: each original (byte copy, unless the recipe sets
    keep_original: false), N augmented copies named <stem>_aug<k>, a label file for every
    image, data.yaml, and augcli-manifest.jsonl recording every applied op.

    \b
    Examples:
      augcli run configs/basic.yaml -i sample_data/yolo -o out/ -w 4
      augcli run configs/convert.yaml -i sample_data/yolo -o out-coco/ --output-format coco
      augcli run configs/basic.yaml -i s3://bucket/raw -o s3://bucket/aug --executor dask
    """
    from augcli.errors import AugcliError, RecipeError
    from augcli.executor import start_worker_server, starts_a_pool

    progress = _Progress(quiet)
    try:  # from here a Ctrl-C is exit 130, as documented (also while the imports below still run)
        if starts_a_pool(workers, executor, dry_run):
            start_worker_server()  # first: its imports overlap this process's own (augcli.api, numpy, OpenCV)
        from augcli import api

        if summary_json:
            _check_summary_path(summary_json)
        rename = _parse_pairs(class_map, "--class-map") if class_map else None
        options = _parse_json_object(storage_options, "--storage-options") if storage_options else None
        report = api.run(recipe, input_, output, workers=workers, seed=seed, copies=copies, limit=limit,
                         dry_run=dry_run, overwrite=overwrite, input_format=input_format,
                         output_format=output_format, splits=api.parse_splits(splits) if splits else None,
                         class_rename=rename, drop_classes=drop_class, keep_classes=keep_class or None,
                         resume=resume, on_error=on_error, executor=executor, scheduler=scheduler,
                         storage_options=options,
                         **({"max_pixels": max_pixels} if max_pixels else {}),
                         **({"max_outputs": max_outputs} if max_outputs else {}),
                         progress=progress, log=(lambda line: None if quiet and line.startswith("augcli: input format")
                                                 else _say(line)))
    except RecipeError as exc:
        progress.close()
        for issue in exc.issues:
            _say(f"augcli: recipe error: {issue}")
        sys.exit(EXIT_USAGE)
    except AugcliError as exc:
        progress.close()
        _fail(str(exc))
    except KeyboardInterrupt:  # a second Ctrl-C after the workers had stopped, while the run was ending
        progress.close()
        _say("augcli: interrupted; finished outputs are listed in the manifest; "
             "run the same command with --resume to continue")
        sys.exit(128 + 2)
    if report.interrupted:  # already stopping: a further Ctrl-C must not cut the report short
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    progress.close()
    if dry_run:
        sys.exit(EXIT_OK)
    summary = (f"augcli: {report.processed}/{report.inputs} inputs ({report.input_format}) -> "
               f"{report.outputs} images in {output} in {report.seconds:.1f}s; "
               f"objects in {report.objects_in}, written {report.objects_out}")
    if report.dropped:
        summary += " (dropped: " + ", ".join(f"{k} {v}" for k, v in sorted(report.dropped.items())) + ")"
    if not quiet or report.skipped:
        _say(summary)
    if report.skipped:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(report.skipped_by_reason.items()))
        _say(f"augcli: skipped {len(report.skipped)} inputs ({reasons}); see the messages above "
             "and the manifest")
    if report.reused:
        _say(f"augcli: {report.reused} inputs unchanged since the previous run were kept as they were")
    if report.interrupted:
        _say("augcli: interrupted; finished outputs are listed in the manifest; "
             "run the same command with --resume to continue")
    if report.failed_fast:
        _say("augcli: stopped at the first bad input (--on-error fail)")
    code = report.exit_code
    if fail_on_drop_rate is not None and report.drop_rate > fail_on_drop_rate and code == EXIT_OK:
        _say(f"augcli: {report.drop_rate:.1%} of objects were dropped, more than --fail-on-drop-rate "
             f"{fail_on_drop_rate:g}: the recipe is too aggressive for this data")
        code = EXIT_SKIPPED
    if summary_json:
        import json

        from augcli.recipe import load_recipe

        # the recipe as the run used it: --seed and --copies change its seed and fingerprint
        summary = report.summary(load_recipe(recipe).with_overrides(seed=seed, copies=copies))
        try:
            with open(summary_json, "w", encoding="utf-8") as f:
                json.dump({**summary, "exit_code": code}, f, indent=2)
                f.write("\n")
        except OSError as exc:  # CI reads this file: without it the run must not look successful
            _say(f"augcli: error: cannot write --summary-json {summary_json}: {exc.strerror or exc}")
            code = max(code, EXIT_OUTPUT)
    sys.exit(code)


def _check_summary_path(path: str) -> None:
    """Refuse a --summary-json FILE whose folder does not exist before any work, not after the run."""
    import os

    from augcli.errors import UsageError

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--summary-json {path}: no such folder {folder}; create it or choose another file")


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
            doc = " ".join((cls.__doc__ or "").split())  # the whole description, as docs/transforms.md has it
            params = [(k, s.default, s.help, s.kind()) for k, s in cls.params.items()]
            if family == "meta":
                params.insert(0, ("transforms", REQUIRED, "the child transforms", "list of transforms"))
            params.append(("p", 1.0, "probability of applying the transform", "float in [0, 1]"))
            if name:
                text = textwrap.fill(doc, 96, initial_indent="  ", subsequent_indent="  ")
                click.echo(f"{tname} ({FAMILY_TITLES[family]})\n{text}\n\nParameters:")
                for pname, default, help_, kind in params:
                    shown = "required" if default is REQUIRED else f"default {_show_default(default)}"
                    click.echo(f"  {pname:<12} {help_}\n  {'':<12} {kind}; {shown}")
                # a line to paste under `pipeline:`: every default as YAML reads it back; a parameter
                # whose default is "none" is left out (giving none is not a value the recipe takes)
                example = {k: ("..." if d is REQUIRED else _yaml_value(d)) for k, d, _, _ in params
                           if k != "p" and d is not None}
                click.echo("\nIn a recipe:\n  - {type: " + tname + "".join(f", {k}: {v}" for k, v in example.items())
                           + ", p: 1.0}")
                continue
            summary = doc.split(". ")[0].rstrip(".") + "."  # its first sentence
            click.echo(textwrap.fill(summary, 100, initial_indent=f"  {tname:<20} ", subsequent_indent=" " * 23))
            inline = "  ".join(f"{k}={'REQUIRED' if d is REQUIRED else _show_default(d)}" for k, d, _, _ in params)
            click.echo(f"  {'':<20} {inline}")
        if not name:
            click.echo("")
    if not name:
        click.echo("Ranges are [lo, hi] sampled uniformly, or a single fixed value. "
                   "`augcli transforms NAME` shows one in full.")


def _parse_json_object(text: str, option: str) -> dict:
    import json

    from augcli.errors import UsageError

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{option}: not valid JSON ({exc}); expected an object like '{{\"anon\": true}}'") from None
    if not isinstance(value, dict):
        raise UsageError(f"{option}: expected a JSON object, got a {type(value).__name__}")
    return value


def _parse_pairs(text: str, option: str) -> dict[str, str]:
    from augcli.errors import UsageError

    out = {}
    for part in text.split(","):
        old, sep, new = part.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise UsageError(f"{option}: expected old=new pairs separated by commas, got {text!r}")
        out[old.strip()] = new.strip()
    return out


def _yaml_value(value) -> str:
    """`value` written as YAML flow text that reads back as the same value (quoted where needed)."""
    import yaml

    if isinstance(value, tuple):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("\n...").strip()


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

    Every mistake is listed at once, each with file:line and key path (on stderr).
    Exit code 0 when valid, 2 when not."""
    from augcli.errors import RecipeError
    from augcli.recipe import dump_recipe, load_recipe

    try:
        r = load_recipe(recipe)
    except RecipeError as exc:
        for issue in exc.issues:
            _say(f"augcli: recipe error: {issue}")
        sys.exit(EXIT_USAGE)
    click.echo(f"# {recipe}: valid; resolved with every default:")
    click.echo(dump_recipe(r), nl=False)


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.argument("input_", metavar="INPUT", type=click.Path())
@click.option("-n", "--images", "n", type=click.IntRange(1, 1000), default=4, show_default=True,
              help="Input images to show, one row each, evenly spaced over the inputs sorted by path.")
@click.option("--copies", type=click.IntRange(0, 100), default=None,
              help="Augmented copies per row [default: what run writes for that image, at most 3].")
@click.option("-o", "--output", default="preview.png", show_default=True, type=click.Path(dir_okay=False),
              help="Where to write the contact sheet (PNG).")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None, help="Override the recipe's seed.")
@click.option("--html", "html_dir", default=None, type=click.Path(file_okay=False),
              help="Also write an offline gallery: DIR/index.html with the pictures beside it.")
@click.option("--tile-height", type=click.IntRange(64, 2048), default=288, show_default=True,
              help="Height of each picture in pixels.")
@click.option("--input-format", default=None, help="Input format [default: detected from the folder].")
@click.option("--class-map", default=None, metavar="OLD=NEW,...", help="Rename or merge classes, as in run.")
@click.option("--drop-class", multiple=True, metavar="NAME", help="Drop a class (repeatable), as in run.")
@click.option("--keep-class", multiple=True, metavar="NAME", help="Keep only these classes (repeatable), as in run.")
@click.option("--storage-options", default=None, metavar="JSON",
              help="Options for an s3:// gs:// az:// INPUT, as a JSON object (see run --help).")
def preview(recipe, input_, n, copies, output, seed, html_dir, tile_height, input_format, class_map, drop_class,
            keep_class, storage_options):
    """Draw what `run` would make of a few images: a contact sheet PNG.

    One row per input image: the original, then its augmented copies, with every label
    drawn (boxes, polygons, keypoints, masks, image classes) and the applied ops written
    under each picture. Same recipe and seed as `run` -> the same pictures `run` writes.

    \b
    Examples:
      augcli preview configs/basic.yaml sample_data/yolo -o sheet.png
      augcli preview configs/basic.yaml sample_data/coco -n 2 --copies 5 --seed 7 --html gallery/
    """
    from augcli.errors import AugcliError, RecipeError
    from augcli.preview import make_preview, write_html, write_sheet

    try:
        rename = _parse_pairs(class_map, "--class-map") if class_map else None
        options = _parse_json_object(storage_options, "--storage-options") if storage_options else None
        result = make_preview(recipe, input_, n=n, copies=copies, seed=seed, input_format=input_format,
                              class_rename=rename, drop_classes=drop_class, keep_classes=keep_class or None,
                              storage_options=options)
    except RecipeError as exc:
        for issue in exc.issues:
            _say(f"augcli: recipe error: {issue}")
        sys.exit(EXIT_USAGE)
    except AugcliError as exc:
        _fail(str(exc))
    try:
        path = write_sheet(result, output, tile_height)
        index = write_html(result, html_dir, tile_height) if html_dir else None
    except OSError as exc:
        _fail(f"cannot write the preview: {exc}")
    _say(f"augcli: contact sheet of {len(result.rows)} images ({result.input_format}, seed {result.seed}) "
         f"written to {path}" + (f"; gallery at {index}" if index else ""))


@main.command()
@click.argument("dataset", type=click.Path())
@click.option("--input-format", default=None, help="Dataset format [default: detected from the folder].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (counts and every problem).")
@click.option("-w", "--workers", type=click.IntRange(1, 64), default=None,
              help="Threads reading images [default: up to 8].")
@click.option("--storage-options", default=None, metavar="JSON",
              help="Options for an s3:// gs:// az:// DATASET, as a JSON object (see run --help).")
def check(dataset, input_format, as_json, workers, storage_options):
    """Check the dataset in DATASET: counts, a class histogram, and every problem found.

    Problems (each named with file:line where there is a line): unreadable images, NaN or
    out-of-range coordinates, zero-size boxes, class ids not in the class list, labels
    without images, two images sharing one label file, polygons with fewer than 3 points.
    Warnings (coordinates a run would clip, missing class names) do not change the exit code.
    A run's OUTPUT is a dataset too: check it as the last step of a pipeline.

    Exit code 0 clean (warnings allowed), 1 problems found, 2 usage error.

    \b
    Examples:
      augcli check sample_data/coco
      augcli check out/ --json > report.json
      augcli check s3://bucket/aug
    """
    import json

    from augcli.check import check_dataset, format_report
    from augcli.errors import AugcliError

    progress = _Progress(quiet=not sys.stderr.isatty())  # a bar on a terminal only: check output is for reading
    try:
        options = _parse_json_object(storage_options, "--storage-options") if storage_options else None
        report = check_dataset(dataset, input_format, workers=workers, progress=progress, storage_options=options)
    except AugcliError as exc:
        progress.close()
        _fail(str(exc))
    progress.close()
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
        click.echo(format_report(report, bar="\u2588" if encoding.startswith("utf") else "#"), nl=False)
    sys.exit(report.exit_code)

"""``templates-hub prepare RECIPE``: load, validate, filter and split a recipe's data (``templates_hub.prepare``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from . import main


def _recipe_error(exc: ConfigError) -> ConfigError:
    """The message of a recipe error already lists every problem with its line: do not print them twice."""
    return ConfigError(str(exc), problems=[], source=exc.source)


def _print_summary(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=False)
    steps = Table(title=f"prepare {report['recipe']}: {report['source']}", title_justify="left")
    for col, justify in (("step", "left"), ("rows in", "right"), ("rows out", "right"), ("dropped", "left")):
        steps.add_column(col, justify=justify)  # type: ignore[arg-type]
    for step in report["steps"][:2]:
        dropped = ", ".join(f"{k}: {v}" for k, v in step.get("dropped", {}).items() if v) or "-"
        steps.add_row(step["step"], str(step["rows_in"]), str(step["rows_out"]), dropped)
    split = report["steps"][2]
    parts = ", ".join(f"{k} {v}" for k, v in report["splits"].items())
    steps.add_row("split", str(split.get("rows", "")), str(report["rows_out"]), f"{split['method']}: {parts}")
    console.print(steps)
    load = report["steps"][0]
    how = "detected" if load["format_detected"] else "given"
    console.print(f"format {load['format']} ({how}), kind {load['kind']}")
    for note in load.get("notes") or []:
        console.print(f"note: {note}")
    if split.get("reason"):
        console.print(f"split: {split['reason']}")
    for merge in split.get("merged") or []:
        rows = f"{merge['rows']} row{'s' if merge['rows'] != 1 else ''}"
        console.print(f"split: merged stratum {merge['stratum']} ({rows}, {merge['why']}) into {merge['into']}")
    buckets = split.get("buckets")
    if buckets:
        labels = split.get("bucket_labels") or {}
        table = Table(title="strata" if split.get("stratify") != "length" else "length buckets", title_justify="left")
        table.add_column("bucket")
        for name in ("all", "train", "validation"):
            table.add_column(name, justify="right")
        for key in buckets["all"]:
            label = f"{key} ({labels[key]})" if key in labels else key
            table.add_row(label, *(str(buckets[name].get(key, 0)) for name in ("all", "train", "validation")))
        console.print(table)
    balance = "ok" if report["balanced"] else "MISMATCH"
    console.print(f"rows in {report['rows_in']} = rows out {report['rows_out']} + rejected {report['rejected']} ({balance})")
    for name, path in (report.get("files") or {}).items():
        console.print(f"{name}: {path}")


@main.command("prepare")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Output directory [default: prepared/<recipe name> in the current directory].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key, e.g. --set split.seed=7 --set filters[0].min=3 (values are YAML). Repeatable.")
@click.option("--rejects", "rejects", type=click.Path(dir_okay=False),
              help="Rejects file (JSON lines, one per dropped row) [default: OUT/rejects.jsonl].")
@click.option("--format", "file_format", type=click.Choice(["jsonl", "parquet"]), default="jsonl", show_default=True,
              help="File format of the splits.")
@click.option("--num-proc", type=click.IntRange(min=1), help="Worker processes (same as --set data.num_proc=N).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars and no summary.")
@click.option("--json", "as_json", is_flag=True, help="Print report.json to stdout instead of the summary.")
def prepare_command(recipe: str, out_dir: str | None, overrides: tuple[str, ...], rejects: str | None,
                    file_format: str, num_proc: int | None, quiet: bool, as_json: bool) -> None:
    """Load, validate, filter and split the data of RECIPE; write canonical splits and a report.

    Reads the recipe's `data:` (any supported format, auto-detected unless `format:` is set), drops rows
    that fail validation or a `filters:` entry, and splits train/validation as `split:` says (stratified
    by prompt-length bucket by default). OUT receives train.jsonl / validation.jsonl (or .parquet),
    report.json (counts per step and reason, bucket distributions) and rejects.jsonl (every dropped row
    with its file, line and reason). rows in = train + validation + rejected, always.

    \b
    Example:
      templates-hub prepare examples/alpaca_sft.yaml --out prepared/alpaca --set split.seed=7
    """
    from ..prepare import prepare
    from ..recipe import load_recipe

    extra = [f"data.num_proc={num_proc}"] if num_proc else []
    try:
        loaded = load_recipe(recipe, [*overrides, *extra])
    except ConfigError as exc:
        raise _recipe_error(exc) from None
    out = Path(out_dir) if out_dir else Path("prepared") / loaded.run_name

    def on_step(name: str, info: dict[str, Any]) -> None:
        if quiet or as_json or name == "write":
            return
        if name == "split":
            sizes = f"train {info.get('train')}, validation {info.get('validation')}"
            click.echo(f"[{name}] {info.get('method')}: {sizes}", err=True)
        else:
            click.echo(f"[{name}] {info.get('rows_in')} rows in, {info.get('rows_out')} kept", err=True)

    result = prepare(loaded, out_dir=out, progress=not quiet and not as_json, rejects=rejects,
                     file_format=file_format, on_step=on_step)  # type: ignore[arg-type]
    if as_json:
        click.echo(json.dumps(result.report, indent=2, ensure_ascii=False, default=str))
    elif not quiet:
        _print_summary(result.report)

"""``templates-hub preprocess RECIPE``: tokenize a recipe's data into LLaMA-Factory's ``tokenized_path`` layout.

A thin layer over ``templates_hub.preprocess.recipe_run.preprocess_recipe``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from . import main


def _print_summary(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"preprocess {report['recipe']}: {report['preprocessor']} ({report['kind']} rows)",
                  title_justify="left")
    for col, justify in (("split", "left"), ("rows in", "right"), ("rows out", "right"), ("dropped", "left"),
                         ("tokens", "right"), ("trained", "right"), ("packs / fill", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, s in report["splits"].items():
        dropped = ", ".join(f"{k}: {v}" for k, v in (s.get("dropped") or {}).items()) or "-"
        trained = f"{100 * s['trained_share']:.1f}%" if "trained_share" in s else "-"
        if "packs" in s:
            packs = f"{s['packs']:,} x {s['pack_length']} / {100 * s['pack_fill']:.2f}%"
        elif "blocks" in s:
            packs = f"{s['blocks']:,} blocks x {s['block_size']}"
        else:
            packs = "-"
        rows_out = s.get("rows_out")
        table.add_row(name, f"{s.get('rows_in', 0):,}", f"{rows_out:,}" if rows_out is not None else "-", dropped,
                      f"{s.get('tokens', 0):,}", trained, packs)
    console.print(table)
    prepared = report.get("prepare") or {}
    if prepared:
        console.print(f"prepare: {prepared.get('rows_in')} rows read, {prepared.get('rejected')} rejected before "
                      f"tokenization (validation / filters)")
    console.print(f"template {report.get('template')}, cutoff_len {report['cutoff_len']}, tokenization "
                  f"{report['tokenization']} ({report.get('tokenizer_engine')})")
    for note in report.get("notes") or []:
        console.print(f"note: {note}")
    if report.get("tokens_added"):
        console.print(f"tokens added to the tokenizer: {', '.join(report['tokens_added'])} (resize the model's "
                      "embeddings when training)")
    files = report.get("files") or {}
    if files:
        console.print(f"saved: {files['dataset']}  (LLaMA-Factory: tokenized_path: {files['dataset']})")
        console.print(f"report: {files['report']}\nrejects: {files['rejects']}")


@main.command("preprocess")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Output directory [default: preprocess.output_dir of the recipe, else tokenized/<recipe name>].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key, e.g. --set preprocess.cutoff_len=4096 --set preprocess.packing=true "
                   "(values are YAML). Repeatable.")
@click.option("--num-proc", type=click.IntRange(min=1),
              help="Worker processes for loading and tokenizing (sets data.num_proc and preprocess.num_proc).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars and no summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of the summary.")
def preprocess_command(recipe: str, out_dir: str | None, overrides: tuple[str, ...], num_proc: int | None,
                       quiet: bool, as_json: bool) -> None:
    """Tokenize the data of RECIPE for training and save it in LLaMA-Factory's tokenized_path layout.

    Runs the recipe's data steps (load, validate, filters, split; see `prepare`), renders every row with
    the recipe's `template:` and tokenizes it with its `tokenizer:` as the `preprocess:` section says
    (preprocessor, cutoff_len, train_on_prompt, mask_history, packing, ...). OUT receives a
    `save_to_disk` DatasetDict (train / validation) with LLaMA-Factory's columns and dtypes, plus
    preprocess_report.json and rejects.jsonl (every dropped row with its line and reason).
    LLaMA-Factory trains on it with `tokenized_path: OUT`; `datasets.load_from_disk(OUT)` loads it.

    \b
    Example:
      templates-hub preprocess examples/alpaca_sft.yaml --out tokenized/alpaca \\
          --set tokenizer=examples/demo/tokenizer --set template=chatml \\
          --set preprocess.cutoff_len=2048 --set preprocess.packing=true
    """
    from ..preprocess.recipe_run import preprocess_recipe
    from ..recipe import load_recipe

    extra = [f"data.num_proc={num_proc}", f"preprocess.num_proc={num_proc}"] if num_proc else []
    try:
        loaded = load_recipe(recipe, [*overrides, *extra])
    except ConfigError as exc:
        raise ConfigError(str(exc), problems=[], source=exc.source) from None
    out = Path(out_dir) if out_dir else Path(loaded.preprocess.output_dir or Path("tokenized") / loaded.run_name)

    def on_step(name: str, info: dict[str, Any]) -> None:
        if quiet or as_json or name == "write":
            return
        if name == "preprocess":
            click.echo(f"[preprocess] {info['split']}: {info.get('rows_in')} rows in, {info.get('rows_out')} out",
                       err=True)
        elif name == "split":
            click.echo(f"[split] {info.get('method')}: train {info.get('train')}, validation {info.get('validation')}",
                       err=True)
        else:
            click.echo(f"[{name}] {info.get('rows_in')} rows in, {info.get('rows_out')} kept", err=True)

    result = preprocess_recipe(loaded, out_dir=out, progress=not quiet and not as_json, on_step=on_step)
    if as_json:
        click.echo(json.dumps(result.report, indent=2, ensure_ascii=False, default=str))
    elif not quiet:
        _print_summary(result.report)

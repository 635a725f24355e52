"""``templates-hub train RECIPE`` and ``templates-hub run RECIPE``: thin layers over ``train`` / ``run``."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import ConfigError, UsageError
from . import main

_SET_HELP = ("Override a recipe key, e.g. --set train.max_steps=20 --set train.model=Qwen/Qwen2.5-0.5B "
             "(values are YAML). Repeatable.")


def _load(recipe: str, overrides: list[str]) -> Any:
    from ..recipe import load_recipe

    try:
        return load_recipe(recipe, overrides)
    except ConfigError as exc:  # the message already lists every problem with its line
        raise ConfigError(str(exc), problems=[], source=exc.source) from None


def _echo_step(name: str, info: dict[str, Any]) -> None:
    """One progress line per finished step (stderr, so --json output stays clean)."""
    if name == "split":
        click.echo(f"[split] {info.get('method')}: train {info.get('train')}, validation {info.get('validation')}",
                   err=True)
    elif name in ("load", "filter") or name.startswith("preprocess "):
        tokens = f", {info['tokens']:,} tokens" if isinstance(info.get("tokens"), int) else ""
        click.echo(f"[{name}] {info.get('rows_in')} rows in, {info.get('rows_out')} kept{tokens}", err=True)
    elif name == "export":
        click.echo(f"[export] {info.get('target')}: {info.get('path')}", err=True)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_summary(result: Any, command: str = "run") -> None:
    """The final table (titled by ``command``, e.g. "train demo"): rows per step, tokens, trained share,
    losses, output paths, and the notes of every step (exports' included)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped / captured: rich would assume 80 columns and wrap every cell
        console.width = 110
    title = f"{command} {result.recipe}" + (" (dry run)" if result.dry_run else "")
    table = Table(title=title, title_justify="left")
    for col, justify in (("step", "left"), ("rows in", "right"), ("rows out", "right"), ("tokens", "right"),
                         ("trained", "right"), ("details", "left")):
        table.add_column(col, justify=justify, overflow="fold", no_wrap=col != "details")  # type: ignore[arg-type]
    for row in result.table():
        table.add_row(row["step"], _cell(row["rows in"]), _cell(row["rows out"]), _cell(row["tokens"]),
                      row["trained"], row["details"])
    console.print(table)
    for label, path in result.paths().items():
        console.print(f"{label}: {path}")
    if result.train is not None:
        t = result.train
        speed = t.train_metrics.get("num_input_tokens_seen", 0) / max(t.train_metrics.get("train_runtime", 0), 1e-9)
        console.print(f"saved the {'adapter' if t.adapter else 'model'} and a tokenizer with chat_template "
                      f"{t.template or '(unchanged)'}; {t.trainable_params:,} of {t.total_params:,} parameters trained; "
                      f"{speed:,.0f} tokens/s")
    for exported in result.exports:
        for train_command in exported.commands:
            console.print(f"train with {exported.target}: {train_command}")
        for note in exported.notes:
            console.print(f"note ({exported.target} export): {note}")
    for note in result.notes + (result.train.notes if result.train is not None else []):
        console.print(f"note: {note}")


def _run(recipe: str, overrides: list[str], *, dry_run: bool, quiet: bool, as_json: bool, train_only: bool) -> None:
    from ..run import run

    loaded = _load(recipe, overrides)
    if train_only and loaded.train is None:
        raise UsageError(f"{recipe}: the recipe has no train: section; add one, e.g. train: {{model: Qwen/Qwen2.5-0.5B}} "
                         "(or --set train.model=...)")
    progress = not quiet and not as_json
    try:
        result = run(loaded, dry_run=dry_run, progress=progress, on_step=None if (quiet or as_json) else _echo_step,
                     export=not train_only)
    except ConfigError as exc:  # our messages already list every problem
        raise ConfigError(str(exc), problems=[], source=exc.source) from None
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
    elif not quiet:
        print_summary(result, "train" if train_only else "run")


@main.command("run")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@click.option("--dry-run", is_flag=True,
              help="Stop before training: prepare, preprocess, export and every check that needs no model weights.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars and no summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (steps, exports, losses) instead.")
def run_command(recipe: str, overrides: tuple[str, ...], dry_run: bool, quiet: bool, as_json: bool) -> None:
    """Run the whole RECIPE: prepare, preprocess, export (if configured), train (if configured).

    Loads and validates the data, applies the filters, splits train/validation, tokenizes with the
    chat template (prompt tokens masked), writes the `export:` targets, checks that tokenizer, template,
    data and model fit together, trains with the Hugging Face Trainer and saves the model (or LoRA
    adapter) with a tokenizer whose chat_template is the training template. Ends with a table: rows per
    step, tokens, trained share, first and last loss, output paths.

    \b
    Examples:
      templates-hub run examples/demo/recipe.yaml              # offline demo, a few minutes on a CPU
      templates-hub run examples/demo/recipe.yaml --dry-run    # everything but the training
      templates-hub run recipe.yaml --set train.max_steps=10 --set train.output_dir=runs/try
      torchrun --nproc_per_node 4 $(which templates-hub) run recipe.yaml   # several GPUs (see docs/training.md)
    """
    _run(recipe, list(overrides), dry_run=dry_run, quiet=quiet, as_json=as_json, train_only=False)


@main.command("train")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@click.option("--resume", is_flag=True, help="Resume from the latest checkpoint in train.output_dir.")
@click.option("--dry-run", is_flag=True, help="Build the data and run the checks, but do not train.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars and no summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of the summary.")
def train_command(recipe: str, overrides: tuple[str, ...], resume: bool, dry_run: bool, quiet: bool,
                  as_json: bool) -> None:
    """Train the model of RECIPE on its data with the Hugging Face Trainer (no export step).

    The data come from the recipe (prepare + preprocess) or from train.tokenized_path. Keys of the
    recipe's `train:` section besides model / output_dir / lora / resize_embeddings / tokenized_path /
    ... are TrainingArguments (learning_rate, num_train_epochs, bf16, deepspeed, fsdp, ...); an unknown
    key is an error that lists the valid ones. Runs unchanged under `accelerate launch` and `torchrun`.

    \b
    Examples:
      templates-hub train examples/demo/recipe.yaml --set train.max_steps=20
      templates-hub train recipe.yaml --resume
      accelerate launch --num_processes 2 $(which templates-hub) train recipe.yaml
    """
    extra = ["train.resume_from_checkpoint=true"] if resume else []
    _run(recipe, [*overrides, *extra], dry_run=dry_run, quiet=quiet, as_json=as_json, train_only=True)

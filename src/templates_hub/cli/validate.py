"""``templates-hub validate``: a thin command over ``templates_hub.validate.validate_file``."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import TemplatesHubError, UsageError
from . import main

KIND_CHOICES = ("sft", "preference", "kto", "text")


def parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs -> adapter options; VALUE is JSON when it parses (``null``, ``true``, lists)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option {pair!r}: expected KEY=VALUE")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def _where(report, issue) -> str:
    source = issue.source or report.source
    return f"{source}:{issue.row}" if report.unit == "line" else f"{source} row {issue.row}"


@main.command("validate")
@click.argument("path", required=False)
@click.option("--format", "-f", "format_name", metavar="FORMAT",
              help="Input format (alpaca, sharegpt, openai, preference, kto, text, or a plugin's). Default: detected from the first rows.")
@click.option("--kind", "-k", type=click.Choice(KIND_CHOICES), help="Row kind. Default: decided by the format and the data.")
@click.option("--dataset-info", "dataset_info", metavar="DIR",
              help="A LLaMA-Factory dataset folder (or its dataset_info.json): take the format, kind and column/tag mapping from an entry.")
@click.option("--dataset", metavar="NAME", help="The dataset_info.json entry to use (with --dataset-info). PATH defaults to its file.")
@click.option("--option", "-o", "option_pairs", multiple=True, metavar="KEY=VALUE",
              help="Format option, e.g. -o messages=dialog -o role_tag=role (repeatable; VALUE may be JSON such as null).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (totals, reasons, first errors) instead of text.")
@click.option("--rejects", "rejects_path", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write every invalid row verbatim with its reason to FILE (JSON lines).")
@click.option("--max-errors", default=20, show_default=True, type=click.IntRange(min=0),
              help="How many invalid rows to show (the totals always count all of them).")
@click.option("--num-proc", type=click.IntRange(min=1), help="Worker processes for the conversion of large files.")
@click.option("--max-rows", type=click.IntRange(min=1), help="Only check the first N rows.")
@click.option("--split", default="train", show_default=True, help="Split to read from a hub dataset or a saved DatasetDict.")
@click.option("--streaming", is_flag=True, help="Read lazily in constant memory (for files larger than memory).")
def validate_command(path: str | None, format_name: str | None, kind: str | None, dataset_info: str | None,
                     dataset: str | None, option_pairs: tuple[str, ...], as_json: bool, rejects_path: str | None,
                     max_errors: int, num_proc: int | None, max_rows: int | None, split: str, streaming: bool) -> None:
    """Check every row of PATH (a file, a folder of shards or a hub id) against the canonical schema.

    Prints the totals (rows, valid, invalid by reason) and the first invalid rows, each with its file,
    1-based line (JSON Lines, txt) or row (JSON arrays, csv, parquet), the field path inside the row and
    the reason. Exit status: 0 when every row is valid, 1 when some are invalid, 2 for usage or I/O errors
    (missing file, empty file, unreadable JSON array, unknown format).

    \b
    Examples:
      templates-hub validate data.jsonl
      templates-hub validate glaive.json --format sharegpt --rejects bad.jsonl
      templates-hub validate --dataset-info data/ --dataset alpaca_en_demo
    """
    from ..validate import validate_file

    try:
        if path is None and dataset_info is None:
            raise UsageError("give PATH, or --dataset-info DIR --dataset NAME")
        report = validate_file(
            path, format=format_name, kind=kind, dataset_info=dataset_info, dataset=dataset,
            options=parse_options(option_pairs), num_proc=num_proc, rejects_path=rejects_path,
            max_rows=max_rows, streaming=streaming, split=split,
        )
    except TemplatesHubError as exc:
        if not as_json:
            raise
        click.echo(json.dumps({"error": str(exc), "exit_code": exc.exit_code}, ensure_ascii=False))
        click.get_current_context().exit(exc.exit_code)

    if as_json:
        click.echo(json.dumps(report.to_dict(max_errors), indent=2, ensure_ascii=False))
        click.get_current_context().exit(report.exit_code)

    how = f"detected: {report.evidence}" if report.detected else "given"
    click.echo(f"{report.source}: format {report.format} ({how}), kind {report.kind}")
    for note in report.notes:
        click.secho(f"note: {note}", fg="yellow")
    color = "green" if report.ok else "red"
    click.secho(f"{report.total} rows: {report.valid} valid, {report.invalid} invalid", fg=color, bold=True)
    if not report.ok:
        click.echo("invalid by reason:")
        width = max(len(k) for k in report.by_reason)
        for reason, count in report.by_reason.items():
            click.echo(f"  {reason:<{width}}  {count}")
        shown = report.issues[:max_errors]
        if shown:
            unit = "lines" if report.unit == "line" else "rows"
            more = f" (of {report.invalid})" if len(shown) < report.invalid else ""
            click.echo(f"first {len(shown)} invalid {unit}{more}:")
            for issue in shown:
                click.echo(f"  {_where(report, issue)}: {issue.field}: {issue.reason}")
    if report.rejects_path is not None:
        click.echo(f"rejects: {report.rejects_path} ({report.invalid} rows)")
    click.get_current_context().exit(report.exit_code)

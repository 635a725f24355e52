"""Core commands: ``plugins``, ``list``, ``schema``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import UsageError
from ..plugins import KINDS, describe_plugins, get_registry
from . import main


@main.command("plugins")
@click.option("--all", "include_all", is_flag=True, help="Include the built-in plugins.")
def plugins_command(include_all: bool) -> None:
    """Print the installed plugins as JSON: name, version, hooks, what each registered, problems.

    A plugin that failed to import, or whose hook raised, is listed with "broken" set to the error;
    every other plugin keeps working.
    """
    click.echo(json.dumps(describe_plugins(include_defaults=include_all), indent=2))


def _describe(obj: object) -> str:
    text = getattr(obj, "description", None) or (obj.__doc__ or "")
    return text.strip().splitlines()[0] if text and text.strip() else ""


@main.command("list")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(kind: str, as_json: bool) -> None:
    """List the registered components of KIND with the plugin that provides each."""
    registry = get_registry(kind)
    rows = [
        {"name": e.name, "plugin": e.plugin, "overrides": e.overrides, "description": _describe(e.obj)}
        for e in registry
    ]
    for name, plugins in sorted(registry.conflicts.items()):
        rows.append({"name": name, "plugin": " + ".join(plugins), "overrides": None,
                     "description": "CONFLICT: registered by several plugins without override"})
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{kind} ({len(rows)})")
    for col in ("name", "plugin", "description"):
        table.add_column(col, overflow="fold")
    for row in rows:
        plugin = row["plugin"] + (f" (overrides {row['overrides']})" if row["overrides"] else "")
        table.add_row(row["name"], plugin, row["description"])
    Console().print(table)


@main.command("schema")
@click.option("--out", "out_dir", default="schemas", show_default=True, type=click.Path(file_okay=False),
              help="Directory to write the JSON Schema files to.")
@click.option("--check", is_flag=True, help="Do not write; exit 1 if any file in --out is missing or stale.")
def schema_command(out_dir: str, check: bool) -> None:
    """Write the JSON Schema of the canonical data model and the recipe to --out."""
    from ..schemas import json_schemas

    out = Path(out_dir)
    stale: list[str] = []
    for name, schema in json_schemas().items():
        text = json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
        target = out / name
        if check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(str(target))
            continue
        out.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        click.echo(f"wrote {target}")
    if check:
        if stale:
            raise UsageError("stale JSON Schema files (run `templates-hub schema --out schemas/`): " + ", ".join(stale))
        click.echo(f"{out}: up to date")

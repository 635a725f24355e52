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
@click.option("--check", is_flag=True,
              help="Run the conformance kit on every component of every installed plugin (templates, filters, "
                   "preprocessors, formats); exit 1 when any fails.")
@click.option("--plugin", "only", multiple=True, metavar="NAME", help="With --check: only this plugin (repeatable).")
@click.option("--tokenizer", "tokenizer_spec", metavar="DIR",
              help="With --check: tokenizer for templates and preprocessors [default: the tiny offline tokenizer "
                   "plus each template's own special tokens].")
@click.option("--skip", "skip", multiple=True, metavar="FEATURE",
              help="With --check: skip battery cases exercising FEATURE in template checks (tools, reasoning, ...).")
@click.option("--json", "as_json", is_flag=True, help="With --check: print the reports as JSON.")
def plugins_command(include_all: bool, check: bool, only: tuple[str, ...], tokenizer_spec: str | None,
                    skip: tuple[str, ...], as_json: bool) -> None:
    """Print the installed plugins as JSON: name, version, hooks, what each registered, overrides, problems.

    A plugin that failed to import, or whose hook raised, is listed with "broken" set to the error;
    every other plugin keeps working. A plugin can replace a built-in only by registering it with
    override=True; "overrides" lists every such replacement.

    With --check, every template, filter, preprocessor and format a plugin registered is run through
    the conformance kit (templates_hub.testing) and failures are printed by plugin name.

    \b
    Examples:
      templates-hub plugins
      templates-hub plugins --check --plugin my_plugin
    """
    if not check:
        if only or tokenizer_spec or skip:
            raise UsageError("--plugin, --tokenizer and --skip are options of --check")
        click.echo(json.dumps(describe_plugins(include_defaults=include_all), indent=2))
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ..templates.battery import FEATURES
    from ..testing.plugins import check_plugin, plugin_components, plugin_names

    unknown_features = sorted(set(skip) - set(FEATURES))
    if unknown_features:
        raise UsageError(f"--skip: unknown feature(s) {', '.join(unknown_features)}; known: {', '.join(FEATURES)}")
    known = plugin_names(include_builtins=True)
    missing = [n for n in only if n not in known]
    if missing:
        raise UsageError(f"--plugin: no plugin named {', '.join(map(repr, missing))}; installed: "
                         f"{', '.join(plugin_names(include_all)) or '(none)'}")
    names = list(only) or plugin_names(include_all)
    results = {}
    checkable = ("templates", "filters", "formats", "preprocessors")
    total = sum(len(entries) for n in names for kind, entries in plugin_components(n).items() if kind in checkable)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True, disable=as_json) as bar:
        task = bar.add_task("conformance", total=total)
        started = [0]  # components whose check has begun; the previous one is done when the next begins
        for name in names:

            def advance(kind: str, component: str, _plugin: str = name) -> None:
                bar.update(task, description=f"{_plugin}: {kind} {component}", completed=started[0])
                started[0] += 1

            results[name] = check_plugin(name, tokenizer=tokenizer_spec, skip_features=skip, on_component=advance)
        bar.update(task, completed=total)
    failed = [name for name, reports in results.items() if any(not r.ok for r in reports)]
    if as_json:
        payload = {"ok": not failed, "plugins": {n: [r.to_dict() for r in reports] for n, reports in results.items()}}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        _print_check(results)
    if failed:
        raise SystemExit(1)


def _print_check(results: dict[str, list]) -> None:
    """Human-readable ``plugins --check`` output: one block per plugin, failures first-class."""
    if not results:
        click.echo("no plugins installed (templates-hub plugins --check --all also checks the built-ins)")
        return
    for name, reports in results.items():
        failures = [line for r in reports for line in r.messages()]
        components = [r for r in reports if r.kind != "plugin"]
        if failures:
            click.secho(f"FAIL {name}: {len(failures)} failure(s) in {len(components)} component(s)", fg="red",
                        bold=True)
            for line in failures:
                click.echo(f"  - {line}")
        else:
            checked = ", ".join(f"{r.kind} {r.component}" for r in components) or "nothing registered"
            click.secho(f"ok   {name}: {checked}", fg="green")
        for r in reports:
            for note in r.notes:
                click.secho(f"  note: {r.label}: {note}", dim=True)
    failed = sum(1 for reports in results.values() if any(not r.ok for r in reports))
    click.secho(f"{len(results) - failed} of {len(results)} plugin(s) conform", bold=True,
                fg="red" if failed else "green")


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
        for e in registry if e.name not in registry.conflicts  # listed once below, as unusable
    ]
    for name, plugins in sorted(registry.conflicts.items()):
        rows.append({"name": name, "plugin": " + ".join(plugins), "overrides": None,
                     "description": "CONFLICT: registered by several plugins without override"})
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{kind} ({len(rows)})")
    for col in ("name", "plugin", "description"):
        table.add_column(col, overflow="fold")
    for row in rows:
        plugin = row["plugin"] + (f" (overrides {row['overrides']})" if row["overrides"] else "")
        # names like "[/INST]" in descriptions are text, not rich markup
        table.add_row(escape(row["name"]), escape(plugin), escape(row["description"]))
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
        if stale:  # a finding, like validate's invalid rows: exit 1 (2 is for usage errors)
            click.secho(f"stale JSON Schema files (run `templates-hub schema --out {out}`): " + ", ".join(stale),
                        fg="red", err=True)
            click.get_current_context().exit(1)
        click.echo(f"{out}: up to date")

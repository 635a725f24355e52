"""Plugin-author commands: ``new-plugin`` (a thin layer over ``templates_hub.scaffold.create_plugin``).

``plugins`` / ``plugins --check`` live with the other core commands in ``cli/core.py``.
"""

from __future__ import annotations

import click

from . import main


@main.command("new-plugin")
@click.argument("name")
@click.option("--template", "kinds", flag_value="template", multiple=True,
              help="A chat template declared in YAML (the default when no kind is given).")
@click.option("--filter", "kinds", flag_value="filter", multiple=True, help="A row filter (a Filter subclass).")
@click.option("--format", "kinds", flag_value="format", multiple=True, help="An input format adapter with a writer.")
@click.option("--preprocessor", "kinds", flag_value="preprocessor", multiple=True,
              help="A preprocessor (a SupervisedPreprocessor subclass).")
@click.option("--out", "out_dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Directory to create the package folder templates-hub-NAME in.")
def new_plugin_command(name: str, kinds: tuple[str, ...], out_dir: str) -> None:
    """Write a ready-to-install plugin package templates-hub-NAME with one component of each kind asked.

    The package has a pyproject.toml with the `templates_hub` entry point, the component module(s), a
    YAML template stub (--template), a README and tests that load the plugin and run the conformance
    kit; they pass as generated. Kind flags combine (--template --filter).

    \b
    Example:
      templates-hub new-plugin acme-chat --template --out plugins/
      pip install -e plugins/templates-hub-acme-chat
      templates-hub plugins --check --plugin acme_chat
      pytest plugins/templates-hub-acme-chat
    """
    from ..scaffold import create_plugin

    result = create_plugin(name, kinds=kinds or ("template",), out_dir=out_dir)
    click.echo(f"wrote {result.path} ({', '.join(result.kinds)} named {result.names.name!r}):")
    for file in result.files:
        click.echo(f"  {file}")
    click.echo("next:")
    click.echo(f"  pip install -e {result.path}")
    click.echo(f"  templates-hub plugins --check --plugin {result.names.name}")
    click.echo(f"  pytest {result.path}")

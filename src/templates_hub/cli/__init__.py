"""The ``templates-hub`` command line: a thin layer over the Python API (no logic of its own).

Each command group lives in its own module listed in ``COMMAND_MODULES``; a module adds its commands
to ``main`` when imported. Errors caused by input (``TemplatesHubError``) are printed as one clear
message and an exit status, never as a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from ..errors import TemplatesHubError
from ..plugins import load_plugins


class _Group(click.Group):
    """A click group that turns ``TemplatesHubError`` into a message and an exit status."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except TemplatesHubError as exc:
            # Messages are complete (ConfigError lists its problems in the message itself).
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="templates-hub")
@click.option(
    "--plugins-dir",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Load every *.py file in this directory as a plugin (repeatable). Also: TEMPLATES_HUB_PLUGINS_DIR.",
)
def main(plugins_dir: tuple[str, ...]) -> None:
    """Turn raw instruction, chat and preference data into training-ready data.

    Typical flow: `validate` your data, `render` it with a chat template to check the format, then
    `prepare` / `preprocess` / `export` / `train` / `run` a YAML recipe. Every component (formats,
    filters, templates, preprocessors, exporters) is a plugin: `templates-hub plugins --all` lists them.
    """
    load_plugins(plugins_dir)


#: Modules that add commands to ``main`` (imported in this order; each keeps heavy imports lazy).
#: Add a line here for a new command module; do not put commands in this file.
COMMAND_MODULES: tuple[str, ...] = (
    "templates_hub.cli.core",
    "templates_hub.cli.validate",
    "templates_hub.cli.prepare",
    "templates_hub.cli.preprocess",
    "templates_hub.cli.train",
    "templates_hub.cli.export",
    "templates_hub.cli.templates",
    "templates_hub.cli.plugins",
)

for _module in COMMAND_MODULES:
    importlib.import_module(_module)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

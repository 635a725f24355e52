"""``templates-hub export TARGET RECIPE --out DIR``: a thin layer over ``templates_hub.export.export``."""

from __future__ import annotations

import json

import click

from ..errors import ConfigError
from . import main


def _recipe_error(exc: ConfigError) -> ConfigError:
    """A recipe error's message already lists every problem with its line: do not print them twice."""
    if exc.source and str(exc).startswith("invalid recipe"):
        return ConfigError(str(exc), problems=[], source=exc.source)
    return exc


@main.command("export")
@click.argument("target", metavar="TARGET")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Directory to export into [default: the recipe's export.out_dir]. For llamafactory this is "
                   "LLaMA-Factory's dataset_dir: dataset_info.json there is merged, not replaced.")
@click.option("--name", help="Name of the export directory and dataset entry [default: export.dataset_name, "
                             "else the recipe's name].")
@click.option("--force", is_flag=True, default=None,
              help="Replace a different export of the same name (an identical one is left alone anyway).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key, e.g. --set export.layout=alpaca --set preprocess.cutoff_len=1024 "
                   "(values are YAML). Repeatable.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars; print only the training command(s).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest and file list as JSON.")
def export_command(target: str, recipe: str, out_dir: str | None, name: str | None, force: bool | None,
                   overrides: tuple[str, ...], quiet: bool, as_json: bool) -> None:
    """Prepare RECIPE's data and export it for TARGET: llamafactory, trl, axolotl (or a plugin's exporter).

    \b
    llamafactory  data files (alpaca/sharegpt), merged dataset_info.json (old one kept as .bak),
                  llamafactory_<stage>.yaml; a custom template ships as a tokenized_path dataset
    trl           messages / prompt-completion / preference datasets + trl_<trainer>.yaml
    axolotl       type: chat_template datasets + axolotl.yaml with the template as inline Jinja

    Everything is written to a staging directory and swapped in at the end, so an interrupted export
    leaves the previous one intact. Every config key is checked against what the tool accepts.
    Prints what was written and the exact command to train with.
    """
    from ..export import export

    try:
        result = export(recipe, target=target, out_dir=out_dir, force=force, name=name, overrides=overrides,
                        progress=not quiet and not as_json)
    except ConfigError as exc:
        raise _recipe_error(exc) from None
    if as_json:
        payload = {"target": result.target, "export_dir": str(result.export_dir), "unchanged": result.unchanged,
                   "files": [str(p) for p in result.files], "commands": result.commands, "notes": result.notes,
                   "manifest": result.manifest}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
        return
    if quiet:
        for command in result.commands:
            click.echo(command)
        return
    click.echo(result.summary())

"""``export(recipe, target=...)``: run a recipe's data steps and hand the result to an exporter.

``export`` is what ``templates-hub export TARGET RECIPE --out DIR`` calls; ``export_dataset`` exports
splits you already have (a ``DatasetDict`` of canonical rows) without a recipe.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .base import ExportContext, ExportResult
from .config import ExportConfig

if TYPE_CHECKING:  # pragma: no cover
    from ..preprocess.config import PreprocessConfig
    from ..recipe import Recipe
    from ..templates.base import ChatTemplate, RenderOptions
    from ..train.config import TrainConfig


def get_exporter(target: str) -> Any:
    """The registered exporter named ``target`` (PluginError naming the known ones when unknown)."""
    from ..plugins import get_registry

    return get_registry("exporters").get(target)


def select_config(recipe: Recipe, target: str | None) -> ExportConfig:
    """The recipe's export section for ``target``: the one naming it, else a lone section that names no
    target (its settings apply to any target), else the defaults."""
    configs = recipe.exports()
    if target is None:
        if len(configs) == 1:
            return configs[0]
        if not configs:
            return ExportConfig()
        raise UsageError(f"the recipe has {len(configs)} exports ({', '.join(c.target for c in configs)}); "
                         "say which target to export")
    matching = [c for c in configs if c.target == target]
    if len(matching) > 1:
        raise UsageError(f"the recipe has {len(matching)} exports with target {target!r}; give each a different "
                         "target or keep one")
    if matching:
        return matching[0]
    # a single section that names no target holds settings for whichever target is asked for
    untargeted = [c for c in configs if "target" not in c.model_fields_set]
    if len(configs) == 1 and untargeted:
        return untargeted[0].model_copy(update={"target": target})
    return ExportConfig(target=target)


def kind_of(splits: Any) -> str:
    """The canonical row kind of prepared splits, from their columns."""
    columns = set(next(iter(splits.values())).column_names)
    if "text" in columns:
        return "text"
    if "chosen" in columns:
        return "preference"
    if "label" in columns:
        return "kto"
    return "sft"


def recipe_sources(recipe: Recipe) -> list[str]:
    """The local files a recipe reads (hashed into the manifest); hub ids are kept as names."""
    data = recipe.data
    if data.path is not None:
        matches = sorted(glob.glob(data.path)) if any(c in data.path for c in "*?[") else []
        return matches or [data.path]
    from ..formats.dataset_info import dataset_info_path, read_dataset_info

    assert data.dataset_info is not None and data.dataset is not None  # DataConfig validates the pair
    info_file = dataset_info_path(data.dataset_info)
    attr = read_dataset_info(info_file, data.dataset, strict=False)
    if attr.load_from == "file":
        return [str(info_file), str(info_file.parent / attr.dataset_name)]
    return [str(info_file), attr.dataset_name]


def export(recipe: Recipe | str | os.PathLike[str], *, target: str | None = None,
           out_dir: str | os.PathLike[str] | None = None, force: bool | None = None, name: str | None = None,
           overrides: Sequence[str] = (), progress: bool = True) -> ExportResult:
    """Export ``recipe`` (a ``Recipe`` or a recipe file) for ``target`` (llamafactory, trl, axolotl, a plugin's).

    ``out_dir`` (else the recipe's ``export.out_dir``) is the directory to export into; the export owns
    ``out_dir/NAME`` (NAME: ``name``, else ``export.dataset_name``, else the recipe's name). ``force``
    replaces a different existing export. ``overrides`` (``"preprocess.cutoff_len=1024"``) apply to a
    recipe file, as ``--set`` does. Returns what was written and the command that trains on it.
    """
    from ..recipe import Recipe, load_recipe

    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides)
    elif overrides:
        raise UsageError("overrides apply to a recipe file; apply them to a Recipe with recipe_from_data")
    config = select_config(recipe, target)
    destination = out_dir if out_dir is not None else config.out_dir
    if destination is None:
        raise UsageError("where to export? pass --out DIR (or set export.out_dir in the recipe)")
    _check_out_dir(Path(destination))
    force = config.force if force is None else force
    config = config.model_copy(update={"out_dir": str(destination), "force": force})
    exporter = get_exporter(config.target)

    from ..prepare import prepare

    prepared = prepare(recipe, progress=progress)
    tokenizer = None
    template = None
    spec = recipe.template.name if recipe.template is not None else None
    if spec is not None:
        from ..templates import get_template

        if spec == "tokenizer":
            tokenizer = _load_tokenizer(recipe)
        template = get_template(spec, tokenizer=tokenizer)
    ctx = recipe_context(recipe, config, splits=prepared.splits, report=prepared.report, template=template,
                         tokenizer=tokenizer, name=name, progress=progress)
    return exporter.export(ctx)


def require_out_dir(config: ExportConfig) -> None:
    """UsageError when an export section says nowhere to write (checked before any data work)."""
    if config.out_dir is None:
        raise UsageError(f"export {config.target!r}: where to export? set export.out_dir in the recipe "
                         "(templates-hub export also takes --out DIR)")


def recipe_context(recipe: Recipe, config: ExportConfig, *, splits: Any, report: dict[str, Any],
                   template: ChatTemplate | None, tokenizer: Any = None, name: str | None = None,
                   progress: bool = True) -> ExportContext:
    """The ``ExportContext`` of one export of ``recipe`` with prepared ``splits``.

    ``export`` and ``run`` both build it here, so an export that ``templates-hub run`` wrote is found
    unchanged by ``templates-hub export`` on the same recipe. ``tokenizer`` may be None: exporters load
    the recipe's tokenizer when they need it.
    """
    require_out_dir(config)
    return ExportContext(
        splits=splits,
        kind=report.get("kind") or kind_of(splits),
        config=config,
        out_dir=Path(config.out_dir),
        name=name or config.dataset_name or recipe.run_name,
        template=template,
        template_spec=recipe.template.name if recipe.template is not None else None,
        tokenizer=tokenizer,
        tokenizer_spec=recipe.tokenizer,
        preprocess=recipe.preprocess,
        render_options=recipe.template.render_options(recipe.preprocess) if recipe.template is not None else None,
        train=recipe.train,
        report=report,
        sources=recipe_sources(recipe),
        recipe=recipe.model_dump(mode="json"),
        force=config.force,
        progress=progress,
    )


def _check_out_dir(path: Path) -> None:
    """Refuse an output directory that is (or lies under) a file before the data work, not after it."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise UsageError(f"{candidate} is a file: the export needs a directory (--out / export.out_dir)")
            return


def _load_tokenizer(recipe: Recipe) -> Any:
    if recipe.tokenizer is None:
        raise UsageError("template: `tokenizer` uses the tokenizer's own chat template: set `tokenizer:` in the recipe")
    from ..tokenizer import load_tokenizer

    return load_tokenizer(recipe.tokenizer)


def export_dataset(splits: Any, *, target: str, out_dir: str | os.PathLike[str], name: str,
                   kind: str | None = None, template: ChatTemplate | str | None = None, tokenizer: Any = None,
                   preprocess: PreprocessConfig | None = None, render_options: RenderOptions | None = None,
                   train: TrainConfig | None = None, config: ExportConfig | None = None, force: bool = False,
                   sources: Sequence[str] = (), progress: bool = True) -> ExportResult:
    """Export canonical ``splits`` (a ``DatasetDict`` with ``train`` and optionally ``validation``) directly.

    ``template`` may be a template object or what a recipe would name (a registered name, a file path);
    ``tokenizer`` an object or a spec for ``load_tokenizer``. ``config`` carries the export settings
    (layout, stage, hyper-parameters, ...); its target is replaced by ``target``.
    """
    from datasets import DatasetDict

    if not isinstance(splits, DatasetDict):
        splits = DatasetDict({"train": splits})
    spec: str | None = None
    tokenizer_spec: str | None = None
    if isinstance(tokenizer, (str, os.PathLike)):
        tokenizer_spec = os.fspath(tokenizer)
        tokenizer = None
    if isinstance(template, (str, os.PathLike)):
        from ..templates import get_template

        spec = os.fspath(template)
        if spec == "tokenizer" and tokenizer is None and tokenizer_spec:
            from ..tokenizer import load_tokenizer

            tokenizer = load_tokenizer(tokenizer_spec)
        template = get_template(spec, tokenizer=tokenizer)
    config = (config or ExportConfig()).model_copy(update={"target": target, "out_dir": os.fspath(out_dir),
                                                            "force": force})
    ctx = ExportContext(splits=splits, kind=kind or kind_of(splits), config=config, out_dir=Path(out_dir), name=name,
                        template=template, template_spec=spec, tokenizer=tokenizer, tokenizer_spec=tokenizer_spec,
                        preprocess=preprocess, render_options=render_options, train=train, sources=list(sources),
                        force=force, progress=progress)
    return get_exporter(target).export(ctx)

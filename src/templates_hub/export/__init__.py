"""Exporters: prepared canonical rows -> the files a training tool reads (LLaMA-Factory, TRL, axolotl).

``templates_hub.export`` is this package *and* callable: ``templates_hub.export(recipe, target=...)`` is
``templates_hub.export.export(recipe, target=...)`` (a package attribute cannot also be a function, so the
package forwards calls).

- ``export(recipe, target=..., out_dir=..., force=...)``: run a recipe's data steps and export them;
- ``export_dataset(splits, target=..., out_dir=..., name=...)``: export splits you already have;
- ``ExportContext`` / ``ExportResult`` / ``BaseExporter`` / ``BuildOutput``: the contract plugin exporters
  implement (see ``templates_hub.export.base``); ``StagedExport``: the atomic writer they use.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .api import export, export_dataset, get_exporter, select_config
from .atomic import StagedExport
from .base import BaseExporter, BuildOutput, ExportContext, Exporter, ExportResult
from .config import ExportConfig

__all__ = [
    "BaseExporter", "BuildOutput", "ExportConfig", "ExportContext", "ExportResult", "Exporter", "StagedExport",
    "export", "export_dataset", "get_exporter", "select_config",
]


class _CallableModule(types.ModuleType):
    """Lets ``from templates_hub import export; export(recipe, target=...)`` work."""

    def __call__(self, *args: Any, **kwargs: Any) -> ExportResult:
        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
#: the package itself, so that ``templates_hub.export`` resolves to this (callable) package even before it
#: was imported (``templates_hub._LAZY`` maps the name here)
_package = sys.modules[__name__]

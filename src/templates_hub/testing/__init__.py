"""Conformance kit for plugin authors: check that a template, filter, preprocessor or format behaves.

Call these from a plugin's test suite (or run ``templates-hub plugins --check``)::

    from templates_hub.testing import check_template

    def test_my_template():
        check_template("my_template").raise_for_failures()

Each ``check_*`` returns a ``ConformanceReport`` whose failures name the plugin, the component, the
check and the battery case; ``raise_for_failures()`` turns them into one ``AssertionError`` listing
them all. The pytest plugin (``templates_hub.testing.pytest_plugin``, loaded automatically through the
``pytest11`` entry point) adds fixtures: ``templates_hub_plugin`` (load an installed plugin for one
test), ``templates_hub_tokenizer`` / ``templates_hub_tokenizer_dir`` (the tiny offline tokenizer).

This package is imported lazily: names resolve to their modules on first use, so the pytest plugin,
which loads in every test session, costs nothing until a check runs.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "ConformanceError": ".report",
    "ConformanceReport": ".report",
    "Failure": ".report",
    "check_template": ".templates",
    "TEMPLATE_CHECKS": ".templates",
    "check_filter": ".filters",
    "FILTER_CHECKS": ".filters",
    "check_preprocessor": ".preprocessors",
    "PREPROCESSOR_CHECKS": ".preprocessors",
    "check_format": ".formats",
    "FORMAT_CHECKS": ".formats",
    "check_plugin": ".plugins",
    "check_plugins": ".plugins",
    "plugin_components": ".plugins",
    "installed_plugin": ".plugins",
    "sample_rows": ".rows",
    "tiny_tokenizer": ".tokenizers",
    "tokenizer_for": ".tokenizers",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'templates_hub.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))

"""Hook specifications: the five ways a plugin contributes components.

Every hook follows simonw/llm's register-callback style: the host passes a ``register`` function and the
plugin calls it once per contribution. The host validates names and detects collisions in one place, and
new keyword arguments on ``register`` never break existing plugins. Built-ins are registered through these
same hooks (see ``templates_hub.plugins.DEFAULT_PLUGINS``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("templates_hub")
hookimpl = HookimplMarker("templates_hub")

Register = Callable[..., Any]


@hookspec
def register_formats(register: Register) -> None:
    """Register input format adapters: ``register(adapter, name=None, override=False)``."""


@hookspec
def register_filters(register: Register) -> None:
    """Register row filters: ``register(filter_class, name=None, override=False)``."""


@hookspec
def register_templates(register: Register) -> None:
    """Register chat templates: ``register(template_or_path, name=None, override=False)``."""


@hookspec
def register_preprocessors(register: Register) -> None:
    """Register preprocessors: ``register(factory, name=None, override=False)``."""


@hookspec
def register_exporters(register: Register) -> None:
    """Register exporters: ``register(exporter, name=None, override=False)``."""

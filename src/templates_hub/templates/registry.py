"""Turning what a plugin passes to ``register`` into a template (``plugins.COERCERS["templates"]``).

A plugin may register a template object (anything with ``render``), a declaration dict, or a path to a
``.yaml`` / ``.yml`` declaration or a ``.jinja`` file, e.g. ``register(Path(__file__).parent / "mine.yaml")``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import PluginError, TemplatesHubError

TEMPLATE_FILE_SUFFIXES: tuple[str, ...] = (".yaml", ".yml", ".jinja", ".j2", ".jinja2")


def coerce_template(obj: Any, name: str | None) -> tuple[str, Any]:
    """``(name, template)`` for a template object, a declaration dict or a template file path."""
    from .spec import load_template_file, template_from_spec

    try:
        if isinstance(obj, (str, os.PathLike)):
            path = Path(obj)
            if path.suffix not in TEMPLATE_FILE_SUFFIXES:
                raise PluginError(
                    f"cannot register template {obj!r}: expected a template object or a path ending in "
                    + ", ".join(TEMPLATE_FILE_SUFFIXES)
                )
            template = load_template_file(path, name)
        elif isinstance(obj, dict):
            template = template_from_spec(obj, name)
        else:
            template = obj
    except PluginError:
        raise
    except TemplatesHubError as exc:
        raise PluginError(f"cannot register template {name or obj!r}: {exc}") from None
    if not callable(getattr(template, "render", None)):
        raise PluginError(f"cannot register {obj!r} as a template: it has no render() method")
    resolved = name or getattr(template, "name", None)
    if not isinstance(resolved, str) or not resolved:
        raise PluginError(f"cannot tell the name of template {obj!r}: pass name=... to register()")
    if getattr(template, "name", None) != resolved:
        try:
            template.name = resolved
        except (AttributeError, TypeError):  # frozen dataclass
            import dataclasses

            if dataclasses.is_dataclass(template):
                template = dataclasses.replace(template, name=resolved)
    return resolved, template

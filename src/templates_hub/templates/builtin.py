"""Built-in templates, registered through the same hook as third-party plugins."""

from __future__ import annotations

from ..hookspecs import hookimpl


@hookimpl
def register_templates(register):
    """Register the built-in templates: every declaration in ``builtin_templates`` (data, not code)."""
    from .builtin_templates import BUILTIN_TEMPLATES
    from .spec import template_from_spec

    for declaration in BUILTIN_TEMPLATES:
        register(template_from_spec(declaration))

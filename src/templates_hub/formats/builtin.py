"""Built-in formats, registered through the same hook as third-party plugins."""

from __future__ import annotations

from ..hookspecs import hookimpl


@hookimpl
def register_formats(register):
    """Register the built-in formats."""

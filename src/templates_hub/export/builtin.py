"""Built-in export, registered through the same hook as third-party plugins."""

from __future__ import annotations

from ..hookspecs import hookimpl


@hookimpl
def register_exporters(register):
    """Register the built-in export."""

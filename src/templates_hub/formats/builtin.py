"""Built-in formats, registered through the same hook as third-party plugins."""

from __future__ import annotations

from ..hookspecs import hookimpl


@hookimpl
def register_formats(register):
    """Register the built-in formats."""
    from .alpaca import AlpacaFormat
    from .openai import OpenAIFormat
    from .pairs import KTOFormat, PreferenceFormat
    from .sharegpt import SharegptFormat
    from .text import TextFormat

    for adapter in (AlpacaFormat, SharegptFormat, OpenAIFormat, PreferenceFormat, KTOFormat, TextFormat):
        register(adapter)

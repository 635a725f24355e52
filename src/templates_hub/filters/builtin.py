"""Built-in filters, registered through the same hook as third-party plugins."""

from __future__ import annotations

from ..hookspecs import hookimpl


def builtin_filters() -> tuple[type, ...]:
    """The built-in filter classes, in the order ``templates-hub list filters`` documents them."""
    from .content import Blocklist, EmptyTurns, Regex
    from .dedup import ExactDedup, NearDedup
    from .length import PromptLength, ResponseLength, Turns
    from .tools import ToolCalls

    return (ResponseLength, PromptLength, Turns, EmptyTurns, Blocklist, Regex, ExactDedup, NearDedup, ToolCalls)


@hookimpl
def register_filters(register):
    """Register the built-in filters."""
    for cls in builtin_filters():
        register(cls)

"""Named component registries (formats, filters, templates, preprocessors, exporters).

A ``Registry`` maps a name to a component and remembers which plugin registered it. Collisions are
never silent: a second plugin registering a taken name without ``override=True`` marks the name as
conflicting, and looking it up raises an error naming both plugins. Other names keep working.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import PluginError

T = TypeVar("T")

#: ``coerce(obj, name) -> (name, component)`` turns what a plugin passed to ``register`` into a component.
Coercer = Callable[[Any, "str | None"], "tuple[str, Any]"]


def default_coerce(obj: Any, name: str | None) -> tuple[str, Any]:
    """Take the name from ``name=``, else ``obj.name``, else ``obj.__name__``."""
    resolved = name or getattr(obj, "name", None) or getattr(obj, "__name__", None)
    if not isinstance(resolved, str) or not resolved:
        raise PluginError(f"cannot tell the name of {obj!r}: pass name=... to register()")
    return resolved, obj


@dataclass
class Entry(Generic[T]):
    """One registered component."""

    name: str
    obj: T
    plugin: str
    overrides: str | None = None  # the plugin whose entry this one replaced (override=True)
    meta: dict[str, Any] = field(default_factory=dict)
    #: the entry this one replaced, restored if this one's plugin is removed
    replaced: Entry[T] | None = field(default=None, repr=False)


class Registry(Generic[T]):
    """Name -> component, with the plugin that registered it."""

    def __init__(self, kind: str, coerce: Coercer | None = None):
        self.kind = kind
        self._coerce = coerce or default_coerce
        self.entries: dict[str, Entry[T]] = {}
        #: name -> every plugin that registered it without override (first one first)
        self.conflicts: dict[str, list[str]] = {}

    @property
    def singular(self) -> str:
        return self.kind[:-1] if self.kind.endswith("s") else self.kind

    def add(self, obj: Any, name: str | None = None, *, plugin: str, override: bool = False, **meta: Any) -> Entry[T]:
        """Register ``obj``; raise ``PluginError`` on a collision without ``override``.

        The colliding name is also recorded in ``conflicts`` so later lookups fail loudly instead of
        silently using whichever plugin came first.
        """
        resolved, component = self._coerce(obj, name)
        previous = self.entries.get(resolved)
        if previous is not None and not override:
            plugins = self.conflicts.setdefault(resolved, [previous.plugin])
            plugins.append(plugin)
            raise PluginError(
                f"{self.singular} {resolved!r} is registered by both plugin {previous.plugin!r} and plugin "
                f"{plugin!r}; rename one, or pass override=True to register() to replace it on purpose"
            )
        entry: Entry[T] = Entry(resolved, component, plugin, previous.plugin if previous else None, dict(meta),
                                replaced=previous)
        self.entries[resolved] = entry
        return entry

    def remove_plugin(self, plugin: str) -> None:
        """Forget everything ``plugin`` registered (used when its hook raised half-way).

        What it replaced with ``override=True`` comes back, and collisions it caused are forgotten, so a
        broken plugin leaves the registry as it was before it ran.
        """
        for name in [n for n, e in self.entries.items() if e.plugin == plugin]:
            entry: Entry[T] | None = self.entries.pop(name)
            while entry is not None and entry.plugin == plugin:
                entry = entry.replaced
            if entry is not None:
                self.entries[name] = entry
        for name, plugins in list(self.conflicts.items()):
            remaining = [p for p in plugins if p != plugin]
            if len(remaining) > 1:
                self.conflicts[name] = remaining
            else:
                del self.conflicts[name]

    def entry(self, name: str) -> Entry[T]:
        if name in self.conflicts:
            who = " and ".join(repr(p) for p in self.conflicts[name])
            raise PluginError(
                f"{self.singular} {name!r} is registered by plugins {who}; rename one, or make the later one "
                "pass override=True to register()"
            )
        try:
            return self.entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self.entries), n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise PluginError(
                f"unknown {self.singular} {name!r}.{hint} Known: {', '.join(sorted(self.entries)) or '(none)'}"
            ) from None

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def names(self) -> list[str]:
        return sorted(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries and name not in self.conflicts

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self.entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self.entries)

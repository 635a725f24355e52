"""Looking up registered format adapters, auto-detecting a layout, and writing canonical rows back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import DataError, PluginError, RowIssue, UsageError
from .base import Detection, FormatAdapter, RowProblem

#: tie-break order for detection scores (more specific layouts first); plugins come after these
_PRIORITY = ("sharegpt", "openai", "alpaca", "preference", "kto", "text")


def _registry():
    from ..plugins import get_registry

    return get_registry("formats")


def format_names() -> list[str]:
    """Names of every registered format."""
    return _registry().names()


def get_format(name: str) -> type[FormatAdapter]:
    """The adapter class registered as ``name`` (PluginError: unknown, conflicting or not an adapter)."""
    entry = _registry().entry(name)
    obj = entry.obj
    if not (isinstance(obj, type) and issubclass(obj, FormatAdapter)):
        raise PluginError(
            f"format {name!r} registered by plugin {entry.plugin!r} is not a FormatAdapter subclass "
            f"(got {obj!r}); register the class, e.g. register(MyFormat)"
        )
    return obj


def make_adapter(name: str, options: Mapping[str, Any] | None = None, kind: str | None = None) -> FormatAdapter:
    """An adapter instance configured with ``options`` (column names, tags) for rows of ``kind``."""
    return get_format(name)(options, kind=kind)


def _adapters() -> list[type[FormatAdapter]]:
    registry = _registry()
    out: list[type[FormatAdapter]] = []
    for entry in registry:
        if entry.name in registry.conflicts:
            continue
        obj = entry.obj
        if isinstance(obj, type) and issubclass(obj, FormatAdapter):
            out.append(obj)
    order = {name: i for i, name in enumerate(_PRIORITY)}
    return sorted(out, key=lambda a: (order.get(a.name, len(order)), a.name))


def detect_format(sample: Sequence[Mapping[str, Any]], *, kind: str | None = None,
                  source: str | None = None) -> tuple[type[FormatAdapter], Detection]:
    """Pick the registered adapter whose ``detect`` scores the sample highest.

    With ``kind`` given, only adapters that can hold that kind compete. Raises ``UsageError`` naming the
    columns it saw when no adapter scores at least 0.5.
    """
    scored: list[tuple[float, int, type[FormatAdapter], Detection]] = []
    for rank, adapter in enumerate(_adapters()):
        if kind is not None and kind not in adapter.kinds:
            continue
        try:
            found = adapter.detect(sample)
        except Exception:  # a plugin's detect must not break detection for everyone
            continue
        if found is None:
            continue
        if kind is not None and found.kind != kind:
            found = Detection(found.score * 0.9, kind, found.options, found.evidence)
        scored.append((found.score, -rank, adapter, found))
    scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
    if not scored or scored[0][0] < 0.5:
        columns: list[str] = []
        for rec in sample:
            columns += [c for c in rec if c not in columns]
        where = f"{source}: " if source else ""
        best = f" (best guess {scored[0][2].name} fits {scored[0][0]:.0%} of them)" if scored else ""
        raise UsageError(
            f"{where}cannot detect the format from the first {len(sample)} rows{best}; columns seen: "
            f"{', '.join(columns) or '(none)'}. Pass --format (one of {', '.join(a.name for a in _adapters())})"
        )
    return scored[0][2], scored[0][3]


def write_records(rows: Iterable[Mapping[str, Any]], *, layout: str, kind: str,
                  options: Mapping[str, Any] | None = None, rejects: list[RowIssue] | None = None) -> list[dict[str, Any]]:
    """Canonical rows -> records of ``layout`` (``alpaca``, ``sharegpt``, ``openai``; also ``preference``
    and ``kto`` for TRL's layouts and ``text``).

    Columns starting with ``_`` are never written. A row the layout cannot hold (tool calls in alpaca,
    per-message ``train`` flags outside openai, ...) raises ``DataError`` naming the row and field, or,
    when a ``rejects`` list is given, is appended there as a ``RowIssue`` and skipped, so that
    ``len(rows) == len(written) + len(rejects)``. ``options`` are the layout's column/tag names.
    """
    adapter = make_adapter(layout, options, kind)
    if not adapter.writable:
        raise UsageError(f"format {layout!r} has no writer")
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows, start=1):
        try:
            out.append(adapter.write(row))
        except RowProblem as problem:
            number = row.get("_row") or i
            if rejects is None:
                error = DataError(f"row {number}, {problem.field}: cannot write as {layout}: {problem.reason}")
                error.row, error.field = number, problem.field
                raise error from None
            rejects.append(RowIssue(row=number, field=problem.field, reason=problem.reason, kind=problem.kind, raw=dict(row)))
    return out

"""Canonical sample rows of every kind, derived from the built-in conversation battery.

The battery (``templates_hub.templates.battery``) is a set of SFT conversations covering system prompts,
several turns, Unicode, whitespace, tool calls and reasoning. Filters and preprocessors read other row
kinds too, so the same conversations are reshaped here into preference pairs, KTO rows and plain text:
every kind is exercised with the same variety, and every row carries a ``_row`` number as loaded data
does.
"""

from __future__ import annotations

import copy
from typing import Any

from ..schemas import validate_row

KINDS: tuple[str, ...] = ("sft", "preference", "kto", "text")


def _cases(exclude: set[str] | frozenset[str] = frozenset(), names: list[str] | None = None) -> list[Any]:
    from ..templates.battery import battery

    return battery(exclude=exclude, names=names)


def _preference(conversation: dict[str, Any]) -> dict[str, Any] | None:
    messages = conversation["messages"]
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None or last == 0:
        return None
    chosen = copy.deepcopy(messages[last])
    rejected = copy.deepcopy(chosen)
    rejected["tool_calls"] = None
    rejected["reasoning"] = None
    rejected["content"] = "I am not sure, sorry."
    return {"messages": copy.deepcopy(messages[:last]), "chosen": chosen, "rejected": rejected,
            "tools": conversation.get("tools")}


def _text(conversation: dict[str, Any]) -> dict[str, Any]:
    parts = [m.get("content") or "" for m in conversation["messages"]]
    return {"text": "\n\n".join(p for p in parts if p)}


def sample_rows(kind: str = "sft", *, exclude: set[str] | frozenset[str] = frozenset(),
                names: list[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """``(case name, canonical row)`` pairs of ``kind`` built from the battery (``_row`` = 1, 2, ...).

    ``exclude`` leaves out cases exercising those battery features (``tools``, ``reasoning``, ...);
    ``names`` keeps only the named cases. Every row passes ``validate_row(kind, row)``: cases that do
    not (an empty system message, which templates must render but loaders never produce) are left out.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown row kind {kind!r}; expected one of {', '.join(KINDS)}")
    out: list[tuple[str, dict[str, Any]]] = []
    for i, case in enumerate(_cases(exclude, names)):
        conversation = case.row()
        row: dict[str, Any] | None
        if kind == "sft":
            row = conversation
        elif kind == "preference":
            row = _preference(conversation)
        elif kind == "kto":
            row = {"messages": conversation["messages"], "label": i % 2 == 0, "tools": conversation.get("tools")}
        else:
            row = _text(conversation)
        if row is None:
            continue
        clean, _ = validate_row(kind, row)
        if clean is None:
            # e.g. ``empty_system``: templates must render it, but loading never produces it
            continue
        clean["_row"] = len(out) + 1
        out.append((case.name, clean))
    return out


def as_batch(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows (dicts with the same keys) -> one column batch, as ``datasets.map(batched=True)`` passes it."""
    if not rows:
        return {}
    columns = list(rows[0])
    return {c: [r.get(c) for r in rows] for c in columns}


def as_dataset(kind: str, rows: list[dict[str, Any]]) -> Any:
    """Rows -> a ``datasets.Dataset`` with the exact canonical features of ``kind``."""
    from datasets import Dataset

    from ..schemas import features

    feats = features(kind)
    return Dataset.from_list([{c: r.get(c) for c in feats} for r in rows], features=feats)


def no_progress_bars() -> Any:
    """A context manager hiding ``datasets``' progress bars (checks run many tiny maps)."""
    import contextlib

    import datasets

    @contextlib.contextmanager
    def hidden() -> Any:
        was_enabled = datasets.utils.logging.is_progress_bar_enabled()
        datasets.utils.logging.disable_progress_bar()
        try:
            yield
        finally:
            if was_enabled:
                datasets.utils.logging.enable_progress_bar()

    return hidden()

"""Reject keys a training tool would ignore or refuse, naming the bad key and its closest valid ones."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigError


def unknown_keys(keys: Iterable[str], allowed: Iterable[str]) -> list[tuple[str, list[str]]]:
    """``[(bad_key, close_matches)]`` for every key not in ``allowed`` (in the order given)."""
    allowed_list = sorted(set(allowed))
    allowed_set = set(allowed_list)
    bad: list[tuple[str, list[str]]] = []
    for key in keys:
        if key not in allowed_set:
            bad.append((key, difflib.get_close_matches(str(key), allowed_list, n=3, cutoff=0.6)))
    return bad


def describe_unknown(key: str, close: list[str]) -> str:
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown key {key!r}{hint}"


def check_keys(mapping: Mapping[str, Any], allowed: Iterable[str], *, what: str, where: str) -> None:
    """Raise ``ConfigError`` listing every key of ``mapping`` that ``allowed`` lacks.

    ``what`` names the vocabulary ("LLaMA-Factory 0.9.5 training YAML"), ``where`` the place the keys
    came from ("export.hyperparameters" or a file name), so the message says what to fix and where.
    """
    bad = unknown_keys(mapping.keys(), allowed)
    if not bad:
        return
    problems = [(f"{where}.{key}", describe_unknown(key, close)) for key, close in bad]
    details = "; ".join(f"{key!r}" + (f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else "")
                        for key, close in bad)
    verb = "is" if len(bad) == 1 else "are"
    raise ConfigError(f"{where}: {details} {verb} not accepted by {what}", problems)
